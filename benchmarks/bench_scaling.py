"""Scaling on an external Dask cluster: the same one-ligand job with 1 and with 2 worker processes.

Starts a real `dask scheduler` and `dask worker` processes on 127.0.0.1 (as a user would on a cluster),
screens one library ligand (16 REEs × 4 coordination types, fast settings) into an empty store each time,
and prints the wall times, the parallel efficiency T1 / (2 · T2) and a projection for a 1,000-ligand
library.  Run it on an otherwise idle machine:

    python benchmarks/bench_scaling.py [--scaffold HOPO --substituent chloro] [--types 4L,3L2W,2L4W,1L6W]
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dask.distributed import Client

from core.chemistry.complexes import COORDINATION_TYPES
from core.chemistry.constants import REE_METALS
from core.chemistry.ligands import library_ligand
from core.pipeline.runner import run_screen
from core.pipeline.settings import FAST
from core.storage.store import Store

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed_job(n_workers: int, ligand, ctypes: list[str], tmp: Path) -> tuple[float, float]:
    """Wall time (s) and summed task time (CPU-s) of the job on ``n_workers`` external worker processes."""
    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)]
    address = f"tcp://127.0.0.1:{port}"
    try:
        time.sleep(2)
        procs.append(subprocess.Popen([str(BIN / "dask"), "worker", address, "--nworkers", str(n_workers),
                                       "--nthreads", "1", "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True))
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(n_workers, timeout=120)
            store = Store(tmp / f"scaling-{n_workers}.db")
            start = time.perf_counter()
            summary = run_screen(ligand, store, client, FAST, REE_METALS, ctypes)
            wall = time.perf_counter() - start
        assert not summary.errors, summary.errors
        return wall, sum(summary.stage_s.values())
    finally:
        for p in reversed(procs):
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scaffold", default="HOPO")
    parser.add_argument("--substituent", default="chloro")
    parser.add_argument("--types", default=",".join(COORDINATION_TYPES))
    args = parser.parse_args()
    ligand = library_ligand(args.scaffold, args.substituent)
    ctypes = args.types.split(",")
    print(f"Scaling: {ligand.name}, {len(REE_METALS)} REEs x {len(ctypes)} types, fast settings, empty store, "
          f"external dask scheduler + workers on 127.0.0.1, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        t1, cpu1 = timed_job(1, ligand, ctypes, Path(tmp))
        print(f"1 worker : {t1:7.1f} s wall ({cpu1:.0f} task-s)")
        t2, cpu2 = timed_job(2, ligand, ctypes, Path(tmp))
        print(f"2 workers: {t2:7.1f} s wall ({cpu2:.0f} task-s)")
    efficiency = t1 / (2 * t2)
    print(f"speed-up {t1 / t2:.2f}x, parallel efficiency {efficiency:.2f}")
    per_ligand = t1  # worker-seconds per ligand, cold (templates + optimisations + references)
    print(f"Projection for a 1,000-ligand library (cold, {per_ligand:.0f} worker-s per ligand, efficiency "
          f"{efficiency:.2f} assumed to hold; the dependency chains of one ligand are spread over many ligands):")
    for workers in (2, 32, 128, 512):
        hours = 1000 * per_ligand / (workers * efficiency) / 3600
        print(f"  {workers:4d} worker processes: {hours:7.1f} h")
    return 0


if __name__ == "__main__":
    sys.exit(main())
