"""`reescreen rank`: grafted complexes, the pre-screen ensemble's predictions, the ranked CSV, and the xTB check."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import ase.io
import numpy as np
import pandas as pd
import pytest

from core.chemistry.groups import Group
from core.model.inference import load_model
from core.pipeline.rank import COLUMNS, aqua_reference, rank_groups
from core.pipeline.scaffold_templates import templates_file
from core.pipeline.settings import FAST

BIN = Path(sys.executable).parent
REQUIRED = ["name", "smiles", "scaffold", "metal", "type", "E_bind model (kcal/mol)", "E_exchange model (kcal/mol)",
            "uncertainty (kcal/mol)", "domain"]
GROUPS = "name,smiles\nmethyl,*C\nfluoro,*F\nmethoxy,*OC\nphenyl,*c1ccccc1\ncharged,*[NH3+]\ncyano,*C#N\n"


def _rank(model_dir, tmp_path, *extra) -> subprocess.CompletedProcess:
    (tmp_path / "groups.csv").write_text(GROUPS)
    return subprocess.run([str(BIN / "reescreen"), "rank", "--scaffold", "HOPO", "--groups", str(tmp_path / "groups.csv"),
                           "--model", str(model_dir), "--out", str(tmp_path / "r.csv"), *extra],
                          capture_output=True, text=True, timeout=600)


def test_rank_with_a_pair_writes_the_ranked_csv_by_selectivity_with_every_required_column(tiny_prescreen_ensemble,
                                                                                            tmp_path):
    model_dir, _ = tiny_prescreen_ensemble
    run = _rank(model_dir, tmp_path, "--metals", "Nd,Dy", "--types", "1L6W,4L", "--pair", "Nd,Dy")
    assert run.returncode == 0, run.stderr
    assert "refused: line 6: The group '*[NH3+]' has net charge +1" in run.stderr  # the others are ranked
    assert "not ranked: fluoro: " in run.stderr and "contains F, which model" in run.stderr  # no F in its training
    table = pd.read_csv(tmp_path / "r.csv")
    assert set(REQUIRED) <= set(table.columns)
    selectivity = "selectivity Nd−Dy model (kcal/mol)"
    for (name, ctype), rows in table.groupby(["name", "type"]):
        by_metal = rows.set_index("metal")["E_exchange model (kcal/mol)"]
        assert rows[selectivity].iloc[0] == pytest.approx(by_metal["Nd"] - by_metal["Dy"], abs=0.011)
    for ctype, rows in table[table["metal"] == "Nd"].groupby("type"):
        ordered = rows.sort_values("rank")
        assert list(ordered[selectivity]) == sorted(ordered[selectivity])  # rank 1 prefers Nd the most
    assert (table["uncertainty (kcal/mol)"] > 0).all() and (table["selectivity uncertainty (kcal/mol)"] > 0).all()
    # the tiny model was trained on HOPO-methyl only: methyl is a training group, the rest are new groups
    domains = table.drop_duplicates("name").set_index("name")["domain"]
    assert domains["methyl"] == "training group" and set(domains.drop("methyl")) == {"new group"}
    assert "fluoro" not in set(table["name"]) and "Ranked 4 ligands" in run.stdout and "GFN2-xTB/ALPB(water)" in run.stdout
    # the accuracy a new group can expect, from the model's own group hold-out
    held = json.loads((model_dir / "metrics.json").read_text())["group-holdout"]
    assert f"On {held['n']} complexes of groups it never saw, the model's E_bind MAE is {held['mae']:.1f}" in run.stdout
    for ctype, rows in table[table["metal"] == "Nd"].groupby("type"):  # each end of the ranking, named per type
        by_name = rows.set_index("name")[selectivity]
        for metal, end in (("Nd", by_name.min()), ("Dy", by_name.max())):
            named = re.search(rf"most {metal}-selective in {ctype}: (\S+) \(", run.stdout).group(1)
            assert by_name[named] == pytest.approx(end, abs=0.011)  # the CSV rounds to 0.01
    # its held-out groups have no Nd or Dy complex: the selectivity error is said to be unmeasured, not guessed
    assert "Nd−Dy selectivity was not measured on held-out groups" in run.stdout
    assert table.loc[table["domain"] == "new group", "selectivity expected error (kcal/mol)"].isna().all()


def test_a_pair_ranking_quotes_the_selectivity_error_measured_on_held_out_groups(tiny_prescreen_ensemble):
    from core.model.training import frame_value, training_frames
    from core.pipeline.rank import new_group_accuracy

    model_dir, tmp = tiny_prescreen_ensemble
    model = load_model(model_dir, explicit=True)
    grafted = training_frames(str(tmp / "tiny.extxyz"), "grafted")[0]
    held = {a.info["metal"]: a for a in grafted if a.info["split"] == "group-holdout"}  # one ligand: Y, Yb, Tm, Lu
    assert sorted(held) == ["Lu", "Tm", "Y", "Yb"]
    pred = dict(zip(held, model.predict_spread(list(held.values()))[0]))
    ref = {m: frame_value(a, model.meta.get("label_key", "energy")) for m, a in held.items()}
    measured = model.selectivity_accuracy("new group", ("Lu", "Tm"), "1L6W")  # either order: the pair Tm-Lu
    assert measured["n_ligands"] == 1 and "spearman" not in measured  # one ligand ranks nothing
    assert measured["mae"] == pytest.approx(abs((pred["Tm"] - pred["Lu"]) - (ref["Tm"] - ref["Lu"])), abs=1e-3)
    text = new_group_accuracy(model, ("Tm", "Lu"), ("1L6W",))
    assert f"Tm−Lu selectivity (a shared per-ligand error cancels), on the same groups: 1L6W MAE {measured['mae']:.1f}" \
        in text and "over 1 ligands" in text
    assert "In 1L6W too few held-out ligands were measured to judge an order" in text  # one ligand orders nothing
    assert "no better than" not in text


def test_exchange_energy_is_the_predicted_binding_energy_minus_the_aqua_ions_and_ranks_per_metal_and_type(
        tiny_prescreen_ensemble):
    model = load_model(tiny_prescreen_ensemble[0], explicit=True)
    groups = [Group("methyl", "*C"), Group("methoxy", "*OC"), Group("ethyl", "*CC")]
    ranking = rank_groups(model, groups, "CAM", ["La", "Gd"], ["1L6W", "2L4W"])
    t = ranking.table
    assert list(t.columns[:len(COLUMNS)]) == COLUMNS and len(t) == 3 * 2 * 2
    for metal in ("La", "Gd"):
        rows = t[t["metal"] == metal]
        assert np.allclose(rows["E_bind model (kcal/mol)"] - rows["E_exchange model (kcal/mol)"], aqua_reference(metal))
        # every shipped complex of the metal implies the same aqua E_bind (E_bind − E_exchange)
        implied = [a.get_potential_energy() - a.info["exchange_energy"] for a in ase.io.read(
            str(templates_file(FAST)), ":") if a.info["metal"] == metal and "exchange_energy" in a.info]
        assert len(implied) > 4 and np.allclose(implied, aqua_reference(metal), atol=1e-6)
    for _, rows in t.groupby(["metal", "type"]):
        assert rows.sort_values("rank")["E_exchange model (kcal/mol)"].is_monotonic_increasing
    assert set(t["domain"]) == {"new scaffold"}  # the tiny model saw HOPO only
    assert ranking.timings["graft_s"] > 0 and ranking.timings["predict_s"] > 0


def test_rank_confirm_screens_the_best_ligands_with_xtb_and_prints_model_against_computed(tiny_prescreen_ensemble,
                                                                                          small_store_copy, tmp_path):
    model_dir, _ = tiny_prescreen_ensemble
    (tmp_path / "two.csv").write_text("name,smiles\nmethyl,*C\nethyl,*CC\n")
    run = subprocess.run([str(BIN / "reescreen"), "rank", "--scaffold", "HOPO", "--groups", str(tmp_path / "two.csv"),
                          "--metals", "La,Lu", "--types", "1L6W", "--model", str(model_dir), "--out",
                          str(tmp_path / "r.csv"), "--confirm", "2", "--workers", "2", "--db", str(small_store_copy)],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr
    block = run.stdout.split("Confirmed with GFN2-xTB/ALPB(water)", 1)[1]
    lines = [line for line in block.splitlines() if line.strip().startswith(("methyl", "ethyl"))]
    assert len(lines) == 4  # 2 ligands x La, Lu, each with the model's and xTB's E_exchange
    assert all(len(line.split()) >= 7 and "nan" not in line.lower() for line in lines)


def test_rank_without_a_model_says_how_to_get_one(tmp_path):
    run = subprocess.run([str(BIN / "reescreen"), "rank", "--scaffold", "HOPO", "--groups", "library", "--metals",
                          "Nd", "--types", "1L6W", "--out", str(tmp_path / "r.csv"), "--model",
                          str(tmp_path / "none")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "No pre-screen model" in run.stderr and "allegro-prescreen.yaml" in run.stderr


def test_ranking_on_dask_workers_gives_the_same_table_as_in_process(tiny_prescreen_ensemble):
    from core.pipeline.cluster import close_client, make_client

    model = load_model(tiny_prescreen_ensemble[0], explicit=True)
    groups = [Group(n, s) for n, s in [("methyl", "*C"), ("ethyl", "*CC"), ("methoxy", "*OC"), ("fluoro", "*F"),
                                       ("propyl", "*CCC"), ("hydroxy", "*O")]]
    here = rank_groups(model, groups, "HOPO", ["La", "Lu"], ["1L6W", "4L"], pair=("La", "Lu"))
    client = make_client(None, 2)
    try:
        there = rank_groups(model, groups, "HOPO", ["La", "Lu"], ["1L6W", "4L"], pair=("La", "Lu"), client=client)
    finally:
        close_client(client)
    pd.testing.assert_frame_equal(here.table, there.table, check_exact=False, atol=1e-6)
    assert sorted(here.refused) == sorted(there.refused) and any(r.startswith("fluoro: ") for r in there.refused)
    assert set(there.timings) == {"graft_s", "predict_s", "wall_s"}


def test_members_compiled_for_a_large_table_rank_as_the_eager_network_does(tiny_prescreen_ensemble):
    model_dir, _ = tiny_prescreen_ensemble
    model = load_model(model_dir, explicit=True)
    args = (model, [Group("methyl", "*C"), Group("methoxy", "*OC")], "HOPO", ["Nd", "Dy"], ["1L6W", "4L"])
    eager = rank_groups(*args)
    assert not eager.compiled  # a small table: compiling would cost more than it saves
    try:
        fast = rank_groups(*args, compiled=True)
        assert fast.compiled and model.compiled
        key = ["name", "metal", "type"]
        both = eager.table.merge(fast.table, on=key, suffixes=("", " compiled"))
        assert len(both) == len(eager.table) == len(fast.table)
        for column in ("E_bind model (kcal/mol)", "uncertainty (kcal/mol)"):
            assert np.allclose(both[column], both[f"{column} compiled"], atol=1e-3)
    finally:  # the loaded members are shared by the process's other tests
        for member in model.members:
            member._compiled = None
