"""Allegro's tensor-product contraction as batched matrix products: same maths, CPU-friendly.

Allegro (nequip-allegro 0.8) evaluates each path-channel-coupled tensor product as
``sum_ij outer[z,u,i,j,1] * ww3j[u,i,j,k]``: a temporary of edges × channels × 9 × 9 × 9 floats for
l_max 2, which makes CPU inference and training memory-bound.  The same sum is one batched matrix
product ``bmm(outer[u,z,ij], ww3j[u,ij,k])``.  Measured on the bundled model (2-core CPU, one thread):
inference 2.3× faster (``benchmarks/bench_inference.py``), a training step (forward + backward) ~3.7×.

Checkpoints and packaged models are unchanged: only the evaluation order differs, and the test suite
checks energies and gradients against the unmodified network.
"""
from __future__ import annotations

import types


def contract_conv_bmm(self, x1, x2, idxs):
    """Drop-in for ``Contracter._contract_conv`` when ``path_channel_coupling`` is on (z edges, u channels)."""
    import torch

    x2 = torch.index_select(x2, 0, idxs)
    ww3j = torch.einsum(self._weight_w3j_einstr, self.weights, self.w3j)  # cheap: u × p × 729 at most
    ww3j = ww3j.reshape(self.mul, -1, ww3j.size(-1))
    if self.w3j_is_ij_diagonal:
        outer = x1 * x2
    else:
        outer = (x1.unsqueeze(-1) * x2.unsqueeze(-2)).reshape(x1.size(0), self.mul, -1)
    return torch.bmm(outer.transpose(0, 1), ww3j).transpose(0, 1)


def contract_with_matmul(module) -> int:
    """Switch every path-channel-coupled Allegro contraction inside ``module`` (e.g. a loaded packaged
    model, whose classes live in its own archive) to :func:`contract_conv_bmm`; returns how many."""
    replaced = 0
    for mod in module.modules():
        if type(mod).__name__ == "Contracter" and getattr(mod, "path_channel_coupling", False):
            mod._contract_conv = types.MethodType(contract_conv_bmm, mod)
            replaced += 1
    return replaced


def use_matmul_contraction_in_allegro() -> None:
    """Make the installed Allegro package build models with :func:`contract_conv_bmm` (for training).

    Models without path-channel coupling keep Allegro's own code path.
    """
    from allegro.nn._strided._contract import Contracter

    original = Contracter._contract_conv
    if getattr(original, "__name__", "") == "_dispatch_contract_conv":
        return

    def _dispatch_contract_conv(self, x1, x2, idxs):
        if self.path_channel_coupling:
            return contract_conv_bmm(self, x1, x2, idxs)
        return original(self, x1, x2, idxs)

    Contracter._contract_conv = _dispatch_contract_conv
