"""``reescreen results`` and ``reescreen export``: the stored results as a table, CSV or extended XYZ."""
from __future__ import annotations

import argparse
from pathlib import Path

from core.chemistry.complexes import COORDINATION_TYPES
from core.chemistry.constants import ENERGY_UNITS, REE_METALS
from core.chemistry.ligands import make_ligand
from core.cli.common import add_db, csv_list, format_table
from core.pipeline.settings import PRESETS, get_settings


def add_results_parser(sub) -> None:
    """Add the ``results`` sub-command."""
    r = sub.add_parser("results", help="ranked table of stored results",
                       description=f"Stored complexes ({ENERGY_UNITS}, the level stored with each row), each ranked "
                                   "among the stored ligands with the same metal and type. Failed and QC-flagged "
                                   "rows are listed, never ranked.")
    r.add_argument("--smiles", help="only this ligand")
    r.add_argument("--metals", help="only these metals (comma-separated)")
    r.add_argument("--types", help="only these coordination types (comma-separated)")
    r.add_argument("--settings", choices=list(PRESETS), help="only results of this preset")
    add_db(r)


def add_export_parser(sub) -> None:
    """Add the ``export`` sub-command."""
    e = sub.add_parser("export", help="export stored results to CSV or extended XYZ",
                       description="CSV: the results table. extxyz: one frame per complex with energy = E_bind "
                                   "and absolute_energy (kcal/mol), the public dataset's layout.")
    e.add_argument("output", help="output file (.csv or .xyz/.extxyz); a CSV gets a NAME.metadata.csv beside it "
                                  "(version, level of theory, units, settings)")
    e.add_argument("--format", choices=["csv", "extxyz"], help="default: from the file extension")
    e.add_argument("--settings", choices=list(PRESETS), help="only results of this preset")
    e.add_argument("--include-failed", action="store_true", help="extxyz: also write failed/QC-flagged frames")
    e.add_argument("--refined", action="store_true",
                   help="only DFT-refined complexes, both levels: CSV with E_bind/E_exchange at the screening level and DFT side "
                        "by side; extxyz with energy_low/energy_high (E_bind) for configs/allegro-delta-binding.yaml")
    add_db(e)


def run_results(args: argparse.Namespace) -> int:
    from core.storage.results import results_frame
    from core.storage.store import Store

    store = Store(args.db)
    store.check_exists()
    df = results_frame(
        store,
        ligands=[make_ligand(args.smiles).smiles] if args.smiles else None,
        settings=get_settings(args.settings) if args.settings else None,
        metals=csv_list(args.metals, REE_METALS, "metals") if args.metals else None,
        ctypes=csv_list(args.types, tuple(COORDINATION_TYPES), "coordination types") if args.types else None)
    print(format_table(df))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from core.storage.results import export_csv, export_extxyz, levels_in, metadata_path, results_frame
    from core.storage.store import Store

    out = Path(args.output)
    if out.is_dir() or not out.parent.is_dir():
        raise ValueError(f"cannot write {out}: " + ("it is a folder" if out.is_dir() else
                                                     f"the folder {out.parent} does not exist"))
    store = Store(args.db)
    store.check_exists()
    fmt = args.format or ("csv" if args.output.lower().endswith(".csv") else "extxyz")
    settings = get_settings(args.settings) if args.settings else None
    if args.refined:
        return _export_refined(store, out, fmt)
    if fmt == "csv":
        n = export_csv(store, args.output, settings=settings)
    else:
        n = export_extxyz(store, args.output, include_failed=args.include_failed, settings=settings)
    print(f"wrote {n} rows to {args.output} ({fmt}; energies in {ENERGY_UNITS}, "
          f"{levels_in(results_frame(store, settings=settings))})")
    if fmt == "csv":
        print(f"wrote the export's metadata to {metadata_path(out)}")
    return 0


def _export_refined(store, out: Path, fmt: str) -> int:
    import ase.io

    from core.storage.results import export_table, refined_side_by_side, refined_two_level_frames

    df = refined_side_by_side(store)
    if df.empty:
        raise ValueError("no DFT-refined complexes in the store: run `reescreen refine` first")
    if fmt == "csv":
        out.write_text(export_table(df).to_csv(index=False), encoding="utf-8")
        n = len(df)
    else:
        found = refined_two_level_frames(store)
        ase.io.write(str(out), found, format="extxyz")
        n = len(found)
    print(f"wrote {n} refined complexes to {out} ({fmt}; both levels, {ENERGY_UNITS})")
    return 0
