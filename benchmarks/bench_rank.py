"""Cost of `reescreen rank`: grafting and pre-screen prediction per complex, projected to the issue's table.

Ranks ``--groups`` library groups on HOPO × 16 REEs × 4 types with a pre-screen model folder and reports,
from one run: in one process (one torch thread), complexes grafted per second and complexes predicted per
second per member; then the same ranking on local Dask worker processes (``--workers``, default one per
core; what ``reescreen rank`` uses from 2,500 complexes on), its wall time including the cluster's start and
each worker's model load, and the projection of that rate to 1,000 groups × 16 × 4 = 64,000 complexes; peak
memory of the main process and of the largest worker.  The cost of a prediction depends on the network's
size, not its weights, so any model trained from a config (even a 1-epoch one) measures that
configuration's cost.

``--full`` instead ranks the issue's table itself, once, on the Dask workers: 1,000 distinct groups (the
library's groups and their CH₂-extended homologues, ``*CH₂–R``, ``*(CH₂)₂–R``, …: real, distinct ligands, as
nothing is cached per group) × 16 REEs × 4 types, and reports its wall time from the cluster's start and the
peak memory of the main process and of each worker.

    python benchmarks/bench_rank.py --model PRESCREEN_MODEL_DIR [--groups 20] [--repeats 3] [--workers 2]
    python benchmarks/bench_rank.py --model PRESCREEN_MODEL_DIR --full [--workers 2]
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from core.chemistry.complexes import COORDINATION_TYPES  # noqa: E402
from core.chemistry.constants import REE_METALS  # noqa: E402
from core.chemistry.groups import Group, canonical_group, library_groups  # noqa: E402
from core.model.inference import load_model  # noqa: E402
from core.pipeline.rank import rank_groups  # noqa: E402

TARGET_COMPLEXES = 1000 * 16 * 4
TARGET_S = 240.0


def _worker_peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a pre-screen model folder (single model or ensemble)")
    parser.add_argument("--groups", type=int, default=20, help="library groups to rank (C, H, N, O only)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--full", action="store_true", help="rank 1,000 groups x 16 REEs x 4 types once, on "
                        "the workers, and time it end to end")
    args = parser.parse_args()
    model = load_model(args.model, explicit=True, force_cpu=True)
    known = set(model.meta["type_names"])
    from core.chemistry.groups import capped_group
    from core.pipeline.cluster import close_client, make_client

    groups = [g for g in library_groups() if {a.GetSymbol() for a in capped_group(g).GetAtoms()} <= known]
    if args.full:
        return full_table(model, homologues(groups[1:], TARGET_COMPLEXES // (16 * 4)), args.workers)
    groups = groups[1:args.groups + 1]  # hydrogen left out: the scaffold's own reference ligand
    members = len(getattr(model, "members", [model]))
    graft_rates, predict_rates, n = [], [], 0
    for _ in range(args.repeats):
        ranking = rank_groups(model, groups, "HOPO", REE_METALS, list(COORDINATION_TYPES))
        n = len(ranking.table)
        graft_rates.append(n / ranking.timings["graft_s"])
        predict_rates.append(n * members / ranking.timings["predict_s"])
    graft, predict = statistics.median(graft_rates), statistics.median(predict_rates)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    per_complex = 1 / graft + members / predict
    print(f"{len(groups)} groups on HOPO x {len(REE_METALS)} REEs x 4 types: {n} complexes ranked "
          f"({len(ranking.refused)} cells not graftable); model {model.name}, {members} member(s); median of "
          f"{args.repeats}")
    print("one process, torch threads 1:")
    print(f"  grafting:   {graft:8.1f} complexes/s")
    print(f"  prediction: {predict:8.1f} complexes/s per member")
    print(f"  together:   {1 / per_complex:8.1f} complexes/s ({members} member(s))")
    print(f"  peak memory {peak_gb:.2f} GB")
    start = time.perf_counter()
    client = make_client(None, args.workers)
    try:
        walls = []
        for _ in range(args.repeats):
            ranking = rank_groups(model, groups, "HOPO", REE_METALS, list(COORDINATION_TYPES), client=client)
            walls.append(ranking.timings["wall_s"])
        first = time.perf_counter() - start - sum(walls[1:])  # cluster start, model loads, first ranking
        worker_gb = max(client.run(_worker_peak_gb).values())
    finally:
        close_client(client)
    wall = statistics.median(walls[1:] or walls)
    rate = len(ranking.table) / wall
    print(f"{args.workers} Dask worker processes (what `reescreen rank` uses from 2,500 complexes on):")
    print(f"  first ranking with cluster start and model loads: {first:.1f} s; then median {wall:.1f} s "
          f"= {rate:.1f} complexes/s")
    print(f"  peak memory per worker {worker_gb:.2f} GB")
    print(f"  projection for {TARGET_COMPLEXES:,} complexes: {TARGET_COMPLEXES / rate + first - wall:,.0f} s "
          f"(target {TARGET_S:.0f} s); one process would take {TARGET_COMPLEXES * per_complex:,.0f} s")
    return 0


def homologues(groups: list[Group], count: int) -> list[Group]:
    """``count`` distinct groups: ``groups`` first, then each one with one, two, … CH₂ between the ring and it."""
    from rdkit import Chem

    found: dict[str, Group] = {}
    for n in range(0, 8):
        for group in groups:
            if n == 0:
                smiles = group.smiles
            else:  # *–(CH2)n–R: the linker's [*:1] meets the group's attachment point
                joined = Chem.molzip(Chem.MolFromSmiles(group.smiles.replace("*", "[*:1]", 1)),
                                     Chem.MolFromSmiles("*" + "C" * n + "[*:1]"))
                smiles = canonical_group(Chem.MolToSmiles(joined))
            found.setdefault(smiles, Group(group.name if n == 0 else f"(CH2){n}-{group.name}", smiles))
            if len(found) == count:
                return list(found.values())
    raise SystemExit(f"only {len(found)} distinct groups could be made")


def full_table(model, groups: list[Group], workers: int) -> int:
    """Rank ``groups`` × 16 REEs × 4 types once on ``workers`` local Dask processes, timed from the cluster's
    start; peak memory of this process and of each worker."""
    from core.pipeline.cluster import close_client, make_client

    start = time.perf_counter()
    client = make_client(None, workers)
    try:
        ranking = rank_groups(model, groups, "HOPO", REE_METALS, list(COORDINATION_TYPES), client=client)
        wall = time.perf_counter() - start
        worker_gb = sorted(client.run(_worker_peak_gb).values())
    finally:
        close_client(client)
    main_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    members = len(getattr(model, "members", [model]))
    print(f"{len(groups)} distinct groups on HOPO x {len(REE_METALS)} REEs x 4 types, model {model.name} "
          f"({members} member(s){', compiled with torch.compile' if ranking.compiled else ''}), {workers} Dask "
          "worker processes:")
    print(f"  {len(ranking.table):,} complexes ranked, {len(ranking.refused)} refused; wall {wall:.1f} s from the "
          f"cluster's start (ranking alone {ranking.timings['wall_s']:.1f} s) = {len(ranking.table) / wall:.1f} "
          f"complexes/s; target {TARGET_COMPLEXES:,} in {TARGET_S:.0f} s")
    print(f"  grafting {ranking.timings['graft_s']:.1f} s and prediction {ranking.timings['predict_s']:.1f} s, "
          "summed over the workers")
    print(f"  peak memory: main process {main_gb:.2f} GB, workers {', '.join(f'{g:.2f}' for g in worker_gb)} GB; "
          f"together at most {main_gb + sum(worker_gb):.2f} GB (target 4 GB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
