"""Pseudo-categories: UMAP of video-level audio-visual features, K-means, K by silhouette.

The fitted standardisation, UMAP and K-means centroids are kept (:class:`Clustering`), so a
new video can be assigned to its nearest pseudo-category (AV-PH Table 12)."""

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
    mean: np.ndarray | None = None  # standardisation of the video-level features
    std: np.ndarray | None = None
    reducer: object | None = None  # the fitted UMAP (None: one category, nothing fitted)
    centroids: np.ndarray | None = None  # K-means centres in the UMAP space, [K, dims]

    def assign(self, video_features: np.ndarray) -> np.ndarray:
        """Nearest pseudo-category of each row of ``video_features`` ``[n, D]``."""
        if self.reducer is None or self.centroids is None:
            return np.zeros(len(video_features), dtype=np.int64)
        x = (video_features - self.mean) / self.std
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            embedded = self.reducer.transform(x)
        distances = ((embedded[:, None, :] - self.centroids[None]) ** 2).sum(axis=-1)
        return distances.argmin(axis=1).astype(np.int64)


def embed_umap(features: np.ndarray, dims: int, neighbors: int, seed: int):
    """UMAP to ``dims`` dimensions (fewer when there are too few videos): (embedding, model)."""
    import umap  # slow import (numba): only when clustering

    n = len(features)
    dims = max(1, min(dims, n - 2))
    reducer_args = dict(
        n_components=dims, n_neighbors=max(2, min(neighbors, n - 1)), random_state=seed, n_jobs=1
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            reducer = umap.UMAP(**reducer_args)
            return reducer.fit_transform(features), reducer
        except (ValueError, TypeError):  # spectral init fails on tiny inputs
            reducer = umap.UMAP(init="random", **reducer_args)
            return reducer.fit_transform(features), reducer


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
    mean = video_features.mean(axis=0)
    std = video_features.std(axis=0)
    std = np.where(std > 0, std, 1)
    embedded, reducer = embed_umap((video_features - mean) / std, umap_dims, umap_neighbors, seed)
    scores: dict[int, float] = {}
    best: tuple[float, int, KMeans] | None = None
    for k in range(k_min, min(k_max, n - 1) + 1):
        kmeans = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(embedded)
        if len(np.unique(kmeans.labels_)) < 2:
            continue
        scores[k] = float(silhouette_score(embedded, kmeans.labels_))
        if best is None or scores[k] > best[0]:
            best = (scores[k], k, kmeans)
    if best is None:
        return Clustering(np.zeros(n, dtype=np.int64), 1, scores)
    log.info("silhouette per K: %s -> K=%d", {k: round(v, 3) for k, v in scores.items()}, best[1])
    return Clustering(
        best[2].labels_.astype(np.int64),
        best[1],
        scores,
        mean,
        std,
        reducer,
        best[2].cluster_centers_,
    )
