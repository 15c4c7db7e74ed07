"""How well do avph's pseudo-categories find a dataset's real categories? (issue 24)

A screen for the clustering's video-level features on development data: for each results
folder (a workflow run on a development set, e.g. ``benchmarks/avph_dev.py --keep``), the
training videos of the default split, their video-level features as the pseudo job makes
them (``pseudo.highlights.video_level_features``) or as a candidate makes them, the
clustering of the pseudo job (``pseudo.categories.choose_categories`` with the default
config's settings), and the adjusted Rand index of the pseudo-categories against the
manifest's categories (1: the same grouping; 0: no better than chance).

On the holdout recipe the default's pseudo-categories do not find the real ones (ARI -0.04
and 0.25 at seeds 1 and 2, docs/synthetic.md), and avph with the real categories is better
there (0.618 → 0.751 at seed 1). A screen, not a decision: decide with
``benchmarks/avph_dev.py``, which runs the workflow. Never run it on a reported dataset.

    python benchmarks/clustering_dev.py /tmp/hlp-avph-dev-*/ours-*/results
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from highlight_pipeline.numerics import pin_numerics

pin_numerics(1)  # as the pseudo job: before numpy loads

import numpy as np  # noqa: E402
import yaml  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

from highlight_pipeline.features.clip_features import load_clip_features, read_clips  # noqa: E402
from highlight_pipeline.manifest import read_manifest  # noqa: E402
from highlight_pipeline.methods.inputs import split_map  # noqa: E402
from highlight_pipeline.pseudo.categories import choose_categories  # noqa: E402
from highlight_pipeline.pseudo.highlights import video_level_features  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PSEUDO = yaml.safe_load((REPO / "config.yaml").read_text())["pseudo"]


def load(results: Path) -> dict:
    """The training videos of the one dataset under ``results``, their clip features and
    real categories."""
    (dataset,) = [p.parent.name for p in results.glob("*/manifest.csv")]
    root = results / dataset
    clips = read_clips(root / "clips.csv")
    features = {
        modality: load_clip_features(
            sorted(map(str, (root / "features" / name).glob("*.h5"))), clips
        )
        for modality, name in (("visual", "colormotion"), ("audio", "logmel"))
    }
    split = split_map(str(root / "manifest.csv"), str(root / "splits.csv"), "default")
    visual = features["visual"]
    videos = sorted(
        v for v in visual.by_video if split.get(v) == "train" and visual.by_video[v] is not None
    )
    manifest = read_manifest(root / "manifest.csv")
    real = dict(zip(manifest["video_id"], manifest["category"], strict=True))
    return {
        "name": f"{dataset} ({results.parent.name})",
        "videos": videos,
        "features": features,
        "real": [real[v] for v in videos],
    }


def current(data: dict) -> np.ndarray:
    return video_level_features(
        data["videos"], data["features"]["visual"], data["features"]["audio"]
    )[0]


def centred(data: dict) -> np.ndarray:
    """The means after each extractor's per-recording centring (the pseudo job's features
    before ``colormotion`` version 4 kept the median window it takes off)."""
    visual, audio = (replace(data["features"][m], centres={}) for m in ("visual", "audio"))
    return video_level_features(data["videos"], visual, audio)[0]


def _means(data: dict, modality: str, stat=np.mean) -> np.ndarray:
    f = data["features"][modality]
    return np.stack([stat(f.by_video[v], axis=0) for v in data["videos"]])


def visual_only(data: dict) -> np.ndarray:
    return _means(data, "visual")


def audio_only(data: dict) -> np.ndarray:
    return _means(data, "audio")


def spread(data: dict) -> np.ndarray:
    """Per video, the mean and the standard deviation of each clip feature."""
    return np.concatenate(
        [_means(data, m, s) for m in ("visual", "audio") for s in (np.mean, np.std)], axis=1
    )


def _weighed_equally(blocks: list[np.ndarray]) -> np.ndarray:
    """Each block standardised, then scaled to the same total variance."""
    out = []
    for x in blocks:
        x = (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1)
        out.append(x / np.sqrt(x.shape[1]))
    return np.concatenate(out, axis=1)


def blocks_equal(data: dict) -> np.ndarray:
    """Each modality's centred means standardised, then scaled to the same total variance."""
    return _weighed_equally([_means(data, m) for m in ("visual", "audio")])


def looks_equal(data: dict) -> np.ndarray:
    """As :func:`blocks_equal`, on the means the pseudo job clusters (each video's visual
    mean before its per-recording centring, ``ClipFeatures.video_mean``)."""
    features = [data["features"][m] for m in ("visual", "audio")]
    return _weighed_equally([np.stack([f.video_mean(v) for v in data["videos"]]) for f in features])


def _outstanding(x: np.ndarray, share: float) -> np.ndarray:
    """Mean of the ``share`` of a video's clips farthest from its median clip."""
    norms = np.linalg.norm(x - np.median(x, axis=0), axis=1)
    keep = np.argsort(-norms)[: max(1, int(round(share * len(x))))]
    return x[keep].mean(axis=0)


def outstanding(share: float, modalities=("visual", "audio")):
    """Per video, the mean of its clips that stand out most (the events, and the loud or
    fast distractors) in each modality."""

    def make(data: dict) -> np.ndarray:
        return np.concatenate(
            [_means(data, m, lambda x, axis: _outstanding(x, share)) for m in modalities], axis=1
        )

    return make


def maxpool(data: dict) -> np.ndarray:
    return np.concatenate([_means(data, m, np.max) for m in ("visual", "audio")], axis=1)


def with_settings(make, **settings):
    """A candidate that changes the clustering's settings (``pseudo.*``), not the features."""

    def candidate(data: dict):
        return make(data), settings

    return candidate


CANDIDATES = {
    "current": current,
    "centred means": centred,
    "visual means": visual_only,
    "audio means": audio_only,
    "means and spreads": spread,
    "modalities weighed equally": blocks_equal,
    "looks and audio weighed equally": looks_equal,
    "outstanding 25%": outstanding(0.25),
    "outstanding 10%": outstanding(0.10),
    "outstanding 25% visual": outstanding(0.25, ("visual",)),
    "outstanding 25% audio": outstanding(0.25, ("audio",)),
    "max over clips": maxpool,
    "current, 3 neighbours": with_settings(current, umap_neighbors=3),
    "current, 5 neighbours": with_settings(current, umap_neighbors=5),
    "current, n/3 neighbours": with_settings(current, umap_neighbors=lambda n: max(2, n // 3)),
    "current, 2 dims": with_settings(current, umap_dims=2),
}


def ari(data: dict, make) -> tuple[float, int]:
    made = make(data)
    x, changed = made if isinstance(made, tuple) else (made, {})
    pseudo = {**PSEUDO, **changed}
    neighbours = pseudo["umap_neighbors"]
    if callable(neighbours):
        neighbours = neighbours(len(x))
    dims, k_min, k_max, seed = (pseudo[k] for k in ("umap_dims", "k_min", "k_max", "seed"))
    clustering = choose_categories(x, dims, neighbours, k_min, k_max, seed)
    return adjusted_rand_score(data["real"], clustering.labels), clustering.k


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="+", type=Path, help="results folders of dev runs")
    parser.add_argument("--only", nargs="*", help="candidates to run (default: all)")
    args = parser.parse_args()
    sets = [load(r) for r in args.results]
    print(f"{'candidate':28s}" + "".join(f"{d['name'][:30]:>32s}" for d in sets))
    for name in args.only or CANDIDATES:
        cells = [ari(d, CANDIDATES[name]) for d in sets]
        print(f"{name:28s}" + "".join(f"{a:27.2f} (K={k})" for a, k in cells), flush=True)


if __name__ == "__main__":
    main()
