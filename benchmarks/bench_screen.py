"""Benchmark: one new ligand × 16 REEs × 4 coordination types, cold and cached, against the naive route.

    python benchmarks/bench_screen.py [--scaffold CAM --substituent fluoro] [--naive-metals Eu,Lu]

Prints, from one run on this machine:
  * cold wall time (fresh store; embedded Dask cluster already started) and the per-stage split
    (CPU seconds in Architector templates, tblite complex optimisations, references);
  * cached wall time (the same request again; median of 5);
  * the naive route, Architector building every metal's complexes from scratch (same settings) and
    tblite optimising each, measured for ``--naive-metals`` and extrapolated to 16 metals on the same
    number of cores; and the ratio naive / cold.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from core.storage.results import results_frame
from core.chemistry.complexes import COORDINATION_TYPES, architector_input, complex_charge
from core.chemistry.constants import REE_METALS
from core.chemistry.ligands import library_ligand
from core.pipeline.cluster import make_client
from core.pipeline.runner import run_screen
from core.pipeline.settings import get_settings
from core.storage.store import Store


def naive_metal(ligand, ctype_name: str, metal: str, settings) -> dict:
    """Architector builds the ``metal`` complex from scratch, then tblite optimises it (CPU seconds)."""
    import contextlib
    import io

    import numpy as np
    from architector import build_complex


    ctype = COORDINATION_TYPES[ctype_name]
    inp = architector_input(ligand, ctype, settings)
    inp["core"]["metal"] = metal
    t0 = time.process_time()
    np.random.seed(settings.seed)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        out = build_complex(inp)
    t_arch = time.process_time() - t0
    built = sorted((v for k, v in out.items() if "_init_only" not in k), key=lambda v: v["energy"])
    if not built:
        return {"metal": metal, "ctype": ctype_name, "architector_s": t_arch, "optimise_s": 0.0, "ok": False}
    atoms = built[0]["ase_atoms"].copy()
    atoms.calc = None
    atoms.set_initial_charges(None)
    atoms.set_initial_magnetic_moments(None)
    t1 = time.process_time()
    res = settings.level_of_theory.optimise(atoms, complex_charge(ligand.charge, ctype), settings)
    return {"metal": metal, "ctype": ctype_name, "architector_s": t_arch, "optimise_s": time.process_time() - t1,
            "steps": res.n_steps, "ok": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scaffold", default="CAM")
    parser.add_argument("--substituent", default="fluoro")
    parser.add_argument("--settings", default="fast")
    parser.add_argument("--naive-metals", default="Eu,Lu")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    ligand = library_ligand(args.scaffold, args.substituent)
    settings = get_settings(args.settings)
    types = list(COORDINATION_TYPES)
    tmp = Path(tempfile.mkdtemp(prefix="reescreen-bench-"))
    store = Store(tmp / "bench.db")

    t0 = time.perf_counter()
    client = make_client(n_workers=args.workers)
    n_workers = len(client.scheduler_info()["workers"])
    client.run(lambda: __import__("core.pipeline.tasks"))  # imports are not the engine's work
    cluster_s = time.perf_counter() - t0
    print(f"ligand {ligand.name} {ligand.smiles}; {len(REE_METALS)} metals x {len(types)} types; settings "
          f"{settings.name}; {n_workers} worker processes (cluster start {cluster_s:.1f} s)")

    cold = run_screen(ligand, store, client, settings, REE_METALS, types)
    df = results_frame(store)
    print(f"\nCOLD   wall {cold.wall_s:7.1f} s   ({cold.computed} tasks; {cold.failed} failed, "
          f"{cold.qc_failed} QC-flagged, {df['E_bind (kcal/mol)'].notna().sum()} of 64 with E_bind)")
    cpu = sum(cold.stage_s.values())
    for stage in ("template", "complex", "reference"):
        s = cold.stage_s.get(stage, 0.0)
        print(f"  {stage:10s} {s:7.1f} CPU-s  ({100 * s / cpu:4.1f} %)")
    print(f"  total      {cpu:7.1f} CPU-s on {n_workers} workers -> parallel efficiency "
          f"{cpu / (n_workers * cold.wall_s):.2f}")

    cached = []
    for _ in range(5):
        cached.append(run_screen(ligand, store, client, settings, REE_METALS, types).wall_s)
    print(f"CACHED wall {statistics.median(cached):7.3f} s   (median of 5: {', '.join(f'{c:.3f}' for c in cached)})")

    metals = [m.strip() for m in args.naive_metals.split(",")]
    futures = [client.submit(naive_metal, ligand, t, m, settings, pure=False) for m in metals for t in types]
    t1 = time.perf_counter()
    naive = client.gather(futures)
    naive_wall = time.perf_counter() - t1
    client.close()
    per_metal = {m: sum(r["architector_s"] + r["optimise_s"] for r in naive if r["metal"] == m) for m in metals}
    print(f"\nNAIVE  (Architector from scratch for each metal, then tblite), {len(metals)} metals x {len(types)} types "
          f"in {naive_wall:.1f} s wall:")
    for r in naive:
        print(f"  {r['metal']:3s} {r['ctype']:5s} architector {r['architector_s']:6.1f} s  tblite "
              f"{r['optimise_s']:6.1f} s  steps {r.get('steps', '-')}")
    mean_metal = statistics.mean(per_metal.values())
    naive_16 = mean_metal * len(REE_METALS) / n_workers
    print(f"  mean {mean_metal:.1f} CPU-s per metal -> 16 metals on {n_workers} workers ~ {naive_16:.0f} s wall "
          f"(references excluded)")
    print(f"\nRATIO naive/cold  {naive_16 / cold.wall_s:5.1f}x     naive/cached  {naive_16 / statistics.median(cached):,.0f}x")


if __name__ == "__main__":
    main()
