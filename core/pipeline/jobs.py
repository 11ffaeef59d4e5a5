"""Background jobs for a long-lived process (the app server): screenings and DFT refinements, one queue
served by one thread.

Each job has an ``owner`` (the browser session that queued it, see ``app/state.py``), so a page lists its
user's own jobs while several people share one server; any job can be cancelled while queued or running.

Jobs run :func:`core.pipeline.runner.run_screen` outside any page script, so a browser reload or page change does
not stop them; results go to the store as each finishes, so a restarted server still shows every
finished result and a resubmitted job computes only what is missing.
"""
from __future__ import annotations

import dataclasses
import itertools
import queue
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from core.chemistry.ligands import Ligand
from core.pipeline.cluster import make_client
from core.pipeline.runner import Progress, ScreenSummary, run_screen
from core.pipeline.settings import ScreeningSettings
from core.storage.store import Store

_ids = itertools.count(1)
FINISHED = ("done", "error", "cancelled")


@dataclass(kw_only=True)
class QueuedJob:
    """What every queued job has: its id, owner, status (queued, running, done, error, cancelled), times and a
    cancel flag."""

    id: int = field(default_factory=lambda: next(_ids))
    owner: str = ""
    status: str = "queued"
    error: str = ""
    submitted_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    cancel_requested: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


@dataclass
class Job(QueuedJob):
    """One queued screening request and where it stands."""

    ligand: Ligand
    metals: tuple[str, ...]
    ctypes: tuple[str, ...]
    settings: ScreeningSettings
    progress: Progress | None = None
    summary: ScreenSummary | None = None

    @property
    def n_complexes(self) -> int:
        """Complexes this job asked for (its ligand × metals × types)."""
        return len(self.metals) * len(self.ctypes)

    @property
    def complexes_done(self) -> int:
        """Its complexes stored so far (found in the store or finished now, failures included)."""
        if self.status == "done":
            return self.n_complexes
        return self.progress.complexes_done if self.progress is not None else 0

    @property
    def fraction(self) -> float:
        """Share of its complexes stored, 0–1 (1 when done)."""
        return min(self.complexes_done / self.n_complexes, 1.0) if self.n_complexes else 1.0


@dataclass
class RefineJob(QueuedJob):
    """One queued DFT refinement (:mod:`core.pipeline.refine`) and where it stands."""

    plan: "RefinePlan"  # noqa: F821
    progress: "RefineProgress | None" = None  # noqa: F821
    summary: "RefineSummary | None" = None  # noqa: F821

    @property
    def fraction(self) -> float:
        """Share of its single points finished, 0–1."""
        if self.status == "done" or not self.plan.todo:
            return 1.0
        return min(self.progress.done / len(self.plan.todo), 1.0) if self.progress is not None else 0.0


class JobManager:
    """Runs queued jobs one after another in a daemon thread, on one Dask client created on first use."""

    def __init__(self, store_path: str | Path, scheduler: str | None = None, n_workers: int | None = None,
                 use_model: bool = True):
        self.store_path = Path(store_path)
        self.use_model = use_model
        self.scheduler = scheduler
        self.n_workers = n_workers
        self._jobs: list[Job] = []
        self._queue: queue.Queue[Job] = queue.Queue()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="reescreen-jobs", daemon=True)
        self._thread.start()

    def submit(self, ligand: Ligand, metals: Sequence[str], ctypes: Sequence[str],
               settings: ScreeningSettings, owner: str = "") -> Job:
        """Queue a screening for ``owner``; returns its Job at once."""
        job = Job(ligand, tuple(metals), tuple(ctypes), settings, owner=owner)
        with self._lock:
            self._jobs.append(job)
        self._queue.put(job)
        return job

    def submit_refinement(self, plan, owner: str = "") -> RefineJob:
        """Queue the DFT single points of ``plan`` (:func:`core.pipeline.refine.plan_refinement`) for ``owner``."""
        job = RefineJob(plan, owner=owner)
        with self._lock:
            self._jobs.append(job)
        self._queue.put(job)
        return job

    def jobs(self, owner: str | None = None, kind: type | None = Job) -> list:
        """Jobs of this process, newest first: every job, or only ``owner``'s; screenings (``kind`` Job, the
        default), refinements (RefineJob) or both (None)."""
        with self._lock:
            return [j for j in reversed(self._jobs)
                    if (owner is None or j.owner == owner) and (kind is None or isinstance(j, kind))]

    def cancel(self, job_id: int) -> bool:
        """Cancel a queued or running job (a running one stops within a second or two; what it finished is
        kept).  False when the job is unknown or already finished."""
        with self._lock:
            job = next((j for j in self._jobs if j.id == job_id), None)
            if job is None or job.finished:
                return False
            job.cancel_requested.set()
            if job.status == "queued":
                job.status, job.finished_at = "cancelled", time.time()
        return True

    def _load_model(self):
        """The bundled model (loaded once per server), or None if absent or unusable: the computed results go on."""
        if not self.use_model:
            return None
        try:
            from core.model.predict import default_model

            return default_model()
        except Exception:
            traceback.print_exc()
            return None

    def _serve(self) -> None:
        client = None
        model = None
        while True:
            job = self._queue.get()
            if job.cancel_requested.is_set():
                continue
            job.status, job.started_at = "running", time.time()
            try:
                if client is None:
                    client = make_client(self.scheduler, self.n_workers)
                    model = self._load_model()

                def report(p, job=job) -> None:
                    job.progress = dataclasses.replace(p)

                if isinstance(job, RefineJob):
                    from core.pipeline.refine import run_refinement

                    job.summary = run_refinement(job.plan, Store(self.store_path), client, report,
                                                 job.cancel_requested)
                    job.status = "cancelled" if job.summary.cancelled else ("done" if not job.summary.errors
                                                                            else "error")
                    job.error = "; ".join(job.summary.errors)
                    job.finished_at = time.time()
                    continue
                job.summary = run_screen(job.ligand, Store(self.store_path), client, job.settings, job.metals,
                                         job.ctypes, report, model=model, cancel=job.cancel_requested)
                job.status = "cancelled" if job.summary.cancelled else ("done" if not job.summary.errors else "error")
                job.error = "; ".join(job.summary.errors)
            except Exception as exc:  # the job fails; the server and the other jobs go on
                job.status, job.error = "error", f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
            job.finished_at = time.time()
