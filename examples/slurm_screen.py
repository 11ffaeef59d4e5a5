"""Screen a substituent library on a SLURM cluster: dask-jobqueue starts Dask workers as batch jobs.

The client (this script, on a login node or your workstation inside the cluster network) keeps the
result store; workers only compute and send results back, so they need the same Python environment
but no shared filesystem.  Each worker process runs one xTB thread.

    python examples/slurm_screen.py --queue standard --account chem123 --jobs 8 --cores 32 \
        --venv /home/me/reescreen/.venv --db library.db --scaffolds CAM,HOPO

Print the batch script it would submit, without submitting anything:

    python examples/slurm_screen.py --queue standard --venv /home/me/reescreen/.venv --print-job-script
"""
from __future__ import annotations

import argparse

from dask.distributed import Client
from dask_jobqueue import SLURMCluster


def slurm_cluster(queue: str, venv: str, account: str | None = None, cores: int = 32, memory_gb_per_core: float = 2.0,
                  walltime: str = "04:00:00") -> SLURMCluster:
    """A SLURM-backed Dask cluster whose jobs each run ``cores`` single-threaded worker processes."""
    return SLURMCluster(
        queue=queue, account=account, cores=cores, processes=cores,
        memory=f"{int(cores * memory_gb_per_core)}GB", walltime=walltime,
        job_script_prologue=[f"source {venv}/bin/activate", "export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1"],
        job_name="reescreen", python=f"{venv}/bin/python",
    )


def main() -> int:
    from core.pipeline.dataset import dataset_grid, build_dataset
    from core.pipeline.settings import get_settings
    from core.storage.store import Store

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--queue", required=True)
    p.add_argument("--account")
    p.add_argument("--venv", required=True, help="the reescreen virtual environment on the compute nodes")
    p.add_argument("--jobs", type=int, default=4, help="batch jobs (nodes) to request")
    p.add_argument("--cores", type=int, default=32, help="cores (worker processes) per job")
    p.add_argument("--walltime", default="04:00:00")
    p.add_argument("--db", default="reescreen.db", help="result store, on the client side")
    p.add_argument("--scaffolds", default="HOPO,CAM,thio-HOPO,thio-CAM")
    p.add_argument("--settings", default="fast")
    p.add_argument("--print-job-script", action="store_true")
    args = p.parse_args()

    cluster = slurm_cluster(args.queue, args.venv, args.account, args.cores, walltime=args.walltime)
    if args.print_job_script:
        print(cluster.job_script())
        cluster.close()
        return 0
    cluster.scale(jobs=args.jobs)
    with Client(cluster) as client:
        grid = dataset_grid(scaffolds=args.scaffolds.split(","), include_hdev=False)
        info = build_dataset(Store(args.db), client, get_settings(args.settings), grid,
                             progress=lambda p: print(f"{p.done}/{p.total} {p.ligand}", flush=True))
    cluster.close()
    print(f"{info['ligands']} ligands; {info['tasks_computed_now']} tasks computed; results in {args.db}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
