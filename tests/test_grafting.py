"""Grafting new groups onto the shipped complexes of a library scaffold, and screening by that route."""
from __future__ import annotations

import numpy as np
import pytest

from core.chemistry.complexes import COORDINATION_TYPES
from core.chemistry.grafting import (CLASH_DISTANCE, GraftError, graft_complex, ligand_embeddings, plan_graft,
                                    reference_copies)
from core.chemistry.ligands import make_ligand
from core.chemistry.qc import check_complex
from core.pipeline.scaffold_templates import grafted_series, grafted_starts, scaffold_template
from core.pipeline.settings import FAST
from core.storage.results import results_frame
from core.storage.store import Store

ISOPROPYL_HOPO = "CNC(=O)c1ccc(C(C)C)c(=O)n1[O-]"


@pytest.mark.parametrize("smiles, scaffold, positions", [
    (ISOPROPYL_HOPO, "HOPO", ("C3",)),
    ("CNC(=O)c1cc(C)cc(=O)n1[O-]", "HOPO", ("C4",)),                   # another ring position
    ("CNC(=O)c1cc(C)c(OC)c(=O)n1[O-]", "HOPO", ("C3", "C4")),          # two groups
    ("CNC(=O)c1ccc(C(F)(F)F)c([S-])c1[O-]", "thio-CAM", ("C3",)),
    ("CNC(=O)c1ccc(-c2ccccc2)n([O-])c1=O", "HDEV", ("C3",)),
])
def test_a_ring_substituted_library_scaffold_is_recognised(smiles, scaffold, positions):
    plan = plan_graft(make_ligand(smiles).smiles)
    assert plan is not None and plan.scaffold == scaffold and plan.positions == positions


@pytest.mark.parametrize("smiles", [
    "[O-]c1ccccc1[O-]",                           # a catecholate without the amide side chain
    "CN(C)C(=O)c1ccc(C)c(=O)n1[O-]",              # a group on the amide N, not on the ring
    "CNC(=O)c1ccc2c(c1[O-])OCO2",                 # a ring fused onto two positions
])
def test_a_ligand_with_no_graftable_scaffold_gets_no_plan(smiles):
    assert plan_graft(smiles) is None


def test_grafted_complex_keeps_the_template_scaffold_metal_and_waters_and_passes_qc():
    ligand = make_ligand(ISOPROPYL_HOPO)
    plan = plan_graft(ligand.smiles)
    for ctype in ("4L", "3L2W", "1L6W"):
        template, source = scaffold_template(FAST, "HOPO", "Eu", ctype)
        assert source == "Eu"
        built = graft_complex(template, plan, ligand.charge)
        assert check_complex(built, ligand.smiles, ligand.charge, COORDINATION_TYPES[ctype]).passed
        assert built[0].symbol == "Eu" and np.allclose(built.positions[0], template.positions[0])
        n = plan.ligand.GetNumAtoms()
        copies = reference_copies(template, "HOPO", ligand.charge)
        for k, copy in enumerate(copies):
            mine = built.positions[1 + k * n: 1 + (k + 1) * n]
            for ref_idx, lig_idx in plan.kept:  # scaffold atoms and the H that stay: the template's coordinates
                assert np.allclose(mine[lig_idx], template.positions[copy[ref_idx]])
        grafted = [i for i in range(1, 1 + len(copies) * n) if (i - 1) % n not in dict(plan.kept).values()]
        others = [i for i in range(len(built)) if i not in grafted]
        d = built.get_all_distances()[np.ix_(grafted, others)]
        assert d.min() > 1.0  # bonded neighbours excepted, nothing sits on top of a grafted atom


def test_a_group_that_clashes_in_every_rotamer_is_refused():
    ligand = make_ligand("CNC(=O)c1ccc(C(C(C)(C)C)(C(C)(C)C)C(C)(C)C)c(=O)n1[O-]")  # tri-tert-butylmethyl
    template, _ = scaffold_template(FAST, "HOPO", "La", "4L")
    with pytest.raises(GraftError, match=f"{CLASH_DISTANCE}"):
        graft_complex(template, plan_graft(ligand.smiles), ligand.charge)


def test_one_embedding_grafts_a_ligand_onto_every_metal_and_type_and_each_complex_passes_qc():
    ligand = make_ligand("CNC(=O)c1ccc(-c2ccc(F)cc2)c(=O)n1[O-]")  # 4-fluorophenyl: a rotamer to choose
    plan = plan_graft(ligand.smiles)
    built = grafted_series(plan, ligand, ["La", "Gd", "Lu"], ["4L", "2L4W", "1L6W"], FAST)
    assert len(built) == 9
    for (metal, ctype), atoms in built.items():
        assert not isinstance(atoms, GraftError), f"{metal} {ctype}: {atoms}"
        assert atoms[0].symbol == metal
        assert check_complex(atoms, ligand.smiles, ligand.charge, COORDINATION_TYPES[ctype]).passed
        template, _ = scaffold_template(FAST, "HOPO", metal, ctype)
        n = plan.ligand.GetNumAtoms()
        for k, copy in enumerate(reference_copies(template, "HOPO", ligand.charge)):
            mine = atoms.positions[1 + k * n: 1 + (k + 1) * n]
            assert all(np.allclose(mine[lig], template.positions[copy[ref]]) for ref, lig in plan.kept)


def test_a_refused_graft_in_a_series_is_reported_for_its_cell_and_the_others_are_kept():
    ligand = make_ligand("CNC(=O)c1ccc(C(c2ccccc2)(c2ccccc2)c2ccccc2)c(=O)n1[O-]")  # trityl: no room in 4L
    built = grafted_series(plan_graft(ligand.smiles), ligand, ["La"], ["4L", "1L6W"], FAST)
    assert isinstance(built[("La", "4L")], GraftError) and "clashes" in str(built[("La", "4L")])
    assert not isinstance(built[("La", "1L6W")], GraftError)


def test_a_missing_template_is_replaced_by_the_nearest_metal_with_the_metal_swapped_in():
    found = scaffold_template(FAST, "CAM", "Pm", "2L4W")  # the reference ligand's Pm 2L4W complex failed QC
    assert found is not None
    atoms, source = found
    assert source in ("Nd", "Sm") and "Pm" in atoms.get_chemical_symbols() and source not in atoms.get_chemical_symbols()
    assert scaffold_template(FAST, "CAM", "Sm", "2L4W")[1] == "Sm"


def test_grafted_complex_passes_qc_after_a_real_tblite_optimisation():
    from core.chemistry.complexes import COORDINATION_TYPES as TYPES
    from core.pipeline.tasks import GRAFT, compute_complex_from_starts

    ligand = make_ligand(ISOPROPYL_HOPO)
    starts, source = grafted_starts(plan_graft(ligand.smiles), ligand, "Lu", "1L6W", FAST)
    rec = compute_complex_from_starts(ligand, TYPES["1L6W"], "Lu", FAST, starts, source)
    assert rec.status == "ok" and rec.converged and rec.extra["route"] == GRAFT
    assert "HOPO-hydrogen Lu 1L6W" in rec.extra["started_from"]


def test_the_default_route_is_architector_until_grafting_is_shown_no_worse():
    assert FAST.route == "architector"


def test_a_screen_of_a_new_group_on_a_library_scaffold_builds_every_complex_by_grafting(tmp_path, client):
    from core.pipeline.runner import run_screen

    store = Store(tmp_path / "graft.db")
    summary = run_screen(make_ligand(ISOPROPYL_HOPO), store, client, FAST.with_changes(route="auto"), ["La", "Lu"],
                         ["1L6W"])
    assert not summary.errors and summary.routes["1L6W"].startswith("graft")
    table = results_frame(store)
    assert list(table["route"]) == ["graft", "graft"] and (table["qc"] == "passed").all()
    assert table["E_exchange (kcal/mol)"].notna().all()  # the shipped aqua ions were re-optimised too


def test_each_group_bond_is_turned_onto_the_replaced_ch_direction_including_parallel_and_opposite_ones():
    from core.chemistry.grafting import _align

    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(5, 3))
    targets = np.vstack([rng.normal(size=(3, 3)), vectors[3] * 2.0, -vectors[4]])  # random, parallel, opposite
    for vector, target in zip(vectors, targets):
        turn = _align(vector, target)
        assert np.allclose(turn @ (vector / np.linalg.norm(vector)), target / np.linalg.norm(target), atol=1e-12)
        assert np.allclose(turn @ turn.T, np.eye(3), atol=1e-12) and np.isclose(np.linalg.det(turn), 1.0)


def test_kabsch_puts_the_embedded_scaffold_back_onto_the_template_atoms():
    from scipy.spatial.transform import Rotation

    from core.chemistry.grafting import _superimpose

    rng = np.random.default_rng(7)
    fixed = rng.normal(size=(9, 3))
    for turn in Rotation.random(4, random_state=11).as_matrix():
        moving = fixed @ turn.T + rng.normal(size=3)
        rot, shift = _superimpose(moving, fixed)
        assert np.allclose(moving @ rot.T + shift, fixed, atol=1e-10)


@pytest.mark.parametrize("group_smiles", ["c2c(C)cc(C)cc2C", "Oc2ccccc2"])  # mesityl, phenoxy
def test_a_group_grafts_the_same_whatever_the_last_bits_of_the_arithmetic(group_smiles):
    """Rotamers and embeddings that tie (by symmetry, or because the closest contact sits on the turning axis)
    must not be chosen by rounding noise, which differs between CPUs and BLAS builds: with the ligand's
    embeddings fixed, noise of 1e-12 Å on the template leaves every grafted atom where it was."""
    ligand = make_ligand(f"CNC(=O)c1ccc({group_smiles})c(=O)n1[O-]")
    plan = plan_graft(ligand.smiles)
    rng = np.random.default_rng(7)
    for ctype in ("2L4W", "3L2W"):
        template, _ = scaffold_template(FAST, "HOPO", "Nd", ctype)
        embeddings = ligand_embeddings(plan, template.positions[reference_copies(template, "HOPO", ligand.charge)[0]],
                                       FAST.seed)
        built = graft_complex(template, plan, ligand.charge, embeddings=embeddings)
        for _ in range(10):
            noisy = template.copy()
            noisy.positions += rng.normal(scale=1e-12, size=noisy.positions.shape)
            again = graft_complex(noisy, plan, ligand.charge, embeddings=embeddings)
            assert np.abs(again.positions - built.positions).max() < 1e-6
