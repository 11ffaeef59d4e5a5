"""``reescreen ligands``: the scaffold and substituent libraries."""
from __future__ import annotations

import argparse

from core.chemistry.ligands import SCAFFOLDS, SUBSTITUENTS, library_ligand


def add_parser(sub) -> None:
    """Add the ligands sub-command."""
    lg = sub.add_parser("ligands", help="list scaffolds and substituents",
                        description="List the scaffold and substituent libraries with the assembled SMILES.")
    lg.add_argument("--scaffold", choices=list(SCAFFOLDS), help="show the full ligands of this scaffold")


def run(args: argparse.Namespace) -> int:
    if args.scaffold:
        for name in SUBSTITUENTS:
            lig = library_ligand(args.scaffold, name)
            print(f"{lig.name:32s} {lig.smiles:45s} charge {lig.charge:+d} donors {lig.donors}")
        return 0
    print("Scaffolds (binding form, * = C3):")
    for name, smi in SCAFFOLDS.items():
        print(f"  {name:10s} {smi}")
    print("Substituents at C3:")
    for name, smi in SUBSTITUENTS.items():
        print(f"  {name:22s} {smi}")
    return 0
