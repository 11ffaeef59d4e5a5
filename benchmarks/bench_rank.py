"""Cost of `reescreen rank`: grafting and pre-screen prediction per complex, projected to the issue's table.

Ranks ``--groups`` library groups on HOPO × 16 REEs × 4 types with a pre-screen model folder and reports,
from one run: in one process (one torch thread), complexes grafted per second and complexes predicted per
second per member; then the same ranking on local Dask worker processes (``--workers``, default one per
core; what ``reescreen rank`` uses from 1,000 complexes on), its wall time including the cluster's start and
each worker's model load, and the projection of that rate to 1,000 groups × 16 × 4 = 64,000 complexes; peak
memory of the main process and of the largest worker.  The cost of a prediction depends on the network's
size, not its weights, so any model trained from a config (even a 1-epoch one) measures that
configuration's cost.

    python benchmarks/bench_rank.py --model PRESCREEN_MODEL_DIR [--groups 20] [--repeats 3] [--workers 2]
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
from core.chemistry.groups import library_groups  # noqa: E402
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
    args = parser.parse_args()
    model = load_model(args.model, explicit=True, force_cpu=True)
    known = set(model.meta["type_names"])
    from core.chemistry.groups import capped_group
    from core.pipeline.cluster import close_client, make_client

    groups = [g for g in library_groups() if {a.GetSymbol() for a in capped_group(g).GetAtoms()} <= known]
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
    print(f"{args.workers} Dask worker processes (what `reescreen rank` uses from 1,000 complexes on):")
    print(f"  first ranking with cluster start and model loads: {first:.1f} s; then median {wall:.1f} s "
          f"= {rate:.1f} complexes/s")
    print(f"  peak memory per worker {worker_gb:.2f} GB")
    print(f"  projection for {TARGET_COMPLEXES:,} complexes: {TARGET_COMPLEXES / rate + first - wall:,.0f} s "
          f"(target {TARGET_S:.0f} s); one process would take {TARGET_COMPLEXES * per_complex:,.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
