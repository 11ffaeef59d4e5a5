"""Scaffold templates: the optimised complexes of each library scaffold's reference ligand (hydrogen at C3),
for every REE and coordination type the reference dataset holds, shipped in ``data/templates/``.

New ligands on a library scaffold are grafted onto these (:mod:`core.chemistry.grafting`) instead of being
built by Architector.  They are written from a result store (the dataset's build store) by
``reescreen dataset templates``, with a provenance file.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import ase.io
from ase import Atoms

from core import __version__
from core.chemistry.complexes import AQUA, swap_metal
from core.chemistry.constants import ENERGY_UNITS, SHANNON_RADIUS_CN8
from core.chemistry.grafting import (REFERENCE_SUBSTITUENT, GraftError, GraftPlan, graft_complex, ligand_embeddings,
                                    reference_copies)
from core.chemistry.ligands import SCAFFOLDS, Ligand, library_ligand
from core.pipeline.settings import ScreeningSettings
from core.storage.records import OK, Kind
from core.storage.results import frames, structure
from core.storage.store import Store, package_versions

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "data" / "templates"
#: The aqua ions [M(H2O)8]³⁺ ship in the same file under this name in place of a scaffold.
AQUA_TEMPLATE = "aqua"


def templates_file(settings: ScreeningSettings, directory: Path = TEMPLATES_DIR) -> Path:
    """The shipped templates of ``settings``' level of theory and preset."""
    return directory / f"scaffold-templates-{settings.level_of_theory.slug}-{settings.name}.extxyz.gz"


def write_scaffold_templates(store: Store, settings: ScreeningSettings, directory: Path = TEMPLATES_DIR) -> dict:
    """Write every QC-passed complex of each scaffold's reference ligand in ``store`` as the template file,
    plus ``provenance.json``; returns the provenance."""
    directory.mkdir(parents=True, exist_ok=True)
    found, counts = [], {}
    for scaffold in SCAFFOLDS:
        ligand = library_ligand(scaffold, REFERENCE_SUBSTITUENT)
        got = frames(store, ligands=[ligand.smiles], settings=settings)
        for atoms in got:
            atoms.info["scaffold"] = scaffold
            atoms.info["source_row"] = atoms.info.pop("row_id")
        counts[scaffold] = {t: sum(a.info["type"] == t for a in got) for t in sorted({a.info["type"] for a in got})}
        found += got
    aqua = [structure(store, row.id) for row in store.settings_rows(settings, kind=Kind.COMPLEX, ctype=AQUA.name,
                                                                     status=OK)]
    for atoms in aqua:
        atoms.info["scaffold"] = AQUA_TEMPLATE
        atoms.info["source_row"] = atoms.info.pop("row_id")
    counts[AQUA_TEMPLATE] = {AQUA.name: len(aqua)}
    found += aqua
    for atoms in found:  # extended XYZ cannot hold an empty value
        atoms.info = {k: v for k, v in atoms.info.items() if v != ""}
    path = templates_file(settings, directory)
    ase.io.write(str(path), found, format="extxyz")
    provenance = {
        "what": f"optimised complexes of each scaffold's reference ligand ({REFERENCE_SUBSTITUENT} at C3), "
                "the starting structures for grafting new groups, and the aqua ions [M(H2O)8]3+",
        "file": path.name, "source_store": store.path.name, "level_of_theory": settings.level,
        "settings": json.loads(settings.to_json()), "energy_units": ENERGY_UNITS, "code_version": __version__,
        "packages": package_versions(), "complexes": len(found), "per_scaffold_and_type": counts,
    }
    (directory / f"{path.name.split('.')[0]}.provenance.json").write_text(json.dumps(provenance, indent=2))
    return provenance


@lru_cache(maxsize=4)
def _load(path: str) -> dict[tuple[str, str, str], Atoms]:
    if not Path(path).exists():
        return {}
    return {(a.info["scaffold"], a.info["metal"], a.info["type"]): a
            for a in ase.io.read(path, index=":", format="extxyz")}


def aqua_binding_energy(metal: str, settings: ScreeningSettings) -> float | None:
    """E_bind (kcal/mol, the templates' level) of [M(H₂O)₈]³⁺: a shipped complex of ``metal`` carries both its
    E_bind and its E_exchange, whose difference is the aqua ion's E_bind; None when no template of that metal
    was computed with it."""
    for (scaffold, source, _), atoms in _load(str(templates_file(settings))).items():
        if source == metal and scaffold != AQUA_TEMPLATE and "exchange_energy" in atoms.info and atoms.calc:
            return float(atoms.calc.results["energy"]) - float(atoms.info["exchange_energy"])
    return None


def scaffold_template(settings: ScreeningSettings, scaffold: str, metal: str, ctype: str) -> tuple[Atoms, str] | None:
    """The shipped template complex for this scaffold, metal and type at ``settings`` and the metal it was
    computed with, or None.  Where the reference ligand's complex with ``metal`` failed QC, the template of
    the metal closest in CN-8 radius is used with ``metal`` swapped in (ligands moved by the radius change)."""
    found = _load(str(templates_file(settings)))
    by_radius = sorted(SHANNON_RADIUS_CN8, key=lambda m: abs(SHANNON_RADIUS_CN8[m] - SHANNON_RADIUS_CN8[metal]))
    for source in by_radius:
        atoms = found.get((scaffold, source, ctype))
        if atoms is not None:
            return (atoms.copy() if source == metal else swap_metal(atoms, metal)), source
    return None


def grafted_starts(plan: GraftPlan, ligand: Ligand, metal: str, ctype: str,
                   settings: ScreeningSettings) -> tuple[list[Atoms], str]:
    """Starting structures for ``ligand``'s ``metal`` complex, grafted onto its scaffold's shipped complex:
    one per embedding seed (``settings.n_templates``: fast 1, thorough 3).  Returns them with a note of the
    template used; :class:`GraftError` when there is no template or every graft clashes."""
    found = scaffold_template(settings, plan.scaffold, metal, ctype)
    if found is None:
        raise GraftError(f"no shipped {plan.scaffold} {ctype} complex to graft onto")
    template, source = found
    starts, errors = [], []
    for k in range(max(1, settings.n_templates)):
        try:
            starts.append(graft_complex(template, plan, ligand.charge, seed=settings.seed + k))
        except GraftError as exc:
            errors.append(str(exc))
    if not starts:
        raise GraftError(errors[0])
    return starts, f"{plan.scaffold}-{REFERENCE_SUBSTITUENT} {source} {ctype}" + (
        f" (with {metal} swapped in)" if source != metal else "")


@lru_cache(maxsize=1024)
def _template_with_copies(settings: ScreeningSettings, scaffold: str, metal: str, ctype: str,
                          ligand_charge: int) -> tuple[Atoms, tuple] | None:
    found = scaffold_template(settings, scaffold, metal, ctype)
    if found is None:
        return None
    return found[0], tuple(reference_copies(found[0], scaffold, ligand_charge))


def grafted_series(plan: GraftPlan, ligand: Ligand, metals: Sequence[str], ctypes: Sequence[str],
                   settings: ScreeningSettings) -> dict[tuple[str, str], Atoms | GraftError]:
    """``ligand`` grafted onto the shipped complex of every metal and type (one start each, no optimisation):
    the fast path for ranking many ligands.  The ligand is embedded once (seed ``settings.seed``) and the same
    group conformations are placed on every template, whose ligand copies are found once per template and
    kept.  Each (metal, type) maps to its complex or to the :class:`GraftError` that refused it."""
    out: dict[tuple[str, str], Atoms | GraftError] = {}
    embeddings = None
    for ctype in ctypes:
        for metal in metals:
            found = _template_with_copies(settings, plan.scaffold, metal, ctype, ligand.charge)
            if found is None:
                out[(metal, ctype)] = GraftError(f"no shipped {plan.scaffold} {ctype} complex to graft onto")
                continue
            template, copies = found
            if embeddings is None:
                embeddings = ligand_embeddings(plan, template.positions[copies[0]], settings.seed)
            try:
                out[(metal, ctype)] = graft_complex(template, plan, ligand.charge, embeddings=embeddings,
                                                    copies=list(copies))
            except GraftError as exc:
                out[(metal, ctype)] = exc
    return out
