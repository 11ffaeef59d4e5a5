"""A real `dask scheduler` and `dask worker` on 127.0.0.1: jobs, a killed worker, a killed client."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.storage.results import results_frame
from core.chemistry.ligands import library_ligand
from core.pipeline.cluster import make_client
from core.pipeline.runner import run_screen
from core.pipeline.settings import FAST
from core.storage.store import Store

BIN = Path(sys.executable).parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_worker(address: str) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "dask"), "worker", address, "--nthreads", "1", "--no-nanny",
                             "--no-dashboard", "--host", "127.0.0.1"], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for_workers(address: str, n: int, timeout: float = 60) -> None:
    from distributed import Client

    with Client(address, timeout="30s") as c:
        c.wait_for_workers(n, timeout=timeout)


@pytest.fixture(scope="module")
def scheduler():
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                             "--no-dashboard"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield address
    proc.terminate()
    proc.wait(timeout=30)


def _keys(path):
    return {r.key: r.id for r in Store(path).rows()}


def _cli(args, db, address):
    return subprocess.Popen([str(BIN / "reescreen"), "screen", "--scaffold", "HOPO", "--substituent", "methyl",
                             "--types", "1L6W", "--no-progress", "--db", str(db), "--scheduler", address, *args],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_new_complex(db, before, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        new = [r for r in Store(db).rows(kind="complex") if r.key not in before]
        if new:
            return
        assert proc.poll() is None, "job ended before any new result"
        time.sleep(0.2)
    raise AssertionError("no new result in time")


def test_small_job_runs_on_an_existing_scheduler_and_worker(scheduler, small_store_copy):
    worker = _start_worker(scheduler)
    try:
        _wait_for_workers(scheduler, 1)
        with make_client(scheduler) as client:
            summary = run_screen(library_ligand("HOPO", "methyl"), Store(small_store_copy), client, FAST,
                                 ["La", "Y", "Lu"], ["1L6W"])
        assert summary.cached == 2 and summary.errors == []
        # Y: complex + ion + aqua ion; nothing for La and Lu, which the store already had
        assert summary.computed == 3
        df = results_frame(Store(small_store_copy), metals=["Y"])
        assert len(df) == 1 and df["E_bind (kcal/mol)"].notna().all()
    finally:
        worker.kill()
        worker.wait()


def test_killed_worker_then_killed_client_lose_nothing_and_compute_nothing_twice(scheduler, small_store_copy):
    db = small_store_copy
    worker = _start_worker(scheduler)
    workers = [worker]
    try:
        _wait_for_workers(scheduler, 1)
        before = _keys(db)
        job = _cli(["--metals", "La,Ce,Pr,Nd,Sm,Lu"], db, scheduler)
        _wait_for_new_complex(db, before, job)
        worker.send_signal(signal.SIGKILL)  # the worker dies mid-job
        worker.wait()
        stored_at_kill = _keys(db)
        workers.append(_start_worker(scheduler))  # a replacement joins; Dask reruns the lost task
        out, err = job.communicate(timeout=300)
        assert job.returncode == 0, err
        after = _keys(db)
        # 4 new metals x (complex, ion, aqua ion) = 12 new results; finished ones were never rewritten
        assert len(after) == len(before) + 12
        assert all(after[k] == i for k, i in stored_at_kill.items())
        assert "Ce" in out and "Sm" in out and "GFN2-xTB/ALPB(water)" in out

        # Now the client dies mid-job.
        job = _cli(["--metals", "Eu,Gd,Tb,Dy"], db, scheduler)
        _wait_for_new_complex(db, after, job)
        job.send_signal(signal.SIGKILL)
        job.wait()
        stored = _keys(db)
        new_before_rerun = len(stored) - len(after)
        assert 0 < new_before_rerun < 12
        with make_client(scheduler) as client:
            summary = run_screen(library_ligand("HOPO", "methyl"), Store(db), client, FAST,
                                 ["Eu", "Gd", "Tb", "Dy"], ["1L6W"])
        assert summary.errors == []
        assert summary.computed == 12 - new_before_rerun  # only what was missing
        final = _keys(db)
        assert len(final) == len(after) + 12
        assert all(final[k] == i for k, i in stored.items())
    finally:
        for w in workers:
            w.kill()
            w.wait()


def test_swaps_chain_along_the_series_from_the_nearest_available_metal():
    from core.pipeline.runner import _series_starts

    submitted = []

    def submit(metal, start):
        submitted.append((metal, start))
        return f"{metal}-result"

    stored = {"Pr": "Pr-stored"}
    out = _series_starts(["La", "Ce", "Nd", "Ho", "Lu", "Y"], "La-result", stored.get, submit)
    assert [m for m, _ in out] == ["Ce", "Nd", "Ho", "Lu", "Y"]
    assert dict(submitted) == {"Ce": "La-result", "Nd": "Pr-stored", "Ho": "Nd-result", "Lu": "Ho-result",
                               "Y": "Ho-result"}


def test_slurm_example_submits_single_threaded_workers_from_the_cluster_venv():
    """The docs' dask-jobqueue example, run for real up to the batch script it would submit."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, str(root / "examples" / "slurm_screen.py"), "--queue", "standard",
                          "--account", "chem123", "--cores", "16", "--venv", "/home/me/reescreen/.venv",
                          "--print-job-script"], capture_output=True, text=True, timeout=120, cwd=root)
    assert out.returncode == 0, out.stderr[-2000:]
    script = out.stdout
    assert "#SBATCH -p standard" in script and "#SBATCH -A chem123" in script and "--cpus-per-task=16" in script
    assert "/home/me/reescreen/.venv/bin/python -m distributed.cli.dask_worker tcp://" in script
    assert "--nthreads 1" in script and "--nworkers 16" in script and "OMP_NUM_THREADS=1" in script
