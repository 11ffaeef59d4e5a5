"""Complexes: coordination types, La templates from Architector and the swap to the other REEs."""
from __future__ import annotations

import contextlib
import io
import multiprocessing
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from core.chemistry.constants import METAL_OXIDATION_STATE, SHANNON_RADIUS_CN8, TEMPLATE_METAL, WATER_SMILES
from core.chemistry.geometry import coordinating_atoms, fragments, metal_index
from core.chemistry.ligands import Ligand
from core.levels import ARCHITECTOR_RELAXATION
from core.pipeline.settings import ScreeningSettings


class TemplateError(RuntimeError):
    """Architector could not build the La template."""


@dataclass(frozen=True)
class CoordinationType:
    """A coordination-number-8 complex of ``n_ligands`` bidentate ligands and ``n_waters`` waters."""

    name: str
    n_ligands: int
    n_waters: int


COORDINATION_TYPES: dict[str, CoordinationType] = {
    t.name: t for t in (CoordinationType("4L", 4, 0), CoordinationType("3L2W", 3, 2),
                        CoordinationType("2L4W", 2, 4), CoordinationType("1L6W", 1, 6))
}
#: The aqua ion [M(H2O)8]³⁺: the reference of the ligand-exchange energy.
AQUA = CoordinationType("8W", 0, 8)


def get_coordination_type(name: str) -> CoordinationType:
    """Coordination type by name (``4L``, ``3L2W``, ``2L4W``, ``1L6W`` or ``8W``)."""
    if name == AQUA.name:
        return AQUA
    try:
        return COORDINATION_TYPES[name]
    except KeyError:
        raise ValueError(f"Unknown coordination type {name!r}; choose from {', '.join(COORDINATION_TYPES)}.") \
            from None


def complex_charge(ligand_charge: int, ctype: CoordinationType) -> int:
    """Total charge of M(III) with ``ctype.n_ligands`` ligands of charge ``ligand_charge`` and neutral waters."""
    return METAL_OXIDATION_STATE + ctype.n_ligands * ligand_charge


def architector_input(ligand: Ligand | None, ctype: CoordinationType, settings: ScreeningSettings) -> dict:
    """Architector input for the La complex of ``ctype`` (``ligand`` may be None for the aqua ion)."""
    ligs = []
    if ctype.n_ligands:
        assert ligand is not None
        ligs += [{"smiles": ligand.smiles, "coordList": list(ligand.donors), "ligType": "bi_cis"}] * ctype.n_ligands
    ligs += [{"smiles": WATER_SMILES, "coordList": [0], "ligType": "mono"}] * ctype.n_waters
    params = {
        "metal_ox": METAL_OXIDATION_STATE,
        "n_symmetries": settings.n_symmetries,
        "n_conformers": settings.n_templates,
        # With one symmetry requested, stop at the first core geometry that assembles.
        "return_only_1": settings.n_symmetries == 1,
        **ARCHITECTOR_RELAXATION,  # Architector's own template relaxation: closed shell, implicit water
        "seed": settings.seed,
        "temp_prefix": "/tmp/",
    }
    return {"core": {"metal": TEMPLATE_METAL, "coreCN": 8}, "ligands": ligs, "parameters": params}


def build_la_template(ligand: Ligand | None, ctype: CoordinationType, settings: ScreeningSettings) -> list[Atoms]:
    """La complexes of ``ctype`` from Architector, lowest Architector energy first (at most ``n_templates``).

    Architector's own relaxation is kept; the structures are re-optimised at the settings' level afterwards.
    """
    inp = architector_input(ligand, ctype, settings)
    built = _architector_with_time_limit(inp, settings.seed, settings.template_timeout_s, ctype.name)
    if not built:
        raise TemplateError(f"Architector assembled no La {ctype.name} complex (no core geometry passed its "
                            "sanity checks).")
    charge = complex_charge(ligand.charge if ligand else 0, ctype)
    templates = []
    for v in sorted(built, key=lambda r: r["energy"])[: settings.n_templates]:
        atoms = v["ase_atoms"].copy()
        atoms.calc = None
        atoms.set_initial_charges(None)
        atoms.set_initial_magnetic_moments(None)
        atoms.info = {"charge": charge}
        templates.append(atoms)
    return templates


def _build_in_child(inp: dict, seed: int, conn) -> None:
    """Child process: run Architector and send back (ok, [{energy, ase_atoms}, ...] or the error text)."""
    try:
        from architector import build_complex

        np.random.seed(seed)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            out = build_complex(inp)
        # copies: Architector's Atoms may carry a calculator that does not pickle
        conn.send((True, [{"energy": v["energy"], "ase_atoms": v["ase_atoms"].copy()} for k, v in out.items()
                          if "_init_only" not in k]))
    except Exception as exc:  # Architector raises many kinds; all mean "no template"
        conn.send((False, f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _architector_with_time_limit(inp: dict, seed: int, timeout_s: float, ctype_name: str) -> list[dict]:
    """Architector in a child process that is stopped after ``timeout_s`` (Architector has no limit).

    The fork server imports Architector once per process that builds templates, so each build starts
    in well under a second and without inheriting the Dask worker's threads.
    """
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["architector", "core.chemistry.complexes"])
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_build_in_child, args=(inp, seed, send), daemon=True)
    child.start()
    send.close()
    try:
        if not receive.poll(timeout_s):
            raise TemplateError(f"Architector did not finish the La {ctype_name} template within {timeout_s:g} s "
                                "(settings.template_timeout_s); stopped. Rerun with --retry-failed to try again.")
        try:
            ok, payload = receive.recv()
        except EOFError:
            child.join(5)
            raise TemplateError(f"Architector's process died building the La {ctype_name} template "
                                f"(exit code {child.exitcode}).") from None
    finally:
        if child.is_alive():
            child.kill()
        child.join(5)
        receive.close()
    if not ok:
        raise TemplateError(f"Architector failed for {ctype_name}: {payload}")
    return payload


def swap_metal(atoms: Atoms, new_metal: str) -> Atoms:
    """Replace the metal of ``atoms`` by ``new_metal``; every ligand keeps its identity and geometry.

    Each ligand and water is moved rigidly along the metal→donor direction by the difference of the
    two metals' CN-8 ionic radii, so the new complex starts near its own metal–donor distances and
    the optimisation needs a fraction of the steps.
    """
    if new_metal not in SHANNON_RADIUS_CN8:
        raise ValueError(f"{new_metal!r} is not a rare-earth element.")
    out = atoms.copy()
    m = metal_index(out)
    shift = SHANNON_RADIUS_CN8[new_metal] - SHANNON_RADIUS_CN8[out[m].symbol]
    out[m].symbol = new_metal
    pos = out.get_positions()
    for members in fragments(out):
        donors = coordinating_atoms(out, members) or [int(members[np.argmin(
            np.linalg.norm(pos[members] - pos[m], axis=1))])]
        direction = pos[donors].mean(axis=0) - pos[m]
        pos[members] += shift * direction / np.linalg.norm(direction)
    out.set_positions(pos)
    return out
