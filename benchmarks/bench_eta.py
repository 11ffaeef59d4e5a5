"""How good the Screen page's "time left" is: one real screening, its estimate against what happened.

    python benchmarks/bench_eta.py [--ligand HOPO-ethyl] [--metals La,Ce,Nd,Gd,Lu] [--types 1L6W,4L]

Screens the ligand into a fresh store on the embedded 2-worker cluster (fast settings, Architector route)
and, at every progress report, notes the elapsed time and the estimated time left.  It prints, at 10 %,
25 %, 50 % and 75 % of the run's wall time, the estimated finish (elapsed + time left) against the actual
finish, and the estimate's error.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from core.chemistry.ligands import library_ligand
from core.pipeline.cluster import close_client, make_client
from core.pipeline.runner import run_screen
from core.pipeline.settings import FAST
from core.storage.store import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ligand", default="HOPO-ethyl")
    parser.add_argument("--metals", default="La,Ce,Nd,Gd,Lu")
    parser.add_argument("--types", default="1L6W,4L")
    args = parser.parse_args()
    scaffold, _, substituent = args.ligand.rpartition("-")
    ligand = library_ligand(scaffold, substituent)
    seen: list[tuple[float, float | None, str]] = []
    client = make_client(n_workers=2, dashboard="off")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            summary = run_screen(ligand, Store(Path(tmp) / "eta.db"), client, FAST, args.metals.split(","),
                                 args.types.split(","),
                                 lambda p: seen.append((time.perf_counter() - start, p.eta_s, p.stage)))
            total = time.perf_counter() - start
    finally:
        close_client(client)
    print(f"{args.ligand} x {args.metals} x {args.types}: {summary.requested} complexes, {summary.computed} tasks, "
          f"{total:.0f} s wall on 2 workers")
    print("at      elapsed  time left (est.)  finish est.  actual finish  error   stage")
    for share in (0.1, 0.25, 0.5, 0.75):
        elapsed, eta, stage = min((s for s in seen if s[1] is not None), key=lambda s: abs(s[0] - share * total))
        print(f"{share:4.0%}  {elapsed:8.0f} s  {eta:12.0f} s  {elapsed + eta:9.0f} s  {total:11.0f} s  "
              f"{elapsed + eta - total:+6.0f} s  {stage}")


if __name__ == "__main__":
    main()
