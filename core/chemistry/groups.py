"""Substituent groups: the bundled group library (``data/groups/library.csv``) and users' own group lists.

A group is a neutral fragment written as SMILES with one ``*`` for the ring carbon it is bonded to
(``*C(F)(F)F``).  :func:`attach_group` puts it on a scaffold at a ring position (``C3``, ``C4``, ``C5``, named
as in :func:`core.chemistry.grafting.ring_position_names`); :func:`check_group_on_scaffold` is the chemical
check every library group passes on HOPO and CAM: the ligand is valid (one bidentate donor pair, anionic)
and the connectivity check of the screen (the molecular graph of a ligand read from coordinates) recognises
it on a force-field geometry.  A group that fails that check would have every complex rejected by QC, so it
is refused up front with the reason.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ase import Atoms
from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem, Descriptors, Lipinski, rdMolDescriptors

from core.chemistry.grafting import group_atoms, plan_graft, reference_ligand, ring_position_names
from core.chemistry.ligands import SCAFFOLDS, SUBSTITUENTS, LigandError, Ligand, make_ligand
from core.chemistry.qc import ligand_change
from core.chemistry.uploads import UploadError, clean_name, table_rows

#: The bundled library: name, SMILES with ``*``, family.
LIBRARY_PATH = Path(__file__).resolve().parents[2] / "data" / "groups" / "library.csv"
#: Elements a library group may contain (the issue's list); uploaded groups may use any ligand element.
LIBRARY_ELEMENTS = frozenset({"H", "C", "N", "O", "F", "P", "S", "Cl", "Br", "I"})
#: Largest group, in heavy atoms: a 4L complex carries four copies of it next to each other.
MAX_GROUP_HEAVY_ATOMS = 20
#: Scaffolds every library group is checked on (the training scaffolds' oxygen forms).
CHECK_SCAFFOLDS = ("HOPO", "CAM")
#: Hydrogen as a group (canonical form): the scaffold's reference ligand.
HYDROGEN = "*[H]"


class GroupError(ValueError):
    """A group that cannot be used; the message says why."""


@dataclass(frozen=True)
class Group:
    """A named substituent: ``smiles`` is canonical, with ``*`` on the atom bonded to the ring."""

    name: str
    smiles: str
    family: str = ""

    @property
    def in_training_grid(self) -> bool:
        """True for the 23 groups of the bundled model's training grid (:data:`SUBSTITUENTS`)."""
        return SUBSTITUENTS.get(self.name) is not None and \
            canonical_group("*" + SUBSTITUENTS[self.name]) == self.smiles


def canonical_group(smiles: str, elements: frozenset[str] | None = None) -> str:
    """Canonical SMILES of a group with one ``*`` attachment point; :class:`GroupError` says what is wrong.

    The group must be one neutral, closed-shell fragment bonded to the ring by one single bond.
    """
    text = (smiles or "").strip()
    if not text:
        raise GroupError("Empty group SMILES: write the group with * for the ring carbon, e.g. *C(F)(F)F.")
    mol = _quiet_mol(text)
    if mol is None:
        raise GroupError(f"Invalid group SMILES {text!r}: RDKit cannot parse it.")
    stars = [a for a in mol.GetAtoms() if a.GetAtomicNum() == 0]
    if len(stars) != 1:
        raise GroupError(f"The group {text!r} has {len(stars)} attachment points (*); it needs exactly one, "
                         "on the atom bonded to the ring, e.g. *OC for methoxy.")
    star = stars[0]
    if star.GetDegree() != 1 or mol.GetBondBetweenAtoms(star.GetIdx(), star.GetNeighbors()[0].GetIdx()) \
            .GetBondType() != Chem.BondType.SINGLE:
        raise GroupError(f"The * of {text!r} must be bonded to one atom by a single bond.")
    if len(Chem.GetMolFrags(mol)) > 1:
        raise GroupError(f"The group {text!r} holds several disconnected fragments ('.').")
    if Chem.GetFormalCharge(mol) != 0:
        raise GroupError(f"The group {text!r} has net charge {Chem.GetFormalCharge(mol):+d}: groups are neutral "
                         "(the ligand's charge comes from its chelating group).")
    if any(a.GetNumRadicalElectrons() for a in mol.GetAtoms()):
        raise GroupError(f"The group {text!r} is a radical: write a closed-shell group.")
    allowed = elements or LIBRARY_ELEMENTS | {"B", "Si", "Se"}
    bad = sorted({a.GetSymbol() for a in mol.GetAtoms() if a.GetAtomicNum() and a.GetSymbol() not in allowed})
    if bad:
        raise GroupError(f"The group {text!r} contains {', '.join(bad)}; allowed: {', '.join(sorted(allowed))}.")
    heavy = sum(1 for a in mol.GetAtoms() if a.GetAtomicNum() > 1)
    if heavy > MAX_GROUP_HEAVY_ATOMS:
        raise GroupError(f"The group {text!r} has {heavy} heavy atoms; the limit is {MAX_GROUP_HEAVY_ATOMS}.")
    return Chem.MolToSmiles(mol)


def _quiet_mol(smiles: str) -> Chem.Mol | None:
    """RDKit's molecule of ``smiles`` without its log (``*[H]`` makes it warn; a parse error is ours to word)."""
    RDLogger.DisableLog("rdApp.*")
    try:
        return Chem.MolFromSmiles(smiles)
    finally:
        RDLogger.EnableLog("rdApp.*")


def attach_group(scaffold: str, group_smiles: str, position: str = "C3") -> str:
    """Canonical SMILES of ``scaffold``'s reference ligand with ``group_smiles`` at ring carbon ``position``."""
    if scaffold not in SCAFFOLDS:
        raise GroupError(f"Unknown scaffold {scaffold!r}; choose from {', '.join(SCAFFOLDS)}.")
    sites = {name: idx for idx, name in ring_position_names(scaffold).items()}
    if position not in sites:
        raise GroupError(f"{scaffold} has no free ring carbon {position!r}; choose from {', '.join(sites)}.")
    group = canonical_group(group_smiles)
    core = Chem.RWMol(Chem.RemoveHs(reference_ligand(scaffold)))  # heavy atoms keep the reference's indices
    if group == HYDROGEN:
        return Chem.MolToSmiles(core)
    star = core.AddAtom(Chem.Atom(0))
    core.GetAtomWithIdx(star).SetAtomMapNum(1)
    core.AddBond(sites[position], star, Chem.BondType.SINGLE)
    piece = _quiet_mol(group)
    next(a for a in piece.GetAtoms() if a.GetAtomicNum() == 0).SetAtomMapNum(1)
    joined = Chem.molzip(core.GetMol(), piece)
    return Chem.MolToSmiles(Chem.RemoveHs(joined))


@dataclass(frozen=True)
class PlacedGroup:
    """A ligand read as one group on a library scaffold: the scaffold, the ring carbon and the group's canonical
    SMILES (``*`` = that ring carbon; :data:`HYDROGEN` for the scaffold's own reference ligand)."""

    scaffold: str
    position: str
    group: str


def ligand_group(smiles: str) -> PlacedGroup | None:
    """``smiles`` as one group on a library scaffold, or None when it is not one (no library scaffold, or
    groups on more than one ring carbon)."""
    plan = plan_graft(smiles)
    if plan is None or len(plan.attachments) > 1:
        return None
    if not plan.attachments:
        return PlacedGroup(plan.scaffold, "C3", HYDROGEN)
    _, ring, first = plan.attachments[0]
    mol = Chem.RWMol(plan.ligand)
    members = sorted(group_atoms(mol, ring, first))
    star = mol.GetAtomWithIdx(ring)
    star.SetAtomicNum(0)
    star.SetIsAromatic(False)
    star.SetFormalCharge(0)
    star.SetNoImplicit(True)
    star.SetNumExplicitHs(0)
    text = Chem.MolFragmentToSmiles(mol, atomsToUse=[ring] + members, isomericSmiles=True)
    return PlacedGroup(plan.scaffold, plan.positions[0], canonical_group(text))


def check_group_on_scaffold(group: Group, scaffold: str, position: str = "C3", seed: int = 7) -> Ligand:
    """The ligand of ``group`` on ``scaffold``, after checking that the screen's QC can recognise it.

    Raises :class:`GroupError` when the ligand is invalid (:func:`make_ligand`), cannot be embedded in 3D, or
    when its molecular graph read back from an MMFF geometry, exactly as the QC reads ligands cut out of a
    complex, is not the graph of its SMILES (a bond too long or too short for the covalent radii).
    """
    smiles = attach_group(scaffold, group.smiles, position)
    try:
        ligand = make_ligand(smiles, scaffold=scaffold, substituent=group.name)
    except LigandError as exc:
        raise GroupError(f"{group.name} on {scaffold} {position}: {exc}") from None
    mol = Chem.AddHs(Chem.MolFromSmiles(ligand.smiles))
    if AllChem.EmbedMolecule(mol, randomSeed=seed) != 0:
        raise GroupError(f"{group.name} on {scaffold} {position}: RDKit cannot embed the ligand in 3D.")
    AllChem.MMFFOptimizeMolecule(mol)
    atoms = Atoms([a.GetSymbol() for a in mol.GetAtoms()], positions=mol.GetConformer().GetPositions())
    changed = ligand_change(atoms, ligand.smiles)
    if changed:
        raise GroupError(f"{group.name} on {scaffold} {position}: the connectivity check reads the ligand rebuilt "
                         f"from coordinates as another molecule ({changed}); every complex would be rejected "
                         "by QC.")
    return ligand


def read_groups(data: bytes, elements: frozenset[str] | None = None) -> tuple[list[Group], list[str]]:
    """Groups from a table with ``name`` and ``smiles`` columns (optional ``family``), or one SMILES per
    line; returns the groups and one message per refused row (``line N: why``).  Duplicate structures keep
    their first name.  Raises :class:`GroupError` when the file as a whole is unusable."""
    try:
        rows, _, _ = table_rows(data)
    except UploadError as exc:
        raise GroupError(str(exc)) from None
    groups: list[Group] = []
    errors: list[str] = []
    seen: dict[str, str] = {}
    for line, cells in rows:
        text = cells.get("smiles", "")
        try:
            smiles = canonical_group(text, elements)
        except GroupError as exc:
            errors.append(f"line {line}: {exc}")
            continue
        name = clean_name(cells.get("name", "")) or text
        if smiles in seen:
            errors.append(f"line {line}: {name!r} is the same group as {seen[smiles]!r}; kept the first.")
            continue
        seen[smiles] = name
        groups.append(Group(name, smiles, clean_name(cells.get("family", ""))))
    return groups, errors


@lru_cache(maxsize=1)
def library_groups() -> tuple[Group, ...]:
    """The bundled group library, in file order (checked by ``tests/test_group_library.py``)."""
    groups, errors = read_groups(LIBRARY_PATH.read_bytes(), LIBRARY_ELEMENTS)
    if errors:
        raise GroupError(f"{LIBRARY_PATH.name}: " + "; ".join(errors))
    return tuple(groups)


def load_groups(source: str | Path) -> tuple[list[Group], list[str]]:
    """``library`` (the bundled library) or a user's group file: the usable groups and one message per refused
    row; the other rows are kept.  Raises :class:`GroupError` when the file cannot be read at all."""
    if str(source) == "library":
        return list(library_groups()), []
    path = Path(source)
    if not path.is_file():
        raise GroupError(f"No group file {str(path)!r}: give a CSV with name,smiles columns or 'library'.")
    return read_groups(path.read_bytes())


def capped_group(group: Group, cap: str = "[H]") -> Chem.Mol:
    """The group as a molecule, ``cap`` (SMILES of one atom) in place of the ring carbon."""
    return _quiet_mol(group.smiles.replace("*", cap, 1) if group.smiles != HYDROGEN else "[H]" + cap)


@dataclass(frozen=True)
class GroupDescriptors:
    """What makes groups differ: size, polarity, hydrogen bonding, conjugation, elements."""

    heavy_atoms: int
    h_bond_donors: int
    h_bond_acceptors: int
    tpsa: float  # Å², topological polar surface area of the group (attachment excluded)
    aromatic_rings: int
    rotatable_bonds: int
    elements: frozenset[str]


def group_descriptors(group: Group) -> GroupDescriptors:
    """Descriptors of the group with a methyl in place of the ring carbon (so an O-, N- or S-bonded group
    counts no O–H/N–H/S–H donor that it does not have); the methyl is not counted in the size."""
    mol = capped_group(group, "C")
    return GroupDescriptors(
        heavy_atoms=mol.GetNumHeavyAtoms() - 1,
        h_bond_donors=Lipinski.NumHDonors(mol),
        h_bond_acceptors=Lipinski.NumHAcceptors(mol),
        tpsa=round(Descriptors.TPSA(mol), 1),
        aromatic_rings=rdMolDescriptors.CalcNumAromaticRings(mol),
        rotatable_bonds=rdMolDescriptors.CalcNumRotatableBonds(mol),
        elements=frozenset({"H"}) if group.smiles == HYDROGEN else
        frozenset(a.GetSymbol() for a in Chem.AddHs(mol).GetAtoms() if a.GetIdx()),
    )
