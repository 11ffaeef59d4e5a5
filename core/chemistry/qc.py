"""Quality control: the optimised complex must still hold the ligands it was built from.

Each ligand (and water) is cut out of the complex, its bonds are read from the geometry (RDKit
``DetermineConnectivity``) and its molecular graph, every hydrogen an atom, is compared with the free
ligand's.  A moved proton, a broken ring or a water that handed a proton to a ligand changes the graph.
Every ligand must also still touch the metal with two donors (water with one): a water drifting to the
second shell keeps its graph but is no longer part of the complex.

The graph leaves out bond orders and charges.  The protocol's InChIKey check needs them assigned from
coordinates, and for a delocalised anion RDKit can assign a resonance form whose key is another molecule's:
optimised CAM ligands with 4-alkyl, 4-vinyl or 4-ethynyl groups were read as an amide-enolate quinone
(fixed-H keys differ, standard keys too, since the mobile-H layer follows the assigned bonds), and every one
of their complexes and their free ligand were rejected though no atom had moved (256 of the first 320
InChIKey rejections of the group grid, and the 4L complexes of HDEV-thiol and HDEV-methylthio).  What the
InChIKey was there to catch, a bond made or broken or a proton on another atom, is exactly a change of the
graph, which is read without guessing electrons.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from ase import Atoms
from rdkit import Chem, RDLogger
from rdkit.Chem import rdDetermineBonds

from core.chemistry.complexes import CoordinationType
from core.chemistry.constants import WATER_SMILES
from core.chemistry.geometry import coordinating_atoms, fragments


#: Bumped when the check changes; stored results checked by an older version are checked again (version 3:
#: the molecular graph replaced the fixed-H InChIKey, which rejected some unchanged ligands).
QC_VERSION = 3


@dataclass(frozen=True)
class QCResult:
    """``passed`` with an empty ``reason``, or not passed with a reason a chemist can read."""

    passed: bool
    reason: str = ""


def mol_from_atoms(atoms: Atoms, charge: int) -> Chem.Mol:
    """An RDKit molecule from elements and coordinates, bonds and charges assigned for total ``charge``
    (raises when RDKit cannot assign them)."""
    mol = _connected(atoms)
    RDLogger.DisableLog("rdApp.*")
    try:
        rdDetermineBonds.DetermineBondOrders(mol, charge=int(charge))
        return mol
    finally:
        RDLogger.EnableLog("rdApp.*")


def _connected(atoms: Atoms) -> Chem.Mol:
    """An RDKit molecule of ``atoms`` with single bonds where the geometry puts bonds (covalent radii)."""
    xyz = f"{len(atoms)}\n\n" + "\n".join(
        f"{s} {x:.6f} {y:.6f} {z:.6f}" for s, (x, y, z) in zip(atoms.get_chemical_symbols(), atoms.positions))
    RDLogger.DisableLog("rdApp.*")
    try:
        mol = Chem.MolFromXYZBlock(xyz)
        rdDetermineBonds.DetermineConnectivity(mol)
        return mol
    finally:
        RDLogger.EnableLog("rdApp.*")


def molecular_graph(mol: Chem.Mol, hydrogens: bool = True) -> str:
    """Canonical SMILES of ``mol``'s graph alone: each atom's element and the atoms it is bonded to; with
    ``hydrogens`` every hydrogen is an atom of the graph, without them it is the heavy-atom skeleton.  Bond
    orders, charges, aromaticity and stereo are left out (see the module's note)."""
    graph = Chem.RWMol(mol)
    if not hydrogens:
        for index in sorted((a.GetIdx() for a in graph.GetAtoms() if a.GetAtomicNum() == 1), reverse=True):
            graph.RemoveAtom(index)
    for bond in graph.GetBonds():
        bond.SetBondType(Chem.BondType.SINGLE)
        bond.SetIsAromatic(False)
        bond.SetStereo(Chem.BondStereo.STEREONONE)
    for atom in graph.GetAtoms():
        atom.SetFormalCharge(0)
        atom.SetIsAromatic(False)
        atom.SetNoImplicit(True)
        atom.SetNumExplicitHs(0)
        atom.SetNumRadicalElectrons(0)
        atom.SetChiralTag(Chem.ChiralType.CHI_UNSPECIFIED)
    graph.UpdatePropertyCache(strict=False)
    Chem.FastFindRings(graph)
    return Chem.MolToSmiles(graph, isomericSmiles=False)


@lru_cache(maxsize=1024)
def graph_of_smiles(smiles: str, hydrogens: bool = True) -> str:
    """:func:`molecular_graph` of a SMILES, hydrogens added."""
    return molecular_graph(Chem.AddHs(Chem.MolFromSmiles(smiles)), hydrogens)


def graph_of_atoms(atoms: Atoms, hydrogens: bool = True) -> str:
    """:func:`molecular_graph` of a molecule given as elements and coordinates."""
    return molecular_graph(_connected(atoms), hydrogens)


def ligand_change(atoms: Atoms, smiles: str, role: str = "ligand") -> str:
    """Why the molecule ``atoms`` (one fragment: elements and coordinates) is no longer ``smiles``, or ``""``
    when its graph is the same: a proton on another atom (same heavy-atom skeleton) or new or broken bonds."""
    if graph_of_atoms(atoms) == graph_of_smiles(smiles):
        return ""
    if graph_of_atoms(atoms, hydrogens=False) == graph_of_smiles(smiles, hydrogens=False):
        return (f"a proton moved within a {role} (same heavy-atom skeleton, a hydrogen on another atom, e.g. an "
                "acid's proton on a donor O)")
    return f"{role} changed connectivity (bonds between its heavy atoms differ from {smiles})"


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
        role, smiles, _, _, n_donors = expected[formula]
        changed = ligand_change(frag, smiles, role)
        if changed:
            return QCResult(False, changed)
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
