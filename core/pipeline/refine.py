"""DFT refinement of a shortlist: single points at a DFT level on stored screening-level geometries.

For each requested complex that passed QC at the screening level, and for every reference its binding and
exchange energies need (the free ligand, water, the bare ions, the aqua ions [M(H2O)8]³⁺), one single point
at the DFT level runs on the stored, screening-level structure.  The result is stored beside the screening
result: same kind,
ligand, metal, type and settings, another level of theory (the level is part of the key), so E_bind and
E_exchange exist at both levels (:mod:`core.pipeline.fill_energies` fills them the same way).

The client reads structures from the store and sends them to the Dask workers, which return results; only
the client writes, so a cluster's workers need no shared filesystem.  Stored single points are never
recomputed; failures (an SCF that did not converge after every retry) are stored with their reason and
redone with ``retry_failed``.  Before running, :func:`plan_refinement` gives the estimated CPU-hours from
measured costs (``data/dft_costs.json``, written by ``benchmarks/dft_cost.py``).
"""
from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.chemistry.complexes import AQUA
from core.chemistry.constants import METAL_OXIDATION_STATE
from core.levels import LevelError, LevelOfTheory
from core.pipeline.fill_energies import fill_binding_energies
from core.pipeline.settings import ScreeningSettings
from core.storage.records import FAILED, OK, Kind, Record
from core.storage.store import Store

COSTS_FILE = Path(__file__).resolve().parents[2] / "data" / "dft_costs.json"
#: Exponent of the cost in the number of basis functions where the measured costs cannot fit one
#: (density-fitted hybrid DFT grows close to the cube of the basis).
DEFAULT_EXPONENT = 3.0
#: Open-shell (4f in valence) over closed-shell cost at equal size, where no open-shell point was measured
#: in ``data/dft_costs.json``: the calibration's open-shell Gd(HOPO-methyl)(H2O)6 took 9,346 CPU-s against
#: 1,325 for its 4f-in-core twin, Gd(CAM-methyl)(H2O)6 4,778 against 686 (464 against 418 functions: about
#: 5x at equal size for both; second-order SCF);
#: [Gd(H2O)8]3+ took 2.2x at equal size (benchmarks/dft_calibration.last.txt).  The complexes set the cost.
OPEN_SHELL_FACTOR = 5.0
#: Measurements smaller than this (water, bare ions: seconds, set by fixed overheads) are left out of the
#: fit when two larger ones exist.
FIT_MIN_BASIS = 150


@dataclass(frozen=True)
class SinglePoint:
    """One DFT single point to run: what it is, and the stored screening-level row whose structure it uses."""

    kind: str
    ligand: str
    metal: str
    ctype: str
    source_row: int
    charge: int
    n_atoms: int
    n_basis: int
    open_shell: bool
    #: A stored row at another level that ran this very calculation (see :func:`same_calculation_level`):
    #: its energy is reused instead of recomputed.
    copy_from_row: int | None = None

    @property
    def label(self) -> str:
        what = {Kind.COMPLEX: f"{self.metal} {self.ctype}" if self.ligand else f"[{self.metal}(H2O)8]3+",
                Kind.LIGAND: "free ligand", Kind.WATER: "water", Kind.ION: f"{self.metal}3+"}[self.kind]
        return f"{what} ({self.n_atoms} atoms, {self.n_basis} basis functions)"


@dataclass
class RefinePlan:
    """What a refinement will run, what is already stored, what cannot be refined (and why), and the
    estimated cost (CPU-seconds, from measured costs)."""

    level: LevelOfTheory
    settings: ScreeningSettings
    ligands: tuple[str, ...]
    metals: tuple[str, ...]
    ctypes: tuple[str, ...]
    todo: list[SinglePoint] = field(default_factory=list)
    stored: int = 0
    missing: list[str] = field(default_factory=list)
    estimated_cpu_s: float = 0.0
    #: Points to compute that are larger than any single point measured at their shell type, and the largest
    #: measured size (basis functions): for those the estimate extrapolates the fit.
    beyond_measured: int = 0
    largest_measured: int = 0

    @property
    def estimated_cpu_h(self) -> float:
        return self.estimated_cpu_s / 3600.0

    def describe(self) -> str:
        """One paragraph for the user before anything runs."""
        reused = sum(p.copy_from_row is not None for p in self.todo)
        text = (f"{len(self.todo)} single points to run at {self.level.name} ({self.stored} already stored"
                + (f"; {reused} taken from the 4f-in-core level, where they are the same calculation" if reused
                   else "") + f"); estimated {format_cpu_time(self.estimated_cpu_s)} of CPU time from measured costs.")
        if self.beyond_measured:
            text += (f" {self.beyond_measured} of them are larger than any single point measured (up to "
                     f"{self.largest_measured} basis functions): there the estimate extrapolates the fit to the "
                     "measured ones (benchmarks/README.md) and may be off by a factor of two.")
        if self.missing:
            text += f" Not refinable ({len(self.missing)}): " + "; ".join(self.missing[:6]) + (
                " …" if len(self.missing) > 6 else "")
        return text


@dataclass
class RefineProgress:
    """Where a refinement stands (passed to the progress callback after every single point)."""

    total: int
    done: int = 0
    failed: int = 0
    running: str = ""
    last: str = ""
    cancelled: bool = False


@dataclass
class RefineSummary:
    level: str
    computed: int
    failed: int
    stored: int
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    cpu_s: float = 0.0
    cancelled: bool = False


def format_cpu_time(seconds: float) -> str:
    """CPU time in the unit a chemist plans with: ``40 CPU-s``, ``12 CPU-min``, ``3.4 CPU-h``."""
    if seconds < 120:
        return f"{seconds:.0f} CPU-s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} CPU-min"
    return f"{seconds / 3600:.1f} CPU-h"


def dft_settings(settings: ScreeningSettings, level: LevelOfTheory) -> ScreeningSettings:
    """The settings DFT results are stored under: the screening settings whose geometries they use, at the
    DFT level (the fingerprint leaves the level out, so both levels share it)."""
    return settings.with_changes(level=level.name)


# -- the plan ------------------------------------------------------------------------------------------
def plan_refinement(store: Store, settings: ScreeningSettings, level: LevelOfTheory, ligands: Sequence[str],
                    metals: Sequence[str], ctypes: Sequence[str], retry_failed: bool = False,
                    costs_file: Path = COSTS_FILE) -> RefinePlan:
    """The single points a refinement of ``ligands`` × ``metals`` × ``ctypes`` needs at ``level``, on the
    geometries stored with ``settings`` (the screening level): complexes, free ligands, water, bare ions and
    aqua ions, skipping what is already stored at ``level``.  Complexes without a QC-passed screening result are
    listed in ``missing`` with the reason, and their references are not asked for on their account."""
    from core.levels.dft import n_basis_functions

    high = dft_settings(settings, level)
    plan = RefinePlan(level, settings, tuple(ligands), tuple(metals), tuple(ctypes))
    wanted: list[tuple[str, str, str, str]] = []  # kind, ligand, metal, ctype
    metals_used: set[str] = set()
    for ligand in ligands:
        has_complex = False
        for ctype in ctypes:
            for metal in metals:
                row = store.get(Kind.COMPLEX, settings, ligand=ligand, metal=metal, ctype=ctype)
                if row is None or row.status != OK:
                    why = "not screened yet" if row is None else f"{row.status}: {row.get('reason', '')}"
                    plan.missing.append(f"{metal} {ctype} of {ligand} ({why})")
                    continue
                wanted.append((Kind.COMPLEX, ligand, metal, ctype))
                has_complex = True
                metals_used.add(metal)
        if has_complex:
            wanted.append((Kind.LIGAND, ligand, "", ""))
    if wanted:
        wanted.append((Kind.WATER, "", "", ""))
    for metal in sorted(metals_used):
        wanted += [(Kind.ION, "", metal, ""), (Kind.COMPLEX, "", metal, AQUA.name)]
    model = CostModel.load(costs_file)
    for kind, ligand, metal, ctype in wanted:
        done = store.get(kind, high, ligand=ligand, metal=metal, ctype=ctype)
        if done is not None and not (retry_failed and done.status == FAILED):
            plan.stored += 1
            continue
        source = store.get(kind, settings, ligand=ligand, metal=metal, ctype=ctype)
        if source is None or source.status != OK:
            plan.missing.append(f"{kind} {metal} {ctype} {ligand}".replace("  ", " ").strip()
                                + f" reference (not at {settings.level})")
            continue
        symbols = source.toatoms().get_chemical_symbols() if source.natoms else [metal]
        open_shell = level.multiplicity(_atoms_of(symbols), 0) > 1
        twin = same_calculation_level(level, symbols)
        twin_row = store.get(kind, dft_settings(settings, twin), ligand=ligand, metal=metal, ctype=ctype) \
            if twin is not None else None
        point = SinglePoint(kind, ligand, metal, ctype, int(source.id), int(source.get("total_charge", 0)),
                            len(symbols), n_basis_functions(level, symbols), open_shell,
                            int(twin_row.id) if twin_row is not None and twin_row.status == OK else None)
        plan.todo.append(point)
        if point.copy_from_row is None:
            plan.estimated_cpu_s += model.cpu_s(point.n_basis, open_shell, level.name)
            largest = model.largest_measured(open_shell, level.name)
            if point.n_basis > largest:
                plan.beyond_measured += 1
                plan.largest_measured = largest
    # the largest first: they finish last otherwise, and a cluster balances the rest around them
    plan.todo.sort(key=lambda p: -p.n_basis)
    return plan


def same_calculation_level(level: LevelOfTheory, symbols: list[str]) -> LevelOfTheory | None:
    """The level whose single point on a system of ``symbols`` is the very same calculation as ``level``'s,
    or None: an open-shell level treats systems without Ce–Yb (free ligands, water, and everything with Y,
    La or Lu) exactly as its 4f-in-core twin does (same basis sets and ECPs, closed shell)."""
    from core.levels import LEVELS
    from core.levels.dft import UNPAIRED_4F, DFTLevel, DFTOptions

    if not isinstance(level, DFTLevel) or not level.options.open_shell or set(symbols) & set(UNPAIRED_4F):
        return None
    twin = DFTLevel(DFTOptions(open_shell=False, diffuse=level.options.diffuse, solvent=level.options.solvent,
                               metal_basis=level.options.metal_basis))
    return LEVELS.get(twin.name, twin)


def _atoms_of(symbols: list[str]):
    from ase import Atoms

    return Atoms(symbols)


@dataclass
class CostModel:
    """CPU-seconds of a single point as a power law in the number of basis functions, fitted to measured
    costs (``data/dft_costs.json``); open-shell points get their own fit where measured."""

    points: list[dict]

    @classmethod
    def load(cls, path: Path = COSTS_FILE) -> "CostModel":
        if not Path(path).exists():
            return cls([])
        return cls(json.loads(Path(path).read_text()).get("measurements", []))

    def _fitted(self, open_shell: bool, level: str) -> tuple[list[dict], float]:
        """The measurements a fit uses (those at ``level``, else of the same shell type, else the
        closed-shell ones) and the factor applied to it."""
        same = [p for p in self.points if p.get("level") == level] or \
               [p for p in self.points if bool(p.get("open_shell")) == open_shell]
        if same:
            return same, 1.0
        return [p for p in self.points if not p.get("open_shell")], OPEN_SHELL_FACTOR if open_shell else 1.0

    def largest_measured(self, open_shell: bool = False, level: str = "") -> int:
        """Basis functions of the largest single point the estimate for this shell type and level rests on."""
        return max((p["n_basis"] for p in self._fitted(open_shell, level)[0]), default=0)

    def cpu_s(self, n_basis: int, open_shell: bool = False, level: str = "") -> float:
        """Estimated CPU-seconds of a single point with ``n_basis`` functions: fitted to the measurements at
        ``level`` where there are any, else to those of the same shell type (then the closed-shell ones)."""
        same, factor = self._fitted(open_shell, level)
        if not same:
            return float("nan")
        large = [p for p in same if p["n_basis"] >= FIT_MIN_BASIS]
        same = large if len(large) >= 2 else same
        xs = [math.log(p["n_basis"]) for p in same]
        ys = [math.log(max(p["cpu_s"], 1e-3)) for p in same]
        if len(same) >= 2 and max(xs) - min(xs) > 0.3:
            mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
            slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
            slope = min(max(slope, 1.5), 4.0)
        else:
            slope, mx, my = DEFAULT_EXPONENT, xs[0], ys[0]
        return factor * math.exp(my + slope * (math.log(max(n_basis, 1)) - mx))


# -- the work ----------------------------------------------------------------------------------------
def compute_single_point(point: SinglePoint, atoms, level: LevelOfTheory, settings: ScreeningSettings,
                         checkpoint_dir: str | None = None) -> Record:
    """Run one single point on a worker: a :class:`Record` at ``level``; an SCF that does not converge
    after every retry of the level is a failed Record with the reason (never an exception).  The SCF saves
    its density in ``checkpoint_dir`` as it goes, so a single point killed with its worker resumes there."""
    level_name = level.name
    identity = {"ligand": point.ligand, "metal": point.metal, "ctype": point.ctype}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    try:
        res = level.single_point(atoms, point.charge, settings, checkpoint_dir=checkpoint_dir)
    except LevelError as exc:
        return Record(point.kind, status=FAILED, reason=str(exc), charge=point.charge, atoms=atoms,
                      wall_s=time.perf_counter() - wall0, level=level_name, **identity,
                      extra=_extra(point, time.process_time() - cpu0))
    extra = _extra(point, time.process_time() - cpu0)
    extra.update(scf_attempt=res.attempt.label, **res.details)
    return Record(point.kind, energy=res.energy, atoms=atoms, charge=point.charge, wall_s=res.wall_s,
                  level=level_name, extra=extra, **identity)


def copied_single_point(store: Store, point: SinglePoint, level: LevelOfTheory) -> Record:
    """``point`` at ``level`` from the stored twin-level row that ran the same calculation (no compute)."""
    twin = store.row(point.copy_from_row)
    extra = _extra(point, 0.0)
    extra["same_calculation_as"] = f"row {twin.id} ({twin.get('level_of_theory')})"
    return Record(point.kind, ligand=point.ligand, metal=point.metal, ctype=point.ctype,
                  energy=float(twin.get("energy_kcal")), atoms=twin.toatoms(), charge=point.charge, level=level.name,
                  extra=extra)


def _state_note(rec: Record) -> str:
    """`` (<S²> 15.77, metal spin 7.02)`` for an open-shell point, so a chemist sees which state it reached."""
    extra = rec.extra or {}
    if "metal_spin" not in extra:
        return ""
    return f" (⟨S²⟩ {extra['s_squared']:.2f}, metal spin {extra['metal_spin']:.2f}, metal f α/β " \
           f"{extra['metal_f_alpha']:.2f}/{extra['metal_f_beta']:.2f})"


def _extra(point: SinglePoint, cpu_s: float) -> dict:
    return {"geometry_row": point.source_row, "cpu_s": round(cpu_s, 1), "n_basis": point.n_basis,
            "peak_rss_mb": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def scf_checkpoints(store: Store) -> Path:
    """Folder beside the store where running single points save their SCF (``reescreen.db`` →
    ``reescreen.scf-checkpoints/``); a file is removed when its single point finishes."""
    return Path(store.path).with_suffix(".scf-checkpoints")


def run_refinement(plan: RefinePlan, store: Store, client, progress: Callable[[RefineProgress], None] | None = None,
                   cancel: threading.Event | None = None) -> RefineSummary:
    """Run ``plan``'s single points on ``client``'s workers, storing each as it finishes, then fill E_bind and
    E_exchange at the DFT level.  Stops (keeping what finished) when ``cancel`` is set."""
    from distributed import wait

    start = time.perf_counter()
    high = dft_settings(plan.settings, plan.level)
    state = RefineProgress(total=len(plan.todo))
    summary = RefineSummary(plan.level.name, computed=0, failed=0, stored=plan.stored)
    futures = {}
    copies = [p for p in plan.todo if p.copy_from_row is not None]
    for point in copies:
        store.save(copied_single_point(store, point, plan.level), high, {"geometry_level": plan.settings.level})
        summary.computed += 1
        state.done += 1
    if copies:
        state.last = f"{', '.join(p.label for p in copies)}: reused (the same calculation is stored)"
    for point in [p for p in plan.todo if p.copy_from_row is None]:
        atoms = store.row(point.source_row).toatoms() if point.kind != Kind.ION else _atoms_of([point.metal])
        atoms.calc = None
        fut = client.submit(compute_single_point, point, atoms, plan.level, high, str(scf_checkpoints(store)),
                            pure=False,
                            key=f"dft-{point.kind}-{point.ligand}-{point.metal}-{point.ctype}-{time.time_ns()}")
        futures[fut] = point
    if progress:
        state.running = ", ".join(p.label for p in plan.todo[:2])
        progress(state)
    active = dict(futures)
    while active:
        if cancel is not None and cancel.is_set():
            for fut in active:
                fut.cancel()
            state.cancelled = summary.cancelled = True
            break
        try:
            done = wait(list(active), timeout=1.0, return_when="FIRST_COMPLETED").done
        except TimeoutError:
            done = set()
        for fut in done:
            point = active.pop(fut)
            try:
                rec = fut.result()
            except Exception as exc:  # infrastructure: nothing stored, a rerun redoes it
                summary.errors.append(f"{point.label}: {type(exc).__name__}: {exc}")
                continue
            store.save(rec, high, {"geometry_level": plan.settings.level})
            summary.computed += 1
            summary.cpu_s += float(rec.extra.get("cpu_s", 0.0))
            state.done += 1
            if rec.status == FAILED:
                summary.failed += 1
                state.failed += 1
            state.last = f"{point.label}: {'failed' if rec.status == FAILED else 'done'}{_state_note(rec)}"
        if done and progress:
            left = list(active.values())
            state.running = ", ".join(p.label for p in left[:2])
            progress(state)
    for ligand in plan.ligands:
        fill_binding_energies(store, high, ligand)
    summary.wall_s = time.perf_counter() - start
    return summary
