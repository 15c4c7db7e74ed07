"""Recurrence scores in O(S·d) and audio-visual pseudo-highlights.

The mean cosine similarity of clip i to all S clips of its pseudo-category is
``x_i/|x_i| · mean_k(x_k/|x_k|)``: one mean vector per category instead of an S x S
matrix. Pearson correlation is the same on vectors centred on their own mean.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-8


def _normalise(x: np.ndarray, similarity: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if similarity == "pearson":
        x = x - x.mean(axis=1, keepdims=True)
    elif similarity != "cosine":
        raise ValueError(f"unknown similarity {similarity!r} (cosine or pearson)")
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + EPS)


def recurrence_scores(
    features: np.ndarray, group: np.ndarray, similarity: str = "cosine"
) -> np.ndarray:
    """Mean similarity of each row to all rows of its group (itself included), ``[S]``."""
    unit = _normalise(features, similarity)
    groups, inverse = np.unique(group, return_inverse=True)
    sums = np.zeros((len(groups), unit.shape[1]))
    np.add.at(sums, inverse, unit)
    means = sums / np.bincount(inverse, minlength=len(groups))[:, None]
    return np.einsum("sd,sd->s", unit, means[inverse])


def recurrence_scores_pairwise(
    features: np.ndarray, group: np.ndarray, similarity: str = "cosine"
) -> np.ndarray:
    """Reference O(S²·d) computation (tests and benchmarks only)."""
    unit = _normalise(features, similarity)
    sims = unit @ unit.T
    same = group[:, None] == group[None, :]
    return (sims * same).sum(axis=1) / same.sum(axis=1)


def top_fraction_labels(scores: np.ndarray, fraction: float) -> np.ndarray:
    """1 for the top ``fraction`` of clips of one video (at least one clip), else 0."""
    n = len(scores)
    k = max(1, int(round(fraction * n)))
    order = np.argsort(-scores, kind="stable")
    labels = np.zeros(n, dtype=np.uint8)
    labels[order[:k]] = 1
    return labels


def combine_modalities(visual: np.ndarray, audio: np.ndarray | None) -> np.ndarray:
    """AV score: the mean of the visual and audio scores (visual alone without audio)."""
    if audio is None or np.isnan(audio).all():
        return visual.copy()
    return 0.5 * (visual + audio)
