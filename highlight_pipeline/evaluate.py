"""Evaluate one run's predictions on a split with the dataset's protocol; write metrics JSON.

Per protocol (the registry :data:`highlight_pipeline.metrics.PROTOCOLS`, docs/protocols.md):
``youtube-map``, ``tvsum-top5-median`` and ``tvsum-top5-top50`` are computed
per category (domain) and averaged over categories, as the papers report them;
``qvhighlights-hl`` over all queries (column ``all``), with HIT@1 and the Fair/Good
thresholds as secondary metrics.

Clips without a score. A video whose stream ended early is scored on its leading clips only
(``methods.inputs``): the predictions hold no score (null, read as NaN) for the clips past
the cut. Evaluation (:mod:`highlight_pipeline.scoring`) takes each video over its scored
clips only, as if the video ended there: unscored clips count neither as scored nor as
negatives, and no score is made up for them. A video with no scored clip is left out. The
log says which videos were cut and by how much, and the metrics JSON lists them
(``unscored_clips``: video -> [scored, clips]). Unscored clips must be the last ones of a
video; a missing score between scored clips is an error. (A method that reads no features,
the random baseline, scores every clip.)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from highlight_pipeline.atomic import write_text_atomic
from highlight_pipeline.errors import DatasetError
from highlight_pipeline.features.clip_features import read_clips
from highlight_pipeline.hashing import slice_hash
from highlight_pipeline.manifest import read_manifest
from highlight_pipeline.provenance import provenance
from highlight_pipeline.pseudo.quality import pseudo_quality

# The protocol scoring lives in scoring.py (below this module and pseudo/quality.py); its
# names stay importable from here.
from highlight_pipeline.scoring import _by_category as _by_category
from highlight_pipeline.scoring import clip_truth as clip_truth
from highlight_pipeline.scoring import protocol_metric as protocol_metric
from highlight_pipeline.scoring import protocol_scores as protocol_scores
from highlight_pipeline.scoring import scored_clips as scored_clips
from highlight_pipeline.scoring import unscored_clips as unscored_clips


def evaluate_run(
    predictions: dict[str, np.ndarray],
    clips_path: str | Path,
    manifest_path: str | Path,
    protocol: str,
    splits: dict[str, str],
    eval_split: str,
    run: dict,
    method_slice: dict,
    pseudo_path: str | Path | None = None,
    devices: dict | None = None,
    also: list[str] | tuple[str, ...] = (),
) -> dict:
    """The run's metrics; with ``pseudo_path`` (the pseudo-labels the run learnt from) also
    their quality on the training videos (:mod:`highlight_pipeline.pseudo.quality`); with
    ``devices`` (what trained and scored the run, ``hlp score --devices``) the device that
    trained it and its name (:func:`highlight_pipeline.provenance.provenance`); with
    ``also``, the same predictions scored with other protocols too (``also_scored``: the
    random baseline beside rows whose paper scores another way)."""
    metric = protocol_metric(protocol)
    manifest = read_manifest(manifest_path)
    chosen = [v for v, s in splits.items() if s == eval_split]
    videos = manifest[manifest["video_id"].isin(chosen) & manifest["video_id"].isin(predictions)]
    if videos.empty:
        raise DatasetError(f"no predicted video in split {eval_split!r}")
    clips = read_clips(clips_path)
    per_category, average, secondary = protocol_scores(protocol, predictions, clips, videos)
    also_scored = []
    for other in dict.fromkeys(p for p in also if p != protocol):
        other_categories, other_average, other_secondary = protocol_scores(
            other, predictions, clips, videos
        )
        also_scored.append(
            {
                "protocol": other,
                "metric": protocol_metric(other),
                "per_category": other_categories,
                "average": other_average,
                "secondary": other_secondary,
            }
        )
    unscored = unscored_clips(predictions, list(videos["video_id"]))
    quality = None
    if pseudo_path is not None:
        quality = pseudo_quality(str(pseudo_path), clips, manifest, protocol, run.get("seed", 0))
    return {
        **run,
        "protocol": protocol,
        "metric": metric,
        "eval_split": eval_split,
        "per_category": per_category,
        "average": average,
        "secondary": secondary,
        "also_scored": also_scored,
        "n_videos": len(videos) - sum(1 for n, _ in unscored.values() if n == 0),
        "unscored_clips": {v: list(c) for v, c in sorted(unscored.items())},
        "pseudo_quality": quality,
        "config_slice": method_slice,
        "config_hash": slice_hash(method_slice),
        **provenance(devices=devices),
    }


def write_metrics(path: str | Path, metrics: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(metrics, indent=2, sort_keys=True) + "\n")
