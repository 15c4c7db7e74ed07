"""``hlp pseudo``: a run's pseudo-labels from a dataset's files, written to its three outputs.

The training videos (of the split scheme, and of the run's seeded training subset where the
pseudo slice has one, ``training_subset``) with features of the reference modality (visual,
else audio) are clustered and scored (``pseudo/highlights.py``); categories.csv,
highlights.h5 and category_model.h5 are written.
"""

from __future__ import annotations

import logging
from pathlib import Path

from highlight_pipeline.atomic import atomic_output
from highlight_pipeline.errors import PipelineError
from highlight_pipeline.features.clip_features import load_clip_features, read_clips
from highlight_pipeline.manifest import read_manifest
from highlight_pipeline.methods.inputs import InputFiles, training_subset
from highlight_pipeline.pseudo.category_model import write_category_model
from highlight_pipeline.pseudo.highlights import compute_pseudo_highlights, write_pseudo_highlights

log = logging.getLogger("hlp")  # the command's console lines, under the name `hlp` gives them


def write_pseudo_labels(
    files: InputFiles,
    pseudo_slice: dict,
    categories_out: str | Path,
    highlights_out: str | Path,
    category_model_out: str | Path,
) -> tuple[int, dict]:
    """Pseudo-categories and pseudo-highlights of the training videos of ``files`` under
    ``pseudo_slice`` (its ``modalities`` need their shards in ``files.features``). Returns
    how many videos have pseudo-highlights and the clustering's summary (its ``k``)."""
    clips = read_clips(files.clips)
    features = {}
    for modality in ("visual", "audio"):
        if files.features.get(modality):
            features[modality] = load_clip_features(files.features[modality], clips)
    missing = set(pseudo_slice["modalities"]) - set(features)
    if missing:
        raise PipelineError(f"hlp pseudo: the settings use {sorted(missing)}: pass their shards")
    train = {v for v, s in files.split_of().items() if s == "train"}
    reference = features["visual"] if "visual" in features else features["audio"]
    videos = [v for v in reference.by_video if v in train and reference.by_video[v] is not None]
    subset = pseudo_slice.get("training_subset")
    if subset:
        videos = training_subset(videos, subset["fraction"], subset["seed"])
        log.info("training subset: %d videos (%s of the training split)", len(videos), subset)
    manifest = read_manifest(files.manifest)
    real = dict(zip(manifest["video_id"], manifest["category"], strict=True))
    categories, pseudo, summary, model = compute_pseudo_highlights(
        videos, features, pseudo_slice, real
    )
    with atomic_output(categories_out) as tmp:
        categories.to_csv(tmp, index=False)
    write_pseudo_highlights(
        highlights_out, pseudo, {"config_slice": pseudo_slice, "clustering": summary}
    )
    write_category_model(category_model_out, model)
    return len(pseudo), summary
