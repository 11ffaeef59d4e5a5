"""Nothing of a run outlives it: every process a run starts carries a marker, and a watcher stops them all
once the run's own process is gone, however it ended (finished, Ctrl-C, SIGTERM, SIGKILL, a crash).

Dask's worker processes exit with their parent, but what they start themselves does not: Architector's
fork-server and build child, multiprocessing's resource tracker.  Those are found by the marker in their
environment (every child inherits it, through fork and exec alike), not by parentage, which a SIGKILL
breaks.  This file runs as the watcher (``python guard.py ROOT_PID CREATE_TIME MARKER``) and imports
only the standard library and psutil, so it starts in a fraction of a second.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

#: Environment variable every process of a run inherits; its value names the run.
MARKER_ENV = "REESCREEN_RUN"
POLL_S = 0.25
_marker = ""
_watcher_pid = 0


def guard_this_process() -> str:
    """Mark every process started from now on and start the watcher (once per process); returns the marker."""
    global _marker, _watcher_pid
    if _marker:
        return _marker
    import atexit

    import psutil

    marker = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    env = {k: v for k, v in os.environ.items() if k != MARKER_ENV}  # the watcher must not sweep itself
    watcher = subprocess.Popen([sys.executable, os.path.abspath(__file__), str(os.getpid()),
                      repr(psutil.Process().create_time()), marker],
                     env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True, close_fds=True)  # own session: a terminal's Ctrl-C does not reach it
    os.environ[MARKER_ENV] = marker
    _marker, _watcher_pid = marker, watcher.pid
    atexit.register(stop_descendants)  # registered after Dask's handlers, so it runs before them
    return marker


def stop_descendants() -> None:
    """Kill every process this one started (workers and what they started), except the watcher.

    At exit, Dask would close each worker politely and wait for tasks that hold the GIL in quantum chemistry or
    Architector for many seconds; nothing a worker holds needs saving (only this process writes the store).
    """
    import psutil

    try:
        procs = [p for p in psutil.Process().children(recursive=True)
                 if p.pid != _watcher_pid and not _is_resource_tracker(p)]
    except psutil.Error:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            pass
    # a killed grandchild stays a zombie until init reaps it: waiting for it to vanish would only delay exit
    psutil.wait_procs([p for p in procs if _child_of_this_process(p)], timeout=1)


def _child_of_this_process(proc) -> bool:
    import psutil

    try:
        return proc.ppid() == os.getpid()
    except psutil.Error:
        return False


def _is_resource_tracker(proc) -> bool:
    """multiprocessing's resource tracker leaves by itself once its parent is gone, and cleans up after it;
    killed early, it is relaunched with a warning and a traceback per semaphore."""
    import psutil

    try:
        return any("resource_tracker" in part for part in proc.cmdline())
    except psutil.Error:
        return False


def marked_processes(marker: str) -> list:
    """Processes of this user whose environment carries ``marker``."""
    import psutil

    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        try:
            if proc.environ().get(MARKER_ENV) == marker:
                found.append(proc)
        except (psutil.Error, OSError):  # gone, a zombie, or another user's
            continue
    return found


def _alive(root, create_time: float) -> bool:
    import psutil

    try:
        return root.create_time() == create_time and root.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def sweep(marker: str, quiet_passes: int = 3, max_s: float = 8.0) -> int:
    """Kill every marked process until none has been seen for ``quiet_passes`` passes; returns how many."""
    import psutil

    killed, quiet, end = 0, 0, time.monotonic() + max_s
    while quiet < quiet_passes and time.monotonic() < end:
        procs = marked_processes(marker)
        quiet = 0 if procs else quiet + 1
        for proc in procs:
            try:
                proc.kill()  # a fork-server may fork while we look: the next pass finds its child
                killed += 1
            except psutil.Error:
                pass
        psutil.wait_procs(procs, timeout=1)
        time.sleep(POLL_S)
    return killed


def watch(root_pid: int, create_time: float, marker: str) -> None:
    """Wait for the run's process to end, then stop every process of the run."""
    import psutil

    try:
        root = psutil.Process(root_pid)
    except psutil.Error:
        root = None
    while root is not None and _alive(root, create_time):
        time.sleep(POLL_S)
    sweep(marker)


if __name__ == "__main__":
    watch(int(sys.argv[1]), float(sys.argv[2]), sys.argv[3])
