"""Real Architector + tblite on small cases: swap, QC, energies, SCF failures, references."""
import numpy as np
import pytest
from ase import Atoms

from core.storage.results import results_frame
from core.chemistry.complexes import AQUA, COORDINATION_TYPES, complex_charge, swap_metal
from core.chemistry.constants import SHANNON_RADIUS_CN8
from core.levels import DEFAULT_LEVEL
from core.chemistry.energies import binding_energy, complex_binding_energy, exchange_energy
from core.chemistry.geometry import coordinating_atoms, fragments, metal_index
from core.chemistry.qc import check_complex
from core.pipeline.settings import FAST
from core.storage.store import Store
from core.storage.records import FAILED, OK
from core.pipeline.tasks import compute_ion_reference, compute_water_reference

ONE_L = COORDINATION_TYPES["1L6W"]



def test_complex_charges_follow_ligand_charge():
    assert [complex_charge(-1, t) for t in COORDINATION_TYPES.values()] == [-1, 0, 1, 2]
    assert [complex_charge(-2, t) for t in COORDINATION_TYPES.values()] == [-5, -3, -1, 1]
    assert complex_charge(0, AQUA) == 3


def test_small_screen_finishes_with_every_complex_passing_qc(small_screen):
    path, summary = small_screen
    assert summary.errors == [] and summary.failed == 0 and summary.qc_failed == 0
    df = results_frame(Store(path))
    assert sorted(df["metal"]) == ["La", "Lu"]
    assert (df["qc"] == "passed").all() and (df["level of theory"] == DEFAULT_LEVEL.name).all()
    assert df["E_bind (kcal/mol)"].notna().all() and df["E_exchange (kcal/mol)"].notna().all()


def test_swapped_complex_keeps_ligand_inchikeys(la_complex, hopo_methyl):
    for metal in ("Y", "Gd", "Lu"):
        swapped = swap_metal(la_complex.atoms, metal)
        assert swapped[metal_index(swapped)].symbol == metal
        assert check_complex(swapped, hopo_methyl.smiles, hopo_methyl.charge, ONE_L).passed


def test_swap_moves_every_donor_by_the_ionic_radius_difference(la_complex):
    atoms = la_complex.atoms
    lu = swap_metal(atoms, "Lu")
    m = metal_index(atoms)
    shift = SHANNON_RADIUS_CN8["La"] - SHANNON_RADIUS_CN8["Lu"]
    for members in fragments(atoms):
        for d in coordinating_atoms(atoms, members):
            before, after = atoms.get_distance(m, d), lu.get_distance(m, d)
            assert 0.5 * shift < before - after <= shift + 1e-6
    # ligands move rigidly: intra-ligand distances unchanged
    frag = fragments(atoms)[0]
    assert np.allclose(atoms[frag].get_all_distances(), lu[frag].get_all_distances())


def test_qc_catches_a_proton_moved_from_water_to_ligand(la_complex, hopo_methyl):
    atoms = la_complex.atoms.copy()
    water = next(f for f in fragments(atoms) if len(f) == 3)
    h = next(i for i in water if atoms[i].symbol == "H")
    n_oxide_o = next(i for f in fragments(atoms) if len(f) > 3 for i in coordinating_atoms(atoms, f)
                     if atoms[i].symbol == "O")
    direction = atoms.positions[n_oxide_o] - atoms.positions[metal_index(atoms)]
    atoms.positions[h] = atoms.positions[n_oxide_o] + 0.97 * direction / np.linalg.norm(direction)
    result = check_complex(atoms, hopo_methyl.smiles, hopo_methyl.charge, ONE_L)
    assert not result.passed and "fragment" in result.reason


def test_qc_catches_a_broken_ring(la_complex, hopo_methyl):
    atoms = la_complex.atoms.copy()
    lig = next(f for f in fragments(atoms) if len(f) > 3)
    m = metal_index(atoms)
    # pull the methyl carbon (farthest heavy atom from the metal) 1.5 Å further out: C–C bond broken
    far = max((i for i in lig if atoms[i].symbol == "C"), key=lambda i: atoms.get_distance(m, i))
    v = atoms.positions[far] - atoms.positions[m]
    moving = [i for i in lig if atoms.get_distance(far, i) < 1.2]
    atoms.positions[moving] += 1.5 * v / np.linalg.norm(v)
    result = check_complex(atoms, hopo_methyl.smiles, hopo_methyl.charge, ONE_L)
    assert not result.passed


def test_qc_catches_a_water_leaving_the_first_shell(la_complex, hopo_methyl):
    atoms = la_complex.atoms.copy()
    m = metal_index(atoms)
    water = next(f for f in fragments(atoms) if len(f) == 3)
    o = next(i for i in water if atoms[i].symbol == "O")
    v = atoms.positions[o] - atoms.positions[m]
    atoms.positions[water] += (3.3 - np.linalg.norm(v)) * v / np.linalg.norm(v)
    result = check_complex(atoms, hopo_methyl.smiles, hopo_methyl.charge, ONE_L)
    assert not result.passed and "moved away" in result.reason


def test_qc_catches_a_proton_moved_from_the_c3_group_onto_a_catecholate_donor():
    # xTB does this to some CAM complexes with acidic C3 groups; the standard InChIKey cannot see it
    from core.storage.extxyz import read_frames
    from tests.conftest import DATA

    cam_oh = next(a for a in read_frames(DATA / "reescreen-gfn2xtb-train-000.extxyz.gz")
                  if a.info["scaffold"] == "CAM" and a.info["substituent"] == "hydroxyl" and a.info["type"] == "1L6W")
    ctype, smiles = COORDINATION_TYPES["1L6W"], cam_oh.info["ligand"]
    assert check_complex(cam_oh, smiles, -2, ctype).passed
    atoms = cam_oh.copy()
    lig = next(f for f in fragments(atoms) if len(f) > 3)
    acid_h = next(i for i in lig if atoms[i].symbol == "H"
                  and min(atoms.get_distance(i, j) for j in lig if atoms[j].symbol == "O") < 1.1)
    donors = [i for i in coordinating_atoms(atoms, lig) if atoms[i].symbol == "O"]
    near = min(donors, key=lambda i: atoms.get_distance(i, acid_h))  # the phenolate O next to C3
    m = metal_index(atoms)
    away = atoms.positions[near] - atoms.positions[m]
    atoms.positions[acid_h] = atoms.positions[near] + 0.97 * away / np.linalg.norm(away)
    result = check_complex(atoms, smiles, -2, ctype)
    assert not result.passed and "proton moved" in result.reason and "heavy-atom skeleton" in result.reason


def test_a_free_ligand_whose_bonds_rdkit_reads_as_another_resonance_form_is_kept():
    """xTB's CAM-4-n-propyl dianion: no atom moves, but RDKit assigns its bonds as an amide-enolate quinone,
    whose InChIKey (fixed-H and standard) is another molecule's; the graph check keeps it."""
    from rdkit import Chem

    from core.chemistry.ligands import make_ligand
    from core.chemistry.qc import ligand_change, mol_from_atoms
    from core.pipeline.tasks import compute_ligand_reference

    ligand = make_ligand("CCCc1cc([O-])c([O-])c(C(=O)NC)c1")
    free = compute_ligand_reference(ligand, FAST.with_changes(ligand_conformers=1))
    assert free.status == OK, free.reason
    perceived = mol_from_atoms(free.atoms, ligand.charge)
    assert Chem.MolToInchiKey(perceived) != Chem.MolToInchiKey(Chem.MolFromSmiles(ligand.smiles))  # the old check
    assert ligand_change(free.atoms, ligand.smiles) == ""
    moved = free.atoms.copy()  # a ring C-H hydrogen put on a phenolate O: a real change is still caught
    symbols = moved.get_chemical_symbols()
    ring_h = next(i for i, s in enumerate(symbols) if s == "H" and any(
        symbols[j] == "C" and moved.get_distance(i, j) < 1.15 and
        sum(symbols[k] == "H" and moved.get_distance(j, k) < 1.15 for k in range(len(moved))) == 1
        for j in range(len(moved))))
    oxygen = next(j for j, s in enumerate(symbols) if s == "O" and not any(
        symbols[k] == "C" and moved.get_distance(j, k) < 1.3 and
        any(symbols[n] == "N" and moved.get_distance(k, n) < 1.45 for n in range(len(moved)))
        for k in range(len(moved))))
    moved.positions[ring_h] = moved.positions[oxygen] + [0.0, 0.0, 0.97]
    assert "proton moved" in ligand_change(moved, ligand.smiles, "free ligand")


def test_binding_energy_arithmetic_against_independent_calculation():
    assert binding_energy(-100.0, 20.0, [-30.0, -30.0, -5.0]) == pytest.approx(-55.0)
    assert complex_binding_energy(-100.0, 20.0, -30.0, 2, -5.0, 1) == pytest.approx(-55.0)
    assert exchange_energy(-1200.0, -1150.0) == pytest.approx(-50.0)


def test_stored_binding_energies_match_the_stored_references(small_screen, hopo_methyl):
    store = Store(small_screen[0])
    rows = {(r.kind, r.metal, r.ctype): r for r in store.rows(settings_hash=FAST.fingerprint())
            if r.kind != "template" and r.get("ligand") in ("", hopo_methyl.smiles)}
    water = rows[("water", "", "")].energy_kcal
    ligand = rows[("ligand", "", "")].energy_kcal
    for metal in ("La", "Lu"):
        ion = rows[("ion", metal, "")].energy_kcal
        cplx = rows[("complex", metal, "1L6W")]
        aqua = rows[("complex", metal, "8W")]
        by_hand = cplx.energy_kcal - ion - ligand - 6 * water
        assert cplx.e_bind_kcal == pytest.approx(by_hand, abs=1e-6)
        aqua_by_hand = aqua.energy_kcal - ion - 8 * water
        assert cplx.e_exchange_kcal == pytest.approx(by_hand - aqua_by_hand, abs=1e-6)
        # at this level E_bind is large and negative; the exchange energy is small
        assert -1500 < cplx.e_bind_kcal < -900 and -60 < cplx.e_exchange_kcal < 30


def test_every_stored_energy_carries_level_of_theory_and_units(small_screen):
    for row in Store(small_screen[0]).rows():
        assert row.level_of_theory == DEFAULT_LEVEL.name and row.units == "kcal/mol"


def test_lanthanide_ions_run_closed_shell_with_4f_in_core():
    for metal in ("Gd", "Lu", "Y"):
        rec = compute_ion_reference(metal, FAST)
        assert rec.status == OK and np.isfinite(rec.energy) and rec.charge == 3


def test_unconverged_scf_is_retried_then_recorded_with_its_reason():
    rec = compute_water_reference(FAST.with_changes(scf_max_iterations=1))
    assert rec.status == FAILED
    assert "300 K" in rec.reason and "1000 K" in rec.reason and "SCF" in rec.reason


def test_water_reference_is_a_bent_molecule():
    rec = compute_water_reference(FAST)
    assert rec.status == OK
    assert 100 < rec.atoms.get_angle(1, 0, 2) < 112 and isinstance(rec.atoms, Atoms)


def test_swap_starts_from_the_best_available_structure():
    from core.pipeline.tasks import choose_swap_start
    from core.storage.records import QC_FAILED, Record

    atoms = Atoms("La")
    prev_ok = Record("complex", metal="Nd", atoms=atoms)
    prev_qc = Record("complex", metal="Nd", atoms=atoms, status=QC_FAILED)
    la_ok = Record("complex", metal="La", atoms=atoms)
    la_qc = Record("complex", metal="La", atoms=atoms, status=QC_FAILED)
    failed = Record("complex", metal="Nd", status=FAILED)
    template = Record("template", metal="La", atoms=atoms)
    assert choose_swap_start(prev_ok, la_ok, [template]) is prev_ok
    assert choose_swap_start(prev_qc, la_ok, [template]) is la_ok
    assert choose_swap_start(prev_qc, la_qc, [template]) is prev_qc
    assert choose_swap_start(failed, la_qc, [template]) is la_qc
    assert choose_swap_start(failed, Record("complex", status=FAILED), [template]) is template
    assert choose_swap_start(failed, Record("complex", status=FAILED), []) is None


def test_architector_stopped_at_its_time_limit_is_stored_with_its_reason_and_nothing_else_is_lost(
        small_store_copy, client, hopo_methyl):
    """A real Architector run that hits the template time limit: its complexes are stored as failures with
    the reason, the stored 1 L + 6 H2O results keep their rows, and a rerun computes nothing twice."""
    from core.pipeline.runner import run_screen
    from core.pipeline.settings import FAST
    from core.storage.store import Store

    store = Store(small_store_copy)
    before = {r.metal: r.id for r in store.db.select(kind="complex", ctype="1L6W", ligand=hopo_methyl.smiles)}
    impatient = FAST.with_changes(template_timeout_s=1.0, route="architector")
    assert impatient.fingerprint() == FAST.fingerprint()  # a time limit does not change results
    summary = run_screen(hopo_methyl, store, client, impatient, ["La", "Lu"], ["1L6W", "2L4W"])
    assert summary.cached == 2 and not summary.errors
    df = results_frame(store, [hopo_methyl.smiles])
    failed = df[df["type"] == "2L4W"]
    assert len(failed) == 2 and (failed["status"] == "failed").all()
    assert failed["reason"].str.contains("did not finish the La 2L4W template within 1 s").all()
    assert {r.metal: r.id for r in store.db.select(kind="complex", ctype="1L6W", ligand=hopo_methyl.smiles)} == before
    again = run_screen(hopo_methyl, store, client, FAST, ["La", "Lu"], ["1L6W", "2L4W"])
    assert again.computed == 0 and again.cached == 4
