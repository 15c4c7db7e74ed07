"""The published networks' CPU inference fast paths, and on which device they run.

Two networks compute their inference with fewer passes over memory than the plain
operations (the same function, equal to float rounding; ``tests/test_fast_paths.py``):

* I3D (``backbones/i3d.py``): BatchNorm folded into the convolution's weights on every
  forward, "same" padding fused into the convolution, max-pools by shifted maxima
  (``backbones/pooling_fast.py``), the three 1x1x1 convolutions of an inception block as
  one, activations channels-last (oneDNN's own layout);
* TASED-Net (``backbones/tased.py``): the inception blocks' 3x3x3 max-pool by shifted
  maxima.

Each was measured faster on the CPU (docs/performance.md: "I3D RGB extraction against
video_features" and pld's "TASED inference"). None was measured on a GPU, where cuDNN's
kernels are another matter (folding BatchNorm on every forward is a few more kernel
launches per layer, shifted maxima 26 elementwise passes instead of one pooling kernel,
and channels-last 3D convolutions take other cuDNN algorithms), so the rule is: on the
CPU they are on; on CUDA they are off unless ``config.cuda.cpu_fast_paths: true`` turns
them on (for a measurement of them there: ``benchmarks/gpu_rehearsal.sh``'s ``checks``
phase runs I3D and TASED-Net both ways).

A module takes part by a ``fast`` attribute (class default ``True``); :func:`use_fast_paths`
sets it on every module of a network that has one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

#: ``config.cuda`` key that turns the CPU fast paths on for a CUDA device too.
CUDA_SETTING = "cpu_fast_paths"


def fast_paths_for(device: str | torch.device, cuda: Mapping[str, Any] | None = None) -> bool:
    """Whether the fast paths run on ``device``: always on the CPU; on CUDA only with
    ``cuda[CUDA_SETTING]`` true (``cuda``: ``config.cuda``)."""
    if torch.device(device).type != "cuda":
        return True
    return bool((cuda or {}).get(CUDA_SETTING, False))


def use_fast_paths(model: nn.Module, enabled: bool) -> nn.Module:
    """Turn the fast paths of every module of ``model`` that has them on or off."""
    for module in model.modules():
        if hasattr(module, "fast"):
            module.fast = bool(enabled)
    return model


def fast_paths_on(model: nn.Module) -> bool | None:
    """Whether ``model``'s fast paths are on (``None``: it has none)."""
    found = [bool(m.fast) for m in model.modules() if hasattr(m, "fast")]
    if not found:
        return None
    return all(found)
