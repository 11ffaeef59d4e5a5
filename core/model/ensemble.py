"""Ensembles: several Allegro members trained on the same split from different network seeds.

Their mean is the prediction and their spread (sample standard deviation over members, kcal/mol) says how
much to trust it: members agree where the training data pinned the answer down and part where a ligand
is unlike anything they saw.  An ensemble folder holds ``ensemble.json`` (the members' folders, relative),
the first member's ``model.json`` and ``config.yaml`` (for the split and the card) and ``members/member-K/``,
each a complete packaged model.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from core.model.inference import ModelError, ModelFolder

ENSEMBLE_FILE = "ensemble.json"
#: The config key that seeds a member's network weights (the data split's seed is shared by every member).
MEMBER_SEED_KEY = "training_module.model.seed"


def member_seed_override(base_seed: int, member: int) -> str:
    """The dotlist override giving member ``member`` its own weight initialisation."""
    return f"{MEMBER_SEED_KEY}={base_seed + 1000 * member}"


def write_ensemble(member_dirs: Sequence[Path], target: Path) -> Path:
    """Record packaged members (already inside ``target/members/``) as one ensemble model in ``target``."""
    target = Path(target)
    members = [Path(m).resolve().relative_to(target.resolve()) for m in member_dirs]
    first = target / members[0]
    meta = json.loads((first / "model.json").read_text())
    meta["members"] = len(members)
    meta["member_training"] = [json.loads((target / m / "model.json").read_text()).get("training", {})
                               for m in members]
    (target / "model.json").write_text(json.dumps(meta, indent=2))
    shutil.copy(first / "config.yaml", target / "config.yaml")
    (target / ENSEMBLE_FILE).write_text(json.dumps({"members": [str(m) for m in members]}, indent=2))
    return target


def is_ensemble(directory: str | Path) -> bool:
    return (Path(directory) / ENSEMBLE_FILE).is_file()


@dataclass
class EnsembleModel(ModelFolder):
    """A loaded ensemble; used wherever a single :class:`core.model.inference.BindingModel` is."""

    directory: Path
    meta: dict
    members: list

    @property
    def device(self) -> str:
        return self.members[0].device

    def check_domain(self, atoms: Atoms) -> None:
        self.members[0].check_domain(atoms)

    def compile(self) -> None:
        """Every member evaluates with ``torch.compile`` from now on (:meth:`BindingModel.compile`)."""
        for member in self.members:
            member.compile()

    @property
    def compiled(self) -> bool:
        return all(member.compiled for member in self.members)

    def member_predictions(self, frames: Sequence[Atoms], batch_size: int | None = None) -> np.ndarray:
        """Every member's prediction (kcal/mol), shape (members, frames).  Each batch's neighbour lists are
        built once and evaluated by every member (members share type names and cutoff)."""
        first = self.members[0]
        batch_size = batch_size or first.default_batch_size()
        out = np.empty((len(self.members), len(frames)))
        for start in range(0, len(frames), batch_size):
            chunk = frames[start:start + batch_size]
            batch = first.batch(chunk)
            for k, member in enumerate(self.members):
                out[k, start:start + len(chunk)] = member.evaluate(batch)
        return out

    def predict_spread(self, frames: Sequence[Atoms], batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Mean and spread (sample standard deviation over members) of the members' predictions (kcal/mol)."""
        each = self.member_predictions(frames, batch_size)
        return each.mean(axis=0), each.std(axis=0, ddof=1) if len(self.members) > 1 else np.zeros(len(frames))

    def predict(self, frames: Sequence[Atoms], batch_size: int | None = None) -> np.ndarray:
        """The ensemble mean (kcal/mol)."""
        return self.predict_spread(frames, batch_size)[0]


def load_ensemble(directory: Path, force_cpu: bool = False) -> EnsembleModel:
    """The ensemble in ``directory`` (already resolved as trusted by the caller), every member loaded."""
    from core.model.inference import load_model

    spec = json.loads((directory / ENSEMBLE_FILE).read_text())
    members = [load_model(directory / m, explicit=True, force_cpu=force_cpu) for m in spec["members"]]
    inputs = {(tuple(m.meta["type_names"]), float(m.meta["r_max"])) for m in members}
    if len(inputs) > 1:  # they evaluate the same neighbour lists
        raise ModelError(f"The members of ensemble {directory.name} differ in elements or cutoff: {sorted(inputs)}")
    return EnsembleModel(directory, json.loads((directory / "model.json").read_text()), members)
