"""The model card: what a model was trained on, what it measured, and where not to trust it.

Written from the model's own files (model.json, config.yaml, metrics.json), so every number on the
card is the one ``reescreen evaluate`` produced.
"""
from __future__ import annotations

import json
from pathlib import Path

from omegaconf import OmegaConf

from core.levels import LEVELS
from core.model.evaluation import GROUP_HOLDOUT, HDEV_ONLY
from core.model.inference import model_domain_text
from core.model.training import SCAFFOLD_HOLDOUT


def demote_headings(markdown: str, levels: int = 3) -> str:
    """``markdown`` with every heading ``levels`` deeper (``#`` → ``####``), for a card shown inside a page
    (its title was a page-size heading inside the Model page's expander)."""
    import re

    return re.sub(r"(?m)^(#{1,6})(?=\s)", lambda m: "#" * min(len(m.group(1)) + levels, 6), markdown or "")


def _row(name: str, m: dict) -> str:
    return f"| {name} | {m['n']} | {m['r2']:.3f} | {m['mae']:.2f} | {m['rmse']:.2f} | {m['max_error']:.1f} |"


def write_model_card(model_dir: str | Path, metrics: dict) -> Path:
    """Write ``MODEL_CARD.md`` into ``model_dir`` from its metadata and ``metrics``."""
    d = Path(model_dir)
    meta = json.loads((d / "model.json").read_text())
    cfg = OmegaConf.load(str(d / "config.yaml"))
    level = meta.get("level_of_theory") or "unknown (not recorded in the dataset)"
    ours = LEVELS.get(level)
    split = meta.get("split", {})
    counts = split.get("counts", {})
    model = cfg.training_module.model
    label = {"binding": "the binding energy E_bind directly (Strategy 2)",
             "absolute": "the absolute complex energy E_complex; E_bind follows from eq. 1 (Strategy 1)",
             "delta": "a correction E_high − E_low (Δ-ML)"}[meta["strategy"]]
    lines = [
        f"# Model card: {d.name}",
        "",
        f"Allegro (nequip {_version('nequip')}, nequip-allegro {_version('nequip-allegro')}) trained on "
        f"**{level}** labels, in {meta.get('units', 'kcal/mol')}. It learns {label}.",
        "",
    ]
    if ours:
        lines += [
            ("" if ours.is_dft else "**Not DFT.** ") + f"The labels were computed by reescreen at {ours.name} (Architector La templates, metal swap, optimisation, "
            f"ligand-connectivity QC). The model reproduces that level of theory, with its known errors: {ours.caveat}",
            "",
        ]
    lines += [
        "## Good for",
        "- Ranking ligands and metals at the label's level of theory without the reference calculations "
        "(free ligand, bare ion), e.g. for large substituent tables.",
        "- A template for retraining on DFT-level data with the same command "
        "(`reescreen train configs/allegro-binding.yaml --data <public DFT extxyz>`; see the README).",
        "",
        "## Out of domain",
        f"- Elements other than {', '.join(meta['type_names'])}: refused with a message.",
        "- Ligands on scaffolds other than the training ones "
        f"({', '.join(metrics.get('training_scaffolds') or ['see the dataset'])}, with any C3 group): their "
        "error is the HDEV row below, not the test row. Screening results mark them `new scaffold` in the "
        "`model domain` column. " + model_domain_text(d),
        "- Coordination numbers other than 8, other charges or spin states, "
        + ("structures other than grafted starts on the shipped complexes (optimised ones included)."
           if cfg.reescreen.get("geometry") == "grafted" else "structures not optimised at the label's level."),
        *_new_group_selectivity_lines(metrics),
        "- Accuracy beyond its labels: the model cannot be more right than the level it learned.",
        "",
        "## Training data",
        f"- Dataset: `{split.get('data', '?')}`" + (f", sha256 `{meta['dataset_sha256']}`" if meta.get(
            "dataset_sha256") else ""),
        *[line for source in str(split.get("data", "")).split(",") for line in _dataset_completeness(Path(source))],
        f"- Split (seed {split.get('seed')}, fractions {split.get('fractions')}): train {counts.get('train')}, "
        f"val {counts.get('val')}, test {counts.get('test')}; out of sample (HDEV) {counts.get('hdev')}.",
        f"- Network: r_max {cfg.cutoff_radius} Å, l_max {model.l_max}, {model.num_layers} layers, "
        f"{model.num_scalar_features} scalar / {model.num_tensor_features} tensor features, float32; "
        f"MAE loss on the structure's energy; Adam lr {cfg.get('learning_rate')} with ReduceLROnPlateau to 1e-5. "
        + _training_line(meta.get("training") or {}, cfg.max_epochs) + " Full config: `config.yaml`.",
        *_ensemble_and_geometry_lines(meta, cfg),
        "",
        "## Measured (`reescreen evaluate`, kcal/mol)",
        "",
        "| set | n | r² | MAE | RMSE | max error |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for split_name, title in evaluation_sets(metrics):
        if split_name in metrics:
            lines.append(_row(title, metrics[split_name]))
            lines.append(_row(f"{title}, baseline: mean per metal + type", metrics[split_name]
                              ["baseline_metal_type_mean"]))
    lines += _provenance_lines(metrics)
    lines += _ranking_lines(metrics)
    for split_name in ("test", "hdev"):
        if split_name in metrics:
            lines += ["", f"Per metal, {split_name}: " + ", ".join(
                f"{k} {v['mae']:.1f}" for k, v in metrics[split_name]["per_metal"].items()) + " (MAE)",
                      f"Per scaffold, {split_name}: " + ", ".join(
                f"{k} {v['mae']:.1f}" for k, v in metrics[split_name]["per_scaffold"].items()) + " (MAE)"]
    # the targets are per coordination type (a 1L6W complex carries a quarter of 4L's ligand energy)
    per_type = [(title, metrics[k]["per_type"]) for k, title in evaluation_sets(metrics)
                if metrics.get(k, {}).get("per_type")]
    if per_type:
        lines += ["", "Per coordination type (MAE): " + "; ".join(
            f"{title}: " + ", ".join(f"{t} {v['mae']:.2f}" for t, v in types.items()) for title, types in per_type)]
    series = {k: metrics[k]["metal_series"] for k, _ in evaluation_sets(metrics) if metrics.get(k, {}).get("metal_series")}
    if any(v["neighbours"].get("n") for v in series.values()):
        lines += ["", "Between metals for the same ligand and type (what separating neighbouring REEs depends on): "
                  + "; ".join(f"{k}: E_bind(Ln[k+1]) − E_bind(Ln[k]) MAE {v['neighbours']['mae']:.2f} "
                              f"(r² {v['neighbours']['r2']:.3f}, n {v['neighbours']['n']}), E_bind minus the ligand's "
                              f"mean over metals MAE {v['within_ligand']['mae']:.2f}"
                              for k, v in series.items() if v["neighbours"].get("n"))
                  + ". An error shared by all metals of a ligand cancels in these differences."]
    hdev_subs = metrics.get("hdev", {}).get("per_substituent")
    if hdev_subs:
        lines += ["", "Per substituent, hdev (mean signed error, prediction − label): " + ", ".join(
            f"{k} {v['mean_error']:+.1f}" for k, v in sorted(hdev_subs.items(), key=lambda kv: kv[1]["mean_error"]))]
    analogues = metrics.get("hdev", {}).get("analogue_scaffold_reference")
    if analogues:
        lines += ["", "How new the out-of-sample chemistry is (labels, not a model): the label of the same substituent, "
                  "metal and type on a training scaffold, taken as the out-of-sample label, scores " + ", ".join(
                      f"{k} r² {v['r2']:.3f} / MAE {v['mae']:.1f}" for k, v in analogues.items())
                  + ". A model that had learned the nearest training scaffold perfectly, and nothing about the new "
                  "donor arrangement, would land near the best of these."]
    lines += ["", "Parity plot: `parity.png`. Reproduce: `" + evaluate_command(d, metrics) + "`.", ""]
    path = d / "MODEL_CARD.md"
    path.write_text("\n".join(lines))
    return path


def evaluate_command(model_dir: Path, metrics: dict) -> str:
    """The ``reescreen evaluate`` command that wrote ``metrics``, with the sets that came from elsewhere."""
    command = f"reescreen evaluate {_shown_path(model_dir)} {metrics.get('data', 'data/dataset')}"
    source = (metrics.get(GROUP_HOLDOUT) or {}).get("source")
    if source:
        command += f" --holdout-data {source}"
    sibling = ((metrics.get(SCAFFOLD_HOLDOUT) or {}).get("measured_by") or {}).get("path")
    if sibling:
        command += f" --scaffold-holdout {sibling}"
    return command


def evaluation_sets(metrics: dict) -> list[tuple[str, str]]:
    """Evaluation sets in the order the card shows them.  ``hdev`` holds every out-of-sample frame; when those
    are of several kinds (a pre-screen model: HDEV and the held-out groups) each kind has its own row too, and
    so have a group hold-out from another dataset and a scaffold hold-out measured by a sibling run."""
    if not any(k in metrics for k in (GROUP_HOLDOUT, SCAFFOLD_HOLDOUT, HDEV_ONLY)):
        return [("test", "test split"), ("hdev", "HDEV (out of sample)")]
    titles = [("test", "test split (random over complexes: interpolation)")]
    if GROUP_HOLDOUT in metrics:
        titles.append((GROUP_HOLDOUT, "held-out groups (never trained on, every scaffold)"))
    if SCAFFOLD_HOLDOUT in metrics:
        held = (metrics[SCAFFOLD_HOLDOUT].get("measured_by") or {}).get("held_out_scaffolds") or []
        titles.append((SCAFFOLD_HOLDOUT, f"scaffold left out: {', '.join(held) or '?'} (sibling run)"))
    if HDEV_ONLY in metrics:
        return titles + [(HDEV_ONLY, "HDEV scaffold"), ("hdev", "all out of sample")]
    return titles + [("hdev", "HDEV scaffold")]


def evaluation_row(title: str, m: dict) -> dict:
    """One evaluation set as a table row (kcal/mol): errors, the baseline, the neighbouring-lanthanide
    difference error, ligand ranking, the ranking by selectivity between two metals (medians over pairs) and, for an ensemble, uncertainty calibration (None where not measured)."""
    rank, unc, chosen = m.get("ranking") or {}, m.get("uncertainty") or {}, m.get("selectivity") or {}
    return {"set": title, "n": m["n"], "r²": m["r2"], "MAE (kcal/mol)": m["mae"], "RMSE (kcal/mol)": m["rmse"],
            "max error (kcal/mol)": m["max_error"],
            "baseline MAE (metal+type mean)": m["baseline_metal_type_mean"]["mae"],
            "neighbouring-Ln ΔE_bind MAE (kcal/mol)": (m.get("metal_series") or {}).get("neighbours", {}).get("mae"),
            "ligand ranking, median Spearman": rank.get("spearman_median"),
            "top-10 recall, median": rank.get("top10_recall_median"),
            "metal-pair selectivity MAE, median (kcal/mol)": chosen.get("mae_median"),
            "same selectivity for every ligand, MAE": chosen.get("mae_constant_median"),
            "metal-pair selectivity ranking, median Spearman": chosen.get("spearman_median"),
            "errors within 2σ": unc.get("within_2sigma"), "errors > 5 kcal/mol flagged": unc.get("large_flagged")}


def _provenance_lines(metrics: dict) -> list[str]:
    """Where the rows that this model's own split did not give came from."""
    lines = []
    source = (metrics.get(GROUP_HOLDOUT) or {}).get("source")
    if source:
        lines.append(f"- Held-out groups: the held-out groups of `{source}`, a dataset this model was not "
                     "trained on; none of their groups is among its training groups (checked).")
    sibling = (metrics.get(SCAFFOLD_HOLDOUT) or {}).get("measured_by")
    if sibling:
        lines.append(f"- Scaffold left out: measured by `{sibling.get('path') or sibling['model']}`, the same configuration trained with "
                     f"{', '.join(sibling['held_out_scaffolds'])} left out entirely (leave-one-scaffold-out); this "
                     "model itself was trained on it. It is the error to expect on a scaffold never trained on.")
    return ["", *lines] if lines else []


def _ensemble_and_geometry_lines(meta: dict, cfg) -> list[str]:
    lines = []
    if meta.get("members"):
        lines.append(f"- **Ensemble of {meta['members']} members**: the same split, each network from its own seed. "
                     "The prediction is their mean; the uncertainty is their sample standard deviation (σ).")
        costs = [m for m in meta.get("member_training", []) if m.get("wall_s")]
        if costs:
            lines.append("- What each member cost to train: " + "; ".join(_member_cost(k, m) for k, m in enumerate(costs))
                         + ". Compute is epochs × the median epoch; the recorded wall time also holds whatever "
                           "paused or slowed the run (a resume, another job on the same cores).")
    if cfg.reescreen.get("geometry") == "grafted":
        lines.append("- **Inputs are grafted, unrelaxed complexes** (the group placed on the shipped complex of "
                     "its scaffold, no optimisation); the labels are the **relaxed** complexes' E_bind. It ranks "
                     "groups before any quantum chemistry; it is not meant for optimised structures.")
    return lines


def _member_cost(index: int, training: dict) -> str:
    """One member's training cost: epochs, median epoch, compute (epochs × median) and recorded wall time."""
    where = "GPU" if training.get("device") == "cuda" else f"CPU, {training.get('threads')} thread(s)"
    per_epoch = training.get("seconds_per_epoch")
    if not per_epoch:
        return f"member {index}: {training['epochs']} epochs, {_duration(training['wall_s'])} wall ({where})"
    return (f"member {index}: {training['epochs']} epochs at {per_epoch:.0f} s median per epoch "
            f"({where}), {_duration(training['epochs'] * per_epoch)} of compute, "
            f"{_duration(training['wall_s'])} wall as recorded")


def _ranking_lines(metrics: dict) -> list[str]:
    """Ranking quality and uncertainty calibration per evaluation set, where measured."""
    lines = []
    for split_name, title in evaluation_sets(metrics):
        m = metrics.get(split_name) or {}
        rank, unc = m.get("ranking") or {}, m.get("uncertainty")
        if rank.get("n_cells"):
            recall = (f"median top-10 recall {rank['top10_recall_median']:.0%} (over the "
                      f"{rank['top10_recall_cells']} cells with 50 or more ligands)" if "top10_recall_median" in rank
                      else "top-10 recall not measured (no cell holds 50 ligands)")
            lines.append(f"- {title}: ligand ranking per metal and type (over {rank['n_cells']} metal × type cells), "
                         f"median Spearman {rank['spearman_median']:.2f}, {recall}.")
        chosen = m.get("selectivity") or {}
        if chosen.get("per_pair"):
            lines.append(f"- {title}: {_selectivity_text(chosen)}")
        if unc and unc.get("n"):
            flagged = "no error above 5 kcal/mol" if unc.get("large_flagged") is None else \
                f"{unc['large_flagged']:.0%} of the {unc['n_large']} errors above 5 kcal/mol flagged (2σ ≥ 5)"
            lines.append(f"- {title}: {unc['within_2sigma']:.0%} of errors within 2σ; {flagged}; "
                         f"{unc['flagged_share']:.0%} of all predictions flagged.")
    return ["", *lines] if lines else []


def _new_group_selectivity_lines(metrics: dict) -> list[str]:
    """A caveat where ranking new groups by a pair's selectivity is barely better than one number for all."""
    chosen = (metrics.get(GROUP_HOLDOUT) or {}).get("selectivity") or {}
    pairs = [p for p in (chosen.get("per_pair") or {}).values() if "mae_constant" in p]
    if not pairs:
        return []
    beating = sum(p["mae"] < p["mae_constant"] for p in pairs)
    return [f"- Ranking **new groups** by the selectivity between two metals: on the held-out groups its error "
            f"in ΔE_bind beats giving every ligand the same selectivity for {beating} of {len(pairs)} metal pairs "
            f"(median MAE {chosen['mae_median']:.2f} against {chosen['mae_constant_median']:.2f} kcal/mol); "
            "read the pair's line under Measured before trusting such a ranking."]


#: Metal pairs the card spells out: a light/heavy split much studied for magnets and the series' two ends.
CARD_PAIRS = ("Nd-Dy", "La-Lu")


def _selectivity_text(selectivity: dict) -> str:
    """The ranking by selectivity between two metals (``reescreen rank --pair``), over every pair judged (more
    than 10 ligands of one type) and for :data:`CARD_PAIRS`."""
    what = "ranking by selectivity between two metals (ΔE_bind of one ligand, what `rank --pair` ranks)"
    if not selectivity.get("n_pairs"):
        return f"{what}: not judged, {selectivity.get('note', 'no pair measured')}."
    text = (f"{what}, over {selectivity['n_pairs']} metal pairs: median MAE {selectivity['mae_median']:.2f} (the "
            f"same selectivity for every ligand would score {selectivity['mae_constant_median']:.2f}), median "
            f"Spearman {selectivity['spearman_median']:.2f} over pairs × types")
    for name in CARD_PAIRS:
        cells = {t: c for t, c in ((selectivity.get("per_pair") or {}).get(name) or {}).get("per_type", {}).items()
                 if "mae_constant" in c}
        if cells:
            text += f"; {name}: " + ", ".join(
                f"{t} MAE {c['mae']:.2f} (constant {c['mae_constant']:.2f}) / Spearman {c['spearman']:.2f}"
                + (f" / top-10 recall {c['top10_recall_first']:.0%} and {c['top10_recall_second']:.0%}"
                   if "top10_recall_first" in c else "")
                + f" over {c['n_ligands']} ligands" for t, c in cells.items())
    return text + "."


def _shown_path(directory: Path) -> str:
    """The model folder as a user of a fresh clone types it: relative to the project when inside it."""
    root = Path(__file__).resolve().parents[2]
    resolved = directory.resolve()
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(directory)


def _dataset_completeness(data: Path) -> list[str]:
    """A line saying how much of the requested grid the dataset holds (from its provenance.json)."""
    prov_path = (data if data.is_dir() else data.parent) / "provenance.json"
    if not prov_path.exists():
        return []
    counts = json.loads(prov_path.read_text()).get("counts", {})
    parts = [f"{name}: {c['included']} of {c['requested']} requested complexes ({c['qc_failed']} QC-failed, "
             f"{c['missing']} not computed yet)" for name, c in counts.items()]
    line = "- Dataset coverage: " + "; ".join(parts) + "."
    if any(c.get("missing") for c in counts.values()):
        line += (" **A partial build**: this model is preliminary and is retrained when the dataset is complete; "
                 "substituents not yet in the data are less reliable.")
    return [line]


def _training_line(history: dict, max_epochs: int) -> str:
    """How far training went, so a reader can tell a converged model from a stopped one."""
    if not history:
        return f"At most {max_epochs} epochs."
    lr = history.get("last_learning_rate")
    done = lr is not None and lr <= 1.0e-5 * 1.0001
    return (f"Trained {history['epochs']} epochs (best validation MAE {history['best_val_mae']:.2f} kcal/mol at "
            f"epoch {history['best_epoch']}); last learning rate {lr:g}"
            + (", the schedule's floor." if done else " — the schedule had not reached its 1e-5 floor, so the "
               "model is not fully converged.") + _cost_text(history))


def _duration(seconds: float) -> str:
    """Seconds as a reader wants them: s, min or h."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _cost_text(history: dict) -> str:
    """What training cost, from the run's per-epoch clock (absent for runs from before it was kept)."""
    if not history.get("wall_s"):
        return ""
    where = "GPU" if history["device"] == "cuda" else f"CPU, {history['threads']} thread(s)"
    return (f" Training cost: {_duration(history['wall_s'])} wall ({history['seconds_per_epoch']:.1f} s per "
            f"epoch, median) on {where}.")


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"
