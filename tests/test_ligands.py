"""Ligand library, donor detection and bad input."""
import pytest
from rdkit import Chem

from core.chemistry.ligands import (MAX_HEAVY_ATOMS, SCAFFOLDS, SUBSTITUENTS, LigandError, candidate_donor_pairs,
                          canonical_smiles, deprotonate_chelating_groups,
                          library, library_ligand, make_ligand, scaffold_of)

PAPER_GROUPS = ["methyl", "hydroxyl", "amino", "thiol", "fluoro", "chloro", "aldehyde", "carboxylic acid",
                "ester", "phosphonate", "2-methylbenzoic acid", "2-hydroxypyridine"]


def _donor_symbols(lig):
    mol = Chem.MolFromSmiles(lig.smiles)
    return sorted((mol.GetAtomWithIdx(i).GetSymbol(), mol.GetAtomWithIdx(i).GetFormalCharge()) for i in lig.donors)


def test_library_has_twenty_neutral_substituents_including_every_paper_group():
    assert len(SUBSTITUENTS) >= 20
    assert set(PAPER_GROUPS) <= set(SUBSTITUENTS)
    for name, smi in SUBSTITUENTS.items():
        assert Chem.GetFormalCharge(Chem.MolFromSmiles("[*]" + smi)) == 0, name


def test_scaffolds_include_hopo_cam_thio_analogues_and_hdev():
    assert set(SCAFFOLDS) == {"HOPO", "CAM", "thio-HOPO", "thio-CAM", "HDEV"}


@pytest.mark.parametrize("scaffold,charge", [("HOPO", -1), ("thio-HOPO", -1), ("HDEV", -1), ("CAM", -2),
                                             ("thio-CAM", -2)])
def test_every_library_ligand_has_one_donor_pair_and_the_scaffold_charge(scaffold, charge):
    for name in SUBSTITUENTS:
        lig = library_ligand(scaffold, name)
        assert lig.charge == charge, lig.name
        assert Chem.MolToSmiles(Chem.MolFromSmiles(lig.smiles)) == lig.smiles  # canonical
        assert len(lig.donors) == 2


def test_hopo_binds_through_n_oxide_and_carbonyl_oxygen():
    lig = library_ligand("HOPO", "methyl")
    assert lig.smiles == "CNC(=O)c1ccc(C)c(=O)n1[O-]"
    assert lig.donors == (10, 12)
    mol = Chem.MolFromSmiles(lig.smiles)
    n_oxide = mol.GetAtomWithIdx(12)
    assert n_oxide.GetFormalCharge() == -1 and n_oxide.GetNeighbors()[0].GetSymbol() == "N"
    assert mol.GetAtomWithIdx(10).GetFormalCharge() == 0  # the ring C=O, not the amide


def test_cam_binds_through_both_phenolates_and_thio_cam_through_s_and_o():
    assert _donor_symbols(library_ligand("CAM", "fluoro")) == [("O", -1), ("O", -1)]
    assert _donor_symbols(library_ligand("thio-CAM", "fluoro")) == [("O", -1), ("S", -1)]
    assert _donor_symbols(library_ligand("thio-HOPO", "fluoro")) == [("O", -1), ("S", 0)]


def test_substituent_sits_on_c3_next_to_the_ring_carbonyl():
    mol = Chem.MolFromSmiles(library_ligand("HOPO", "chloro").smiles)
    cl = next(a for a in mol.GetAtoms() if a.GetSymbol() == "Cl")
    c3 = cl.GetNeighbors()[0]
    assert any(n.GetSymbol() == "C" and any(b.GetBondType() == Chem.BondType.DOUBLE and
                                            b.GetOtherAtom(n).GetSymbol() == "O" for b in n.GetBonds())
               for n in c3.GetNeighbors())


def test_library_covers_every_scaffold_substituent_pair():
    assert len(library()) == len(SCAFFOLDS) * len(SUBSTITUENTS)


@pytest.mark.parametrize("smiles,symbols", [
    ("[O-]c1cccc2cccnc12", [("N", 0), ("O", -1)]),           # 8-hydroxyquinolinate (neutral N donor)
    ("CC(=O)N(C)[O-]", [("O", -1), ("O", 0)]),               # hydroxamate
    ("Cc1occc(=O)c1[O-]", [("O", -1), ("O", 0)]),            # maltolate
    ("CC(=O)C=C(C)[O-]", [("O", -1), ("O", 0)]),             # acac (6-ring chelate)
    ("[O-]c1ccccc1[O-]", [("O", -1), ("O", -1)]),            # catecholate
    ("O=C([O-])c1ccccn1", [("N", 0), ("O", -1)]),            # picolinate
])
def test_drawn_ligands_get_the_chemically_expected_donor_pair(smiles, symbols):
    assert _donor_symbols(make_ligand(smiles)) == symbols


def test_five_ring_chelate_preferred_over_amide_six_ring():
    pairs = candidate_donor_pairs(Chem.MolFromSmiles(library_ligand("HOPO", "methyl").smiles))
    assert [p.ring_size for p in pairs][:1] == [5] and 6 in [p.ring_size for p in pairs]


def test_two_different_chelating_sites_are_reported_as_ambiguous():
    with pytest.raises(LigandError, match="Several equally good donor pairs"):
        make_ligand("Cc1c(Cc2ccc([O-])c([O-])c2)ccc([O-])c1[O-]")


def test_ambiguous_ligand_is_accepted_with_a_pair_given_by_hand():
    smiles = Chem.MolToSmiles(Chem.MolFromSmiles("Cc1c(Cc2ccc([O-])c([O-])c2)ccc([O-])c1[O-]"))
    pair = candidate_donor_pairs(Chem.MolFromSmiles(smiles))[0].atoms
    lig = make_ligand(smiles, donors=pair)
    assert lig.donors == pair and lig.charge == -4


@pytest.mark.parametrize("smiles,message", [
    ("", "Empty SMILES"),
    ("C1CC(", "Invalid SMILES"),
    ("c1ccccc1O", "No anionic donor"),                       # drawn protonated
    ("[O-]c1ccc([O-])cc1", "No bidentate donor pair"),      # para: no chelate ring
    ("[CH2]C(=O)[O-]", "radical"),
    ("CCO.[O-]c1ccccc1[O-]", "disconnected"),
    ("CC(=O)[O-][Eu]", "Eu"),
    ("[NH3+]c1ccccc1", "No anionic donor"),
    ("O=C1C=CC(=O)C=C1", "No anionic donor"),               # quinone: neutral
])
def test_bad_input_gets_a_message_that_says_what_is_wrong(smiles, message):
    with pytest.raises(LigandError, match=message):
        make_ligand(smiles)


def test_ligand_above_the_size_limit_is_refused():
    big = "[O-]c1ccccc1[O-]".replace("ccccc1", "cc(" + "C" * (MAX_HEAVY_ATOMS) + ")ccc1")
    with pytest.raises(LigandError, match="limit is 120"):
        make_ligand(big)


def test_cationic_ligand_is_refused():
    with pytest.raises(LigandError, match=r"net charge is \+1"):
        make_ligand("C[N+](C)(C)c1ccc(O)c(O)c1", donors=(8, 10))


def test_zwitterion_is_refused_as_a_zwitterion_not_as_charge_plus_zero():
    with pytest.raises(LigandError, match="zwitterion") as refused:
        make_ligand("C[N+](C)(C)c1ccc([O-])c([O-])c1C[N+](C)(C)C", donors=None)
    assert "+0" not in str(refused.value)


@pytest.mark.parametrize("donors,message", [((3, 3), "two different"), ((0, 99), "between 0"),
                                            ((1, 7), "donors must be O, S or N")])
def test_bad_donor_pair_given_by_hand_is_refused(donors, message):
    with pytest.raises(LigandError, match=message):
        make_ligand("[O-]c1ccccc1[O-]", donors=donors)


@pytest.mark.parametrize("text,pair", [("10,12", (10, 12)), ("10;12", (10, 12)), (" 3 7 ", (3, 7)), ("", None),
                                       (None, None)])
def test_donor_pair_text_is_read_in_the_usual_spellings(text, pair):
    from core.chemistry.ligands import parse_donor_pair

    assert parse_donor_pair(text) == pair


@pytest.mark.parametrize("text", ["10", "a,b", "1,2,3", "-1,2"])
def test_donor_pair_text_that_is_not_two_indices_is_refused(text):
    from core.chemistry.ligands import parse_donor_pair

    with pytest.raises(LigandError, match="two atom indices"):
        parse_donor_pair(text)


@pytest.mark.parametrize("drawn,scaffold,substituent", [
    ("CNC(=O)c1ccc(C)c(=O)n1O", "HOPO", "methyl"),
    ("CNC(=O)c1ccc(C(=O)O)c(O)c1O", "CAM", "carboxylic acid"),
    ("CNC(=O)c1ccc(C)c(S)c1O", "thio-CAM", "methyl"),
    ("CNC(=O)c1ccc(C)n(O)c1=O", "HDEV", "methyl"),
])
def test_ligand_drawn_neutral_gets_the_library_binding_form(drawn, scaffold, substituent):
    assert deprotonate_chelating_groups(drawn) == library_ligand(scaffold, substituent).smiles


def test_ligand_drawn_with_charges_is_left_as_drawn():
    assert deprotonate_chelating_groups("CNC(=O)c1ccc(C)c(O)c1[O-]") == canonical_smiles("CNC(=O)c1ccc(C)c(O)c1[O-]")


def test_every_library_ligand_is_recognised_as_its_own_scaffold():
    assert all(scaffold_of(lig.smiles) == lig.scaffold for lig in library())


@pytest.mark.parametrize("smiles, scaffold", [
    ("CNC(=O)c1ccc(C(C)(C)C)c(=O)n1[O-]", "HOPO"),        # a C3 group outside the library: same scaffold
    ("CNC(=O)c1ccc(Br)c([O-])c1[O-]", "CAM"),
    ("CNC(=O)c1ccc(Cl)n([O-])c1=O", "HDEV"),               # the positional isomer is a scaffold of its own
    ("CNC(=O)c1cc(C)c(Cl)c(=O)n1[O-]", None),              # a second ring substituent (C4)
    ("CCNC(=O)c1ccc(Cl)c(=O)n1[O-]", None),                # N-ethyl instead of N-methyl amide
    ("CNC(=O)c1ccc(Cl)c(=O)n1O", None),                    # not the binding form
    ("[O-]c1ccccc1[O-]", None),                            # plain catecholate
])
def test_drawn_ligand_is_placed_on_a_scaffold_only_when_just_c3_changed(smiles, scaffold):
    assert scaffold_of(smiles) == scaffold
