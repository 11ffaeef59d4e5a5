"""The wider training grid: many new groups from the group library, on HOPO and CAM, at C3 and other ring
positions, for the model that ranks groups before any quantum chemistry.

The grid is described by a config file (``configs/group-grid.yaml``): which groups (a diverse pick of the
library by RDKit's MaxMin picker on Morgan fingerprints, seeded), which scaffolds, positions, coordination
types and metals, and how many of the picked groups are held out whole for the group hold-out (drawn
with their own seed before anything is computed).  :func:`group_grid` turns it into the same
:class:`core.pipeline.dataset.GridItem` list that ``reescreen dataset build`` screens, so the build is
resumable and parallel like the reference dataset's.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf
from rdkit import DataStructs
from rdkit.Chem import rdFingerprintGenerator
from rdkit.SimDivFilters import rdSimDivPickers

from core.chemistry.complexes import COORDINATION_TYPES
from core.chemistry.constants import REE_METALS
from core.chemistry.groups import Group, attach_group, capped_group, load_groups
from core.chemistry.ligands import make_ligand
from core.pipeline.dataset import GridItem


class GridSpecError(ValueError):
    """A grid config that cannot be used; the message names the key."""


@dataclass(frozen=True)
class GroupGridSpec:
    """A group grid as its config file states it (see ``configs/group-grid.yaml``)."""

    groups: str
    n_groups: int
    pick_seed: int
    exclude_training_grid: bool
    scaffolds: tuple[str, ...]
    other_positions: tuple[str, ...]
    n_other_position_groups: int
    types: tuple[str, ...]
    metals: tuple[str, ...]
    n_held_out: int
    hold_out_seed: int
    route: str
    settings: str


def load_grid_spec(path: str | Path) -> GroupGridSpec:
    """Read and check a group-grid config."""
    cfg = OmegaConf.to_container(OmegaConf.load(str(path)), resolve=True)
    try:
        spec = GroupGridSpec(
            groups=str(cfg["groups"]), n_groups=int(cfg["n_groups"]), pick_seed=int(cfg["pick_seed"]),
            exclude_training_grid=bool(cfg.get("exclude_training_grid", True)),
            scaffolds=tuple(cfg["scaffolds"]), other_positions=tuple(cfg.get("other_positions", [])),
            n_other_position_groups=int(cfg.get("n_other_position_groups", 0)),
            types=tuple(cfg.get("types") or COORDINATION_TYPES),
            metals=tuple(REE_METALS if cfg.get("metals", "all") == "all" else cfg["metals"]),
            n_held_out=int(cfg["n_held_out"]), hold_out_seed=int(cfg["hold_out_seed"]),
            route=str(cfg.get("route", "auto")), settings=str(cfg.get("settings", "fast")))
    except KeyError as exc:
        raise GridSpecError(f"{path}: missing key {exc.args[0]!r}") from None
    if spec.n_held_out >= spec.n_groups:
        raise GridSpecError(f"{path}: n_held_out ({spec.n_held_out}) must be smaller than n_groups ({spec.n_groups}).")
    bad = sorted(set(spec.types) - set(COORDINATION_TYPES)) + sorted(set(spec.metals) - set(REE_METALS))
    if bad:
        raise GridSpecError(f"{path}: unknown types or metals {', '.join(bad)}.")
    return spec


def pick_diverse_groups(groups: Sequence[Group], n: int, seed: int) -> list[Group]:
    """``n`` groups spread over chemical space: RDKit's MaxMin picker on Morgan (radius 2) fingerprints of
    the groups, Tanimoto distance, seeded; returned in pick order."""
    if n > len(groups):
        raise GridSpecError(f"{n} groups asked for, {len(groups)} available.")
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    fingerprints = [generator.GetFingerprint(capped_group(g)) for g in groups]
    picker = rdSimDivPickers.MaxMinPicker()
    picked = picker.LazyBitVectorPick(fingerprints, len(fingerprints), n, seed=seed)
    return [groups[i] for i in picked]


def grid_groups(spec: GroupGridSpec) -> list[Group]:
    """The groups of the grid (training-grid groups left out when the spec says so)."""
    pool, refused = load_groups(spec.groups)
    if refused:
        raise GridSpecError(f"{spec.groups}: " + "; ".join(refused))
    if spec.exclude_training_grid:
        pool = [g for g in pool if not g.in_training_grid]
    return pick_diverse_groups(pool, spec.n_groups, spec.pick_seed)


def held_out_groups(spec: GroupGridSpec, groups: Sequence[Group]) -> list[Group]:
    """The groups held out whole for the group hold-out: drawn at random (``hold_out_seed``) from the grid's
    groups before anything is computed, never chosen by a score."""
    rng = np.random.default_rng(spec.hold_out_seed)
    return [groups[i] for i in sorted(rng.choice(len(groups), size=spec.n_held_out, replace=False))]


#: Split of the held-out groups' frames (their own shards; training leaves them out).
HOLDOUT_SPLIT = "group-holdout"


def group_grid(spec: GroupGridSpec) -> list[GridItem]:
    """Grid items, group-major (a partial build covers every scaffold): each group at C3 on every scaffold,
    and the first ``n_other_position_groups`` groups at each of ``other_positions`` too.  Items of the
    held-out groups have split ``group-holdout``, the others ``train``."""
    items = []
    groups = grid_groups(spec)
    held_out = {g.smiles for g in held_out_groups(spec, groups)}
    for k, group in enumerate(groups):
        positions = ("C3",) + (spec.other_positions if k < spec.n_other_position_groups else ())
        for position in positions:
            for scaffold in spec.scaffolds:
                label = group.name if position == "C3" else f"{position[1:]}-{group.name}"
                ligand = make_ligand(attach_group(scaffold, group.smiles, position), scaffold=scaffold,
                                     substituent=label)
                split = HOLDOUT_SPLIT if group.smiles in held_out else "train"
                items.append(GridItem(ligand, spec.types, split, group.smiles, position))
    return items


def describe_grid(spec: GroupGridSpec, path: str | Path) -> dict:
    """What the provenance records about the grid: the config, the picked and the held-out groups."""
    groups = grid_groups(spec)
    return {"config": str(path), "spec": {k: list(v) if isinstance(v, tuple) else v
                                          for k, v in spec.__dict__.items()},
            "groups": [{"name": g.name, "smiles": g.smiles, "family": g.family} for g in groups],
            "held_out_groups": [g.name for g in held_out_groups(spec, groups)]}
