"""``reescreen ligands``: the scaffold and substituent libraries, and the group library or a user's group list."""
from __future__ import annotations

import argparse
from collections import Counter

from core.chemistry.grafting import ring_position_names
from core.chemistry.groups import CHECK_SCAFFOLDS, GroupError, check_group_on_scaffold, group_descriptors, load_groups
from core.chemistry.ligands import SCAFFOLDS, SUBSTITUENTS, library_ligand


def add_parser(sub) -> None:
    """Add the ligands sub-command."""
    lg = sub.add_parser("ligands", help="list scaffolds, substituents and substituent groups",
                        description="List the scaffold and substituent libraries with the assembled SMILES, or a "
                                    "group list (the bundled library of named neutral groups, or your own CSV "
                                    "with name,smiles columns and * for the ring carbon).")
    lg.add_argument("--scaffold", choices=list(SCAFFOLDS), help="show the full ligands of this scaffold")
    lg.add_argument("--groups", metavar="FILE|library", help="list a group list: 'library' or a CSV file")
    lg.add_argument("--check", action="store_true",
                    help="with --groups: build each group on " + " and ".join(CHECK_SCAFFOLDS) + " at --position and "
                         "check it as the screen's QC would (valid ligand, connectivity recognised from 3D)")
    lg.add_argument("--position", default="C3", help="ring carbon for --check (C3, C4, C5; default C3)")


def run(args: argparse.Namespace) -> int:
    if args.groups:
        return _list_groups(args.groups, args.check, args.position)
    if args.scaffold:
        for name in SUBSTITUENTS:
            lig = library_ligand(args.scaffold, name)
            print(f"{lig.name:32s} {lig.smiles:45s} charge {lig.charge:+d} donors {lig.donors}")
        return 0
    print("Scaffolds (binding form, * = C3):")
    for name, smi in SCAFFOLDS.items():
        positions = ", ".join(ring_position_names(name).values())
        print(f"  {name:10s} {smi}   (free ring carbons: {positions})")
    print("Substituents at C3 (the training grid):")
    for name, smi in SUBSTITUENTS.items():
        print(f"  {name:22s} {smi}")
    print("More groups: `reescreen ligands --groups library`.")
    return 0


def _list_groups(source: str, check: bool, position: str) -> int:
    try:
        groups, refused = load_groups(source)
    except GroupError as exc:
        print(f"error: {exc}")
        return 2
    for message in refused:
        print(f"refused: {message}")
    failed = 0
    for group in groups:
        d = group_descriptors(group)
        line = (f"{group.name:40s} {group.smiles:34s} {group.family:12s} heavy {d.heavy_atoms:2d}  "
                f"HBD {d.h_bond_donors} HBA {d.h_bond_acceptors} TPSA {d.tpsa:5.1f}"
                + ("  (training grid)" if group.in_training_grid else ""))
        if check:
            problems = []
            for scaffold in CHECK_SCAFFOLDS:
                try:
                    check_group_on_scaffold(group, scaffold, position)
                except GroupError as exc:
                    problems.append(str(exc))
            failed += bool(problems)
            line += "  ok" if not problems else "\n    refused: " + "\n    refused: ".join(problems)
        print(line)
    families = Counter(g.family or "(none)" for g in groups)
    print(f"{len(groups)} groups ({sum(g.in_training_grid for g in groups)} in the training grid); families: "
          + ", ".join(f"{f} {n}" for f, n in families.most_common()))
    if check:
        print(f"Checked on {', '.join(CHECK_SCAFFOLDS)} at {position}: {len(groups) - failed} usable, {failed} refused.")
    return 1 if failed or refused else 0
