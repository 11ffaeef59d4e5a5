"""Streamlit AppTest of the pages' logic: inputs, errors, state."""
import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from core.storage.results import frames_for_rows, results_frame

ROOT = Path(__file__).resolve().parents[1]


def _page(name: str) -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=60)


def test_design_library_ligand_shows_charge_formula_and_donors():
    at = _page("design").run()
    assert not at.exception
    at.selectbox(key="design_scaffold").set_value("CAM").run()
    at.selectbox(key="design_substituent").set_value("fluoro").run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Charge"] == "-2" and metrics["Formula"] == "C8H6FNO3²⁻"
    assert at.session_state["ligand"].name == "CAM-fluoro"


def test_design_invalid_smiles_is_explained_and_the_input_kept():
    at = _page("design").run()
    at.radio(key="design_source").set_value("SMILES").run()
    at.text_input(key="design_smiles").input("CNC(=O)c1ccc(C)c(=O)n1[O-").run()
    assert "Invalid SMILES" in at.error[0].value
    assert at.text_input(key="design_smiles").value == "CNC(=O)c1ccc(C)c(=O)n1[O-"


@pytest.mark.parametrize("smiles,message", [("OCc1ccccc1O", "No anionic donor"),
                                            ("[O-]c1ccc([O-])cc1", "No bidentate donor pair")])
def test_design_ligand_without_donor_pair_is_explained(smiles, message):
    at = _page("design").run()
    at.radio(key="design_source").set_value("SMILES").run()
    at.text_input(key="design_smiles").input(smiles).run()
    assert message in at.error[0].value


def test_design_donor_pair_given_by_hand_is_used():
    at = _page("design").run()
    at.radio(key="design_source").set_value("SMILES").run()
    at.text_input(key="design_smiles").input("[O-]c1ccccc1[O-]").run()
    at.text_input(key="design_donors").input("0,7").run()
    assert not at.error and at.session_state["ligand"].donors == (0, 7)


@pytest.mark.parametrize("donors", ["²,7", "٣ 7", "0,7" * 5000, "1\x00,2"])
def test_design_donor_box_with_odd_digits_is_explained_not_a_traceback(donors):
    at = _page("design").run()
    at.radio(key="design_source").set_value("SMILES").run()
    at.text_input(key="design_smiles").input("[O-]c1ccccc1[O-]").run()
    at.text_input(key="design_donors").input(donors).run()
    assert not at.exception and "digits 0-9" in at.error[0].value and len(at.error[0].value) < 200


def test_results_page_lists_stored_complexes_with_level_of_theory(small_screen, monkeypatch):
    monkeypatch.setenv("REESCREEN_DB", str(small_screen[0]))
    from app.state import get_store

    get_store.clear()
    at = _page("results").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert sorted(table["metal"]) == ["La", "Lu"] and set(table["level of theory"]) == {"GFN2-xTB/ALPB(water)"}
    assert "GFN2-xTB/ALPB(water)" in at.caption[0].value


def test_results_page_without_results_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("REESCREEN_DB", str(tmp_path / "empty.db"))
    from app.state import get_store

    get_store.clear()
    at = _page("results").run()
    assert not at.exception and "No results yet" in at.info[0].value


def test_depiction_labels_both_donor_atoms():
    from core.chemistry.depiction import ligand_svg
    from core.chemistry.ligands import library_ligand

    svg = ligand_svg(library_ligand("HOPO", "methyl"))
    assert svg.startswith("<?xml") and "</svg>" in svg
    # one highlight ellipse per donor atom, in the donor colour (text is drawn as paths)
    assert svg.count("<ellipse") == 2 and "#D83333" in svg


def test_screen_page_asks_for_a_ligand_first(tmp_path, monkeypatch):
    monkeypatch.setenv("REESCREEN_DB", str(tmp_path / "s.db"))
    at = _page("screen").run()
    assert not at.exception and "Design page" in at.info[0].value


def test_screen_job_runs_in_the_background_and_shows_rows_as_they_finish(small_store_copy, monkeypatch):
    import time

    from app.state import get_job_manager, get_store
    from core.chemistry.ligands import library_ligand

    monkeypatch.setenv("REESCREEN_DB", str(small_store_copy))
    get_store.clear()
    get_job_manager.clear()
    at = _page("screen")
    at.session_state["ligand"] = library_ligand("HOPO", "methyl")
    at.run()
    at.multiselect(key="screen_metals").set_value(["La", "Ce", "Lu"])
    at.multiselect(key="screen_types").set_value(["1L6W"])
    at.button(key="screen_go").click().run()
    job = get_job_manager().jobs()[0]
    deadline = time.time() + 240
    while job.status in ("queued", "running") and time.time() < deadline:
        time.sleep(1)
    assert job.status == "done", job.error
    assert job.summary.cached == 2 and job.summary.computed == 3  # Ce: complex, ion, aqua ion
    at.run()
    assert not at.exception
    text = at.get("progress")[0].proto.text
    # one unit everywhere: complexes (the tasks behind them are an implementation detail)
    assert "done · 3 of 3 complexes" in text and "2 were stored already" in text and "task" not in text
    table = at.dataframe[0].value
    assert list(table["metal"]) == ["La", "Ce", "Lu"] and table["E_bind (kcal/mol)"].notna().all()  # series order


def test_export_top_n_per_metal_gives_a_formula_safe_csv_with_units(small_screen, monkeypatch):
    import io

    import pandas as pd

    monkeypatch.setenv("REESCREEN_DB", str(small_screen[0]))
    from app.state import get_store

    get_store.clear()
    at = _page("export").run()
    assert not at.exception
    at.number_input(key="export_n").set_value(1).run()
    assert "2 complexes selected" in at.markdown[0].value  # the one stored ligand is #1 for La and for Lu
    from core.storage.results import results_csv, results_metadata_csv

    chosen = results_frame(get_store())
    text = results_csv(chosen)
    assert len(pd.read_csv(io.StringIO(text))) == 2 and "E_bind (kcal/mol, GFN2-xTB/ALPB(water))" in text
    meta = pd.read_csv(io.StringIO(results_metadata_csv(chosen))).set_index("field")["value"]
    assert meta["level of theory"] == "GFN2-xTB/ALPB(water)" and meta["energy units"] == "kcal/mol"
    frames = frames_for_rows(get_store(), chosen["row_id"])
    assert [a.info["metal"] for a in frames] == list(chosen["metal"])


def test_structure_view_loads_3dmol_from_this_server_and_marks_metal_and_donors(small_screen):
    from app.viewer import complex_view_html, donor_atoms
    from core.storage.store import Store

    store = Store(small_screen[0])
    for frame in frames_for_rows(store, results_frame(store)["row_id"]):
        donors = donor_atoms(frame)
        # 1 bidentate ligand (N-oxide O and carbonyl O) + 6 waters; never the N of the N–O⁻ group
        assert len(donors) == 8 and {frame[i].symbol for i in donors} == {"O"}
    html = complex_view_html(frame)
    assert "/app/static/3Dmol-min.js" in html and "cdn" not in html.lower()


def test_structure_page_offers_every_complex_and_an_xyz_download(small_screen, monkeypatch):
    monkeypatch.setenv("REESCREEN_DB", str(small_screen[0]))
    from app.state import get_store

    get_store.clear()
    at = _page("structure").run()
    assert not at.exception
    assert len(at.selectbox(key="structure_row").options) == 2
    at.radio(key="structure_style").set_value("Spheres").run()
    assert not at.exception and at.metric[0].value in ("La", "Lu")


def test_library_page_counts_the_batch_and_queues_one_job_per_ligand(small_store_copy, monkeypatch):
    import time

    from app.state import get_job_manager, get_store

    monkeypatch.setenv("REESCREEN_DB", str(small_store_copy))
    get_store.clear()
    get_job_manager.clear()
    at = _page("library").run()
    assert not at.exception
    at.multiselect(key="lib_substituents").set_value(["methyl"]).run()
    at.multiselect(key="lib_metals").set_value(["La", "Lu"]).run()
    at.multiselect(key="lib_types").set_value(["1L6W"]).run()
    assert "1 ligands × 2 metals × 1 types = 2 complexes" in at.markdown[0].value
    at.button(key="lib_go").click().run()
    jobs = get_job_manager().jobs()
    assert len(jobs) == 1
    deadline = time.time() + 120
    while jobs[0].status in ("queued", "running") and time.time() < deadline:
        time.sleep(0.5)
    assert jobs[0].status == "done" and jobs[0].summary.computed == 0  # all in the store already
    at.run()
    assert "1 of 1 ligands finished" in at.get("progress")[0].proto.text


def test_design_draw_mode_renders_the_bundled_editor_without_error():
    at = _page("design").run()
    at.radio(key="design_source").set_value("Draw").run()
    assert not at.exception and not at.error
    assert at.checkbox(key="design_deprotonate").value is True


def test_model_page_says_so_when_no_model_is_shipped(monkeypatch, tmp_path):
    monkeypatch.setenv("REESCREEN_MODELS_DIR", str(tmp_path / "empty"))
    at = _page("model").run()
    assert not at.exception
    assert "No model is shipped" in at.info[0].value


def test_model_page_shows_card_metrics_device_and_predicts_stored_results(tiny_model, small_store_copy,
                                                                        monkeypatch, tmp_path):
    import shutil

    models = tmp_path / "models"
    shutil.copytree(tiny_model[0] / "run" / "model", models / "tiny")
    monkeypatch.setenv("REESCREEN_MODELS_DIR", str(models))
    monkeypatch.setenv("REESCREEN_DB", str(small_store_copy))
    from app.state import get_model, get_store

    get_store.clear()
    get_model.clear()
    at = _page("model").run()
    assert not at.exception
    assert at.selectbox(key="model_name").value == "tiny"
    assert {m.label: m.value for m in at.metric}["Device"] in ("CPU", "CUDA")
    table = at.dataframe[0].value
    assert list(table["set"]) == ["test split", "HDEV (out of sample)"] and table["MAE (kcal/mol)"].notna().all()
    assert "errors within 2σ" not in table.columns  # a single model has no spread to calibrate
    assert any("not a DFT model" in w.value for w in at.warning)
    at.checkbox(key="model_force_cpu").check().run()
    assert {m.label: m.value for m in at.metric}["Device"] == "CPU"
    at.button(key="model_predict_all").click().run()
    assert "2 complexes predicted" in at.success[0].value
    at.button(key="model_predict_all").click().run()  # nothing left to predict: said so, not "0 predicted"
    assert not at.success and "already has a prediction" in at.info[0].value
    card = [m.value for m in at.markdown if "Model card" in m.value or m.value.lstrip().startswith("#")]
    assert card and all(not re.match(r"#{1,3}\s", line) for text in card for line in text.splitlines())
    # the results page now shows the prediction, its domain and the measured error of that domain
    results = _page("results").run()
    table = results.dataframe[0].value
    assert table["E_bind model (kcal/mol)"].notna().all() and set(table["model domain"]) == {"training group"}
    mae = json.loads((models / "tiny" / "metrics.json").read_text())["test"]["mae"]
    assert any(f"training group {mae:.1f} kcal/mol" in c.value for c in results.caption)
    assert not results.warning  # HOPO-methyl: the tiny model's training group on its training scaffold


@pytest.mark.parametrize("data,shown", [
    ("name;smiles;donors\nmy cat;[O-]c1ccccc1[O-];0 7\nsquare;[O-]c1ccccc1[O-];²;7\n"
     f"huge;{'C' * 150_000};\n".encode(), "semicolon-separated"),
    (b"smiles\n[O-]c1cc\x00cc1[O-]\n", "NUL bytes"),
    (b"\xff\xfe\x00\x01", "not UTF-8"),
])
def test_library_upload_shows_names_and_problems_never_a_traceback(data, shown, tmp_path, monkeypatch):
    monkeypatch.setenv("REESCREEN_DB", str(tmp_path / "x.db"))
    at = _page("library").run()
    at.radio(key="lib_source").set_value("Upload CSV").run()
    at.get("file_uploader")[0].upload("ligands.csv", data, "text/csv")
    at.run()
    assert not at.exception
    texts = " ".join(e.value for e in [*at.caption, *at.error, *at.warning])
    assert shown in texts
    if shown == "semicolon-separated":
        ok = at.dataframe[0].value
        refused = at.table[0].value  # a table, which wraps each reason in full; a grid cut them off
        assert list(ok["name"]) == ["my cat"]
        assert list(refused.index) == [3, 4] and list(refused["name"]) == ["square", "huge"]
        assert "digits 0-9" in refused["problem"].iloc[0] and "longer than 2000" in refused["problem"].iloc[1]
        assert all(not p.endswith("…") for p in refused["problem"])


def test_app_with_a_damaged_store_says_so_and_leaves_it_untouched(tmp_path, monkeypatch):
    db = tmp_path / "damaged.db"
    db.write_bytes(b"SQLite format 3\x00" + b"\x10\x00" + b"\x00" * 10 + b"\x00\x00\x10\x00" + b"\x00" * 200)
    before = db.read_bytes()
    monkeypatch.setenv("REESCREEN_DB", str(db))
    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=60).run()
    assert not at.exception and "damaged" in at.error[0].value
    assert db.read_bytes() == before


def test_library_rank_with_the_model_says_so_when_no_pre_screen_model_is_installed(monkeypatch, tmp_path):
    monkeypatch.setenv("REESCREEN_MODELS_DIR", str(tmp_path / "empty"))
    at = _page("library").run()
    at.radio(key="lib_source").set_value("Rank with the model").run()
    assert not at.exception
    assert "No pre-screen model is installed" in at.info[0].value


def test_model_page_shows_each_evaluation_set_of_an_ensemble_with_its_ranking_and_calibration(
        tiny_prescreen_ensemble, monkeypatch, tmp_path):
    import shutil

    from app.state import get_model

    shutil.copytree(tiny_prescreen_ensemble[0], tmp_path / "models" / "prescreen")
    monkeypatch.setenv("REESCREEN_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("REESCREEN_DB", str(tmp_path / "x.db"))
    get_model.clear()
    at = _page("model").run()
    assert not at.exception
    table = at.dataframe[0].value.set_index("set")
    held = "held-out groups (never trained on, every scaffold)"
    assert list(table.index) == ["test split (random over complexes: interpolation)", held, "HDEV scaffold",
                                 "all out of sample"]
    metrics = json.loads((tmp_path / "models" / "prescreen" / "metrics.json").read_text())
    assert table.loc[held, "n"] == 4 and table.loc[held, "MAE (kcal/mol)"] == pytest.approx(metrics["group-holdout"]["mae"])
    assert table.loc[held, "errors within 2σ"] == pytest.approx(metrics["group-holdout"]["uncertainty"]["within_2sigma"])
    # one held-out ligand: no metal pair's order can be judged, so no selectivity number is shown for it
    assert "mae_median" not in metrics["group-holdout"]["selectivity"]
    assert "metal-pair selectivity MAE, median (kcal/mol)" not in table.columns
    # a pre-screen model is not offered for optimised results: its inputs are grafted starts
    assert not at.button and "pre-screen model" in at.info[0].value and "Rank with the model" in at.info[0].value


def test_library_ranks_groups_with_the_model_and_queues_the_chosen_ones_for_xtb(tiny_prescreen_ensemble,
                                                                               small_store_copy, monkeypatch,
                                                                               tmp_path):
    import shutil
    import time

    from app.state import get_job_manager, get_store
    from core.cli.rank import PRESCREEN_MODEL_NAME

    shutil.copytree(tiny_prescreen_ensemble[0], tmp_path / "models" / PRESCREEN_MODEL_NAME)
    monkeypatch.setenv("REESCREEN_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("REESCREEN_DB", str(small_store_copy))
    get_store.clear()
    get_job_manager.clear()
    at = _page("library").run()
    at.radio(key="lib_source").set_value("Rank with the model").run()
    at.multiselect(key="rank_metals").set_value(["La", "Lu"]).run()
    at.multiselect(key="rank_types").set_value(["1L6W"]).run()
    at.checkbox(key="rank_by_pair").check().run()
    at.button(key="rank_go").click().run()
    assert not at.exception and not at.error
    assert "ligands ranked by the model's selectivity ΔE_exchange(La − Lu)" in at.subheader[0].value
    assert any("groups it never saw, the model's E_bind MAE is" in c.value for c in at.caption)
    # the tiny model's held-out ligand has no La complex: the pair's error is said to be unmeasured
    assert any("La−Lu selectivity was not measured on held-out groups" in c.value for c in at.caption)
    table = at.dataframe[0].value
    assert {"E_exchange model (kcal/mol)", "uncertainty (kcal/mol)", "domain",
            "selectivity expected error (kcal/mol)"} <= set(table.columns)
    assert table["name"].nunique() > 50  # the library's C/H/N/O groups; the others are listed as not ranked
    assert "not ranked" in at.expander[0].label
    at.multiselect(key="rank_confirm_names").set_value(["methyl"]).run()
    at.button(key="rank_confirm").click().run()
    jobs = get_job_manager().jobs()
    assert len(jobs) == 1 and "Queued 1 GFN2-xTB screens" in at.success[0].value
    deadline = time.time() + 120
    while jobs[0].status in ("queued", "running") and time.time() < deadline:
        time.sleep(0.5)
    assert jobs[0].status == "done" and jobs[0].summary.computed == 0  # HOPO-methyl La, Lu 1L6W: stored already
