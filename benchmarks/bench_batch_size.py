"""CPU batch size of model prediction: the bundled model and the configured pre-screen member size.

Each model predicts the same grafted complexes (``--groups`` library groups on HOPO × 16 REEs × 4 types, as
``reescreen rank`` builds them) in batches of 1 … 64, in one process with one torch thread.  Building a batch
(neighbour lists) and evaluating it are timed apart, because an ensemble builds each batch once and
evaluates it once per member; the last column is what a 3-member ensemble does per second.  The pre-screen
size's weights come from one epoch on a few frames (``bench_member_sizes.train_shaped_model``): a
prediction's cost depends on the network's shape, not its weights.  The CPU default of
:meth:`core.model.inference.BindingModel.default_batch_size` is chosen from this table.

    python benchmarks/bench_batch_size.py [--groups 4] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_member_sizes import MEMBERS, grafted_library_frames, train_shaped_model  # noqa: E402

BATCHES = (1, 2, 4, 8, 16, 32, 64)


def rates_by_batch(model, frames, repeats: int) -> list[tuple[int, float, float, float]]:
    """(batch, batches built per complex/s, complexes evaluated/s, 3-member ensemble complexes/s) per batch
    size; medians of ``repeats``."""
    model.predict(frames[:8])  # first call: lazy set-up
    rows = []
    for size in BATCHES:
        built, evaluated = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            batches = [model.batch(frames[i:i + size]) for i in range(0, len(frames), size)]
            t1 = time.perf_counter()
            for batch in batches:
                model.evaluate(batch)
            built.append(t1 - t0)
            evaluated.append(time.perf_counter() - t1)
        b, e = statistics.median(built), statistics.median(evaluated)
        rows.append((size, len(frames) / b, len(frames) / e, len(frames) / (b + MEMBERS * e)))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default=None, help="bundled model folder (default: the shipped one)")
    args = parser.parse_args()
    from core.model.inference import bundled_model_dir, load_model

    frames = grafted_library_frames(args.groups)
    print(f"{len(frames)} grafted complexes ({args.groups} groups on HOPO x 16 REEs x 4 types); cpu, one process, "
          f"torch threads 1, median of {args.repeats}")
    with tempfile.TemporaryDirectory() as tmp:
        models = {"bundled model (r_max 6, 2 layers, 32 scalar)":
                  load_model(args.model or bundled_model_dir(), explicit=True, force_cpu=True),
                  "pre-screen size (r_max 4.5, 1 layer, 16 scalar)":
                  load_model(train_shaped_model(Path(tmp) / "prescreen", []), explicit=True, force_cpu=True)}
        for label, model in models.items():
            rows = rates_by_batch(model, frames, args.repeats)
            print(f"{label}:")
            print(f"  {'batch':>5} {'build/s':>9} {'evaluate/s':>11} {f'{MEMBERS}-member ensemble/s':>22} {'ratio':>6}")
            for size, built, evaluated, ensemble in rows:
                print(f"  {size:5d} {built:9.0f} {evaluated:11.0f} {ensemble:22.0f} {ensemble / rows[0][3]:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
