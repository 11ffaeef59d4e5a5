"""What the README's command-line timings are: each command as a user runs it, process start included.

    python benchmarks/bench_cli.py [--repeats 3]

On a copy of the shipped build store (every library ligand's 64 complexes already stored), it times in
fresh processes: `reescreen screen --scaffold HOPO --substituent methyl` (cached: nothing to compute; the
embedded Dask cluster and the bundled model still start), the same with `--no-model`, `reescreen results
--smiles …` and `reescreen export` to CSV.  Medians of ``--repeats`` runs.  The cold screen (227 s for
HOPO-isopropyl) is `bench_graft.py`'s.
"""
from __future__ import annotations

import argparse
import gzip
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOPO_METHYL = "CNC(=O)c1ccc(C)c(=O)n1[O-]"


def timed(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    reescreen = str(Path(sys.executable).parent / "reescreen")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "store.db"
        with gzip.open(ROOT / "data" / "build-store" / "dataset-store.db.gz", "rb") as src, open(db, "wb") as dst:
            shutil.copyfileobj(src, dst)
        env = {**os.environ, "REESCREEN_DB": str(db), "OMP_NUM_THREADS": "1"}
        commands = {
            "screen HOPO-methyl, all stored (model on)": [reescreen, "screen", "--scaffold", "HOPO", "--substituent",
                                                          "methyl", "--no-progress"],
            "screen HOPO-methyl, all stored, --no-model": [reescreen, "screen", "--scaffold", "HOPO",
                                                           "--substituent", "methyl", "--no-progress", "--no-model"],
            "results --smiles HOPO-methyl": [reescreen, "results", "--smiles", HOPO_METHYL],
            "export all 6,256 complexes to CSV": [reescreen, "export", str(Path(tmp) / "all.csv")],
        }
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
              f"store: the shipped build store (6,256 complexes); medians of {args.repeats} fresh processes")
        for label, cmd in commands.items():
            walls = [timed(cmd, env) for _ in range(args.repeats)]
            print(f"{label:45s} {statistics.median(walls):6.1f} s  (runs: {', '.join(f'{w:.1f}' for w in walls)})")


if __name__ == "__main__":
    main()
