"""The ``reescreen`` command line: screen, ligands, results, export."""
from __future__ import annotations

import argparse
import sys

import pandas as pd

from core import __version__
from core.complexes import COORDINATION_TYPES
from core.constants import ENERGY_UNITS, LEVEL_OF_THEORY, REE_METALS
from core.ligands import (SCAFFOLDS, SUBSTITUENTS, TRAINING_SCAFFOLDS, LigandError, assemble_smiles, library_ligand,
                          make_ligand, parse_donor_pair)
from core.settings import PRESETS, get_settings

TABLE_COLUMNS = ["rank", "ligand", "metal", "type", "E_bind (kcal/mol)", "E_exchange (kcal/mol)", "qc",
                 "converged", "reason"]


def _csv_list(text: str, allowed: tuple[str, ...] | list[str], what: str) -> list[str]:
    items = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in items if x not in allowed]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown {what}: {', '.join(bad)} (choose from {', '.join(allowed)})")
    return items


def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help="result store (SQLite file); default $REESCREEN_DB or ./reescreen.db")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (every sub-command documented in --help)."""
    parser = argparse.ArgumentParser(
        prog="reescreen",
        description="Screen bidentate ligands against the 16 rare earths: Architector La templates, swap to "
                    f"every REE, {LEVEL_OF_THEORY} optimisation, InChIKey QC, binding energies in {ENERGY_UNITS}.")
    parser.add_argument("--version", action="version", version=f"reescreen {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("screen", help="screen one ligand (SMILES, or scaffold + substituent)",
                       description="Build, optimise and rank the ligand's complexes. Results already in the "
                                   "store are reused; only what is missing is computed.")
    src = s.add_mutually_exclusive_group(required=True)
    src.add_argument("--smiles", help="ligand SMILES in its deprotonated binding form")
    src.add_argument("--scaffold", choices=list(SCAFFOLDS), help="library scaffold (with --substituent)")
    s.add_argument("--substituent", choices=list(SUBSTITUENTS), metavar="NAME",
                   help="library substituent at C3 (see `reescreen ligands`)")
    s.add_argument("--donors", help="donor atom indices 'i,j' in the canonical SMILES (overrides detection)")
    s.add_argument("--metals", default=",".join(REE_METALS),
                   help="comma-separated REEs (default: all 16)")
    s.add_argument("--types", default=",".join(COORDINATION_TYPES),
                   help=f"comma-separated coordination types (default: {','.join(COORDINATION_TYPES)})")
    s.add_argument("--settings", default="fast", choices=list(PRESETS), help="search/optimisation preset")
    s.add_argument("--scheduler", help="Dask scheduler address tcp://HOST:PORT (default $REESCREEN_SCHEDULER, "
                                       "else an embedded cluster with one worker per core)")
    s.add_argument("--workers", type=int, help="worker processes of the embedded cluster (default: cores)")
    s.add_argument("--retry-failed", action="store_true", help="recompute stored failures too")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_db(s)

    lg = sub.add_parser("ligands", help="list scaffolds and substituents",
                        description="List the scaffold and substituent libraries with the assembled SMILES.")
    lg.add_argument("--scaffold", choices=list(SCAFFOLDS), help="show the full ligands of this scaffold")

    r = sub.add_parser("results", help="ranked table of stored results",
                       description=f"Stored complexes ranked by E_bind within ligand and type ({ENERGY_UNITS}, "
                                   f"{LEVEL_OF_THEORY}). Failed and QC-flagged rows are listed, never ranked.")
    r.add_argument("--smiles", help="only this ligand")
    r.add_argument("--metals", help="only these metals (comma-separated)")
    r.add_argument("--types", help="only these coordination types (comma-separated)")
    r.add_argument("--settings", choices=list(PRESETS), help="only results of this preset")
    _add_db(r)

    e = sub.add_parser("export", help="export stored results to CSV or extended XYZ",
                       description="CSV: the results table. extxyz: one frame per complex with energy = E_bind "
                                   "and absolute_energy (kcal/mol), the public dataset's layout.")
    e.add_argument("output", help="output file (.csv or .xyz/.extxyz)")
    e.add_argument("--format", choices=["csv", "extxyz"], help="default: from the file extension")
    e.add_argument("--settings", choices=list(PRESETS), help="only results of this preset")
    e.add_argument("--include-failed", action="store_true", help="extxyz: also write failed/QC-flagged frames")
    _add_db(e)

    d = sub.add_parser("dataset", help="build the reference dataset (the paper's grid) and write its shards",
                       description="Screen the grid (training scaffolds x substituents x types x REEs, plus HDEV "
                                   "4L out of sample) into the store, resumably, then write compressed extxyz "
                                   "shards and provenance.json.")
    dsub = d.add_subparsers(dest="dataset_command", required=True)
    b = dsub.add_parser("build", help="screen what is missing, then write the shards",
                        description="Resumable: a killed build continues where it stopped (results are in the "
                                    "store). Frames: energy = E_bind, absolute_energy = E_complex (kcal/mol).")
    b.add_argument("--out", default="data/dataset", help="output folder for shards (default data/dataset)")
    b.add_argument("--substituents", help="comma-separated subset of substituents (default: all)")
    b.add_argument("--scaffolds", default=",".join(TRAINING_SCAFFOLDS), help="training scaffolds")
    b.add_argument("--metals", default=",".join(REE_METALS), help="comma-separated REEs (default: all 16)")
    b.add_argument("--types", default=",".join(COORDINATION_TYPES), help="coordination types of the training set")
    b.add_argument("--no-hdev", action="store_true", help="leave out the HDEV out-of-sample set")
    b.add_argument("--write-only", action="store_true", help="only write shards from what the store holds")
    b.add_argument("--settings", default="fast", choices=list(PRESETS), help="search/optimisation preset")
    b.add_argument("--scheduler", help="Dask scheduler address (default: embedded cluster)")
    b.add_argument("--workers", type=int, help="worker processes of the embedded cluster")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_db(b)
    return parser


def _ligand_from_args(args: argparse.Namespace):
    donors = parse_donor_pair(args.donors)
    if args.scaffold:
        if not args.substituent:
            raise LigandError("--scaffold needs --substituent (see `reescreen ligands`).")
        if donors:
            return make_ligand(assemble_smiles(args.scaffold, args.substituent), donors, args.scaffold,
                               args.substituent)
        return library_ligand(args.scaffold, args.substituent)
    return make_ligand(args.smiles, donors)


def format_table(df: pd.DataFrame) -> str:
    """Text table of results with the level of theory and units in a header line."""
    if df.empty:
        return "No results."
    view = df[TABLE_COLUMNS].copy()
    for col in ("E_bind (kcal/mol)", "E_exchange (kcal/mol)"):
        view[col] = view[col].map(lambda v: "" if pd.isna(v) else f"{v:.1f}")
    view["rank"] = view["rank"].map(lambda v: "" if pd.isna(v) else str(v))
    view["reason"] = view["reason"].fillna("").str.slice(0, 60)
    head = (f"Binding energies, {LEVEL_OF_THEORY}, {ENERGY_UNITS}. E_bind = E_complex - E_ion - sum E_ligand "
            "(waters included); E_exchange = vs [M(H2O)8]3+ (bare-ion reference cancels; use it to compare "
            "metals).")
    parts = [head]
    for ctype, block in view.groupby(df["type"], sort=False):
        parts.append(f"\n{ctype}\n" + block.to_string(index=False))
    return "\n".join(parts)


def _cmd_screen(args: argparse.Namespace) -> int:
    from core.runner import make_client, run_screen
    from core.store import Store

    ligand = _ligand_from_args(args)
    metals = _csv_list(args.metals, REE_METALS, "metals")
    ctypes = _csv_list(args.types, tuple(COORDINATION_TYPES), "coordination types")
    settings = get_settings(args.settings)
    store = Store(args.db)
    print(f"Ligand {ligand.name}: {ligand.smiles} (charge {ligand.charge:+d}, donors {ligand.donors}); "
          f"{len(metals)} metals x {len(ctypes)} types, settings '{settings.name}', store {store.path}",
          file=sys.stderr)
    bar = None
    callback = None
    if not args.no_progress:
        from tqdm import tqdm

        def callback(p):
            nonlocal bar
            if bar is None:
                bar = tqdm(total=p.total, unit="task", file=sys.stderr)
            bar.n = p.done
            bar.set_postfix(failed=p.failed, qc=p.qc_failed, errors=p.errors, refresh=False)
            bar.refresh()
    with make_client(args.scheduler, args.workers) as client:
        summary = run_screen(ligand, store, client, settings, metals, ctypes, callback, args.retry_failed)
    if bar is not None:
        bar.close()
    print(f"{summary.requested} complexes requested: {summary.cached} from the store, {summary.computed} tasks "
          f"run in {summary.wall_s:.1f} s; {summary.failed} failed, {summary.qc_failed} QC-flagged.",
          file=sys.stderr)
    for err in summary.errors:
        print(f"error (will be retried on the next run): {err}", file=sys.stderr)
    print(format_table(store.results_frame([ligand.smiles], settings, metals, ctypes)))
    return 1 if summary.errors else 0


def _cmd_ligands(args: argparse.Namespace) -> int:
    if args.scaffold:
        for name in SUBSTITUENTS:
            lig = library_ligand(args.scaffold, name)
            print(f"{lig.name:32s} {lig.smiles:45s} charge {lig.charge:+d} donors {lig.donors}")
        return 0
    print("Scaffolds (binding form, * = C3):")
    for name, smi in SCAFFOLDS.items():
        print(f"  {name:10s} {smi}")
    print("Substituents at C3:")
    for name, smi in SUBSTITUENTS.items():
        print(f"  {name:22s} {smi}")
    return 0


def _cmd_results(args: argparse.Namespace) -> int:
    from core.store import Store

    store = Store(args.db)
    df = store.results_frame(
        ligands=[make_ligand(args.smiles).smiles] if args.smiles else None,
        settings=get_settings(args.settings) if args.settings else None,
        metals=_csv_list(args.metals, REE_METALS, "metals") if args.metals else None,
        ctypes=_csv_list(args.types, tuple(COORDINATION_TYPES), "coordination types") if args.types else None)
    print(format_table(df))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from core.store import Store

    store = Store(args.db)
    fmt = args.format or ("csv" if args.output.lower().endswith(".csv") else "extxyz")
    settings = get_settings(args.settings) if args.settings else None
    if fmt == "csv":
        n = store.export_csv(args.output, settings=settings)
    else:
        n = store.export_extxyz(args.output, include_failed=args.include_failed, settings=settings)
    print(f"wrote {n} rows to {args.output} ({fmt}; energies in {ENERGY_UNITS}, {LEVEL_OF_THEORY})")
    return 0


def _cmd_dataset(args: argparse.Namespace) -> int:
    from core.dataset import build_dataset, dataset_grid, write_dataset
    from core.store import Store

    substituents = _csv_list(args.substituents, list(SUBSTITUENTS), "substituents") if args.substituents else None
    grid = dataset_grid(substituents, _csv_list(args.scaffolds, list(SCAFFOLDS), "scaffolds"),
                        _csv_list(args.types, tuple(COORDINATION_TYPES), "coordination types"),
                        include_hdev=not args.no_hdev)
    metals = _csv_list(args.metals, REE_METALS, "metals")
    settings = get_settings(args.settings)
    store = Store(args.db)
    info: dict = {}
    if not args.write_only:
        from core.runner import make_client

        bar = None
        if not args.no_progress:
            from tqdm import tqdm

            bar = tqdm(total=len(grid), unit="ligand", file=sys.stderr)

        def report(p):
            if bar is not None:
                bar.n = p.done
                eta = "" if p.eta_s is None else f"{p.eta_s / 60:.0f} min"
                bar.set_postfix(ligand=p.ligand, eta=eta, refresh=False)
                bar.refresh()
        with make_client(args.scheduler, args.workers) as client:
            info = build_dataset(store, client, settings, grid, metals, report)
        if bar is not None:
            bar.close()
    prov = write_dataset(store, settings, grid, args.out, metals, info)
    for split, c in prov["counts"].items():
        print(f"{split}: {c['included']} frames written of {c['requested']} requested; {c['qc_failed']} QC-failed, "
              f"{c['failed']} failed, {c['missing']} missing (excluded)")
    print(f"shards and provenance.json in {args.out} (energies in {ENERGY_UNITS}, {LEVEL_OF_THEORY})")
    return 1 if info.get("errors") else 0


COMMANDS = {"screen": _cmd_screen, "ligands": _cmd_ligands, "results": _cmd_results, "export": _cmd_export, "dataset": _cmd_dataset}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``reescreen`` command."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return COMMANDS[args.command](args)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    except (LigandError, ValueError) as exc:
        print(f"reescreen: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
