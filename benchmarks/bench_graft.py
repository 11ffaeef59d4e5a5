"""A new group on a library scaffold, 16 REEs × 4 types, cold store: grafted route against the Architector route.

Runs the CLI as a user does (a fresh process each, model on, embedded 2-worker cluster, empty store), once
with ``--route auto`` (the La complex grafted onto the shipped scaffold complex, the other metals swapped
along the series from it) and once with ``--route architector`` (an Architector La template per type),
in the same run, and prints wall times, their ratio, and the per-complex E_bind differences between the
two routes (same ligand, metal, type; kcal/mol).

    python benchmarks/bench_graft.py [--smiles 'CNC(=O)c1ccc(C(C)C)c(=O)n1[O-]'] [--metals ...] [--types ...]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.pipeline.settings import FAST  # noqa: E402
from core.storage.results import E_BIND, results_frame  # noqa: E402
from core.storage.store import Store  # noqa: E402


def run_cli(smiles: str, db: Path, route: str, metals: str, types: str) -> float:
    cmd = [str(Path(sys.executable).parent / "reescreen"), "screen", "--smiles", smiles, "--db", str(db),
           "--route", route, "--no-progress", "--metals", metals, "--types", types]
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"{route} route failed:\n{out.stderr[-2000:]}")
    for line in out.stderr.splitlines():
        if "built by" in line or "requested" in line:
            print(f"  [{route}] {line}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smiles", default="CNC(=O)c1ccc(C(C)C)c(=O)n1[O-]", help="default: HOPO-isopropyl")
    parser.add_argument("--metals", default="Y,La,Ce,Pr,Nd,Pm,Sm,Eu,Gd,Tb,Dy,Ho,Er,Tm,Yb,Lu")
    parser.add_argument("--types", default="4L,3L2W,2L4W,1L6W")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="reescreen-bench-graft-"))
    walls = {route: run_cli(args.smiles, tmp / f"{route}.db", route, args.metals, args.types)
             for route in ("auto", "architector")}
    frames = {route: results_frame(Store(tmp / f"{route}.db"), settings=FAST) for route in walls}
    merged = frames["auto"].merge(frames["architector"], on=["metal", "type"], suffixes=(" graft", " architector"))
    ok = merged[(merged["qc graft"] == "passed") & (merged["qc architector"] == "passed")]
    diff = ok[f"{E_BIND} graft"] - ok[f"{E_BIND} architector"]
    print(f"\n{args.smiles}: {len(frames['auto'])} complexes per route, cold store, CLI with the model, 2 workers")
    print(f"  grafted route (auto):   {walls['auto']:7.1f} s wall, routes {sorted(set(frames['auto']['route']))}")
    print(f"  Architector route:      {walls['architector']:7.1f} s wall")
    print(f"  ratio Architector / grafted: {walls['architector'] / walls['auto']:.2f}x")
    print(f"  QC passed: grafted {int((frames['auto']['qc'] == 'passed').sum())}, "
          f"Architector {int((frames['architector']['qc'] == 'passed').sum())}")
    if len(diff):
        print(f"  E_bind(graft) - E_bind(Architector), kcal/mol, n={len(diff)}: mean {diff.mean():+.2f}, "
              f"mean |d| {diff.abs().mean():.2f}, max |d| {diff.abs().max():.2f}; grafted lower in "
              f"{int((diff < 0).sum())}, Architector lower in {int((diff > 0).sum())}")
        by_type = ok.assign(d=diff).groupby("type")["d"].agg(["mean", lambda d: d.abs().max()])
        for ctype, row in by_type.iterrows():
            print(f"    {ctype}: mean {row['mean']:+.2f}, max |d| {row.iloc[1]:.2f}")


if __name__ == "__main__":
    main()
