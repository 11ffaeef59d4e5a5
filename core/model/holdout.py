"""Hold-out splits that measure what a new ligand meets, and the ranking metrics a screen depends on.

A random split over complexes puts every test ligand in training with other metals: it measures
interpolation.  A chemist's new ligand is a new *group* on a known scaffold, or a new *scaffold*; the
splits here hold out every complex of whole groups (on every scaffold and ring position, so a group
cannot leak into training through another scaffold); a whole scaffold is left out by a config's
``held_out_scaffolds`` (:func:`core.model.training.holdout_rules`).  Held-out groups are drawn
with a fixed seed before any training and recorded with the model, never chosen by a score.

Energies are kcal/mol.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from ase import Atoms
from scipy.stats import spearmanr

from core.chemistry.constants import REE_METALS, pair_name
from core.chemistry.groups import canonical_group, library_groups
from core.chemistry.ligands import SUBSTITUENTS
from core.model.evaluation import ligand_and_type, metal_of

#: An error this large (kcal/mol) changes a ligand's rank among typical substituent tables.
LARGE_ERROR = 5.0
#: A prediction is flagged when its 2σ band is at least this wide (kcal/mol): the model itself cannot
#: exclude a large error.
FLAG_TWO_SIGMA = LARGE_ERROR


class HoldoutError(ValueError):
    """A hold-out that cannot be made (unknown group or scaffold, too few groups)."""


def _groups_by_name() -> dict[str, str]:
    names = {g.name: g.smiles for g in library_groups()}
    names.update({n: canonical_group("*" + s) for n, s in SUBSTITUENTS.items()})
    return names


def group_of(atoms: Atoms) -> str:
    """The canonical SMILES (``*`` = ring carbon) of a frame's substituent group, whatever its ring position.

    Frames written by the group-grid builder carry it as ``group``; older frames carry only the library
    name in ``substituent``, which is looked up in the group library.
    """
    if atoms.info.get("group"):
        return str(atoms.info["group"])
    name = str(atoms.info.get("substituent", ""))
    found = _groups_by_name().get(name)
    if found is None:
        raise HoldoutError(f"Frame without a 'group' and with substituent {name!r}, which is not in the group "
                           "library: the group hold-out cannot place it.")
    return found


def choose_held_out_groups(frames: Sequence[Atoms], n_groups: int, seed: int,
                           scaffolds: Sequence[str] | None = None) -> list[str]:
    """``n_groups`` groups drawn at random (``seed``) among those present on every one of ``scaffolds``
    (default: every scaffold in ``frames``), so each held-out group is tested on each scaffold."""
    on: dict[str, set[str]] = defaultdict(set)
    for a in frames:
        on[group_of(a)].add(str(a.info.get("scaffold")))
    wanted = set(scaffolds) if scaffolds else {s for present in on.values() for s in present}
    eligible = sorted(g for g, present in on.items() if wanted <= present and g != "*[H]")
    if len(eligible) < n_groups:
        raise HoldoutError(f"Only {len(eligible)} groups are present on every scaffold "
                           f"({', '.join(sorted(wanted))}); {n_groups} were asked for.")
    rng = np.random.default_rng(seed)
    return sorted(eligible[i] for i in rng.choice(len(eligible), size=n_groups, replace=False))


def group_holdout(frames: Sequence[Atoms], held_out: Sequence[str]) -> tuple[list[Atoms], list[Atoms]]:
    """(in-sample frames, held-out frames): every frame whose group is in ``held_out`` goes out, on every
    scaffold and ring position."""
    out = set(held_out)
    kept, test = [], []
    for a in frames:
        (test if group_of(a) in out else kept).append(a)
    return kept, test


def ranking_metrics(frames: Sequence[Atoms], reference: Sequence[float], predicted: Sequence[float],
                    top_k: int = 10, recall_from: int = 50) -> dict:
    """How well the predictions rank ligands for each metal and coordination type.

    Per (metal, type) with more than ``top_k`` ligands: the Spearman correlation of the ligand ranking; with
    at least ``recall_from`` ligands also the top-k recall (how many of the reference's best ``top_k`` — most
    negative energy — are among the prediction's best ``top_k``, as a fraction: among a dozen ligands any
    ranking finds most of the best ten, so smaller cells say nothing).  Returns the per-(metal, type) values
    and their medians.
    """
    ref, pred = np.asarray(reference, float), np.asarray(predicted, float)
    cells: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, a in enumerate(frames):
        cells[(metal_of(a), str(a.info.get("type")))].append(i)
    per_cell = {}
    recall = f"top{top_k}_recall"
    for (metal, ctype), idx in sorted(cells.items()):
        if len(idx) > top_k:
            per_cell[f"{metal} {ctype}"] = _rank_agreement(ref[idx], pred[idx], top_k, recall_from)
    if not per_cell:
        return {"n_cells": 0, "note": f"no metal and type with more than {top_k} ligands"}
    out = {"n_cells": len(per_cell),
           "spearman_median": float(np.median([c["spearman"] for c in per_cell.values()]))}
    recalls = [c[recall] for c in per_cell.values() if recall in c]
    if recalls:
        out.update({f"{recall}_median": float(np.median(recalls)), f"{recall}_cells": len(recalls)})
    else:
        out[f"{recall}_note"] = f"no metal and type with {recall_from} or more ligands"
    return out | {"per_metal_type": per_cell}


def _rank_agreement(ref: np.ndarray, pred: np.ndarray, top_k: int, recall_from: int) -> dict:
    """Spearman of one ranking (most negative first) and, from ``recall_from`` items on, its top-k recall."""
    out = {"n_ligands": len(ref), "spearman": float(spearmanr(ref, pred).statistic)}
    if len(ref) >= recall_from:
        best_ref, best_pred = set(np.argsort(ref)[:top_k]), set(np.argsort(pred)[:top_k])
        out[f"top{top_k}_recall"] = len(best_ref & best_pred) / top_k
    return out


def selectivity_metrics(frames: Sequence[Atoms], reference: Sequence[float], predicted: Sequence[float],
                        top_k: int = 10, recall_from: int = 50) -> dict:
    """How well the predictions rank ligands by their preference between two metals: what ``reescreen rank
    --pair`` ranks.

    For each pair of metals (``Nd-Dy``: first and second in REE order) and coordination type, over the ligands
    with both complexes: the error of ΔE_bind = E_bind(first) − E_bind(second) (kcal/mol), which is also the
    error of ΔE_exchange, since the aqua ions' difference is one number per pair; the Spearman correlation of
    the ligand ranking by it (cells of more than ``top_k`` ligands); and, from ``recall_from`` ligands on, the
    top-k recall at both ends (``first``: the ligands that most prefer the first metal, ``second``: the other
    end).  An error shared by both metals of a ligand cancels here, so this can be good where E_bind is not.
    ``mae_constant``: the MAE of giving every ligand the same selectivity (the cell's own mean), from the
    labels alone: ligands differ by little in their preference, and an MAE means something only against it.
    Both are judged only in cells of more than ``top_k`` ligands (a mean fitted to a handful of ligands
    flatters the constant): per pair, ``mae`` and ``mae_constant`` are over those cells, and pairs without one
    are listed (``per_type``) but left out of the medians over pairs."""
    ref, pred = np.asarray(reference, float), np.asarray(predicted, float)
    series: dict[tuple, dict[str, int]] = defaultdict(dict)
    for i, a in enumerate(frames):
        if None not in ligand_and_type(a):
            series[ligand_and_type(a)][metal_of(a)] = i
    metals = [m for m in REE_METALS if any(m in s for s in series.values())]
    pairs = {}
    for k, first in enumerate(metals):
        for second in metals[k + 1:]:
            by_type: dict[str, list[tuple[int, int]]] = defaultdict(list)
            for (_, _, ctype), members in series.items():
                if first in members and second in members:
                    by_type[str(ctype)].append((members[first], members[second]))
            if by_type:
                pairs[pair_name(first, second)] = _pair_selectivity(by_type, ref, pred, top_k, recall_from)
    if not pairs:
        return {"n_pairs": 0, "note": "no ligand with two metals"}
    judged = {name: v for name, v in pairs.items() if "mae_constant" in v}
    out: dict = {"n_pairs": len(judged)}
    if judged:
        out |= {"mae_median": float(np.median([v["mae"] for v in judged.values()])),
                "mae_constant_median": float(np.median([v["mae_constant"] for v in judged.values()])),
                "spearman_median": float(np.median([c["spearman"] for v in judged.values()
                                                    for c in v["per_type"].values() if "spearman" in c]))}
    else:
        out["note"] = f"no metal pair has more than {top_k} ligands of one type"
    return out | {"per_pair": pairs}


def _pair_selectivity(by_type: dict[str, list[tuple[int, int]]], ref: np.ndarray, pred: np.ndarray, top_k: int,
                      recall_from: int) -> dict:
    """One metal pair of :func:`selectivity_metrics`: per type, then over the types judged (> ``top_k``)."""
    recall = f"top{top_k}_recall"
    per_type, errors, spreads = {}, [], []
    for ctype, idx in sorted(by_type.items()):
        i, j = np.array(idx).T
        r, p = ref[i] - ref[j], pred[i] - pred[j]
        cell = {"n_ligands": len(r), "mae": float(np.mean(np.abs(p - r)))}
        if len(r) > top_k:
            errors.append(np.abs(p - r))
            spreads.append(np.abs(r - r.mean()))
            agree = _rank_agreement(r, p, top_k, recall_from)
            cell |= {"mae_constant": float(np.mean(spreads[-1])), "spearman": agree["spearman"]}
            if recall in agree:
                cell[f"{recall}_first"] = agree[recall]
                cell[f"{recall}_second"] = _rank_agreement(-r, -p, top_k, recall_from)[recall]
        per_type[ctype] = cell
    if not errors:
        return {"n": 0, "per_type": per_type}
    return {"n": int(sum(len(e) for e in errors)), "mae": float(np.mean(np.concatenate(errors))),
            "mae_constant": float(np.mean(np.concatenate(spreads))), "per_type": per_type}


def uncertainty_calibration(reference: Sequence[float], predicted: Sequence[float], sigma: Sequence[float],
                            large: float = LARGE_ERROR, flag_two_sigma: float = FLAG_TWO_SIGMA) -> dict:
    """Whether the ensemble spread σ (kcal/mol) says when to distrust a prediction.

    ``within_2sigma``: share of |error| ≤ 2σ (≈ 0.95 for a calibrated Gaussian spread).
    ``large_flagged``: of the errors larger than ``large``, the share whose 2σ ≥ ``flag_two_sigma``
    (None when there is no large error).  ``flagged_share``: share of all predictions flagged, so a model
    that flags everything is seen for what it is.
    """
    ref, pred, sig = (np.asarray(x, float) for x in (reference, predicted, sigma))
    err = np.abs(pred - ref)
    flagged = 2 * sig >= flag_two_sigma
    big = err > large
    return {"n": int(len(err)), "within_2sigma": float(np.mean(err <= 2 * sig)) if len(err) else None,
            "n_large": int(big.sum()), "large_flagged": float(np.mean(flagged[big])) if big.any() else None,
            "flagged_share": float(np.mean(flagged)) if len(err) else None,
            "large_error_kcal": large, "flag_two_sigma_kcal": flag_two_sigma}
