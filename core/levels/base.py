"""The level-of-theory interface, in the spirit of ASE's calculators: the structure and the method kept apart.

A :class:`LevelOfTheory` knows its name (the string stored with every energy), how to make an ASE calculator
for a structure of a given charge and multiplicity, and its retry policy (what to change when the SCF does
not converge).  Optimisation (ASE LBFGS) and single points are the same for every level and live here, so
the pipeline asks a level for an energy and never names a method.  Energies come back in kcal/mol.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING

from core.chemistry.constants import ev_to_kcal

if TYPE_CHECKING:  # ASE's optimisers load late: the store and the app name levels without running them
    from ase import Atoms
    from ase.calculators.calculator import Calculator


class LevelError(RuntimeError):
    """A calculation failed for good, after every attempt of the level's retry policy."""


@dataclass(frozen=True)
class Attempt:
    """One try of a calculation: a label for messages and the calculator options that differ between tries
    (e.g. a higher electronic temperature)."""

    label: str
    options: dict = field(default_factory=dict)


@dataclass
class LevelResult:
    """Outcome of an optimisation or single point.  ``energy`` in kcal/mol at the level that made it."""

    atoms: Atoms
    energy: float
    n_steps: int
    converged: bool
    attempt: Attempt
    wall_s: float
    level: str = ""
    #: What the calculator reports beside the energy (its ``detail_keys``: SCF cycles, basis size, …).
    details: dict = field(default_factory=dict)

    @property
    def electronic_temperature(self) -> float:
        """Electronic temperature (K) of the successful attempt, 0 where the level has none."""
        return float(self.attempt.options.get("electronic_temperature", 0.0))


class LevelOfTheory(ABC):
    """A method that gives energies and forces for a structure of a given charge and multiplicity."""

    #: The string stored with every energy (part of every result's key), e.g. ``GFN2-xTB/ALPB(water)``.
    name: str
    #: A file-name-safe short form, used in dataset shard and model folder names.
    slug: str
    #: The method as a chemist names it in a sentence (``GFN2-xTB``).
    short_name: str
    #: What a chemist must know about energies at this level (shown on model cards).
    caveat: str = ""
    #: Packages whose versions decide this level's numbers (recorded in every store's metadata).
    packages: tuple[str, ...] = ()
    #: Whether this is a density-functional level (a model trained on anything else is said to be "not DFT").
    is_dft: bool = False

    @abstractmethod
    def calculator(self, charge: int, multiplicity: int, settings, attempt: Attempt) -> Calculator:
        """An ASE calculator for a system of total ``charge`` and spin ``multiplicity``."""

    @abstractmethod
    def attempts(self, settings) -> list[Attempt]:
        """The retry policy: the tries in order; the first that converges wins."""

    def attempts_for(self, atoms: Atoms, charge: int, settings) -> list[Attempt]:
        """The retry policy for one system (the level's :meth:`attempts` unless a level orders them by system)."""
        return self.attempts(settings)

    def multiplicity(self, atoms: Atoms, charge: int) -> int:
        """Spin multiplicity this level uses for ``atoms`` (closed shell unless a level says otherwise)."""
        return 1

    def optimise(self, atoms: Atoms, charge: int, settings) -> LevelResult:
        """Relax ``atoms`` (LBFGS to ``settings.fmax`` eV/Å within ``settings.max_steps``); energy in kcal/mol.

        Each attempt restarts from ``atoms``; :class:`LevelError` when every attempt fails.
        """
        return self._with_retry(atoms, charge, settings, optimise=True)

    def single_point(self, atoms: Atoms, charge: int, settings, checkpoint_dir: Path | None = None) -> LevelResult:
        """Energy (kcal/mol) of ``atoms`` as they are, with the same retry policy.  With ``checkpoint_dir``, a
        calculator that can save its SCF there (``checkpoint_dir`` attribute) does, and a rerun of a killed
        single point resumes from it."""
        return self._with_retry(atoms, charge, settings, optimise=False, checkpoint_dir=checkpoint_dir)

    def _with_retry(self, atoms: Atoms, charge: int, settings, optimise: bool,
                    checkpoint_dir: Path | None = None) -> LevelResult:
        from ase.calculators.calculator import CalculationFailed

        failures = []
        for attempt in self.attempts_for(atoms, charge, settings):
            try:
                return self._run(atoms, charge, settings, attempt, optimise, checkpoint_dir)
            except CalculationFailed as exc:
                text = str(exc).strip()
                failures.append(f"{attempt.label}: {text.splitlines()[-1] if text else 'failed'}")
        raise LevelError(f"{self.short_name} SCF did not converge (" + "; ".join(failures) + ")")

    def _run(self, atoms: Atoms, charge: int, settings, attempt: Attempt, optimise: bool,
             checkpoint_dir: Path | None = None) -> LevelResult:
        work = atoms.copy()
        work.calc = self.calculator(charge, self.multiplicity(atoms, charge), settings, attempt)
        if checkpoint_dir is not None and hasattr(work.calc, "checkpoint_dir"):
            work.calc.checkpoint_dir = Path(checkpoint_dir)
        start = time.perf_counter()
        n_steps, converged = 0, True
        if optimise:
            from ase.optimize import LBFGS

            opt = LBFGS(work, logfile=None)
            converged = bool(opt.run(fmax=settings.fmax, steps=settings.max_steps))
            n_steps = opt.nsteps
        energy = ev_to_kcal(work.get_potential_energy())
        details = {k: work.calc.results[k] for k in getattr(work.calc, "detail_keys", ()) if k in work.calc.results}
        result_atoms = work.copy()
        result_atoms.calc = None
        return LevelResult(result_atoms, energy, n_steps, converged, attempt, time.perf_counter() - start, self.name,
                           details)

    def __repr__(self) -> str:
        return f"<level {self.name}>"
