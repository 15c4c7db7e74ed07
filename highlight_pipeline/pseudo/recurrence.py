"""Recurrence scores in O(S·d) and audio-visual pseudo-highlights.

The mean cosine similarity of clip i to all S clips of its pseudo-category is
``x_i/|x_i| · mean_k(x_k/|x_k|)``: one mean vector per category instead of an S x S
matrix. Pearson correlation is the same on vectors centred on their own mean.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-8


def _normalise(x: np.ndarray, similarity: str) -> np.ndarray:
    """Unit rows (after centring each row for Pearson), float32, as a new array."""
    unit = np.array(x, dtype=np.float32, copy=True)
    if similarity == "pearson":
        unit -= unit.mean(axis=1, keepdims=True)
    elif similarity != "cosine":
        raise ValueError(f"unknown similarity {similarity!r} (cosine or pearson)")
    unit /= np.linalg.norm(unit, axis=1, keepdims=True) + EPS
    return unit


def recurrence_scores(
    features: np.ndarray, group: np.ndarray, similarity: str = "cosine"
) -> np.ndarray:
    """Mean similarity of each row to all rows of its group (itself included), ``[S]``."""
    return recurrence_with_means(features, group, similarity)[0]


def recurrence_with_means(
    features: np.ndarray, group: np.ndarray, similarity: str = "cosine"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Recurrence scores ``[S]``, the group ids present (sorted) and each group's mean unit
    row ``[K, d]`` (centred first for Pearson), in float64.

    The means are what the scores are computed from: a new row's mean similarity to every
    row of a group is its own unit row times that group's mean (:func:`score_against`).

    Three passes over the features and no copy of them: row norms; the per-group sums of
    unit rows as one matrix product (one-hot weights ``[K, S]`` times ``[S, d]``); the
    projections of every row on every group mean as another (``[S, d]`` times ``[d, K]``).
    For Pearson, centring is folded into those products: with ``mu`` a row's mean,
    ``(x - mu)·m = x·m - mu·sum(m)`` and ``|x - mu|² = |x|² - d·mu²``.
    """
    if similarity not in ("cosine", "pearson"):
        raise ValueError(f"unknown similarity {similarity!r} (cosine or pearson)")
    x = np.asarray(features, dtype=np.float32)
    n, d = x.shape
    ids, inverse = np.unique(group, return_inverse=True)
    sq = np.einsum("sd,sd->s", x, x, dtype=np.float64)
    mu = x.mean(axis=1, dtype=np.float64) if similarity == "pearson" else np.zeros(n)
    inv_norm = 1.0 / (np.sqrt(np.clip(sq - d * mu**2, 0, None)) + EPS)
    weights = np.zeros((inverse.max() + 1, n), dtype=np.float32)
    weights[inverse, np.arange(n)] = inv_norm
    sums = (weights @ x).astype(np.float64) - (weights.astype(np.float64) @ mu)[:, None]
    means = sums / np.bincount(inverse)[:, None]
    dots = (x @ means.T.astype(np.float32))[np.arange(n), inverse].astype(np.float64)
    dots -= mu * means.sum(axis=1)[inverse]
    return dots * inv_norm, ids, means


def recurrence_scores_pairwise(
    features: np.ndarray, group: np.ndarray, similarity: str = "cosine"
) -> np.ndarray:
    """Reference O(S²·d) computation (tests and benchmarks only)."""
    unit = _normalise(features, similarity)
    sims = unit @ unit.T
    same = group[:, None] == group[None, :]
    return (sims * same).sum(axis=1, dtype=np.float64) / same.sum(axis=1)


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


def score_against(features: np.ndarray, mean: np.ndarray, similarity: str = "cosine") -> np.ndarray:
    """Mean similarity of each row of ``features`` to the rows whose mean unit row is ``mean``."""
    return _normalise(features, similarity).astype(np.float64) @ mean
