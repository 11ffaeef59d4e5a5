"""Where screening runs: a Dask client on an existing scheduler, or an embedded cluster on this machine.

The embedded cluster binds everything (scheduler, workers, the diagnostics dashboard) to 127.0.0.1; the
dashboard serves worker logs and tracebacks without authentication, so it never listens on other
interfaces unless asked (``$REESCREEN_DASHBOARD``).  Every process of the cluster is marked and stopped
with the run (:mod:`core.pipeline.guard`).
"""
from __future__ import annotations

import logging
import os
import signal
import threading
from contextlib import contextmanager

from distributed import Client

SCHEDULER_ENV = "REESCREEN_SCHEDULER"
#: ``off``, or HOST:PORT for the embedded cluster's dashboard (default: loopback, a free port).
DASHBOARD_ENV = "REESCREEN_DASHBOARD"
DEFAULT_DASHBOARD = "127.0.0.1:0"
#: Seconds to wait for an external scheduler before saying it cannot be reached.
CONNECT_TIMEOUT_S = 8
#: Environment of the embedded workers.  One BLAS/OpenMP thread per worker process: threads fight for the
#: cores otherwise.  Worker logs at ERROR: their warnings (tasks cancelled at shutdown, a busy event loop
#: while a calculation holds the GIL) are not the user's concern, and errors reach the client as exceptions anyway.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "NUMBA_NUM_THREADS": "1", "DASK_LOGGING__DISTRIBUTED": "error"}


class ClusterError(RuntimeError):
    """The Dask scheduler cannot be reached or the embedded cluster cannot start."""


def dashboard_address(setting: str | None = None) -> str | None:
    """The embedded dashboard's address from ``setting`` or ``$REESCREEN_DASHBOARD``; None when off."""
    value = (setting if setting is not None else os.environ.get(DASHBOARD_ENV, "")).strip()
    if value.lower() in ("off", "none", "no", "0", "false"):
        return None
    return value or DEFAULT_DASHBOARD


def make_client(scheduler: str | None = None, n_workers: int | None = None,
                dashboard: str | None = None, threads_per_process: int = 1) -> Client:
    """A Dask client: on ``scheduler`` (or ``$REESCREEN_SCHEDULER``) if given, else an embedded
    ``LocalCluster`` of worker processes on 127.0.0.1, each running one task at a time with
    ``threads_per_process`` OpenMP/BLAS threads (screening: 1, one worker per core; DFT: all cores in one worker,
    whose memory a single point needs).

    Raises :class:`ClusterError` (one line, within ``CONNECT_TIMEOUT_S``) when the scheduler cannot be reached.
    """
    from core.pipeline.guard import guard_this_process

    guard_this_process()
    address = scheduler or os.environ.get(SCHEDULER_ENV)
    if address:
        try:
            return Client(address, timeout=f"{CONNECT_TIMEOUT_S}s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {address} within {CONNECT_TIMEOUT_S} s "
                               f"({type(exc).__name__}); is `dask scheduler` running there?") from None
    import dask
    from distributed import LocalCluster

    threads = max(int(threads_per_process), 1)
    env = {**WORKER_ENV, **{k: str(threads) for k in WORKER_ENV if k.endswith("_NUM_THREADS")}}
    dask.config.set({"distributed.nanny.pre-spawn-environ": env,
                     "distributed.worker.daemon": False})
    with _workers_ignore_ctrl_c():
        cluster = LocalCluster(n_workers=n_workers or max((os.cpu_count() or 1) // threads, 1),
                               threads_per_worker=1, processes=True,
                               dashboard_address=dashboard_address(dashboard), host="127.0.0.1")
    return Client(cluster)


@contextmanager
def _workers_ignore_ctrl_c():
    """Start worker processes with SIGINT ignored (inherited through fork and exec): a terminal's Ctrl-C
    reaches the whole process group, and the workers, stopped by their parent instead, would each print a
    traceback.  Only the main thread can change signal handling; elsewhere (the app's job thread) this is a
    no-op, as no terminal sends it Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def close_client(client: Client, interrupted: bool = False) -> None:
    """Close ``client`` and its embedded cluster without logging the comms it closes on purpose.  After an
    interrupt the workers are killed first: their running tasks are abandoned anyway, and a polite close
    waits for each to reach a point where it can stop."""
    from core.pipeline.guard import stop_descendants

    for n in ("distributed", "tornado", "asyncio"):
        logging.getLogger(n).setLevel(logging.CRITICAL)
    cluster = getattr(client, "cluster", None)
    if interrupted and cluster is not None:
        stop_descendants()
    try:
        client.close(timeout=10)
        if cluster is not None:
            cluster.close(timeout=10)
    except Exception:  # noqa: BLE001 - shutting down: the guard stops whatever did not close
        pass
