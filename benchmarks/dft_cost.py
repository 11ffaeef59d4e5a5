"""Cost of one DFT single point (B3LYP-D4, PySCF) on this machine: CPU-seconds, wall and peak memory.

Each system runs in a fresh process (so its peak resident memory is its own), on the shipped GFN2-xTB
geometries of HOPO-methyl from the library build store, at the default refinement level (4f in core,
def2-SVP, SMD water) unless the system's name says open shell (``-open``) or C-PCM (``-cpcm``).  The measurements are merged into
``data/dft_costs.json``, which ``reescreen refine`` fits its CPU-time estimate to; systems already measured
are skipped (``--again`` remeasures them).  Run it on an idle machine.

A single point longer than a working session (La 4L took 43 min here; open-shell points take hours) resumes: its SCF checkpoint and the CPU and wall
time spent so far are kept in ``data/dft/cost-checkpoints/`` (commit them when a session stops mid-point), and
the measurement then reports the sums with the number of pieces (each resume repeats the set-up: integrals,
grids and the solvent cavity, so a resumed measurement slightly overstates the cost).

    python benchmarks/dft_cost.py [--systems water,La3+,aqua-La,aqua-La-cpcm,ligand,La-1L6W,La-1L6W-cpcm,Gd-1L6W-open,La-2L4W]
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COSTS = ROOT / "data" / "dft_costs.json"
STORE = ROOT / "runs" / "dft-cost" / "store.db"
CHECKPOINTS = ROOT / "data" / "dft" / "cost-checkpoints"
PROGRESS_EVERY_S = 60
DEFAULT_SYSTEMS = "water,La3+,aqua-La,ligand,La-1L6W"


def store_path() -> Path:
    if not STORE.exists():
        STORE.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(ROOT / "data" / "build-store" / "dataset-store.db.gz", "rb") as src, \
                open(STORE.with_suffix(".part"), "wb") as dst:
            shutil.copyfileobj(src, dst)
        STORE.with_suffix(".part").rename(STORE)
    return STORE


def system(name: str):
    """(atoms, charge, level) of a named system."""
    from ase import Atoms

    from core.chemistry.ligands import library_ligand
    from core.levels import dft_level
    from core.pipeline.settings import FAST
    from core.storage.records import Kind
    from core.storage.store import Store

    store = Store(store_path())
    ligand = library_ligand("HOPO", "methyl").smiles
    level = dft_level(open_shell="-open" in name, solvent="cpcm" if "-cpcm" in name else "smd")
    base = name.replace("-open", "").replace("-cpcm", "")
    if base == "water":
        row = store.get(Kind.WATER, FAST)
    elif base.endswith("3+"):
        return Atoms(base[:-2]), 3, level
    elif base.startswith("aqua-"):
        row = store.get(Kind.COMPLEX, FAST, metal=base[5:], ctype="8W")
    elif base == "ligand":
        row = store.get(Kind.LIGAND, FAST, ligand=ligand)
    else:
        metal, ctype = base.split("-")
        row = store.get(Kind.COMPLEX, FAST, ligand=ligand, metal=metal, ctype=ctype)
    return row.toatoms(), int(row.get("total_charge")), level


def _peak_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)


def _progress_file(name: str) -> Path:
    return CHECKPOINTS / f"{name}.progress.json"


def measure_one(name: str) -> dict:
    import threading

    from core.levels.dft import n_basis_functions
    from core.pipeline.settings import FAST

    atoms, charge, level = system(name)
    progress = _progress_file(name)
    before = json.loads(progress.read_text()) if progress.exists() else {"cpu_s": 0.0, "wall_s": 0.0, "pieces": 0,
                                                                         "peak_rss_mb": 0}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    done = threading.Event()

    def save_progress() -> None:  # a kill loses at most a minute of the record, never the file
        while not done.wait(PROGRESS_EVERY_S):
            CHECKPOINTS.mkdir(parents=True, exist_ok=True)
            partial = progress.with_suffix(".partial")
            partial.write_text(json.dumps({"cpu_s": before["cpu_s"] + time.process_time() - cpu0,
                                           "wall_s": before["wall_s"] + time.perf_counter() - wall0,
                                           "pieces": before["pieces"] + 1, "peak_rss_mb": _peak_mb()}))
            os.replace(partial, progress)

    threading.Thread(target=save_progress, daemon=True).start()
    try:
        result = level.single_point(atoms, charge, FAST, checkpoint_dir=CHECKPOINTS)
    finally:
        done.set()
    cpu, wall = before["cpu_s"] + time.process_time() - cpu0, before["wall_s"] + time.perf_counter() - wall0
    progress.unlink(missing_ok=True)
    return {"system": name, "level": level.name, "open_shell": level.multiplicity(atoms, charge) > 1,
            "atoms": len(atoms), "n_basis": n_basis_functions(level, atoms.get_chemical_symbols()),
            "cpu_s": round(cpu, 1), "wall_s": round(wall, 1), "pieces": before["pieces"] + 1,
            "peak_rss_mb": max(_peak_mb(), before.get("peak_rss_mb", 0)),
            "scf_cycles": result.details.get("scf_cycles"), "attempt": result.attempt.label,
            "energy_kcal": round(result.energy, 5),
            "threads": int(os.environ.get("REESCREEN_DFT_THREADS") or len(os.sched_getaffinity(0)))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", default=DEFAULT_SYSTEMS)
    parser.add_argument("--again", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one)))
        return
    store_path()
    known = json.loads(COSTS.read_text()) if COSTS.exists() else {"measurements": []}
    done = {m["system"] for m in known["measurements"]}
    for name in args.systems.split(","):
        if name in done and not args.again:
            continue
        out = subprocess.run([sys.executable, __file__, "--one", name], capture_output=True, text=True, cwd=ROOT)
        if out.returncode:
            print(f"{name}: failed\n{out.stderr[-2000:]}", flush=True)
            continue
        m = json.loads(out.stdout.strip().splitlines()[-1])
        m["date"] = str(date.today())
        known["measurements"] = [x for x in known["measurements"] if x["system"] != name] + [m]
        known["machine"] = f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores"
        known["what"] = ("single points at the refinement level on HOPO-methyl's GFN2-xTB geometries; cpu_s is "
                         "CPU time over all threads of the process, peak_rss_mb its peak resident memory")
        COSTS.write_text(json.dumps(known, indent=1))
        print(f"{name:<14} {m['atoms']:>3} atoms {m['n_basis']:>5} bf  {m['cpu_s']:>8.1f} CPU-s {m['wall_s']:>7.1f} s "
              f"wall  {m['peak_rss_mb']:>6} MB  {m['scf_cycles']} cycles ({m['attempt']})"
              + (f", in {m['pieces']} pieces (resumed)" if m["pieces"] > 1 else ""), flush=True)
    print("\nsystem          atoms   bf    CPU-s     wall    peak MB")
    for m in sorted(known["measurements"], key=lambda m: m["n_basis"]):
        print(f"{m['system']:<14} {m['atoms']:>5} {m['n_basis']:>5} {m['cpu_s']:>8.1f} {m['wall_s']:>8.1f} "
              f"{m['peak_rss_mb']:>8}   {m['level']}")


if __name__ == "__main__":
    main()
