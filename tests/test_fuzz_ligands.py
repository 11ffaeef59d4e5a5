"""Property-based fuzzing of ligand input: every input ends in a Ligand or a clear LigandError."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdkit import Chem, RDLogger

from core.chemistry.ligands import Ligand, LigandError, library, make_ligand

SMILES_ALPHABET = "CNOSPFIclnosBrH[]()=#+-@/\\.%0123456789*:~"
LIBRARY = [lig.smiles for lig in library()]
SEEN = {"n": 0}


def _outcome(text: str) -> None:
    SEEN["n"] += 1
    try:
        lig = make_ligand(text)
    except LigandError as exc:
        assert str(exc)  # a message a chemist can read
        return
    assert isinstance(lig, Ligand) and lig.charge < 0 and len(set(lig.donors)) == 2


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(alphabet=SMILES_ALPHABET, max_size=80), st.text(max_size=40)))
def test_generated_strings_never_raise_an_unhandled_error(text):
    _outcome(text)


@st.composite
def mutated_molecules(draw):
    """A library ligand with random element swaps, charge changes, deleted atoms and added bonds."""
    RDLogger.DisableLog("rdApp.*")
    mol = Chem.RWMol(Chem.MolFromSmiles(draw(st.sampled_from(LIBRARY))))
    for _ in range(draw(st.integers(1, 4))):
        n = mol.GetNumAtoms()
        if n < 2:
            break
        i = draw(st.integers(0, n - 1))
        action = draw(st.sampled_from(["element", "charge", "delete", "bond", "radical"]))
        if action == "element":
            mol.GetAtomWithIdx(i).SetAtomicNum(draw(st.sampled_from([5, 6, 7, 8, 9, 14, 15, 16, 17, 26, 57])))
        elif action == "charge":
            mol.GetAtomWithIdx(i).SetFormalCharge(draw(st.integers(-2, 2)))
        elif action == "delete":
            mol.RemoveAtom(i)
        elif action == "radical":
            mol.GetAtomWithIdx(i).SetNumRadicalElectrons(1)
        else:
            j = draw(st.integers(0, n - 1))
            if i != j and mol.GetBondBetweenAtoms(i, j) is None:
                mol.AddBond(i, j, Chem.BondType.SINGLE)
    mol.UpdatePropertyCache(strict=False)  # write mutants as they are, valence errors included
    return Chem.MolToSmiles(mol, canonical=False)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_molecules())
def test_rdkit_mutated_ligands_never_raise_an_unhandled_error(smiles):
    _outcome(smiles)


def test_fuzzing_tried_at_least_a_thousand_inputs():
    # runs after the two property tests in this module (pytest keeps file order)
    assert SEEN["n"] >= 1000
