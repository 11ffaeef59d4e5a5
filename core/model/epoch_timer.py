"""What training a model cost: wall seconds per epoch and the device, written while ``nequip-train`` runs.

A Lightning callback named in the training config (``trainer.callbacks``) appends one JSON line per epoch
(training and its validation pass) to ``epoch_times.jsonl`` in the run's output folder; a resumed run
appends to the same file, so the sum is what the model cost over every session.  :func:`training_cost`
reads it back for the model's ``model.json`` and card.
"""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from lightning.pytorch.callbacks import Callback

EPOCH_TIMES = "epoch_times.jsonl"


class EpochTimer(Callback):
    """Appends ``{"epoch", "wall_s", "device", "threads", "batches"}`` to ``path`` at the end of each epoch."""

    def __init__(self, path: str):
        self.path = Path(path)
        self._start: float | None = None

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        import torch

        if self._start is None or trainer.sanity_checking:
            return
        record = {"epoch": int(trainer.current_epoch), "wall_s": round(time.perf_counter() - self._start, 3),
                  "device": pl_module.device.type, "threads": torch.get_num_threads(),
                  "batches": int(trainer.num_training_batches)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as out:
            out.write(json.dumps(record) + "\n")


def epoch_times(path: str | Path) -> list[dict]:
    """The epochs recorded in ``path``, one per epoch (a resumed run that redid an epoch keeps the last)."""
    path = Path(path)
    if not path.exists():
        return []
    by_epoch = {}
    for line in path.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            by_epoch[record["epoch"]] = record
    return [by_epoch[k] for k in sorted(by_epoch)]


def training_cost(path: str | Path) -> dict:
    """``wall_s`` (all epochs, s), ``seconds_per_epoch`` (median), ``device`` and ``threads`` of a run's
    training, or {} when it was not timed (runs from before the timer)."""
    records = epoch_times(path)
    if not records:
        return {}
    return {"wall_s": round(sum(r["wall_s"] for r in records), 1),
            "seconds_per_epoch": round(statistics.median(r["wall_s"] for r in records), 2),
            "device": records[-1]["device"], "threads": records[-1]["threads"]}
