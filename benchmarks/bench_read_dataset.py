"""Reading the shipped datasets' gzipped extxyz shards: ``read_frames`` against ASE reading the gzip file
directly (ASE indexes the frames, then seeks back to each one, which in a gzip stream decompresses again
from the start).  One shard of each shipped dataset, fresh parse each time (the per-process cache is
cleared), median of ``--repeats``; then the whole of both datasets once through ``read_frames``.

    python benchmarks/bench_read_dataset.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import ase.io
import numpy as np

from core.storage.extxyz import _read_file, frame_files, read_frames

ROOT = Path(__file__).resolve().parents[1]
DATASETS = (ROOT / "data" / "dataset", ROOT / "data" / "dataset-groups")


def _median_seconds(read, repeats: int) -> tuple[float, list]:
    times, frames = [], []
    for _ in range(repeats):
        _read_file.cache_clear()
        start = time.perf_counter()
        frames = read()
        times.append(time.perf_counter() - start)
    return statistics.median(times), frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"median of {args.repeats} fresh parses per shard (s)")
    print(f"{'shard':66s} {'frames':>6s} {'read_frames':>11s} {'ASE on .gz':>10s} {'ratio':>6s}")
    for dataset in DATASETS:
        shard = frame_files(dataset)[0]
        ours, frames = _median_seconds(lambda: read_frames(shard), args.repeats)
        theirs, reference = _median_seconds(lambda: ase.io.read(str(shard), index=":", format="extxyz"),
                                            args.repeats)
        assert all(np.array_equal(a.positions, b.positions) and a.info == b.info
                   and a.get_potential_energy() == b.get_potential_energy() for a, b in zip(frames, reference))
        print(f"{shard.relative_to(ROOT).as_posix():66s} {len(frames):6d} {ours:11.2f} {theirs:10.2f} "
              f"{theirs / ours:5.0f}x")
    _read_file.cache_clear()
    start = time.perf_counter()
    n = sum(len(read_frames(d)) for d in DATASETS)
    print(f"both shipped datasets through read_frames: {n} frames in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
