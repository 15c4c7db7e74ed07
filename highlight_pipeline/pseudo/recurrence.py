"""Recurrence scores in O(S·d) and audio-visual pseudo-highlights.

The mean cosine similarity of clip i to all S clips of its pseudo-category is
``x_i/|x_i| · mean_k(x_k/|x_k|)``: one mean vector per category instead of an S x S
matrix. Pearson correlation is the same on vectors centred on their own mean.

Two computations (``pseudo.recurrence``):

* ``chunked`` (the default): two passes over the clips in chunks of about 512 KiB, each
  chunk holding clips of one category, read where they lie (the per-video arrays of the
  pseudo job: no concatenated copy). Pass one takes the float32 row norms and adds the
  chunk's unit rows to its category's sum (float64 across chunks); pass two projects the
  chunk on its own category's mean only. A chunk is read from memory once per pass and
  then from the cache.
* ``exact``: the one-matrix computation (:func:`recurrence_exact`) on one array, with
  float64 row norms and float32 sums over all the clips of a category.

Both are float32 arithmetic. The chunked scores are within 1e-6 of a float64 computation
and within 2e-6 of the exact ones (``tests/test_pseudo.py``; the exact ones are the further
off, their sums running over whole categories in float32); on the embedded default the two
differ by at most 1.1e-7 and give the same pseudo-highlights, and in
``benchmarks/recurrence.py`` (1,000,000 clips) by at most 5e-7.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

EPS = 1e-8
METHODS = ("chunked", "exact")
#: Rows of a chunk: about 512 KiB of float32, so that the second read of pass one hits L2.
CHUNK_BYTES = 1 << 19
#: Blocks (videos) of fewer rows are copied together into chunks; longer ones are read in place.
PACK_BELOW = 16


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
    features: np.ndarray, group: np.ndarray, similarity: str = "cosine", method: str = "chunked"
) -> np.ndarray:
    """Mean similarity of each row to all rows of its group (itself included), ``[S]``."""
    return recurrence_with_means(features, group, similarity, method)[0]


def recurrence_with_means(
    features: np.ndarray, group: np.ndarray, similarity: str = "cosine", method: str = "chunked"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Recurrence scores ``[S]``, the group ids present (sorted) and each group's mean unit
    row ``[K, d]`` (centred first for Pearson), in float64.

    The means are what the scores are computed from: a new row's mean similarity to every
    row of a group is its own unit row times that group's mean (:func:`score_against`).
    ``method``: ``chunked`` or ``exact`` (the module docstring).
    """
    _check(similarity, method)
    if method == "exact":
        return recurrence_exact(features, group, similarity)
    x = np.asarray(features)
    ids, inverse = np.unique(group, return_inverse=True)
    inverse = inverse.reshape(-1)
    scores, means = _two_passes(
        lambda: _chunks_of_rows(x, inverse, len(ids)),
        len(x),
        x.shape[1],
        np.bincount(inverse, minlength=len(ids)),
        similarity,
    )
    return scores, ids, means


def recurrence_of_blocks(
    blocks: Sequence[np.ndarray], groups: Sequence[int], similarity: str = "cosine"
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """:func:`recurrence_with_means` (chunked) of the rows of ``blocks`` (``[n_b, d]`` each,
    e.g. the clips of one video), all rows of a block in group ``groups[b]``, without
    concatenating them: the scores of each block (views into one array), the group ids
    present (sorted) and each group's mean unit row."""
    _check(similarity, "chunked")
    if not len(blocks):
        raise ValueError("no blocks")
    ids, block_group = np.unique(np.asarray(groups), return_inverse=True)
    block_group = block_group.reshape(-1)
    sizes = np.array([len(b) for b in blocks], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    scores, means = _two_passes(
        lambda: _chunks_of_blocks(blocks, block_group, offsets),
        int(offsets[-1]),
        blocks[0].shape[1],
        np.bincount(block_group, weights=sizes, minlength=len(ids)).astype(np.int64),
        similarity,
    )
    return [scores[offsets[b] : offsets[b + 1]] for b in range(len(blocks))], ids, means


def _check(similarity: str, method: str) -> None:
    if similarity not in ("cosine", "pearson"):
        raise ValueError(f"unknown similarity {similarity!r} (cosine or pearson)")
    if method not in METHODS:
        raise ValueError(f"unknown recurrence method {method!r} ({' or '.join(METHODS)})")


def _rows_per_chunk(d: int) -> int:
    return max(1, CHUNK_BYTES // (4 * max(1, d)))


#: float32 rows of one group, the group's index, the rows' numbers (an index array or a slice)
Chunk = tuple[np.ndarray, int, np.ndarray | slice]


def _chunks_of_rows(x: np.ndarray, inverse: np.ndarray, n_groups: int) -> Iterator[Chunk]:
    """Chunks of the rows of one array, group by group: views of its runs of one group
    when they are long enough, else rows gathered in group order."""
    n = len(x)
    starts = np.concatenate([[0], np.flatnonzero(np.diff(inverse)) + 1]).astype(np.int64)
    if len(starts) * PACK_BELOW <= n:
        offsets = np.concatenate([starts, [n]])
        runs = [x[offsets[r] : offsets[r + 1]] for r in range(len(starts))]
        yield from _chunks_of_blocks(runs, inverse[starts], offsets)
        return
    step = _rows_per_chunk(x.shape[1])
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(n_groups + 1))
    for g in range(n_groups):
        for start in range(bounds[g], bounds[g + 1], step):
            rows = order[start : min(start + step, bounds[g + 1])]
            yield x[rows].astype(np.float32, copy=False), g, rows


def _chunks_of_blocks(
    blocks: Sequence[np.ndarray], block_group: np.ndarray, offsets: np.ndarray
) -> Iterator[Chunk]:
    """Chunks of the rows of many single-group blocks, group by group: a block of at least
    ``PACK_BELOW`` rows in views of its own (read where it lies), smaller blocks of one
    group copied together into one chunk (fewer, larger chunks)."""
    step = _rows_per_chunk(blocks[0].shape[1])
    pending: list[int] = []
    pending_rows = 0

    def flush() -> Chunk:
        rows = np.concatenate([blocks[b] for b in pending]).astype(np.float32, copy=False)
        numbers = np.concatenate([np.arange(offsets[b], offsets[b + 1]) for b in pending])
        return rows, int(block_group[pending[0]]), numbers

    for b in np.argsort(block_group, kind="stable").tolist():
        n, g = int(offsets[b + 1] - offsets[b]), int(block_group[b])
        if n >= PACK_BELOW:
            for start in range(0, n, step):
                stop = min(start + step, n)
                rows = np.asarray(blocks[b][start:stop], dtype=np.float32)
                yield rows, g, slice(int(offsets[b]) + start, int(offsets[b]) + stop)
            continue
        if pending and (g != block_group[pending[0]] or pending_rows + n > step):
            yield flush()
            pending, pending_rows = [], 0
        if n:
            pending.append(b)
            pending_rows += n
    if pending:
        yield flush()


def _two_passes(
    chunks, n: int, d: int, counts: np.ndarray, similarity: str
) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``[n]`` and group means ``[K, d]`` from two passes over ``chunks()``."""
    pearson = similarity == "pearson"
    inv_norm = np.empty(n)
    row_mean = np.empty(n, dtype=np.float32) if pearson else None
    sums = np.zeros((len(counts), d))
    for rows, g, numbers in chunks():
        if pearson:
            mu = rows.mean(axis=1)
            row_mean[numbers] = mu
            rows = rows - mu[:, None]
        inv = 1.0 / (np.sqrt(np.vecdot(rows, rows), dtype=np.float64) + EPS)
        inv_norm[numbers] = inv
        sums[g] += inv.astype(np.float32) @ rows
    means = sums / np.maximum(counts, 1)[:, None]
    means32 = means.astype(np.float32)
    scores = np.empty(n)
    for rows, g, numbers in chunks():
        if pearson:
            rows = rows - row_mean[numbers][:, None]
        scores[numbers] = (rows @ means32[g]) * inv_norm[numbers]
    return scores, means


def recurrence_exact(
    features: np.ndarray, group: np.ndarray, similarity: str = "cosine"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The one-matrix computation of :func:`recurrence_with_means` (``method="exact"``).

    Three passes over the features and no copy of them: row norms; the per-group sums of
    unit rows as one matrix product (one-hot weights ``[K, S]`` times ``[S, d]``); the
    projections of every row on every group mean as another (``[S, d]`` times ``[d, K]``).
    For Pearson, centring is folded into those products: with ``mu`` a row's mean,
    ``(x - mu)·m = x·m - mu·sum(m)`` and ``|x - mu|² = |x|² - d·mu²``.
    """
    _check(similarity, "exact")
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
