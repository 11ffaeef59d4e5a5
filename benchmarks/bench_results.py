"""Results read model on a big store, beside the code before it (commit 67047dc, run from a temporary copy).

Builds a store of ~100,000 complexes (``scripts/big_store.py``: the shipped build store cloned under new
ligand keys), then measures in fresh processes, each the median of ``--repeats``:
  * ``import`` of the storage module;
  * the results table, cold (first read in a process) and cached (the app's ``st.cache_data`` path);
  * one complex's structure by id on an open store (median of 20 ids), and the first one in a process,
    which also imports and opens ASE's database.
The old code reads the same store: ``Store.results_frame()`` and ``Store.frames_for_rows([id])``.

    python benchmarks/bench_results.py [--complexes 100000] [--repeats 3] [--old-commit 67047dc]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from big_store import make_big_store  # noqa: E402

NEW_IMPORT = "import core.storage.store"
OLD_IMPORT = "import core.store"
NEW_TABLE = """
import time, json, sys
from core.storage.store import Store
from core.storage.results import results_frame, structure
store = Store(sys.argv[1])
t = time.perf_counter(); df = results_frame(store); cold = time.perf_counter() - t
row_id = int(df['row_id'].iloc[len(df) // 2])
t = time.perf_counter(); atoms = structure(store, row_id); first = time.perf_counter() - t
times = []
for row_id in df['row_id'].sample(20, random_state=0):
    t = time.perf_counter(); structure(store, int(row_id)); times.append(time.perf_counter() - t)
print(json.dumps({"rows": len(df), "cold_s": cold, "first_structure_s": first,
                  "structure_s": sorted(times)[10], "natoms": len(atoms)}))
"""
NEW_CACHED = """
import os, time, json, sys, logging
logging.disable(logging.WARNING)  # st.cache_data outside a server says so once
os.environ['REESCREEN_DB'] = sys.argv[1]
from app.state import results_table
results_table()
times = []
for _ in range(5):
    t = time.perf_counter(); df = results_table(); times.append(time.perf_counter() - t)
print(json.dumps({"rows": len(df), "cached_s": sorted(times)[2]}))
"""
OLD_TABLE = """
import time, json, sys
from core.store import Store
store = Store(sys.argv[1])
t = time.perf_counter(); df = store.results_frame(); cold = time.perf_counter() - t
row_id = int(df['row_id'].iloc[len(df) // 2])
one = None
if len(sys.argv) > 2:
    t = time.perf_counter(); store.frames_for_rows([row_id]); one = time.perf_counter() - t
print(json.dumps({"rows": len(df), "cold_s": cold, "structure_s": one}))
"""


def _python(code: str, cwd: Path, *args: str) -> tuple[dict | None, float]:
    env = {**os.environ, "PYTHONPATH": str(cwd), "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True,
                         check=True)
    wall = time.perf_counter() - start
    lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
    return (json.loads(lines[-1]) if lines else None), wall


def _median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--complexes", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--old-commit", default="67047dc", help="the code before the read model")
    parser.add_argument("--old-structure", action="store_true",
                        help="also time the old one-structure lookup on the big store (it decodes every row)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="reescreen-bench-results-"))
    t = time.perf_counter()
    n = make_big_store(tmp / "big.db", args.complexes)
    print(f"store: {n} complexes, {(tmp / 'big.db').stat().st_size / 1e6:.0f} MB, made in {time.perf_counter() - t:.1f} s")
    old = tmp / "old"
    old.mkdir()
    subprocess.run(f"git -C {ROOT} archive {args.old_commit} core | tar -x -C {old}", shell=True, check=True)

    imports_new = [_python(NEW_IMPORT, ROOT)[1] for _ in range(args.repeats)]
    imports_old = [_python(OLD_IMPORT, old)[1] for _ in range(args.repeats)]
    # the first new read also builds the read model of a store written without one: time it apart
    first, _ = _python(NEW_TABLE, ROOT, str(tmp / "big.db"))
    new = [_python(NEW_TABLE, ROOT, str(tmp / "big.db"))[0] for _ in range(args.repeats)]
    cached = [_python(NEW_CACHED, ROOT, str(tmp / "big.db"))[0] for _ in range(args.repeats)]
    old_runs = [_python(OLD_TABLE, old, str(tmp / "big.db"), *(["x"] if args.old_structure else []))[0]
                for _ in range(args.repeats)]

    print(f"\n{n} complexes; medians of {args.repeats} fresh processes (seconds)")
    print(f"{'':44s} {'new':>10s} {'before':>10s} {'ratio':>8s}   target")
    rows = [
        ("import of the storage module (process wall)", _median(imports_new), _median(imports_old), "<= 0.5"),
        ("results table, cold read", _median([r["cold_s"] for r in new]), _median([r["cold_s"] for r in old_runs]),
         "<= 1"),
        ("results table, cached (app)", _median([r["cached_s"] for r in cached]), None, "<= 0.05"),
        ("one complex's structure by id, open store", _median([r["structure_s"] for r in new]),
         _median([r["structure_s"] for r in old_runs]) if args.old_structure else None, "<= 0.05"),
        ("  the same, first in a process (opens ASE's db)", _median([r["first_structure_s"] for r in new]), None, ""),
    ]
    for name, a, b, target in rows:
        before = f"{b:10.3f}" if b is not None else f"{'-':>10s}"
        ratio = f"{b / a:7.1f}x" if b is not None else f"{'':8s}"
        print(f"{name:44s} {a:10.3f} {before} {ratio}   {target}")
    print(f"(first read of a store written without the read model, which builds it once: {first['cold_s']:.2f} s)")
    if not args.old_structure:
        print("(old one-structure lookup not timed on this store: it builds every frame; --old-structure times it)")


if __name__ == "__main__":
    main()
