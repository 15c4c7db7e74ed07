"""Pseudo-highlights of a dataset's training videos: categories.csv, highlights.h5 and the
fitted category model (``category_model.h5``, ``pseudo/category_model.py``) that scores
videos the clustering never saw.

Settings (``config.pseudo`` after a variant's overlay): ``modalities`` (the clustering and
the recurrence use these; AV-PH Table 6 uses one), ``categories`` (``pseudo``: UMAP +
K-means; ``real``: the dataset's own, Table 10), ``similarity`` (cosine or Pearson, Table 7),
``top_fraction`` (t), the UMAP and K-means settings and their seed, the clustering's
approximations for many videos (``cluster_sample`` etc., pseudo/categories.py; what a result
used is in highlights.h5's ``clustering`` attribute) and ``recurrence`` (pseudo/recurrence.py).

Per clip the file holds the recurrence score of each modality (NaN where a modality is not
used or missing), their AV average, and the top-t labels of each of the three scores
(``label_av``, ``label_visual``, ``label_audio``; -1 where the score is missing), so AV-PH,
V-PH and A-PH training (Table 5) read one file.

A stream that ended early (``features.clip_features``: a partial modality has features for
a video's leading clips only) has no score on the clips past its end: NaN, label -1. The AV
score exists where every used modality the video has exists (a video without sound at all
uses its visual score, as before), so no pseudo-highlight comes from a clip whose sound is
missing; the top t% are chosen among the clips that have the score.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import h5py
import numpy as np
import pandas as pd

from highlight_pipeline.errors import DatasetError
from highlight_pipeline.features.clip_features import ClipFeatures
from highlight_pipeline.pseudo.categories import Clustering, choose_categories
from highlight_pipeline.pseudo.category_model import CategoryModel
from highlight_pipeline.pseudo.recurrence import (
    combine_modalities,
    recurrence_of_blocks,
    recurrence_with_means,
    top_fraction_labels,
)

TARGETS = ("av", "visual", "audio")
#: The clustering's approximations and their value in a slice that lacks them (the exact
#: computation; the schema's defaults sample above 2,000 videos, see pseudo/categories.py).
APPROXIMATIONS = {
    "cluster_sample": 0,
    "sample_pca_dims": 0,
    "sample_umap_epochs": 0,
    "silhouette_sample": 0,
}


@dataclass
class PseudoHighlight:
    visual: np.ndarray  # NaN where the visual modality is not used
    audio: np.ndarray  # NaN where the video has no audio (or audio is not used)
    av: np.ndarray
    label: np.ndarray  # the AV pseudo-highlights, 0/1 (labels["av"] says -1 where missing)
    category: int
    labels: dict[str, np.ndarray] = field(default_factory=dict)  # target -> 0/1, -1 missing

    def target(self, name: str) -> np.ndarray:
        """Binary pseudo-highlights of ``name`` (av, visual, audio); -1 where missing."""
        if name == "av" and "av" not in self.labels:
            return self.label
        return self.labels[name]

    def head(self, n: int) -> PseudoHighlight:
        """The first ``n`` clips (a video cut to the clips a run has every input of)."""
        return PseudoHighlight(
            visual=self.visual[:n],
            audio=self.audio[:n],
            av=self.av[:n],
            label=self.label[:n],
            category=self.category,
            labels={t: x[:n] for t, x in self.labels.items()},
        )


def video_level_features(
    videos: list[str], visual: ClipFeatures | None, audio: ClipFeatures | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean clip feature per used modality, concatenated; a missing audio mean is imputed
    with the mean of the others (for the clustering only). Returns (features, imputed).

    A mean is taken before the extractor's per-recording centring
    (:meth:`ClipFeatures.video_mean`; ``colormotion`` takes each video's median window off
    its windows): the centring serves the recurrence inside a category, where it removes
    each recording's look, but the look (a venue's colours, a sport's field) is what tells
    categories apart, and the paper clusters the backbone's features as they come. On the
    eight holdout development sets this raised the pseudo-categories' adjusted Rand index
    against the real categories from 0.22 to 0.37 on average, and avph's mAP on the ten
    development sets from 0.597 to 0.668 (docs/synthetic.md).

    The means are written into the result in place: no stacked copies of them."""
    columns = []  # (width, mean clip feature of a video) per used modality
    fallback = None
    if visual is not None:
        columns.append((visual.dim, visual.video_mean))
    if audio is not None:
        means = {x: audio.video_mean(x) for x in videos if audio.by_video.get(x) is not None}
        fallback = np.mean(list(means.values()), axis=0) if means else np.zeros(audio.dim)
        columns.append((audio.dim, lambda x: means.get(x, fallback)))
    first = [mean_of(videos[0]) for _, mean_of in columns] if videos else []
    out = np.empty((len(videos), sum(w for w, _ in columns)), np.result_type(np.float32, *first))
    for i, x in enumerate(videos):
        start = 0
        for width, mean_of in columns:
            out[i, start : start + width] = mean_of(x)
            start += width
    return out, fallback


def compute_pseudo_highlights(
    videos: list[str],
    features: dict[str, ClipFeatures],
    pseudo_slice: dict,
    real_categories: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, dict[str, PseudoHighlight], dict, CategoryModel]:
    """Pseudo-highlights of ``videos`` from the modalities of ``pseudo_slice``.

    ``features`` maps a modality to its clip features; ``real_categories`` (video_id ->
    category) is needed with ``categories: real``. A video without the features of an
    audio-only run is left out."""
    modalities = list(pseudo_slice["modalities"])
    visual = features.get("visual") if "visual" in modalities else None
    audio = features.get("audio") if "audio" in modalities else None
    if modalities == ["audio"]:
        videos = [x for x in videos if audio.by_video.get(x) is not None]
    if not videos:
        raise DatasetError("no training video has the features the pseudo-labels need")
    video_features, fallback = video_level_features(videos, visual, audio)
    names: list[str] = []
    clustering: Clustering | None = None
    if pseudo_slice.get("categories", "pseudo") == "real":
        given = [str((real_categories or {}).get(x, "")) for x in videos]
        if not any(given):
            raise DatasetError(
                "pseudo.categories: real needs the dataset's categories, and its videos have "
                "none (the manifest's category column is empty)"
            )
        names = sorted(set(given))
        labels = np.array([names.index(c) for c in given], dtype=np.int64)
        summary = {"k": len(names), "categories": "real", "names": names}
    else:
        clustering = choose_categories(
            video_features,
            pseudo_slice["umap_dims"],
            pseudo_slice["umap_neighbors"],
            pseudo_slice["k_min"],
            pseudo_slice["k_max"],
            pseudo_slice["seed"],
            **{key: pseudo_slice.get(key, value) for key, value in APPROXIMATIONS.items()},
        )
        labels = clustering.labels
        summary = {"k": clustering.k, "categories": "pseudo", "silhouette": clustering.silhouettes}
        if clustering.approximation:  # what was sampled, in the provenance of highlights.h5
            summary["approximation"] = clustering.approximation
    category_of = dict(zip(videos, labels.tolist(), strict=True))
    similarity = pseudo_slice["similarity"]
    n_groups = int(labels.max()) + 1
    means: dict[str, np.ndarray] = {}

    def per_clip_scores(modality: str, found: ClipFeatures) -> dict[str, np.ndarray]:
        members = [x for x in videos if found.by_video.get(x) is not None]
        if not members:
            return {}
        if pseudo_slice.get("recurrence", "chunked") == "chunked":  # in place, no copy
            blocks = [found.by_video[x] for x in members]
            per_video, ids, group_means = recurrence_of_blocks(
                blocks, [category_of[x] for x in members], similarity
            )
            means[modality] = np.zeros((n_groups, group_means.shape[1]))
            means[modality][ids] = group_means
            return dict(zip(members, per_video, strict=True))
        stacked = np.concatenate([found.by_video[x] for x in members])
        group = np.concatenate([np.full(len(found.by_video[x]), category_of[x]) for x in members])
        scores, ids, group_means = recurrence_with_means(stacked, group, similarity, "exact")
        means[modality] = np.zeros((n_groups, stacked.shape[1]))  # a group may lack this modality
        means[modality][ids] = group_means
        bounds = np.cumsum([0] + [len(found.by_video[x]) for x in members])
        return {x: scores[bounds[i] : bounds[i + 1]] for i, x in enumerate(members)}

    visual_scores = per_clip_scores("visual", visual) if visual is not None else {}
    audio_scores = per_clip_scores("audio", audio) if audio is not None else {}
    reference = visual if visual is not None else audio
    t = pseudo_slice["top_fraction"]
    result: dict[str, PseudoHighlight] = {}
    for x in videos:
        n = reference.clip_count(x)
        if audio is not None and audio.by_video.get(x) is not None:
            n = max(n, audio.clip_count(x))
        v, a = _to_length(visual_scores.get(x), n), _to_length(audio_scores.get(x), n)
        av = combine_modalities(v, a) if v is not None else a.copy()  # NaN where one ended
        missing = np.full(n, -1, dtype=np.int8)
        labels_of = {
            "av": _top_labels(av, t),
            "visual": _top_labels(v, t) if v is not None else missing,
            "audio": _top_labels(a, t) if a is not None else missing,
        }
        result[x] = PseudoHighlight(
            visual=v if v is not None else np.full(n, np.nan),
            audio=a if a is not None else np.full(n, np.nan),
            av=av,
            label=(labels_of["av"] == 1).astype(np.uint8),  # 0 also where missing
            category=category_of[x],
            labels=labels_of,
        )
    categories = pd.DataFrame({"video_id": videos, "pseudo_category": labels})
    model = CategoryModel(
        modalities, similarity, "real" if names else "pseudo", clustering, names, means, fallback
    )
    return categories, result, summary, model


def _to_length(scores: np.ndarray | None, n: int) -> np.ndarray | None:
    """Scores of a video's leading clips, NaN on the clips past its stream's end."""
    if scores is None or len(scores) == n:
        return scores
    out = np.full(n, np.nan)
    out[: len(scores)] = scores
    return out


def _top_labels(scores: np.ndarray, fraction: float) -> np.ndarray:
    """Top-``fraction`` labels among the clips that have a score; -1 on the others."""
    labels = np.full(len(scores), -1, dtype=np.int8)
    scored = np.isfinite(scores)
    if scored.any():
        labels[scored] = top_fraction_labels(scores[scored], fraction)
    return labels


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
            for target, labels in ph.labels.items():
                group.create_dataset(f"label_{target}", data=labels)
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
                labels={t: group[f"label_{t}"][()] for t in TARGETS if f"label_{t}" in group},
            )
    return out
