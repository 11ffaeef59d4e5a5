"""Quality control: the optimised complex must still hold the ligands it was built from.

Each ligand (and water) is cut out of the complex, its bonds are rebuilt from the geometry with its
known charge (RDKit ``DetermineBonds``) and its InChIKey is compared with the free ligand's.  A moved
proton, a broken ring or a water that handed a proton to a ligand changes a key.  Every ligand must
also still touch the metal with two donors (water with one): a water drifting to the second shell
keeps its InChIKey but is no longer part of the complex.

The keys are fixed-H (non-standard) InChIKeys.  The standard key puts the mobile protons and charges of
a tautomeric group in one layer, so it cannot tell a CAM catecholate with a C3 acid from the protomer
where the acid's proton has moved onto the donor oxygen (carboxylate + phenol), which the optimisation produces for
some complexes.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ase import Atoms
from rdkit import Chem, RDLogger
from rdkit.Chem import rdDetermineBonds

from core.chemistry.complexes import CoordinationType
from core.chemistry.constants import WATER_SMILES
from core.chemistry.geometry import coordinating_atoms, fragments


#: Bumped when the check becomes stricter; stored complexes checked by an older version are re-checked.
QC_VERSION = 2
_INCHI_OPTIONS = "/FixedH"


@dataclass(frozen=True)
class QCResult:
    """``passed`` with an empty ``reason``, or not passed with a reason a chemist can read."""

    passed: bool
    reason: str = ""


def inchikey_from_smiles(smiles: str, fixed_h: bool = True) -> str:
    """InChIKey of a SMILES (charges kept); fixed-H unless ``fixed_h`` is False (then protomers share a key)."""
    return Chem.MolToInchiKey(Chem.MolFromSmiles(smiles), options=_INCHI_OPTIONS if fixed_h else "")


def mol_from_atoms(atoms: Atoms, charge: int) -> Chem.Mol:
    """An RDKit molecule from elements and coordinates, bonds and charges assigned for total ``charge``
    (raises when RDKit cannot assign them)."""
    xyz = f"{len(atoms)}\n\n" + "\n".join(
        f"{s} {x:.6f} {y:.6f} {z:.6f}" for s, (x, y, z) in zip(atoms.get_chemical_symbols(), atoms.positions))
    RDLogger.DisableLog("rdApp.*")
    try:
        mol = Chem.MolFromXYZBlock(xyz)
        rdDetermineBonds.DetermineBonds(mol, charge=int(charge))
        return mol
    finally:
        RDLogger.EnableLog("rdApp.*")


def inchikey_from_atoms(atoms: Atoms, charge: int, fixed_h: bool = True) -> str:
    """InChIKey of a molecule given only as elements and coordinates, with total ``charge`` (fixed-H unless
    ``fixed_h`` is False)."""
    return Chem.MolToInchiKey(mol_from_atoms(atoms, charge), options=_INCHI_OPTIONS if fixed_h else "")


def _changed_reason(role: str, frag: Atoms, charge: int, smiles: str, key: str) -> str:
    """Why a fragment's key differs: a moved proton (same standard key, another protomer) or new bonds."""
    want = inchikey_from_smiles(smiles)
    if inchikey_from_atoms(frag, charge, fixed_h=False) == inchikey_from_smiles(smiles, fixed_h=False):
        return (f"a proton moved within a {role} (same skeleton, another protomer, e.g. an acid's proton on a "
                f"donor O; fixed-H InChIKey {key} ≠ {want})")
    return f"{role} changed connectivity (InChIKey {key} ≠ {want})"


def _formula(atoms: Atoms) -> str:
    return atoms.get_chemical_formula(mode="hill")


def check_complex(atoms: Atoms, ligand_smiles: str | None, ligand_charge: int,
                  ctype: CoordinationType) -> QCResult:
    """Check that the optimised ``atoms`` still contain ``ctype``'s ligands and waters, all bound."""
    expected = {_formula_of_smiles(WATER_SMILES): ("water", WATER_SMILES, 0, ctype.n_waters, 1)}
    if ctype.n_ligands:
        expected[_formula_of_smiles(ligand_smiles)] = ("ligand", ligand_smiles, ligand_charge, ctype.n_ligands, 2)

    found: Counter = Counter()
    for members in fragments(atoms):
        frag = atoms[members]
        formula = _formula(frag)
        if formula not in expected:
            return QCResult(False, f"unexpected fragment {formula}: a bond was broken or a proton moved")
        role, smiles, charge, _, n_donors = expected[formula]
        try:
            key = inchikey_from_atoms(frag, charge)
        except Exception as exc:  # RDKit cannot assign bonds: the fragment is not a sane molecule
            return QCResult(False, f"{role} {formula}: bonds could not be assigned ({type(exc).__name__})")
        if key != inchikey_from_smiles(smiles):
            return QCResult(False, _changed_reason(role, frag, charge, smiles, key))
        bound = len(coordinating_atoms(atoms, members))
        if bound < n_donors:
            return QCResult(False, f"a {role} is bound through {bound} of its {n_donors} donor atom(s) "
                                   "(moved away from the metal)")
        found[formula] += 1
    for formula, (role, _, _, count, _) in expected.items():
        if found[formula] != count:
            return QCResult(False, f"found {found[formula]} {role}(s), expected {count}")
    return QCResult(True)


def _formula_of_smiles(smiles: str) -> str:
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    return _formula(Atoms([a.GetSymbol() for a in mol.GetAtoms()]))
