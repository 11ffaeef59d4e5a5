"""Prediction cost of candidate pre-screen member sizes, against the bundled model's size, from one run.

A prediction's cost depends on the network's size and cutoff, not on its weights, so each candidate is
trained for one epoch on a few shipped frames (HOPO-methyl 1L6W, every metal) only to get a packaged model
of that shape; then each predicts the same grafted complexes (``--groups`` library groups of C, H, N, O on
HOPO × 16 REEs × 4 types, as ``reescreen rank`` builds them) in one process with one torch thread.
Prints complexes per second per member, the ratio to the bundled model's size, the number of edges per complex
at each cutoff, and what a 3-member ensemble of that size would take for 64,000 complexes on two cores
(grafting at the rate measured in the same run, templates already read; the projection assumes both
cores busy throughout, which ``benchmarks/bench_rank.py`` measures).  The configured pre-screen size
(``configs/allegro-prescreen.yaml``) was chosen from these numbers against the speed target, before any
training, never by a hold-out score.

    python benchmarks/bench_member_sizes.py [--groups 8] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "allegro-prescreen.yaml"
#: Candidate sizes, each stated whole as overrides of the configuration (which sets the pre-screen size).
BUNDLED_SIZE = ["cutoff_radius=6.0", "training_module.model.num_layers=2", "num_scalar_features=32"]
CANDIDATES = {
    "bundled model's (r_max 6, 2 layers, l_max 2, 32 scalar / 4 tensor)": BUNDLED_SIZE,
    "r_max 5": ["cutoff_radius=5.0", "training_module.model.num_layers=2", "num_scalar_features=32"],
    "r_max 4.5": ["cutoff_radius=4.5", "training_module.model.num_layers=2", "num_scalar_features=32"],
    "1 layer": ["cutoff_radius=6.0", "training_module.model.num_layers=1", "num_scalar_features=32"],
    "l_max 1": BUNDLED_SIZE + ["training_module.model.l_max=1"],
    "r_max 5, 1 layer, l_max 1": ["cutoff_radius=5.0", "training_module.model.num_layers=1",
                                  "num_scalar_features=32", "training_module.model.l_max=1"],
    "configured: r_max 4.5, 1 layer, 16 scalar": [],
}
MEMBERS, COMPLEXES, CORES = 3, 64_000, 2


def grafted_library_frames(n_groups: int) -> list:
    """``n_groups`` library groups of C, H, N, O grafted on HOPO at C3 × 16 REEs × 4 types, as ``reescreen rank``
    builds them (cells that cannot be grafted left out)."""
    from core.chemistry.complexes import COORDINATION_TYPES
    from core.chemistry.constants import REE_METALS
    from core.chemistry.grafting import plan_graft
    from core.chemistry.groups import attach_group, capped_group, library_groups
    from core.chemistry.ligands import make_ligand
    from core.pipeline.scaffold_templates import grafted_series
    from core.pipeline.settings import FAST

    chno = [g for g in library_groups() if {a.GetSymbol() for a in capped_group(g).GetAtoms()} <= set("CHNO")]
    frames = []
    for group in chno[1:n_groups + 1]:
        ligand = make_ligand(attach_group("HOPO", group.smiles, "C3"))
        frames += [a for a in grafted_series(plan_graft(ligand.smiles), ligand, REE_METALS,
                                             list(COORDINATION_TYPES), FAST).values() if not isinstance(a, Exception)]
    return frames


def train_shaped_model(out: Path, overrides: list[str]) -> Path:
    """A packaged model of the configured pre-screen size changed by ``overrides``, trained for one epoch on a
    few shipped frames (HOPO-methyl 1L6W, every metal): its weights mean nothing, its cost is the size's."""
    import ase.io

    from core.storage.extxyz import read_frames

    tiny = [a for a in read_frames(ROOT / "data" / "dataset") if a.info["split"] == "train"
            and a.info["scaffold"] == "HOPO" and a.info["substituent"] == "methyl" and a.info["type"] == "1L6W"]
    frames_file = out.parent / f"{out.name}-frames.extxyz"
    ase.io.write(str(frames_file), tiny, format="extxyz")
    cmd = [str(Path(sys.executable).parent / "reescreen"), "train", str(CONFIG), "--data", str(frames_file),
           "--out", str(out), "--set", "max_epochs=1", "--set", "reescreen.level_of_theory=GFN2-xTB/ALPB(water)"]
    for item in overrides:
        cmd += ["--set", item]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=out.parent)
    if done.returncode:
        raise SystemExit(f"training {overrides} failed:\n{done.stderr[-2000:]}")
    return out / "model"


def _edges(frames, r_max: float) -> float:
    from ase.neighborlist import neighbor_list

    return statistics.mean(len(neighbor_list("i", a, r_max)) for a in frames)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from core.chemistry.constants import REE_METALS
    from core.model.inference import load_model

    graft_rates = []
    for _ in range(args.repeats + 1):  # the first pass also reads the templates and their ligand copies
        start = time.perf_counter()
        frames = grafted_library_frames(args.groups)
        graft_rates.append(len(frames) / (time.perf_counter() - start))
    graft_rate = statistics.median(graft_rates[1:])
    print(f"{len(frames)} grafted complexes ({args.groups} groups on HOPO x {len(REE_METALS)} REEs x 4 types); "
          f"grafting {graft_rate:.0f} complexes/s; one process, torch threads 1, batch 1, median of {args.repeats}")
    print(f"{'member size':<52} {'edges':>7} {'pred/s':>8} {'ratio':>6} {'64k, 3 members, 2 cores':>24}")
    base = None
    with tempfile.TemporaryDirectory() as tmp:
        for k, (label, overrides) in enumerate(CANDIDATES.items()):
            model = load_model(train_shaped_model(Path(tmp) / f"c{k}", overrides), explicit=True, force_cpu=True)
            model.predict(frames[:8])  # first call: lazy set-up
            rates = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                model.predict(frames, batch_size=1)  # the batch is benchmarks/bench_batch_size.py's question
                rates.append(len(frames) / (time.perf_counter() - t0))
            rate = statistics.median(rates)
            base = base or rate
            projected = COMPLEXES * (1 / graft_rate + MEMBERS / rate) / CORES
            print(f"{label:<52} {_edges(frames, model.meta['r_max']):7.0f} {rate:8.1f} {rate / base:6.2f} "
                  f"{projected:22.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
