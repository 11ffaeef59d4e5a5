"""What training one pre-screen member costs, on this machine's device (CPU, or CUDA when visible).

Trains members of the bundled model's size and of the configured pre-screen size (``benchmarks/bench_member_sizes.py``)
for ``--epochs`` epochs on a prepared pre-screen run (``python benchmarks/bench_gpu.py --prepare DIR`` writes
one: ``configs/allegro-prescreen.yaml`` on ``data/dataset``, grafted inputs) and prints the seconds per epoch
from the runs' own per-epoch clock (``core/model/epoch_timer.py``; median of the epochs after the first, which
also pays for set-up), then what a member would cost trained to the bundled model's epoch count on the
training frames it has now and on those it will have with the group grid (a linear projection in frames and
epochs: a projection, not a measurement).

    python benchmarks/bench_member_training.py --run runs/gpu-check [--epochs 2] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "models" / "reescreen-allegro-gfn2xtb"
BUNDLED_SIZE = ["cutoff_radius=6.0", "training_module.model.num_layers=2", "num_scalar_features=32"]
#: (label, batch size, size overrides of the configured member, which has the pre-screen size).
TRAINING_RUNS = [
    ("bundled model's size, batch 4", 4, BUNDLED_SIZE),
    ("bundled model's size, batch 32", 32, BUNDLED_SIZE),
    ("configured (r_max 4.5, 1 layer, 16 scalar); batch 32", 32, []),
    ("configured (r_max 4.5, 1 layer, 16 scalar); batch 4 (the config's)", 4, []),
]
CONFIGURED_BATCH_32 = 2
def training_speed(directory: Path, work: Path, epochs: int, which=(0, 3), threads: int | None = None):
    """Train the :data:`TRAINING_RUNS` in ``which`` for ``epochs`` epochs each; prints and returns
    ``{index: (seconds per epoch, training frames, training fraction of the split, device)}`` and, for the bundled model's size at batch 32 when it
    ran, its ``(best.ckpt, run folder)`` for packaging."""
    from core.model.epoch_timer import EPOCH_TIMES, epoch_times
    from core.model.training import run_training, update_run_config

    split = json.loads((directory / "prescreen-run" / "split.json").read_text())
    n_train = split["counts"]["train"]
    print(f"\ntraining speed: pre-screen members, {epochs} epochs each, {n_train} training and "
          f"{split['counts']['val']} validation complexes (grafted)")
    measured, packaged_from = {}, None
    for k in which:
        label, batch, overrides = TRAINING_RUNS[k]
        run = work / f"speed-{k}"
        shutil.rmtree(run, ignore_errors=True)
        shutil.copytree(directory / "prescreen-run", run)
        update_run_config(run, [f"max_epochs={epochs}", f"train_batch_size={batch}", f"data_dir={run / 'data'}",
                                *overrides])
        start = time.perf_counter()
        try:
            with open(run / "train.log", "w") as log:
                best = run_training(run, threads=threads, log=log)
        except Exception as exc:  # report it and go on with the other sizes
            print(f"   {label:<44} FAILED: {exc}\n" + (run / "train.log").read_text()[-1500:])
            continue
        records = epoch_times(run / "train" / EPOCH_TIMES)
        later = [r["wall_s"] for r in records[1:]] or [records[0]["wall_s"]]
        per_epoch = statistics.median(later)
        where = records[-1]["device"] + ("" if records[-1]["device"] == "cuda" else f", {records[-1]['threads']} thread(s)")
        print(f"   {label:<44} first epoch {records[0]['wall_s']:6.1f} s, then {per_epoch:7.2f} s/epoch "
              f"({records[-1]['batches']} batches, {where}); process {time.perf_counter() - start:.0f} s")
        measured[k] = (per_epoch, n_train, float(split["fractions"][0]), records[-1]["device"])
        if k == CONFIGURED_BATCH_32:
            packaged_from = (best, run)
    return measured, packaged_from


def project(measured: dict) -> None:
    """A member's cost at the bundled model's epoch count, now and with the group grid's frames."""
    from core.pipeline.group_grid import group_grid, load_grid_spec

    epochs = json.loads((BUNDLED / "model.json").read_text())["training"]["epochs"]
    grid = group_grid(load_grid_spec(ROOT / "configs" / "group-grid.yaml"))
    training_ligands = sum(item.split == "train" for item in grid)
    print(f"\nprojection (linear in frames and epochs; the bundled model trained {epochs} epochs; the group grid "
          f"adds {training_ligands} training ligands x 64 complexes, before QC):")
    for k, (per_epoch, n_train, train_fraction, device) in measured.items():
        with_grid = n_train + round(train_fraction * training_ligands * 64)  # the grid's share of the split
        print(f"   {TRAINING_RUNS[k][0]:<44} {per_epoch * epochs / 3600:6.1f} h now; "
              f"{per_epoch * with_grid / n_train * epochs / 3600:6.1f} h with the grid ({with_grid} frames), {device}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a folder written by bench_gpu.py --prepare")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads on a CPU (the trainer's default 1)")
    parser.add_argument("--sizes", default="0,3", help=f"which of the {len(TRAINING_RUNS)} runs (indices)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/reescreen-training-speed"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    measured, _ = training_speed(args.run.resolve(), args.work, args.epochs,
                                 [int(k) for k in args.sizes.split(",")], args.threads)
    project(measured)
    return 0


if __name__ == "__main__":
    sys.exit(main())
