"""Units of work the runner sends to Dask workers, each at the settings' level of theory (:mod:`core.levels`).  Each returns a :class:`Record` and never raises for a
chemistry failure (Architector, SCF, QC): the failure is a result with its reason, so it is stored and
shown.  Only infrastructure errors (a dead worker, a bug) propagate as exceptions.
"""
from __future__ import annotations

import time

from ase import Atoms
from ase.build import molecule
from rdkit import Chem
from rdkit.Chem import AllChem

from core.chemistry.complexes import (CoordinationType, TemplateError, build_la_template, complex_charge,
                            swap_metal)
from core.chemistry.constants import METAL_OXIDATION_STATE, TEMPLATE_METAL
from core.chemistry.ligands import Ligand
from core.chemistry.qc import check_complex, ligand_change
from core.levels import LevelError, LevelResult
from core.pipeline.settings import ScreeningSettings
from core.storage.records import FAILED, OK, QC_FAILED, Kind, Record

#: How a complex's starting structure was built (stored in the ``route`` column).
GRAFT, ARCHITECTOR, SHIPPED = "graft", "architector", "shipped"


def _from_level(kind: str, res: LevelResult, charge: int, **identity: str) -> Record:
    reason = "" if res.converged else f"optimisation stopped at the step limit ({res.n_steps} steps)"
    return Record(kind=kind, energy=res.energy, atoms=res.atoms, charge=charge, n_steps=res.n_steps,
                  converged=res.converged, electronic_temperature=res.electronic_temperature,
                  wall_s=res.wall_s, reason=reason, level=res.level, **identity)


def _optimise(atoms: Atoms, charge: int, settings: ScreeningSettings) -> LevelResult:
    return settings.level_of_theory.optimise(atoms, charge, settings)


def compute_templates(ligand: Ligand | None, ctype: CoordinationType, settings: ScreeningSettings) -> list[Record]:
    """La templates of ``ctype`` from Architector (one Record per template, or one failed Record)."""
    identity = {"ligand": ligand.smiles if ligand else "", "metal": TEMPLATE_METAL, "ctype": ctype.name}
    start = time.perf_counter()
    try:
        templates = build_la_template(ligand, ctype, settings)
    except TemplateError as exc:
        return [Record(Kind.TEMPLATE, status=FAILED, reason=str(exc), wall_s=time.perf_counter() - start, **identity)]
    wall = (time.perf_counter() - start) / len(templates)
    return [Record(Kind.TEMPLATE, atoms=a, charge=int(a.info["charge"]), rank=i, wall_s=wall, **identity)
            for i, a in enumerate(templates)]


def _qc(record: Record, ligand: Ligand | None, ctype: CoordinationType) -> Record:
    qc = check_complex(record.atoms, ligand.smiles if ligand else None, ligand.charge if ligand else 0, ctype)
    if not qc.passed:
        record.status, record.reason = QC_FAILED, qc.reason
    return record


def compute_la_complex(ligand: Ligand | None, ctype: CoordinationType, settings: ScreeningSettings,
                       templates: list[Record]) -> Record:
    """Optimise every La template at the settings' level of theory and keep the lowest that passes QC."""
    identity = {"ligand": ligand.smiles if ligand else "", "metal": TEMPLATE_METAL, "ctype": ctype.name}
    usable = [t for t in templates if t.status == OK and t.atoms is not None]
    if not usable:
        reason = templates[0].reason if templates else "no template"
        return Record(Kind.COMPLEX, status=FAILED, reason=f"no La template: {reason}", **identity)
    charge = complex_charge(ligand.charge if ligand else 0, ctype)
    results, errors = [], []
    for t in usable:
        try:
            results.append(_qc(_from_level(Kind.COMPLEX, _optimise(t.atoms, charge, settings), charge, **identity),
                               ligand, ctype))
        except LevelError as exc:
            errors.append(str(exc))
    if not results:
        return Record(Kind.COMPLEX, status=FAILED, reason=errors[0], charge=charge, **identity)
    results.sort(key=lambda r: (r.status != OK, r.energy))
    best = results[0]
    best.extra.update(templates_optimised=len(results), route=ARCHITECTOR)
    return best


def _usable(record: Record | None, allow_qc_failed: bool = False) -> bool:
    ok = (OK, QC_FAILED) if allow_qc_failed else (OK,)
    return record is not None and record.status in ok and record.atoms is not None


def choose_swap_start(start: Record | None, la_complex: Record | None, templates: list[Record]) -> Record | None:
    """Structure to swap the new metal into: the optimised predecessor if it passed QC, else the optimised
    La complex if it did; else the QC-flagged predecessor or La (an optimised minimum is still a far
    better start than a raw template, and the new complex is QC-checked on its own); else the template."""
    for candidate, allow in ((start, False), (la_complex, False), (start, True), (la_complex, True)):
        if _usable(candidate, allow):
            return candidate
    return next((t for t in templates if _usable(t)), None)


def compute_swapped_complex(ligand: Ligand | None, ctype: CoordinationType, metal: str,
                            settings: ScreeningSettings, start: Record, la_complex: Record,
                            templates: list[Record]) -> Record:
    """The ``metal`` complex: the metal of ``start`` (usually the previous metal of the series, already
    optimised) swapped for ``metal`` and re-optimised; see :func:`choose_swap_start` for the fallbacks."""
    identity = {"ligand": ligand.smiles if ligand else "", "metal": metal, "ctype": ctype.name}
    charge = complex_charge(ligand.charge if ligand else 0, ctype)
    source = choose_swap_start(start, la_complex, templates)
    if source is None:
        return Record(Kind.COMPLEX, status=FAILED, charge=charge,
                      reason=f"no La structure to swap from: {la_complex.reason}", **identity)
    try:
        res = _optimise(swap_metal(source.atoms, metal), charge, settings)
    except LevelError as exc:
        return Record(Kind.COMPLEX, status=FAILED, reason=str(exc), charge=charge, **identity)
    record = _qc(_from_level(Kind.COMPLEX, res, charge, **identity), ligand, ctype)
    # the route of the chain's first complex (grafted, or from an Architector template) carries along it
    record.extra.update(swapped_from=f"{source.metal} {source.kind} ({source.status})",
                        route=source.extra.get("route") or ARCHITECTOR)
    return record


def compute_complex_from_starts(ligand: Ligand | None, ctype: CoordinationType, metal: str,
                                settings: ScreeningSettings, starts: list[Atoms], source: str,
                                route: str = GRAFT) -> Record:
    """The ``metal`` complex optimised from given starting structures (grafts, one per embedding tried, or a
    shipped aqua ion); the lowest that passes QC is kept.  ``source`` says what the starts were built on."""
    identity = {"ligand": ligand.smiles if ligand else "", "metal": metal, "ctype": ctype.name}
    charge = complex_charge(ligand.charge if ligand else 0, ctype)
    results, errors = [], []
    for atoms in starts:
        try:
            results.append(_qc(_from_level(Kind.COMPLEX, _optimise(atoms, charge, settings), charge, **identity),
                               ligand, ctype))
        except LevelError as exc:
            errors.append(str(exc))
    if not results:
        return Record(Kind.COMPLEX, status=FAILED, reason=errors[0], charge=charge, **identity,
                      extra={"route": route, "started_from": source})
    results.sort(key=lambda r: (r.status != OK, r.energy))
    best = results[0]
    best.extra.update(route=route, started_from=source, starts_optimised=len(results))
    return best


def _ligand_conformers(ligand: Ligand, n: int, seed: int) -> list[Atoms]:
    mol = Chem.AddHs(Chem.MolFromSmiles(ligand.smiles))
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    ids = list(AllChem.EmbedMultipleConfs(mol, numConfs=n, params=params))
    if not ids:
        raise LevelError("RDKit could not embed a 3D structure of the free ligand")
    symbols = [a.GetSymbol() for a in mol.GetAtoms()]
    return [Atoms(symbols, positions=mol.GetConformer(i).GetPositions()) for i in ids]


def compute_ligand_reference(ligand: Ligand, settings: ScreeningSettings) -> Record:
    """Free ligand (same charge) optimised from ``settings.ligand_conformers`` RDKit conformers; lowest wins."""
    identity = {"ligand": ligand.smiles}
    start = time.perf_counter()
    best: Record | None = None
    errors: list[str] = []
    try:
        conformers = _ligand_conformers(ligand, settings.ligand_conformers, settings.seed)
    except LevelError as exc:
        return Record(Kind.LIGAND, status=FAILED, reason=str(exc), charge=ligand.charge, **identity)
    for conf in conformers:
        try:
            rec = _from_level(Kind.LIGAND, _optimise(conf, ligand.charge, settings), ligand.charge, **identity)
        except LevelError as exc:
            errors.append(str(exc))
            continue
        changed = ligand_change(rec.atoms, ligand.smiles, "free ligand")
        if changed:
            errors.append(f"{changed} on optimisation")
            continue
        if best is None or rec.energy < best.energy:
            best = rec
    if best is None:
        return Record(Kind.LIGAND, status=FAILED, reason=errors[0] if errors else "no conformer",
                      charge=ligand.charge, **identity)
    best.extra["conformers"] = len(conformers)
    best.wall_s = time.perf_counter() - start
    return best


def compute_water_reference(settings: ScreeningSettings) -> Record:
    """Optimised water at the settings' level of theory."""
    try:
        return _from_level(Kind.WATER, _optimise(molecule("H2O"), 0, settings), 0)
    except LevelError as exc:
        return Record(Kind.WATER, status=FAILED, reason=str(exc))


def compute_ion_reference(metal: str, settings: ScreeningSettings) -> Record:
    """Bare M³⁺ in the level's implicit water (single atom; the level decides its spin)."""
    try:
        return _from_level(Kind.ION, settings.level_of_theory.single_point(Atoms(metal), METAL_OXIDATION_STATE,
                                                                           settings),
                           METAL_OXIDATION_STATE, metal=metal)
    except LevelError as exc:
        return Record(Kind.ION, metal=metal, status=FAILED, reason=str(exc), charge=METAL_OXIDATION_STATE)
