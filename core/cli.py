"""The ``reescreen`` command line: screen, ligands, results, export, dataset, train, evaluate, predict."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from core import __version__
from core.complexes import COORDINATION_TYPES
from core.constants import ENERGY_UNITS, LEVEL_OF_THEORY, REE_METALS
from core.ligands import (SCAFFOLDS, SUBSTITUENTS, TRAINING_SCAFFOLDS, LigandError, assemble_smiles, library_ligand,
                          make_ligand, parse_donor_pair)
from core.model import NEW_SCAFFOLD
from core.settings import PRESETS, get_settings
from core.store import MODEL_COLUMN

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
    s.add_argument("--model", help="model folder for E_bind predictions (default: the bundled model, if shipped)")
    s.add_argument("--no-model", action="store_true", help="no model predictions")
    s.add_argument("--cpu", action="store_true", help="run the model on the CPU even if a GPU is present")
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
    b.add_argument("--concurrent-ligands", type=int, help="ligands screened at once (default: one per 4 workers)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_db(b)

    t = sub.add_parser("train", help="train an Allegro model (nequip config) on a dataset",
                       description="Split the dataset (seed and fractions from the config), fit per-type energy "
                                   "shifts, write the resolved config into --out (the record of the run) and run "
                                   "nequip-train; a stopped run resumes from its last checkpoint. Then package "
                                   "the best checkpoint into --model-dir and evaluate it there.")
    t.add_argument("config", help="training config, e.g. configs/allegro-binding.yaml")
    t.add_argument("--data", default="data/dataset", help="dataset folder or extxyz file (default data/dataset)")
    t.add_argument("--out", required=True, help="run folder (split files, resolved config, checkpoints, logs)")
    t.add_argument("--model-dir", help="where to package the model (default OUT/model)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config entry, e.g. --set max_epochs=2 (repeatable)")
    t.add_argument("--fresh", action="store_true", help="start over even if OUT holds a run to resume")
    t.add_argument("--threads", type=int, help="torch threads (default 1; $REESCREEN_TRAIN_THREADS)")

    ev = sub.add_parser("evaluate", help="score a model on the test split and the HDEV set",
                        description="Re-make the model's split of DATA, predict, and write metrics.json (r2, MAE, "
                                    "RMSE, max error; per metal, scaffold, type) and parity.png next to the model.")
    ev.add_argument("model", help="model folder (holding model.nequip.zip and model.json)")
    ev.add_argument("data", help="dataset folder or extxyz file the model was trained on")
    ev.add_argument("--out", help="folder for metrics.json and parity.png (default: the model folder)")
    ev.add_argument("--cpu", action="store_true", help="evaluate on the CPU even if a GPU is present")

    pr = sub.add_parser("predict", help="predict E_bind for structures from an (ext)xyz file",
                        description="Load the model from the path you give (never from an upload) and print one "
                                    "CSV row per structure with the predicted energy in kcal/mol.")
    pr.add_argument("model", help="model folder")
    pr.add_argument("file", help="xyz / extxyz file, one or more structures")
    pr.add_argument("--batch-size", type=int, help="structures per batch (default: 1 on CPU, 64 on GPU)")
    pr.add_argument("--cpu", action="store_true", help="run on the CPU even if a GPU is present")
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
    columns = list(TABLE_COLUMNS)
    has_model = MODEL_COLUMN in df and df[MODEL_COLUMN].notna().any()
    if has_model:
        columns.insert(columns.index("E_bind (kcal/mol)") + 1, MODEL_COLUMN)
        columns.insert(columns.index(MODEL_COLUMN) + 1, "model domain")
    view = df[columns].copy()
    for col in ("E_bind (kcal/mol)", "E_exchange (kcal/mol)") + ((MODEL_COLUMN,) if has_model else ()):
        view[col] = view[col].map(lambda v: "" if pd.isna(v) else f"{v:.1f}")
    view["rank"] = view["rank"].map(lambda v: "" if pd.isna(v) else str(v))
    view["reason"] = view["reason"].fillna("").str.slice(0, 60)
    head = (f"Binding energies, {LEVEL_OF_THEORY}, {ENERGY_UNITS}. E_bind = E_complex - E_ion - sum E_ligand "
            "(waters included); E_exchange = vs [M(H2O)8]3+ (bare-ion reference cancels; use it to compare "
            "metals).")
    if has_model:
        models = ", ".join(sorted(set(df["model"].dropna()) - {""}))
        head += f"\n{MODEL_COLUMN}: predicted by {models} (see its model card for its label level of theory)."
        if "model domain" in df and (df["model domain"] == NEW_SCAFFOLD).any():
            head += ("\nWarning: some ligands are not C3 variants of a scaffold the model was trained on; its "
                     "predictions for them are extrapolations (model card: HDEV error).")
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
    model = _screen_model(args)
    with make_client(args.scheduler, args.workers) as client:
        summary = run_screen(ligand, store, client, settings, metals, ctypes, callback, args.retry_failed, model)
    if bar is not None:
        bar.close()
    print(f"{summary.requested} complexes requested: {summary.cached} from the store, {summary.computed} tasks "
          f"run in {summary.wall_s:.1f} s; {summary.failed} failed, {summary.qc_failed} QC-flagged.",
          file=sys.stderr)
    for err in summary.errors:
        print(f"error (will be retried on the next run): {err}", file=sys.stderr)
    print(format_table(store.results_frame([ligand.smiles], settings, metals, ctypes)))
    return 1 if summary.errors else 0


def _screen_model(args: argparse.Namespace):
    if args.no_model:
        return None
    if args.model:
        from core.model import load_model

        return load_model(args.model, explicit=True, force_cpu=args.cpu)
    from core.predict import default_model

    return default_model(force_cpu=args.cpu)


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
            info = build_dataset(store, client, settings, grid, metals, report, args.concurrent_ligands)
        if bar is not None:
            bar.close()
    else:  # a rewrite keeps the record of the build that computed the results
        old = Path(args.out) / "provenance.json"
        info = json.loads(old.read_text()).get("build", {}) if old.is_file() else {}
    prov = write_dataset(store, settings, grid, args.out, metals, info)
    for split, c in prov["counts"].items():
        print(f"{split}: {c['included']} frames written of {c['requested']} requested; {c['qc_failed']} QC-failed, "
              f"{c['failed']} failed, {c['missing']} missing (excluded)")
    print(f"shards and provenance.json in {args.out} (energies in {ENERGY_UNITS}, {LEVEL_OF_THEORY})")
    return 1 if info.get("errors") else 0


def _cmd_train(args: argparse.Namespace) -> int:
    from core.evaluation import evaluate_model
    from core.model import load_model
    from core.model_card import write_model_card
    from core.training import package_model, prepare_run, run_training

    run = Path(args.out)
    resume = (run / "config.yaml").exists() and (run / "train" / "last.ckpt").exists() and not args.fresh
    if resume:
        print(f"Resuming the run in {run} from its last checkpoint (its config.yaml is kept; --fresh to restart).",
              file=sys.stderr)
        if args.set:  # e.g. --set max_epochs=N to extend or end a run; recorded in the run's config
            from core.training import update_run_config

            update_run_config(run, args.set)
    else:
        config = prepare_run(args.config, args.data, run, args.set)
        print(f"Resolved config: {config}", file=sys.stderr)
    best = run_training(run, args.threads)
    model_dir = Path(args.model_dir or run / "model")
    package_model(best, model_dir, run)
    model = load_model(model_dir, explicit=True)
    metrics = evaluate_model(model, args.data)
    write_model_card(model_dir, metrics)
    print(_metrics_text(metrics))
    print(f"model, metrics.json, parity.png and MODEL_CARD.md in {model_dir}")
    return 0


def _metrics_text(m: dict) -> str:
    lines = [f"Model {m['model']} ({m['strategy']}), label {m['label_level_of_theory']}, errors in {m['units']}:"]
    for split in ("test", "hdev"):
        if split in m:
            x, b = m[split], m[split]["baseline_metal_type_mean"]
            lines.append(f"  {split:5s} n={x['n']:5d}  r2={x['r2']:.3f}  MAE={x['mae']:.2f}  RMSE={x['rmse']:.2f}  "
                         f"max={x['max_error']:.1f}  bias={x.get('mean_error', float('nan')):+.2f}   "
                         f"(per metal+type mean baseline: MAE={b['mae']:.2f})")
            if x.get("metal_series", {}).get("neighbours", {}).get("n"):
                nb, wl = x["metal_series"]["neighbours"], x["metal_series"]["within_ligand"]
                lines.append(f"  {split:5s} between metals, same ligand: neighbouring Ln n={nb['n']} r2={nb['r2']:.3f} "
                             f"MAE={nb['mae']:.2f}; within-ligand pattern MAE={wl['mae']:.2f} r2={wl['r2']:.3f}")
    analogues = m.get("hdev", {}).get("analogue_scaffold_reference")
    if analogues:
        lines.append("  hdev labels vs the same substituent/metal/type on a training scaffold (labels, not a model): "
                     + ", ".join(f"{k} r2={v['r2']:.3f} MAE={v['mae']:.1f}" for k, v in analogues.items()))
    return "\n".join(lines)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from core.evaluation import evaluate_model
    from core.model import load_model

    model = load_model(args.model, explicit=True, force_cpu=args.cpu)
    metrics = evaluate_model(model, args.data, args.out)
    if not args.out:  # the card states what metrics.json next to it says
        from core.model_card import write_model_card

        write_model_card(model.directory, metrics)
    print(_metrics_text(metrics))
    for split in ("test", "hdev"):
        if split in metrics:
            print(f"\n{split}: per metal MAE " + ", ".join(f"{k} {v['mae']:.1f}"
                                                          for k, v in metrics[split]["per_metal"].items()))
            print(f"{split}: per scaffold MAE " + ", ".join(f"{k} {v['mae']:.1f}"
                                                             for k, v in metrics[split]["per_scaffold"].items()))
    print(f"\nmetrics.json and parity.png in {args.out}" if args.out
          else f"\nmetrics.json, parity.png and MODEL_CARD.md in {model.directory}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    import ase.io

    from core.model import load_model

    model = load_model(args.model, explicit=True, force_cpu=args.cpu)
    frames = ase.io.read(args.file, index=":")
    energies = model.predict(frames, args.batch_size)
    what = {"binding": "E_bind", "absolute": "E_complex", "delta": "correction"}[model.strategy]
    print(f"# {what} predicted by {model.name} (label: {model.level_of_theory}), {model.meta.get('units')}, "
          f"device {model.device}")
    print(f"index,formula,{what} ({model.meta.get('units')})")
    for i, (atoms, e) in enumerate(zip(frames, energies)):
        print(f"{i},{atoms.get_chemical_formula()},{e:.3f}")
    return 0


COMMANDS = {"screen": _cmd_screen, "ligands": _cmd_ligands, "results": _cmd_results, "export": _cmd_export,
            "dataset": _cmd_dataset, "train": _cmd_train, "evaluate": _cmd_evaluate, "predict": _cmd_predict}


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
