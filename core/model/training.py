"""Training an Allegro model on reescreen (or the public DFT) data through nequip's own config system.

A config in ``configs/`` is a complete nequip config plus a ``reescreen:`` block saying which frame key
is the label (Strategy 2: ``binding``; Strategy 1: ``absolute``; Δ-ML: ``delta``), how to split and
which frames are out of sample.  :func:`prepare_run` turns a dataset into split extxyz files with the
label as ``energy``, fits per-type energy shifts, resolves the config into ``RUN/config.yaml`` (the
record of the run), and :func:`run_training` calls ``nequip-train`` on it, resuming from the newest
checkpoint (:func:`resume_checkpoint`) if a previous attempt was stopped.  Energies are kcal/mol (whatever unit the label has:
nequip does not convert energy-only labels).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from omegaconf import DictConfig, OmegaConf

from core.chemistry.constants import REE_METALS
from core.storage.extxyz import copy_frame, files_stamp, read_frames

STRATEGIES = ("binding", "absolute", "delta")
SPLITS = ("train", "val", "test", "hdev")


class TrainingError(ValueError):
    """A config or dataset that cannot be trained on, with the reason."""


@dataclass(frozen=True)
class LabelSpec:
    """Where a frame's training label comes from (the ``reescreen:`` block of a config)."""

    strategy: str
    label_key: str = "energy"
    absolute_key: str = "absolute_energy"
    low_key: str = "energy_low"
    high_key: str = "energy_high"

    def label(self, atoms: Atoms) -> float:
        """The value the network learns for ``atoms`` (kcal/mol)."""
        if self.strategy == "binding":
            return frame_value(atoms, self.label_key)
        if self.strategy == "absolute":
            return frame_value(atoms, self.absolute_key)
        return frame_value(atoms, self.high_key) - frame_value(atoms, self.low_key)


def frame_value(atoms: Atoms, key: str) -> float:
    """A per-frame scalar, from ``atoms.info`` or (for ``energy``, as ASE reads it) the calculator."""
    if key in atoms.info:
        return float(atoms.info[key])
    if key == "energy" and atoms.calc is not None:
        return float(atoms.get_potential_energy())
    raise TrainingError(f"A frame ({atoms.get_chemical_formula()}) has no {key!r}: check the label keys in the "
                        "config's `reescreen:` block against the dataset.")


#: Kind of the frames a ``held_out_scaffolds`` entry keeps out (a leave-one-scaffold-out evaluation run).
SCAFFOLD_HOLDOUT = "scaffold-holdout"


@dataclass(frozen=True)
class HoldOutRule:
    """Frames whose ``info[key]`` is one of ``values`` are out of sample, as kind ``kind`` (None: the value
    itself, lower-case: ``hdev``, ``group-holdout``)."""

    key: str
    values: tuple[str, ...]
    kind: str | None = None


def holdout_rules(reescreen: DictConfig | dict) -> list[HoldOutRule]:
    """The out-of-sample rules of a config's ``reescreen:`` block: ``out_of_sample: {key, values}`` (HDEV; for
    a pre-screen model also the held-out groups), then ``held_out_scaffolds: [...]`` (scaffolds left out whole
    of a leave-one-scaffold-out run)."""
    rules = []
    oos = reescreen.get("out_of_sample") or {}
    if oos.get("key"):
        rules.append(HoldOutRule(str(oos["key"]), tuple(str(v) for v in oos.get("values", []))))
    scaffolds = reescreen.get("held_out_scaffolds") or []
    if scaffolds:
        rules.append(HoldOutRule("scaffold", tuple(str(s) for s in scaffolds), SCAFFOLD_HOLDOUT))
    return rules


def held_out_kind(atoms: Atoms, rules: Sequence[HoldOutRule]) -> str | None:
    """Which kind of out-of-sample frame ``atoms`` is under ``rules`` (the first that matches), or None."""
    for rule in rules:
        value = str(atoms.info.get(rule.key))
        if value in rule.values:
            return rule.kind or value.lower()
    return None


def split_frames(frames: Sequence[Atoms], fractions: Sequence[float], seed: int,
                 rules: Sequence[HoldOutRule]) -> dict[str, list[Atoms]]:
    """Out-of-sample frames (any of ``rules``) apart, under ``hdev``; the rest split at random (fixed seed)
    into train/val/test."""
    out = [held_out_kind(a, rules) is not None for a in frames]
    hdev = [a for a, o in zip(frames, out) if o]
    pool = [a for a, o in zip(frames, out) if not o]
    if len(pool) < 3:
        raise TrainingError(f"Only {len(pool)} in-sample frames: at least 3 are needed for train/val/test.")
    order = np.random.default_rng(seed).permutation(len(pool))
    n_train = max(1, int(round(fractions[0] * len(pool))))
    n_val = max(1, int(round(fractions[1] * len(pool))))
    n_train = min(n_train, len(pool) - 2)
    parts = {"train": order[:n_train], "val": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}
    if len(parts["test"]) == 0:
        parts = {"train": order[:n_train - 1], "val": order[n_train - 1:n_train - 1 + n_val],
                 "test": order[n_train - 1 + n_val:]}
    out = {name: [pool[i] for i in idx] for name, idx in parts.items()}
    out["hdev"] = hdev
    return out


def type_names(frames: Sequence[Atoms]) -> list[str]:
    """The model's atom types: REEs first in series order, then ligand elements alphabetically."""
    present = {s for a in frames for s in a.get_chemical_symbols()}
    return [m for m in REE_METALS if m in present] + sorted(present - set(REE_METALS))


def fit_energy_shifts(frames: Sequence[Atoms], labels: Sequence[float], types: Sequence[str]) -> dict[str, float]:
    """Per-type energy shifts (kcal/mol per atom) by least squares of the labels on composition.

    A single global shift fits the per-metal offset of binding energies badly; these shifts make the
    network learn only what composition does not explain.  Types absent from the frames get 0.
    """
    counts = np.array([[a.get_chemical_symbols().count(t) for t in types] for a in frames], dtype=float)
    solution, *_ = np.linalg.lstsq(counts, np.asarray(labels, dtype=float), rcond=None)
    return {t: float(x) for t, x in zip(types, solution)}


def _write_split(frames: Sequence[Atoms], spec: LabelSpec, path: Path) -> list[float]:
    labels = []
    out = []
    for atoms in frames:
        a = Atoms(atoms.numbers, atoms.positions)
        value = spec.label(atoms)
        a.info = {"energy": value}
        out.append(a)
        labels.append(value)
    ase.io.write(str(path), out, format="extxyz")
    return labels


def load_config(path: str | Path) -> DictConfig:
    """A training config, checked for the ``reescreen:`` block and a known strategy."""
    cfg = OmegaConf.load(str(path))
    base = cfg.get("reescreen", {}).get("base")
    if base:  # a variant config states only what differs from its base
        merged = OmegaConf.merge(load_config(Path(path).parent / base), cfg)
        del merged.reescreen["base"]
        cfg = merged
    if "reescreen" not in cfg:
        raise TrainingError(f"{path} has no `reescreen:` block (strategy, label keys, split); see configs/.")
    if cfg.reescreen.strategy not in STRATEGIES:
        raise TrainingError(f"Unknown strategy {cfg.reescreen.strategy!r}; choose one of {', '.join(STRATEGIES)}.")
    return cfg


def label_spec(cfg: DictConfig) -> LabelSpec:
    r = cfg.reescreen
    return LabelSpec(r.strategy, r.get("label_key", "energy"), r.get("absolute_key", "absolute_energy"),
                     r.get("low_key", "energy_low"), r.get("high_key", "energy_high"))


#: The last grafted training set, keyed by its files: every member of an ensemble (and every resume of one)
#: trains on the same grafted frames, and grafting the group grid took ~7 min, so one command grafts once.
_GRAFTED: dict = {}


def training_frames(data: str | Path, geometry: str = "relaxed") -> tuple[list[Atoms], list[str]]:
    """The frames a config trains on, in a fixed order (the split permutes it): every frame of ``data`` (one
    dataset, or several comma-separated), as relaxed or, for ``grafted``, replaced by their grafted twins
    (:mod:`core.model.prescreen`).  Returns them and the frames that could not be grafted, with the reason."""
    sources = [source.strip() for source in str(data).split(",")]
    try:
        frames = [a for source in sources for a in read_frames(source)]
        stamp = tuple(files_stamp(source) for source in sources)
    except FileNotFoundError as exc:
        raise TrainingError(str(exc)) from None
    if geometry == "relaxed":
        return frames, []
    if geometry == "grafted":
        from core.model.prescreen import grafted_frames

        if stamp not in _GRAFTED:
            _GRAFTED.clear()
            _GRAFTED[stamp] = grafted_frames(frames)
        built = _GRAFTED[stamp]
        return [copy_frame(a) for a in built.frames], list(built.refused)
    raise TrainingError(f"Unknown geometry {geometry!r} in the `reescreen:` block; use relaxed or grafted.")


def prepare_run(config_path: str | Path, data: str | Path, run_dir: str | Path,
                overrides: Sequence[str] = ()) -> Path:
    """Split ``data``, write the label files and the resolved ``config.yaml`` into ``run_dir``.

    ``overrides`` are dotlist entries (``max_epochs=2``) applied on top of the config.  Returns the
    path of the resolved config.  Re-preparing an existing run keeps its split (same seed, same data).
    """
    cfg = load_config(config_path)
    if overrides:
        cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
    spec = label_spec(cfg)
    r = cfg.reescreen
    geometry = r.get("geometry", "relaxed")
    frames, refused = training_frames(data, geometry)
    parts = split_frames(frames, list(r.split), int(r.seed), holdout_rules(r))
    run = Path(run_dir).resolve()
    data_dir = run / "data"
    labels = _write_splits(parts, spec, data_dir)
    types = type_names(frames)
    cfg.model_type_names = types
    cfg.data_dir = str(data_dir)
    cfg.training_module.model.per_type_energy_shifts = fit_energy_shifts(parts["train"], labels["train"], types)
    (run / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    (run / "split.json").write_text(json.dumps({
        "data": str(data), "counts": {k: len(v) for k, v in parts.items()},
        "seed": int(r.seed), "fractions": list(r.split), "strategy": spec.strategy, "geometry": geometry,
        "not_grafted": refused}, indent=2))
    return run / "config.yaml"


def _write_splits(parts: dict[str, list[Atoms]], spec: LabelSpec, data_dir: Path) -> dict[str, list[float]]:
    """The label files of every split and, beside them, the full frames (metadata, both energies) for
    evaluation; returns the labels per split."""
    data_dir.mkdir(parents=True, exist_ok=True)
    labels = {}
    for name in SPLITS:
        labels[name] = _write_split(parts[name], spec, data_dir / f"{name}.xyz")
        ase.io.write(str(data_dir / f"{name}.frames.extxyz"), parts[name], format="extxyz")
    return labels


def restore_split_files(run_dir: str | Path, data: str | Path) -> bool:
    """Rewrite a run's split files from ``data`` when they are missing; True if it did.

    A run carried to a fresh clone (a training longer than a working session, its checkpoints committed)
    keeps only what cannot be remade: its resolved ``config.yaml``, ``split.json`` and ``train/``.  The split
    files are remade from the same data with the run's own seed, fractions and geometry, and must come out
    with the recorded counts, else the data changed and resuming would train on another split.
    """
    run = Path(run_dir).resolve()
    data_dir = run / "data"
    if all((data_dir / f"{name}.xyz").exists() for name in SPLITS):
        return False
    cfg = OmegaConf.load(str(run / "config.yaml"))
    recorded = json.loads((run / "split.json").read_text())
    r = cfg.reescreen
    frames, _ = training_frames(data, r.get("geometry", "relaxed"))
    parts = split_frames(frames, list(r.split), int(r.seed), holdout_rules(r))
    counts = {k: len(v) for k, v in parts.items()}
    if counts != recorded["counts"]:
        raise TrainingError(f"{data} now splits into {counts}, not the {recorded['counts']} this run was trained "
                            f"on: the data changed, so the run cannot resume on it (--fresh starts over).")
    _write_splits(parts, label_spec(cfg), data_dir)
    update_run_config(run, [f"data_dir={data_dir}"])
    return True


def update_run_config(run_dir: str | Path, overrides: Sequence[str]) -> Path:
    """Apply dotlist overrides to a run's resolved config (trainer settings such as ``max_epochs``)."""
    path = Path(run_dir) / "config.yaml"
    cfg = OmegaConf.merge(OmegaConf.load(str(path)), OmegaConf.from_dotlist(list(overrides)))
    path.write_text(OmegaConf.to_yaml(cfg))
    return path


def _nequip_bin(name: str) -> str:
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else (shutil.which(name) or name)


def training_env(threads: int | None = None) -> dict[str, str]:
    """Environment for nequip: a fixed thread count (torch's default collapses under any other load)."""
    env = dict(os.environ)
    n = str(threads or int(os.environ.get("REESCREEN_TRAIN_THREADS", "1")))
    env.update(OMP_NUM_THREADS=n, MKL_NUM_THREADS=n, HYDRA_FULL_ERROR="1")
    env.setdefault("TORCHINDUCTOR_CACHE_DIR", str(Path.cwd() / ".cache" / "inductor"))
    return env


#: Checkpoints a stopped run resumes from, in order: the latest epoch's (written at every epoch's end, so never
#: older than the other), then the best epoch's (runs whose config predates the every-epoch checkpoint).
RESUME_CHECKPOINTS = ("latest.ckpt", "last.ckpt")


def resume_checkpoint(train_dir: str | Path) -> Path | None:
    """The checkpoint a stopped run in ``train_dir`` resumes from (:data:`RESUME_CHECKPOINTS`), or None."""
    return next((Path(train_dir) / name for name in RESUME_CHECKPOINTS if (Path(train_dir) / name).exists()), None)


def run_training(run_dir: str | Path, threads: int | None = None, log=None) -> Path:
    """Train (or resume) the run in ``run_dir`` with ``nequip-train``; returns ``best.ckpt``."""
    run = Path(run_dir).resolve()
    out = run / "train"
    # nequip-train itself, with Allegro's contraction evaluated as batched matmuls (core.model.contraction)
    cmd = [sys.executable, "-m", "core.model.nequip_train", "-cp", str(run), "-cn", "config", f"hydra.run.dir={out}"]
    resume = resume_checkpoint(out)
    if resume is not None:
        cmd.append(f"++ckpt_path={resume}")
    result = subprocess.run(cmd, env=training_env(threads), cwd=run, stdout=log, stderr=subprocess.STDOUT
                            if log is not None else None, check=False)
    if result.returncode != 0:
        raise TrainingError(f"nequip-train failed with exit code {result.returncode}; see {out}.")
    best = out / "best.ckpt"
    if not best.exists():
        raise TrainingError(f"nequip-train ended without {best}.")
    return best


def training_history(run_dir: str | Path) -> dict:
    """Epochs trained, best validation MAE (kcal/mol) and its epoch, and the last learning rate, from the
    run's CSV logs (one ``version_*`` folder per resumed session); and what training cost
    (:func:`core.model.epoch_timer.training_cost`: wall s, s per epoch, device) when it was timed."""
    import pandas as pd

    from core.model.epoch_timer import EPOCH_TIMES, training_cost  # imports Lightning: only when asked

    logs = sorted((Path(run_dir) / "train" / "log").glob("version_*/metrics.csv"),
                  key=lambda p: int(p.parent.name.split("_")[-1]))
    if not logs:
        return {}
    df = pd.concat([pd.read_csv(p) for p in logs], ignore_index=True)
    val = df.dropna(subset=["val0_epoch/total_energy_mae"]).drop_duplicates("epoch", keep="last")
    lrs = df["lr-Adam"].dropna() if "lr-Adam" in df else pd.Series(dtype=float)
    if val.empty:
        return {}
    best = val.loc[val["val0_epoch/total_energy_mae"].idxmin()]
    trained = df.dropna(subset=["train_loss_epoch/weighted_sum"])["epoch"].nunique()
    return {"epochs": int(trained), "best_epoch": int(best["epoch"]) + 1,
            "best_val_mae": round(float(best["val0_epoch/total_energy_mae"]), 3),
            "last_learning_rate": float(lrs.iloc[-1]) if len(lrs) else None,
            **training_cost(Path(run_dir) / "train" / EPOCH_TIMES)}


def package_model(checkpoint: str | Path, model_dir: str | Path, run_dir: str | Path) -> Path:
    """``nequip-package`` the checkpoint into ``model_dir`` with its config and metadata (model.json)."""
    run = Path(run_dir).resolve()
    target = Path(model_dir).resolve()
    target.mkdir(parents=True, exist_ok=True)
    package = target / "model.nequip.zip"
    subprocess.run([_nequip_bin("nequip-package"), "build", str(Path(checkpoint).resolve()), str(package)],
                   env=training_env(), cwd=run, check=True, capture_output=True)
    cfg = OmegaConf.load(str(run / "config.yaml"))
    shutil.copy(run / "config.yaml", target / "config.yaml")
    split = json.loads((run / "split.json").read_text())
    meta = {"strategy": cfg.reescreen.strategy, "units": cfg.reescreen.get("units", "kcal/mol"),
            "type_names": list(cfg.model_type_names), "r_max": float(cfg.cutoff_radius),
            "label_key": cfg.reescreen.get("label_key", "energy"), "split": split,
            "cpu_batch_size": int(cfg.reescreen.get("cpu_batch_size", 1)), "training": training_history(run)}
    hashes = {}
    for source in str(split["data"]).split(","):
        data = Path(source.strip())
        provenance = (data if data.is_dir() else data.parent) / "provenance.json"
        if provenance.exists():
            prov = json.loads(provenance.read_text())
            meta.setdefault("level_of_theory", prov.get("level_of_theory"))
            hashes[str(data)] = prov.get("sha256")
    if hashes:  # one dataset: its hash; several (reference grid + group grid): each one's
        meta["dataset_sha256"] = next(iter(hashes.values())) if len(hashes) == 1 else hashes
    if cfg.reescreen.get("level_of_theory"):  # data from elsewhere (e.g. the public DFT set) says so here
        meta["level_of_theory"] = cfg.reescreen.level_of_theory
    (target / "model.json").write_text(json.dumps(meta, indent=2))
    return package
