"""Grafting: a new ligand built onto a stored complex of its scaffold, without Architector.

A ligand that contains a library scaffold (its ring core, binding form and side chain) and differs from
the scaffold's reference ligand (hydrogen at every ring C–H) only by groups on ring carbons that carry H in
the reference is built from the reference's optimised complex of the same metal and coordination type:
every scaffold atom and every H that stays keeps the template's coordinates; each new group comes from one
RDKit embedding of the new ligand constrained to those coordinates, superimposed on every ligand copy in
the complex; the group is then turned about its attachment bond in ``ROTAMER_STEP_DEG`` steps and the
rotamer farthest from every other atom is kept.  A rotamer counts only if no grafted atom comes closer than
``CLASH_DISTANCE`` to an atom of another ligand, a water or the metal, or to an atom of its own ligand four
or more bonds away; if no rotamer of a group qualifies the graft is refused (:class:`GraftError`) and the
caller builds that complex with Architector instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from ase import Atoms
from rdkit import Chem
from rdkit.Chem import AllChem
from rdkit.Geometry import Point3D
from scipy.spatial.distance import cdist

from core.chemistry.geometry import fragments, metal_index
from core.chemistry.ligands import SCAFFOLDS, assemble_smiles
from core.chemistry.qc import mol_from_atoms

#: Contact distances are compared at this many decimals (Å).  A symmetric group (mesityl, phenoxy) has rotamers
#: and embeddings tied by symmetry; unrounded, the last bits of the linear algebra, which differ between CPUs
#: and BLAS builds, would pick among them, and one group would graft, and rank, differently from machine to
#: machine.  Rounded, a tie goes to the first candidate everywhere.
CONTACT_DECIMALS = 6

#: Closest approach (Å) a grafted atom may make to any atom outside its ligand, or to an atom of its own
#: ligand four or more bonds away.  A C–H···H–C contact at van der Waals distance is ~2.4 Å; below 1.7 Å
#: two atoms overlap and the optimisation would start from a broken structure.
CLASH_DISTANCE = 1.7
#: Rotamers tried about each attachment bond (degrees between them).
ROTAMER_STEP_DEG = 30
#: The scaffold's reference ligand, whose complexes are the templates: hydrogen at the substitution site.
REFERENCE_SUBSTITUENT = "hydrogen"


class GraftError(ValueError):
    """A graft that cannot be made (no rotamer free of clashes, a template that does not match)."""


@dataclass(frozen=True)
class GraftPlan:
    """How a ligand maps onto its scaffold's reference ligand (atom indices include explicit H).

    ``kept`` maps reference-ligand atoms to ligand atoms that take the template's coordinates;
    ``attachments`` lists (reference H replaced, ligand ring atom, ligand first group atom) per group;
    ``positions`` names the substituted ring atoms (``C3``, ``C4``, …, numbered as in the scaffold's ring).
    """

    scaffold: str
    reference_smiles: str
    ligand: Chem.Mol
    kept: tuple[tuple[int, int], ...]
    attachments: tuple[tuple[int, int, int], ...]
    positions: tuple[str, ...]


@lru_cache(maxsize=None)
def reference_ligand(scaffold: str) -> Chem.Mol:
    """The scaffold's reference ligand with explicit H (heavy atoms first, as in its SMILES)."""
    return Chem.AddHs(Chem.MolFromSmiles(assemble_smiles(scaffold, REFERENCE_SUBSTITUENT)))


def ring_position_names(scaffold: str) -> dict[int, str]:
    """Reference-ligand ring carbons that carry H, named C3, C4, C5 walking the ring away from C3 (the
    library's substitution site, next to the donor ring atom) through the C–H carbons."""
    ref = reference_ligand(scaffold)
    with_star = Chem.MolFromSmiles(SCAFFOLDS[scaffold])
    star = next(a for a in with_star.GetAtoms() if a.GetAtomicNum() == 0)
    c3 = star.GetNeighbors()[0].GetIdx()
    c3 -= c3 > star.GetIdx()

    def has_h(idx: int) -> bool:
        return ref.GetAtomWithIdx(idx).GetTotalNumHs(includeNeighbors=True) > 0

    names, previous, current, number = {c3: "C3"}, None, c3, 3
    while True:
        step = [n.GetIdx() for n in ref.GetAtomWithIdx(current).GetNeighbors()
                if n.IsInRing() and n.GetIdx() not in (previous, c3) and n.GetIdx() not in names and has_h(n.GetIdx())]
        if not step:
            return names
        previous, current, number = current, step[0], number + 1
        names[current] = f"C{number}"


def plan_graft(smiles: str) -> GraftPlan | None:
    """How ``smiles`` grafts onto a library scaffold, or None when it contains no scaffold in a graftable way."""
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    lig = Chem.AddHs(mol)
    for scaffold in SCAFFOLDS:
        plan = _plan_on(scaffold, lig)
        if plan is not None:
            return plan
    return None


def _plan_on(scaffold: str, lig: Chem.Mol) -> GraftPlan | None:
    ref = reference_ligand(scaffold)
    core = Chem.RemoveHs(ref)
    names = ring_position_names(scaffold)
    for match in lig.GetSubstructMatches(core, uniquify=False, maxMatches=50):
        plan = _plan_for_match(scaffold, ref, lig, match, names)
        if plan is not None:
            return plan
    return None


def _plan_for_match(scaffold, ref, lig, match, names) -> GraftPlan | None:
    matched = set(match)
    kept: list[tuple[int, int]] = []
    attachments: list[tuple[int, int, int]] = []
    positions: list[str] = []
    for ref_idx, lig_idx in enumerate(match):
        ra, la = ref.GetAtomWithIdx(ref_idx), lig.GetAtomWithIdx(lig_idx)
        if ra.GetFormalCharge() != la.GetFormalCharge():
            return None
        ref_h = [n.GetIdx() for n in ra.GetNeighbors() if n.GetAtomicNum() == 1]
        lig_h = [n.GetIdx() for n in la.GetNeighbors() if n.GetAtomicNum() == 1]
        groups = [n.GetIdx() for n in la.GetNeighbors() if n.GetAtomicNum() > 1 and n.GetIdx() not in matched]
        if len(lig_h) + len(groups) != len(ref_h) or (groups and ref_idx not in names):
            return None
        kept.append((ref_idx, lig_idx))
        kept += list(zip(ref_h, lig_h))
        for replaced, first in zip(ref_h[len(lig_h):], groups):
            attachments.append((replaced, lig_idx, first))
            positions.append(names[ref_idx])
    # every atom outside the scaffold must hang off one of those attachments, each group on its own
    grouped = set()
    for _, ring_atom, first in attachments:
        members = group_atoms(lig, ring_atom, first)
        if members & grouped or members & matched:
            return None
        grouped |= members
    if len(matched) + len(grouped) + sum(1 for r, l in kept if l not in matched) != lig.GetNumAtoms():
        return None
    return GraftPlan(scaffold, Chem.MolToSmiles(Chem.RemoveHs(ref)), lig, tuple(kept), tuple(attachments),
                     tuple(sorted(positions, key=lambda p: int(p[1:]))))


def group_atoms(mol: Chem.Mol, ring_atom: int, first: int) -> set[int]:
    """Atoms reached from ``first`` without passing through ``ring_atom`` (the group, its H included)."""
    seen, todo = {first}, [first]
    while todo:
        atom = mol.GetAtomWithIdx(todo.pop())
        for n in atom.GetNeighbors():
            j = n.GetIdx()
            if j != ring_atom and j not in seen:
                seen.add(j)
                todo.append(j)
    return seen


def reference_copies(template: Atoms, scaffold: str, ligand_charge: int) -> list[np.ndarray]:
    """For each copy of the reference ligand in ``template``, the complex atom index of every reference-ligand
    atom (array indexed by reference atom)."""
    ref = reference_ligand(scaffold)
    want = sorted(a.GetSymbol() for a in ref.GetAtoms())
    copies = []
    for members in fragments(template):
        frag = template[members]
        if sorted(frag.get_chemical_symbols()) != want:
            continue
        try:
            match = mol_from_atoms(frag, ligand_charge).GetSubstructMatch(ref)
        except Exception:  # RDKit could not assign the bonds: treated as no match
            match = ()
        if not match:
            raise GraftError(f"a {scaffold} ligand of the template does not match its reference ligand")
        copies.append(np.asarray(members)[list(match)])
    return copies


#: Embeddings of the new ligand tried (different internal conformations of its groups).
EMBEDDINGS = 4


def ligand_embeddings(plan: GraftPlan, anchor: np.ndarray, seed: int) -> list[np.ndarray]:
    """Coordinates of the whole ligand from ``EMBEDDINGS`` embeddings that hold the kept atoms near
    ``anchor`` (reference-ligand coordinates)."""
    coord_map = {lig: Point3D(*map(float, anchor[ref])) for ref, lig in plan.kept}
    mol = Chem.Mol(plan.ligand)
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    params.SetCoordMap(coord_map)
    ids = list(AllChem.EmbedMultipleConfs(mol, EMBEDDINGS, params))
    if not ids:
        params.useRandomCoords = True
        ids = list(AllChem.EmbedMultipleConfs(mol, EMBEDDINGS, params))
    if not ids:
        raise GraftError("RDKit could not embed the ligand with its scaffold held in place")
    return [np.asarray(mol.GetConformer(i).GetPositions()) for i in ids]


def _align(vector: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotation matrix turning direction ``vector`` onto direction ``target``."""
    a, b = vector / np.linalg.norm(vector), target / np.linalg.norm(target)
    v, c = _cross(a, b), float(a @ b)
    if np.linalg.norm(v) < 1e-9:
        return np.eye(3) if c > 0 else -np.eye(3) + 2 * np.outer(_perpendicular(a), _perpendicular(a))
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k / (1 + c)


def _perpendicular(a: np.ndarray) -> np.ndarray:
    p = _cross(a, np.array([1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0]))
    return p / np.linalg.norm(p)


def _superimpose(moving: np.ndarray, fixed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation and translation (Kabsch) taking the points ``moving`` onto ``fixed``."""
    mc, fc = moving.mean(axis=0), fixed.mean(axis=0)
    u, _, vt = np.linalg.svd((moving - mc).T @ (fixed - fc))
    d = np.sign(np.linalg.det(vt.T @ u.T))
    rot = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return rot, fc - mc @ rot.T


def graft_complex(template: Atoms, plan: GraftPlan, ligand_charge: int, seed: int = 42,
                  embeddings: list[np.ndarray] | None = None,
                  copies: list[np.ndarray] | None = None) -> Atoms:
    """The complex of ``plan.ligand`` built on ``template`` (a complex of the reference ligand): metal and
    waters as in the template, every ligand copy grafted.  Raises :class:`GraftError` on a clash.

    ``embeddings`` (from :func:`ligand_embeddings`) and ``copies`` (from :func:`reference_copies`) may be
    given when one ligand is grafted onto many templates: the group's conformations do not depend on the
    template, whose scaffold atoms they are superimposed on copy by copy.
    """
    copies = reference_copies(template, plan.scaffold, ligand_charge) if copies is None else copies
    if not copies:
        raise GraftError("the template holds no ligand of its scaffold")
    lig = plan.ligand
    kept_ref = np.array([r for r, _ in plan.kept])
    kept_lig = np.array([l for _, l in plan.kept])
    if embeddings is None:
        embeddings = ligand_embeddings(plan, template.positions[copies[0]], seed)
    topo = Chem.GetDistanceMatrix(lig)
    groups = [(replaced, ring, first, sorted(group_atoms(lig, ring, first)))
              for replaced, ring, first in plan.attachments]
    in_ligands = set(np.concatenate(copies).tolist())
    others = [i for i in range(len(template)) if i not in in_ligands]  # metal and waters
    symbols = [a.GetSymbol() for a in lig.GetAtoms()]
    placed: list[np.ndarray] = []
    for k, copy in enumerate(copies):
        outside = np.vstack([template.positions[others]]
                            + [template.positions[c] for c in copies[k + 1:]] + placed)
        best, best_d = None, -np.inf
        for embedded in embeddings:
            xyz, d = _place_copy(embedded, template.positions[copy], kept_ref, kept_lig, groups, outside, topo)
            if d > best_d:
                best, best_d = xyz, d
        if best_d < CLASH_DISTANCE:
            raise GraftError(f"a grafted group clashes with the rest of the complex in every rotamer "
                             f"(closest approach {best_d:.2f} Å < {CLASH_DISTANCE} Å)")
        placed.append(best)
    metal = metal_index(template)
    built = Atoms([template[metal].symbol], positions=[template.positions[metal]])
    for xyz in placed:
        built += Atoms(symbols, positions=xyz)
    built += template[[i for i in others if i != metal]]
    sizes = sorted(len(f) for f in fragments(built))
    # the metal and waters alone give the template's other molecules (a few atoms, not the whole complex)
    want = sorted([len(symbols)] * len(copies) + [len(f) for f in fragments(template[others])])
    if sizes != want:
        raise GraftError("grafted ligands come within bonding distance of each other or of a water")
    return built


def _place_copy(embedded, ref_xyz, kept_ref, kept_lig, groups, outside, topo) -> tuple[np.ndarray, float]:
    """One ligand copy: kept atoms at the template's coordinates, each group along the replaced C–H bond and
    turned to its best rotamer.  Returns the coordinates and the closest approach of any grafted atom (Å)."""
    rot, shift = _superimpose(embedded[kept_lig], ref_xyz[kept_ref])
    aligned = embedded @ rot.T + shift
    xyz = aligned.copy()
    xyz[kept_lig] = ref_xyz[kept_ref]
    closest = np.inf
    for replaced, ring, first, members in groups:
        # the group keeps its embedded shape and bond length; its bond points where the replaced H pointed
        turn = _align(aligned[first] - aligned[ring], ref_xyz[replaced] - xyz[ring])
        xyz[members] = (aligned[members] - aligned[ring]) @ turn.T + xyz[ring]
        xyz[members], d = _best_rotamer(xyz, ring, first, members, outside, topo)
        closest = min(closest, d)
    return xyz, closest


def _best_rotamer(xyz, ring, first, members, outside, topo) -> tuple[np.ndarray, float]:
    """Group coordinates of the rotamer (about the ring–group bond) farthest from every other atom, and that
    closest approach (Å).  All rotamers are scored at once; ties go to the smallest angle."""
    axis = xyz[first] - xyz[ring]
    member_set = set(members)
    rest = np.array([j for j in range(len(xyz)) if j not in member_set])
    far = topo[np.ix_(members, rest)] >= 4  # own-ligand pairs four or more bonds apart can clash
    angles = np.radians(np.arange(0, 360, ROTAMER_STEP_DEG))
    trials = _rotations(xyz[members], xyz[first], axis, angles)  # (rotamers, members, 3)
    flat = trials.reshape(-1, 3)
    if len(outside):
        d_out = cdist(flat, outside, "sqeuclidean").min(axis=1).reshape(len(angles), -1).min(axis=1)
    else:
        d_out = np.full(len(angles), np.inf)
    if far.any():
        d_own = cdist(flat, xyz[rest], "sqeuclidean").reshape(len(angles), len(members), -1)
        d_own = np.where(far[None], d_own, np.inf).min(axis=(1, 2))
    else:
        d_own = np.full(len(angles), np.inf)
    d_out, d_own = np.sqrt(d_out), np.sqrt(d_own)  # squared until here: the minimum is the same
    closest = np.round(np.minimum(d_out, d_own), CONTACT_DECIMALS)
    best = int(np.argmax(closest))
    return trials[best], float(closest[best])


def _rotations(points: np.ndarray, origin: np.ndarray, axis: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """``points`` turned about ``axis`` through ``origin`` by each of ``angles`` (radians): (angles, n, 3)."""
    axis = axis / np.linalg.norm(axis)
    p = points - origin
    cos, sin = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    along = np.outer(p @ axis, axis)[None]
    return origin + p[None] * cos + _cross(axis, p)[None] * sin + along * (1 - cos)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a`` × ``b`` for 3-vectors (either may be an (n, 3) stack); ``np.cross``'s axis handling costs more
    than the product on the few atoms of a group, and grafting calls it thousands of times per ligand."""
    return np.stack([a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
                     a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
                     a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]], axis=-1)
