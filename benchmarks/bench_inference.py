"""Model inference rate vs GFN2-xTB single points on the same structures.

Takes complexes from the shipped dataset's test split (as the model split it), predicts them with the
model at several batch sizes, and runs tblite GFN2-xTB/ALPB(water) single points on a subset of the same
structures.  One thread per process, as in the product.

    python benchmarks/bench_inference.py [--model models/reescreen-allegro-gfn2xtb] [--n 400] [--n-xtb 20]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from core.model.evaluation import evaluation_splits  # noqa: E402
from core.model.inference import bundled_model_dir, load_model  # noqa: E402
from core.pipeline.settings import FAST  # noqa: E402
from core.levels import DEFAULT_LEVEL  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(bundled_model_dir()))
    parser.add_argument("--data", default=None, help="dataset folder (default: the one the model was trained on)")
    parser.add_argument("--n", type=int, default=400, help="structures for the model")
    parser.add_argument("--n-xtb", type=int, default=20, help="structures for the xTB single points")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=200, help="structures per Dask task")
    args = parser.parse_args()
    model = load_model(args.model, explicit=True, force_cpu=True)
    data = args.data or model.meta["split"]["data"]
    parts = evaluation_splits(model, data)
    pool = parts["test"] + parts["val"] + parts["train"]
    frames = (pool * (args.n // max(1, len(pool)) + 1))[: args.n]
    atoms_mean = statistics.mean(len(a) for a in frames)
    print(f"Model {model.name} on CPU, torch threads 1; {len(frames)} complexes from {data} "
          f"(mean {atoms_mean:.0f} atoms)")
    model.predict(frames[:4])  # warm-up: first call builds kernels
    plain = _unmodified(model)
    rates = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        plain.predict(frames, batch_size=1)
        rates.append(len(frames) / (time.perf_counter() - start))
    plain_rate = statistics.median(rates)
    print(f"  unmodified Allegro contraction, batch 1: {plain_rate:7.1f} complexes/s (median of {args.repeats})")
    for batch in (1, 8, 32):
        rates = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            model.predict(frames, batch_size=batch)
            rates.append(len(frames) / (time.perf_counter() - start))
        print(f"  model, batch {batch:2d}: {statistics.median(rates):7.1f} complexes/s (median of {args.repeats})"
              + (f"; {statistics.median(rates) / plain_rate:.2f}x the unmodified contraction" if batch == 1 else ""))
    from core.model.inference import predict_on_cluster
    from core.pipeline.cluster import make_client

    with make_client(n_workers=os.cpu_count()) as client:
        predict_on_cluster(client, model, frames[: 4 * os.cpu_count()], chunk=4)  # load the model on every worker
        rates = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            predict_on_cluster(client, model, frames, chunk=args.chunk)
            rates.append(len(frames) / (time.perf_counter() - start))
        print(f"  model on {os.cpu_count()} Dask worker processes (warm), chunks of {args.chunk}: "
              f"{statistics.median(rates):7.1f} complexes/s (median of {args.repeats})")
    subset = frames[: args.n_xtb]
    times = []
    for atoms in subset:
        start = time.perf_counter()
        DEFAULT_LEVEL.single_point(atoms, int(atoms.info["charge"]), FAST)
        times.append(time.perf_counter() - start)
    print(f"  GFN2-xTB/ALPB(water) single point (tblite), same structures: {1 / statistics.median(times):7.2f} "
          f"complexes/s (median {statistics.median(times):.2f} s over {len(subset)})")
    return 0


def _unmodified(model):
    """The same network as nequip loads it, without :func:`core.model.contraction.contract_with_matmul`."""
    from dataclasses import replace

    from nequip.model.saved_models.load_utils import load_saved_model

    from core.model.inference import PACKAGE_FILE

    return replace(model, module=load_saved_model(str(model.directory / PACKAGE_FILE)).eval())


if __name__ == "__main__":
    sys.exit(main())
