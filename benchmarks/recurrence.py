"""Recurrence scores: the linear O(S·d) computation against the pairwise O(S²·d) baseline.

For S clips of d dimensions in K pseudo-categories, times the linear method on the full
set, and the pairwise-matrix baseline on a random subsample whose time is scaled up by
(S / S_sub)² (the pairwise cost is quadratic in S). Also checks on the subsample that both
give the same scores. Run: python benchmarks/recurrence.py [--clips 200000 --dim 2048]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from highlight_pipeline.pseudo.recurrence import recurrence_scores, recurrence_scores_pairwise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--categories", type=int, default=8)
    parser.add_argument("--subsample", type=int, default=4_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    features = rng.standard_normal((args.clips, args.dim), dtype=np.float32)
    np.abs(features, out=features)  # non-negative, like post-ReLU CNN features
    group = rng.integers(args.categories, size=args.clips)
    print(f"S = {args.clips:,} clips, d = {args.dim}, K = {args.categories} pseudo-categories")

    start = time.perf_counter()
    linear = recurrence_scores(features, group)
    linear_s = time.perf_counter() - start
    print(f"linear  (mean of unit vectors): {linear_s:8.2f} s")

    sub = rng.choice(args.clips, size=args.subsample, replace=False)
    start = time.perf_counter()
    pairwise_sub = recurrence_scores_pairwise(features[sub], group[sub])
    pairwise_sub_s = time.perf_counter() - start
    scaled = pairwise_sub_s * (args.clips / args.subsample) ** 2
    print(f"pairwise on {args.subsample:,} clips: {pairwise_sub_s:8.2f} s")
    print(f"pairwise scaled to {args.clips:,} clips: {scaled:8.0f} s ({scaled / 3600:.1f} h)")
    print(f"ratio pairwise / linear: {scaled / linear_s:,.0f}x")

    check = recurrence_scores(features[sub], group[sub])
    print(f"max |linear - pairwise| on the subsample: {np.abs(check - pairwise_sub).max():.2e}")
    # The subsample's scores differ from the full set's (different category means), so
    # the agreement check compares the two methods on the same subsample.
    assert np.allclose(check, pairwise_sub, atol=1e-5)
    del linear


if __name__ == "__main__":
    main()
