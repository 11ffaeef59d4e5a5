"""Run a screening through Dask: build what is missing, save each result as it finishes.

The dependency chain per coordination type is: Architector La template → La complex optimised at the settings' level →
every other REE swapped into it and re-optimised.  References (free ligand, water, bare ions) and the
aqua ions [M(H2O)8]³⁺ run beside it.  Workers return results; only this (client) process writes the
store, so workers need no shared filesystem.  What is already stored is never recomputed; failures are
stored with their reason (``retry_failed`` redoes them); a dead worker's task is retried by Dask, and
whatever was lost with a dead client is simply missing on the next run.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from distributed import Client, wait

from core.chemistry.complexes import AQUA, COORDINATION_TYPES, CoordinationType
from core.chemistry.constants import REE_METALS, TEMPLATE_METAL
from core.chemistry.ligands import Ligand
from core.pipeline.settings import ScreeningSettings
from core.chemistry.qc import QC_VERSION
from core.pipeline.fill_energies import fill_binding_energies
from core.pipeline.recheck import recheck_qc
from core.chemistry.grafting import GraftError, GraftPlan, plan_graft
from core.pipeline.scaffold_templates import AQUA_TEMPLATE, grafted_starts, scaffold_template
from core.pipeline.tasks import ARCHITECTOR, GRAFT, SHIPPED, compute_complex_from_starts, compute_ion_reference, \
    compute_la_complex, compute_ligand_reference, compute_swapped_complex, compute_templates, \
    compute_water_reference
from core.storage.records import FAILED, OK, QC_FAILED, Kind, Record
from core.storage.claims import Claims
from core.storage.store import Store, record_key
from core.pipeline.eta import LA_COMPLEX, REFERENCES, SWAPS, TEMPLATES, StageClock, describe_stages

LANTHANIDE_SERIES = tuple(m for m in REE_METALS if m != "Y")  # La ... Lu
Y_CHAIN_NEIGHBOUR = "Ho"  # CN-8 radii: Y 1.019 Å, Ho 1.015 Å
#: Seconds between looks at units another run is computing.
WAIT_POLL_S = 1.0
#: Stage label of the reference calculations (free ligand, water, bare ions) in progress and timings.
REFERENCE = "reference"
#: Stage of each task -> the ``stage_s`` key its compute time is added to.
_STAGE_KIND = {TEMPLATES: "template", LA_COMPLEX: "complex", SWAPS: "complex", REFERENCES: REFERENCE}

ProgressCallback = Callable[["Progress"], None]


@dataclass
class Progress:
    """Where a run stands; passed to the progress callback after every finished task."""

    total: int
    done: int = 0
    failed: int = 0
    qc_failed: int = 0
    errors: int = 0
    last: str = ""
    #: Results written to the store by this run so far.
    saved: int = 0
    #: The ligand's complexes asked for, and how many of them are stored (found or finished, failed included).
    complexes_total: int = 0
    complexes_done: int = 0
    #: What is running now (``Architector templates (2), swaps (12)``) and the estimated seconds left.
    stage: str = ""
    eta_s: float | None = None
    cancelled: bool = False


@dataclass
class ScreenSummary:
    """What a run did.  ``computed`` counts tasks run now, ``cached`` results found in the store."""

    ligand: str
    requested: int
    cached: int
    computed: int
    failed: int
    qc_failed: int
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    stage_s: dict[str, float] = field(default_factory=dict)
    #: How each coordination type's missing complexes were started: ``graft``, or ``architector`` with why.
    routes: dict[str, str] = field(default_factory=dict)
    #: Units another run was computing on the same store: waited for, or taken over when that run had stopped.
    shared: list[str] = field(default_factory=list)
    #: Stopped on request (:func:`run_screen`'s ``cancel``): what had finished is stored, the rest is not.
    cancelled: bool = False


def _columns(rec: Record, names: dict[str, str]) -> dict:
    """Stored columns beside the record's own: the ligand's names, and the QC version a complex (or a free
    ligand, whose optimised conformers pass the same connectivity check) was judged by."""
    columns = dict(names) if rec.ligand else {}
    if rec.kind in (Kind.COMPLEX, Kind.LIGAND):
        columns["qc_version"] = QC_VERSION
    if rec.kind == Kind.COMPLEX:
        columns["route"] = rec.extra.get("route", "")
    return columns


def _status_counts(progress: Progress, rec: Record) -> None:
    if rec.status == FAILED:
        progress.failed += 1
    elif rec.status == QC_FAILED:
        progress.qc_failed += 1


def _stored_ok(store: Store, settings: ScreeningSettings, ligand: str, ctype: CoordinationType,
               metal: str) -> Record | None:
    row = store.get(Kind.COMPLEX, settings, ligand=ligand, metal=metal, ctype=ctype.name)
    return store.record(row) if row is not None and row.status == OK else None


def _series_starts(todo: Sequence[str], la, stored: Callable, submit: Callable) -> list[tuple[str, object]]:
    """Submit the swapped complexes as a chain along the lanthanide series.

    Neighbouring lanthanides differ by ~0.01 Å in radius, so a complex swapped from its optimised
    predecessor is converged in a step or two, where one swapped from La needs ~35.  Each metal starts
    from the nearest earlier metal that is stored or computed in this run (La by default); Y, which is
    not in the series, starts from Ho (closest radius) when available.  Returns (metal, future) pairs.
    """
    out: list[tuple[str, object]] = []
    prev = y_start = la
    for metal in LANTHANIDE_SERIES[1:]:
        if metal in todo:
            prev = submit(metal, prev)
            out.append((metal, prev))
        else:
            prev = stored(metal) or prev
        if metal == Y_CHAIN_NEIGHBOUR:
            y_start = prev
    if "Y" in todo:
        out.append(("Y", submit("Y", y_start)))
    return out


def _submit_chain(client: Client, store: Store, settings: ScreeningSettings, lig: Ligand | None,
                  ctype: CoordinationType, todo: Sequence[str],
                  la_grafts: tuple[list, str] | None = None) -> dict:
    """Submit what one coordination type still needs: the La complex (optimised from ``la_grafts`` when
    given, else from an Architector template), then the other metals swapped along the series."""
    smiles = lig.smiles if lig else ""
    futures: dict = {}
    la_row = store.get(Kind.COMPLEX, settings, ligand=smiles, metal=TEMPLATE_METAL, ctype=ctype.name)
    need_la = TEMPLATE_METAL in todo or la_row is None
    templates = [] if la_grafts else store.templates(settings, smiles, ctype.name)
    if need_la and la_grafts:
        la = client.submit(compute_complex_from_starts, lig, ctype, TEMPLATE_METAL, settings, *la_grafts,
                           pure=False)
        futures[la] = LA_COMPLEX
    elif need_la:
        if not any(t.status == OK for t in templates):
            templates = client.submit(compute_templates, lig, ctype, settings, pure=False)
            futures[templates] = TEMPLATES
        la = client.submit(compute_la_complex, lig, ctype, settings, templates, pure=False)
        futures[la] = LA_COMPLEX
    else:
        la = store.record(la_row)

    def submit_swap(metal: str, start):
        return client.submit(compute_swapped_complex, lig, ctype, metal, settings, start, la, templates,
                             pure=False)

    for _, future in _series_starts(todo, la, lambda m: _stored_ok(store, settings, smiles, ctype, m),
                                    submit_swap):
        futures[future] = SWAPS
    return futures


def _graft_la(plan: GraftPlan | None, lig: Ligand, ctype: CoordinationType,
              settings: ScreeningSettings, why_not: str) -> tuple[tuple[list, str] | None, str]:
    """Grafted starting structures of the La complex (milliseconds, here on the client), or None and why."""
    if plan is None:
        return None, why_not
    try:
        return grafted_starts(plan, lig, TEMPLATE_METAL, ctype.name, settings), ""
    except GraftError as exc:
        return None, f"{TEMPLATE_METAL}: {exc}"


def _submit_shipped_aqua(client: Client, settings: ScreeningSettings, todo: Sequence[str]) -> dict:
    """The aqua ions re-optimised from the shipped ones (a step or two each), when every one is shipped."""
    shipped = {m: scaffold_template(settings, AQUA_TEMPLATE, m, AQUA.name) for m in todo}
    if any(found is None or found[1] != m for m, found in shipped.items()):
        return {}
    return {client.submit(compute_complex_from_starts, None, AQUA, m, settings, [atoms], f"shipped {m} aqua ion",
                          SHIPPED, pure=False): SWAPS for m, (atoms, _) in shipped.items()}


def _refused_grafts(lig: Ligand, ctype: CoordinationType, todo: Sequence[str], why: str) -> list[Record]:
    """With the route forced to ``graft``, a type that cannot be grafted is stored as failed, with the reason."""
    return [Record(Kind.COMPLEX, ligand=lig.smiles, metal=m, ctype=ctype.name, status=FAILED,
                   reason=f"not grafted (route 'graft' only): {why}", extra={"route": GRAFT}) for m in todo]


def run_screen(ligand: Ligand, store: Store, client: Client, settings: ScreeningSettings,
               metals: Sequence[str] = REE_METALS, ctypes: Sequence[str] = tuple(COORDINATION_TYPES),
               progress: ProgressCallback | None = None, retry_failed: bool = False,
               model=None, cancel: threading.Event | None = None) -> ScreenSummary:
    """Screen ``ligand`` against ``metals`` × ``ctypes``; returns what was cached, computed and failed.

    Setting ``cancel`` stops the run within a second: tasks not started are cancelled, every finished result
    stays stored (a rerun computes only what is missing), and the summary says ``cancelled``.

    With a ``model`` (:class:`core.model.BindingModel`), every QC-passed complex also gets the model's
    E_bind prediction, batched once the computed results are in.
    """
    start = time.perf_counter()
    bad = sorted(set(metals) - set(REE_METALS)) + sorted(set(ctypes) - set(COORDINATION_TYPES))
    if bad:
        raise ValueError(f"Unknown metals or coordination types: {', '.join(bad)}")
    metals = [m for m in REE_METALS if m in set(metals)]
    names = {"ligand_name": ligand.name, "scaffold": ligand.scaffold, "substituent": ligand.substituent}
    recheck_qc(store, settings, ligand)
    counts = {"cached": 0}

    def missing(kind: str, **ident: str) -> bool:
        return not store.has(kind, settings, retry_failed=retry_failed, **ident)

    def reference(kind: str, task, *args, **ident: str) -> _Unit:
        def submit() -> dict:
            return {client.submit(task, *args, pure=False): REFERENCES} if missing(kind, **ident) else {}
        return _Unit(_unit_key(kind, settings, **ident), f"{kind} {ident.get('metal', '')}".strip(), submit)

    # Complexes: grafted onto the shipped complexes of the ligand's scaffold where possible (every metal at
    # once), else one Architector chain per coordination type; the aqua ion always by its chain.
    requested = len(metals) * len(ctypes)
    plan = plan_graft(ligand.smiles) if settings.route != ARCHITECTOR else None
    no_plan = "the default route; --route auto grafts" if settings.route == ARCHITECTOR else \
        "the ligand is not a ring-substituted library scaffold"
    routes: dict[str, str] = {}

    def chain(lig: Ligand | None, ctype: CoordinationType) -> _Unit:
        smiles = lig.smiles if lig else ""

        def submit() -> dict:
            todo = [m for m in metals if missing(Kind.COMPLEX, ligand=smiles, metal=m, ctype=ctype.name)]
            if lig is not None:
                counts["cached"] += len(metals) - len(todo)
                state.complexes_done += len(metals) - len(todo)
            if not todo:
                return {}
            la_grafts = None
            if lig is not None:
                la_grafts, why = _graft_la(plan, lig, ctype, settings, no_plan)
                if la_grafts:
                    routes[ctype.name] = (f"{GRAFT}: La grafted onto the shipped {plan.scaffold} complex (new "
                                          f"groups at {', '.join(plan.positions) or 'none'}), the other metals "
                                          "swapped along the series from it")
                else:
                    routes[ctype.name] = f"{ARCHITECTOR} ({why})"
                    if settings.route == GRAFT:
                        for rec in _refused_grafts(lig, ctype, todo, why):
                            store.save(rec, settings, _columns(rec, names))
                            state.saved += 1
                        return {}
            elif settings.route != ARCHITECTOR:
                shipped = _submit_shipped_aqua(client, settings, todo)
                if shipped:
                    return shipped
            return _submit_chain(client, store, settings, lig, ctype, todo, la_grafts)
        return _Unit(_unit_key("chain", settings, ligand=smiles, ctype=ctype.name), f"{ctype.name} complexes",
                     submit, ctype.name)

    units = [reference(Kind.LIGAND, compute_ligand_reference, ligand, settings, ligand=ligand.smiles),
             reference(Kind.WATER, compute_water_reference, settings)]
    units += [reference(Kind.ION, compute_ion_reference, m, settings, metal=m) for m in metals]
    units += [chain(ligand, COORDINATION_TYPES[c]) for c in ctypes] + [chain(None, AQUA)]

    state = Progress(total=0, complexes_total=requested)
    stage_s: dict[str, float] = {}
    errors: list[str] = []
    shared: list[str] = []

    def save(label: str, result) -> None:
        records = result if isinstance(result, list) else [result]
        for rec in records:
            store.save(rec, settings, _columns(rec, names))
            state.saved += 1
            stage_s[_STAGE_KIND[label]] = stage_s.get(_STAGE_KIND[label], 0.0) + rec.wall_s
            if rec.kind == Kind.COMPLEX and rec.ligand == ligand.smiles and rec.metal in metals:
                state.complexes_done += 1
            if rec.kind != Kind.TEMPLATE or rec.status != OK:
                _status_counts(state, rec)
            state.last = f"{rec.kind} {rec.metal} {rec.ctype} {rec.status}".strip()
        fill_binding_energies(store, settings, ligand.smiles)

    with Claims(store.path) as claims:
        n_tasks = _run_units(units, claims, state, save, errors, shared, progress,
                             StageClock(workers=max(len(client.nthreads()), 1)), cancel)
    fill_binding_energies(store, settings, ligand.smiles)
    if model is not None:
        from core.model.predict import add_model_predictions

        try:
            add_model_predictions(store, model, [ligand.smiles])
        except Exception as exc:  # the computed results are stored; a rerun retries the prediction
            errors.append(f"model prediction: {type(exc).__name__}: {exc}")
    return ScreenSummary(ligand=ligand.smiles, requested=requested, cached=counts["cached"], computed=n_tasks,
                         failed=state.failed, qc_failed=state.qc_failed, errors=errors,
                         wall_s=time.perf_counter() - start, stage_s=stage_s, routes=routes, shared=shared,
                         cancelled=state.cancelled)


@dataclass
class _Unit:
    """A unit of work that one run at a time may do: its claim key, a label, and what submits its missing
    tasks (returning future -> stage label; empty when everything is stored)."""

    key: str
    label: str
    submit: Callable[[], dict]
    #: The coordination type of a chain of complexes ("" for references), for its stage costs.
    ctype: str = ""


def _unit_key(kind: str, settings: ScreeningSettings, ligand: str = "", metal: str = "", ctype: str = "") -> str:
    return record_key(kind, ligand, metal, ctype, settings)


def _finished(futures, timeout: float | None) -> set:
    """Futures among ``futures`` that are done, waiting up to ``timeout`` s (None: until one is)."""
    try:
        return wait(list(futures), timeout=timeout, return_when="FIRST_COMPLETED").done
    except TimeoutError:
        return set()


def _run_units(units: list[_Unit], claims: Claims, state: Progress, save: Callable, errors: list[str],
               shared: list[str], progress: ProgressCallback | None, clock: StageClock | None = None,
               cancel: threading.Event | None = None) -> int:
    """Claim and submit every unit, save results as they finish; wait for units another run holds (and take
    over those of a dead run).  Keeps ``state``'s stage and time estimate current; stops when ``cancel`` is
    set.  Returns how many tasks this run submitted."""
    clock = clock or StageClock()
    pending = list(units)
    active: dict = {}  # future -> (stage label, unit)
    left: dict[str, int] = {}  # unit key -> its tasks not finished
    open_stages: dict[str, Counter] = {}  # unit key -> stage -> tasks not finished
    unit_ctype: dict[str, str] = {}
    last_event: dict[str, float] = {}  # unit key -> when its last task finished (or it was submitted)
    waiting_for: dict[str, str] = {}
    n_tasks = 0

    def report() -> None:
        open_tasks = sum(open_stages.values(), Counter())
        state.stage = describe_stages(open_tasks) or (state.last if state.last.startswith("waiting") else "")
        now = time.perf_counter()
        running_s = {key: now - last_event[key] for key in open_stages}
        state.eta_s = clock.remaining_s(open_stages, unit_ctype, running_s) if open_stages or not pending else None
        if progress:
            progress(state)

    report()
    while pending or active:
        if cancel is not None and cancel.is_set():
            for fut, (_, unit) in active.items():
                fut.cancel()
                claims.release(unit.key)
            state.cancelled, state.stage, state.eta_s = True, "cancelled", None
            report()
            return n_tasks
        still = []
        for unit in pending:
            holder, taken_over = claims.claim(unit.key)
            if holder is not None:
                if unit.key not in waiting_for:
                    waiting_for[unit.key] = holder.describe()
                    shared.append(f"{unit.label}: waited for the run of {holder.describe()}")
                    state.last = f"waiting for {holder.describe()} ({unit.label})"
                still.append(unit)
                continue
            if taken_over:
                shared.append(f"{unit.label}: took over from a run that stopped")
            futures = unit.submit()
            if not futures:
                claims.release(unit.key)
                continue
            n_tasks += len(futures)
            state.total += len(futures)
            left[unit.key] = len(futures)
            open_stages[unit.key] = Counter(futures.values())
            unit_ctype[unit.key], last_event[unit.key] = unit.ctype, time.perf_counter()
            active.update({fut: (label, unit) for fut, label in futures.items()})
        pending = still
        report()
        if not active:
            if pending:
                time.sleep(WAIT_POLL_S)
            continue
        # with someone watching (progress) or able to cancel, wake every second: the time left moves on
        wait_s = WAIT_POLL_S if pending or cancel is not None or progress is not None else None
        for fut in _finished(active, wait_s):
            label, unit = active.pop(fut)
            try:
                result = fut.result()
            except Exception as exc:  # infrastructure failure: nothing stored, the next run redoes it
                errors.append(f"{label}: {type(exc).__name__}: {exc}")
                state.errors += 1
            else:
                save(label, result)
                clock.record(label, sum(r.wall_s for r in (result if isinstance(result, list) else [result])),
                             unit.ctype)
            left[unit.key] -= 1
            open_stages[unit.key][label] -= 1
            last_event[unit.key] = time.perf_counter()
            if not left[unit.key]:
                claims.release(unit.key)
                del open_stages[unit.key]
            state.done += 1
            report()
    state.stage, state.eta_s = "done", 0.0
    return n_tasks
