"""Inputs of the pre-screen model: grafted, unrelaxed complexes labelled with the relaxed complexes' E_bind.

The pre-screen model ranks groups before any quantum chemistry, so at prediction time it only ever sees a
ligand grafted onto the shipped complexes of its scaffold (:func:`core.pipeline.scaffold_templates.grafted_series`,
no optimisation).  It is trained on exactly that input: every relaxed frame of a dataset is replaced by the
grafted complex of the same ligand, metal and coordination type, built the same way, and keeps its labels
(E_bind and E_exchange of the relaxed complex, kcal/mol).  Frames whose graft is refused are left out and
counted; the model cannot score those ligands either, and says so.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from core.chemistry.grafting import GraftError, plan_graft
from core.chemistry.ligands import LigandError, make_ligand
from core.pipeline.scaffold_templates import grafted_series
from core.pipeline.settings import FAST, ScreeningSettings

#: ``geometry`` of a frame built here (relaxed frames have none).
GRAFTED = "grafted"


@dataclass
class GraftedFrames:
    """Grafted frames and the relaxed frames that could not be grafted, with the reason per frame."""

    frames: list[Atoms] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def grafted_frames(relaxed: Sequence[Atoms], settings: ScreeningSettings = FAST) -> GraftedFrames:
    """The grafted twin of every relaxed frame: same metadata and labels, geometry from grafting.

    Frames are grouped by ligand so that each ligand is embedded once for all its metals and types.
    """
    by_ligand: dict[str, list[Atoms]] = defaultdict(list)
    for atoms in relaxed:
        by_ligand[str(atoms.info["ligand"])].append(atoms)
    out = GraftedFrames()
    for smiles, frames in by_ligand.items():
        try:
            ligand = make_ligand(smiles)
        except LigandError as exc:
            out.refused += [f"{smiles}: {exc}"] * len(frames)
            continue
        plan = plan_graft(ligand.smiles)
        if plan is None:
            out.refused += [f"{smiles}: not a library scaffold with groups on ring carbons (cannot be grafted)"] \
                * len(frames)
            continue
        cells = sorted({(str(a.info["metal"]), str(a.info["type"])) for a in frames})
        built = grafted_series(plan, ligand, sorted({m for m, _ in cells}), sorted({t for _, t in cells}), settings)
        for atoms in frames:
            key = (str(atoms.info["metal"]), str(atoms.info["type"]))
            grafted = built.get(key)
            if grafted is None or isinstance(grafted, GraftError):
                out.refused.append(f"{smiles} {key[0]} {key[1]}: {grafted or 'no template'}")
                continue
            out.frames.append(_with_labels(grafted, atoms))
    return out


def _with_labels(grafted: Atoms, relaxed: Atoms) -> Atoms:
    frame = grafted.copy()
    frame.info = dict(relaxed.info, geometry=GRAFTED)
    if relaxed.calc is not None and "energy" in relaxed.calc.results:
        frame.calc = SinglePointCalculator(frame, energy=relaxed.calc.results["energy"])
    return frame
