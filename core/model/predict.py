"""Adding the model's E_bind prediction to stored results (batched, model loaded once per process)."""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from core.model.inference import BindingModel, ModelError, available_models, bundled_model_dir, load_model, \
    predicted_binding_energies
from core.storage.records import OK
from core.storage.results import ROW_ID, frames_for_rows, results_frame
from core.storage.store import Store


@lru_cache(maxsize=8)
def model_id(directory: str) -> str:
    """``name@sha256[:12]`` of the packaged model: a retrained model gets new predictions."""
    digest = hashlib.sha256((Path(directory) / "model.nequip.zip").read_bytes()).hexdigest()[:12]
    return f"{Path(directory).name}@{digest}"


def default_model(force_cpu: bool = False) -> BindingModel | None:
    """The bundled model if it is shipped and predicts E_bind, else None (the product runs without it)."""
    if bundled_model_dir() not in available_models():
        return None
    model = load_model(bundled_model_dir(), force_cpu=force_cpu)
    return model if model.strategy == "binding" else None


def add_model_predictions(store: Store, model: BindingModel, ligands: Iterable[str] | None = None) -> int:
    """Predict E_bind for every QC-passed complex (of ``ligands``) not yet predicted by this model.

    Complexes with elements the model does not know get no prediction and a note in ``model_note``;
    predicted ones get ``model_domain`` (training group, new group or new scaffold: which measured error applies).
    Returns the number of rows predicted.
    """
    ident = model_id(str(model.directory))
    table = results_frame(store, ligands=ligands)
    todo = table[(table["status"] == str(OK)) & (table["model"] != ident)]
    structures = frames_for_rows(store, todo[ROW_ID])
    usable, notes = [], []
    for atoms in structures:
        try:
            model.check_domain(atoms)
            usable.append(atoms)
        except ModelError as exc:
            notes.append((atoms.info["row_id"], str(exc)))
    updates: dict[int, dict] = {row_id: {"model_name": ident, "model_note": note, "model_domain": ""}
                                for row_id, note in notes}
    if usable:
        energies = predicted_binding_energies(model, usable)
        updates.update({a.info["row_id"]: {"model_e_bind_kcal": float(e), "model_name": ident,
                                           "model_domain": model.domain(a.info["ligand"])}
                        for a, e in zip(usable, energies)})
    store.annotate(updates)
    return len(usable)
