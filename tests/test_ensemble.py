"""Ensembles of Allegro members: a real (tiny) training of two members, their mean and spread, and the
spread's calibration in the evaluation."""
from __future__ import annotations

import json

import numpy as np
from omegaconf import OmegaConf

from core.model.ensemble import EnsembleModel
from core.model.inference import load_model
from tests.conftest import tiny_frames


def test_two_members_train_from_different_seeds_and_the_ensemble_reports_mean_and_spread(tiny_prescreen_ensemble):
    model_dir, tmp_path = tiny_prescreen_ensemble
    model = load_model(model_dir, explicit=True)
    assert isinstance(model, EnsembleModel) and len(model.members) == 2
    configs = [OmegaConf.load(str(m.directory / "config.yaml")) for m in model.members]
    seeds = [int(c.training_module.model.seed) for c in configs]
    assert seeds[0] != seeds[1]  # own weight initialisation ...
    assert int(configs[0].reescreen.seed) == int(configs[1].reescreen.seed)  # ... the same data split
    splits = [json.loads((tmp_path / "run" / f"member-{k}" / "split.json").read_text()) for k in range(2)]
    assert splits[0]["counts"] == splits[1]["counts"] and splits[0]["geometry"] == "grafted"
    frames = tiny_frames()[:5]
    mean, spread = model.predict_spread(frames)
    each = np.vstack([m.predict(frames) for m in model.members])
    assert np.allclose(mean, each.mean(axis=0)) and np.allclose(spread, each.std(axis=0, ddof=1))
    assert (spread > 0).all()  # two differently initialised networks do not agree to the last digit
    # the pre-screen size predicts on CPU in its own fastest batch (benchmarks/bench_batch_size.py), same numbers
    assert [m.default_batch_size() for m in model.members] == [8, 8]
    assert np.allclose(model.predict(frames, batch_size=1), mean, atol=1e-3)
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["test"]["uncertainty"]["n"] == metrics["test"]["n"]
    assert 0.0 <= metrics["test"]["uncertainty"]["within_2sigma"] <= 1.0
    assert json.loads((model_dir / "model.json").read_text())["members"] == 2
    assert metrics["group-holdout"]["n"] == 4 and metrics["hdev-only"]["n"] == 3 and metrics["hdev"]["n"] == 7
    card = (model_dir / "MODEL_CARD.md").read_text()
    assert "Ensemble of 2 members" in card and "held-out groups (never trained on, every scaffold)" in card
    assert "grafted, unrelaxed complexes" in card
    per_type = next(line for line in card.splitlines() if line.startswith("Per coordination type (MAE): "))
    assert "held-out groups (never trained on, every scaffold): " in per_type  # where the targets are set
    # the held-out ligand has Y, Yb, Tm and Lu: six metal pairs measured, none with enough ligands to judge an order
    selectivity = metrics["group-holdout"]["selectivity"]
    assert len(selectivity["per_pair"]) == 6 and selectivity["n_pairs"] == 0 and "mae_median" not in selectivity
    assert ("- held-out groups (never trained on, every scaffold): ranking by selectivity between two metals "
            "(ΔE_bind of one ligand, what `rank --pair` ranks): not judged, no metal pair has more than 10 ligands "
            "of one type.") in card
    assert "beats giving every ligand the same selectivity" not in card and "structures other than grafted" in card
    # trained side by side (--parallel 2), each member in its own process with its own log and clock
    for k in range(2):
        assert "TRAIN RUN END" in (tmp_path / "run" / f"member-{k}" / "train.log").read_text()
        assert (tmp_path / "run" / f"member-{k}" / "train" / "epoch_times.jsonl").read_text().count("\n") == 1
    assert "What each member cost to train: member 0: 1 epochs at" in card
    assert "of compute" in card and "wall as recorded" in card  # compute apart from pauses in the wall time
