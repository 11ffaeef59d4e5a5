"""The model tier on a CUDA GPU: does it give the CPU's numbers, and what does it cost there.

Run in two steps, because grafting needs RDKit and the GPU machine only needs torch and nequip:

1. ``--prepare DIR`` (on any machine with the project installed): writes into DIR the grafted complexes of
   ``--groups`` library groups on HOPO × 16 REEs × 4 types, exactly as ``reescreen rank`` builds them, and a
   prepared pre-screen training run (``configs/allegro-prescreen.yaml`` on ``data/dataset``, grafted inputs).
2. ``--run DIR`` (on the GPU machine) prints, from one run:

   - **the bundled model, CUDA against CPU**, on shipped complexes (all of HDEV and 700 others): the largest
     difference between the two devices' predictions, each device's HDEV MAE against the GFN2-xTB label
     (kcal/mol; the card's HDEV row), and complexes per second on the GPU at batch sizes 64 (the default)
     and 256;
   - **training speed** of pre-screen members on the GPU, seconds per epoch (median of the epochs after the
     first, from the run's own per-epoch clock, ``core/model/epoch_timer.py``) for the configured pre-screen size at the
     config's batch size (4) and at 32, and for the bundled model's (larger) size at 32;
   - **pre-screen prediction speed** of a 3-member ensemble of the configured size (one of those short runs
     packaged three times: the cost depends on the network's size, not its weights) on the grafted complexes
     repeated to ``--complexes``: complexes per second with the neighbour lists built on the host, the time
     split between building batches and evaluating them, peak GPU memory, and the 64,000-complex table's
     projected time with grafting at the 2-core machine's measured rate.

    python benchmarks/bench_gpu.py --prepare runs/gpu-check
    python benchmarks/bench_gpu.py --run runs/gpu-check [--complexes 10000] [--epochs 3]
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

from bench_member_training import CONFIGURED_BATCH_32, training_speed  # noqa: E402  (benchmarks/ is on the path)

ROOT = Path(__file__).resolve().parents[1]
#: On the GPU: the configured size at its batch size and at 32, and the bundled model's size at 32.
GPU_TRAINING_RUNS = (3, CONFIGURED_BATCH_32, 1)
PRESCREEN_CONFIG = ROOT / "configs" / "allegro-prescreen.yaml"
BUNDLED = ROOT / "models" / "reescreen-allegro-gfn2xtb"
MEMBERS = 3
TABLE = 64_000
#: Grafting on the 2-core machine, one process (benchmarks/bench_rank.last.txt, idle), complexes/s.
GRAFT_RATE_2CORE = 354.7


def prepare(directory: Path, groups: int, data: Path) -> None:
    import ase.io

    from core.chemistry.complexes import COORDINATION_TYPES
    from core.chemistry.constants import REE_METALS
    from core.chemistry.grafting import plan_graft
    from core.chemistry.groups import attach_group, capped_group, library_groups
    from core.chemistry.ligands import make_ligand
    from core.model.training import prepare_run
    from core.pipeline.scaffold_templates import grafted_series
    from core.pipeline.settings import FAST

    directory.mkdir(parents=True, exist_ok=True)
    chno = [g for g in library_groups() if {a.GetSymbol() for a in capped_group(g).GetAtoms()} <= set("CHNO")]
    frames = []
    for group in chno[1:groups + 1]:  # hydrogen left out: the scaffold's own reference ligand
        ligand = make_ligand(attach_group("HOPO", group.smiles, "C3"))
        frames += [a for a in grafted_series(plan_graft(ligand.smiles), ligand, REE_METALS,
                                             list(COORDINATION_TYPES), FAST).values() if not isinstance(a, Exception)]
    ase.io.write(str(directory / "grafted.extxyz"), frames, format="extxyz")
    run = directory / "prescreen-run"
    prepare_run(PRESCREEN_CONFIG, data, run)
    for extra in (run / "data").glob("*.frames.extxyz"):  # evaluation copies: not needed to time training
        extra.unlink()
    split = json.loads((run / "split.json").read_text())
    print(f"prepared {directory}: {len(frames)} grafted complexes; training run with {split['counts']}")


def _rate(fn, n: int, repeats: int = 3) -> float:
    fn()  # warm-up: CUDA context, kernels, allocator
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return n / statistics.median(times)


def bundled_on_both_devices(in_sample: int = 700) -> None:
    import numpy as np

    from core.model.inference import load_model
    from core.storage.extxyz import read_frames

    shipped = read_frames(ROOT / "data" / "dataset")
    hdev = [a for a in shipped if a.info.get("split") == "hdev"]
    frames = hdev + [a for a in shipped if a.info.get("split") != "hdev"][:in_sample]
    cpu, gpu = load_model(BUNDLED, explicit=True, force_cpu=True), load_model(BUNDLED, explicit=True)
    print(f"\n1. bundled model {BUNDLED.name} on {gpu.device} against cpu: {len(frames)} shipped complexes "
          f"(all {len(hdev)} HDEV, the first {in_sample} others)")
    on_cpu, on_gpu = cpu.predict(frames), gpu.predict(frames)
    labels = np.array([a.get_potential_energy() for a in hdev])
    print(f"   largest |{gpu.device} - cpu| {np.abs(on_gpu - on_cpu).max():.2e} kcal/mol; HDEV MAE against GFN2-xTB: "
          f"cpu {np.abs(on_cpu[:len(hdev)] - labels).mean():.4f}, {gpu.device} "
          f"{np.abs(on_gpu[:len(hdev)] - labels).mean():.4f} (the card's HDEV row)")
    for size in (64, 256):
        rate = _rate(lambda: gpu.predict(frames, batch_size=size), len(frames))
        print(f"   {gpu.device}, batch {size}: {rate:.0f} complexes/s")


def prescreen_prediction(directory: Path, work: Path, trained, complexes: int) -> None:
    import numpy as np
    import torch

    from core.model.ensemble import write_ensemble
    from core.model.inference import load_model
    from core.model.training import package_model
    from core.storage.extxyz import read_frames

    if trained is None:
        print("\n3. pre-screen prediction: skipped (its training run failed)")
        return
    best, run = trained
    ensemble = work / "ensemble"
    member = ensemble / "members" / "member-0"
    package_model(best, member, run)
    members = [member]
    for k in range(1, MEMBERS):
        shutil.copytree(member, ensemble / "members" / f"member-{k}")
        members.append(ensemble / "members" / f"member-{k}")
    write_ensemble(members, ensemble)
    model = load_model(ensemble, explicit=True)
    grafted = read_frames(directory / "grafted.extxyz")
    frames = (grafted * (complexes // len(grafted) + 1))[:complexes]
    print(f"\n3. pre-screen prediction on {model.device}: {MEMBERS}-member ensemble of the configured size, "
          f"{len(frames)} grafted complexes ({len(grafted)} distinct)")
    torch.cuda.reset_peak_memory_stats() if torch.cuda.is_available() else None
    for size in (64, 256):
        rate = _rate(lambda: model.predict_spread(frames, batch_size=size), len(frames), repeats=2)
        print(f"   batch {size}: {rate:.0f} complexes/s ({MEMBERS} members)")
    first = model.members[0]
    chunk = frames[:256]
    build = _rate(lambda: first.batch(chunk), len(chunk), repeats=5)
    batch = first.batch(chunk)
    evaluate = _rate(lambda: [m.evaluate(batch) for m in model.members], len(chunk), repeats=5)
    print(f"   at batch 256: building batches (neighbour lists on the host) {build:.0f} complexes/s; "
          f"evaluating {MEMBERS} members {evaluate:.0f} complexes/s")
    if torch.cuda.is_available():
        print(f"   peak GPU memory {torch.cuda.max_memory_allocated() / 1024 ** 3:.2f} GB")
    rate = _rate(lambda: model.predict_spread(frames, batch_size=256), len(frames), repeats=1)
    projected = TABLE / GRAFT_RATE_2CORE + TABLE / rate
    print(f"   64,000 complexes: grafting at the 2-core machine's {GRAFT_RATE_2CORE:.0f}/s (one process) plus "
          f"this prediction = {projected:.0f} s")
    spread = model.predict_spread(frames[:len(grafted)])[1]
    print(f"   (spread of identical members: {np.abs(spread).max():.1e} kcal/mol, as it must be)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--prepare", type=Path, help="write the inputs into this folder (needs RDKit)")
    what.add_argument("--run", type=Path, help="run the checks on a folder written by --prepare")
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--complexes", type=int, default=10_000)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "dataset", help="--prepare: training data")
    parser.add_argument("--epochs", type=int, default=3, help="--run: epochs per training speed run")
    parser.add_argument("--work", type=Path, default=Path("/tmp/reescreen-gpu-check"))
    args = parser.parse_args()
    if args.prepare:
        prepare(args.prepare.resolve(), args.groups, args.data)
        return 0
    import torch

    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device (CPU only)"
    print(f"torch {torch.__version__}; {name}")
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    bundled_on_both_devices()
    _, trained = training_speed(args.run.resolve(), args.work, args.epochs, GPU_TRAINING_RUNS)
    prescreen_prediction(args.run.resolve(), args.work, trained, args.complexes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
