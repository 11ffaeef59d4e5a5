"""Training-step time of the bundled network: Allegro's own contraction vs ``core.model.contraction``.

A training step here is what nequip-train does per batch on CPU: forward, backward, Adam step, on batches
of 4 complexes from the shipped dataset (the config's ``train_batch_size``), one torch thread.

    python benchmarks/bench_training.py [--batches 16] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
from nequip.data import AtomicDataDict  # noqa: E402
from nequip.model.saved_models.load_utils import load_saved_model  # noqa: E402

from core.model.contraction import contract_with_matmul  # noqa: E402
from core.model.evaluation import evaluation_splits  # noqa: E402
from core.model.inference import PACKAGE_FILE, bundled_model_dir, load_model  # noqa: E402


def step_times(net, batches, repeats: int) -> float:
    """Median seconds per training step (forward + backward + Adam) over ``repeats`` passes."""
    params = [p for p in net.parameters() if p.is_floating_point()]
    for p in params:
        p.requires_grad_(True)
    optimiser = torch.optim.Adam(params, lr=1e-6)
    times = []
    for _ in range(repeats + 1):  # the first pass warms up
        start = time.perf_counter()
        for batch in batches:
            optimiser.zero_grad()
            net(dict(batch))[AtomicDataDict.TOTAL_ENERGY_KEY].sum().backward()
            optimiser.step()
        times.append((time.perf_counter() - start) / len(batches))
    return statistics.median(times[1:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="dataset folder (default: the one the model was trained on)")
    parser.add_argument("--batches", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_model(bundled_model_dir(), force_cpu=True)
    frames = evaluation_splits(model, args.data or model.meta["split"]["data"])["train"][: args.batches * args.batch_size]
    data = [model._to_data(a) for a in frames]
    batches = [AtomicDataDict.batched_from_list(data[i:i + args.batch_size])
               for i in range(0, len(data), args.batch_size)]
    path = str(model.directory / PACKAGE_FILE)
    plain = step_times(load_saved_model(path).train(), batches, args.repeats)
    fast_net = load_saved_model(path).train()
    contract_with_matmul(fast_net)
    fast = step_times(fast_net, batches, args.repeats)
    atoms = statistics.mean(len(a) for a in frames)
    print(f"{len(batches)} batches of {args.batch_size} complexes (mean {atoms:.0f} atoms), 1 torch thread, "
          f"forward + backward + Adam, median of {args.repeats}:")
    print(f"  Allegro's own contraction:     {plain * 1e3:7.1f} ms/step")
    print(f"  core.model.contraction (batched mm): {fast * 1e3:7.1f} ms/step   speed-up {plain / fast:.2f}x")
    print(f"  projected epoch of 4,700 training complexes: {4700 / args.batch_size * plain / 60:.1f} min vs "
          f"{4700 / args.batch_size * fast / 60:.1f} min (steps only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
