"""Padding variable-length videos into batches, and feature standardisation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Standardiser:
    """Each dimension minus its training mean over its training standard deviation;
    ``clip``: the result winsorised to ``[-clip, clip]`` (None: not clipped)."""

    mean: np.ndarray
    std: np.ndarray
    clip: float | None = None

    @classmethod
    def fit(cls, arrays: list[np.ndarray], clip: float | None = None) -> Standardiser:
        stacked = np.concatenate(arrays).astype(np.float64)
        std = stacked.std(axis=0)
        # Dimensions (nearly) constant in training are not blown up on new data: the
        # scale never drops below a tenth of the mean scale.
        floor = max(0.1 * float(std.mean()), 1e-6)
        return cls(
            stacked.mean(axis=0).astype(np.float32),
            np.maximum(std, floor).astype(np.float32),
            clip,
        )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.mean) / self.std
        return z if self.clip is None else np.clip(z, -self.clip, self.clip)


def pad_batch(arrays: list[np.ndarray], dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, N_max, dim]`` zero-padded tensor and a ``[B, N_max]`` mask, True on padding."""
    n_max = max(len(a) for a in arrays)
    out = np.zeros((len(arrays), n_max, dim), np.float32)
    pad = np.ones((len(arrays), n_max), bool)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
        pad[i, : len(a)] = False
    return torch.from_numpy(out), torch.from_numpy(pad)


def seeded_batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]
