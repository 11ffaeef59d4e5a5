"""Evaluating a model on the held-out test split and the out-of-sample (HDEV) set.

The split is re-made from the dataset with the seed and fractions recorded in the model's
``config.yaml``, so ``reescreen evaluate MODEL DATA`` on a fresh clone reproduces the model card's
numbers from the committed data.  All errors are kcal/mol of E_bind (Strategy 1 models are scored on
the E_bind they imply through eq. 1, as in the paper).
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from omegaconf import OmegaConf

from core.chemistry.constants import REE_METALS
from core.model.inference import BindingModel, predicted_binding_energies
from core.model.training import (SCAFFOLD_HOLDOUT, frame_value, held_out_kind, holdout_rules, split_frames,
                                 training_frames)


def regression_metrics(reference: Sequence[float], predicted: Sequence[float]) -> dict:
    """r², MAE, RMSE, max |error| and mean signed error (bias; kcal/mol) of ``predicted`` against ``reference``."""
    ref, pred = np.asarray(reference, float), np.asarray(predicted, float)
    if len(ref) == 0:
        return {"n": 0}
    err = pred - ref
    ss_tot = float(np.sum((ref - ref.mean()) ** 2))
    r2 = 1.0 - float(np.sum(err ** 2)) / ss_tot if ss_tot > 0 else float("nan")
    return {"n": int(len(ref)), "r2": r2, "mae": float(np.mean(np.abs(err))),
            "rmse": float(np.sqrt(np.mean(err ** 2))), "max_error": float(np.max(np.abs(err))),
            "mean_error": float(np.mean(err))}


def metal_of(atoms: Atoms) -> str:
    if "metal" in atoms.info:
        return str(atoms.info["metal"])
    found = [s for s in atoms.get_chemical_symbols() if s in REE_METALS]
    return found[0] if found else "?"


def _breakdown(frames: Sequence[Atoms], ref: np.ndarray, pred: np.ndarray, key) -> dict:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, a in enumerate(frames):
        groups[key(a)].append(i)
    return {g: regression_metrics(ref[idx], pred[idx]) for g, idx in sorted(groups.items())}


def _reference_binding(frames: Sequence[Atoms], label_key: str) -> np.ndarray:
    return np.array([frame_value(a, label_key) for a in frames])


def group_mean_baseline(train: Sequence[Atoms], test: Sequence[Atoms], label_key: str) -> np.ndarray:
    """The trivial model: the training mean of E_bind for the same metal and coordination type."""
    sums: dict[tuple, list[float]] = defaultdict(list)
    for a in train:
        sums[(metal_of(a), a.info.get("type"))].append(frame_value(a, label_key))
    overall = float(np.mean([v for vals in sums.values() for v in vals]))
    return np.array([np.mean(sums[(metal_of(a), a.info.get("type"))]) if sums.get((metal_of(a), a.info.get("type")))
                     else overall for a in test])


def ligand_and_type(atoms: Atoms) -> tuple:
    """(scaffold, substituent, coordination type) of a complex: the ligand whose metal series it belongs to."""
    return (atoms.info.get("scaffold"), atoms.info.get("substituent"), atoms.info.get("type"))


def metal_series_metrics(frames: Sequence[Atoms], ref: np.ndarray, pred: np.ndarray) -> dict:
    """Errors in what separating REEs depends on: E_bind differences between metals for one ligand (kcal/mol).

    ``neighbours``: E_bind(Ln[k+1]) − E_bind(Ln[k]) for consecutive lanthanides (La … Lu) with the same
    ligand and coordination type. ``within_ligand``: each complex's E_bind minus the mean over the metals
    of its ligand and type, so an offset shared by all metals of a ligand cancels. Frames without
    scaffold/substituent/type metadata are skipped.
    """
    groups: dict[tuple, dict[str, int]] = defaultdict(dict)
    for i, a in enumerate(frames):
        if None not in ligand_and_type(a):
            groups[ligand_and_type(a)][metal_of(a)] = i
    lanthanides = [m for m in REE_METALS if m != "Y"]
    ref_d, pred_d, ref_c, pred_c = [], [], [], []
    for members in groups.values():
        for lower, upper in zip(lanthanides, lanthanides[1:]):
            if lower in members and upper in members:
                i, j = members[lower], members[upper]
                ref_d.append(ref[j] - ref[i])
                pred_d.append(pred[j] - pred[i])
        if len(members) > 1:
            idx = list(members.values())
            ref_c += list(ref[idx] - ref[idx].mean())
            pred_c += list(pred[idx] - pred[idx].mean())
    return {"neighbours": regression_metrics(ref_d, pred_d), "within_ligand": regression_metrics(ref_c, pred_c)}


def analogue_scaffold_reference(in_sample: Sequence[Atoms], out_of_sample: Sequence[Atoms],
                                label_key: str) -> dict[str, dict]:
    """How much new chemistry the out-of-sample set carries, per training scaffold (kcal/mol).

    For each in-sample scaffold, its own label for the same substituent, metal and coordination type is
    taken as the "prediction" of each out-of-sample label (e.g. HDEV ≈ its positional isomer HOPO). This
    is a reference built from computed labels, not a model: it says how far a model that had learned a
    training scaffold perfectly, and knew nothing of the new donor arrangement, would land.
    """
    labels: dict[tuple, float] = {}
    for a in in_sample:
        key = (a.info.get("scaffold"), a.info.get("substituent"), metal_of(a), a.info.get("type"))
        if None not in key:
            labels[key] = frame_value(a, label_key)
    result = {}
    for scaffold in sorted({k[0] for k in labels}):
        pairs = [(frame_value(a, label_key), labels[k]) for a in out_of_sample
                 if (k := (scaffold, a.info.get("substituent"), metal_of(a), a.info.get("type"))) in labels]
        if pairs:
            ref, analogue = zip(*pairs)
            result[str(scaffold)] = regression_metrics(ref, analogue)
    return result


def _training_groups(frames: Sequence[Atoms]) -> list[str]:
    """Canonical SMILES (``*`` = ring carbon) of the groups in the training split, where known."""
    from core.model.holdout import HoldoutError, group_of  # holdout builds on this module

    found = set()
    for atoms in frames:
        try:
            found.add(group_of(atoms))
        except HoldoutError:  # a frame from elsewhere (the public DFT set) without a library group
            continue
    return sorted(found)


def evaluation_splits(model: BindingModel, data: str | Path) -> dict[str, list[Atoms]]:
    """train / val / test / hdev frames of ``data``, split exactly as the model's training run split it."""
    cfg = OmegaConf.load(str(model.directory / "config.yaml")).reescreen
    frames, _ = training_frames(data, cfg.get("geometry", "relaxed"))
    return split_frames(frames, list(cfg.split), int(cfg.seed), holdout_rules(cfg))


#: Evaluation sets beyond the random split, by what they measure: held-out groups, a scaffold left out by a
#: sibling run, HDEV alone (a pre-screen model's out-of-sample frames are of several kinds).
GROUP_HOLDOUT, HDEV_ONLY = "group-holdout", "hdev-only"


class EvaluationError(ValueError):
    """An evaluation that would not measure what it says (a leaked group, a sibling of another kind)."""


def score_split(model: BindingModel, frames: Sequence[Atoms], train: Sequence[Atoms], label_key: str) -> dict:
    """Every metric of one evaluation set (kcal/mol): regression, ranking, uncertainty (ensembles), per metal,
    scaffold, type and substituent, the metal/type-mean baseline of ``train`` and the metal-series errors."""
    from core.model.holdout import (ranking_metrics, selectivity_metrics,  # holdout builds on this module
                                    uncertainty_calibration)

    ref = _reference_binding(frames, label_key)
    spread = None
    if hasattr(model, "predict_spread") and model.strategy == "binding":
        pred, spread = model.predict_spread(frames)
    else:
        pred = predicted_binding_energies(model, frames)
    result = regression_metrics(ref, pred)
    result["ranking"] = ranking_metrics(frames, ref, pred)
    result["selectivity"] = selectivity_metrics(frames, ref, pred)
    if spread is not None:
        result["uncertainty"] = uncertainty_calibration(ref, pred, spread)
    result["per_metal"] = _breakdown(frames, ref, pred, metal_of)
    result["per_scaffold"] = _breakdown(frames, ref, pred, lambda a: str(a.info.get("scaffold", "?")))
    result["per_type"] = _breakdown(frames, ref, pred, lambda a: str(a.info.get("type", "?")))
    result["per_substituent"] = _breakdown(frames, ref, pred, lambda a: str(a.info.get("substituent", "?")))
    result["baseline_metal_type_mean"] = regression_metrics(ref, group_mean_baseline(train, frames, label_key))
    result["metal_series"] = metal_series_metrics(frames, ref, pred)
    result["parity"] = (ref, pred)
    return result


def holdout_frames_from(model: BindingModel, data: str | Path, training_groups: Sequence[str]) -> list[Atoms]:
    """The held-out groups' frames of another dataset (a group grid the model was not trained on), at the
    model's geometry; refused if any of their groups is among the model's ``training_groups``."""
    from core.model.holdout import group_of  # holdout builds on this module

    geometry = OmegaConf.load(str(model.directory / "config.yaml")).reescreen.get("geometry", "relaxed")
    frames = [a for a in training_frames(data, geometry)[0] if str(a.info.get("split")) == GROUP_HOLDOUT]
    if not frames:
        raise EvaluationError(f"{data} holds no frame of split {GROUP_HOLDOUT!r} (a group grid's held-out groups).")
    leaked = sorted({group_of(a) for a in frames} & set(training_groups))
    if leaked:
        raise EvaluationError(f"{len(leaked)} held-out group(s) of {data} were trained on by {model.name} "
                              f"({', '.join(leaked[:5])}): that would not measure new groups.")
    return frames


def sibling_scaffold_holdout(model: BindingModel, sibling_dir: str | Path) -> dict:
    """The scaffold hold-out measured by a sibling: the same configuration trained with a scaffold left out
    (``held_out_scaffolds``), evaluated on it by ``reescreen evaluate``.  Its metrics, with where they came
    from; refused for a sibling of another label, geometry or strategy."""
    from core.model.inference import read_metrics

    sibling = Path(sibling_dir)
    metrics = read_metrics(sibling) or {}
    if SCAFFOLD_HOLDOUT not in metrics:
        raise EvaluationError(f"{sibling} has no evaluated {SCAFFOLD_HOLDOUT!r} split: train it with "
                              "`--set reescreen.held_out_scaffolds=[...]` and run `reescreen evaluate` on it first.")
    ours = OmegaConf.load(str(model.directory / "config.yaml")).reescreen
    theirs = OmegaConf.load(str(sibling / "config.yaml")).reescreen
    for key in ("strategy", "geometry", "label_key"):
        if ours.get(key) != theirs.get(key):
            raise EvaluationError(f"{sibling} differs from {model.name} in {key} ({theirs.get(key)} vs "
                                  f"{ours.get(key)}): its scaffold hold-out would not measure this model.")
    if metrics.get("label_level_of_theory") != model.level_of_theory:
        raise EvaluationError(f"{sibling} learned {metrics.get('label_level_of_theory')}, not {model.level_of_theory}.")
    return metrics[SCAFFOLD_HOLDOUT] | {"measured_by": {"model": sibling.name, "path": str(sibling_dir),
                                                        "held_out_scaffolds":
                                                        list(theirs.get("held_out_scaffolds") or [])}}


def evaluate_model(model: BindingModel, data: str | Path, out_dir: str | Path | None = None,
                   holdout_data: str | Path | None = None, scaffold_holdout: str | Path | None = None) -> dict:
    """Score ``model`` on the test split and the out-of-sample sets of ``data``; write metrics.json and
    parity.png.

    Out-of-sample frames of several kinds (HDEV, held-out groups, a held-out scaffold) are also scored kind by
    kind.  ``holdout_data``: another dataset whose held-out groups this model never saw (the group grid, for
    a model trained on the reference grid), scored as the group hold-out.  ``scaffold_holdout``: a sibling
    model folder (:func:`sibling_scaffold_holdout`) whose scaffold hold-out is recorded for this model."""
    label_key = model.meta.get("label_key", "energy")
    parts = evaluation_splits(model, data)
    result: dict = {"model": model.name, "strategy": model.strategy, "units": model.meta.get("units", "kcal/mol"),
                    "label_level_of_theory": model.level_of_theory, "data": str(data),
                    "counts": {k: len(v) for k, v in parts.items()}, "device": model.device,
                    # read by the product to flag predictions for ligands on scaffolds never trained on
                    "training_scaffolds": sorted({str(a.info["scaffold"]) for a in parts["train"]
                                                 if a.info.get("scaffold")}),
                    # read by `reescreen rank` to tell a group the model was trained on from a new one
                    "training_groups": _training_groups(parts["train"])}
    rules = holdout_rules(OmegaConf.load(str(model.directory / "config.yaml")).reescreen)
    kinds: dict[str, list[Atoms]] = defaultdict(list)
    for a in parts["hdev"]:
        kind = held_out_kind(a, rules)
        kinds[HDEV_ONLY if kind == "hdev" else kind].append(a)
    if len(kinds) > 1:
        parts.update(kinds)
    sets = ["test", "hdev"] + (sorted(kinds) if len(kinds) > 1 else [])
    if holdout_data is not None:
        if GROUP_HOLDOUT in parts:
            raise EvaluationError(f"{model.name} already holds out groups of its own data; --holdout-data is for "
                                  "a model that never saw the other dataset.")
        parts[GROUP_HOLDOUT] = holdout_frames_from(model, holdout_data, result["training_groups"])
        result["counts"][GROUP_HOLDOUT] = len(parts[GROUP_HOLDOUT])
        sets.append(GROUP_HOLDOUT)
    parity = {}
    for split in sets:
        if not parts[split]:
            continue
        result[split] = score_split(model, parts[split], parts["train"], label_key)
        ref, pred = result[split].pop("parity")
        if split == "hdev":
            in_sample = [a for name in ("train", "val", "test") for a in parts[name]]
            result[split]["analogue_scaffold_reference"] = analogue_scaffold_reference(in_sample, parts[split],
                                                                                        label_key)
        if split in ("test", "hdev") or split == GROUP_HOLDOUT and holdout_data is not None:
            parity[split] = (ref, pred)
    if holdout_data is not None:
        result[GROUP_HOLDOUT]["source"] = str(holdout_data)
    if scaffold_holdout is not None:
        result[SCAFFOLD_HOLDOUT] = sibling_scaffold_holdout(model, scaffold_holdout)
    out = Path(out_dir) if out_dir else model.directory
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(result, indent=2))
    parity_png(parity, out / "parity.png", f"{model.name} ({model.strategy}) vs {model.level_of_theory}")
    return result


def parity_png(parity: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, title: str) -> Path:
    """Predicted vs reference E_bind, one panel per split, with the y = x line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, max(1, len(parity)), figsize=(5 * max(1, len(parity)), 4.6), squeeze=False)
    for ax, (split, (ref, pred)) in zip(axes[0], parity.items()):
        m = regression_metrics(ref, pred)
        lo, hi = float(min(ref.min(), pred.min())), float(max(ref.max(), pred.max()))
        ax.plot([lo, hi], [lo, hi], color="0.5", lw=1)
        ax.scatter(ref, pred, s=6, alpha=0.6)
        ax.set_xlabel("reference E_bind (kcal/mol)")
        ax.set_ylabel("predicted E_bind (kcal/mol)")
        ax.set_title(f"{split}: n={m['n']}, r²={m['r2']:.3f}, MAE={m['mae']:.2f}")
        ax.set_aspect("equal", adjustable="box")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
