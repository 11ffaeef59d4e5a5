"""``reescreen dataset build``: the paper's grid screened into the store and written as shards."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from core.chemistry.complexes import COORDINATION_TYPES
from core.chemistry.constants import ENERGY_UNITS, REE_METALS
from core.chemistry.ligands import SCAFFOLDS, SUBSTITUENTS, TRAINING_SCAFFOLDS
from core.cli.common import add_db, csv_list
from core.pipeline.settings import PRESETS, get_settings

#: How often a build with --parts exports what it computed since the last part (seconds).
PART_EVERY_S = 1800


def add_parser(sub) -> None:
    """Add the dataset sub-command."""
    d = sub.add_parser("dataset", help="build the reference dataset (the paper's grid) and write its shards",
                       description="Screen the grid (training scaffolds x substituents x types x REEs, plus HDEV "
                                   "4L out of sample) into the store, resumably, then write compressed extxyz "
                                   "shards and provenance.json.")
    dsub = d.add_subparsers(dest="dataset_command", required=True)
    b = dsub.add_parser("build", help="screen what is missing, then write the shards",
                        description="Resumable: a killed build continues where it stopped (results are in the "
                                    "store). Frames: energy = E_bind, absolute_energy = E_complex (kcal/mol).")
    b.add_argument("--out", default="data/dataset", help="output folder for shards (default data/dataset)")
    b.add_argument("--substituents", help="comma-separated subset of substituents (default: all)")
    b.add_argument("--scaffolds", default=",".join(TRAINING_SCAFFOLDS), help="training scaffolds")
    b.add_argument("--metals", default=",".join(REE_METALS), help="comma-separated REEs (default: all 16)")
    b.add_argument("--types", default=",".join(COORDINATION_TYPES), help="coordination types of the training set")
    b.add_argument("--no-hdev", action="store_true", help="leave out the HDEV out-of-sample set")
    b.add_argument("--grid", metavar="CONFIG",
                   help="a group-grid config (configs/group-grid.yaml): library groups on scaffolds and ring positions "
                        "with a group hold-out; replaces --substituents/--scaffolds/--types/--metals/--settings")
    b.add_argument("--write-only", action="store_true", help="only write shards from what the store holds")
    b.add_argument("--parts", metavar="DIR",
                   help="a folder of store parts (append-only, e.g. kept in git): rows the store lacks are imported "
                        "first, and the rows no part holds yet are exported as a new part every "
                        f"{PART_EVERY_S // 60} min and at the end, so a build can continue on another machine")
    b.add_argument("--settings", default="fast", choices=list(PRESETS), help="search/optimisation preset")
    b.add_argument("--scheduler", help="Dask scheduler address (default: embedded cluster)")
    b.add_argument("--workers", type=int, help="worker processes of the embedded cluster")
    b.add_argument("--concurrent-ligands", type=int, help="ligands screened at once (default: one per 4 workers, at least 2)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_db(b)
    tp = dsub.add_parser("templates", help="write the scaffold templates for grafting from a store",
                         description="Write every QC-passed complex of each scaffold's reference ligand (hydrogen "
                                     "at C3) and the aqua ions from the store to data/templates/ with provenance: "
                                     "the starting structures that new groups are grafted onto.")
    tp.add_argument("--settings", default="fast", choices=list(PRESETS), help="search/optimisation preset")
    tp.add_argument("--out", help="output folder (default data/templates)")
    add_db(tp)


def run(args: argparse.Namespace) -> int:
    if args.dataset_command == "templates":
        return _write_templates(args)
    from core.pipeline.dataset import build_dataset, dataset_grid, write_dataset
    from core.storage.store import Store

    grid_info: dict = {}
    if args.grid:
        from core.pipeline.group_grid import describe_grid, group_grid, load_grid_spec

        spec = load_grid_spec(args.grid)
        grid, metals = group_grid(spec), list(spec.metals)
        settings = get_settings(spec.settings).with_changes(route=spec.route)
        grid_info = describe_grid(spec, args.grid)
    else:
        substituents = csv_list(args.substituents, list(SUBSTITUENTS), "substituents") if args.substituents else None
        grid = dataset_grid(substituents, csv_list(args.scaffolds, list(SCAFFOLDS), "scaffolds"),
                            csv_list(args.types, tuple(COORDINATION_TYPES), "coordination types"),
                            include_hdev=not args.no_hdev)
        metals = csv_list(args.metals, REE_METALS, "metals")
        settings = get_settings(args.settings)
    store = Store(args.db)
    info: dict = {}
    if args.parts:
        from core.storage.parts import import_parts

        print(f"{import_parts(store, args.parts)} rows imported from the parts in {args.parts}", file=sys.stderr)
    last_part = [time.monotonic()]

    def export_new_rows(force: bool = False) -> None:
        if not args.parts or not (force or time.monotonic() - last_part[0] > PART_EVERY_S):
            return
        from core.storage.parts import export_part

        path, n = export_part(store, args.parts)
        last_part[0] = time.monotonic()
        if path is not None:
            print(f"{n} new rows exported to {path}", file=sys.stderr)

    if not args.write_only:
        store.check_writable()
        from core.pipeline.cluster import close_client, make_client

        bar = None
        if not args.no_progress:
            from tqdm import tqdm

            bar = tqdm(total=len(grid), unit="ligand", file=sys.stderr)

        def report(p):
            export_new_rows()
            if bar is not None:
                bar.n = p.done
                eta = "" if p.eta_s is None else f"{p.eta_s / 60:.0f} min"
                bar.set_postfix(ligand=p.ligand, eta=eta, refresh=False)
                bar.refresh()
        client = make_client(args.scheduler, args.workers)
        try:
            info = build_dataset(store, client, settings, grid, metals, report, args.concurrent_ligands)
        except BaseException:  # Ctrl-C or SIGTERM included: what is stored stays, the rerun resumes
            close_client(client, interrupted=True)
            export_new_rows(force=True)
            raise
        close_client(client)
        export_new_rows(force=True)
        if bar is not None:
            bar.close()
    else:  # a rewrite keeps the record of the build that computed the results
        old = Path(args.out) / "provenance.json"
        info = json.loads(old.read_text()).get("build", {}) if old.is_file() else {}
        export_new_rows(force=True)
    if grid_info:
        info["grid"] = grid_info
    prov = write_dataset(store, settings, grid, args.out, metals, info)
    for split, c in prov["counts"].items():
        print(f"{split}: {c['included']} frames written of {c['requested']} requested; {c['qc_failed']} QC-failed, "
              f"{c['failed']} failed, {c['missing']} missing (excluded)")
    print(f"shards and provenance.json in {args.out} (energies in {ENERGY_UNITS}, {settings.level})")
    return 1 if info.get("errors") else 0


def _write_templates(args: argparse.Namespace) -> int:
    from core.pipeline.scaffold_templates import TEMPLATES_DIR, write_scaffold_templates
    from core.storage.store import Store

    prov = write_scaffold_templates(Store(args.db), get_settings(args.settings),
                                    Path(args.out) if args.out else TEMPLATES_DIR)
    print(f"{prov['complexes']} template complexes written to {prov['file']} ({prov['level_of_theory']})")
    for scaffold, per_type in prov["per_scaffold_and_type"].items():
        print(f"  {scaffold}: " + ", ".join(f"{t} {n}" for t, n in per_type.items()))
    return 0
