"""The Allegro model: a tiny real training run (nequip-train, CPU, 2 epochs), packaging, loading, evaluation,
prediction in the results, and refusing untrusted model files."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator
from omegaconf import OmegaConf

from conftest import shipped_frames, tiny_frames, train_tiny
from core.chemistry.groups import attach_group
from core.chemistry.ligands import TRAINING_SCAFFOLDS, library_ligand, make_ligand
from core.model.card import write_model_card
from core.model.evaluation import EvaluationError, evaluate_model
from core.model.inference import (MODELS_DIR, NEW_GROUP, NEW_SCAFFOLD, TRAINING_GROUP, ModelError, domain_mae, load_model,
                                  model_domain_text, resolve_model_dir)
from core.model.training import HoldOutRule, LabelSpec, prepare_run, split_frames

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_tiny_training_run_packages_model_card_metrics_and_parity_plot(tiny_model):
    tmp, done = tiny_model
    model_dir = tmp / "run" / "model"
    for name in ("model.nequip.zip", "model.json", "config.yaml", "metrics.json", "parity.png", "MODEL_CARD.md"):
        assert (model_dir / name).is_file(), name
    cfg = OmegaConf.load(str(tmp / "run" / "config.yaml"))
    shifts = cfg.training_module.model.per_type_energy_shifts
    assert set(shifts) == set(cfg.model_type_names) and "La" in shifts and "Lu" in shifts
    assert cfg.training_module.model.do_derivatives is False
    card = (model_dir / "MODEL_CARD.md").read_text()
    assert "GFN2-xTB/ALPB(water)" in card and "Not DFT" in card
    assert "test" in done.stdout and "MAE" in done.stdout
    history = json.loads((model_dir / "model.json").read_text())["training"]
    assert history["epochs"] == 2 and 1 <= history["best_epoch"] <= 2 and history["best_val_mae"] > 0
    # what the member cost is recorded from the run's own clock, per epoch
    epochs = [json.loads(line) for line in (tmp / "run" / "train" / "epoch_times.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == [0, 1] and all(e["wall_s"] > 0 and e["device"] == "cpu" for e in epochs)
    assert history["wall_s"] == pytest.approx(sum(e["wall_s"] for e in epochs), abs=0.2)
    assert history["device"] == "cpu" and history["seconds_per_epoch"] > 0
    assert "Training cost" in card
    assert "Trained 2 epochs" in card and "not fully converged" in card


def test_evaluate_reproduces_the_metrics_written_at_training(tiny_model, tmp_path):
    tmp, _ = tiny_model
    out = subprocess.run([str(BIN / "reescreen"), "evaluate", str(tmp / "run" / "model"), str(tmp / "tiny.extxyz"),
                          "--out", str(tmp_path)], capture_output=True, text=True, cwd=tmp, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    again = json.loads((tmp_path / "metrics.json").read_text())
    first = json.loads((tmp / "run" / "model" / "metrics.json").read_text())
    for split in ("test", "hdev"):
        assert again[split]["mae"] == pytest.approx(first[split]["mae"], abs=1e-4)
        assert again[split]["n"] == first[split]["n"] > 0
    assert set(again["test"]["per_metal"]) and "per_scaffold" in again["hdev"]
    assert set(again["hdev"]["per_substituent"]) == {a.info["substituent"] for a in tiny_frames()
                                                     if a.info["scaffold"] == "HDEV"}
    assert (tmp_path / "parity.png").stat().st_size > 1000
    assert "bias=" in out.stdout


def test_evaluate_in_the_model_folder_rewrites_its_card_from_the_new_metrics(tiny_model, tmp_path):
    tmp, _ = tiny_model
    model_dir = tmp_path / "model"
    shutil.copytree(tmp / "run" / "model", model_dir)
    (model_dir / "MODEL_CARD.md").write_text("stale")
    out = subprocess.run([str(BIN / "reescreen"), "evaluate", str(model_dir), str(tmp / "tiny.extxyz")],
                         capture_output=True, text=True, cwd=tmp, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    card = (model_dir / "MODEL_CARD.md").read_text()
    mae = json.loads((model_dir / "metrics.json").read_text())["hdev"]["mae"]
    assert "Not DFT" in card and f"{mae:.2f}" in card and "Per substituent, hdev" in card


def _marked(scaffold: str, substituent: str, split: str) -> list:
    """Copies of the shipped 1L6W frames of one ligand (every metal), re-labelled with ``split``."""
    marked = []
    for atoms in shipped_frames():
        if (atoms.info["scaffold"], atoms.info["substituent"], atoms.info["type"]) == (scaffold, substituent, "1L6W"):
            copy = atoms.copy()
            copy.calc = SinglePointCalculator(copy, **atoms.calc.results)  # the label ASE read from `energy=`
            copy.info["split"] = split
            marked.append(copy)
    return marked


def test_a_model_is_scored_on_another_datasets_held_out_groups_and_refuses_one_it_trained_on(tiny_model, tmp_path):
    tmp, _ = tiny_model
    model_dir = tmp_path / "model"
    shutil.copytree(tmp / "run" / "model", model_dir)
    new_groups = tmp_path / "groups.extxyz"
    ase.io.write(str(new_groups), _marked("HOPO", "methoxy", "group-holdout") + _marked("HOPO", "ethyl", "train"),
                 format="extxyz")
    out = subprocess.run([str(BIN / "reescreen"), "evaluate", str(model_dir), str(tmp / "tiny.extxyz"),
                          "--holdout-data", str(new_groups)], capture_output=True, text=True, cwd=tmp, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    metrics = json.loads((model_dir / "metrics.json").read_text())
    held = metrics["group-holdout"]
    assert held["n"] == 16 and set(held["per_substituent"]) == {"methoxy"} and held["source"] == str(new_groups)
    assert "group-holdout" in out.stdout
    card = (model_dir / "MODEL_CARD.md").read_text()
    assert "| held-out groups (never trained on, every scaffold) | 16 |" in card and "none of their groups" in card
    assert f"--holdout-data {new_groups}`" in card  # the card's command reproduces the held-out groups' row
    # the model's "new group" error is now the measured one
    model = load_model(model_dir, explicit=True)
    assert model.expected_error("new group") == pytest.approx(held["mae"])
    # per coordination type where the evaluation measured that type; the split's overall MAE where it did not
    assert set(held["per_type"]) == {"1L6W"}
    assert model.expected_error("new group", "1L6W") == pytest.approx(held["per_type"]["1L6W"]["mae"])
    assert model.expected_error("new group", "4L") == pytest.approx(held["mae"])
    metrics["group-holdout"]["per_type"]["4L"] = {"n": 16, "mae": held["mae"] + 3.0}
    (model_dir / "metrics.json").write_text(json.dumps(metrics))
    assert model.expected_error("new group", "4L") == pytest.approx(held["mae"] + 3.0)
    leaked = tmp_path / "leaked.extxyz"
    ase.io.write(str(leaked), _marked("HOPO", "methyl", "group-holdout"), format="extxyz")
    out = subprocess.run([str(BIN / "reescreen"), "evaluate", str(model_dir), str(tmp / "tiny.extxyz"),
                          "--holdout-data", str(leaked), "--out", str(tmp_path / "x")],
                         capture_output=True, text=True, cwd=tmp, timeout=300)
    assert out.returncode == 2 and "were trained on by" in out.stderr and "*C" in out.stderr


@pytest.fixture(scope="module")
def scaffold_left_out_sibling(tmp_path_factory):
    """A real 2-epoch training of the tiny model's config with thio-HOPO left out (its methyl complexes added
    to the tiny frames), evaluated by `reescreen train`."""
    tmp = tmp_path_factory.mktemp("sibling")
    ase.io.write(str(tmp / "tiny.extxyz"), tiny_frames() + _marked("thio-HOPO", "methyl", "train"), format="extxyz")
    done = train_tiny(tmp, "allegro-binding.yaml", "--set", "reescreen.held_out_scaffolds=[thio-HOPO]")
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp / "run" / "model"


def test_a_scaffold_left_out_by_a_sibling_run_is_its_scaffold_hold_out(tiny_model, scaffold_left_out_sibling,
                                                                       tmp_path):
    sibling = json.loads((scaffold_left_out_sibling / "metrics.json").read_text())
    assert sibling["scaffold-holdout"]["n"] == 16 and set(sibling["scaffold-holdout"]["per_scaffold"]) == {"thio-HOPO"}
    assert sibling["hdev-only"]["n"] == 3 and "thio-HOPO" not in sibling["training_scaffolds"]
    tmp, _ = tiny_model
    model_dir = tmp_path / "model"
    shutil.copytree(tmp / "run" / "model", model_dir)
    metrics = evaluate_model(load_model(model_dir, explicit=True), tmp / "tiny.extxyz",
                             scaffold_holdout=scaffold_left_out_sibling)
    assert metrics["scaffold-holdout"]["mae"] == pytest.approx(sibling["scaffold-holdout"]["mae"])
    assert metrics["scaffold-holdout"]["measured_by"] == {"model": "model", "path": str(scaffold_left_out_sibling),
                                                          "held_out_scaffolds": ["thio-HOPO"]}
    card = (write_model_card(model_dir, metrics)).read_text()
    assert "| scaffold left out: thio-HOPO (sibling run) | 16 |" in card and "leave-one-scaffold-out" in card
    assert f"measured by `{scaffold_left_out_sibling}`" in card
    # the card's command reproduces the sibling's row too
    assert f"--scaffold-holdout {scaffold_left_out_sibling}`" in card
    # a model that left no scaffold out cannot stand in for one
    with pytest.raises(EvaluationError, match="no evaluated 'scaffold-holdout' split"):
        evaluate_model(load_model(model_dir, explicit=True), tmp / "tiny.extxyz", tmp_path / "x",
                       scaffold_holdout=tmp / "run" / "model")


def test_prediction_is_invariant_to_rotation_and_translation(tiny_model):
    tmp, _ = tiny_model
    model = load_model(tmp / "run" / "model", explicit=True)
    atoms = tiny_frames()[0]
    moved = atoms.copy()
    moved.rotate(73, "x", center="COM")
    moved.rotate(-41, (1, 1, 0))
    moved.translate([3.0, -7.5, 12.0])
    a, b = model.predict([atoms, moved])
    assert abs(a - b) < 1e-3  # kcal/mol; float32 network


def test_batched_and_single_predictions_agree(tiny_model):
    tmp, _ = tiny_model
    model = load_model(tmp / "run" / "model", explicit=True)
    frames = tiny_frames()
    assert np.allclose(model.predict(frames, batch_size=1), model.predict(frames, batch_size=8), atol=1e-3)
    assert model.default_batch_size() == 1  # the bundled size's fastest on CPU (benchmarks/bench_batch_size.py)


def test_model_outside_models_folder_is_refused_unless_named_explicitly(tiny_model, tmp_path):
    tmp, _ = tiny_model
    copy = tmp_path / "uploaded-model"
    shutil.copytree(tmp / "run" / "model", copy)
    with pytest.raises(ModelError, match="Refusing to load"):
        load_model(copy)
    with pytest.raises(ModelError, match="Refusing to load"):
        resolve_model_dir(MODELS_DIR / ".." / ".." / copy.relative_to("/"))
    assert load_model(copy, explicit=True).strategy == "binding"


def test_model_refuses_elements_it_never_saw(tiny_model):
    tmp, _ = tiny_model
    model = load_model(tmp / "run" / "model", explicit=True)
    atoms = tiny_frames()[0].copy()
    symbols = atoms.get_chemical_symbols()
    symbols[symbols.index("C")] = "Br"
    atoms.set_chemical_symbols(symbols)
    with pytest.raises(ModelError, match="Br"):
        model.predict([atoms])


def test_screening_results_carry_model_predictions_once(tiny_model, small_store_copy):
    from core.model.predict import add_model_predictions
    from core.storage.results import MODEL_COLUMN, frames_for_rows, results_frame
    from core.storage.store import Store

    tmp, _ = tiny_model
    model = load_model(tmp / "run" / "model", explicit=True)
    store = Store(small_store_copy)
    assert add_model_predictions(store, model) == 2
    df = results_frame(store)
    ok = df[df["status"] == "ok"]
    assert ok[MODEL_COLUMN].notna().all() and ok["model"].str.startswith("model@").all()
    frames = frames_for_rows(store, ok["row_id"])
    assert np.allclose(ok[MODEL_COLUMN].to_numpy(float), model.predict(frames), atol=1e-3)
    assert add_model_predictions(store, model) == 0  # nothing predicted twice
    # the tiny model saw HOPO-methyl (HDEV is held out): the small store's HOPO-methyl is a training group
    assert model.training_scaffolds() == ["HOPO"] and (ok["model domain"] == TRAINING_GROUP).all()


def test_a_new_group_or_scaffold_is_flagged_and_quoted_with_the_error_measured_for_it_not_the_test_splits(tiny_model):
    tmp, _ = tiny_model
    model = load_model(tmp / "run" / "model", explicit=True)
    assert model.training_groups() == ["*C"]  # the tiny model saw HOPO-methyl only
    assert model.domain(library_ligand("HOPO", "methyl").smiles) == TRAINING_GROUP
    assert model.domain(library_ligand("HOPO", "phenyl").smiles) == NEW_GROUP
    assert model.domain(make_ligand(attach_group("HOPO", "*C", "C4")).smiles) == TRAINING_GROUP  # seen, at C3
    assert model.domain(library_ligand("HDEV", "methyl").smiles) == NEW_SCAFFOLD
    assert model.domain(library_ligand("CAM", "methyl").smiles) == NEW_SCAFFOLD
    assert model.domain("CC(=O)[O-]") == NEW_SCAFFOLD  # no library scaffold at all
    metrics = model.metrics()
    # no group was held out from the tiny model: a new group's error is not measured, and not borrowed
    assert domain_mae(model.directory) == {TRAINING_GROUP: metrics["test"]["mae"], NEW_SCAFFOLD: metrics["hdev"]["mae"]}
    assert np.isnan(model.expected_error(NEW_GROUP))
    text = model_domain_text(model.directory)
    assert f"{TRAINING_GROUP} {metrics['test']['mae']:.1f} kcal/mol (random test split" in text
    assert f"{NEW_GROUP} not measured" in text and f"{NEW_SCAFFOLD} {metrics['hdev']['mae']:.1f} kcal/mol" in text


def test_strategy_1_learns_absolute_energies_and_scores_binding_energies(tmp_path):
    ase.io.write(str(tmp_path / "tiny.extxyz"), tiny_frames(), format="extxyz")
    done = train_tiny(tmp_path, "allegro-absolute.yaml")
    assert done.returncode == 0, done.stderr[-3000:]
    model = load_model(tmp_path / "run" / "model", explicit=True)
    assert model.strategy == "absolute"
    labels = ase.io.read(str(tmp_path / "run" / "data" / "train.xyz"), index=":")
    full = ase.io.read(str(tmp_path / "run" / "data" / "train.frames.extxyz"), index=":")
    assert [a.get_potential_energy() for a in labels] == pytest.approx([a.info["absolute_energy"] for a in full])
    metrics = json.loads((tmp_path / "run" / "model" / "metrics.json").read_text())
    assert metrics["strategy"] == "absolute" and metrics["test"]["n"] > 0


def test_delta_ml_label_is_high_minus_low_level(tmp_path):
    frames = tiny_frames()
    for a in frames:  # a second level on each frame, as a Δ-ML dataset carries it
        a.info["energy_low"] = a.get_potential_energy()
        a.info["energy_high"] = a.get_potential_energy() + 0.01 * len(a)
    ase.io.write(str(tmp_path / "two-level.extxyz"), frames, format="extxyz")
    config = prepare_run(ROOT / "configs" / "allegro-delta-binding.yaml", tmp_path / "two-level.extxyz",
                         tmp_path / "run")
    labels = ase.io.read(str(tmp_path / "run" / "data" / "train.xyz"), index=":")
    full = ase.io.read(str(tmp_path / "run" / "data" / "train.frames.extxyz"), index=":")
    assert [a.get_potential_energy() for a in labels] == pytest.approx([0.01 * len(a) for a in full])
    assert OmegaConf.load(str(config)).reescreen.strategy == "delta"


def test_metrics_are_the_usual_definitions_with_the_signed_bias():
    from core.model.evaluation import regression_metrics

    m = regression_metrics([1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 3.0, 1.0])  # errors +1, 0, 0, -3
    assert m["mae"] == 1.0 and m["max_error"] == 3.0 and m["mean_error"] == -0.5
    assert m["rmse"] == pytest.approx(np.sqrt(10 / 4)) and m["r2"] == pytest.approx(1 - 10 / 5)


def test_hdev_is_compared_with_its_hopo_isomer_for_the_same_substituent_metal_and_type():
    from core.model.evaluation import analogue_scaffold_reference, regression_metrics

    frames = shipped_frames()
    hdev = [a for a in frames if a.info["scaffold"] == "HDEV"][:40]
    hopo = [a for a in frames if a.info["scaffold"] == "HOPO"]
    ref = analogue_scaffold_reference(hopo, hdev, "energy")
    assert set(ref) == {"HOPO"}
    by_key = {(a.info["substituent"], a.info["metal"], a.info["type"]): a.get_potential_energy() for a in hopo}
    pairs = [(a.get_potential_energy(), by_key[k]) for a in hdev
             if (k := (a.info["substituent"], a.info["metal"], a.info["type"])) in by_key]
    assert pairs and ref["HOPO"]["n"] == len(pairs)
    assert ref["HOPO"]["mae"] == pytest.approx(regression_metrics(*zip(*pairs))["mae"])
    assert ref["HOPO"]["mae"] > 0  # an isomer is not its own label


def test_an_offset_shared_by_all_metals_of_a_ligand_cancels_in_the_metal_to_metal_errors():
    from core.model.evaluation import metal_series_metrics

    frames = [a for a in tiny_frames() if a.info["scaffold"] == "HOPO"]  # HOPO-methyl 1L6W, one per metal
    metals = [a.info["metal"] for a in frames]
    ref = np.array([a.get_potential_energy() for a in frames])
    m = metal_series_metrics(frames, ref, ref - 12.0)
    assert m["neighbours"]["n"] == len([x for x in metals if x != "Y"]) - 1 and m["neighbours"]["mae"] == 0.0
    assert m["within_ligand"]["n"] == len(frames) and m["within_ligand"]["mae"] == pytest.approx(0.0, abs=1e-9)
    pred = ref - 12.0
    pred[metals.index("Gd")] += 3.0  # one metal wrong by 3: both Gd differences are off by 3
    m = metal_series_metrics(frames, ref, pred)
    assert m["neighbours"]["max_error"] == pytest.approx(3.0)
    assert m["neighbours"]["mae"] == pytest.approx(2 * 3.0 / m["neighbours"]["n"])


def test_split_is_80_10_10_fixed_by_the_seed_with_hdev_held_out():
    frames = shipped_frames()
    rules = [HoldOutRule("scaffold", ("HDEV",))]
    a = split_frames(frames, [0.8, 0.1, 0.1], 456, rules)
    b = split_frames(frames, [0.8, 0.1, 0.1], 456, rules)
    n = sum(len(a[k]) for k in ("train", "val", "test"))
    assert abs(len(a["train"]) / n - 0.8) < 0.01 and abs(len(a["test"]) / n - 0.1) < 0.01
    assert all(x.info["scaffold"] == "HDEV" for x in a["hdev"]) and a["hdev"]
    assert not any(x.info["scaffold"] == "HDEV" for k in ("train", "val", "test") for x in a[k])
    assert [x.positions.sum() for x in a["test"]] == [x.positions.sum() for x in b["test"]]


def test_label_missing_from_a_frame_is_explained():
    from core.model.training import TrainingError

    atoms = tiny_frames()[0]
    with pytest.raises(TrainingError, match="energy_high"):
        LabelSpec("delta").label(atoms)


def test_stopped_training_resumes_from_its_last_checkpoint(tiny_model, tmp_path):
    import csv

    import torch

    from core.model.training import resume_checkpoint

    tmp, _ = tiny_model
    shutil.copytree(tmp, tmp_path / "copy")
    done = subprocess.run([str(BIN / "reescreen"), "train", str(ROOT / "configs" / "allegro-binding.yaml"), "--data",
                           str(tmp / "tiny.extxyz"), "--out", str(tmp_path / "copy" / "run"), "--set", "max_epochs=3"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Resuming the run" in done.stderr
    assert "Continuing training with checkpoint" in (tmp_path / "copy" / "run" / "train" / "train.log").read_text()
    logs = list((tmp_path / "copy" / "run" / "train" / "log").rglob("metrics.csv"))
    epochs = {int(r["epoch"]) for f in logs for r in csv.DictReader(open(f)) if r.get("epoch")}
    assert epochs == {0, 1, 2}  # epochs 0–1 from the first attempt, only epoch 2 added
    # the latest epoch is kept whether or not it improved; Lightning's last.ckpt follows only improvements
    train_dir = tmp_path / "copy" / "run" / "train"
    assert torch.load(train_dir / "latest.ckpt", weights_only=False)["epoch"] == max(epochs)
    shutil.copy(tmp / "run" / "train" / "latest.ckpt", train_dir / "last.ckpt")  # a last.ckpt of epoch 1
    assert resume_checkpoint(train_dir) == train_dir / "latest.ckpt"
    (train_dir / "latest.ckpt").unlink()  # a run from before the every-epoch checkpoint resumes from last.ckpt
    assert resume_checkpoint(train_dir) == train_dir / "last.ckpt"


def test_a_run_carried_without_its_split_files_resumes_on_the_same_split(tiny_model, tmp_path):
    """A training longer than a session is carried by committing only config, split record and train/."""
    from core.model.epoch_timer import epoch_times

    tmp, _ = tiny_model
    carried = tmp_path / "carried"
    carried.mkdir()
    shutil.copy(tmp / "run" / "config.yaml", carried)
    shutil.copy(tmp / "run" / "split.json", carried)
    shutil.copytree(tmp / "run" / "train", carried / "train")
    assert not (carried / "data").exists()
    train = [str(BIN / "reescreen"), "train", str(ROOT / "configs" / "allegro-binding.yaml"), "--out", str(carried)]
    done = subprocess.run(train + ["--data", str(tmp / "tiny.extxyz"), "--set", "max_epochs=3"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Split files remade" in done.stderr
    for name in ("train", "val", "test", "hdev"):  # the very split the checkpoint was trained on
        assert (carried / "data" / f"{name}.xyz").read_text() == (tmp / "run" / "data" / f"{name}.xyz").read_text()
    assert OmegaConf.load(str(carried / "config.yaml")).data_dir == str((carried / "data").resolve())
    assert [e["epoch"] for e in epoch_times(carried / "train" / "epoch_times.jsonl")] == [0, 1, 2]
    # other data would be another split: refused with the reason, nothing trained
    shutil.rmtree(carried / "data")
    ase.io.write(str(tmp_path / "fewer.extxyz"), tiny_frames()[:-3], format="extxyz")
    refused = subprocess.run(train + ["--data", str(tmp_path / "fewer.extxyz"), "--set", "max_epochs=4"],
                             capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert refused.returncode != 0
    assert "the data changed" in refused.stdout + refused.stderr
    assert [e["epoch"] for e in epoch_times(carried / "train" / "epoch_times.jsonl")] == [0, 1, 2]


def test_predictions_on_the_dask_workers_match_the_local_ones(tiny_model, client):
    from core.model.inference import predict_on_cluster

    tmp, _ = tiny_model
    model = load_model(tmp / "run" / "model", explicit=True)
    frames = tiny_frames()
    assert np.allclose(predict_on_cluster(client, model, frames, chunk=5), model.predict(frames), atol=1e-3)


def test_bundled_model_loads_and_reproduces_its_card_on_the_shipped_data(tmp_path):
    from core.model.evaluation import evaluate_model
    from core.model.inference import bundled_model_dir
    from core.model.predict import default_model

    model = default_model(force_cpu=True)
    assert model is not None and model.directory == bundled_model_dir()
    assert model.strategy == "binding" and model.level_of_theory == "GFN2-xTB/ALPB(water)"
    card = json.loads((model.directory / "metrics.json").read_text())
    trained_on = Path(model.meta["split"]["data"])  # the dataset folder the model was split and trained on
    again = evaluate_model(model, trained_on if Path.cwd() == ROOT else ROOT / trained_on, tmp_path)
    for split in ("test", "hdev"):
        assert again[split]["n"] == card[split]["n"] > 0
        assert again[split]["mae"] == pytest.approx(card[split]["mae"], abs=0.01)
        assert again[split]["r2"] == pytest.approx(card[split]["r2"], abs=1e-4)
        assert again[split]["metal_series"]["neighbours"]["mae"] == pytest.approx(
            card[split]["metal_series"]["neighbours"]["mae"], abs=0.01)
    assert again["training_scaffolds"] == card["training_scaffolds"] == sorted(TRAINING_SCAFFOLDS)
    text = (model.directory / "MODEL_CARD.md").read_text()
    assert "Not DFT" in text and f"{card['test']['mae']:.2f}" in text
    assert "mostly an offset per ligand" in text  # measured on HDEV: the card says what that means for use
    assert json.loads((model.directory / "model.json").read_text())["dataset_sha256"] == \
        json.loads((ROOT / trained_on / "provenance.json").read_text())["sha256"]


def test_matmul_contraction_gives_the_unmodified_networks_energies():
    import torch
    from nequip.data import AtomicDataDict
    from nequip.model.saved_models.load_utils import load_saved_model

    from core.model.contraction import contract_with_matmul
    from core.model.inference import PACKAGE_FILE, bundled_model_dir

    model = load_model(bundled_model_dir(), force_cpu=True)
    frames = tiny_frames()[:6]
    fast = model.predict(frames, batch_size=3)
    plain = load_saved_model(str(model.directory / PACKAGE_FILE)).eval()
    with torch.inference_mode():
        batch = AtomicDataDict.batched_from_list([model._to_data(a) for a in frames])
        reference = plain(batch)[AtomicDataDict.TOTAL_ENERGY_KEY].numpy().reshape(-1)
    assert np.abs(fast - reference).max() < 1e-3  # kcal/mol
    assert contract_with_matmul(plain) == 2  # both Allegro layers of the bundled model are replaced


def test_matmul_contraction_trains_with_the_unmodified_networks_gradients():
    import torch
    from nequip.data import AtomicDataDict
    from nequip.model.saved_models.load_utils import load_saved_model

    from core.model.contraction import contract_with_matmul
    from core.model.inference import PACKAGE_FILE, bundled_model_dir

    path = str(bundled_model_dir() / PACKAGE_FILE)
    model = load_model(bundled_model_dir(), force_cpu=True)
    batch = AtomicDataDict.batched_from_list([model._to_data(a) for a in tiny_frames()[:3]])
    grads = []
    for fast in (False, True):
        net = load_saved_model(path).train()
        if fast:
            assert contract_with_matmul(net) == 2
        params = [p for p in net.parameters() if p.is_floating_point()]
        for p in params:
            p.requires_grad_(True)
        net(dict(batch))[AtomicDataDict.TOTAL_ENERGY_KEY].sum().backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in params if p.grad is not None]))
    assert grads[0].shape == grads[1].shape and grads[0].abs().max() > 0
    assert torch.allclose(grads[0], grads[1], rtol=1e-3, atol=1e-4 * grads[0].abs().max().item())


def test_training_uses_the_matmul_contraction_and_keeps_allegros_own_path_otherwise():
    from allegro.nn._strided._contract import Contracter

    from core.model.contraction import use_matmul_contraction_in_allegro

    original = Contracter._contract_conv
    try:
        use_matmul_contraction_in_allegro()
        use_matmul_contraction_in_allegro()  # idempotent
        assert Contracter._contract_conv is not original
        assert Contracter._contract_conv.__name__ == "_dispatch_contract_conv"
    finally:
        Contracter._contract_conv = original


def test_a_re_evaluated_model_is_read_with_its_new_metrics(tmp_path):
    """metrics.json is read once per version of the file (rankings ask per group), never served stale."""
    import os

    from core.model.inference import read_metrics

    path = tmp_path / "metrics.json"
    assert read_metrics(tmp_path) is None
    path.write_text(json.dumps({"test": {"mae": 3.0}}))
    assert read_metrics(tmp_path)["test"]["mae"] == 3.0
    stamp = path.stat().st_mtime_ns
    path.write_text(json.dumps({"test": {"mae": 2.5}}))  # same size: the new time tells the versions apart
    os.utime(path, ns=(stamp + 1_000_000, stamp + 1_000_000))
    assert read_metrics(tmp_path)["test"]["mae"] == 2.5
    path.unlink()
    assert read_metrics(tmp_path) is None
