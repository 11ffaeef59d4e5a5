"""``nequip-train`` with Allegro's contraction as batched matmuls (:mod:`core.model.contraction`).

Run by :func:`core.model.training.run_training` as ``python -m core.model.nequip_train -cp RUN -cn config ...``;
arguments are nequip-train's own.  The checkpoints are ordinary nequip/Allegro checkpoints.
"""
from __future__ import annotations

import sys

from core.model.contraction import use_matmul_contraction_in_allegro


def main() -> int | None:
    use_matmul_contraction_in_allegro()
    from nequip.scripts.train import main as nequip_train  # imported here: hydra reads the cwd at import

    return nequip_train()


if __name__ == "__main__":
    sys.exit(main())
