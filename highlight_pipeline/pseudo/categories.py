"""Pseudo-categories: UMAP of video-level audio-visual features, K-means, K by silhouette."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

log = logging.getLogger(__name__)


@dataclass
class Clustering:
    labels: np.ndarray
    k: int
    silhouettes: dict[int, float]


def embed_umap(features: np.ndarray, dims: int, neighbors: int, seed: int) -> np.ndarray:
    """UMAP to ``dims`` dimensions (fewer when there are too few videos)."""
    import umap  # slow import (numba): only when clustering

    n = len(features)
    dims = max(1, min(dims, n - 2))
    reducer_args = dict(
        n_components=dims, n_neighbors=max(2, min(neighbors, n - 1)), random_state=seed, n_jobs=1
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return umap.UMAP(**reducer_args).fit_transform(features)
        except (ValueError, TypeError):  # spectral init fails on tiny inputs
            return umap.UMAP(init="random", **reducer_args).fit_transform(features)


def choose_categories(
    video_features: np.ndarray,
    umap_dims: int,
    umap_neighbors: int,
    k_min: int,
    k_max: int,
    seed: int,
) -> Clustering:
    """Standardise, embed with UMAP, K-means for each K; keep the best silhouette."""
    n = len(video_features)
    if n < 4:
        return Clustering(np.zeros(n, dtype=np.int64), 1, {})
    std = video_features.std(axis=0)
    x = (video_features - video_features.mean(axis=0)) / np.where(std > 0, std, 1)
    embedded = embed_umap(x, umap_dims, umap_neighbors, seed)
    scores: dict[int, float] = {}
    best: tuple[float, int, np.ndarray] | None = None
    for k in range(k_min, min(k_max, n - 1) + 1):
        labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(embedded)
        if len(np.unique(labels)) < 2:
            continue
        scores[k] = float(silhouette_score(embedded, labels))
        if best is None or scores[k] > best[0]:
            best = (scores[k], k, labels)
    if best is None:
        return Clustering(np.zeros(n, dtype=np.int64), 1, scores)
    log.info("silhouette per K: %s -> K=%d", {k: round(v, 3) for k, v in scores.items()}, best[1])
    return Clustering(best[2].astype(np.int64), best[1], scores)
