"""B3LYP-D4 single points with PySCF on stored GFN2-xTB geometries: the paper's refinement level.

What is computed (one :class:`DFTLevel` per variant; every option is part of the level's stored name):

* **Functional**: B3LYP with VWN5 (ORCA's flavour, PySCF's ``b3lyp5``), plus DFT-D4 (dftd4, B3LYP
  parameters, true atomic numbers and the total charge).  Density fitting (def2-universal-jkfit).
* **Basis**: def2-SVP on ligand and water atoms (``diffuse=True``: def2-SVPD).  Metals: def2-TZVP with its
  ECP for Y (28 core electrons), La (46) and Lu (60 with 4f¹⁴ closed shell in valence: def2 small core 28);
  Ce–Yb with the **4f-in-core** large-core ECPs ``lcecp-1-TZVP`` (Dolg), which make every trivalent
  lanthanide closed shell at a cost that does not depend on the metal.  This departs from the paper, which
  keeps the 4f shell in valence (open shell); ``open_shell=True`` runs that version for Ce–Yb (def2-TZVP,
  28-electron small-core ECP, high-spin UKS with the multiplicity of the free Ln³⁺) for validation.
* **Solvent**: implicit water.  ``smd`` (default, the paper's model) or ``cpcm`` on a Lebedev-17 surface, or
  ``none``.  At Lebedev 17, SMD cost 17 % more than C-PCM on [La(H2O)8]3+ (``benchmarks/dft_cost.py``).
* Basis sets and ECPs come from basis-set-exchange: PySCF's own ``def2-tzvp`` ECP has no entry for Ce–Lu
  and would run those metals all-electron with an ECP-adapted basis.

Geometries are never optimised at this level (no forces); the level's name ends in ``//GFN2-xTB/ALPB(water)``
to say where they came from.  Energies in kcal/mol.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.levels.base import Attempt, LevelError, LevelOfTheory
from core.levels.xtb import GFN2_XTB_ALPB

#: Metals whose 4f shell is empty (La) or full (Lu), or that have none (Y): closed shell with def2 ECPs.
CLOSED_SHELL_METALS = frozenset({"Y", "La", "Lu"})
#: Unpaired 4f electrons of the free Ln³⁺ ions (Hund's rule): Ce³⁺ 4f¹ … Yb³⁺ 4f¹³.
UNPAIRED_4F = {"Ce": 1, "Pr": 2, "Nd": 3, "Pm": 4, "Sm": 5, "Eu": 6, "Gd": 7, "Tb": 6, "Dy": 5, "Ho": 4,
               "Er": 3, "Tm": 2, "Yb": 1}
METALS = CLOSED_SHELL_METALS | set(UNPAIRED_4F)
#: Dielectric constant of water (the value SMD and PySCF use at 298 K).
WATER_EPSILON = 78.3553
SOLVENTS = ("smd", "cpcm", "none")
#: Lebedev order of the solvent surface: PySCF's default (29) made La(L)(H2O)6 reach 9 GB before its first
#: Fock build on the 2-core machine (dft-notes.md); 17 keeps the surface-charge integrals affordable.
LEBEDEV_ORDER = 17
#: Damped, level-shifted gas-phase cycles before the SCF proper (see :meth:`PySCFCalculator.calculate`).
PRECONVERGE_CYCLES = 12
#: Memory PySCF may use per calculation (MB); ``$REESCREEN_DFT_MEMORY_MB`` overrides.
DEFAULT_MEMORY_MB = 6000
THREADS_ENV = "REESCREEN_DFT_THREADS"
MEMORY_ENV = "REESCREEN_DFT_MEMORY_MB"
#: Most cycles of the gas-phase stage: only a guess, so a stage that has not converged by then hands on what
#: it has (or the pre-cycles' density, if it ran away) instead of spending the solvated SCF's cycles.
GAS_STAGE_MAX_CYCLES = 40
#: Level shift (Hartree) of every open-shell SCF stage (see :meth:`PySCFCalculator.scf_object`).
OPEN_SHELL_LEVEL_SHIFT = 0.3
#: Rise of the SCF energy (Hartree) above the lowest it reached that stops a stage as a runaway: a runaway
#: climbs by hundreds of Hartree within a few cycles, a damped or DIIS SCF wobbles by far less than 1 Eh.
RUNAWAY_EH = 1.0
#: The same for the SCF that counts, which may wander further on its way to a converged state (a guess stage
#: hands on its lowest density; the final SCF can only fail its attempt), so only a real runaway stops it.
FINAL_RUNAWAY_EH = 10.0
#: Least time (s) between two saves of the final SCF's density to its checkpoint (the first cycle is always
#: saved): a 4L cycle takes minutes on two cores, a macro-iteration of the second-order solver longer still.
CHECKPOINT_EVERY_S = 30.0
#: Largest departure (electrons) of the Mulliken spin on an open-shell lanthanide from its free Ln³⁺ count of
#: unpaired 4f electrons that still counts as the Ln(III) state: a polarised 4f⁷ Gd carries 7.0–7.2, while a
#: ligand → metal charge-transfer solution puts an eighth α electron on Gd (spin 8.0; see
#: :func:`ln3_state_problem`).
LN3_SPIN_TOLERANCE = 0.5
#: PySCF grid level of the guess stages (the final SCF uses PySCF's default, 3).
GUESS_GRID_LEVEL = 1


@dataclass(frozen=True)
class DFTOptions:
    """The choices that change a DFT number (all of them appear in the level's name)."""

    open_shell: bool = False
    diffuse: bool = False
    solvent: str = "smd"
    #: Test-only shortcut: every atom in one small basis (e.g. ``def2-SVP`` on the metal too).  Named in the
    #: level so such numbers never mix with real ones.
    metal_basis: str = "def2-TZVP"

    def __post_init__(self) -> None:
        if self.solvent not in SOLVENTS:
            raise ValueError(f"Unknown solvent model {self.solvent!r}; choose from {', '.join(SOLVENTS)}.")


class DFTLevel(LevelOfTheory):
    """B3LYP-D4 single points with PySCF (see the module docstring for the exact recipe)."""

    short_name = "B3LYP-D4"
    is_dft = True
    packages = ("pyscf", "basis-set-exchange", "dftd4")
    geometry_level = GFN2_XTB_ALPB

    def __init__(self, options: DFTOptions = DFTOptions()):
        self.options = options
        ligand_basis = "def2-SVPD" if options.diffuse else "def2-SVP"
        f_shell = "4f in valence, open shell" if options.open_shell else "4f in core"
        metal = "" if options.metal_basis == "def2-TZVP" else f", metal {options.metal_basis}"
        solvent = {"cpcm": "CPCM(water)", "smd": "SMD(water)", "none": "gas phase"}[options.solvent]
        self.name = f"B3LYP-D4/{ligand_basis}({f_shell}{metal})/{solvent}//{GFN2_XTB_ALPB.name}"
        self.slug = "b3lyp-d4-" + ("open" if options.open_shell else "incore") + ("-svpd" if options.diffuse else "") \
            + ("" if options.solvent == "smd" else f"-{options.solvent}")
        self.method = "B3LYP-D4"
        self.caveat = ("Single points on GFN2-xTB/ALPB geometries. " + (
            "Ce–Yb are open shell (4f in valence, high spin), as in the paper." if options.open_shell else
            "Ce–Yb use 4f-in-core large-core ECPs (closed shell), unlike the paper's open-shell 4f-in-valence "
            "setup; Y, La and Lu are closed shell either way.") +
            " The bare M³⁺ reference dominates E_bind at any level: compare metals through exchange energies.")

    # -- the level interface -------------------------------------------------------------------------
    def multiplicity(self, atoms, charge: int) -> int:
        """1, except open-shell Ce–Yb: the free Ln³⁺ high-spin multiplicity (Gd³⁺ 4f⁷: 8)."""
        if not self.options.open_shell:
            return 1
        metals = [s for s in atoms.get_chemical_symbols() if s in UNPAIRED_4F]
        return 1 + sum(UNPAIRED_4F[m] for m in metals)

    def attempts(self, settings) -> list[Attempt]:
        """DIIS from a superposition of the ion's and the ligands' densities; then with a level shift and
        damping; then PySCF's second-order (Newton) solver."""
        return [Attempt("DIIS", {"scf": "diis", "max_cycle": 100}),
                Attempt("level shift 0.3 Eh + damping", {"scf": "shift", "max_cycle": 200}),
                Attempt("second-order SCF", {"scf": "newton", "max_cycle": 60})]

    def attempts_for(self, atoms, charge: int, settings) -> list[Attempt]:
        """Open shell (4f in valence): the second-order solver first.  DIIS-driven cycles on
        Gd(CAM-methyl)(H2O)6 fell to −1851.86 Eh and then climbed by 1.5 Eh while spin moved from the
        catecholate onto Gd (⟨S²⟩ 15.76 → 16.48, ``benchmarks/dft_scf_trace.py``), and both DIIS-based
        attempts were stopped as runaways; a minimiser cannot climb.  A minimiser can still slide into a
        lower charge-transfer solution; :func:`ln3_state_problem` refuses those, and the next attempt runs.
        Closed shell: :meth:`attempts`."""
        attempts = self.attempts(settings)
        if self.multiplicity(atoms, charge) > 1:
            attempts = sorted(attempts, key=lambda a: a.options.get("scf") != "newton")
        return attempts

    def calculator(self, charge: int, multiplicity: int, settings, attempt: Attempt):
        return PySCFCalculator(level=self, charge=int(charge), multiplicity=int(multiplicity),
                               attempt_options=attempt.options)

    def optimise(self, atoms, charge: int, settings):
        raise LevelError(f"{self.short_name} is a single-point level here: geometries come from "
                         f"{self.geometry_level.name}")

    # -- the PySCF system ----------------------------------------------------------------------------
    def basis_and_ecp(self, symbols: list[str]) -> tuple[dict, dict]:
        """PySCF basis and ECP dicts for the elements in ``symbols`` (from basis-set-exchange)."""
        ligand_basis = "def2-SVPD" if self.options.diffuse else "def2-SVP"
        basis, ecp = {}, {}
        for el in sorted(set(symbols)):
            if el in METALS:
                name = self.metal_basis_name(el)
                basis[el], ecp[el] = bse_basis(name, el)
            else:
                basis[el], element_ecp = bse_basis(ligand_basis, el)
                if element_ecp:  # def2 puts ECPs on I and heavier main-group atoms
                    ecp[el] = element_ecp
        return basis, ecp

    def metal_basis_name(self, metal: str) -> str:
        if self.options.metal_basis != "def2-TZVP":
            return self.options.metal_basis
        if metal in CLOSED_SHELL_METALS or self.options.open_shell:
            return "def2-TZVP"
        return "lcecp-1-TZVP"


@lru_cache(maxsize=None)
def bse_basis(name: str, element: str) -> tuple[list, list]:
    """``name``'s basis and ECP for one element from basis-set-exchange, parsed for PySCF (ECP ``[]`` if
    none)."""
    import basis_set_exchange as bse
    from pyscf.gto.basis import parse_nwchem

    text = bse.get_basis(name, elements=[element], fmt="nwchem", header=False)
    basis_text, _, ecp_text = text.partition("\nECP")
    basis = parse_nwchem.parse(basis_text, element)
    ecp = parse_nwchem.parse_ecp("ECP" + ecp_text, element) if ecp_text.strip() else []
    return basis, ecp


@lru_cache(maxsize=None)
def jk_fitting_basis(element: str) -> list:
    """The def2-universal-jkfit auxiliary basis of one element (basis-set-exchange)."""
    return bse_basis("def2-universal-jkfit", element)[0]


def n_basis_functions(level: DFTLevel, symbols: list[str]) -> int:
    """Number of basis functions of a system at ``level`` (what the cost estimate scales with)."""
    basis, _ = level.basis_and_ecp(symbols)
    per_element = {el: _nao(shells) for el, shells in basis.items()}
    return int(sum(per_element[s] for s in symbols))


def _nao(shells: list) -> int:
    """Spherical functions in a parsed basis: Σ over shells of (2l+1) × contracted functions."""
    total = 0
    for shell in shells:
        l = shell[0]
        rows = [r for r in shell[1:] if isinstance(r, (list, tuple))]
        n_contracted = len(rows[0]) - 1 if rows else 0
        total += (2 * l + 1) * n_contracted
    return total


def _threads() -> int:
    """OpenMP threads for PySCF: ``$REESCREEN_DFT_THREADS``, else the worker's ``$OMP_NUM_THREADS`` (the
    screening cluster runs one-thread workers side by side), else every core this process may use."""
    for name in (THREADS_ENV, "OMP_NUM_THREADS"):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def gpu_available() -> bool:
    """True when gpu4pyscf is installed and CUDA sees a device (then the SCF runs on the GPU)."""
    try:
        import cupy  # noqa: F401  (installed with gpu4pyscf)
        import gpu4pyscf  # noqa: F401

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # not installed, or no driver/device
        return False


from ase.calculators.calculator import Calculator, CalculationFailed, all_changes  # noqa: E402
from ase.units import Bohr, Hartree  # noqa: E402

from core.levels.surface_integrals import keep_surface_integrals  # noqa: E402


class PySCFCalculator(Calculator):
    """An ASE calculator for a :class:`DFTLevel` single point (energy only, eV as ASE expects).

    Raises :class:`~ase.calculators.calculator.CalculationFailed` when the SCF does not converge, or (open
    shell) converges to a state that is not the Ln(III) one (:func:`ln3_state_problem`), so the level's retry
    policy moves on to its next attempt.  ``self.results`` also holds ``scf_cycles``,
    ``n_basis``, ``dispersion_eV`` and ``device`` for the record, and for an open shell the state it converged
    to (:func:`open_shell_state`).
    """

    implemented_properties = ["energy"]
    detail_keys = ("scf_cycles", "n_basis", "dispersion_eV", "device", "s_squared", "metal_spin",
                   "metal_f_alpha", "metal_f_beta", "resumed_at_cycle")

    def __init__(self, level: DFTLevel, charge: int, multiplicity: int, attempt_options: dict, **kwargs):
        super().__init__(**kwargs)
        self.level, self.charge, self.multiplicity = level, charge, multiplicity
        self.attempt_options = attempt_options
        #: Folder for the SCF densities (:meth:`checkpoint_path`); None: no checkpoint.  A single point killed
        #: mid-SCF (a session or a cluster job that ends) resumes from the last saved stage instead of the guess.
        self.checkpoint_dir: Path | None = None

    def checkpoint_path(self, stage: str) -> Path | None:
        """Where a stage's density is saved (``guess``: the damped cycles from the initial guess; ``coarse``: the
        coarse-grid SCF that makes the guess; ``final``: the SCF that counts): one file per stage, level,
        attempt, charge, spin and geometry (coordinates to 1e-5 Å), so a checkpoint is only ever read back by
        the same calculation."""
        if self.checkpoint_dir is None:
            return None
        identity = json.dumps({"level": self.level.name, "attempt": self.attempt_options, "charge": self.charge,
                               "multiplicity": self.multiplicity, "symbols": self.atoms.get_chemical_symbols(),
                               "positions": np.round(self.atoms.positions, 5).tolist(), "stage": stage},
                              sort_keys=True)
        return Path(self.checkpoint_dir) / f"scf-{hashlib.sha256(identity.encode()).hexdigest()[:24]}.npz"

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        from pyscf import lib

        lib.num_threads(_threads())
        mol = self.build_mole(self.atoms)
        final_checkpoint, coarse_checkpoint = self.checkpoint_path("final"), self.checkpoint_path("coarse")
        guess_checkpoint = self.checkpoint_path("guess")
        earlier = (coarse_checkpoint, guess_checkpoint)
        resumed = _read_checkpoint(final_checkpoint, mol.nao)
        if resumed is not None:
            self._final_scf(mol, resumed["guess"], None, int(resumed["cycles"]), final_checkpoint, earlier)
            self.results["resumed_at_cycle"] = int(resumed["cycles"])
            return
        # the guess stages only shape the density handed on to the SCF that counts, so they integrate the
        # functional on a coarse grid (the exchange-correlation quadrature is ~70 % of a cycle) and share
        # one density-fitting tensor with it; the final SCF converges on the level's own grid
        coarse = _coarse_grids(mol)
        shared_df, pre_h = None, float("inf")
        cycles = 0
        # open shell: the guess stages run in the solvent from the start.  In the gas phase the 2+
        # Gd(HOPO-methyl)(H2O)6 with 4f in valence ran away from every guess (+1,700 Eh within 5 damped,
        # level-shifted cycles: ligand electrons pouring into the metal's 4f/5d); in SMD water it descends
        # from the first cycle
        in_solvent = self.multiplicity > 1 or self.level.options.solvent == "none"
        resumed = _read_checkpoint(coarse_checkpoint, mol.nao)
        in_pre_cycles = resumed is None
        if resumed is None:
            # killed in the damped cycles (20 min of them for Lu(HOPO-methyl)4 on 2 cores): they go on from
            # their lowest saved density, in the phase they had reached
            resumed = _read_checkpoint(guess_checkpoint, mol.nao)
        if resumed is not None:
            guess, cycles, in_solvent = resumed["guess"], int(resumed["cycles"]), bool(resumed["in_solvent"])
        else:
            guess = initial_guess(self.level, mol, self.atoms, self.charge, self.multiplicity)
        if len(self.atoms) > 1 and in_pre_cycles:
            # a few damped, level-shifted cycles first: from a superposition guess, plain DIIS ran away (to
            # +800 Eh) on Lu(HOPO-methyl)(H2O)6, whose 4f levels lie among the ligand's lone pairs
            saver = _CheckpointSaver(guess_checkpoint, "guess", cycles, in_solvent=in_solvent, lowest_only=True)
            pre_h, n, guess_out, shared_df = self._pre_cycles(mol, guess, coarse, in_solvent, None, saver)
            cycles += n
            if pre_h is None and not in_solvent:
                # ran away in the gas phase (Lu(CAM-methyl)(H2O)6, 1+: -2311 -> +776 Eh by cycle 3, while in
                # SMD water it descends from cycle 1): every guess stage moves into the solvent
                in_solvent = True
                saver = _CheckpointSaver(guess_checkpoint, "guess", cycles, in_solvent=True, lowest_only=True)
                pre_h, n, guess_out, shared_df = self._pre_cycles(mol, guess, coarse, True, shared_df, saver)
                cycles += n
            guess = guess_out
            pre_h = float("inf") if pre_h is None else pre_h
        if self.level.options.solvent != "none":
            # then to convergence on the coarse grid (closed shell: in the gas phase, whose cycles cost less
            # than solvated ones); its density starts the final SCF a few cycles from convergence
            gas = self.scf_object(mol, solvated=in_solvent, grids=coarse, with_df=shared_df)
            gas.max_cycle = min(gas.max_cycle, GAS_STAGE_MAX_CYCLES)
            saver = _CheckpointSaver(coarse_checkpoint, "coarse", cycles, in_solvent=in_solvent)
            try:
                gas_h, n = _kernel(gas, guess, on_cycle=saver)
                if gas.converged or gas_h < pre_h:
                    guess = Orbitals(gas.mo_coeff, gas.mo_occ)  # the solver that follows starts from these
            except _RunAway as stop:
                n = stop.cycles
                guess = stop.lowest_density if stop.lowest_density is not None else guess
            cycles += n
            shared_df = shared_df or _df_of(gas)
        self._final_scf(mol, guess, shared_df, cycles, final_checkpoint, earlier)
        if resumed is not None:
            self.results["resumed_at_cycle"] = int(resumed["cycles"])

    def _final_scf(self, mol, guess, shared_df, cycles: int, checkpoint: Path | None,
                   earlier: tuple[Path | None, ...]) -> None:
        """The SCF that counts, on the level's own grid, from ``guess``; ``cycles`` already spent.  Its density
        is saved to ``checkpoint`` as it goes; every stage's file is removed once the attempt has converged
        or failed (the ``earlier`` stages' are kept until then: a kill before the first save resumes from
        them)."""
        mf = self.scf_object(mol, with_df=shared_df)
        saver = _CheckpointSaver(checkpoint, "final", cycles)
        try:
            energy_h, n = _kernel(mf, guess, FINAL_RUNAWAY_EH, on_cycle=saver)
        except _RunAway as stop:
            _remove(checkpoint, *earlier)
            raise CalculationFailed(f"SCF ran away (energy up > {FINAL_RUNAWAY_EH} Eh from its lowest by cycle "
                                    f"{stop.cycles})") from None
        except CalculationFailed:
            _remove(checkpoint, *earlier)
            raise
        _remove(checkpoint, *earlier)
        cycles += n
        if not mf.converged:
            raise CalculationFailed(f"SCF not converged in {self.attempt_options.get('max_cycle')} cycles")
        dispersion_h = d4_energy(self.atoms, self.charge)
        self.results = {"energy": (energy_h + dispersion_h) * Hartree, "scf_cycles": cycles,
                        "n_basis": int(mol.nao), "dispersion_eV": dispersion_h * Hartree,
                        "device": "gpu" if gpu_available() else "cpu"}
        if self.multiplicity > 1:
            state = open_shell_state(mf, self.atoms)
            self.results.update(state)
            problem = ln3_state_problem(state, self.atoms)
            if problem:
                raise CalculationFailed(problem)

    def _pre_cycles(self, mol, guess, grids, solvated: bool, with_df, on_cycle=None):
        """Damped, level-shifted cycles from ``guess``: (energy in Hartree, or None if they ran away; cycles;
        the density to go on from; the density-fitting object to share).  After a runaway the density goes on
        from the lowest-energy cycle: Gd(CAM-methyl)(H2O)6 with 4f in valence fell to -1851.86 Eh by cycle 5
        in SMD water and then climbed 1.5 Eh while ligand spin density built up."""
        pre = self.scf_object(mol, solvated=solvated, aids=False, grids=grids, with_df=with_df)
        pre.level_shift, pre.damp, pre.diis_start_cycle = 0.5, 0.5, 4
        pre.max_cycle, pre.conv_tol = PRECONVERGE_CYCLES, 1e-5
        try:
            energy, n = _kernel(pre, guess, on_cycle=on_cycle)
        except _RunAway as stop:
            return None, stop.cycles, stop.lowest_density if stop.lowest_density is not None else guess, \
                _df_of(pre)
        return energy, n, pre.make_rdm1(), _df_of(pre)

    def build_mole(self, atoms):
        from pyscf import gto

        symbols = atoms.get_chemical_symbols()
        basis, ecp = self.level.basis_and_ecp(symbols)
        memory = int(os.environ.get(MEMORY_ENV, DEFAULT_MEMORY_MB))
        return gto.M(atom=[(s, tuple(map(float, p))) for s, p in zip(symbols, atoms.positions)], unit="Angstrom",
                     basis=basis, ecp=ecp, charge=self.charge, spin=self.multiplicity - 1, verbose=0,
                     max_memory=memory)

    def scf_object(self, mol, solvated: bool = True, aids: bool = True, grids=None, with_df=None):
        """The SCF object: (U)KS B3LYP5 with density fitting, in the level's solvent unless ``solvated`` is
        False, with this attempt's convergence aids unless ``aids`` is False; on ``grids`` and with the
        density-fitting object ``with_df`` when given (CPU only: on the GPU each object makes its own)."""
        from pyscf import dft

        mf = (dft.UKS(mol) if self.multiplicity > 1 else dft.RKS(mol))
        mf.xc = "b3lyp5"
        mf.conv_tol = 1e-8
        mf.max_cycle = int(self.attempt_options.get("max_cycle", 100))
        mf = mf.density_fit(auxbasis={el: jk_fitting_basis(el) for el in set(mol.elements)})
        if not gpu_available():
            if grids is not None:
                mf.grids = grids
            if with_df is not None:
                mf.with_df = with_df
        solvent = self.level.options.solvent if solvated else "none"
        if solvent == "cpcm":
            mf = mf.PCM()
            mf.with_solvent.method = "C-PCM"
            mf.with_solvent.eps = WATER_EPSILON
        elif solvent == "smd":
            mf = mf.SMD()
            mf.with_solvent.solvent = "water"
        if solvent != "none":
            mf.with_solvent.lebedev_order = LEBEDEV_ORDER
            if not gpu_available():
                keep_surface_integrals(mf)
        scf = self.attempt_options.get("scf", "diis") if aids else "diis"
        if scf == "shift":
            mf.level_shift, mf.damp = 0.3, 0.5
        elif self.multiplicity > 1:
            # high-spin 4f^n: undamped DIIS swapped occupied and empty 4f spin-orbitals and ran away (to
            # +1,356 Eh on Gd(HOPO-methyl)(H2O)6 after 63 gas-phase cycles); a level shift keeps the occupied
            # 4f below the empty ones and leaves the converged energy unchanged
            mf.level_shift = OPEN_SHELL_LEVEL_SHIFT
        if gpu_available():
            mf = mf.to_gpu()
        if scf == "newton":
            if solvent != "none":
                # PySCF leaves the reaction field out of the orbital Hessian unless told the solvent relaxes
                # with the density, as it does in a ground-state SCF
                mf.with_solvent.equilibrium_solvation = True
            mf = mf.newton()
        return mf


def open_shell_state(mf, atoms) -> dict:
    """Which open-shell state a converged UKS reached: ``s_squared`` (⟨S²⟩; a pure high-spin 4f⁷ is
    S(S+1) = 15.75), the Mulliken spin population on the metal (``metal_spin``, electrons) and the Mulliken
    populations of the metal's f functions per spin (``metal_f_alpha``, ``metal_f_beta``, electrons).

    Two points of one metal whose f populations differ (a 4f⁷ ion against a complex whose ligand has given
    the metal a β 4f electron) are different electronic states, and their energy difference is not a
    binding energy.
    """
    symbols = atoms.get_chemical_symbols()
    metals = [i for i, s in enumerate(symbols) if s in METALS]
    s_squared = float(_host(mf.spin_square()[0]))
    if not metals:
        return {"s_squared": s_squared}
    mol = mf.mol
    on_metal = np.zeros(mol.nao, dtype=bool)
    f_on_metal = np.zeros(mol.nao, dtype=bool)
    ao_loc = mol.ao_loc_nr()
    for shell in range(mol.nbas):
        if mol.bas_atom(shell) == metals[0]:
            on_metal[ao_loc[shell]:ao_loc[shell + 1]] = True
            f_on_metal[ao_loc[shell]:ao_loc[shell + 1]] = mol.bas_angular(shell) == 3
    overlap = _host(mf.get_ovlp())
    pop_a, pop_b = (np.einsum("ij,ji->i", _host(dm), overlap) for dm in mf.make_rdm1())
    return {"s_squared": s_squared, "metal_spin": float((pop_a - pop_b)[on_metal].sum()),
            "metal_f_alpha": float(pop_a[f_on_metal].sum()), "metal_f_beta": float(pop_b[f_on_metal].sum())}


def ln3_state_problem(state: dict, atoms) -> str | None:
    """Why a converged open-shell point is not the Ln(III) 4fⁿ state it is meant to be, or None.

    B3LYP's delocalisation error gives lanthanide complexes SCF solutions in which a ligand (even a water)
    has handed an electron to the metal's 5d/6s shell: on [Gd(H2O)2]3+ (small bases, C-PCM) one lies
    5.4 kcal/mol below the 4f⁷ Gd(III) solution, with spin 8.0 on Gd and ⟨S²⟩ 16.76 (``tests/test_dft.py``).  Gd(II) does not exist in
    water (E° ≈ −3.9 V), the 4f-in-core reference describes Gd(III) by construction, and a binding energy
    between two different states is no binding energy, so such a point is refused rather than stored.
    """
    metals = [s for s in atoms.get_chemical_symbols() if s in UNPAIRED_4F]
    if not metals or "metal_spin" not in state:
        return None
    metal, expected = metals[0], UNPAIRED_4F[metals[0]]
    if abs(state["metal_spin"] - expected) <= LN3_SPIN_TOLERANCE:
        return None
    return (f"converged to a charge-transfer state, not {metal}(III) 4f^{expected}: spin on {metal} "
            f"{state['metal_spin']:.2f} (expected {expected}), <S^2> {state['s_squared']:.2f}")


def _host(array) -> np.ndarray:
    """A NumPy array from a NumPy or CuPy one (gpu4pyscf returns the latter)."""
    return np.asarray(array.get() if hasattr(array, "get") else array)


def _coarse_grids(mol):
    """A coarse integration grid (PySCF level ``GUESS_GRID_LEVEL``; the final SCF keeps the default, 3) for
    the guess stages."""
    from pyscf.dft import gen_grid

    grids = gen_grid.Grids(mol)
    grids.level = GUESS_GRID_LEVEL
    return grids


def _df_of(mf):
    """The density-fitting object of an SCF object (None on the GPU, where nothing is shared)."""
    return None if gpu_available() else getattr(mf, "with_df", None)


class _RunAway(Exception):
    """An SCF whose energy rose more than ``RUNAWAY_EH`` above the lowest it had reached; carries the density
    of that lowest cycle."""

    def __init__(self, cycles: int, lowest_density=None):
        super().__init__(f"runaway after {cycles} cycles")
        self.cycles, self.lowest_density = cycles, lowest_density


def _kernel(mf, guess, runaway_eh: float = RUNAWAY_EH, on_cycle=None) -> tuple[float, int]:
    """Run an SCF from ``guess``: (energy in Hartree, cycles).  A numerical breakdown is an SCF failure;
    :class:`_RunAway` stops one whose energy climbs more than ``runaway_eh`` (Hartree) above its lowest
    (cycles towards +1,000 Eh cost as much as good ones).  ``on_cycle(env, energy, cycle)`` sees every cycle
    (``env``: PySCF's locals, with the cycle's ``dm``, ``mo_coeff`` and ``mo_occ``).  ``guess`` is a density
    or :class:`Orbitals`."""
    cycles, lowest, lowest_dm = [0], [float("inf")], [None]

    def watch(env) -> None:
        cycles[0] += 1
        energy = float(env["e_tot"])
        if on_cycle is not None and env.get("dm") is not None:
            on_cycle(env, energy, cycles[0])
        if energy < lowest[0]:
            # PySCF calls back with the cycle's density and its energy (DIIS cycles and Newton macro-iterations)
            lowest[0], lowest_dm[0] = energy, env.get("dm")
        elif energy > lowest[0] + runaway_eh:
            raise _RunAway(cycles[0], lowest_dm[0])

    mf.callback = watch
    try:
        if isinstance(guess, Orbitals) and hasattr(mf, "ah_conv_tol"):
            # the second-order solver starts from orbitals themselves: from a density it would re-occupy the
            # Fock matrix's orbitals by aufbau, which put a resumed Gd(HOPO-methyl)(H2O)6 2.9 Eh higher
            energy = float(mf.kernel(mo_coeff=guess.mo_coeff, mo_occ=guess.mo_occ))
        elif isinstance(guess, Orbitals):
            energy = float(mf.kernel(dm0=mf.make_rdm1(guess.mo_coeff, guess.mo_occ)))
        else:
            energy = float(mf.kernel(dm0=guess))
    except (np.linalg.LinAlgError, RuntimeError, ValueError) as exc:
        raise CalculationFailed(f"SCF stopped: {type(exc).__name__}: {exc}") from None
    return energy, cycles[0]


@dataclass(frozen=True)
class Orbitals:
    """Orbitals and occupations saved by a checkpoint: what a resumed SCF starts from."""

    mo_coeff: np.ndarray
    mo_occ: np.ndarray


class _CheckpointSaver:
    """Saves a stage's density every :data:`CHECKPOINT_EVERY_S` (and after its first cycle), atomically: a kill
    between two saves loses at most that much work, never the file.  With ``lowest_only`` (the damped guess
    cycles, which may climb before they are stopped as a runaway) only a density lower than every one before
    it is saved."""

    def __init__(self, path: Path | None, stage: str, cycles_before: int, in_solvent: bool = True,
                 lowest_only: bool = False):
        self.path, self.stage, self.cycles_before, self.last = path, stage, cycles_before, -float("inf")
        self.in_solvent, self.lowest_only, self.lowest = in_solvent, lowest_only, float("inf")

    def __call__(self, env: dict, energy: float, cycle: int) -> None:
        if self.path is None or time.monotonic() - self.last < CHECKPOINT_EVERY_S:
            return
        if self.lowest_only and energy >= self.lowest:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.stem + ".partial.npz")
        orbitals = {k: _host(env[k]) for k in ("mo_coeff", "mo_occ") if env.get(k) is not None}
        np.savez(partial, dm=_host(env["dm"]), energy=energy, cycles=self.cycles_before + cycle,
                 in_solvent=self.in_solvent, stage=self.stage, **orbitals)
        os.replace(partial, self.path)
        self.last, self.lowest = time.monotonic(), min(self.lowest, energy)


def _read_checkpoint(path: Path | None, nao: int) -> dict | None:
    """The saved density of this calculation, or None (no file, or one that does not fit the basis)."""
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path) as saved:
            found = {k: saved[k] for k in ("dm", "energy", "cycles", "in_solvent")}
            if "mo_coeff" in saved and "mo_occ" in saved:
                found["orbitals"] = Orbitals(saved["mo_coeff"], saved["mo_occ"])
    except (OSError, ValueError, KeyError):
        return None
    if found["dm"].shape[-1] != nao:
        return None
    found["guess"] = found.get("orbitals", found["dm"])
    return found


def _remove(*paths: Path | None) -> None:
    for path in paths:
        if path is not None:
            path.unlink(missing_ok=True)


def d4_energy(atoms, charge: int) -> float:
    """DFT-D4 dispersion energy (Hartree) with B3LYP parameters, from the true atomic numbers (an ECP's
    reduced nuclear charge must not reach D4)."""
    from dftd4.interface import DampingParam, DispersionModel

    model = DispersionModel(atoms.numbers, atoms.positions / Bohr, charge=float(charge))
    return float(model.get_dispersion(DampingParam(method="b3lyp"), grad=False)["energy"])


@lru_cache(maxsize=64)
def ion_density(level: DFTLevel, metal: str, spin: int) -> np.ndarray:
    """Converged gas-phase density of the bare M³⁺ (2S = ``spin``) in ``level``'s basis and ECP: the metal
    block of every initial guess.  PySCF's ``minao`` guess is tried first; it fails with the 4f-in-core
    ECPs (``LinAlgError``), and then the core-Hamiltonian guess starts the ion instead."""
    from pyscf import dft, gto

    basis, ecp = level.basis_and_ecp([metal])
    ion = gto.M(atom=[(metal, (0.0, 0.0, 0.0))], basis=basis, ecp=ecp, charge=3, spin=spin, verbose=0)
    mf = dft.UKS(ion) if spin else dft.RKS(ion)
    mf.xc = "b3lyp5"
    mf.max_cycle = 150
    try:
        guess = mf.get_init_guess(key="minao")
    except (np.linalg.LinAlgError, ValueError, KeyError):
        guess = mf.get_init_guess(key="1e")
    mf.kernel(dm0=guess)
    return np.asarray(mf.make_rdm1())


def initial_guess(level: DFTLevel, mol, atoms, charge: int, multiplicity: int):
    """A superposition of the metal ion's converged density and PySCF's ``minao`` guess for everything else.

    The 4f-in-core ECPs make PySCF's atomic guesses fail (``LinAlgError``), so the metal's block comes from a
    gas-phase SCF of the bare M³⁺ in the same basis (:func:`ion_density`, once per process); the rest of the
    system (ligands and waters) takes the ``minao`` guess.  Systems without a metal (free ligand, water)
    use ``minao`` directly; the bare ion starts from its own gas-phase density.
    """
    from pyscf import gto, scf

    symbols = atoms.get_chemical_symbols()
    metals = [i for i, s in enumerate(symbols) if s in METALS]
    if not metals:
        return None
    m = metals[0]
    ion_spin = multiplicity - 1
    dm_ion = ion_density(level, symbols[m], ion_spin)
    if len(symbols) == 1:
        return dm_ion
    rest_atoms = [(s, tuple(map(float, p))) for i, (s, p) in enumerate(zip(symbols, atoms.positions)) if i != m]
    rest = gto.M(atom=rest_atoms, unit="Angstrom", basis={k: v for k, v in mol._basis.items() if k in
                                                         {s for i, s in enumerate(symbols) if i != m}},
                 ecp={k: v for k, v in mol._ecp.items() if k != symbols[m]}, charge=charge - 3, spin=0,
                 verbose=0)
    dm_rest = scf.hf.init_guess_by_minao(rest)
    # AO order follows atom order: splice the metal's block in at its place
    slices = mol.aoslice_by_atom()
    start, stop = slices[m, 2], slices[m, 3]
    order = np.r_[np.arange(start, stop), np.arange(0, start), np.arange(stop, mol.nao)]
    inverse = np.argsort(order)

    def spliced(ion_block, rest_block):
        block = np.zeros((mol.nao, mol.nao))
        n = stop - start
        block[:n, :n] = ion_block
        block[n:, n:] = rest_block
        return block[np.ix_(inverse, inverse)]

    if multiplicity == 1:
        return spliced(dm_ion, dm_rest)
    ion_a, ion_b = (dm_ion if ion_spin else (dm_ion / 2, dm_ion / 2))
    return np.array([spliced(ion_a, dm_rest / 2), spliced(ion_b, dm_rest / 2)])
