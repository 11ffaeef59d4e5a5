"""What one GFN2-xTB/ALPB optimisation step costs, per coordination type, and the least wall time a cold
16 REE × 4 type screen can take on a given number of cores.

Reads every optimised complex of the library build store (``data/build-store/``): its wall time and its
LBFGS steps.  A cold screen of one new ligand optimises 64 complexes; with S steps per complex on average
it needs at least S × (the sum over the four types of one step's cost) × 16 CPU-seconds, whatever the
route, plus the process, cluster and model start (``bench_cli.py``: 8.7 s with everything stored).

    python benchmarks/xtb_step_costs.py [--cores 2] [--overhead 8.7] [--target 45]
"""
from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sqlite3
import statistics
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def step_costs(store: Path) -> dict[str, dict[str, float]]:
    per: dict[str, list[tuple[float, int]]] = {}
    with sqlite3.connect(store) as con:
        for (kv,) in con.execute("SELECT key_value_pairs FROM systems"):
            d = json.loads(kv)
            if d.get("kind") != "complex" or d.get("status") != "ok" or not d.get("n_steps") or d["ctype"] == "8W":
                continue
            per.setdefault(d["ctype"], []).append((d["wall_s"] / d["n_steps"], d["n_steps"]))
    return {t: {"complexes": len(v), "s_per_step": statistics.median(x[0] for x in v),
                "median_steps": statistics.median(x[1] for x in v)} for t, v in per.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--overhead", type=float, default=8.7, help="start-up seconds (bench_cli.py)")
    parser.add_argument("--target", type=float, default=45.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store.db"
        with gzip.open(ROOT / "data" / "build-store" / "dataset-store.db.gz", "rb") as src, open(store, "wb") as dst:
            shutil.copyfileobj(src, dst)
        costs = step_costs(store)
    print("type   complexes  s per LBFGS step (median)  steps (median, swapped from a neighbour)")
    for t in ("4L", "3L2W", "2L4W", "1L6W"):
        c = costs[t]
        print(f"{t:<6} {c['complexes']:>9}  {c['s_per_step']:>25.3f}  {c['median_steps']:>6.0f}")
    one_step = 16 * sum(costs[t]["s_per_step"] for t in ("4L", "3L2W", "2L4W", "1L6W"))
    budget = (args.target - args.overhead) * args.cores
    print(f"\none LBFGS step of all 64 complexes: {one_step:.1f} CPU-s")
    print(f"{args.target:.0f} s on {args.cores} cores, {args.overhead} s of start-up: {budget:.0f} CPU-s, i.e. at most "
          f"{budget / one_step:.1f} steps per complex on average, references (free ligand, aqua ions) not counted")


if __name__ == "__main__":
    main()
