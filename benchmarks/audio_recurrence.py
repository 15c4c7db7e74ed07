"""How well does a weight-free audio descriptor find a category's recurring event? (issue 24)

For each candidate descriptor of the log-mel rows (``logmel``'s 40 bands every 10 ms), on
each development dataset: the descriptor per window (1 s every 0.5 s, the default feature
slice), the windows pooled onto the dataset's clips as the pipeline pools them, the audio
recurrence of every clip against all clips of its video's *true* category (the cosine to
the category's mean unit row, ``pseudo.recurrence``), and the AP of those scores against
the ground truth under the dataset's protocol, beside a random ranking's. This is what
avph's audio pseudo-highlights can at best be with that descriptor (its pseudo-categories
are clusters, not the true categories).

Development data only: the embedded dataset, the holdout recipe at a seed that is not the
reported one, and ``--mix``, the same videos with another dataset's sound laid over them
(its whole tracks, events included, ``--mix-db`` louder than the host's loudest second):
loud sounds that are not the event and recur across every category, made by a generator
that is not the host's. Never run it on a dataset whose table is reported (the camcorder
one measures what is chosen here).

    python benchmarks/audio_recurrence.py --results /tmp/dev/results \
        --dataset synthetic --dataset holdout --mix synthetic+holdout

A screen, not a decision: a descriptor that finds the event better by the true categories
may still give worse pseudo-categories and worse models (spectral subtraction, the
``subtract-*`` rows, did: better here on all four samples, worse end to end on all four).
Decide with ``benchmarks/avph_dev.py``, which runs the workflow.

The datasets must have their manifest, clips and source labels (``snakemake ...
results/DATASET/clips.csv``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from highlight_pipeline.numerics import pin_numerics

pin_numerics(1)  # as the features and pseudo jobs: before numpy loads

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from highlight_pipeline.features.pooling import pool_windows  # noqa: E402
from highlight_pipeline.features.weight_free import (  # noqa: E402
    MEL_FLOOR,
    MEL_HOP_SECONDS,
    LogMelExtractor,
    relative_log,
)
from highlight_pipeline.features.windows import frame_ranges, window_grid  # noqa: E402
from highlight_pipeline.pseudo.recurrence import recurrence_scores  # noqa: E402
from highlight_pipeline.scoring import clip_truth, protocol_scores  # noqa: E402

RATE = 16000
WINDOW, STRIDE = 1.0, 0.5
FLOOR = 1e-6  # logmel's: log(power + 1e-6)


def _centre(x: np.ndarray) -> np.ndarray:
    return x - x.mean(axis=1, keepdims=True)


def _window_stats(rows: np.ndarray, lo: np.ndarray, hi: np.ndarray, fn) -> np.ndarray:
    return np.stack(
        [
            fn(rows[a:b]) if b > a else np.full(rows.shape[1], np.nan)
            for a, b in zip(lo, hi, strict=True)
        ]
    )


def current(rows, lo, hi):
    """logmel as it is: band shape of the window's mean and its spread, centred."""
    mean = _window_stats(rows, lo, hi, lambda r: r.mean(0))
    spread = _window_stats(rows, lo, hi, lambda r: r.std(0))
    return np.concatenate([_centre(mean), _centre(spread)], axis=1)


def shape_only(rows, lo, hi):
    return _centre(_window_stats(rows, lo, hi, lambda r: r.mean(0)))


def _floor(rows: np.ndarray, q: float) -> np.ndarray:
    """Each band's ``q``-th percentile power over the whole recording (its noise floor)."""
    return np.percentile(np.exp(rows), q, axis=0)


def subtracted(q: float = 20.0, alpha: float = 2.0, beta: float = 0.05):
    """Spectral subtraction (Boll 1979, with Berouti's over-subtraction and floor): each
    band's recording floor times ``alpha`` taken from its power, at least ``beta`` of the
    floor left; then logmel's descriptor on the log of what is left."""

    def fn(rows, lo, hi):
        floor = _floor(rows, q)
        p = np.exp(rows)
        clean = np.maximum(p - alpha * floor, beta * floor)
        return current(np.log(clean + FLOOR), lo, hi)

    return fn


def flux_weighted(rows, lo, hi):
    """Band shape of the frames where the spectrum rises (onsets: positive spectral flux),
    each frame weighted by its flux, and the spread as logmel's."""
    rise = np.maximum(np.diff(rows, axis=0, prepend=rows[:1]), 0).sum(axis=1)

    def shape(a, b):
        w = rise[a:b] + 1e-3
        return (rows[a:b] * w[:, None]).sum(0) / w.sum()

    mean = np.stack([shape(a, b) for a, b in zip(lo, hi, strict=True)])
    spread = _window_stats(rows, lo, hi, lambda r: r.std(0))
    return np.concatenate([_centre(mean), _centre(spread)], axis=1)


def delta_shape(rows, lo, hi):
    """logmel plus the band shape of the rows' rise (positive first difference)."""
    rise = np.maximum(np.diff(rows, axis=0, prepend=rows[:1]), 0)
    extra = _window_stats(rise, lo, hi, lambda r: r.mean(0))
    return np.concatenate([current(rows, lo, hi), _centre(extra)], axis=1)


def moving_floor(seconds: float = 3.0, q: float = 10.0, alpha: float = 1.0, beta: float = 0.05):
    """Spectral subtraction of a floor that follows the recording: each band's ``q``-th
    percentile power over the ``seconds`` around each row (minimum statistics, Martin 2001,
    with a percentile for the minimum)."""

    def fn(rows, lo, hi):
        p = np.exp(rows)
        k = max(1, int(seconds / MEL_HOP_SECONDS))
        step = max(1, k // 6)
        centres = np.arange(0, len(p), step)
        floors = np.stack(
            [np.percentile(p[max(0, c - k // 2) : c + k // 2 + 1], q, axis=0) for c in centres]
        )
        floor = floors[np.minimum(np.arange(len(p)) // step, len(centres) - 1)]
        clean = np.maximum(p - alpha * floor, beta * floor)
        return current(np.log(clean + FLOOR), lo, hi)

    return fn


def relative_floor(share: float):
    """logmel's descriptor of ``log(power + share * the recording's mean band power)``: a
    floor that follows the recording's level, so that sound far below it (room tone, a band
    a codec emptied) comes out nearly flat (docs/synthetic.md, "A relative floor")."""

    def fn(rows, lo, hi):
        power = np.exp(rows.astype(np.float64)) - MEL_FLOOR  # mel_rows' log undone
        return current(relative_log(power, share), lo, hi)

    return fn


def centred(x):
    return x - x.mean(axis=0)


def nap(k: int):
    """Nuisance attribute projection: the top ``k`` principal directions of all clips
    (what every category shares) projected out, after centring."""

    def post(x):
        c = x - x.mean(axis=0)
        _, _, vt = np.linalg.svd(c, full_matrices=False)
        return c - (c @ vt[:k].T) @ vt[:k]

    return post


def snr(q: float = 10.0, beta: float = 0.05, centre: bool = True):
    """Each band's power over its recording floor, less one (a priori SNR-like):
    ``log(max(P / F - 1, beta))``: the background's own spectral shape is divided out."""

    def fn(rows, lo, hi):
        floor = _floor(rows, q)
        ratio = np.maximum(np.exp(rows) / floor - 1.0, beta)
        x = np.log(ratio)
        if centre:
            return current(x, lo, hi)
        mean = _window_stats(x, lo, hi, lambda r: r.mean(0))
        spread = _window_stats(x, lo, hi, lambda r: r.std(0))
        return np.concatenate([mean, spread], axis=1)

    return fn


CANDIDATES: dict = {
    "logmel": current,
    "shape-only": shape_only,
    "subtract-q5-a1": subtracted(5, 1.0),
    "subtract-q10-a1": subtracted(10, 1.0),
    "subtract-q30-a1": subtracted(30, 1.0),
    "subtract-q50-a1": subtracted(50, 1.0),
    "subtract-q10-a1-b.01": subtracted(10, 1.0, 0.01),
    "subtract-q10-a1-b.2": subtracted(10, 1.0, 0.2),
    "subtract-q10-a1.5": subtracted(10, 1.5),
    "subtract-q20-a2": subtracted(20, 2.0),
    "moving-3s-q10": moving_floor(3.0, 10.0),
    "moving-6s-q10": moving_floor(6.0, 10.0),
    "moving-3s-q30": moving_floor(3.0, 30.0),
    "relative-floor-0.01": relative_floor(0.01),
    "relative-floor-0.03": relative_floor(0.03),
    "relative-floor-0.1": relative_floor(0.1),
    "relative-floor-0.3": relative_floor(0.3),
    "snr-q10": snr(10),
    "snr-q30": snr(30),
    "flux-weighted": flux_weighted,
    "delta-shape": delta_shape,
    "logmel+dataset-centred": (current, centred),
    "logmel+nap1": (current, nap(1)),
    "logmel+nap3": (current, nap(3)),
    "subtract-q10+dataset-centred": (subtracted(10, 1.0), centred),
}


def mel_rows(path: str, cache: Path) -> np.ndarray:
    """The log-mel rows of a file (decoded once, kept in ``cache``)."""
    out = cache / (Path(path).name + ".npy")
    if not out.is_file():
        rows = LogMelExtractor({"audio_rate": RATE}).mel_rows(path)
        np.save(out, rows)
    return np.load(out)


def mixed(host: np.ndarray, other: np.ndarray, db: float) -> np.ndarray:
    """``other``'s sound over ``host``'s (powers add), repeated or cut to the host's length,
    scaled so that its loudest second is ``db`` above the host's loudest second."""
    reps = int(np.ceil(len(host) / max(1, len(other))))
    other = np.tile(other, (reps, 1))[: len(host)]
    p_host, p_other = np.exp(host), np.exp(other)

    def loudest(p: np.ndarray) -> float:
        per_row = p.sum(axis=1)
        k = int(1.0 / MEL_HOP_SECONDS)
        return float(np.convolve(per_row, np.ones(k) / k, mode="valid").max())

    gain = loudest(p_host) / loudest(p_other) * 10 ** (db / 10)
    return np.log(p_host + gain * p_other + FLOOR).astype(np.float32)


def dataset_rows(results: Path, name: str, cache: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    manifest = pd.read_csv(results / name / "manifest.csv")
    clips = pd.read_csv(results / name / "clips.csv")
    rows = {r.video_id: mel_rows(r.path, cache) for r in manifest.itertuples()}
    return manifest, clips, rows


def evaluate(manifest, clips, rows, fn, protocol="youtube-map") -> float:
    fn, post = fn if isinstance(fn, tuple) else (fn, None)
    videos, pooled = [], []
    for video_id, group in clips.groupby("video_id", sort=False):
        r = rows[video_id]
        grid = window_grid(len(r) * MEL_HOP_SECONDS, WINDOW, STRIDE)
        lo, hi = frame_ranges(grid, 1.0 / MEL_HOP_SECONDS, len(r))
        windows = fn(r, lo, hi).astype(np.float32)
        starts, ends = group["start"].to_numpy(float), group["end"].to_numpy(float)
        videos.append(video_id)
        pooled.append(pool_windows(windows, grid[:, 0], grid[:, 1], starts, ends))
    return recurrence_ap(manifest, clips, videos, pooled, protocol, post)


def recurrence_ap(manifest, clips, videos, pooled, protocol="youtube-map", post=None) -> float:
    """AP of each clip's recurrence against its video's true category (``pooled``: the clip
    rows of each of ``videos``), under ``protocol``."""
    category = dict(zip(manifest["video_id"], manifest["category"], strict=True))
    x = np.nan_to_num(np.concatenate(pooled))
    if post is not None:
        x = post(x)
    ids = pd.factorize(np.array([category[v] for v in videos]))[0]
    sizes = [len(p) for p in pooled]
    scores = recurrence_scores(x, np.repeat(ids, sizes))
    out = dict(zip(videos, np.split(scores, np.cumsum(sizes)[:-1]), strict=True))
    return protocol_scores(protocol, out, clips, manifest, clip_truth(protocol, clips))[1]


def random_ap(manifest, clips, protocol="youtube-map", draws=50) -> float:
    rng = np.random.default_rng(0)
    truth = clip_truth(protocol, clips)
    values = []
    for _ in range(draws):
        scores = {v: rng.random(len(g)) for v, g in clips.groupby("video_id", sort=False)}
        values.append(protocol_scores(protocol, scores, clips, manifest, truth)[1])
    return float(np.mean(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--dataset", action="append", default=[])
    parser.add_argument("--mix", action="append", default=[], help="HOST+OTHER")
    parser.add_argument("--mix-db", type=float, default=6.0)
    parser.add_argument("--only", nargs="*", help="candidates to run (default: all)")
    args = parser.parse_args()
    cache = args.results / ".audio_recurrence_cache"
    cache.mkdir(exist_ok=True)
    sets = {}
    for name in args.dataset:
        sets[name] = dataset_rows(args.results, name, cache)
    for spec in args.mix:
        host, other = spec.split("+")
        manifest, clips, rows = dataset_rows(args.results, host, cache)
        _, _, other_rows = dataset_rows(args.results, other, cache)
        pool = [other_rows[k] for k in sorted(other_rows)]
        rows = {
            v: mixed(r, pool[i % len(pool)], args.mix_db)
            for i, (v, r) in enumerate(sorted(rows.items()))
        }
        sets[spec] = (manifest, clips, rows)
    names = args.only or list(CANDIDATES)
    print(f"{'candidate':30s}" + "".join(f"{n:>22s}" for n in sets))
    print(
        f"{'random ranking':30s}" + "".join(f"{random_ap(m, c):22.3f}" for m, c, _ in sets.values())
    )
    for name in names:
        values = [evaluate(m, c, r, CANDIDATES[name]) for m, c, r in sets.values()]
        print(f"{name:30s}" + "".join(f"{v:22.3f}" for v in values), flush=True)


if __name__ == "__main__":
    main()
