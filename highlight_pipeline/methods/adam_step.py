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
operations would give the CPU's own (a smaller model keeps the tensor operations, and the
CPU's bits there).

The loop is compiled on a process's first step: numba's import and its compiler's start-up
take about 0.65 s a process here (its on-disk cache saved nothing of that: loading the
compiled loop took as long as compiling it), so only an optimiser of ``MIN_ELEMENTS`` or
more in all takes it, where a training's steps win that back (pld's about 5 s a job on the
default, hpcl's about 2).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.autograd.graph import increment_version


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

        _compiled = numba.njit(nogil=True)(_adam_loop)
    return _compiled


# An optimiser whose parameters have fewer elements in all keeps the tensor operations: the
# loop saves about 6 ns an element a step under the pins, and its start-up (about 0.65 s a
# process) is won back within a training only on large models. pld's TASED-Net (21.3 M) and
# hpcl's network (10 M) take it; chd's selector (3.2 M on the default's features, where it
# saved 0.3 s a job) and avph's network (0.2 M) do not.
MIN_ELEMENTS = 1 << 22


def worth_it(params: list[torch.Tensor]) -> bool:
    """Whether an optimiser of these parameters takes the loop: ``MIN_ELEMENTS`` or more."""
    return sum(p.numel() for p in params) >= MIN_ELEMENTS


def fusable(*tensors: torch.Tensor) -> bool:
    """Whether :func:`adam_step` can update a parameter and its gradient and moments: all
    float32, contiguous and on the CPU."""
    return all(
        t.device.type == "cpu" and t.dtype == torch.float32 and t.is_contiguous() for t in tensors
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
    docstring); the tensors of one shape and :func:`fusable`."""
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
    # written through numpy, behind autograd's back: count the in-place change as torch's
    # own operations do, so a graph that saved the old values refuses to backpropagate
    for t in (p, exp_avg, exp_avg_sq):
        increment_version(t)
