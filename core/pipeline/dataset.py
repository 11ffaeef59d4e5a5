"""The reference dataset: the paper's grid screened with our engine, written as compressed extxyz shards.

Grid: HOPO, CAM, thio-HOPO, thio-CAM × every library substituent × 4 coordination types × 16 REEs
(training set), plus HDEV × every substituent × 4 L × 16 REEs (out-of-sample set, as in the paper).
Building is a loop of :func:`core.pipeline.runner.run_screen` calls on one store, so it is resumable and
parallel like any screening.  Shards hold one frame per complex that passed QC and has a binding
energy; QC-failed and failed complexes are excluded and counted in the provenance file.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import ase.io
from ase import Atoms

from core import __version__
from core.chemistry.complexes import COORDINATION_TYPES
from core.chemistry.constants import ENERGY_UNITS, REE_METALS
from core.chemistry.groups import canonical_group
from core.chemistry.ligands import SUBSTITUENTS, TRAINING_SCAFFOLDS, Ligand, library_ligand
from core.chemistry.qc import QC_VERSION
from core.pipeline.settings import ScreeningSettings
from core.pipeline.recheck import recheck_qc
from core.storage.records import OK, QC_FAILED
from core.storage.results import E_BIND, E_COMPLEX, frames
from core.storage.store import Store, package_versions

OUT_OF_SAMPLE_SCAFFOLD = "HDEV"
OUT_OF_SAMPLE_TYPES = ("4L",)
SHARD_SIZE = 1000


@dataclass(frozen=True)
class GridItem:
    """One ligand of the grid, the coordination types it is screened in, and its split."""

    ligand: Ligand
    ctypes: tuple[str, ...]
    split: str  # "train" (split 80:10:10 at training time), "hdev" (out of sample) or "group-holdout"
    group: str = ""  # canonical group SMILES, * = ring carbon (written to frames for the group hold-out)
    position: str = "C3"


def dataset_grid(substituents: Sequence[str] | None = None, scaffolds: Sequence[str] = TRAINING_SCAFFOLDS,
                 ctypes: Sequence[str] = tuple(COORDINATION_TYPES), include_hdev: bool = True) -> list[GridItem]:
    """The grid, substituent-major so that a partial build covers every scaffold and the HDEV set."""
    names = list(substituents) if substituents is not None else list(SUBSTITUENTS)
    grid = []
    for r in names:
        group = canonical_group("*" + SUBSTITUENTS[r])
        grid += [GridItem(library_ligand(s, r), tuple(ctypes), "train", group) for s in scaffolds]
        if include_hdev:
            grid.append(GridItem(library_ligand(OUT_OF_SAMPLE_SCAFFOLD, r), OUT_OF_SAMPLE_TYPES, "hdev", group))
    return grid


@dataclass
class BuildProgress:
    """Where a dataset build stands: ligands done of total, complexes computed, estimated time left."""

    done: int
    total: int
    ligand: str
    computed: int
    elapsed_s: float
    eta_s: float | None


def build_dataset(store: Store, client, settings: ScreeningSettings, grid: Sequence[GridItem],
                  metals: Sequence[str] = REE_METALS,
                  progress: Callable[[BuildProgress], None] | None = None,
                  concurrent: int | None = None) -> dict:
    """Screen every grid ligand that is not complete in ``store``.  Returns counts and wall time.

    ``concurrent`` ligands are screened at once (default: one per 4 workers, at least two).  One ligand alone
    leaves workers waiting at its dependency chains (each type's La complex before the swapped metals) and
    while the client prepares the next: on 2 workers the CPUs were 62 % busy with one ligand at a time and
    ~100 % with two (group-grid build, 2026-12-05).  The first ligand runs alone so that the shared references
    (water, bare ions) are computed once.
    """
    from core.pipeline.runner import run_screen

    if concurrent is None:
        concurrent = max(2, len(client.scheduler_info().get("workers", {})) // 4)
    start = time.perf_counter()
    totals = {"ligands": 0, "tasks": 0}
    errors: list[str] = []
    done = 0

    stop = threading.Event()

    def screen(item: GridItem) -> None:
        nonlocal done
        if stop.is_set():
            return
        own = store if concurrent == 1 else Store(store.path)  # one SQLite connection per thread
        summary = run_screen(item.ligand, own, client, settings, metals, item.ctypes, cancel=stop)
        with lock:
            totals["tasks"] += summary.computed
            errors.extend(summary.errors)
            totals["ligands"] += bool(summary.computed)
            done += 1
            elapsed = time.perf_counter() - start
            eta = elapsed / totals["ligands"] * (len(grid) - done) if totals["ligands"] else None
            if progress:
                progress(BuildProgress(done, len(grid), item.ligand.name, summary.computed, elapsed, eta))

    lock = threading.Lock()
    if grid:
        screen(grid[0])
    pool = ThreadPoolExecutor(max_workers=concurrent)
    try:
        list(pool.map(screen, grid[1:]))
    except BaseException:
        # Ctrl-C or SIGTERM reach this thread only: the screens running in the pool stop within a second,
        # keeping what finished, and queued ligands never start (else the build went on, ligand after ligand)
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return {"ligands": len(grid), "ligands_computed_now": totals["ligands"], "tasks_computed_now": totals["tasks"],
            "errors": errors, "wall_s": time.perf_counter() - start, "concurrent_ligands": concurrent}


def _write_shards(frames: list[Atoms], out_dir: Path, stem: str) -> list[Path]:
    paths = []
    for k in range(0, len(frames), SHARD_SIZE):
        path = out_dir / f"{stem}-{k // SHARD_SIZE:03d}.extxyz.gz"
        ase.io.write(str(path), frames[k:k + SHARD_SIZE], format="extxyz")
        paths.append(path)
    return paths


def _sha256(paths: Sequence[Path]) -> str:
    """Hash of the shards' uncompressed text (gzip headers carry a timestamp)."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        with gzip.open(path, "rb") as fh:
            digest.update(fh.read())
    return digest.hexdigest()


def write_dataset(store: Store, settings: ScreeningSettings, grid: Sequence[GridItem], out_dir: str | Path,
                  metals: Sequence[str] = REE_METALS, build_info: dict | None = None) -> dict:
    """Write the grid's complexes from ``store`` as shards plus ``provenance.json``; returns the provenance.

    Complexes that passed an older, laxer QC are re-checked first (:meth:`Store.recheck_qc`), so the
    shards hold only complexes that pass the current check.
    """
    for item in grid:
        recheck_qc(store, settings, item.ligand)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.extxyz.gz"):
        old.unlink()
    counts: dict[str, dict[str, int]] = {}
    shards: list[Path] = []
    rejected: list[dict] = []
    for split in dict.fromkeys(g.split for g in grid):
        items = [g for g in grid if g.split == split]
        split_frames: list[Atoms] = []
        c = {"requested": 0, "included": 0, "qc_failed": 0, "failed": 0, "missing": 0, "no_binding_energy": 0}
        for item in items:
            c["requested"] += len(metals) * len(item.ctypes)
            for atoms in frames(store, include_failed=True, ligands=[item.ligand.smiles], settings=settings,
                                metals=metals, ctypes=item.ctypes):
                status = atoms.info["status"]
                if status != OK:
                    c["qc_failed" if status == QC_FAILED else "failed"] += 1
                    rejected.append({"ligand": item.ligand.name, "metal": atoms.info["metal"],
                                     "type": atoms.info["type"], "status": status})
                    continue
                if "energy" not in atoms.info:
                    c["no_binding_energy"] += 1
                    continue
                atoms.info["split"] = split
                if item.group:
                    atoms.info.update(group=item.group, position=item.position)
                split_frames.append(atoms)
        c["included"] = len(split_frames)
        c["missing"] = c["requested"] - c["included"] - c["qc_failed"] - c["failed"] - c["no_binding_energy"]
        counts[split] = c
        shards += _write_shards(split_frames, out, f"reescreen-{settings.level_of_theory.slug}-{split}")
    provenance = {
        "dataset": f"reescreen {settings.level} binding energies of REE complexes",
        "compute_s": _compute_seconds(store, settings, {g.ligand.smiles for g in grid}),
        "level_of_theory": settings.level, "energy_units": ENERGY_UNITS,
        "frame_keys": {"energy": E_BIND, "absolute_energy": E_COMPLEX,
                       "exchange_energy": "vs [M(H2O)8]3+ (kcal/mol)", "metal": "", "scaffold": "",
                       "substituent": "", "group": "substituent group SMILES, * = ring carbon",
                       "position": "ring carbon of the group (C3, C4, ...)",
                       "type": "4L/3L2W/2L4W/1L6W", "charge": "total charge",
                       "qc": "passed", "split": "train, hdev or group-holdout"},
        "code_version": __version__, "qc_version": QC_VERSION, "settings": json.loads(settings.to_json()),
        "packages": package_versions(),
        "metals": list(metals), "counts": counts, "qc_rejections": rejected,
        "shards": [p.name for p in sorted(shards)], "sha256": _sha256(shards),
        "build": build_info or {},
    }
    (out / "provenance.json").write_text(json.dumps(provenance, indent=2))
    return provenance


def _compute_seconds(store: Store, settings: ScreeningSettings, ligands: set[str]) -> dict[str, float]:
    """Worker seconds spent on the grid's results, by kind (templates, complexes, references), summed
    over every build session from the per-result timings in the store."""
    totals: dict[str, float] = {}
    for row in store.settings_rows(settings):
        if row.get("ligand") and row.ligand not in ligands:
            continue
        totals[row.kind] = totals.get(row.kind, 0.0) + float(row.get("wall_s", 0.0))
    totals["total"] = sum(totals.values())
    return {k: round(v, 1) for k, v in totals.items()}
