"""``reescreen rank``: rank a group table with the pre-screen model in seconds, then confirm the best by screening."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from core.chemistry.complexes import COORDINATION_TYPES
from core.chemistry.constants import ENERGY_UNITS, REE_METALS
from core.chemistry.ligands import SCAFFOLDS
from core.cli.common import add_db, csv_list
from core.levels import DEFAULT_LEVEL

#: The shipped pre-screen ensemble (absent until one is trained: `reescreen train configs/allegro-prescreen.yaml`).
PRESCREEN_MODEL_NAME = f"reescreen-prescreen-{DEFAULT_LEVEL.slug}"


def add_parser(sub) -> None:
    """Add the rank sub-command."""
    r = sub.add_parser("rank", help="rank groups on a scaffold with the pre-screen model (no quantum chemistry)",
                       description="Put each group on the scaffold, graft it onto the shipped complexes of every "
                                   "metal and type, predict E_bind with the pre-screen ensemble (mean and spread), "
                                   "and rank ligands per metal and type by E_exchange, or by the selectivity "
                                   f"between two metals (--pair). Labels: {DEFAULT_LEVEL.name}, {ENERGY_UNITS}.")
    r.add_argument("--scaffold", required=True, choices=list(SCAFFOLDS))
    r.add_argument("--position", default="C3", help="ring carbon for the group (C3, C4, C5; default C3)")
    r.add_argument("--groups", required=True, metavar="FILE|library",
                   help="'library' (data/groups/library.csv) or a CSV of name,smiles with * on the ring carbon")
    r.add_argument("--metals", default=",".join(REE_METALS), help="comma-separated REEs (default all 16)")
    r.add_argument("--types", default=",".join(COORDINATION_TYPES), help="coordination types (default all four)")
    r.add_argument("--pair", help="two metals, e.g. Nd,Dy: rank by E_exchange(first) − E_exchange(second)")
    r.add_argument("--out", required=True, help="CSV of the ranking")
    r.add_argument("--confirm", type=int, default=0, metavar="K",
                   help="screen the best K ligands (the normal screen, into --db) and print the model beside the computed values")
    r.add_argument("--model", help=f"pre-screen model folder (default models/{PRESCREEN_MODEL_NAME})")
    r.add_argument("--cpu", action="store_true", help="predict on the CPU even if a GPU is present")
    r.add_argument("--workers", type=int,
                   help="worker processes for ranking (from 2,500 complexes on) and for --confirm (default: one "
                        "per core; 1: rank in this process)")
    add_db(r)


def run(args: argparse.Namespace) -> int:
    from core.chemistry.groups import load_groups
    from core.model.inference import load_model, models_dir

    metals = csv_list(args.metals, REE_METALS, "metals")
    types = csv_list(args.types, tuple(COORDINATION_TYPES), "coordination types")
    pair = tuple(csv_list(args.pair, REE_METALS, "metals")) if args.pair else None
    if pair is not None:
        if len(pair) != 2:
            raise ValueError("--pair takes two different metals, e.g. Nd,Dy.")
        metals = list(dict.fromkeys(metals + list(pair)))
    groups, refused_rows = load_groups(args.groups)
    for message in refused_rows:
        print(f"refused: {message}", file=sys.stderr)
    path = Path(args.model) if args.model else models_dir() / PRESCREEN_MODEL_NAME
    if not path.exists():
        raise ValueError(f"No pre-screen model at {path}: train one with `reescreen train "
                         "configs/allegro-prescreen.yaml --members 3 ...` (README, 'Ranking groups before any "
                         "quantum chemistry') or pass --model.")
    model = load_model(path, explicit=bool(args.model), force_cpu=args.cpu)
    ranking = _rank(model, groups, args, metals, types, pair)
    for message in ranking.refused:
        print(f"not ranked: {message}", file=sys.stderr)
    ranking.table.to_csv(args.out, index=False, float_format="%.2f")
    _print_summary(ranking, model, args)
    if args.confirm:
        return _confirm(ranking, args, metals, types)
    return 0


#: Below this many complexes, starting worker processes (and loading the model and templates in each) costs more
#: than it saves: ~7.5 s of start-up against ~3.5 ms saved per complex on two cores (`benchmarks/bench_rank.py`,
#: 2026-12-05: 124 complexes/s in one process, 217/s on two workers).
PARALLEL_FROM_COMPLEXES = 2500


def _rank(model, groups, args, metals, types, pair):
    """Rank in this process, or on local worker processes (one per core) for a large table on the CPU."""
    import os

    from core.pipeline.rank import rank_groups

    workers = args.workers or len(os.sched_getaffinity(0))
    large = len(groups) * len(metals) * len(types) >= PARALLEL_FROM_COMPLEXES
    if workers < 2 or not large or model.device != "cpu":
        return rank_groups(model, groups, args.scaffold, metals, types, args.position, pair)
    from core.pipeline.cluster import close_client, make_client

    client = make_client(None, workers)
    try:
        return rank_groups(model, groups, args.scaffold, metals, types, args.position, pair, client=client)
    finally:
        close_client(client)


def _print_summary(ranking, model, args) -> None:
    from core.pipeline.rank import EXPECTED_ERROR_TEXT, new_group_accuracy

    t = ranking.table
    what = (f"selectivity ΔE_exchange({ranking.pair[0]} − {ranking.pair[1]})" if ranking.pair
            else "E_exchange (vs [M(H2O)8]3+)")
    print(f"Ranked {t['name'].nunique()} ligands ({len(t)} rows) by the model's {what}, {ENERGY_UNITS}; "
          f"model {model.name} predicts {model.level_of_theory} labels from grafted, unrelaxed complexes "
          f"in {ranking.timings['wall_s']:.1f} s (grafting {ranking.timings['graft_s']:.1f} s, predicting "
          f"{ranking.timings['predict_s']:.1f} s, summed over processes"
          f"{'; members compiled with torch.compile' if ranking.compiled else ''}).")
    print(f"`uncertainty`: spread of the ensemble's members; {EXPECTED_ERROR_TEXT}.")
    accuracy = new_group_accuracy(model, ranking.pair, tuple(t["type"].unique()))
    if accuracy:
        print(accuracy)
    if ranking.pair:
        _print_pair_ends(t, ranking.pair)
    else:
        for row in t[t["rank"] == 1].itertuples(index=False):
            print(f"  best {row.type} {row.metal}: {row.name}")
    print(f"CSV: {args.out}")


def _print_pair_ends(table, pair: tuple[str, str]) -> None:
    """Per type, the ligand the model finds most selective for each metal of the pair, with its spread."""
    first, second = pair
    column = f"selectivity {first}−{second} model (kcal/mol)"
    one_row = table[table["metal"] == first]  # both metals' rows carry the ligand's selectivity
    for ctype, rows in one_row.groupby("type", sort=False):
        for metal, row in ((first, rows.loc[rows[column].idxmin()]), (second, rows.loc[rows[column].idxmax()])):
            print(f"  most {metal}-selective in {ctype}: {row['name']} ({first}−{second} {row[column]:+.1f} ± "
                  f"{row['selectivity uncertainty (kcal/mol)']:.1f}, {row['domain']})")


def _confirm(ranking, args, metals, types) -> int:
    """The normal screen of the best K ligands, then predicted against computed E_exchange."""
    from core.chemistry.ligands import make_ligand
    from core.pipeline.cluster import close_client, make_client
    from core.pipeline.runner import run_screen
    from core.pipeline.settings import FAST
    from core.storage.records import OK
    from core.storage.results import E_EXCHANGE, results_frame
    from core.storage.store import Store

    top = list(dict.fromkeys(ranking.table.sort_values("rank", kind="stable")["smiles"]))[:args.confirm]
    store = Store(args.db)
    store.check_writable()
    settings = FAST.with_changes(route="auto")  # the labels' route: grafted starts where the scaffold allows
    client = make_client(None, args.workers)
    try:
        for smiles in top:
            summary = run_screen(make_ligand(smiles), store, client, settings, metals, types)
            for error in summary.errors:
                print(f"  {error}", file=sys.stderr)
    except BaseException:
        close_client(client, interrupted=True)
        raise
    close_client(client)
    computed_col = f"E_exchange {DEFAULT_LEVEL.short_name}"
    computed = results_frame(store, ligands=top, settings=settings)
    computed = computed[computed["status"] == str(OK)][["smiles", "metal", "type", E_EXCHANGE]]
    merged = ranking.table[ranking.table["smiles"].isin(top)].merge(
        computed.rename(columns={E_EXCHANGE: computed_col}), on=["smiles", "metal", "type"], how="left")
    difference = f"model − {DEFAULT_LEVEL.short_name}"
    merged[difference] = merged["E_exchange model (kcal/mol)"] - merged[computed_col]
    shown = ["name", "metal", "type", "E_exchange model (kcal/mol)", "uncertainty (kcal/mol)", computed_col, difference]
    print(f"\nConfirmed with {DEFAULT_LEVEL.name} (store {store.path}), {ENERGY_UNITS}:")
    with pd.option_context("display.float_format", "{:.1f}".format, "display.width", 160):
        print(merged[shown].to_string(index=False))
    return 0
