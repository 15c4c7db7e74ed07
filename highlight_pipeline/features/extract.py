"""Extract one feature shard: every manifest video of shard k, reusing unchanged ones."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from highlight_pipeline.config import slice_hash
from highlight_pipeline.errors import VideoError
from highlight_pipeline.features.shards import (
    ShardMeta,
    VideoEntry,
    reusable_entries,
    shard_of,
    write_shard,
)
from highlight_pipeline.features.weight_free import build_weight_free
from highlight_pipeline.features.windows import window_grid

log = logging.getLogger(__name__)


def extract_shard(
    manifest: pd.DataFrame,
    shard: int,
    n_shards: int,
    feature_slice: dict,
    out: str | Path,
    progress: bool = True,
) -> ShardMeta:
    extractor = build_weight_free(feature_slice)
    config_hash = slice_hash(feature_slice)
    previous = reusable_entries(out, config_hash)
    videos = manifest[[shard_of(v, n_shards) == shard for v in manifest["video_id"]]]
    meta = ShardMeta(
        backbone=extractor.name,
        weights="weight-free",
        preprocessing=feature_slice,
        config_hash=config_hash,
    )
    entries: list[VideoEntry] = []
    reused = 0
    bar = tqdm(
        videos.itertuples(),
        total=len(videos),
        desc=f"{extractor.name} shard {shard}",
        unit="video",
        disable=not progress,
    )
    for row in bar:
        old = previous.get(row.video_id)
        if old is not None and old.fingerprint == row.fingerprint:
            entries.append(old)
            reused += 1
            continue
        grid = window_grid(
            float(row.duration), feature_slice["window_seconds"], feature_slice["stride_seconds"]
        )
        short = float(row.duration) < feature_slice["window_seconds"]
        if extractor.modality == "audio" and not _truthy(row.has_audio):
            log.warning("%s: no audio track; audio features marked missing", row.video_id)
            entries.append(
                VideoEntry(
                    row.video_id,
                    row.fingerprint,
                    np.zeros((0, extractor.dim), np.float32),
                    grid[:0, 0],
                    grid[:0, 1],
                    short=short,
                    missing=True,
                )
            )
            continue
        try:
            windows = extractor.extract(row.path, grid, float(row.duration))
        except (VideoError, ValueError) as exc:
            log.warning("%s: %s features failed: %s", row.video_id, extractor.name, exc)
            meta.failed.append({"video_id": row.video_id, "path": row.path, "reason": str(exc)})
            continue
        entries.append(
            VideoEntry(row.video_id, row.fingerprint, windows, grid[:, 0], grid[:, 1], short=short)
        )
    write_shard(out, meta, entries)
    log.info(
        "shard %d: %d videos (%d reused, %d failed)", shard, len(entries), reused, len(meta.failed)
    )
    return meta


def _truthy(value: object) -> bool:
    return str(value).strip().lower() in {"true", "1", "yes"}
