"""Structure helpers shared by the metal swap and the QC check: find the metal, cut out the ligands."""
from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.data import covalent_radii
from ase.neighborlist import natural_cutoffs
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial.distance import pdist, squareform

from core.chemistry.constants import REE_METALS

#: Bond detection: two atoms are bonded when closer than 1.1 × the sum of their covalent radii.
BOND_CUTOFF_SCALE = 1.1
#: Largest metal–donor distance (Å) that still counts as coordinated, by donor element.  Ln–O bonds are
#: 2.2–2.6 Å, Ln–N(pyridine) 2.5–2.8 Å and Ln–S 2.8–3.1 Å; a water at 3.2 Å has left the first shell.
COORDINATION_CUTOFF = {"O": 2.95, "N": 3.05, "S": 3.35}


def metal_index(atoms: Atoms) -> int:
    """Index of the single rare-earth atom in ``atoms``."""
    found = [i for i, s in enumerate(atoms.get_chemical_symbols()) if s in REE_METALS]
    if len(found) != 1:
        raise ValueError(f"Expected exactly one rare-earth atom, found {len(found)}.")
    return found[0]


def fragments(atoms: Atoms) -> list[np.ndarray]:
    """Connected molecules of ``atoms`` once the metal is removed, as index arrays into ``atoms``."""
    m = metal_index(atoms)
    keep = np.delete(np.arange(len(atoms)), m)
    # ASE's natural cutoffs (covalent radius × scale), looked up for all atoms at once
    radii = covalent_radii[atoms.numbers[keep]] * BOND_CUTOFF_SCALE
    # complexes hold a few hundred atoms: all pair distances at once beat a neighbour-list build (measured)
    bonded = squareform(pdist(atoms.positions[keep])) < radii[:, None] + radii[None, :]
    np.fill_diagonal(bonded, False)
    # as a sparse graph: scipy's own validation of a dense one costs more than the distances (measured)
    n, labels = connected_components(csr_matrix(bonded), directed=False)
    return [keep[labels == k] for k in range(n)]


def coordinating_atoms(atoms: Atoms, members: np.ndarray) -> list[int]:
    """Atoms of one fragment bound to the metal: within the element's cutoff, and not merely bonded to a
    closer donor (the N of a bound N–O⁻ group sits ~3.0 Å from the metal without being a donor)."""
    m = metal_index(atoms)
    symbols = atoms.get_chemical_symbols()
    near = [int(i) for i in members
            if symbols[i] in COORDINATION_CUTOFF and atoms.get_distance(m, int(i)) <= COORDINATION_CUTOFF[symbols[i]]]
    radii = natural_cutoffs(atoms, mult=BOND_CUTOFF_SCALE)

    def shadowed(i: int) -> bool:
        return any(j != i and atoms.get_distance(i, j) < radii[i] + radii[j]
                   and atoms.get_distance(m, j) < atoms.get_distance(m, i) for j in near)

    return [i for i in near if not shadowed(i)]
