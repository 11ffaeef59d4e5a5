"""Names of pasted and drawn ligands: a ligand that is a library scaffold with other groups on its ring is
named like the library (``HOPO-isopropyl``; ``HOPO-4-methyl`` for a group elsewhere on the ring;
``HOPO-3-methyl-4-chloro`` for two groups), so it sits beside the library ligands in every ranking.

The match is RDKit's substructure search of :mod:`core.chemistry.grafting` (the scaffold's ring core, its
binding form and side chain, any groups on ring carbons that carry H in the scaffold).  Groups are named
from the substituent library, then from :data:`COMMON_GROUPS`, then from the group library
(``data/groups/library.csv``), else written as their SMILES in brackets.
"""
from __future__ import annotations

from functools import lru_cache

from rdkit import Chem

from core.chemistry.grafting import group_atoms, plan_graft, ring_position_names
from core.chemistry.groups import HYDROGEN, library_groups
from core.chemistry.ligands import SUBSTITUENTS

#: Frequent ring substituents outside the screening library: name -> SMILES from the ring-bonded atom.
COMMON_GROUPS: dict[str, str] = {
    "propyl": "CCC", "isopropyl": "C(C)C", "butyl": "CCCC", "isobutyl": "CC(C)C", "sec-butyl": "C(C)CC",
    "tert-butyl": "C(C)(C)C", "cyclopropyl": "C1CC1", "cyclohexyl": "C1CCCCC1", "vinyl": "C=C",
    "ethynyl": "C#C", "benzyl": "Cc1ccccc1", "ethoxy": "OCC", "isopropoxy": "OC(C)C", "phenoxy": "Oc1ccccc1",
    "bromo": "Br", "iodo": "I", "nitro": "[N+](=O)[O-]", "methylamino": "NC", "acetamido": "NC(C)=O",
    "difluoromethyl": "C(F)F", "methylsulfonyl": "S(C)(=O)=O", "sulfonic acid": "S(=O)(=O)O",
    "trifluoromethoxy": "OC(F)(F)F", "4-pyridyl": "c1ccncc1", "2-thienyl": "c1cccs1",
}


def _group_key(smiles_from_attachment: str) -> str:
    """Canonical SMILES of a group written with a ``*`` on the ring-bonded atom."""
    return Chem.MolToSmiles(Chem.MolFromSmiles("*" + smiles_from_attachment))


@lru_cache(maxsize=1)
def _known_groups() -> dict[str, str]:
    names = {g.smiles: g.name for g in library_groups() if g.smiles != HYDROGEN}
    names.update({_group_key(s): n for n, s in COMMON_GROUPS.items()})
    names.update({_group_key(s): n for n, s in SUBSTITUENTS.items() if s != "[H]"})  # the library wins
    return names


def _group_smiles(mol: Chem.Mol, ring_atom: int, first: int) -> str:
    """The group hanging off ``ring_atom`` through ``first``, as canonical SMILES with ``*`` for the ring."""
    members = group_atoms(mol, ring_atom, first)
    rw = Chem.RWMol(mol)
    rw.GetAtomWithIdx(ring_atom).SetAtomicNum(0)
    rw.GetAtomWithIdx(ring_atom).SetFormalCharge(0)
    rw.GetAtomWithIdx(ring_atom).SetIsAromatic(False)
    keep = members | {ring_atom}
    for idx in sorted((a.GetIdx() for a in rw.GetAtoms() if a.GetIdx() not in keep), reverse=True):
        rw.RemoveAtom(idx)
    for bond in rw.GetBonds():
        if bond.GetBeginAtom().GetAtomicNum() == 0 or bond.GetEndAtom().GetAtomicNum() == 0:
            bond.SetBondType(Chem.BondType.SINGLE)
            bond.SetIsAromatic(False)
    return Chem.MolToSmiles(Chem.RemoveHs(rw.GetMol(), sanitize=False))


def group_name(group_smiles: str) -> str:
    """A group's name (see the module docstring); ``group_smiles`` carries ``*`` for the ring atom."""
    key = Chem.MolToSmiles(Chem.MolFromSmiles(group_smiles)) if Chem.MolFromSmiles(group_smiles) else group_smiles
    return _known_groups().get(key) or f"[{group_smiles.replace('*', '', 1).strip('()') or group_smiles}]"


@lru_cache(maxsize=4096)
def recognise(smiles: str) -> tuple[str, str] | None:
    """(scaffold, substituent name) of a ligand built on a library scaffold, or None.

    The substituent name is the library's when the only change is one group at C3 (``hydrogen`` when there is
    none); groups elsewhere, or several, carry their ring position (``4-methyl``, ``3-methyl-4-chloro``).
    """
    plan = plan_graft(smiles)
    if plan is None:
        return None
    if not plan.attachments:
        return plan.scaffold, "hydrogen"
    groups = sorted(((pos, group_name(_group_smiles(plan.ligand, ring, first)))
                     for pos, (_, ring, first) in zip(_positions(plan), plan.attachments)),
                    key=lambda g: int(g[0][1:]))
    if len(groups) == 1 and groups[0][0] == "C3":
        return plan.scaffold, groups[0][1]
    if len(groups) > 1 and len({name for _, name in groups}) == 1:  # the same group twice or more: 3,4-dimethyl
        prefix = {2: "di", 3: "tri"}.get(len(groups), f"{len(groups)}×")
        return plan.scaffold, f"{','.join(pos[1:] for pos, _ in groups)}-{prefix}{_enclosed(groups[0][1])}"
    return plan.scaffold, "-".join(f"{pos[1:]}-{_enclosed(name)}" for pos, name in groups)


def _enclosed(name: str) -> str:
    """A compound group name in parentheses after a locant, as IUPAC writes it: ``4-(4-fluorophenyl)``."""
    return f"({name})" if any(ch in name for ch in "-, ()") or any(ch.isdigit() for ch in name) else name


def _positions(plan) -> list[str]:
    """Ring position of each attachment, in the order of ``plan.attachments``."""
    names = ring_position_names(plan.scaffold)
    ref_of = {lig: ref for ref, lig in plan.kept}
    return [names[ref_of[ring]] for _, ring, _ in plan.attachments]
