"""Extract one feature shard: every manifest video of shard k, reusing unchanged ones.

A video whose stream ends before the duration its file claims (a truncated file, a sound
track shorter than the picture) keeps the features of what decoded: the entry is marked
``partial`` with the decoded ``extent``, the rest of the video has no features of this
modality, and the job says so in one line per video on the console (stdout) and in its
log (a rerun that reuses the entry says it again). Likewise a video where damaged packets
left a hole longer than one window inside a stream: the entry lists the holes (``gaps``),
its windows over them are missing (NaN), and the job says so in one line per video.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from highlight_pipeline.errors import ConfigError, VideoError
from highlight_pipeline.features.extractors import get_extractor
from highlight_pipeline.features.shards import (
    ShardMeta,
    VideoEntry,
    reusable_entries,
    shard_of,
    write_shard,
)
from highlight_pipeline.hashing import slice_hash

log = logging.getLogger(__name__)


def build_extractor(feature_slice: dict, runtime: dict | None = None):
    """The extractor ``feature_slice`` names (the registry, features/extractors.py); a
    published network also takes ``runtime`` (weights_dir, weights, device, amp,
    batch_size, cuda)."""
    try:
        spec = get_extractor(feature_slice["extractor"])
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return spec.build(feature_slice, runtime)


def reuse_key(feature_slice: dict, described: dict) -> dict:
    """What a shard's entries must share to be reused: the slice, the weights (a
    checkpoint's sha256, or random-init) and, for a network that ran on a GPU, the kind of
    device (float32 on a GPU differs from the CPU in the last bits). On the CPU the key is
    what it was before devices entered it, so existing CPU caches stay valid; switching
    between the CPU and a GPU re-extracts a shard instead of mixing the two in it."""
    key = {**feature_slice, "weights": described["weights"]}
    device = str(described.get("device", "cpu")).split(":")[0]
    if device != "cpu":
        key["device"] = device
    return key


def extract_shard(
    manifest: pd.DataFrame,
    shard: int,
    n_shards: int,
    feature_slice: dict,
    out: str | Path,
    progress: bool = True,
    runtime: dict | None = None,
    console: Callable[[str], None] | None = None,
) -> ShardMeta:
    """Extract (or reuse) every video of shard ``shard`` into ``out``. ``console`` prints
    the one-line notice of each partial video (default: stdout)."""
    console = console or _print
    extractor = build_extractor(feature_slice, runtime)
    described = extractor.describe()
    config_hash = slice_hash(reuse_key(feature_slice, described))
    previous = reusable_entries(out, config_hash)
    videos = manifest[[shard_of(v, n_shards) == shard for v in manifest["video_id"]]]
    meta = ShardMeta(
        backbone=extractor.name,
        weights=described["weights"],
        preprocessing={"slice": feature_slice, **described},
        config_hash=config_hash,
        array="maps" if extractor.modality == "saliency" else "windows",
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
            _note_partial(old, row, extractor, meta, console)
            _note_gaps(old, row, extractor, meta, console)
            continue
        if extractor.modality == "audio" and not _truthy(row.has_audio):
            log.warning("%s: no audio track; audio features marked missing", row.video_id)
            empty = np.zeros(0)
            entries.append(
                VideoEntry(
                    row.video_id,
                    row.fingerprint,
                    np.zeros((0, extractor.dim), np.float32),
                    empty,
                    empty,
                    missing=True,
                    duration=float(row.duration),
                    extent=0.0,
                )
            )
            continue
        try:
            found = extractor.extract(row.path, row)
        except (VideoError, ValueError) as exc:
            log.warning("%s: %s features failed: %s", row.video_id, extractor.name, exc)
            meta.failed.append({"video_id": row.video_id, "path": row.path, "reason": str(exc)})
            continue
        if found.short:
            log.warning("%s: shorter than one window; padded and flagged short", row.video_id)
        entry = VideoEntry(
            row.video_id,
            row.fingerprint,
            found.windows,
            found.grid[:, 0],
            found.grid[:, 1],
            short=found.short,
            duration=float(row.duration),
            extent=found.extent,
            partial=found.partial,
            gaps=found.gaps,
            centre=found.centre,
        )
        entries.append(entry)
        _note_partial(entry, row, extractor, meta, console)
        _note_gaps(entry, row, extractor, meta, console)
    write_shard(out, meta, entries)
    log.info(
        "shard %d: %d videos (%d reused, %d failed, %d partial)",
        shard,
        len(entries),
        reused,
        len(meta.failed),
        len(meta.partial),
    )
    return meta


def partial_notice(path: str, modality: str, name: str, extent: float, duration: float) -> str:
    """The one line that reports a stream ending early."""
    return (
        f"partial: {path}: the {modality} stream ends at {extent:.2f} s of the {duration:.2f} s "
        f"the file claims; {name} features end there and the rest is marked missing"
    )


def _note_partial(entry: VideoEntry, row, extractor, meta: ShardMeta, console) -> None:
    if not entry.partial or entry.extent is None:
        return
    duration = entry.duration if entry.duration is not None else float(row.duration)
    meta.partial.append(
        {
            "video_id": entry.video_id,
            "path": str(row.path),
            "extent": round(entry.extent, 3),
            "duration": round(duration, 3),
        }
    )
    line = partial_notice(str(row.path), extractor.modality, extractor.name, entry.extent, duration)
    log.warning("%s: %s", entry.video_id, line)
    console(line)


def gaps_notice(path: str, modality: str, name: str, gaps) -> str:
    """The one line that reports the holes damaged packets left inside a stream."""
    spans = ", ".join(f"{a:.2f}-{b:.2f} s" for a, b in gaps)
    return (
        f"gaps: {path}: the {modality} stream has no data at {spans} (damaged packets); "
        f"{name} windows over {'it' if len(gaps) == 1 else 'them'} are marked missing"
    )


def _note_gaps(entry: VideoEntry, row, extractor, meta: ShardMeta, console) -> None:
    if not len(entry.gaps):
        return
    spans = [[round(float(a), 3), round(float(b), 3)] for a, b in entry.gaps]
    meta.gaps.append({"video_id": entry.video_id, "path": str(row.path), "gaps": spans})
    line = gaps_notice(str(row.path), extractor.modality, extractor.name, entry.gaps)
    log.warning("%s: %s", entry.video_id, line)
    console(line)


def _print(line: str) -> None:
    print(line, flush=True)


def _truthy(value: object) -> bool:
    return str(value).strip().lower() in {"true", "1", "yes"}
