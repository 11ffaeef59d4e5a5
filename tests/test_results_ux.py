"""Results a chemist can trust at a glance (issue 14): rankings within one metal and type, the series in
periodic order with Y apart, named ligands, jobs with stage/ETA/cancel, the structure view, exports.

Most tests read the shipped library build store (115 ligands × 16 REEs × 4 types, real GFN2-xTB results).
"""
import io
import re
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.chemistry.constants import LANTHANIDES, SERIES_ORDER
from core.storage.results import E_BIND, E_EXCHANGE, RANK, RANKED_OF, results_frame
from core.storage.store import Store

ROOT = Path(__file__).resolve().parents[1]
HOPO_ISOPROPYL = "CNC(=O)c1ccc(C(C)C)c(=O)n1[O-]"


def _page(name: str) -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=120)


@pytest.fixture
def on_dataset(dataset_store, monkeypatch):
    monkeypatch.setenv("REESCREEN_DB", str(dataset_store))
    from app.state import get_store

    get_store.clear()
    return dataset_store


@pytest.fixture
def on_dataset_copy(dataset_store_copy, monkeypatch):
    monkeypatch.setenv("REESCREEN_DB", str(dataset_store_copy))
    from app.state import get_store

    get_store.clear()
    return dataset_store_copy


# -- 1. rankings ------------------------------------------------------------------------------------------
def test_rank_places_a_ligand_among_ligands_for_one_metal_and_type_never_metals(dataset_store):
    df = results_frame(Store(dataset_store))
    ranked = df[df[RANK].notna()]
    for (metal, ctype), block in ranked[ranked["type"] == "4L"].groupby(["metal", "type"]):
        assert sorted(block[RANK]) == list(range(1, len(block) + 1)), (metal, ctype)  # ligands 1…n, no ties here
        assert (block[RANKED_OF] == len(block)).all()
        best = block.loc[block[E_BIND].idxmin()]
        assert best[RANK] == 1 and block.loc[block[E_EXCHANGE].idxmin(), "ligand"] == best["ligand"]
    # one ligand's 16 metals are not ranked 1…16 against each other any more
    hopo = ranked[(ranked["ligand"] == "HOPO-methyl") & (ranked["type"] == "4L")]
    assert len(hopo) == 16 and sorted(hopo[RANK]) != list(range(1, 17))
    assert list(hopo["metal"]) == list(SERIES_ORDER)  # rows in periodic order, Y last


def test_cli_results_show_rank_of_n_and_flag_y(dataset_store):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "core.cli", "results", "--db", str(dataset_store), "--smiles",
                          "CNC(=O)c1ccc(C)c(=O)n1[O-]", "--types", "4L"], capture_output=True, text=True, check=True).stdout
    assert re.search(r"\b\d+/1\d\d\b", out), out  # e.g. 48/109
    assert "Y*" in out and "4d ion with no 4f electrons" in out
    assert "metals are not ranked against each other" in out


def test_results_page_ranks_by_the_chosen_energy_and_defaults_to_a_lanthanide_pair(on_dataset):
    at = _page("results").run()
    assert not at.exception
    assert at.selectbox(key="ranked_metal").value == "Nd"
    board = at.dataframe[1].value  # all 115 ligands: no plots, but the ranking is there
    assert len(board) > 100 and list(board[RANK]) == list(range(1, len(board) + 1))
    assert board[E_EXCHANGE].is_monotonic_increasing
    at.multiselect(key="results_ligands").set_value(["HOPO-methyl", "CAM-methyl", "HOPO-ethyl"]).run()
    assert at.selectbox(key="sel_a").value == "Nd" and at.selectbox(key="sel_b").value == "Dy"
    assert at.selectbox(key="rank_metal").value == "Nd"
    board = at.dataframe[1].value
    assert len(board) == 3 and board[RANK].is_monotonic_increasing and board[RANKED_OF].min() > 100
    table = at.dataframe[0].value
    assert "Y (4d, off trend)" in set(table["metal"]) and "Y" not in set(table["metal"])
    assert any("4d ion with no 4f electrons" in c.value for c in at.caption)


# -- 2 and 3. the series plot, heat map, Y ------------------------------------------------------------------
def test_series_plot_joins_la_to_lu_in_order_and_keeps_y_apart_in_distinct_colours(dataset_store):
    from app.figures import Y_AXIS_LABEL, series_plot

    df = results_frame(Store(dataset_store))
    view = df[df["ligand"].isin(["HOPO-methyl", "CAM-methyl", "HOPO-ethyl"]) & (df["type"] == "4L")]
    fig = series_plot(view)
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert len(lines) == 3
    for trace in lines:
        assert list(trace.x) == list(LANTHANIDES)  # joined La → Lu, never in rank order
        assert not trace.name.startswith("CNC")  # names, not SMILES
    assert len({t.line.color for t in lines}) == 3
    y_points = [t for t in fig.data if t.mode == "markers"]
    assert len(y_points) == 3 and all(list(t.x) == [Y_AXIS_LABEL] for t in y_points)
    assert list(fig.layout.xaxis.categoryarray)[-1] == Y_AXIS_LABEL


def test_y_flag_states_what_the_shipped_build_shows(dataset_store):
    """The counts quoted in Y's flag are recomputed from the build store (E_exchange, QC passed)."""
    from core.chemistry.constants import Y_NOTE
    from core.storage.results import passed

    wide = passed(results_frame(Store(dataset_store))).pivot_table(index=["ligand", "type"], columns="metal",
                                                                   values=E_EXCHANGE).dropna(subset=["Y"])
    ln = wide[list(LANTHANIDES)]
    counts = {}
    for ctype, block in wide.groupby(level="type"):
        lo, hi = ln.loc[block.index].min(axis=1), ln.loc[block.index].max(axis=1)
        counts[ctype] = (int((block["Y"] < lo).sum()), int((block["Y"] > hi).sum()), len(block))
    assert f"1L6W for {counts['1L6W'][0]} of {counts['1L6W'][2]} ligands" in Y_NOTE
    assert f"4L for {counts['4L'][1]} of {counts['4L'][2]})" in Y_NOTE


def test_heat_map_colour_scale_spans_the_lanthanides_not_y(dataset_store):
    from app.figures import heatmap

    df = results_frame(Store(dataset_store))
    view = df[df["ligand"].isin(["HOPO-methyl", "CAM-methyl"])]
    fig = heatmap(view, "4L")
    ln = view[(view["type"] == "4L") & (view["metal"] != "Y")][E_EXCHANGE]
    assert fig.layout.coloraxis.cmax == pytest.approx(ln.max()) and fig.layout.coloraxis.cmin == pytest.approx(ln.min())
    assert list(fig.data[0].x)[-1] == "Y (4d)"


def test_parity_legend_has_one_entry_per_metal_and_per_type():
    from app.figures import model_parity

    rows = [{"ligand": "L", "metal": m, "type": t, "status": "ok", E_BIND: -1000.0 - i, "E_bind model (kcal/mol)":
             -1001.0 - i, "level of theory": "GFN2-xTB/ALPB(water)"}
            for i, (m, t) in enumerate((m, t) for m in SERIES_ORDER for t in ("1L6W", "2L4W", "3L2W", "4L"))]
    fig = model_parity(pd.DataFrame(rows))
    shown = [t.name for t in fig.data if t.showlegend is not False and t.name]
    assert len(shown) == 20 and len(set(shown)) == 20  # was 64 entries, cut off the plot


def test_compare_page_shows_ligands_side_by_side_with_the_measured_noise_band(on_dataset):
    from core.chemistry.noise import template_noise

    noise = template_noise()
    assert noise is not None and noise["n_minima"] >= 6 and noise["half_width_kcal"] > 0
    at = _page("compare").run()
    assert not at.exception
    at.multiselect(key="compare_ligands").set_value(["HOPO-methyl", "CAM-methyl", "HOPO-ethyl"]).run()
    assert at.toggle(key="compare_band").value
    assert any(f"± {noise['half_width_kcal']:.1f} kcal/mol" in c.value and "thorough" in c.value for c in at.caption)
    assert at.selectbox(key="compare_a").value == "Nd" and at.selectbox(key="compare_b").value == "Dy"
    import json

    figures = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(figures) == 2
    bands = [t for t in figures[0]["data"] if t.get("fill") == "toself"]
    assert len(bands) == 3  # one shaded band per ligand (4L)
    table = at.dataframe[0].value
    assert len(table) == 3 and list(table.columns)[:2] == ["La", "Ce"]


# -- 4. named ligands ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("smiles,name", [(HOPO_ISOPROPYL, "HOPO-isopropyl"),
                                         ("CNC(=O)c1ccc(C)c(=O)n1[O-]", "HOPO-methyl"),
                                         ("CNC(=O)c1cc(C)cc(=O)n1[O-]", "HOPO-4-methyl"),
                                         ("CNC(=O)c1cc(Cl)c(C)c(=O)n1[O-]", "HOPO-3-methyl-4-chloro"),
                                         ("CNC(=O)c1cc(C)c(C)c(=O)n1[O-]", "HOPO-3,4-dimethyl"),
                                         ("CNC(=O)c1ccc(C)c([O-])c1[O-]", "CAM-methyl"),
                                         ("[O-]c1ccccc1[O-]", None)])
def test_pasted_ligand_on_a_library_scaffold_is_named_like_the_library(smiles, name):
    from core.chemistry.ligands import LigandError, make_ligand

    try:
        ligand = make_ligand(smiles)
    except LigandError:
        assert name is None
        return
    if name is None:
        assert not ligand.scaffold and ligand.name == ligand.smiles
    else:
        assert ligand.name == name


def test_a_pasted_ligand_stored_without_a_name_joins_its_scaffolds_substituent_ranking(dataset_store_copy):
    from app.figures import substituent_ranking

    store = Store(dataset_store_copy)
    df = results_frame(store)
    rows = df[df["ligand"] == "HOPO-methyl"]
    smiles = rows["smiles"].iloc[0]
    # what a pasted SMILES was stored with before ligands were recognised: its SMILES as name, no scaffold
    store.annotate({int(i): {"ligand_name": smiles, "scaffold": "", "substituent": ""} for i in rows["row_id"]})
    again = results_frame(store)
    pasted = again[again["smiles"] == smiles]
    assert set(pasted["ligand"]) == {"HOPO-methyl"} and set(pasted["substituent"]) == {"methyl"}
    fig = substituent_ranking(again, "Nd", "HOPO", "4L")
    assert "methyl" in list(fig.data[0].y)


def test_design_accepts_the_neutral_form_and_says_it_deprotonated_it(on_dataset_copy):
    at = _page("design").run()
    at.radio(key="design_source").set_value("SMILES").run()
    at.text_input(key="design_smiles").input("CNC(=O)c1ccc(C(C)C)c(=O)n1O").run()
    assert not at.error and not at.exception
    assert any("deprotonated" in i.value and "[O-]" in i.value for i in at.info)
    ligand = at.session_state["ligand"]
    assert ligand.smiles == HOPO_ISOPROPYL and ligand.name == "HOPO-isopropyl" and ligand.charge == -1
    assert any("Recognised as the library scaffold" in c.value for c in at.caption)


def test_user_name_is_stored_and_shown_in_results_and_exports(on_dataset_copy):
    at = _page("design").run()
    at.radio(key="design_source").set_value("SMILES").run()
    at.text_input(key="design_smiles").input("CNC(=O)c1ccc(C)c(=O)n1[O-]").run()
    at.text_input(key="design_name_CNC(=O)c1ccc(C)c(=O)n1[O-]").input("Me-HOPO (lab 7)").run()
    assert at.session_state["ligand"].name == "Me-HOPO (lab 7)"
    df = results_frame(Store(on_dataset_copy))
    named = df[df["smiles"] == "CNC(=O)c1ccc(C)c(=O)n1[O-]"]
    assert set(named["ligand"]) == {"Me-HOPO (lab 7)"} and set(named["scaffold"]) == {"HOPO"}
    from core.storage.results import results_csv

    assert "Me-HOPO (lab 7)" in pd.read_csv(io.StringIO(results_csv(named)))["ligand"].tolist()


def test_formula_is_written_with_a_superscript_charge():
    from core.chemistry.ligands import library_ligand

    assert library_ligand("CAM", "fluoro").formula == "C8H6FNO3²⁻"
    assert library_ligand("HOPO", "methyl").formula == "C8H9N2O3⁻"


# -- 5. jobs: stage and time left, one unit, cancel, per-session list, ligand in the URL -------------------
def test_time_left_uses_this_runs_stage_costs_per_type_and_the_running_task():
    from collections import Counter

    from core.pipeline.eta import LA_COMPLEX, PRIOR_COST_S, SWAPS, TEMPLATES, StageClock, format_duration

    clock = StageClock(workers=2)
    chains = {"4L": Counter({TEMPLATES: 1, LA_COMPLEX: 1, SWAPS: 15}), "1L6W": Counter({SWAPS: 3})}
    types = {"4L": "4L", "1L6W": "1L6W"}
    prior_4l = PRIOR_COST_S[(TEMPLATES, "4L")] + PRIOR_COST_S[(LA_COMPLEX, "4L")] + 15 * PRIOR_COST_S[(SWAPS, "4L")]
    assert clock.remaining_s(chains, types) == pytest.approx(prior_4l)  # the 4L chain is the critical path
    assert PRIOR_COST_S[(LA_COMPLEX, "4L")] > 10 * PRIOR_COST_S[(LA_COMPLEX, "1L6W")]
    # 30 s into the 4L template build: that much less (up to 90 % of the template's expected cost)
    assert clock.remaining_s(chains, types, {"4L": 30.0}) == pytest.approx(prior_4l - 30.0)
    assert clock.remaining_s(chains, types, {"4L": 1e4}) == pytest.approx(prior_4l - 0.9 * PRIOR_COST_S[(TEMPLATES, "4L")])
    clock.record(SWAPS, 10.0, "4L")  # this machine's 4L swaps are slower than the build machine's
    assert clock.remaining_s(chains, types) == pytest.approx(prior_4l + 15 * (10.0 - PRIOR_COST_S[(SWAPS, "4L")]))
    assert format_duration(80) == "1 min 20 s" and format_duration(7300) == "2 h 01 min"


def test_queued_job_can_be_cancelled_and_never_runs(tmp_path):
    from core.chemistry.ligands import library_ligand
    from core.pipeline.jobs import JobManager
    from core.pipeline.settings import FAST

    manager = JobManager(tmp_path / "jobs.db", scheduler="tcp://127.0.0.1:9", use_model=False)
    manager._queue.put = lambda job: None  # nothing serves it: it stays queued
    job = manager.submit(library_ligand("HOPO", "methyl"), ["La"], ["1L6W"], FAST, owner="alice")
    assert manager.cancel(job.id) and job.status == "cancelled" and job.finished
    assert not manager.cancel(job.id)  # finished: nothing to cancel
    assert manager.jobs("alice") == [job] and manager.jobs("bob") == []


def test_running_job_is_cancelled_within_seconds_and_keeps_what_finished(small_store_copy, client):
    import threading
    import time

    from core.chemistry.ligands import library_ligand
    from core.pipeline.runner import run_screen
    from core.pipeline.settings import FAST
    from conftest import stored_result_ids

    cancel = threading.Event()
    seen = []

    def progress(p):
        seen.append((p.stage, p.eta_s, p.complexes_done, p.complexes_total))
        if p.done >= 1:  # the references are in; stop while the complexes are being built
            cancel.set()

    store = Store(small_store_copy)
    before = len(stored_result_ids(small_store_copy))
    start = time.perf_counter()
    summary = run_screen(library_ligand("HOPO", "ethyl"), store, client, FAST, ["La", "Ce", "Pr"], ["1L6W"],
                         progress, cancel=cancel)
    assert summary.cancelled and time.perf_counter() - start < 120
    assert len(stored_result_ids(small_store_copy)) > before  # what finished before the cancel is kept
    assert any("Architector templates" in stage for stage, *_ in seen)
    assert any(eta and eta > 0 for _, eta, *_ in seen) and seen[-1][3] == 3


def test_screen_page_lists_only_this_browsers_jobs(on_dataset_copy):
    from app.state import get_job_manager
    from core.chemistry.ligands import library_ligand
    from core.pipeline.settings import FAST

    get_job_manager.clear()
    manager = get_job_manager()
    manager._queue.put = lambda job: None  # keep them queued: this test is about who sees what
    mine = manager.submit(library_ligand("HOPO", "methyl"), ["La"], ["1L6W"], FAST, owner="a1b2c3d4e5f6a7b8")
    manager.submit(library_ligand("CAM", "methyl"), ["La"], ["1L6W"], FAST, owner="ffffffffffffffff")
    at = _page("screen")
    at.query_params["owner"] = "a1b2c3d4e5f6a7b8"
    at.run()
    texts = " ".join(p.proto.text for p in at.get("progress")).replace("\\", "")  # Markdown escapes
    assert f"Job {mine.id} · HOPO-methyl · queued · 0 of 1 complexes" in texts and "CAM-methyl" not in texts
    assert any("1 job(s) of other users" in c.value for c in at.caption)
    at.button(key=f"cancel_{mine.id}").click().run()
    assert mine.status == "cancelled"
    get_job_manager.clear()


def test_the_chosen_ligand_survives_a_reload_through_the_url(on_dataset_copy):
    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=120)
    at.query_params["ligand"] = "CNC(=O)c1ccc(C(C)C)c(=O)n1O"  # a shared link may carry the neutral form
    at.run()
    assert not at.exception
    assert at.session_state["ligand"].smiles == HOPO_ISOPROPYL
    assert at.query_params["ligand"] in (HOPO_ISOPROPYL, [HOPO_ISOPROPYL]) and at.query_params["owner"]
    assert at.radio(key="design_source").value == "SMILES" and at.text_input(key="design_smiles").value == HOPO_ISOPROPYL


# -- 6. structure -------------------------------------------------------------------------------------------
def test_structure_view_colours_donors_apart_lists_distances_and_saves_png(on_dataset):
    from app.viewer import DONOR_COLOUR

    at = _page("structure").run()
    assert not at.exception
    html = at.get("iframe")[0].proto.srcdoc if at.get("iframe") else ""
    assert DONOR_COLOUR in html and "pngURI" in html and "Loading the 3D view" in html
    distances = at.dataframe[0].value
    assert len(distances) == 8 and distances.filter(like="Å").iloc[:, 0].between(2.0, 3.2).all()  # CN 8
    at.toggle(key="structure_labels").set_value(True).run()
    assert "addLabel" in at.get("iframe")[0].proto.srcdoc


# -- 7. exports ---------------------------------------------------------------------------------------------
def test_csv_opens_with_plain_read_csv_rounded_with_metadata_beside_it(dataset_store, tmp_path):
    from core.storage.results import export_csv, metadata_path

    out = tmp_path / "all.csv"
    n = export_csv(Store(dataset_store), out)
    df = pd.read_csv(out)
    assert len(df) == n and df.columns[0] == RANK
    column = "E_exchange (kcal/mol, GFN2-xTB/ALPB(water))"
    values = df[column].dropna()
    assert (values.round(1) == values).all() and len(df.columns) > 10
    meta = pd.read_csv(metadata_path(out)).set_index("field")["value"]
    assert meta["energy units"] == "kcal/mol" and meta["level of theory"] == "GFN2-xTB/ALPB(water)"


def test_top_n_ranked_by_exchange_carries_the_exchange_rank(on_dataset):
    at = _page("export").run()
    at.number_input(key="export_n").set_value(2).run()
    at.radio(key="export_by").set_value(E_EXCHANGE).run()
    chosen = at.dataframe[0].value
    assert set(chosen[RANK]) == {1, 2}
    for _, block in chosen.groupby(["metal", "type"]):
        assert list(block.sort_values(RANK)["E_exchange (kcal/mol, GFN2-xTB/ALPB(water))"]) == \
            sorted(block["E_exchange (kcal/mol, GFN2-xTB/ALPB(water))"])


def test_html_report_holds_tables_plots_snapshot_settings_and_versions(dataset_store):
    from app.report import ligand_report_html

    store = Store(dataset_store)
    df = results_frame(store)
    report = ligand_report_html(df, "CNC(=O)c1ccc(C)c(=O)n1[O-]", store)
    for part in ("<h1>HOPO-methyl</h1>", "GFN2-xTB/ALPB(water)", "Plotly.newPlot", "data:image/png;base64,",
                 "–donor (Å)", "<b>fast</b>", "tblite", "rank"):
        assert part in report, part
    assert not re.search(r"<script[^>]+src=", report) and "<link" not in report  # no fetched file: opens offline


def test_export_page_builds_the_report_of_the_chosen_ligand_in_one_click(on_dataset):
    at = _page("export").run()
    at.selectbox(key="export_report_ligand").set_value("CNC(=O)c1ccc(C)c(=O)n1[O-]").run()
    at.button(key="export_report_build").click().run()
    assert not at.exception
    name, report = at.session_state["export_report"]
    assert name == "CNC(=O)c1ccc(C)c(=O)n1[O-]" and "<h1>HOPO-methyl</h1>" in report
    assert any(b.proto.label == "Download report (HTML)" for b in at.get("download_button"))


def test_plots_download_in_the_format_chosen(on_dataset):
    at = _page("results")
    at.session_state["plot_format"] = "svg"
    at.run()
    at.multiselect(key="results_ligands").set_value(["HOPO-methyl", "CAM-methyl"]).run()
    import json

    configs = [json.loads(c.proto.config) for c in at.get("plotly_chart")]
    assert configs and all(c["toImageButtonOptions"]["format"] == "svg" for c in configs)


# -- 8. small things ----------------------------------------------------------------------------------------
def test_model_card_headings_are_demoted_inside_the_expander():
    from core.model.card import demote_headings

    assert demote_headings("# Title\ntext #not\n## Part") == "#### Title\ntext #not\n##### Part"


def test_streamlit_toolbar_is_minimal_and_shows_no_deploy_button():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["toolbarMode"] == "minimal"
