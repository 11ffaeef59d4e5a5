"""Where one SCF cycle of a DFT single point spends its time: the parts of a Fock build, timed one by one.

On a shipped GFN2-xTB geometry (default: La(HOPO-methyl)(H₂O)₆, 1L6W) at the default refinement level
(B3LYP-D4/def2-SVP, SMD water, Lebedev 17, 2 threads unless $REESCREEN_DFT_THREADS), from a ``minao``
density, prints the seconds of: the density-fitted Coulomb + exchange build (first call, which builds the
fitting tensor, and a later one), the exchange-correlation quadrature on the level's grid (PySCF level 3)
and on the guess stages' coarse grid (level 1), and the solvent's surface terms (potential on the cavity +
reaction-field matrix) as PySCF computes them every cycle and from the integrals reescreen keeps
(``core/levels/surface_integrals.py``; first call fills them).  Medians of ``--repeat`` runs.  Run it on
an idle machine.

    python benchmarks/dft_cycle_costs.py [--system La-1L6W] [--repeat 3]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", default="La-1L6W", help="a system name of benchmarks/dft_cost.py")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from pyscf import lib
    from pyscf.dft import gen_grid
    from pyscf.solvent import pcm

    from benchmarks.dft_cost import system
    from core.levels.dft import GUESS_GRID_LEVEL, PySCFCalculator, _threads

    lib.num_threads(_threads())
    atoms, charge, level = system(args.system)
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
            ("J + K", timed(lambda: mf.get_jk(mol, dm), args.repeat))]
    for grid_level in (3, GUESS_GRID_LEVEL):
        grids = gen_grid.Grids(mol)
        grids.level = grid_level
        grids.build()
        rows.append((f"XC quadrature, grid level {grid_level} ({grids.weights.size:,} points)",
                     timed(lambda: mf._numint.nr_rks(mol, grids, "b3lyp5", dm), args.repeat)))

    def surface_terms(get_v, get_vmat):
        get_vmat(get_v(dm[None]))

    n_surface = solvent.surface["grid_coords"].shape[0]
    rows.append((f"solvent surface terms, recomputed every cycle (PySCF; {n_surface:,} points)",
                 timed(lambda: surface_terms(lambda d: pcm.PCM._get_v(solvent, d),
                                             lambda q: pcm.PCM._get_vmat(solvent, q)), args.repeat)))
    rows.append(("solvent surface terms, first call (fills the kept integrals)",
                 timed(lambda: surface_terms(solvent._get_v, solvent._get_vmat), 1)))
    rows.append(("solvent surface terms, kept integrals",
                 timed(lambda: surface_terms(solvent._get_v, solvent._get_vmat), args.repeat)))
    kept = sum(block[2] is not None for block in solvent._kept_blocks)
    print(f"{args.system}: {len(atoms)} atoms, {mol.nao} basis functions, {level.name}, "
          f"{lib.num_threads()} threads; kept {kept}/{len(solvent._kept_blocks)} surface blocks")
    for label, seconds in rows:
        print(f"  {label:<78} {seconds:7.2f} s")


if __name__ == "__main__":
    main()
