"""The bundled Allegro model: trusted loading, device choice and batched binding-energy prediction.

A model folder holds ``model.nequip.zip`` (``nequip-package`` output), ``model.json`` (strategy, units,
atom types, label level of theory), ``config.yaml`` (the training record), and after
``reescreen evaluate`` also ``metrics.json``, ``parity.png`` and the model card ``MODEL_CARD.md``.

A ``.nequip.zip`` is a ``torch.package`` archive, i.e. pickled code: loading one runs code.  So models
are loaded only from the project's ``models/`` folder or from a path the user names explicitly on the
command line; the app never loads an uploaded file.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from ase import Atoms

from core.chemistry.constants import pair_name
from core.levels import DEFAULT_LEVEL
from core.model.contraction import contract_with_matmul

logger = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
#: The shipped model is the one trained on the screening level's labels.
BUNDLED_MODEL_NAME = f"reescreen-allegro-{DEFAULT_LEVEL.slug}"
PACKAGE_FILE = "model.nequip.zip"
#: A ligand's place relative to the model's training data (the ``model domain`` column of results and rankings):
#: its group on its scaffold seen in training; a training scaffold with a group never trained on; anything else.
TRAINING_GROUP = "training group"
NEW_GROUP = "new group"
NEW_SCAFFOLD = "new scaffold"
DOMAINS = (TRAINING_GROUP, NEW_GROUP, NEW_SCAFFOLD)
#: The evaluation splits (``metrics.json`` keys, first found) that measure a domain's error: the random test split
#: (interpolation: the ligand's other complexes were trained on), the group hold-out, HDEV alone.
DOMAIN_SPLITS = {TRAINING_GROUP: ("test",), NEW_GROUP: ("group-holdout",), NEW_SCAFFOLD: ("hdev-only", "hdev")}


class ModelError(ValueError):
    """A model that cannot be loaded or used here, with the reason."""


def models_dir() -> Path:
    """The trusted model folder: the project's ``models/``, or ``$REESCREEN_MODELS_DIR`` set by whoever
    runs the server (e.g. a volume in the Docker image)."""
    return Path(os.environ.get("REESCREEN_MODELS_DIR") or MODELS_DIR).resolve()


def bundled_model_dir() -> Path:
    """Where the shipped model lives (it may be absent: then the product runs without predictions)."""
    return models_dir() / BUNDLED_MODEL_NAME


def available_models() -> list[Path]:
    """Model folders in the trusted model folder that hold a packaged model or an ensemble of them, the
    bundled one first."""
    if not models_dir().is_dir():
        return []
    found = [p for p in models_dir().iterdir() if (p / PACKAGE_FILE).is_file() or (p / "ensemble.json").is_file()]
    return sorted(found, key=lambda p: (p.name != BUNDLED_MODEL_NAME, p.name))


def resolve_model_dir(path: str | Path, explicit: bool = False) -> Path:
    """The model folder for ``path``, refusing anything outside ``models/`` unless ``explicit``.

    ``explicit`` is for a path the user typed on the command line; every other caller (the app, the
    engine) passes False, so an uploaded or otherwise untrusted file is never unpickled.
    """
    p = Path(path).expanduser()
    if p.name == PACKAGE_FILE:
        p = p.parent
    p = p.resolve()
    if not explicit and not p.is_relative_to(models_dir()):
        raise ModelError(f"Refusing to load a model from {p}: models are loaded only from {models_dir()} or from "
                         "a path given explicitly on the command line (a model file is executable code).")
    if not (p / PACKAGE_FILE).is_file() and not (p / "ensemble.json").is_file():
        raise ModelError(f"No {PACKAGE_FILE} in {p}: train and package one with `reescreen train`.")
    if not (p / "model.json").is_file():
        raise ModelError(f"No model.json in {p}: the model's strategy, units and atom types are unknown.")
    return p


def choose_device(force_cpu: bool = False) -> str:
    """``cuda`` when a GPU is visible and not refused (argument or ``REESCREEN_DEVICE=cpu``), else ``cpu``."""
    import torch

    if force_cpu or os.environ.get("REESCREEN_DEVICE", "").lower() == "cpu":
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


class ModelFolder:
    """What a model folder says about itself (``directory`` and its ``model.json`` as ``meta``): shared by a
    single model and an ensemble of them."""

    directory: Path
    meta: dict

    @property
    def name(self) -> str:
        return self.directory.name

    @property
    def strategy(self) -> str:
        """``binding`` (predicts E_bind), ``absolute`` (predicts E_complex) or ``delta`` (a correction)."""
        return self.meta["strategy"]

    @property
    def level_of_theory(self) -> str:
        return self.meta.get("level_of_theory") or "unknown"

    @property
    def geometry(self) -> str:
        """The structures it was trained on: ``relaxed`` (optimised complexes) or ``grafted`` (a pre-screen
        model's unrelaxed starts), from its ``config.yaml``."""
        from omegaconf import OmegaConf

        config = self.directory / "config.yaml"
        return str(OmegaConf.load(str(config)).reescreen.get("geometry", "relaxed")) if config.exists() else "relaxed"

    def card(self) -> str:
        card = self.directory / "MODEL_CARD.md"
        return card.read_text() if card.exists() else ""

    def metrics(self) -> dict | None:
        return read_metrics(self.directory)

    def training_scaffolds(self) -> list[str] | None:
        """Scaffolds of the training split, as recorded by ``reescreen evaluate`` (None if not recorded)."""
        metrics = self.metrics() or {}
        return metrics.get("training_scaffolds")

    def training_groups(self) -> list[str]:
        """Canonical SMILES of the groups in the training split, as recorded by ``reescreen evaluate`` (empty
        when not recorded: then no group counts as trained on)."""
        return list((self.metrics() or {}).get("training_groups") or [])

    def group_domain(self, scaffold: str, group: str) -> str:
        """The :data:`DOMAINS` entry of ``group`` (canonical SMILES) on ``scaffold``; ``""`` when the model's
        training scaffolds are not recorded."""
        scaffolds = self.training_scaffolds()
        if scaffolds is None:
            return ""
        if scaffold not in scaffolds:
            return NEW_SCAFFOLD
        return TRAINING_GROUP if group in set(self.training_groups()) else NEW_GROUP

    def domain(self, ligand_smiles: str) -> str:
        """The :data:`DOMAINS` entry of a ligand: read as one group on a library scaffold
        (:func:`core.chemistry.groups.ligand_group`), else a new scaffold; ``""`` when unknown."""
        from core.chemistry.groups import ligand_group

        placed = ligand_group(ligand_smiles)
        if placed is None:
            return NEW_SCAFFOLD if self.training_scaffolds() is not None else ""
        return self.group_domain(placed.scaffold, placed.group)

    def expected_error(self, domain: str, coordination_type: str | None = None) -> float:
        """The E_bind MAE (kcal/mol) the model's evaluation measured for ``domain``, for ``coordination_type``
        where the evaluation broke it down by type (the errors of 1L6W and 4L differ several-fold); NaN when not
        measured."""
        metrics = self.metrics() or {}
        per_type = (metrics.get(domain_split(metrics, domain)) or {}).get("per_type") or {}
        if coordination_type in per_type and per_type[coordination_type].get("n"):
            return float(per_type[coordination_type]["mae"])
        return domain_mae(self.directory).get(domain, float("nan"))

    def selectivity_accuracy(self, domain: str, pair: tuple[str, str], coordination_type: str) -> dict:
        """What the model's evaluation measured for ranking ligands of ``domain`` by their preference between the
        two metals of ``pair`` in ``coordination_type`` (:func:`core.model.holdout.selectivity_metrics`):
        ``mae`` of ΔE_bind (kcal/mol), ``n_ligands`` and, where the cell held enough ligands, ``spearman``;
        {} when not measured."""
        metrics = self.metrics() or {}
        split = (metrics.get(domain_split(metrics, domain)) or {}).get("selectivity") or {}
        measured = (split.get("per_pair") or {}).get(pair_name(*pair)) or {}
        return dict((measured.get("per_type") or {}).get(coordination_type) or {})


@dataclass
class BindingModel(ModelFolder):
    """A loaded model: ``predict`` returns its label (kcal/mol) for each structure."""

    directory: Path
    meta: dict
    module: object = field(repr=False)
    device: str = "cpu"
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _compiled: object = field(default=None, repr=False)

    def check_domain(self, atoms: Atoms) -> None:
        """Raise :class:`ModelError` for elements the model has never seen."""
        unknown = sorted(set(atoms.get_chemical_symbols()) - set(self.meta["type_names"]))
        if unknown:
            raise ModelError(f"{atoms.get_chemical_formula()} contains {', '.join(unknown)}, which model "
                             f"{self.name} was not trained on (it knows {', '.join(self.meta['type_names'])}).")

    def _to_data(self, atoms: Atoms) -> dict:
        from nequip.data import compute_neighborlist_, from_ase
        from nequip.data.transforms import ChemicalSpeciesToAtomTypeMapper

        self.check_domain(atoms)
        data = from_ase(Atoms(atoms.numbers, atoms.positions))
        data = ChemicalSpeciesToAtomTypeMapper(model_type_names=self.meta["type_names"])(data)
        return compute_neighborlist_(data, r_max=self.meta["r_max"])

    def default_batch_size(self) -> int:
        """CUDA 64; on CPU the model's own ``cpu_batch_size`` (``model.json``, from its config's
        ``reescreen.cpu_batch_size``; 1 when not recorded).  The fastest CPU batch depends on the network's
        size (``benchmarks/bench_batch_size.py``): the bundled model is fastest one structure at a time, the
        smaller pre-screen members in batches of 8 (1.5x)."""
        return 64 if self.device == "cuda" else int(self.meta.get("cpu_batch_size", 1))

    def batch(self, frames: Sequence[Atoms]) -> dict:
        """``frames`` as one batched graph (neighbour lists at the model's cutoff) on the model's device.
        Models that share type names and cutoff (an ensemble's members) can evaluate the same batch."""
        import torch
        from nequip.data import AtomicDataDict

        return AtomicDataDict.to_(AtomicDataDict.batched_from_list([self._to_data(a) for a in frames]),
                                  torch.device(self.device))

    def evaluate(self, batch: dict) -> np.ndarray:
        """The model's label (kcal/mol) for each structure of a :meth:`batch`; the batch is left as it was."""
        import torch
        from nequip.data import AtomicDataDict

        with self._lock, torch.inference_mode():
            if self._compiled is not None:
                try:
                    energy = self._compiled(dict(batch))[AtomicDataDict.TOTAL_ENERGY_KEY]
                    return energy.detach().cpu().numpy().reshape(-1)
                except Exception as exc:  # noqa: BLE001 - any compiler failure: the eager network gives the same numbers
                    self._compiled = None
                    logger.warning("torch.compile of model %s failed (%s: %s); predicting with the eager network.",
                                   self.name, type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
            energy = self.module(dict(batch))[AtomicDataDict.TOTAL_ENERGY_KEY]
        return energy.detach().cpu().numpy().reshape(-1)

    def compile(self) -> None:
        """Evaluate with ``torch.compile`` (inductor, dynamic shapes) from now on in this process.  On the CPU
        the pre-screen members evaluate 1.5-1.9x faster after a few seconds of compiling at the first batch
        (``benchmarks/bench_compile.py``), so it pays only for large tables.  It needs a C++ compiler; if
        compiling fails, a warning says why and the eager network is used (same energies within 1e-4)."""
        import torch

        with self._lock:
            if self._compiled is None:
                self._compiled = torch.compile(self.module, dynamic=True)

    @property
    def compiled(self) -> bool:
        return self._compiled is not None

    def predict(self, frames: Sequence[Atoms], batch_size: int | None = None) -> np.ndarray:
        """The model's label for each frame (kcal/mol), evaluated in batches of ``batch_size``
        (:meth:`default_batch_size` by default)."""
        batch_size = batch_size or self.default_batch_size()
        out = np.empty(len(frames))
        for start in range(0, len(frames), batch_size):
            chunk = frames[start:start + batch_size]
            out[start:start + len(chunk)] = self.evaluate(self.batch(chunk))
        return out

def read_metrics(directory: str | Path) -> dict | None:
    """The ``metrics.json`` that ``reescreen evaluate`` wrote next to a model, or None.  Read once per version of
    the file (a ranking asks for each group's domain, and the file is half a megabyte): treat it as read-only."""
    path = Path(directory) / "metrics.json"
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return _read_metrics_file(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=16)
def _read_metrics_file(path: str, mtime_ns: int, size: int) -> dict:
    return json.loads(Path(path).read_text())


def domain_split(metrics: dict | None, domain: str) -> str | None:
    """The ``metrics.json`` split that measures ``domain``'s error (:data:`DOMAIN_SPLITS`), or None."""
    metrics = metrics or {}
    return next((s for s in DOMAIN_SPLITS.get(domain, ()) if isinstance(metrics.get(s), dict)), None)


def _per_domain(directory: str | Path, keys: tuple[str, ...]) -> dict[str, float]:
    """A number from the model's ``metrics.json`` per model domain, from the split that measures it."""
    metrics = read_metrics(directory) or {}
    found = {}
    for domain in DOMAINS:
        value = metrics.get(domain_split(metrics, domain))
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, (int, float)):
            found[domain] = float(value)
    return found


def domain_mae(directory: str | Path) -> dict[str, float]:
    """Measured E_bind MAE (kcal/mol) per model domain."""
    return _per_domain(directory, ("mae",))


def domain_neighbour_mae(directory: str | Path) -> dict[str, float]:
    """Measured MAE (kcal/mol) per model domain of E_bind differences between neighbouring lanthanides for
    one ligand, the quantity separation depends on (an error shared by all metals of a ligand cancels)."""
    return _per_domain(directory, ("metal_series", "neighbours", "mae"))


def new_scaffold_error_is_mostly_offset(metrics: dict | None) -> bool:
    """True when the model's out-of-sample (HDEV) error is mostly an offset shared by all metals of a ligand:
    the E_bind error left after removing each ligand's mean over metals is under a quarter of the raw one."""
    hdev = (metrics or {}).get("hdev") or {}
    pattern = (hdev.get("metal_series") or {}).get("within_ligand") or {}
    return bool(pattern.get("n") and hdev.get("mae") and pattern["mae"] <= 0.25 * hdev["mae"])


def model_domain_text(directory: str | Path) -> str:
    """What the ``model domain`` column means for the model in ``directory``, with its measured errors: the one
    text the Results page, the command line, rankings and the model card show."""
    metrics = read_metrics(directory)
    mae, neighbours = domain_mae(directory), domain_neighbour_mae(directory)
    check = f"check them with a {DEFAULT_LEVEL.short_name} screen"
    text = (f"`{TRAINING_GROUP}`: the ligand is one group on a library scaffold, both seen in training (the group "
            f"on any scaffold); `{NEW_GROUP}`: a training scaffold carrying a group never trained on; "
            f"`{NEW_SCAFFOLD}`: anything else, whose predictions are extrapolations.")
    if not mae:
        return text + f" This model's errors were not measured; {check}."
    sources = {TRAINING_GROUP: "random test split over complexes: interpolation, the ligand's other complexes "
                               "were trained on", NEW_GROUP: "groups held out whole", NEW_SCAFFOLD: "HDEV scaffold"}
    text += " Measured E_bind MAE against the labels: " + "; ".join(
        f"{domain} {mae[domain]:.1f} kcal/mol ({sources[domain]})" if domain in mae else
        f"{domain} not measured (no group hold-out in this model's evaluation: expect larger errors than the test "
        f"split's, {check})" for domain in DOMAINS if domain in mae or domain == NEW_GROUP)
    if neighbours:
        text += ("; differences between neighbouring lanthanides for one ligand: "
                 + "; ".join(f"{domain} {value:.1f} kcal/mol" for domain, value in neighbours.items()))
    split = domain_split(metrics, NEW_SCAFFOLD)
    if split and new_scaffold_error_is_mostly_offset({"hdev": metrics[split]}):
        hdev = metrics[split]
        pattern = hdev["metal_series"]["within_ligand"]
        return text + (f". On a new scaffold the error is mostly an offset per ligand (HDEV E_bind MAE {hdev['mae']:.1f}, "
                       f"{pattern['mae']:.1f} once each ligand's mean over metals is removed): its ranking of metals "
                       f"for a new ligand holds; its ranking of new ligands against each other does not, so {check}.")
    return text + f". For ligands on a new scaffold, {check}."


def load_model(path: str | Path | None = None, explicit: bool = False, force_cpu: bool = False) -> BindingModel:
    """Load a packaged model (default: the bundled one) onto the chosen device; an ensemble folder gives an
    :class:`core.model.ensemble.EnsembleModel` (mean prediction, and the members' spread)."""
    from core.model.ensemble import is_ensemble, load_ensemble

    directory = resolve_model_dir(path or bundled_model_dir(), explicit=explicit)
    if is_ensemble(directory):
        return load_ensemble(directory, force_cpu)
    return _load(str(directory), choose_device(force_cpu))


@lru_cache(maxsize=4)
def _load(directory: str, device: str) -> BindingModel:
    """Loaded once per process and device: loading unpacks the archive and builds the network."""
    import torch
    from nequip.model.saved_models.load_utils import load_saved_model

    torch.set_num_threads(int(os.environ.get("REESCREEN_MODEL_THREADS", "1")))
    meta = json.loads((Path(directory) / "model.json").read_text())
    module = load_saved_model(str(Path(directory) / PACKAGE_FILE))
    module = module.to(torch.device(device)).eval()
    contract_with_matmul(module)
    return BindingModel(Path(directory), meta, module, device)


def _predict_chunk(directory: str, force_cpu: bool, frames: list[Atoms]) -> np.ndarray:
    """Worker side of :func:`predict_on_cluster`: the model is loaded once per worker process."""
    return load_model(directory, explicit=True, force_cpu=force_cpu).predict(frames)


def predict_on_cluster(client, model: BindingModel, frames: Sequence[Atoms], chunk: int = 64) -> np.ndarray:
    """``model.predict`` spread over the Dask workers (one model per worker process), in input order.

    ``model`` was resolved by this process (trusted folder or explicit path), so workers load the same
    folder.  Worth it for libraries: a worker's first chunk pays the model load (~2 s).
    """
    pieces = [list(frames[i:i + chunk]) for i in range(0, len(frames), chunk)]
    futures = [client.submit(_predict_chunk, str(model.directory), model.device == "cpu", piece, pure=False)
               for piece in pieces]
    return np.concatenate(client.gather(futures)) if futures else np.empty(0)


def predicted_binding_energies(model: BindingModel, frames: Sequence[Atoms]) -> np.ndarray:
    """E_bind (kcal/mol) by the model for frames carrying ``absolute_energy`` and E_bind if needed.

    Strategy 2 predicts E_bind itself.  Strategy 1 predicts E_complex; eq. 1 then needs the references
    (ion and free ligands), which are E_complex − E_bind of the frame's own reference calculation.
    """
    raw = model.predict(frames)
    if model.strategy == "binding":
        return raw
    if model.strategy == "absolute":
        refs = np.array([float(a.info["absolute_energy"]) - _frame_bind(a) for a in frames])
        return raw - refs
    raise ModelError("A Δ-ML model predicts a correction to a lower level, not a binding energy by itself.")


def _frame_bind(atoms: Atoms) -> float:
    if "energy" in atoms.info:
        return float(atoms.info["energy"])
    return float(atoms.get_potential_energy())
