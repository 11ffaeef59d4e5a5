"""Grafted route against the Architector route on library ligands, whose Architector-route results are in the
shipped build store (same `fast` settings, same level): each ligand is screened here by grafting into a fresh
store (16 REEs × 4 types), and every complex is compared with the build store's (E_bind, kcal/mol).

    python benchmarks/compare_routes.py [--ligands HOPO-methyl,CAM-fluoro,...]
"""
from __future__ import annotations

import argparse
import gzip
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from core.chemistry.ligands import library_ligand  # noqa: E402
from core.pipeline.cluster import make_client  # noqa: E402
from core.pipeline.runner import run_screen  # noqa: E402
from core.pipeline.settings import FAST  # noqa: E402
from core.storage.results import E_BIND, results_frame  # noqa: E402
from core.storage.store import Store  # noqa: E402

DEFAULT = ("HOPO-methyl,HOPO-phenyl,HOPO-amide,CAM-fluoro,CAM-methoxy,CAM-methyl,thio-HOPO-ethyl,"
           "thio-HOPO-trifluoromethyl,thio-CAM-chloro,HDEV-hydroxymethyl")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ligands", default=DEFAULT, help="scaffold-substituent names")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="reescreen-compare-"))
    with gzip.open(ROOT / "data" / "build-store" / "dataset-store.db.gz", "rb") as src, \
            open(tmp / "architector.db", "wb") as dst:
        shutil.copyfileobj(src, dst)
    reference = results_frame(Store(tmp / "architector.db"), settings=FAST)
    grafted_store = Store(tmp / "graft.db")
    ligands = [library_ligand(*name.split("-", 1)) if not name.startswith("thio-") else
               library_ligand("-".join(name.split("-")[:2]), "-".join(name.split("-")[2:]))
               for name in args.ligands.split(",")]
    rows = []
    with make_client(n_workers=2) as client:
        for lig in ligands:
            ctypes = ["4L"] if lig.scaffold == "HDEV" else ["4L", "3L2W", "2L4W", "1L6W"]
            start = time.perf_counter()
            summary = run_screen(lig, grafted_store, client, FAST.with_changes(route="graft"), ctypes=ctypes)
            print(f"{lig.name}: {summary.computed} tasks in {time.perf_counter() - start:.0f} s; "
                  f"routes {sorted(set(summary.routes.values()))[:1]}", flush=True)
            rows.append(lig.smiles)
    grafted = results_frame(grafted_store, ligands=rows, settings=FAST)
    both = grafted.merge(reference, on=["smiles", "metal", "type"], suffixes=(" graft", " arch"))
    both = both[both["route graft"] == "graft"]
    ok = both[(both["qc graft"] == "passed") & (both["qc arch"] == "passed")].copy()
    ok["d"] = ok[f"{E_BIND} graft"] - ok[f"{E_BIND} arch"]
    print(f"\n{len(ligands)} library ligands, {len(both)} complexes with both routes "
          f"(Architector route = the build store's results); E_bind(graft) - E_bind(Architector), kcal/mol")
    print(f"QC failures: grafted {int((both['qc graft'] != 'passed').sum())}, "
          f"Architector {int((both['qc arch'] != 'passed').sum())} of {len(both)}")
    print(f"both passed, n={len(ok)}: mean {ok['d'].mean():+.2f}, mean |d| {ok['d'].abs().mean():.2f}, "
          f"max |d| {ok['d'].abs().max():.2f}; grafted lower in {int((ok['d'] < -0.05).sum())}, Architector lower "
          f"in {int((ok['d'] > 0.05).sum())}, equal within 0.05 in {int((ok['d'].abs() <= 0.05).sum())}")
    table = ok.groupby("ligand graft")["d"].agg(["count", "mean", lambda d: d.abs().mean(), lambda d: d.abs().max()])
    table.columns = ["n", "mean d", "mean |d|", "max |d|"]
    with pd.option_context("display.float_format", "{:.2f}".format):
        print(table.to_string())
        print(ok.groupby("type")["d"].agg(["count", "mean", lambda d: d.abs().max()]).to_string())


if __name__ == "__main__":
    main()
