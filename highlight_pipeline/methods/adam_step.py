"""Adam's update of one float32 CPU parameter in one pass over its memory (numba).

``methods.optim.Adam`` on the CPU took about seven passes over each parameter's memory
(torch's ``lerp_``, ``mul_``, ``addcmul_``, the square root, a division, ``add_`` and
``addcdiv_``, each reading and writing whole tensors): 0.21 s a step for TASED-Net's 21
million parameters under the numeric pins, a tenth of a pld training and a fifth of
hpcl's. :func:`adam_step` does the same operations element by element in one loop, 0.07 s
for the same step (``benchmarks/train.py --optimiser``).

The arithmetic is torch's CPU kernels', operation for operation, each result rounded to
float32 as theirs are, so the parameters are bit for bit those of the tensor operations
under torch's ``default`` kernels (the pinned ones, ``numerics.py``; ``tests/test_optim.py``):

* ``exp_avg.lerp_(grad, w)``: ``w * (grad - exp_avg) + exp_avg`` for ``w < 0.5``, else
  ``(w - 1) * (grad - exp_avg) + grad`` (torch's ``lerp_vec``);
* ``exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=c)``: ``exp_avg_sq * beta2``, then
  ``that + (c * grad) * grad``;
* ``denom = sqrt(exp_avg_sq) / bias_correction2_sqrt + eps`` with the correctly rounded
  square root (``optim.exact_sqrt``);
* ``p.addcdiv_(exp_avg, denom, value=-step_size)``: ``p + (-step_size * exp_avg) / denom``.

The scalars come in as float32, as torch converts a Python scalar for a float32 tensor.
Without fast-math numba (LLVM) neither reorders nor fuses a multiplication and an addition
into one FMA, whatever the CPU; torch's AVX2 and AVX-512 kernels do fuse ``lerp``'s, so
under ``HLP_NUMERICS=native`` on such a CPU this loop gives the pinned bits where the tensor
operations would give the CPU's own: the same parameters on every CPU.

The loop is compiled on first use and kept in numba's on-disk cache next to this file
(keyed by the CPU target that ``numerics.py`` pins), so later processes load it (about
0.1 s) instead of compiling it again (about 0.5 s); ``HLP_NUMBA_CACHE=0`` turns the cache
off, as for umap's kernels.
"""

from __future__ import annotations

import os

import numpy as np
import torch


def _adam_loop(p, g, exp_avg, exp_avg_sq, w, small, beta2, c, bias2_sqrt, eps, neg_step):
    one = np.float32(1.0)
    for i in range(p.shape[0]):
        gi = g[i]
        a = exp_avg[i]
        if small:
            a = w * (gi - a) + a
        else:
            a = (w - one) * (gi - a) + gi
        exp_avg[i] = a
        b = exp_avg_sq[i] * beta2
        b = b + (c * gi) * gi
        exp_avg_sq[i] = b
        denom = np.sqrt(b) / bias2_sqrt + eps
        p[i] = p[i] + (neg_step * a) / denom


_compiled = None


def _kernel():
    global _compiled
    if _compiled is None:
        import numba

        cache = os.environ.get("HLP_NUMBA_CACHE", "1") != "0"
        try:
            _compiled = numba.njit(cache=cache, nogil=True)(_adam_loop)
        except RuntimeError:  # no writable cache directory: compile in this process
            _compiled = numba.njit(cache=False, nogil=True)(_adam_loop)
    return _compiled


# Below this many elements a parameter keeps the tensor operations: their seven passes
# then take microseconds, and a small model (avph's largest parameter has 66,560) would pay
# more for importing numba and loading the loop (about 0.3 s a process) than it saves.
MIN_ELEMENTS = 1 << 17


def fusable(p: torch.Tensor, *others: torch.Tensor) -> bool:
    """Whether :func:`adam_step` updates parameter ``p`` and its ``others`` (gradient and
    moments): all float32, contiguous and on the CPU, ``p`` of at least ``MIN_ELEMENTS``."""
    return p.numel() >= MIN_ELEMENTS and all(
        t.device.type == "cpu" and t.dtype == torch.float32 and t.is_contiguous()
        for t in (p, *others)
    )


def _flat(t: torch.Tensor) -> np.ndarray:
    return t.detach().view(-1).numpy()


def adam_step(
    p: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    *,
    beta1: float,
    beta2: float,
    eps: float,
    step_size: float,
    bias_correction2_sqrt: float,
) -> None:
    """One Adam update of ``p``, ``exp_avg`` and ``exp_avg_sq`` in place (module
    docstring); the tensors of one shape, float32, contiguous, on the CPU (any size:
    :func:`fusable` also asks for ``MIN_ELEMENTS``, which is speed, not correctness)."""
    f = np.float32
    w = f(1 - beta1)
    _kernel()(
        _flat(p),
        _flat(grad),
        _flat(exp_avg),
        _flat(exp_avg_sq),
        w,
        bool(abs(w) < 0.5),  # torch's is_lerp_weight_small, on the float32 weight
        f(beta2),
        f(1 - beta2),
        f(bias_correction2_sqrt),
        f(eps),
        f(-step_size),
    )
