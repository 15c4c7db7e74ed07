"""Recurrence scores: the chunked computation against the exact one, and the pairwise baseline.

Three measurements, with the numerics pinned as in the pipeline's jobs (one BLAS thread):

* ``scores``: S clips of d dimensions (float32) in videos of 20 to 100 clips, each video in
  one of K pseudo-categories. Alternates, ``--repeat`` times, the exact one-matrix
  computation (``recurrence_with_means(..., method="exact")``) with the chunked one on the
  per-video arrays, as the pseudo job calls it (``recurrence_of_blocks``), and prints both
  times and their ratio; asserts every score within 2e-6 of the exact one (the stated
  tolerance, ``pseudo/recurrence.py``).
* ``pairwise``: the O(S²·d) pairwise-matrix baseline on a random subsample, its time scaled
  by (S / S_sub)², against the chunked time; checks the two agree on the subsample.
* ``memory``: peak resident memory (VmHWM) of ``compute_pseudo_highlights`` in a fresh
  process per computation (``pseudo.recurrence: exact``, which concatenates the clips of a
  modality into one array, and ``chunked``), on ``--memory-clips`` clips of 2048-d visual
  and 512-d audio features (real categories: no clustering), beside the features' own size.
  What a computation adds to the features grows linearly with the clips, so the figure at
  ``--extrapolate-to`` clips is the features' size there plus the added memory scaled.

    python benchmarks/recurrence.py    # 1,000,000 x 2048 (8 GiB); the memory at 250,000 clips
    python benchmarks/recurrence.py --clips 200000 --memory-clips 100000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
GIB = 2**30


def peak_rss_gib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / GIB
    return float("nan")


def rss_gib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / GIB
    return float("nan")


def video_lengths(clips: int, rng) -> list[int]:
    """Clips per video: 20 to 100 (uniform), the last video takes the remainder."""
    lengths, total = [], 0
    while total < clips:
        n = min(int(rng.integers(20, 101)), clips - total)
        lengths.append(n)
        total += n
    return lengths


def make_blocks(clips: int, dim: int, seed: int, categories: int):
    """One float32 array [clips, dim] (non-negative, like post-ReLU features), its per-video
    views, and each video's category."""
    import numpy as np

    rng = np.random.default_rng(seed)
    features = np.empty((clips, dim), dtype=np.float32)
    for start in range(0, clips, 65536):
        block = features[start : start + 65536]
        block[:] = rng.standard_normal(block.shape, dtype=np.float32)
        np.abs(block, out=block)
    lengths = video_lengths(clips, rng)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    views = [features[bounds[i] : bounds[i + 1]] for i in range(len(lengths))]
    return features, views, rng.integers(categories, size=len(lengths))


def bench_scores(args) -> None:
    import numpy as np

    from highlight_pipeline.pseudo.recurrence import (
        recurrence_of_blocks,
        recurrence_scores_pairwise,
        recurrence_with_means,
    )

    features, views, video_group = make_blocks(args.clips, args.dim, args.seed, args.categories)
    group = np.repeat(video_group, [len(v) for v in views])
    print(
        f"S = {args.clips:,} clips ({features.nbytes / GIB:.1f} GiB), d = {args.dim}, "
        f"{len(views):,} videos, K = {args.categories}; {args.threads} BLAS thread(s)"
    )
    exact_times, chunked_times = [], []
    for r in range(args.repeat):
        start = time.perf_counter()
        exact = recurrence_with_means(features, group, "cosine", "exact")[0]
        exact_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        chunked = np.concatenate(recurrence_of_blocks(views, video_group, "cosine")[0])
        chunked_times.append(time.perf_counter() - start)
        gap = float(np.abs(chunked - exact).max())
        print(
            f"  run {r + 1}: exact {exact_times[-1]:6.2f} s   chunked {chunked_times[-1]:6.2f} s"
            f"   ratio {exact_times[-1] / chunked_times[-1]:5.2f}x   max |chunked - exact| "
            f"{gap:.1e}"
        )
        assert gap <= 2e-6, gap
        del exact, chunked
    best_exact, best_chunked = min(exact_times), min(chunked_times)
    print(
        f"best of {args.repeat}: exact {best_exact:.2f} s, chunked {best_chunked:.2f} s, "
        f"ratio {best_exact / best_chunked:.2f}x (median ratio "
        f"{np.median(np.array(exact_times) / np.array(chunked_times)):.2f}x)"
    )

    rng = np.random.default_rng(args.seed + 1)
    sub = np.sort(rng.choice(args.clips, size=args.subsample, replace=False))
    start = time.perf_counter()
    pairwise_sub = recurrence_scores_pairwise(features[sub], group[sub])
    pairwise_sub_s = time.perf_counter() - start
    scaled = pairwise_sub_s * (args.clips / args.subsample) ** 2
    print(f"pairwise on {args.subsample:,} clips: {pairwise_sub_s:.2f} s")
    print(f"pairwise scaled to {args.clips:,} clips: {scaled:,.0f} s ({scaled / 3600:.1f} h)")
    print(f"ratio pairwise / chunked: {scaled / best_chunked:,.0f}x")
    # The subsample's scores differ from the full set's (other category means), so the
    # agreement check compares the two methods on the same subsample.
    check = recurrence_with_means(features[sub], group[sub])[0]
    print(f"max |chunked - pairwise| on the subsample: {np.abs(check - pairwise_sub).max():.2e}")
    assert np.allclose(check, pairwise_sub, atol=1e-5)


def memory_child(args) -> dict:
    """One compute_pseudo_highlights call on generated clip features; its memory."""
    import numpy as np

    from highlight_pipeline.features.clip_features import ClipFeatures
    from highlight_pipeline.pseudo.highlights import compute_pseudo_highlights

    rng = np.random.default_rng(args.seed)
    lengths = video_lengths(args.memory_clips, rng)
    videos = [f"v{i:06d}" for i in range(len(lengths))]
    by_modality = {}
    for modality, dim in (("visual", 2048), ("audio", 512)):
        by_video = {}
        for video, n in zip(videos, lengths, strict=True):
            x = rng.standard_normal((n, dim), dtype=np.float32)
            by_video[video] = np.abs(x, out=x)
        by_modality[modality] = ClipFeatures(by_video, dim, [])
    feature_bytes = args.memory_clips * (2048 + 512) * 4
    real = {v: f"c{i % args.categories}" for i, v in enumerate(videos)}
    before = rss_gib()
    settings = {
        "modalities": ["visual", "audio"],
        "categories": "real",
        "similarity": "cosine",
        "top_fraction": 0.5,
        "recurrence": args.memory_child,
    }
    start = time.perf_counter()
    compute_pseudo_highlights(videos, by_modality, settings, real)
    return {
        "recurrence": args.memory_child,
        "seconds": time.perf_counter() - start,
        "features_gib": feature_bytes / GIB,
        "before_gib": before,
        "peak_gib": peak_rss_gib(),
    }


def bench_memory(args) -> None:
    results = {}
    for recurrence in ("exact", "chunked"):
        child = [
            sys.executable,
            __file__,
            f"--memory-child={recurrence}",
            f"--memory-clips={args.memory_clips}",
            f"--threads={args.threads}",
            f"--seed={args.seed}",
            f"--categories={args.categories}",
        ]
        out = subprocess.run(child, capture_output=True, text=True, check=True)
        results[recurrence] = json.loads(out.stdout.strip().splitlines()[-1])
    scale = args.extrapolate_to / args.memory_clips
    features_there = args.extrapolate_to * (2048 + 512) * 4 / GIB
    print(
        f"pseudo job (compute_pseudo_highlights, real categories) on {args.memory_clips:,} "
        f"clips of 2048 + 512 d: the features are {results['exact']['features_gib']:.2f} GiB"
    )
    for name, r in results.items():
        added = r["peak_gib"] - r["before_gib"]
        there = r["before_gib"] - r["features_gib"] + features_there + added * scale
        print(
            f"  {name:<8} peak {r['peak_gib']:5.2f} GiB (the features and the interpreter "
            f"{r['before_gib']:.2f} GiB, added {added:.2f} GiB), {r['seconds']:.1f} s; at "
            f"{args.extrapolate_to:,} clips ~{there:.1f} GiB"
        )
    ratio = (results["exact"]["peak_gib"] - results["exact"]["before_gib"]) / max(
        1e-9, results["chunked"]["peak_gib"] - results["chunked"]["before_gib"]
    )
    print(f"  added memory exact / chunked: {ratio:.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--categories", type=int, default=8)
    parser.add_argument("--subsample", type=int, default=4_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-clips", type=int, default=250_000)
    parser.add_argument("--extrapolate-to", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (the jobs use 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", nargs="*", default=[], choices=["scores", "memory"])
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()

    from highlight_pipeline.numerics import pin_numerics

    pin_numerics(args.threads)  # as every `hlp pseudo` job does
    if args.memory_child:
        print(json.dumps(memory_child(args)))
        return
    if "scores" not in args.skip:
        bench_scores(args)
    if "memory" not in args.skip:
        bench_memory(args)


if __name__ == "__main__":
    main()
