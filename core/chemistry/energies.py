"""Binding and ligand-exchange energies, kcal/mol, all terms at one level of theory: the formulas.

The pipeline step that applies them to stored results is :mod:`core.pipeline.fill_energies`.

E_bind = E_complex − E_ion − Σ E_ligand  (waters count as ligands; more negative binds more strongly).

With an implicit solvent that under-solvates the bare M³⁺ reference (see each level's caveat), E_bind's
metal-to-metal differences are not trustworthy.  The exchange energy against
the aqua ion, [M(H2O)8]³⁺ + n L → complex + (8 − w) H2O, cancels the bare ion; it equals
E_bind(complex) − E_bind(aqua) and is what selectivity between metals should be based on.
"""
from __future__ import annotations

from collections.abc import Iterable


def binding_energy(e_complex: float, e_ion: float, e_ligands: Iterable[float]) -> float:
    """E_bind = E_complex − E_ion − Σ E_ligand, kcal/mol (list every ligand and water once per copy)."""
    return float(e_complex) - float(e_ion) - sum(float(e) for e in e_ligands)


def complex_binding_energy(e_complex: float, e_ion: float, e_ligand: float, n_ligands: int,
                           e_water: float, n_waters: int) -> float:
    """E_bind of a complex of ``n_ligands`` identical ligands and ``n_waters`` waters, kcal/mol."""
    return binding_energy(e_complex, e_ion, [e_ligand] * n_ligands + [e_water] * n_waters)


def exchange_energy(e_bind_complex: float, e_bind_aqua: float) -> float:
    """Energy of [M(H2O)8]³⁺ + n L → complex + (8 − w) H2O, kcal/mol (the bare-ion energy cancels)."""
    return float(e_bind_complex) - float(e_bind_aqua)
