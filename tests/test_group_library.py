"""The bundled group library and users' group lists: named, neutral, unique, diverse, and usable by the screen."""
from __future__ import annotations

import subprocess
import sys

import pytest
from rdkit import Chem

from core.chemistry.groups import (CHECK_SCAFFOLDS, LIBRARY_ELEMENTS, GroupError, attach_group, canonical_group,
                                   check_group_on_scaffold, group_descriptors, library_groups, load_groups,
                                   read_groups)
from core.chemistry.ligands import SUBSTITUENTS, assemble_smiles, make_ligand
from core.chemistry.naming import recognise


def test_library_holds_at_least_200_uniquely_named_neutral_groups():
    groups = library_groups()
    assert len(groups) >= 200
    assert len({g.name for g in groups}) == len(groups)
    assert len({g.smiles for g in groups}) == len(groups)
    for g in groups:
        mol = Chem.MolFromSmiles(g.smiles)
        assert Chem.GetFormalCharge(mol) == 0, g.name
        assert sum(a.GetAtomicNum() == 0 for a in mol.GetAtoms()) == 1, g.name
        assert g.family, g.name


def test_library_contains_every_training_substituent_under_its_name():
    by_name = {g.name: g for g in library_groups()}
    for name, smiles in SUBSTITUENTS.items():
        assert by_name[name].smiles == canonical_group("*" + smiles)
        assert by_name[name].in_training_grid
    assert sum(g.in_training_grid for g in library_groups()) == len(SUBSTITUENTS)


def test_library_spans_size_polarity_hydrogen_bonding_conjugation_and_the_allowed_heteroatoms():
    d = [group_descriptors(g) for g in library_groups()]
    assert set().union(*(x.elements for x in d)) == LIBRARY_ELEMENTS
    assert min(x.heavy_atoms for x in d) == 0 and max(x.heavy_atoms for x in d) >= 12
    assert sum(x.h_bond_donors >= 1 for x in d) >= 40 and sum(x.h_bond_donors == 0 for x in d) >= 100
    assert sum(x.h_bond_acceptors >= 2 for x in d) >= 60
    assert sum(x.aromatic_rings >= 1 for x in d) >= 60
    assert max(x.tpsa for x in d) >= 50


def test_every_library_group_builds_a_valid_ligand_that_the_connectivity_check_recognises():
    refused = []
    for group in library_groups():
        for scaffold in CHECK_SCAFFOLDS:
            try:
                ligand = check_group_on_scaffold(group, scaffold)
            except GroupError as exc:
                refused.append(str(exc))
                continue
            assert ligand.charge == (-1 if scaffold == "HOPO" else -2)
    assert not refused, "\n".join(refused)


def test_training_groups_attach_exactly_as_the_screen_assembles_them():
    for name, smiles in SUBSTITUENTS.items():
        for scaffold in ("HOPO", "thio-CAM"):
            assert attach_group(scaffold, "*" + smiles) == assemble_smiles(scaffold, name)


def test_a_group_at_c4_is_named_by_its_ring_position():
    smiles = attach_group("HOPO", "*c1ccc(F)cc1", "C4")
    assert recognise(smiles) == ("HOPO", "4-(4-fluorophenyl)")
    assert recognise(attach_group("CAM", "*C(C)(C)C", "C5")) == ("CAM", "5-(tert-butyl)")
    assert recognise(attach_group("CAM", "*N1CCOCC1")) == ("CAM", "morpholin-4-yl")
    with pytest.raises(GroupError, match="no free ring carbon 'C6'"):
        attach_group("HOPO", "*C", "C6")


@pytest.mark.parametrize("smiles, reason", [
    ("*[N+](C)(C)C", "net charge \\+1"),
    ("CC", "0 attachment points"),
    ("*CC*", "2 attachment points"),
    ("*C(", "cannot parse"),
    ("*=O", "single bond"),
    ("*C.O", "disconnected"),
    ("*[CH2]", "radical"),
    ("*[Fe]", "contains Fe"),
    ("*" + "C" * 21, "21 heavy atoms"),
])
def test_an_unusable_group_is_refused_with_the_reason(smiles, reason):
    with pytest.raises(GroupError, match=reason):
        canonical_group(smiles)


def test_a_group_the_connectivity_check_cannot_read_is_refused_before_any_complex_is_built():
    from core.chemistry.groups import Group

    # pentafluorosulfanyl: MMFF cannot type hexavalent S, and the S-F bonds of its geometry are not read as bonds
    with pytest.raises(GroupError, match="every complex would be rejected by QC"):
        check_group_on_scaffold(Group("pentafluorosulfanyl", canonical_group("*S(F)(F)(F)(F)F")), "HOPO")


@pytest.mark.parametrize("name, smiles, scaffold", [("1-adamantyl", "*C12CC3CC(CC(C3)C1)C2", "HOPO"),
                                                    ("nitro", "*[N+](=O)[O-]", "CAM"), ("azido", "*N=[N+]=[N-]", "CAM")])
def test_a_group_whose_bonds_rdkit_reads_another_way_is_recognised_by_the_graph_check(name, smiles, scaffold):
    """The fixed-H InChIKey check (QC version 2) refused these: bridgehead stereo read from 3D, a nitro on a
    catecholate rebuilt as N(O-)2 beside a quinone, an azide's charges; their graphs are their SMILES'."""
    from core.chemistry.groups import Group

    assert check_group_on_scaffold(Group(name, canonical_group(smiles)), scaffold).scaffold == scaffold


def test_an_uploaded_group_list_keeps_the_good_rows_and_says_why_each_bad_row_was_refused():
    data = ("name,smiles,family\n"
            "methoxy,*OC,ether\n"
            "charged,*[NH3+],amine\n"
            "\n"
            "no point,CC,\n"
            "same again,CO*,ether\n"
            "cyclobutyl,*C1CCC1,\n").encode()
    groups, refused = read_groups(data)
    assert [g.name for g in groups] == ["methoxy", "cyclobutyl"]
    assert refused[0].startswith("line 3: ") and "net charge +1" in refused[0]
    assert refused[1].startswith("line 5: ") and "0 attachment points" in refused[1]
    assert refused[2].startswith("line 6: ") and "same group as 'methoxy'" in refused[2]
    # a plain list of SMILES works too
    plain, none_refused = read_groups(b"*F\n*Cl\n")
    assert [g.smiles for g in plain] == ["*F", "*Cl"] and not none_refused


def test_a_missing_group_file_is_a_clear_error():
    with pytest.raises(GroupError, match="No group file"):
        load_groups("/nonexistent/groups.csv")


def test_cli_lists_and_checks_a_group_file(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("name,smiles\nethoxy,*OCC\npentafluorosulfanyl,*S(F)(F)(F)(F)F\nbroken,*C(\n")
    run = subprocess.run([sys.executable, "-m", "core.cli", "ligands", "--groups", str(path), "--check"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "refused: line 4: Invalid group SMILES '*C('" in run.stdout
    assert "ethoxy" in run.stdout and "ok" in run.stdout.split("ethoxy", 1)[1].splitlines()[0]
    assert "every complex would be rejected by QC" in run.stdout
    assert "Checked on HOPO, CAM at C3: 1 usable, 1 refused." in run.stdout
    assert make_ligand(attach_group("HOPO", "*OCC")).charge == -1
