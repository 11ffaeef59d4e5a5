"""Background screening jobs for a long-lived process (the app server): a queue served by one thread.

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


@dataclass
class Job:
    """One queued screening request and where it stands."""

    ligand: Ligand
    metals: tuple[str, ...]
    ctypes: tuple[str, ...]
    settings: ScreeningSettings
    id: int = field(default_factory=lambda: next(_ids))
    status: str = "queued"  # queued, running, done, error
    progress: Progress | None = None
    summary: ScreenSummary | None = None
    error: str = ""
    submitted_at: float = field(default_factory=time.time)

    @property
    def fraction(self) -> float:
        """Share of tasks finished, 0–1 (1 when done)."""
        if self.status == "done":
            return 1.0
        if self.progress is None or not self.progress.total:
            return 0.0
        return self.progress.done / self.progress.total


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
               settings: ScreeningSettings) -> Job:
        """Queue a screening; returns its Job at once."""
        job = Job(ligand, tuple(metals), tuple(ctypes), settings)
        with self._lock:
            self._jobs.append(job)
        self._queue.put(job)
        return job

    def jobs(self) -> list[Job]:
        """Every job of this process, newest first."""
        with self._lock:
            return list(reversed(self._jobs))

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
            job.status = "running"
            try:
                if client is None:
                    client = make_client(self.scheduler, self.n_workers)
                    model = self._load_model()

                def report(p: Progress, job: Job = job) -> None:
                    job.progress = dataclasses.replace(p)

                job.summary = run_screen(job.ligand, Store(self.store_path), client, job.settings, job.metals,
                                         job.ctypes, report, model=model)
                job.status = "done" if not job.summary.errors else "error"
                job.error = "; ".join(job.summary.errors)
            except Exception as exc:  # the job fails; the server and the other jobs go on
                job.status, job.error = "error", f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
