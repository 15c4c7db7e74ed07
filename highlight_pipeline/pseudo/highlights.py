"""AV pseudo-highlights of a dataset's training videos: categories.csv and highlights.h5."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import h5py
import numpy as np
import pandas as pd

from highlight_pipeline.features.clip_features import ClipFeatures
from highlight_pipeline.pseudo.categories import choose_categories
from highlight_pipeline.pseudo.recurrence import (
    combine_modalities,
    recurrence_scores,
    top_fraction_labels,
)


@dataclass
class PseudoHighlight:
    visual: np.ndarray
    audio: np.ndarray  # NaN where the video has no audio
    av: np.ndarray
    label: np.ndarray
    category: int


def video_level_features(
    videos: list[str], visual: ClipFeatures, audio: ClipFeatures
) -> np.ndarray:
    """Mean clip feature per modality, concatenated; a missing audio mean is imputed."""
    v = np.stack([visual.by_video[x].mean(axis=0) for x in videos])
    audio_means = {
        x: audio.by_video[x].mean(axis=0) for x in videos if audio.by_video.get(x) is not None
    }
    fallback = np.mean(list(audio_means.values()), axis=0) if audio_means else np.zeros(audio.dim)
    a = np.stack([audio_means.get(x, fallback) for x in videos])
    return np.concatenate([v, a], axis=1)


def compute_pseudo_highlights(
    videos: list[str], visual: ClipFeatures, audio: ClipFeatures, pseudo_slice: dict
) -> tuple[pd.DataFrame, dict[str, PseudoHighlight], dict]:
    clustering = choose_categories(
        video_level_features(videos, visual, audio),
        pseudo_slice["umap_dims"],
        pseudo_slice["umap_neighbors"],
        pseudo_slice["k_min"],
        pseudo_slice["k_max"],
        pseudo_slice["seed"],
    )
    category_of = dict(zip(videos, clustering.labels.tolist(), strict=True))
    similarity = pseudo_slice["similarity"]

    def per_clip_scores(features: ClipFeatures, members: list[str]) -> dict[str, np.ndarray]:
        if not members:
            return {}
        stacked = np.concatenate([features.by_video[x] for x in members])
        group = np.concatenate(
            [np.full(len(features.by_video[x]), category_of[x]) for x in members]
        )
        scores = recurrence_scores(stacked, group, similarity)
        bounds = np.cumsum([0] + [len(features.by_video[x]) for x in members])
        return {x: scores[bounds[i] : bounds[i + 1]] for i, x in enumerate(members)}

    visual_scores = per_clip_scores(visual, videos)
    audio_scores = per_clip_scores(audio, [x for x in videos if audio.by_video.get(x) is not None])
    result: dict[str, PseudoHighlight] = {}
    for x in videos:
        a = audio_scores.get(x)
        av = combine_modalities(visual_scores[x], a)
        result[x] = PseudoHighlight(
            visual=visual_scores[x],
            audio=a if a is not None else np.full(len(av), np.nan),
            av=av,
            label=top_fraction_labels(av, pseudo_slice["top_fraction"]),
            category=category_of[x],
        )
    categories = pd.DataFrame({"video_id": videos, "pseudo_category": clustering.labels})
    summary = {"k": clustering.k, "silhouette": clustering.silhouettes}
    return categories, result, summary


def write_pseudo_highlights(
    path: str | Path, pseudo: dict[str, PseudoHighlight], attrs: dict
) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as handle:
        handle.attrs.update({k: json.dumps(v) for k, v in attrs.items()})
        for video_id, ph in pseudo.items():
            group = handle.create_group(quote(video_id, safe=""))
            group.attrs.update(video_id=video_id, pseudo_category=ph.category)
            for name in ("visual", "audio", "av", "label"):
                group.create_dataset(name, data=getattr(ph, name))
    os.replace(tmp, path)


def read_pseudo_highlights(path: str | Path) -> dict[str, PseudoHighlight]:
    out: dict[str, PseudoHighlight] = {}
    with h5py.File(path, "r") as handle:
        for group in handle.values():
            out[str(group.attrs["video_id"])] = PseudoHighlight(
                visual=group["visual"][()],
                audio=group["audio"][()],
                av=group["av"][()],
                label=group["label"][()],
                category=int(group.attrs["pseudo_category"]),
            )
    return out
