"""GFN2-xTB with ALPB(water) through tblite's ASE calculator: optimisation and single points.

GFN2-xTB keeps the lanthanide 4f shell in the core: every REE(III) contributes three valence electrons,
so all our complexes, ions and ligands are closed shell and run with multiplicity 1.  The true 4f spin
(e.g. seven unpaired electrons on Gd³⁺) must never be passed to xTB.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from ase import Atoms
from ase.calculators.calculator import CalculationFailed
from ase.optimize import LBFGS
from tblite.ase import TBLite

from core.constants import ev_to_kcal
from core.settings import ScreeningSettings

METHOD = "GFN2-xTB"
SOLVATION = ("alpb", "water")


class XTBError(RuntimeError):
    """The xTB calculation failed for good (after the retry at a higher electronic temperature)."""


@dataclass
class XTBResult:
    """Outcome of an optimisation or single point.  ``energy`` in kcal/mol (GFN2-xTB/ALPB(water))."""

    atoms: Atoms
    energy: float
    n_steps: int
    converged: bool
    electronic_temperature: float
    wall_s: float


def xtb_calculator(charge: int, settings: ScreeningSettings, electronic_temperature: float) -> TBLite:
    """A tblite GFN2-xTB/ALPB(water) calculator for a closed-shell system of total ``charge``."""
    return TBLite(method=METHOD, charge=int(charge), multiplicity=1, solvation=SOLVATION,
                  electronic_temperature=electronic_temperature,
                  max_iterations=settings.scf_max_iterations, verbosity=0)


def _run(atoms: Atoms, charge: int, settings: ScreeningSettings, temperature: float,
         optimise: bool) -> XTBResult:
    work = atoms.copy()
    work.calc = xtb_calculator(charge, settings, temperature)
    start = time.perf_counter()
    n_steps, converged = 0, True
    if optimise:
        opt = LBFGS(work, logfile=None)
        converged = bool(opt.run(fmax=settings.fmax, steps=settings.max_steps))
        n_steps = opt.nsteps
    energy = ev_to_kcal(work.get_potential_energy())
    result_atoms = work.copy()
    result_atoms.calc = None
    return XTBResult(result_atoms, energy, n_steps, converged, temperature, time.perf_counter() - start)


def _with_retry(atoms: Atoms, charge: int, settings: ScreeningSettings, optimise: bool) -> XTBResult:
    failures = []
    for temperature in (settings.electronic_temperature, settings.retry_temperature):
        try:
            return _run(atoms, charge, settings, temperature, optimise)
        except CalculationFailed as exc:
            failures.append(f"{temperature:.0f} K: {str(exc).strip().splitlines()[-1] if str(exc).strip() else 'failed'}")
    raise XTBError("GFN2-xTB SCF did not converge (" + "; ".join(failures) + ")")


def optimise_xtb(atoms: Atoms, charge: int, settings: ScreeningSettings) -> XTBResult:
    """Optimise ``atoms`` with GFN2-xTB/ALPB(water) (LBFGS, ``settings.fmax`` eV/Å, ``settings.max_steps``).

    If the SCF fails to converge, the optimisation is restarted from ``atoms`` at
    ``settings.retry_temperature``; if that fails too, :class:`XTBError` says so.
    """
    return _with_retry(atoms, charge, settings, optimise=True)


def single_point_xtb(atoms: Atoms, charge: int, settings: ScreeningSettings) -> XTBResult:
    """GFN2-xTB/ALPB(water) energy (kcal/mol) of ``atoms`` as they are, with the same SCF retry."""
    return _with_retry(atoms, charge, settings, optimise=False)
