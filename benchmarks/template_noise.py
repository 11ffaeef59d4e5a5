"""Template noise: how far apart the minima of different Architector templates of one complex lie.

For each ligand and coordination type, the `thorough` preset builds its La templates with Architector (10
metal-centre symmetries, 3 templates kept) and optimises every template at GFN2-xTB/ALPB(water) with the
`thorough` optimiser settings.  Within one complex the references (ion, ligands, water) are the same, so
the spread of the complexes' energies is the spread of E_bind and of E_exchange that the choice of template
alone causes.  It prints, per complex, each QC-passed minimum relative to the lowest, and over all of them
the pooled standard deviation of a template's minimum about its complex's mean: the half-width of the
noise band the Compare page draws.  Writes ``data/template_noise.json`` (read by the app) and prints the
table kept in ``benchmarks/template_noise.last.txt``.

    python benchmarks/template_noise.py [--ligands HOPO-methyl,CAM-methyl] [--types 4L,1L6W,3L2W,2L4W]

It resumes: complexes already in the JSON are not measured again.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from datetime import date
from pathlib import Path

from core.chemistry.complexes import COORDINATION_TYPES, complex_charge
from core.chemistry.ligands import library_ligand
from core.pipeline.settings import get_settings
from core.pipeline.tasks import _from_level, _optimise, _qc, compute_templates
from core.storage.records import OK, Kind

OUT = Path(__file__).resolve().parents[1] / "data" / "template_noise.json"


def minima(ligand, ctype, settings) -> list[float]:
    """Energies (kcal/mol) of the QC-passed optimised templates of one La complex."""
    found = []
    for template in compute_templates(ligand, ctype, settings):
        if template.status != OK:
            continue
        charge = complex_charge(ligand.charge, ctype)
        rec = _qc(_from_level(Kind.COMPLEX, _optimise(template.atoms, charge, settings), charge,
                              ligand=ligand.smiles, metal="La", ctype=ctype.name), ligand, ctype)
        if rec.status == OK and rec.converged:
            found.append(rec.energy)
    return found


def summarise(rows: list[dict], settings) -> dict:
    """The pooled standard deviation over the complexes measured so far, and how it was measured."""
    deviations = []
    for r in rows:
        if r["n"] >= 2:
            energies = r["minus_lowest_kcal"]
            mean = statistics.fmean(energies)
            deviations += [e - mean for e in energies]
    n_complexes = sum(1 for r in rows if r["n"] >= 2)
    dof = len(deviations) - n_complexes
    sd = math.sqrt(sum(d * d for d in deviations) / dof) if dof > 0 else math.nan
    return {"half_width_kcal": round(sd, 2) if dof > 0 else None, "n_complexes": n_complexes,
            "n_minima": len(deviations), "level_of_theory": settings.level_of_theory.name,
            "settings": settings.name, "metal": "La", "measured": str(date.today()),
            "machine": f"{platform.machine()}, {platform.system()}, {os.cpu_count()} cores",
            "method": "pooled standard deviation of each QC-passed, converged template minimum about its complex's "
                      "mean (thorough: 10 Architector symmetries, 3 templates per complex, each optimised)",
            "command": "python benchmarks/template_noise.py", "complexes": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ligands", default="HOPO-methyl,CAM-methyl")
    parser.add_argument("--types", default="4L,1L6W,3L2W,2L4W")
    parser.add_argument("--out", type=Path, default=OUT, help="JSON written after every complex (and resumed from)")
    args = parser.parse_args()
    settings = get_settings("thorough")
    done = json.loads(args.out.read_text())["complexes"] if args.out.exists() else []
    rows = list(done)
    start = time.perf_counter()
    for name in args.ligands.split(","):
        scaffold, _, substituent = name.rpartition("-")
        ligand = library_ligand(scaffold, substituent)
        for ctype_name in args.types.split(","):
            if any(r["ligand"] == name and r["type"] == ctype_name for r in rows):
                continue
            t0 = time.perf_counter()
            energies = minima(ligand, COORDINATION_TYPES[ctype_name], settings)
            low = min(energies) if energies else math.nan
            rows.append({"ligand": name, "type": ctype_name, "n": len(energies),
                         "minus_lowest_kcal": [round(e - low, 2) for e in sorted(energies)],
                         "wall_s": round(time.perf_counter() - t0, 1)})
            args.out.write_text(json.dumps(summarise(rows, settings), indent=1) + "\n")
    result = summarise(rows, settings)
    for r in rows:
        print(f"{r['ligand']:14s} {r['type']:5s} {r['n']} QC-passed minima, above the lowest (kcal/mol): "
              + ", ".join(f"{e:.1f}" for e in r["minus_lowest_kcal"]) + f"  [{r.get('wall_s', 0):.0f} s]")
    print(f"\npooled SD of a template minimum about its complex's mean: {result['half_width_kcal']} kcal/mol over "
          f"{result['n_minima']} minima of {result['n_complexes']} complexes ({settings.name}, La, "
          f"{result['level_of_theory']}); {time.perf_counter() - start:.0f} s this run; written to {args.out}")


if __name__ == "__main__":
    main()
