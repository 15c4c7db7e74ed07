"""Pseudo-categories (UMAP + K-means + silhouette): the pipeline's defaults against the exact
computation, each in a fresh process as a pseudo job runs.

For each ``--videos`` N the script generates video-level features (float32, 2048 visual +
512 audio dimensions, four categories of 40/30/20/10 % of the videos around the points of a
32-dimensional latent space, seeded), writes them once to a temporary file, and times
``choose_categories`` with the schema's settings in fresh processes, from the start of the
process (Python, imports, loading the features, numba loading or compiling umap's kernels)
to its end:

* ``exact``: the unoptimised path, today's computation: every video through UMAP and
  the full silhouette of each K (``cluster_sample: 0``, ``silhouette_sample: 0``) and
  umap's kernels compiled in the process (``HLP_NUMBA_CACHE=0``);
* ``default``: the schema's defaults (above ``cluster_sample`` videos the sampled
  computation, pseudo/categories.py) with umap's kernels in numba's disk cache;
* ``first use``: ``default`` with an empty numba cache (a fresh ``NUMBA_CACHE_DIR``, so
  pynndescent's kernels are compiled too): the first pseudo job on a machine. It fills the
  cache the timed ``default`` runs then read.

``exact`` and ``default`` alternate ``--repeat`` times. Printed per run: wall time, peak
resident memory (VmHWM), K and the silhouettes; then the best times, their ratio, and the
adjusted Rand index of each partition against the generated categories and against the
exact one. Where both ran, the script asserts that the default chose the exact K. Sizes
above ``--exact-max`` run only ``default`` (the exact computation of 100,000 videos takes
about 1,000 s).

    python benchmarks/pseudo_categories.py                      # 12 and 10,000 videos
    python benchmarks/pseudo_categories.py --videos 100000 --exact-max 100000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
GIB = 2**30
DIMS = (2048, 512)  # visual, audio
SHARES = (0.4, 0.3, 0.2, 0.1)  # of the videos in each category
GOALS = {10_000: (15.0, None), 100_000: (60.0, 4.0)}  # seconds, GiB (issue 13)


def peak_rss_gib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / GIB
    return float("nan")


def make_features(n: int, seed: int):
    """Video-level features [n, 2560] float32 and each video's generated category."""
    import numpy as np

    rng = np.random.default_rng(seed)
    d = sum(DIMS)
    truth = rng.choice(len(SHARES), size=n, p=SHARES)
    latent_dims = 32
    basis = rng.standard_normal((latent_dims, d), dtype=np.float32) / np.sqrt(latent_dims)
    centres = rng.standard_normal((len(SHARES), latent_dims), dtype=np.float32) * 2
    spread = np.array([1.0, 0.8, 1.2, 0.9], dtype=np.float32)
    x = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 8192):
        t = truth[start : start + 8192]
        latent = (
            centres[t]
            + rng.standard_normal((len(t), latent_dims), dtype=np.float32) * (spread[t, None])
        )
        block = latent @ basis + 0.5 * rng.standard_normal((len(t), d), dtype=np.float32)
        block[:, : DIMS[0]] = np.abs(block[:, : DIMS[0]])  # visual: post-ReLU, non-negative
        block[:, DIMS[0] :] = 10 * block[:, DIMS[0] :] - 40  # audio: log-mel-like scale
        x[start : start + len(t)] = block
    return x, truth


def child(args) -> dict:
    """One choose_categories call, as `hlp pseudo` makes it; its figures."""
    started = time.perf_counter()
    from highlight_pipeline.numerics import pin_numerics

    pin_numerics(1)  # as every `hlp pseudo` job does
    import numpy as np

    from highlight_pipeline.config import validate_config
    from highlight_pipeline.pseudo.categories import choose_categories
    from highlight_pipeline.pseudo.highlights import APPROXIMATIONS

    config = {"run_datasets": ["b"], "datasets": {"b": {"reader": "synthetic"}}}
    pseudo = validate_config(config)["pseudo"]
    if args.child == "exact":
        pseudo.update(cluster_sample=0, silhouette_sample=0)
    features = np.load(args.input)
    loaded = time.perf_counter()
    clustering = choose_categories(
        features,
        pseudo["umap_dims"],
        pseudo["umap_neighbors"],
        pseudo["k_min"],
        pseudo["k_max"],
        pseudo["seed"],
        **{key: pseudo[key] for key in APPROXIMATIONS},
    )
    done = time.perf_counter()
    np.save(args.labels, clustering.labels)
    return {
        "k": clustering.k,
        "silhouettes": clustering.silhouettes,
        "approximation": clustering.approximation,
        "until_loaded_s": loaded - started,
        "clustering_s": done - loaded,
        "peak_gib": peak_rss_gib(),
    }


def run_child(mode: str, features: Path, labels: Path, env: dict) -> dict:
    command = [sys.executable, __file__, f"--child={mode}", f"--input={features}"]
    command.append(f"--labels={labels}")
    start = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if out.returncode:
        raise SystemExit(f"{mode} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    return result


def describe(name: str, r: dict) -> str:
    silhouettes = ", ".join(f"{k}: {v:.3f}" for k, v in r["silhouettes"].items())
    return (
        f"  {name:<10} {r['wall_s']:8.1f} s (start to loaded {r['until_loaded_s']:.1f} s, "
        f"clustering {r['clustering_s']:.1f} s), peak {r['peak_gib']:.2f} GiB, "
        f"K = {r['k']} (silhouette {silhouettes})"
    )


def bench_size(n: int, args, folder: Path) -> None:
    import numpy as np
    from sklearn.metrics import adjusted_rand_score

    features, truth = make_features(n, args.seed)
    path = folder / f"features-{n}.npy"
    np.save(path, features)
    print(
        f"{n:,} videos x {features.shape[1]} d ({features.nbytes / GIB:.2f} GiB float32), "
        f"{len(SHARES)} generated categories"
    )
    del features
    base_env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    cache = folder / f"numba-{n}"
    default_env = {**base_env, "NUMBA_CACHE_DIR": str(cache)}
    exact_env = {**base_env, "HLP_NUMBA_CACHE": "0"}
    labels = {}
    runs: dict[str, list[dict]] = {"exact": [], "default": []}
    first = run_child("default", path, folder / "first.npy", default_env)
    print(describe("first use", first))
    with_exact = n <= args.exact_max
    for _ in range(args.repeat):
        if with_exact:
            runs["exact"].append(run_child("exact", path, folder / "exact.npy", exact_env))
            print(describe("exact", runs["exact"][-1]))
            labels["exact"] = np.load(folder / "exact.npy")
        runs["default"].append(run_child("default", path, folder / "default.npy", default_env))
        print(describe("default", runs["default"][-1]))
        labels["default"] = np.load(folder / "default.npy")
    best = {name: min(r["wall_s"] for r in rs) for name, rs in runs.items() if rs}
    peak = {name: max(r["peak_gib"] for r in rs) for name, rs in runs.items() if rs}
    line = f"  best of {args.repeat}: default {best['default']:.1f} s, {peak['default']:.2f} GiB"
    if with_exact:
        line += (
            f"; exact {best['exact']:.1f} s, {peak['exact']:.2f} GiB; ratio "
            f"{best['exact'] / best['default']:.1f}x in time, "
            f"{peak['exact'] / peak['default']:.1f}x in memory"
        )
    print(line)
    if runs["default"][-1]["approximation"]:
        print(f"  default's approximation: {runs['default'][-1]['approximation']}")
    agreement = "  adjusted Rand index against the generated categories: default "
    agreement += f"{adjusted_rand_score(truth, labels['default']):.3f}"
    if with_exact:
        agreement += (
            f", exact {adjusted_rand_score(truth, labels['exact']):.3f}; default against "
            f"exact {adjusted_rand_score(labels['exact'], labels['default']):.3f}"
        )
        k_exact, k_default = runs["exact"][-1]["k"], runs["default"][-1]["k"]
        assert k_exact == k_default, f"K: exact {k_exact}, default {k_default}"
        agreement += f"; the same K ({k_default})"
    print(agreement)
    if n in GOALS:
        seconds, gib = GOALS[n]
        met = best["default"] <= seconds and (gib is None or peak["default"] <= gib)
        goal = f"<= {seconds:.0f} s" + (f" and <= {gib:.0f} GiB" if gib else "")
        print(f"  goal {goal}: {'met' if met else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, nargs="+", default=[12, 10_000])
    parser.add_argument("--exact-max", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--labels", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    print(
        "pseudo-categories, each run in a fresh process with the numerics pinned as in "
        "`hlp pseudo` (one thread)"
    )
    with tempfile.TemporaryDirectory(prefix="hlp-bench-") as folder:
        for n in args.videos:
            bench_size(n, args, Path(folder))


if __name__ == "__main__":
    main()
