"""``reescreen screen``: build, optimise and rank one ligand's complexes."""
from __future__ import annotations

import argparse
import dataclasses
import signal
import sys

from core.chemistry.complexes import COORDINATION_TYPES
from core.chemistry.constants import REE_METALS
from core.chemistry.ligands import (SCAFFOLDS, SUBSTITUENTS, LigandError, assemble_smiles, binding_form,
                                    library_ligand, make_ligand, parse_donor_pair)
from core.cli.common import add_db, csv_list, format_table
from core.pipeline.eta import format_duration
from core.pipeline.settings import PRESETS, ROUTES, get_settings


def add_parser(sub) -> None:
    """Add the screen sub-command."""
    s = sub.add_parser("screen", help="screen one ligand (SMILES, or scaffold + substituent)",
                       description="Build, optimise and rank the ligand's complexes. Results already in the "
                                   "store are reused; only what is missing is computed.")
    src = s.add_mutually_exclusive_group(required=True)
    src.add_argument("--smiles", help="ligand SMILES: the deprotonated binding form, or the neutral N-OH / "
                                      "catechol form, which is deprotonated like the app's Draw tab")
    src.add_argument("--scaffold", choices=list(SCAFFOLDS), help="library scaffold (with --substituent)")
    s.add_argument("--substituent", choices=list(SUBSTITUENTS), metavar="NAME",
                   help="library substituent at C3 (see `reescreen ligands`)")
    s.add_argument("--name", help="name the ligand in the store (shown in every table and export)")
    s.add_argument("--donors", help="donor atom indices 'i,j' in the canonical SMILES (overrides detection)")
    s.add_argument("--metals", default=",".join(REE_METALS),
                   help="comma-separated REEs (default: all 16)")
    s.add_argument("--types", default=",".join(COORDINATION_TYPES),
                   help=f"comma-separated coordination types (default: {','.join(COORDINATION_TYPES)})")
    s.add_argument("--settings", default="fast", choices=list(PRESETS), help="search/optimisation preset")
    s.add_argument("--route", default="architector", choices=list(ROUTES),
                   help="starting structures: architector (default: Architector La templates), auto (graft onto "
                        "the shipped complex of a library scaffold when possible, else Architector; ~2.5x faster, "
                        "energies can differ by 5-10 kcal/mol, see the README), graft (only grafting)")
    s.add_argument("--scheduler", help="Dask scheduler address tcp://HOST:PORT (default $REESCREEN_SCHEDULER, "
                                       "else an embedded cluster with one worker per core)")
    s.add_argument("--workers", type=int, help="worker processes of the embedded cluster (default: cores)")
    s.add_argument("--dashboard", metavar="HOST:PORT|off",
                   help="the embedded cluster's Dask dashboard (default $REESCREEN_DASHBOARD, else "
                        "127.0.0.1 on a free port; it has no authentication, so keep it on 127.0.0.1)")
    s.add_argument("--retry-failed", action="store_true", help="recompute stored failures too")
    s.add_argument("--model", help="model folder for E_bind predictions (default: the bundled model, if shipped)")
    s.add_argument("--no-model", action="store_true", help="no model predictions")
    s.add_argument("--cpu", action="store_true", help="run the model on the CPU even if a GPU is present")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_db(s)


def ligand_from_args(args: argparse.Namespace):
    donors = parse_donor_pair(args.donors)
    if args.scaffold:
        if not args.substituent:
            raise LigandError("--scaffold needs --substituent (see `reescreen ligands`).")
        if donors:
            return make_ligand(assemble_smiles(args.scaffold, args.substituent), donors, args.scaffold,
                               args.substituent)
        return library_ligand(args.scaffold, args.substituent)
    smiles = binding_form(args.smiles)
    if smiles != args.smiles.strip():
        print(f"Deprotonated the chelating group(s) to the binding form: {smiles}", file=sys.stderr)
    return make_ligand(smiles, donors)


def run(args: argparse.Namespace) -> int:
    from core.pipeline.cluster import close_client, make_client
    from core.pipeline.runner import run_screen
    from core.storage.results import results_frame
    from core.storage.store import Store

    ligand = ligand_from_args(args)
    metals = csv_list(args.metals, REE_METALS, "metals")
    ctypes = csv_list(args.types, tuple(COORDINATION_TYPES), "coordination types")
    settings = get_settings(args.settings).with_changes(route=args.route)
    store = Store(args.db)  # checked, not created: nothing is written until the cluster is up
    store.check_writable()
    if args.name:
        from core.storage.names import set_ligand_name

        set_ligand_name(store, ligand.smiles, args.name)
        ligand = dataclasses.replace(ligand, label=args.name)
    print(f"Ligand {ligand.name}: {ligand.smiles} (charge {ligand.charge:+d}, donors {ligand.donors}); "
          f"{len(metals)} metals x {len(ctypes)} types, settings '{settings.name}', store {store.path}",
          file=sys.stderr)
    progress = _ProgressLine(enabled=not args.no_progress)
    client = make_client(args.scheduler, args.workers, args.dashboard)  # first: an unreachable scheduler fails fast
    try:
        model = _screen_model(args)
        summary = run_screen(ligand, store, client, settings, metals, ctypes, progress, args.retry_failed, model)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the clean-up
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        progress.close()
        close_client(client, interrupted=True)
        print(f"reescreen: interrupted; {progress.saved} results saved, rerun to finish.", file=sys.stderr)
        return 130
    except BaseException:
        close_client(client, interrupted=True)
        raise
    close_client(client)
    progress.close()
    print(f"{summary.requested} complexes requested: {summary.cached} from the store, "
          f"{summary.requested - summary.cached} computed in {summary.wall_s:.1f} s ({summary.computed} tasks incl. "
          f"templates and references); {summary.failed} failed, {summary.qc_failed} QC-flagged.", file=sys.stderr)
    for note in summary.shared:
        print(f"shared store: {note}", file=sys.stderr)
    for ctype, route in summary.routes.items():
        print(f"{ctype}: built by {route}", file=sys.stderr)
    for err in summary.errors:
        print(f"error (will be retried on the next run): {err}", file=sys.stderr)
    print(format_table(results_frame(store, [ligand.smiles], settings, metals, ctypes)))
    return 1 if summary.errors else 0


class _ProgressLine:
    """The run's progress callback: a tqdm bar on stderr (unless disabled), and the count of saved results."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.state = None
        self.bar = None

    @property
    def saved(self) -> int:
        """Results this run has written to the store so far: read from the run's live progress state, which
        counts each save as it happens (a copy taken at the last progress report would miss results saved
        after it, e.g. just before an interrupt)."""
        return self.state.saved if self.state is not None else 0

    def __call__(self, p) -> None:
        self.state = p
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=p.complexes_total, unit="complex", file=sys.stderr,
                            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} complexes [{elapsed}{postfix}]")
        self.bar.n = p.complexes_done
        left = f"about {format_duration(p.eta_s)} left" if p.eta_s else ""
        self.bar.set_postfix_str(", ".join(x for x in (left, p.stage if p.stage != "done" else "",
                                                       f"{p.failed} failed" if p.failed else "",
                                                       f"{p.qc_failed} QC-flagged" if p.qc_failed else "") if x),
                                 refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _screen_model(args: argparse.Namespace):
    if args.no_model:
        return None
    if args.model:
        from core.model.inference import load_model

        return load_model(args.model, explicit=True, force_cpu=args.cpu)
    from core.model.predict import default_model

    return default_model(force_cpu=args.cpu)
