"""Hold-out splits for new groups and new scaffolds, and the ranking and uncertainty metrics quoted with them."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from ase import Atoms

from core.chemistry.constants import REE_METALS
from core.chemistry.groups import attach_group
from core.chemistry.ligands import SUBSTITUENTS, TRAINING_SCAFFOLDS
from core.model.evaluation import regression_metrics
from core.model.holdout import (HoldoutError, choose_held_out_groups, group_holdout, group_of, ranking_metrics,
                                selectivity_metrics, uncertainty_calibration)
from core.model.training import held_out_kind, holdout_rules, split_frames
from tests.conftest import shipped_frames


def _frame(scaffold: str, group: str, metal: str = "La", ctype: str = "1L6W", position: str = "C3",
           name: str = "") -> Atoms:
    info = {"scaffold": scaffold, "substituent": name or group, "group": group, "position": position,
            "metal": metal, "type": ctype, "ligand": attach_group(scaffold, group, position)}
    return Atoms(metal, info=info)


def test_a_held_out_group_leaves_training_on_every_scaffold_and_ring_position():
    groups = ["*C", "*CC", "*OC", "*F", "*Cl", "*C#N"]
    frames = [_frame(s, g, m, t, p) for s in ("HOPO", "CAM") for g in groups for m in ("La", "Lu")
              for t in ("4L", "1L6W") for p in (("C3", "C4") if s == "HOPO" else ("C3",))]
    held = choose_held_out_groups(frames, 2, seed=3)
    kept, test = group_holdout(frames, held)
    assert len(kept) + len(test) == len(frames)
    assert {group_of(a) for a in test} == set(held)
    assert not {group_of(a) for a in kept} & set(held), "a held-out group leaked into training"
    assert {(a.info["scaffold"], a.info["position"]) for a in test} == {("HOPO", "C3"), ("HOPO", "C4"), ("CAM", "C3")}
    # the draw is fixed by the seed, before any training
    assert choose_held_out_groups(frames, 2, seed=3) == held


def test_only_groups_present_on_every_scaffold_can_be_held_out():
    frames = [_frame("HOPO", g) for g in ("*C", "*CC", "*F")] + [_frame("CAM", "*C")]
    assert choose_held_out_groups(frames, 1, seed=0) == ["*C"]
    with pytest.raises(HoldoutError, match="Only 1 groups are present on every scaffold"):
        choose_held_out_groups(frames, 2, seed=0)


def test_dataset_frames_find_their_group_by_library_name_and_a_group_hold_out_leaves_no_leak():
    frames = [a for a in shipped_frames() if a.info["split"] == "train"]
    assert {group_of(a) for a in frames if a.info["substituent"] == "methoxy"} == {"*OC"}
    in_data = {group_of(a) for a in frames}
    assert in_data <= {group_of(Atoms(info={"substituent": n})) for n in SUBSTITUENTS}
    held = choose_held_out_groups(frames, 3, seed=1, scaffolds=[s for s in TRAINING_SCAFFOLDS
                                                                 if any(a.info["scaffold"] == s for a in frames)])
    kept, test = group_holdout(frames, held)
    assert test and not {group_of(a) for a in kept} & set(held)


def test_a_scaffold_left_out_by_the_config_goes_out_whole_beside_hdev_and_the_held_out_groups():
    frames = [_frame(s, g, m) for s in ("HOPO", "CAM", "thio-HOPO") for g in ("*C", "*F", "*CC", "*OC")
              for m in ("La", "Nd", "Lu")]
    for a in frames:
        a.info["split"] = "group-holdout" if a.info["group"] == "*F" and a.info["scaffold"] != "thio-HOPO" else "train"
    hdev = [_frame("HDEV", "*C", m) for m in ("La", "Lu")]
    for a in hdev:
        a.info["split"] = "hdev"
    rules = holdout_rules({"out_of_sample": {"key": "split", "values": ["hdev", "group-holdout"]},
                           "held_out_scaffolds": ["thio-HOPO"]})
    parts = split_frames(frames + hdev, [0.8, 0.1, 0.1], 456, rules)
    in_sample = [a for k in ("train", "val", "test") for a in parts[k]]
    assert "thio-HOPO" not in {a.info["scaffold"] for a in in_sample}, "the left-out scaffold leaked into training"
    assert not [a for a in in_sample if a.info["split"] != "train"]
    kinds = Counter(held_out_kind(a, rules) for a in parts["hdev"])
    assert kinds == {"scaffold-holdout": 12, "group-holdout": 6, "hdev": 2}
    # the bundled model's rule (HDEV by scaffold) names its frames as before
    assert held_out_kind(hdev[0], holdout_rules({"out_of_sample": {"key": "scaffold", "values": ["HDEV"]}})) == "hdev"


def test_ranking_metrics_count_how_many_of_the_best_ten_the_model_finds():
    groups = [f"*{head}{'C' * k}" for head in ("", "O", "N") for k in range(1, 19)] + ["*F"]  # 55 ligands per cell
    frames = [_frame("HOPO", g, m) for m in ("La", "Nd") for g in groups]
    ref = np.array([-float(i) for _ in range(2) for i in range(len(groups))])
    perfect = ranking_metrics(frames, ref, ref + 3.0)  # an offset keeps every ranking
    assert perfect["spearman_median"] == pytest.approx(1.0) and perfect["top10_recall_median"] == 1.0
    reversed_ = ranking_metrics(frames, ref, -ref)
    assert reversed_["spearman_median"] == pytest.approx(-1.0) and reversed_["top10_recall_median"] == 0.0
    shifted = ref.copy()
    shifted[[54, 109]] = 100.0  # each cell's best ligand predicted worst: 9 of the best 10 found
    assert ranking_metrics(frames, ref, shifted)["top10_recall_median"] == pytest.approx(0.9)
    # among 15 ligands any ranking finds most of the best 10: recall is not reported for so few
    few = [f for f in frames if f.info["group"] in groups[-15:]]
    small = ranking_metrics(few, ref[[i for i, f in enumerate(frames) if f in few]], -ref[[i for i, f in enumerate(frames) if f in few]])
    assert small["n_cells"] == 2 and "top10_recall_median" not in small and "50 or more" in small["top10_recall_note"]
    assert ranking_metrics(frames[:5], ref[:5], ref[:5])["n_cells"] == 0


def test_uncertainty_calibration_separates_a_spread_that_flags_large_errors_from_one_that_does_not():
    ref = np.zeros(6)
    pred = np.array([0.5, -1.0, 0.2, 8.0, -7.0, 1.0])
    honest = uncertainty_calibration(ref, pred, [0.5, 0.8, 0.3, 4.0, 3.6, 0.6])
    assert honest["n_large"] == 2 and honest["large_flagged"] == 1.0 and honest["within_2sigma"] == 1.0
    overconfident = uncertainty_calibration(ref, pred, np.full(6, 0.4))
    assert overconfident["large_flagged"] == 0.0 and overconfident["within_2sigma"] == pytest.approx(2 / 6)
    assert uncertainty_calibration(ref, np.zeros(6), np.ones(6))["large_flagged"] is None


def test_every_rare_earth_and_type_is_a_ranking_cell():
    frames = [_frame("HOPO", f"*{'C' * k}", m, t) for m in REE_METALS for t in ("4L", "1L6W") for k in range(1, 13)]
    ref = np.arange(len(frames), dtype=float)
    assert ranking_metrics(frames, ref, ref)["n_cells"] == len(REE_METALS) * 2


def test_an_error_shared_by_both_metals_of_a_ligand_cancels_in_the_selectivity_ranking():
    groups = [f"*{head}{'C' * k}" for head in ("", "O", "N") for k in range(1, 19)] + ["*F"]  # 55 ligands
    frames = [_frame("HOPO", g, m) for m in ("Dy", "Nd") for g in groups]  # Dy first: the pair is still Nd-Dy
    i = np.arange(len(groups), dtype=float)
    ref = np.concatenate([-100 - 0.9 * i, -100 - i])  # E_bind(Nd) − E_bind(Dy) = −0.1 i: the last prefers Nd most
    offset = np.random.default_rng(0).normal(0, 10, len(groups))
    shared = ref + np.tile(offset, 2)
    assert regression_metrics(ref, shared)["mae"] > 5
    pair = selectivity_metrics(frames, ref, shared)["per_pair"]["Nd-Dy"]["per_type"]["1L6W"]
    assert pair["n_ligands"] == 55 and pair["mae"] == pytest.approx(0, abs=1e-9)
    assert pair["mae_constant"] == pytest.approx(np.mean(np.abs(0.1 * i - 0.1 * i.mean())))  # from labels alone
    assert pair["spearman"] == pytest.approx(1) and pair["top10_recall_first"] == pair["top10_recall_second"] == 1
    # a model that swaps the two metals' energies ranks every ligand's preference backwards
    swapped = selectivity_metrics(frames, ref, np.concatenate([ref[55:], ref[:55]]))["per_pair"]["Nd-Dy"]
    cell = swapped["per_type"]["1L6W"]
    assert cell["spearman"] == pytest.approx(-1) and cell["top10_recall_first"] == 0
    assert cell["mae"] == pytest.approx(np.mean(2 * 0.1 * i))
    # ten ligands or fewer: the error is kept, but no order or constant is judged from so few
    few = selectivity_metrics(frames[:10] + frames[55:65], ref[list(range(10)) + list(range(55, 65))],
                              shared[list(range(10)) + list(range(55, 65))])
    assert few["n_pairs"] == 0 and "more than 10 ligands" in few["note"]
    assert set(few["per_pair"]["Nd-Dy"]["per_type"]["1L6W"]) == {"n_ligands", "mae"}
    # a ligand with only one of the two metals is not a selectivity
    assert selectivity_metrics(frames[:54] + frames[55:], np.delete(ref, 54), np.delete(ref, 54))[
        "per_pair"]["Nd-Dy"]["n"] == 54
