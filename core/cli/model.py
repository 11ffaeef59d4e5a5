"""``reescreen train``, ``evaluate`` and ``predict``: the Allegro model."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_train_parser(sub) -> None:
    """Add the ``train`` sub-command."""
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
    t.add_argument("--members", type=int, default=1,
                   help="train an ensemble of N members (same split, network seeds differ); OUT/member-K each "
                        "resume on their own; the mean is the prediction, the spread its uncertainty")
    t.add_argument("--parallel", type=int, default=1,
                   help="train this many ensemble members at once, each in its own nequip-train process with "
                        "--threads threads (on a 2-core machine: --parallel 2 --threads 1)")


def add_evaluate_parser(sub) -> None:
    """Add the ``evaluate`` sub-command."""
    ev = sub.add_parser("evaluate", help="score a model on the test split and the HDEV set",
                        description="Re-make the model's split of DATA, predict, and write metrics.json (r2, MAE, "
                                    "RMSE, max error; per metal, scaffold, type) and parity.png next to the model.")
    ev.add_argument("model", help="model folder (holding model.nequip.zip and model.json)")
    ev.add_argument("data", help="dataset folder or extxyz file the model was trained on")
    ev.add_argument("--out", help="folder for metrics.json and parity.png (default: the model folder)")
    ev.add_argument("--cpu", action="store_true", help="evaluate on the CPU even if a GPU is present")
    ev.add_argument("--holdout-data", metavar="DATA",
                    help="another dataset whose held-out groups the model never saw (data/dataset-groups for a "
                         "model trained on data/dataset): scored as the group hold-out; refused if any of those "
                         "groups was trained on")
    ev.add_argument("--scaffold-holdout", metavar="SIBLING",
                    help="a model folder trained with the same config and a scaffold left out "
                         "(reescreen.held_out_scaffolds) and evaluated: its error on that scaffold is recorded "
                         "as this model's scaffold hold-out")


def add_predict_parser(sub) -> None:
    """Add the ``predict`` sub-command."""
    pr = sub.add_parser("predict", help="predict E_bind for structures from an (ext)xyz file",
                        description="Load the model from the path you give (never from an upload) and print one "
                                    "CSV row per structure with the predicted energy in kcal/mol.")
    pr.add_argument("model", help="model folder")
    pr.add_argument("file", help="xyz / extxyz file, one or more structures")
    pr.add_argument("--batch-size", type=int, help="structures per batch (default: 1 on CPU, 64 on GPU)")
    pr.add_argument("--cpu", action="store_true", help="run on the CPU even if a GPU is present")


def run_train(args: argparse.Namespace) -> int:
    from core.model.card import write_model_card
    from core.model.evaluation import evaluate_model
    from core.model.inference import load_model
    from core.model.training import package_model, run_training

    run = Path(args.out)
    model_dir = Path(args.model_dir or run / "model")
    if args.members < 1 or args.parallel < 1:
        print("error: --members and --parallel must be at least 1")
        return 2
    if args.members == 1:
        package_model(_train_one(args, run, []), model_dir, run)
    else:
        from core.model.ensemble import member_seed_override, write_ensemble
        from core.model.training import load_config

        seed = int(load_config(args.config).reescreen.seed)
        runs = [run / f"member-{k}" for k in range(args.members)]
        for k, member_run in enumerate(runs):  # the split files first, one member after the other
            print(f"Member {k + 1} of {args.members}: {member_run}", file=sys.stderr)
            _prepare_one(args, member_run, [member_seed_override(seed, k)])
        if args.parallel > 1:  # each member has its own run folder, so they train side by side
            from concurrent.futures import ThreadPoolExecutor

            def train(member_run: Path) -> Path:
                print(f"Training {member_run.name} (log: {member_run / 'train.log'})", file=sys.stderr)
                with open(member_run / "train.log", "a") as log:
                    return run_training(member_run, args.threads, log=log)

            with ThreadPoolExecutor(max_workers=min(args.parallel, args.members)) as pool:
                bests = list(pool.map(train, runs))
        else:
            bests = [run_training(r, args.threads) for r in runs]
        members = [model_dir / "members" / f"member-{k}" for k in range(args.members)]
        for best, member_run, member_dir in zip(bests, runs, members):
            package_model(best, member_dir, member_run)
        write_ensemble(members, model_dir)
    model = load_model(model_dir, explicit=True)
    metrics = evaluate_model(model, args.data)
    write_model_card(model_dir, metrics)
    print(metrics_text(metrics))
    print(f"model, metrics.json, parity.png and MODEL_CARD.md in {model_dir}")
    return 0


def _train_one(args: argparse.Namespace, run: Path, extra: list[str]) -> Path:
    """Prepare (or resume) and train one run; returns its best checkpoint."""
    from core.model.training import run_training

    _prepare_one(args, run, extra)
    return run_training(run, args.threads)


def _prepare_one(args: argparse.Namespace, run: Path, extra: list[str]) -> None:
    """Prepare a run, or make a stopped one ready to resume (its config kept, split files remade if missing)."""
    from core.model.training import prepare_run, restore_split_files, resume_checkpoint, update_run_config

    resume = (run / "config.yaml").exists() and resume_checkpoint(run / "train") is not None and not args.fresh
    if resume:
        print(f"Resuming the run in {run} from its last checkpoint (its config.yaml is kept; --fresh to restart).",
              file=sys.stderr)
        if restore_split_files(run, args.data):
            print(f"Split files remade from {args.data} with the run's seed (same counts as split.json).",
                  file=sys.stderr)
        if args.set:  # e.g. --set max_epochs=N to extend or end a run; recorded in the run's config
            update_run_config(run, args.set)
    else:
        config = prepare_run(args.config, args.data, run, list(args.set) + extra)
        print(f"Resolved config: {config}", file=sys.stderr)


#: Evaluation sets in the order they are printed (those present).
PRINTED_SPLITS = ("test", "group-holdout", "scaffold-holdout", "hdev-only", "hdev")


def metrics_text(m: dict) -> str:
    """Every evaluation set's numbers, one block each: what `reescreen evaluate` prints."""
    lines = [f"Model {m['model']} ({m['strategy']}), label {m['label_level_of_theory']}, errors in {m['units']}:"]
    for split in PRINTED_SPLITS:
        if split not in m:
            continue
        x, b = m[split], m[split]["baseline_metal_type_mean"]
        lines.append(f"  {split:16s} n={x['n']:5d}  r2={x['r2']:.3f}  MAE={x['mae']:.2f}  RMSE={x['rmse']:.2f}  "
                     f"max={x['max_error']:.1f}  bias={x.get('mean_error', float('nan')):+.2f}   "
                     f"(per metal+type mean baseline: MAE={b['mae']:.2f})")
        if x.get("metal_series", {}).get("neighbours", {}).get("n"):
            nb, wl = x["metal_series"]["neighbours"], x["metal_series"]["within_ligand"]
            lines.append(f"  {'':16s} between metals, same ligand: neighbouring Ln n={nb['n']} r2={nb['r2']:.3f} "
                         f"MAE={nb['mae']:.2f}; within-ligand pattern MAE={wl['mae']:.2f} r2={wl['r2']:.3f}")
        rank = x.get("ranking") or {}
        if rank.get("n_cells"):
            recall = (f"top-10 recall {rank['top10_recall_median']:.0%} (median of {rank['top10_recall_cells']} "
                      "cells)" if "top10_recall_median" in rank else "top-10 recall: no cell with 50 ligands")
            lines.append(f"  {'':16s} ligand ranking per metal and type: Spearman {rank['spearman_median']:.2f} "
                         f"(median of {rank['n_cells']} cells), {recall}")
        unc = x.get("uncertainty") or {}
        if unc.get("n"):
            flagged = ("no error > 5" if unc.get("large_flagged") is None
                       else f"{unc['large_flagged']:.0%} of {unc['n_large']} errors > 5 flagged")
            lines.append(f"  {'':16s} uncertainty: {unc['within_2sigma']:.0%} of errors within 2 sigma; {flagged}; "
                         f"{unc['flagged_share']:.0%} of predictions flagged")
        if x.get("measured_by"):
            lines.append(f"  {'':16s} measured by {x['measured_by'].get('path') or x['measured_by']['model']} (trained without "
                         f"{', '.join(x['measured_by']['held_out_scaffolds'])})")
    analogues = m.get("hdev", {}).get("analogue_scaffold_reference")
    if analogues:
        lines.append("  hdev labels vs the same substituent/metal/type on a training scaffold (labels, not a model): "
                     + ", ".join(f"{k} r2={v['r2']:.3f} MAE={v['mae']:.1f}" for k, v in analogues.items()))
    return "\n".join(lines)


def run_evaluate(args: argparse.Namespace) -> int:
    from core.model.evaluation import evaluate_model
    from core.model.inference import load_model

    from core.model.evaluation import EvaluationError

    model = load_model(args.model, explicit=True, force_cpu=args.cpu)
    try:
        metrics = evaluate_model(model, args.data, args.out, holdout_data=args.holdout_data,
                                 scaffold_holdout=args.scaffold_holdout)
    except EvaluationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.out:  # the card states what metrics.json next to it says
        from core.model.card import write_model_card

        write_model_card(model.directory, metrics)
    print(metrics_text(metrics))
    for split in PRINTED_SPLITS:
        if split in metrics:
            print(f"\n{split}: per metal MAE " + ", ".join(f"{k} {v['mae']:.1f}"
                                                          for k, v in metrics[split]["per_metal"].items()))
            print(f"{split}: per scaffold MAE " + ", ".join(f"{k} {v['mae']:.1f}"
                                                             for k, v in metrics[split]["per_scaffold"].items()))
    print(f"\nmetrics.json and parity.png in {args.out}" if args.out
          else f"\nmetrics.json, parity.png and MODEL_CARD.md in {model.directory}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    import ase.io

    from core.model.inference import load_model

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
