"""``reescreen refine``: B3LYP-D4 single points (PySCF) on the stored screening geometries of a shortlist."""
from __future__ import annotations

import argparse
import signal
import sys

from core.chemistry.complexes import COORDINATION_TYPES
from core.chemistry.constants import REE_METALS
from core.cli.common import add_db, csv_list, format_two_levels
from core.cli.screen import ligand_from_args
from core.levels.dft import SOLVENTS
from core.pipeline.settings import PRESETS, get_settings


def add_parser(sub) -> None:
    """Add the refine sub-command."""
    s = sub.add_parser(
        "refine", help="DFT single points (B3LYP-D4, PySCF) on screened complexes",
        description="Refine screened complexes with B3LYP-D4 single points on their stored screening-level geometries, "
                    "with every reference (free ligand, water, bare ions, aqua ions), so E_bind and E_exchange "
                    "exist at both levels. Ce-Yb use 4f-in-core ECPs (closed shell) unless --open-shell. "
                    "Prints the estimated CPU time first; stored single points are not recomputed.")
    src = s.add_mutually_exclusive_group(required=True)
    src.add_argument("--smiles", help="ligand SMILES (as screened)")
    src.add_argument("--scaffold", help="library scaffold (with --substituent)")
    s.add_argument("--substituent", metavar="NAME", help="library substituent at C3")
    s.add_argument("--donors", help=argparse.SUPPRESS)
    s.add_argument("--name", help=argparse.SUPPRESS)
    s.add_argument("--metals", default="La,Lu", help="comma-separated REEs (default: La,Lu)")
    s.add_argument("--types", default="1L6W", help="comma-separated coordination types (default: 1L6W; a La "
                                                  "4L single point took 1.4 CPU-h, 43 min on 2 cores)")
    s.add_argument("--settings", default="fast", choices=list(PRESETS),
                   help="the screening settings whose geometries are refined")
    s.add_argument("--open-shell", action="store_true",
                   help="Ce-Yb with 4f in valence, high-spin UKS (the paper's setup; about 5x the cost of a "
                        "complex: Gd 1L6W took 2.6 CPU-h against 0.4 with 4f in core)")
    s.add_argument("--diffuse", action="store_true", help="def2-SVPD on ligand and water atoms (default def2-SVP)")
    s.add_argument("--solvent", default="smd", choices=SOLVENTS,
                   help="implicit water: smd (default, the paper's model), cpcm (C-PCM, a little cheaper), "
                        "none (gas phase)")
    s.add_argument("--estimate", action="store_true", help="print what would run and its estimated cost, then stop")
    s.add_argument("--retry-failed", action="store_true", help="recompute stored failures too")
    s.add_argument("--scheduler", help="Dask scheduler tcp://HOST:PORT (default $REESCREEN_SCHEDULER, else one "
                                       "local worker using every core)")
    s.add_argument("--workers", type=int, help="worker processes of the embedded cluster (default 1)")
    s.add_argument("--threads", type=int, help="OpenMP/BLAS threads per local worker (default: cores / workers)")
    add_db(s)


def run(args: argparse.Namespace) -> int:
    import os

    from core.levels import dft_level
    from core.pipeline.cluster import close_client, make_client
    from core.pipeline.refine import format_cpu_time, plan_refinement, run_refinement
    from core.storage.results import levels_side_by_side
    from core.storage.store import Store

    ligand = ligand_from_args(args)
    metals = csv_list(args.metals, REE_METALS, "metals")
    ctypes = csv_list(args.types, tuple(COORDINATION_TYPES), "coordination types")
    settings = get_settings(args.settings)
    level = dft_level(open_shell=args.open_shell, diffuse=args.diffuse, solvent=args.solvent)
    store = Store(args.db)
    store.check_exists()
    plan = plan_refinement(store, settings, level, [ligand.smiles], metals, ctypes, args.retry_failed)
    print(f"Refining {ligand.name} at {level.name}.\n{plan.describe()}", file=sys.stderr)
    if args.estimate or not plan.todo:
        print(format_two_levels(levels_side_by_side(store, settings, level, [ligand.smiles], metals, ctypes)))
        return 0
    workers = args.workers or 1
    threads = args.threads or max((os.cpu_count() or 1) // workers, 1)
    client = make_client(args.scheduler, workers, "off", threads_per_process=threads)

    def progress(p) -> None:
        if p.done:
            print(f"  [{p.done}/{p.total}] {p.last}", file=sys.stderr)
        if p.running:
            print(f"  running: {p.running}", file=sys.stderr)

    try:
        summary = run_refinement(plan, store, client, progress)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        close_client(client, interrupted=True)
        print("reescreen: interrupted; finished single points are stored, rerun to go on.", file=sys.stderr)
        return 130
    except BaseException:
        close_client(client, interrupted=True)
        raise
    close_client(client)
    print(f"{summary.computed} single points in {summary.wall_s:.0f} s wall ({format_cpu_time(summary.cpu_s)}); "
          f"{summary.failed} failed.", file=sys.stderr)
    for err in summary.errors:
        print(f"error (will be retried on the next run): {err}", file=sys.stderr)
    print(format_two_levels(levels_side_by_side(store, settings, level, [ligand.smiles], metals, ctypes)))
    return 1 if summary.errors or summary.failed else 0
