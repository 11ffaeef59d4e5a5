"""Cost of `reescreen rank`: grafting and pre-screen prediction per complex, projected to the issue's table.

Ranks ``--groups`` library groups on HOPO × 16 REEs × 4 types with a pre-screen model folder and reports,
from one run: complexes grafted per second, complexes predicted per second per member, peak memory, and
the projection to 1,000 groups × 16 × 4 = 64,000 complexes.  The cost of a prediction depends on the
network's size, not its weights, so any model trained from ``configs/allegro-prescreen.yaml`` (even a
2-epoch one) measures the shipped configuration's cost.  One process, one torch thread.

    python benchmarks/bench_rank.py --model PRESCREEN_MODEL_DIR [--groups 20] [--repeats 3]
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a pre-screen model folder (single model or ensemble)")
    parser.add_argument("--groups", type=int, default=20, help="library groups to rank (C, H, N, O only)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model = load_model(args.model, explicit=True, force_cpu=True)
    known = set(model.meta["type_names"])
    from core.chemistry.groups import capped_group

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
          f"({len(ranking.refused)} cells not graftable); model {model.name}, {members} member(s); one process, "
          f"torch threads 1; median of {args.repeats}")
    print(f"  grafting:   {graft:8.1f} complexes/s")
    print(f"  prediction: {predict:8.1f} complexes/s per member")
    print(f"  together:   {1 / per_complex:8.1f} complexes/s ({members} member(s))")
    print(f"  peak memory {peak_gb:.2f} GB")
    print(f"  projection for {TARGET_COMPLEXES:,} complexes: {TARGET_COMPLEXES * per_complex:,.0f} s in one "
          f"process, {TARGET_COMPLEXES * per_complex / 2:,.0f} s on two (target {TARGET_S:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
