"""Trace the damped, level-shifted pre-cycles of one DFT single point: the energy of every cycle and, for an open
shell, its state (⟨S²⟩, spin and f populations on the metal), in the gas phase or in the solvent.  These are the
cycles of the guess stage; an open-shell point then converges with the second-order solver (see
``DFTLevel.attempts_for``).

This is how the SCF runaways in ``core/levels/dft.py`` were diagnosed (Lu(CAM-methyl)(H2O)6 in the gas phase;
Gd(CAM-methyl)(H2O)6 with 4f in valence in SMD water).  The geometry is the shipped GFN2-xTB one from the
library build store (decompressed by ``dft_calibration.py`` into ``runs/dft-calibration``).

    python benchmarks/dft_scf_trace.py --ligand CAM-methyl --metal Lu --phase gas --cycles 8
    python benchmarks/dft_scf_trace.py --ligand CAM-methyl --metal Gd --open-shell --phase solvent --cycles 14
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ligand", default="CAM-methyl")
    parser.add_argument("--metal", default="Lu")
    parser.add_argument("--type", default="1L6W")
    parser.add_argument("--open-shell", action="store_true")
    parser.add_argument("--phase", choices=("gas", "solvent"), default="gas")
    parser.add_argument("--cycles", type=int, default=12)
    parser.add_argument("--diis", choices=("cdiis", "adiis", "ediis"), default="cdiis",
                        help="PySCF's extrapolation from cycle 4 on (the pre-cycles use CDIIS)")
    args = parser.parse_args()
    from pyscf import lib

    from benchmarks.dft_calibration import work_store
    from core.chemistry.ligands import library_ligand
    from core.levels import dft_level
    from core.levels.dft import PySCFCalculator, _coarse_grids, _threads, initial_guess, open_shell_state
    from core.pipeline.settings import FAST
    from core.storage.records import Kind
    from core.storage.store import Store

    lib.num_threads(_threads())
    store = Store(work_store(ROOT / "runs" / "dft-calibration"))
    smiles = library_ligand(*args.ligand.split("-", 1)).smiles
    row = store.get(Kind.COMPLEX, FAST, ligand=smiles, metal=args.metal, ctype=args.type)
    atoms, charge = row.toatoms(), int(row.get("total_charge"))
    level = dft_level(open_shell=args.open_shell)
    multiplicity = level.multiplicity(atoms, charge)
    calc = PySCFCalculator(level, charge, multiplicity, {"max_cycle": args.cycles})
    mol = calc.build_mole(atoms)
    guess = initial_guess(level, mol, atoms, charge, multiplicity)
    # the same stage as PySCFCalculator._pre_cycles, without the runaway guard
    pre = calc.scf_object(mol, solvated=args.phase == "solvent", aids=False, grids=_coarse_grids(mol))
    pre.level_shift, pre.damp, pre.diis_start_cycle = 0.5, 0.5, 4
    pre.max_cycle, pre.conv_tol = args.cycles, 1e-5
    if args.diis != "cdiis":
        from pyscf import scf

        pre.DIIS = {"adiis": scf.ADIIS, "ediis": scf.EDIIS}[args.diis]
    start = time.perf_counter()
    print(f"{args.ligand} {args.metal} {args.type}, charge {charge}, multiplicity {multiplicity}, {mol.nao} basis "
          f"functions, {args.phase}, {level.name}", flush=True)

    def report(env) -> None:
        state = ""
        if multiplicity > 1 and env.get("mo_coeff") is not None:
            pre.mo_coeff, pre.mo_occ = env["mo_coeff"], env["mo_occ"]
            state = "  " + " ".join(f"{k} {v:.3f}" for k, v in open_shell_state(pre, atoms).items())
        print(f"cycle {env['cycle']:>3}  E {env['e_tot']:.5f} Eh  {time.perf_counter() - start:.0f} s{state}",
              flush=True)

    pre.callback = report
    pre.kernel(dm0=guess)


if __name__ == "__main__":
    main()
