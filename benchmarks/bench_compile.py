"""Would ``torch.compile`` speed up pre-screen prediction on CPU?  Each member of a model folder evaluated on the
same batches of grafted complexes, eagerly and compiled (``dynamic=True``): compile time (first call) and
evaluation time of both, and the largest energy difference.  One process, one torch thread.  The compile time
depends on inductor's on-disk cache (the first member in a fresh cache is the slow one).

    python benchmarks/bench_compile.py --model PRESCREEN_MODEL_DIR [--groups 10]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
from nequip.data import AtomicDataDict  # noqa: E402

from core.chemistry.groups import library_groups  # noqa: E402
from core.chemistry.grafting import plan_graft  # noqa: E402
from core.chemistry.groups import attach_group  # noqa: E402
from core.chemistry.ligands import make_ligand  # noqa: E402
from core.model.inference import load_model  # noqa: E402
from core.pipeline.scaffold_templates import grafted_series  # noqa: E402
from core.pipeline.settings import FAST  # noqa: E402

METALS, TYPES = ["La", "Nd", "Dy", "Lu"], ["1L6W", "3L2W", "2L4W", "4L"]


def grafted(groups) -> list:
    frames = []
    for group in groups:
        ligand = make_ligand(attach_group("HOPO", group.smiles), scaffold="HOPO", substituent=group.name)
        plan = plan_graft(ligand.smiles)
        if plan is not None:
            frames += [a for a in grafted_series(plan, ligand, METALS, TYPES, FAST).values()
                       if not isinstance(a, Exception)]
    return frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--groups", type=int, default=10)
    args = parser.parse_args()
    model = load_model(args.model, explicit=True, force_cpu=True)
    members = getattr(model, "members", [model])
    frames = grafted(library_groups()[1:args.groups + 1])
    size = members[0].default_batch_size()
    batches = [members[0].batch(frames[i:i + size]) for i in range(0, len(frames), size)]

    def run(module) -> tuple[torch.Tensor, float]:
        start = time.perf_counter()
        with torch.inference_mode():
            out = torch.cat([module(dict(b))[AtomicDataDict.TOTAL_ENERGY_KEY].reshape(-1) for b in batches])
        return out, time.perf_counter() - start

    print(f"{len(frames)} grafted complexes in batches of {size}, {len(members)} member(s), torch {torch.__version__}")
    for k, member in enumerate(members):
        start = time.perf_counter()
        compiled = torch.compile(member.module, dynamic=True)
        run(compiled)
        first = time.perf_counter() - start
        eager, t_eager = run(member.module)
        fast, t_compiled = run(compiled)
        print(f"member {k}: compile + first pass {first:.1f} s; eager {t_eager:.3f} s, compiled {t_compiled:.3f} s "
              f"({t_eager / t_compiled:.2f}x); largest difference {float((eager - fast).abs().max()):.1e} kcal/mol")
    return 0


if __name__ == "__main__":
    sys.exit(main())
