"""Where one SCF cycle of a DFT single point spends its time: the parts of a Fock build, timed one by one.

On a shipped GFN2-xTB geometry (default: La(HOPO-methyl)(H₂O)₆, 1L6W) at the default refinement level
(B3LYP-D4/def2-SVP, SMD water, Lebedev 17, 2 threads unless $REESCREEN_DFT_THREADS), from a ``minao``
density, prints the seconds of: the density-fitted Coulomb + exchange build (first call, which builds the
fitting tensor, and a later one), the exchange-correlation quadrature on the level's grid (PySCF level 3)
and on the guess stages' coarse grid (level 1), and the solvent's surface terms (potential on the cavity +
reaction-field matrix) as PySCF computes them every cycle and from the integrals reescreen keeps
(``core/levels/surface_integrals.py``; first call fills them).  Medians of ``--repeat`` runs.  Run it on
an idle machine.

    python benchmarks/dft_cycle_costs.py [--system La-1L6W] [--repeat 3] [--project-from La-2L4W]

``--project-from`` times the same parts for a system whose whole single point was measured and scales that
measurement by the ratio of one cycle's cost: for a system too big to run whole in a session (La 4L).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(fn, repeat: int) -> float:
    """Median seconds of ``repeat`` calls of ``fn``."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cycle_parts(name: str, repeat: int) -> dict:
    """Seconds of each part of one Fock build of system ``name`` (see the module docstring), with the
    system's size and the process's peak resident memory so far."""
    import resource

    from pyscf import lib
    from pyscf.dft import gen_grid
    from pyscf.solvent import pcm

    from benchmarks.dft_cost import system
    from core.levels.dft import GUESS_GRID_LEVEL, PySCFCalculator, _threads

    lib.num_threads(_threads())
    atoms, charge, level = system(name)
    calc = PySCFCalculator(level=level, charge=charge, multiplicity=level.multiplicity(atoms, charge),
                           attempt_options={})
    mol = calc.build_mole(atoms)
    mf = calc.scf_object(mol)
    dm = mf.get_init_guess(key="minao")
    if dm.ndim == 3:  # open shell: the solvent and the tests below see the total density
        dm = dm[0] + dm[1]
    solvent = mf.with_solvent
    solvent.build()
    rows = [("J + K, first (builds the fitting tensor)", timed(lambda: mf.get_jk(mol, dm), 1)),
            ("J + K", timed(lambda: mf.get_jk(mol, dm), repeat))]
    xc = {}
    for grid_level in (3, GUESS_GRID_LEVEL):
        grids = gen_grid.Grids(mol)
        grids.level = grid_level
        grids.build()
        xc[grid_level] = timed(lambda: mf._numint.nr_rks(mol, grids, "b3lyp5", dm), repeat)
        rows.append((f"XC quadrature, grid level {grid_level} ({grids.weights.size:,} points)", xc[grid_level]))

    def surface_terms(get_v, get_vmat):
        get_vmat(get_v(dm[None]))

    n_surface = solvent.surface["grid_coords"].shape[0]
    rows.append((f"solvent surface terms, recomputed every cycle (PySCF; {n_surface:,} points)",
                 timed(lambda: surface_terms(lambda d: pcm.PCM._get_v(solvent, d),
                                             lambda q: pcm.PCM._get_vmat(solvent, q)), repeat)))
    rows.append(("solvent surface terms, first call (fills the kept integrals)",
                 timed(lambda: surface_terms(solvent._get_v, solvent._get_vmat), 1)))
    kept_s = timed(lambda: surface_terms(solvent._get_v, solvent._get_vmat), repeat)
    rows.append(("solvent surface terms, kept integrals", kept_s))
    kept = sum(block[2] is not None for block in solvent._kept_blocks)
    jk = rows[1][1]
    return {"name": name, "atoms": len(atoms), "nao": mol.nao, "level": level.name, "threads": lib.num_threads(),
            "kept": f"{kept}/{len(solvent._kept_blocks)}", "rows": rows,
            "solvated_cycle_s": jk + xc[3] + kept_s, "guess_cycle_s": jk + xc[GUESS_GRID_LEVEL],
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)}


def print_parts(parts: dict) -> None:
    print(f"{parts['name']}: {parts['atoms']} atoms, {parts['nao']} basis functions, {parts['level']}, "
          f"{parts['threads']} threads; kept {parts['kept']} surface blocks")
    for label, seconds in parts["rows"]:
        print(f"  {label:<78} {seconds:7.2f} s")
    print(f"  {'one solvated cycle (J + K, XC on grid level 3, kept surface terms)':<78} "
          f"{parts['solvated_cycle_s']:7.2f} s")
    print(f"  {'one guess-stage cycle (J + K, XC on the coarse grid)':<78} {parts['guess_cycle_s']:7.2f} s")
    print(f"  peak resident memory of this process so far: {parts['peak_rss_mb']:,} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", default="La-1L6W", help="a system name of benchmarks/dft_cost.py")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--project-from", help="a system whose whole single point data/dft_costs.json holds: "
                        "also time its parts and scale its measured cost by the ratio of one cycle's cost")
    args = parser.parse_args()
    if args.project_from:
        import json

        from benchmarks.dft_cost import COSTS

        known = {m["system"]: m for m in json.loads(COSTS.read_text())["measurements"]}[args.project_from]
        base = cycle_parts(args.project_from, args.repeat)
        print_parts(base)
    parts = cycle_parts(args.system, args.repeat)
    print_parts(parts)
    if args.project_from:
        ratio = {k: parts[k] / base[k] for k in ("solvated_cycle_s", "guess_cycle_s")}
        low, high = min(ratio.values()), max(ratio.values())
        print(f"\nOne cycle of {args.system} costs {low:.1f}-{high:.1f}x one of {args.project_from} (guess stage "
              f"{ratio['guess_cycle_s']:.1f}x, solvated {ratio['solvated_cycle_s']:.1f}x). {args.project_from} "
              f"measured {known['cpu_s']:,.0f} CPU-s, {known['wall_s']:,.0f} s wall in {known['scf_cycles']} "
              f"cycles ({known['date']}); with as many cycles, {args.system} projects to "
              f"{known['cpu_s'] * low / 3600:.1f}-{known['cpu_s'] * high / 3600:.1f} CPU-h, "
              f"{known['wall_s'] * low / 3600:.1f}-{known['wall_s'] * high / 3600:.1f} h wall "
              f"(a projection from timed parts, not a measured single point).")


if __name__ == "__main__":
    main()
