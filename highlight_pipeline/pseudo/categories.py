"""Pseudo-categories: UMAP of video-level audio-visual features, K-means, K by silhouette.

What is kept of a fit (:class:`Clustering`) is arrays only: the standardisation, the
projection, the K-means centroids and the clustered videos as reference points with their
categories. A new video (AV-PH Table 12, and every video outside a clustering sample) takes
the category of a distance-weighted vote of its ``umap_neighbors`` nearest reference videos
in the standardised (and projected) feature space: the neighbourhood UMAP's own ``transform``
starts from, with no fitted UMAP object to keep. So the fitted categories are written as
plain arrays (``pseudo/category_model.py``) and read back without unpickling anything.

Exact and approximate computation (``pseudo.*``; docs/performance.md has the figures):

* Up to ``cluster_sample`` videos (and always with ``cluster_sample: 0``) every video is
  embedded with UMAP and clustered, as in the paper.
* Above it, UMAP, K-means and the silhouettes run on a seeded sample of ``cluster_sample``
  videos, reduced first to ``sample_pca_dims`` principal components of the sample (0: the
  standardised features themselves), with UMAP's ``umap_neighbors`` nearest neighbours
  computed exactly by brute force (so umap-learn never builds its approximate index, whose
  numba code is compiled again in every process) and ``sample_umap_epochs`` epochs. Every
  other video, and every new video, takes the category of a distance-weighted vote of its
  ``umap_neighbors`` nearest sampled videos in that reduced space.
* The silhouette of each K is exact up to ``silhouette_sample`` clustered videos, and on a
  seeded sample of that many above it (scikit-learn's ``sample_size``; 0: always exact).

:attr:`Clustering.approximation` says which of these a result used (empty: exact); the
pseudo job writes it into highlights.h5 with the silhouettes.

umap-learn compiles its numba kernels in every process and caches none of them (about 15 s
per pseudo job on our CPU). :func:`cache_umap_kernels` turns on numba's on-disk cache for
them: the compile is paid once per installation (numba writes next to umap's sources where
it can, else under ``~/.cache``; ``NUMBA_CACHE_DIR`` moves it), and a cached kernel is the
same machine code (the cache is keyed by numba's CPU target, which ``numerics.py`` pins).
``HLP_NUMBA_CACHE=0`` turns it off.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from dataclasses import dataclass, field

import numpy as np

# scikit-learn (and scipy with it, about 1.2 s) is imported where K-means runs: training
# jobs import this module to read pseudo-labels and need neither

log = logging.getLogger(__name__)

#: Rows standardised and projected at a time: bounds the memory of the vote over all videos,
#: and keeps each temporary array small enough for malloc to reuse (no fresh pages per block).
ROWS_PER_BLOCK = 1024


@dataclass
class Clustering:
    labels: np.ndarray
    k: int
    silhouettes: dict[int, float]
    mean: np.ndarray | None = None  # standardisation of the video-level features
    std: np.ndarray | None = None
    centroids: np.ndarray | None = None  # K-means centres in the UMAP space, [K, dims]
    # With a sample (see the module docstring): the principal axes divided by the standard
    # deviations, [D, p] float32, and the sample's centre on them, [p] (None: no PCA).
    projection: np.ndarray | None = None
    projection_shift: np.ndarray | None = None
    # The clustered videos, reduced ([m, p] float32), and their categories ([m]): what a
    # video the clustering did not embed is assigned by (None: one category, nothing fitted).
    reference: np.ndarray | None = None
    reference_labels: np.ndarray | None = None
    neighbours: int = 15
    approximation: dict = field(default_factory=dict)  # empty: exact

    def assign(self, video_features: np.ndarray) -> np.ndarray:
        """Pseudo-category of each row of ``video_features`` ``[n, D]``: the distance-weighted
        vote of its ``neighbours`` nearest reference videos (the module docstring)."""
        if self.reference is None or self.reference_labels is None:
            return np.zeros(len(video_features), dtype=np.int64)
        out = np.empty(len(video_features), dtype=np.int64)
        for start in range(0, len(video_features), ROWS_PER_BLOCK):
            block = video_features[start : start + ROWS_PER_BLOCK]
            out[start : start + len(block)] = neighbour_vote(
                self.reduce(block), self.reference, self.reference_labels, self.neighbours
            )
        return out

    def reduce(self, video_features: np.ndarray) -> np.ndarray:
        """Standardised rows, projected on the principal axes when there are any (float32).

        Centred first, then one product with the axes over the standard deviations."""
        centred = np.asarray(video_features, dtype=np.float32) - self.mean.astype(np.float32)
        if self.projection is None:
            return centred / self.std.astype(np.float32)
        return centred @ self.projection - self.projection_shift


def neighbour_vote(
    queries: np.ndarray, reference: np.ndarray, labels: np.ndarray, neighbours: int
) -> np.ndarray:
    """Category of each query row: the vote of its ``neighbours`` nearest ``reference`` rows
    (Euclidean), each weighted by 1 / distance; a query that coincides with reference rows
    takes their vote alone; ties go to the lower category. scikit-learn's
    ``KNeighborsClassifier(weights="distance", algorithm="brute")``, in numpy (float64)."""
    q = np.asarray(queries, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    k = max(1, min(int(neighbours), len(r)))
    squared = (q * q).sum(axis=1)[:, None] - 2.0 * (q @ r.T) + (r * r).sum(axis=1)[None]
    np.maximum(squared, 0.0, out=squared)
    nearest = np.argpartition(squared, k - 1, axis=1)[:, :k]
    distance = np.sqrt(np.take_along_axis(squared, nearest, axis=1))
    exact = distance == 0
    with np.errstate(divide="ignore"):
        weight = np.where(exact.any(axis=1, keepdims=True), exact.astype(np.float64), 1 / distance)
    votes = np.zeros((len(q), int(labels.max()) + 1))
    np.add.at(votes, (np.arange(len(q))[:, None], labels[nearest]), weight)
    return votes.argmax(axis=1).astype(np.int64)


_kernels_cached = False


def cache_umap_kernels() -> bool:
    """Turn on numba's on-disk cache for umap-learn's kernels (once per process; see the
    module docstring). False where it is off or no cache directory is writable.

    numba keys a cache file by the Python function and its signature, not by the compile
    flags, so of a function that umap compiles twice (serial and parallel layouts) only the
    serial kernel, the one of ``n_jobs=1``, is cached; a function some kernel of which umap
    already caches itself is left alone."""
    global _kernels_cached
    if _kernels_cached or os.environ.get("HLP_NUMBA_CACHE", "1") == "0":
        return _kernels_cached
    import umap.umap_  # noqa: F401  (loads the modules whose kernels are cached below)
    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    by_function: dict[int, dict[int, Dispatcher]] = {}
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "umap" or name.startswith("umap.")):
            continue
        for kernel in list(vars(module).values()):
            if not isinstance(kernel, Dispatcher):
                continue
            if not str(getattr(kernel.py_func, "__module__", "")).startswith("umap"):
                continue  # imported from another package: cached (or not) by that package
            by_function.setdefault(id(kernel.py_func), {})[id(kernel)] = kernel
    for kernels in by_function.values():
        if any(not isinstance(k._cache, NullCache) for k in kernels.values()):
            continue
        serial = [k for k in kernels.values() if not k.targetoptions.get("parallel")]
        chosen = list(kernels.values()) if len(kernels) == 1 else serial
        if len(chosen) != 1:
            continue
        try:
            chosen[0].enable_caching()
        except RuntimeError as exc:  # no locator: no writable cache directory
            log.info("numba cache unavailable, umap compiles in this process: %s", exc)
            return False
    _kernels_cached = True
    return True


def embed_umap(features: np.ndarray, dims: int, neighbors: int, seed: int, **options):
    """UMAP to ``dims`` dimensions (fewer when there are too few videos): the embedding.

    ``options`` go to ``umap.UMAP`` (the sampled path's epochs and neighbours)."""
    import umap  # slow import (numba): only when clustering

    cache_umap_kernels()
    n = len(features)
    dims = max(1, min(dims, n - 2))
    reducer_args = dict(
        n_components=dims,
        n_neighbors=max(2, min(neighbors, n - 1)),
        random_state=seed,
        n_jobs=1,
        **options,
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
    cluster_sample: int = 0,
    sample_pca_dims: int = 0,
    sample_umap_epochs: int = 0,
    silhouette_sample: int = 0,
) -> Clustering:
    """Standardise, embed with UMAP, K-means for each K; keep the best silhouette.

    The last four arguments are the approximations of the module docstring; their default
    (0) is the exact computation."""
    n = len(video_features)
    if n < 4:
        return Clustering(np.zeros(n, dtype=np.int64), 1, {})
    if 0 < cluster_sample < n:
        return _choose_on_sample(
            video_features,
            umap_dims,
            umap_neighbors,
            k_min,
            k_max,
            seed,
            cluster_sample,
            sample_pca_dims,
            sample_umap_epochs,
            silhouette_sample,
        )
    mean = video_features.mean(axis=0)
    std = video_features.std(axis=0)
    std = np.where(std > 0, std, 1)
    embedded = embed_umap((video_features - mean) / std, umap_dims, umap_neighbors, seed)
    best, scores = best_k(embedded, k_min, k_max, seed, silhouette_sample)
    approximation = _silhouette_note(n, silhouette_sample)
    if best is None:
        return Clustering(np.zeros(n, dtype=np.int64), 1, scores, approximation=approximation)
    log.info("silhouette per K: %s -> K=%d", {k: round(v, 3) for k, v in scores.items()}, best[1])
    clustering = Clustering(
        best[2].labels_.astype(np.int64),
        best[1],
        scores,
        mean,
        std,
        best[2].cluster_centers_,
        neighbours=max(2, min(umap_neighbors, n - 1)),  # UMAP's own neighbourhood size
        approximation=approximation,
    )
    clustering.reference = clustering.reduce(video_features)
    clustering.reference_labels = clustering.labels.copy()
    return clustering


def best_k(
    embedded: np.ndarray, k_min: int, k_max: int, seed: int, silhouette_sample: int = 0
) -> tuple[tuple[float, int, object] | None, dict[int, float]]:
    """K-means of ``embedded`` for each K in [k_min, k_max] (at most n - 1): the best
    (silhouette, K, fitted K-means) or None, and the silhouette of every K."""
    n = len(embedded)
    sample = silhouette_sample if 0 < silhouette_sample < n else None
    scores: dict[int, float] = {}
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    best: tuple[float, int, KMeans] | None = None
    for k in range(k_min, min(k_max, n - 1) + 1):
        kmeans = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(embedded)
        if len(np.unique(kmeans.labels_)) < 2:
            continue
        try:
            scores[k] = float(
                silhouette_score(embedded, kmeans.labels_, sample_size=sample, random_state=seed)
            )
        except ValueError:  # the silhouette sample holds one cluster only
            continue
        if best is None or scores[k] > best[0]:
            best = (scores[k], k, kmeans)
    return best, scores


def _silhouette_note(n: int, silhouette_sample: int) -> dict:
    if 0 < silhouette_sample < n:
        return {"silhouette_videos": silhouette_sample, "silhouette_of": n}
    return {}


def standardisation(video_features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and standard deviation (1 where constant), in float64, in blocks
    of rows (no standardised copy of the features)."""
    n = len(video_features)
    mean = video_features.mean(axis=0, dtype=np.float64)
    squares = np.zeros_like(mean)
    for start in range(0, n, ROWS_PER_BLOCK):
        block = video_features[start : start + ROWS_PER_BLOCK] - mean
        squares += np.einsum("nd,nd->d", block, block)
    std = np.sqrt(squares / n)
    return mean, np.where(std > 0, std, 1.0)


def _choose_on_sample(
    video_features: np.ndarray,
    umap_dims: int,
    umap_neighbors: int,
    k_min: int,
    k_max: int,
    seed: int,
    cluster_sample: int,
    sample_pca_dims: int,
    sample_umap_epochs: int,
    silhouette_sample: int,
) -> Clustering:
    """The sampled computation of the module docstring."""
    from sklearn.decomposition import PCA
    from sklearn.neighbors import NearestNeighbors

    n, d = video_features.shape
    sample = np.sort(np.random.default_rng(seed).choice(n, size=cluster_sample, replace=False))
    mean, std = standardisation(video_features)
    clustering = Clustering(np.zeros(n, dtype=np.int64), 1, {}, mean, std)
    reduced = clustering.reduce(video_features[sample])
    pca_dims = min(sample_pca_dims, cluster_sample, d)
    if pca_dims > 0:
        pca = PCA(pca_dims, svd_solver="randomized", random_state=seed).fit(reduced)
        axes = pca.components_.astype(np.float64)
        clustering.projection = (axes / std).T.astype(np.float32)
        clustering.projection_shift = (axes @ pca.mean_).astype(np.float32)
        reduced = clustering.reduce(video_features[sample])
    clustering.approximation = {
        "clustered_videos": cluster_sample,
        "of": n,
        "pca_dims": pca_dims or None,
        "umap_epochs": sample_umap_epochs or None,
        "others": f"distance-weighted vote of the {umap_neighbors} nearest clustered videos",
        **_silhouette_note(cluster_sample, silhouette_sample),
    }
    if cluster_sample < 4:
        return clustering
    neighbours = max(2, min(umap_neighbors, cluster_sample - 1))
    distances, indices = (
        NearestNeighbors(n_neighbors=neighbours, algorithm="brute").fit(reduced).kneighbors(reduced)
    )
    embedded = embed_umap(
        reduced,
        umap_dims,
        neighbours,
        seed,
        n_epochs=sample_umap_epochs or None,
        precomputed_knn=(indices, distances.astype(np.float32), None),
    )
    best, clustering.silhouettes = best_k(embedded, k_min, k_max, seed, silhouette_sample)
    if best is None:
        return clustering
    clustering.k = best[1]
    clustering.centroids = best[2].cluster_centers_
    sample_labels = best[2].labels_.astype(np.int64)
    clustering.reference, clustering.reference_labels = reduced, sample_labels
    clustering.neighbours = min(umap_neighbors, cluster_sample)
    others = np.setdiff1d(np.arange(n), sample)
    labels = np.empty(n, dtype=np.int64)
    labels[sample] = sample_labels
    for start in range(0, len(others), ROWS_PER_BLOCK):  # blocks: no copy of all the others
        rows = others[start : start + ROWS_PER_BLOCK]
        labels[rows] = clustering.assign(video_features[rows])
    clustering.labels = labels
    log.info(
        "silhouette per K on %d of %d videos: %s -> K=%d",
        cluster_sample,
        n,
        {k: round(v, 3) for k, v in clustering.silhouettes.items()},
        clustering.k,
    )
    return clustering
