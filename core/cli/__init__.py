"""The ``reescreen`` command line: one module per command (screen, ligands, results and export, dataset,
train/evaluate/predict); this module assembles the parser and dispatches."""
from __future__ import annotations

import argparse
import faulthandler
import signal
import sys
import threading

from core import __version__
from core.chemistry.constants import ENERGY_UNITS
from core.chemistry.ligands import LigandError
from core.cli import dataset, ligands, model, rank, refine, results, screen
from core.levels import DEFAULT_LEVEL

#: Sub-command name -> (adds its parser, runs it).
COMMANDS = {
    "screen": (screen.add_parser, screen.run),
    "refine": (refine.add_parser, refine.run),
    "ligands": (ligands.add_parser, ligands.run),
    "results": (results.add_results_parser, results.run_results),
    "export": (results.add_export_parser, results.run_export),
    "dataset": (dataset.add_parser, dataset.run),
    "train": (model.add_train_parser, model.run_train),
    "evaluate": (model.add_evaluate_parser, model.run_evaluate),
    "predict": (model.add_predict_parser, model.run_predict),
    "rank": (rank.add_parser, rank.run),
}


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (every sub-command documented in --help)."""
    parser = argparse.ArgumentParser(
        prog="reescreen",
        description="Screen bidentate ligands against the 16 rare earths: Architector La templates, swap to "
                    f"every REE, {DEFAULT_LEVEL.name} optimisation, connectivity QC, binding energies in {ENERGY_UNITS}.")
    parser.add_argument("--version", action="version", version=f"reescreen {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add, _ in COMMANDS.values():
        add(sub)
    return parser


def _interrupt(signum, frame) -> None:
    """SIGTERM ends a run the way Ctrl-C does: results so far are kept, the cluster is closed."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``reescreen`` command: one line and a non-zero status for every error a user can
    cause (bad input, an unusable store or output path, an unreachable scheduler, an interrupt)."""
    from core.pipeline.cluster import ClusterError

    signal.signal(signal.SIGTERM, _interrupt)
    if threading.current_thread() is threading.main_thread():
        try:  # `kill -USR1 PID` prints where every thread of a run that seems stuck is, and the run goes on
            faulthandler.register(signal.SIGUSR1, all_threads=True)
        except (AttributeError, OSError, RuntimeError, ValueError):
            pass  # stderr is no file (captured in-process): nothing to print the stacks to
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return COMMANDS[args.command][1](args)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    except (LigandError, ValueError, ClusterError) as exc:
        print(f"reescreen: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # an output folder that does not exist, a file that cannot be written
        where = f": {exc.filename}" if exc.filename else ""
        print(f"reescreen: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("reescreen: interrupted.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
