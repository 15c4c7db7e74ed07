"""HDF5 feature shards: deterministic partitions of a manifest, written atomically.

Layout of ``shard-{k}.h5``: one group per video (name = URL-quoted video_id) holding
``windows`` [N, D] float32 (saliency shards: ``maps`` [T, H, W] float16), ``start`` and
``end`` [N] seconds, and attributes
``video_id``, ``fingerprint``, ``short`` (shorter than one window, padded),
``missing`` (e.g. no audio track), ``duration`` (the seconds the file claims, the
manifest's), ``extent`` (the seconds the stream decoded; NaN where not measured, as for
saliency maps) and ``partial`` (the stream ended more than ``video.decode.END_TOLERANCE``
before ``duration``: the windows end at ``extent``, and the rest of the video has none),
``decoder`` (3: damaged packets skipped, ``video.decode``, and FFmpeg's C code,
``numerics.pin_ffmpeg``; absent in older entries)
and, where damaged packets left a hole longer than one window inside the stream, a
``gaps`` dataset ([K, 2] start/end seconds): the windows over a hole are NaN (missing),
and, where the extractor normalised each recording, a ``centre`` dataset ([D]: what it
subtracted from every window, so ``windows + centre`` are the features before it).
File attributes: ``backbone``, ``weights``, ``preprocessing`` (JSON of the config slice),
``config_hash``, ``package_version``, ``failed`` (JSON list of videos that could not be
decoded, with the reason), ``partial`` (JSON list of the partial videos: video_id, path,
extent, duration), ``gaps`` (JSON list of the videos with holes: video_id, path, gaps),
``array`` (the name of the per-video array) and ``layout`` (2: entries record their extent).

Snakemake deletes a job's outputs before it runs, so each finished shard is also
hard-linked under ``.prev/``: the next run of the same shard reuses every video whose
fingerprint and config hash match instead of recomputing it. A shard of an older layout is
not reused: its windows may hold a stream's last frame or sound past the stream's end. Nor
is an entry of an older decoder: its stream may have stopped at a damaged packet that
decoding now skips, and its sound was decoded by FFmpeg's SIMD code, whose samples differ
from the C code's (a shard never mixes the two; re-extracted once).
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import h5py
import numpy as np

from highlight_pipeline import __version__

LAYOUT = 2  # 2: per-video duration, extent and partial (no held frames past a stream's end)
#: 3: FFmpeg's C code (numerics.pin_ffmpeg); 2: damaged packets skipped, the holes they leave
#: recorded; 1: decoding stopped at a damaged packet
DECODER = 3


def shard_of(video_id: str, n_shards: int) -> int:
    """Stable shard of a video: adding a video changes the membership of one shard only."""
    return zlib.crc32(video_id.encode()) % n_shards


@dataclass
class VideoEntry:
    video_id: str
    fingerprint: str
    windows: np.ndarray
    start: np.ndarray
    end: np.ndarray
    short: bool = False
    missing: bool = False
    duration: float | None = None  # seconds the file claims (the manifest's)
    extent: float | None = None  # seconds the stream decoded (None: not measured)
    partial: bool = False  # the stream ended early: windows end at ``extent``
    # [K, 2] seconds: holes longer than a window inside the stream (its windows there: NaN)
    gaps: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    decoder: int = DECODER
    centre: np.ndarray | None = None  # [D] the per-recording centre taken off the windows


@dataclass
class ShardMeta:
    backbone: str
    weights: str
    preprocessing: dict
    config_hash: str
    failed: list[dict] = field(default_factory=list)
    array: str = "windows"  # "maps" in saliency shards
    partial: list[dict] = field(default_factory=list)  # video_id, path, extent, duration
    layout: int = LAYOUT
    gaps: list[dict] = field(default_factory=list)  # video_id, path, gaps


def previous_path(path: str | Path) -> Path:
    path = Path(path)
    return path.parent / ".prev" / path.name


def write_shard(path: str | Path, meta: ShardMeta, entries: list[VideoEntry]) -> None:
    """Write atomically (temporary file renamed into place), then refresh the .prev link."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as handle:
        handle.attrs.update(
            backbone=meta.backbone,
            weights=meta.weights,
            preprocessing=json.dumps(meta.preprocessing, sort_keys=True),
            config_hash=meta.config_hash,
            package_version=__version__,
            failed=json.dumps(meta.failed),
            partial=json.dumps(meta.partial),
            gaps=json.dumps(meta.gaps),
            array=meta.array,
            layout=LAYOUT,
        )
        for entry in entries:
            group = handle.create_group(quote(entry.video_id, safe=""))
            data = (
                entry.windows
                if entry.windows.dtype == np.float16
                else entry.windows.astype(np.float32)
            )
            group.create_dataset(meta.array, data=data, compression="gzip", shuffle=True)
            group.create_dataset("start", data=entry.start.astype(np.float64))
            group.create_dataset("end", data=entry.end.astype(np.float64))
            if len(entry.gaps):
                group.create_dataset("gaps", data=np.asarray(entry.gaps, np.float64))
            if entry.centre is not None:
                group.create_dataset("centre", data=np.asarray(entry.centre, np.float32))
            group.attrs.update(
                video_id=entry.video_id,
                fingerprint=entry.fingerprint,
                short=entry.short,
                missing=entry.missing,
                duration=_seconds_attr(entry.duration),
                extent=_seconds_attr(entry.extent),
                partial=entry.partial,
                decoder=entry.decoder,
            )
    publish_shard(tmp, path)


def publish_shard(tmp: Path, path: Path) -> None:
    """Rename a finished shard into place and refresh its ``.prev`` hard link (the copy
    the next run of the same shard reuses from)."""
    os.replace(tmp, path)
    prev = previous_path(path)
    prev.parent.mkdir(exist_ok=True)
    prev.unlink(missing_ok=True)
    try:
        os.link(path, prev)
    except OSError:  # file systems without hard links: no reuse, nothing lost
        pass


def _seconds_attr(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _seconds(attrs: h5py.AttributeManager, name: str) -> float | None:
    value = attrs.get(name)
    if value is None or not np.isfinite(value):
        return None
    return float(value)


def read_entries(path: str | Path) -> Iterator[VideoEntry]:
    with h5py.File(path, "r") as handle:
        array = str(handle.attrs.get("array", "windows"))
        for group in handle.values():
            yield VideoEntry(
                video_id=str(group.attrs["video_id"]),
                fingerprint=str(group.attrs["fingerprint"]),
                windows=group[array][()],
                start=group["start"][()],
                end=group["end"][()],
                short=bool(group.attrs["short"]),
                missing=bool(group.attrs["missing"]),
                duration=_seconds(group.attrs, "duration"),
                extent=_seconds(group.attrs, "extent"),
                partial=bool(group.attrs.get("partial", False)),
                gaps=group["gaps"][()] if "gaps" in group else np.zeros((0, 2)),
                decoder=int(group.attrs.get("decoder", 1)),
                centre=group["centre"][()] if "centre" in group else None,
            )


def read_meta(path: str | Path) -> ShardMeta:
    with h5py.File(path, "r") as handle:
        a = handle.attrs
        return ShardMeta(
            backbone=str(a["backbone"]),
            weights=str(a["weights"]),
            preprocessing=json.loads(a["preprocessing"]),
            config_hash=str(a["config_hash"]),
            failed=json.loads(a["failed"]),
            array=str(a.get("array", "windows")),
            partial=json.loads(a.get("partial", "[]")),
            layout=int(a.get("layout", 1)),
            gaps=json.loads(a.get("gaps", "[]")),
        )


def reusable_entries(path: str | Path, config_hash: str) -> dict[str, VideoEntry]:
    """Entries of the previous run of this shard, if it used the same configuration and
    the current layout; not the entries of an older decoder (module docstring)."""
    prev = previous_path(path)
    if not prev.is_file():
        return {}
    try:
        meta = read_meta(prev)
        if meta.config_hash != config_hash or meta.layout != LAYOUT:
            return {}
        return {e.video_id: e for e in read_entries(prev) if e.decoder == DECODER}
    except (OSError, KeyError, ValueError):
        return {}


def load_features(paths: list[str | Path]) -> tuple[dict[str, VideoEntry], list[dict]]:
    """All entries of a backbone's shards, and the videos the shards report as failed."""
    entries: dict[str, VideoEntry] = {}
    failed: list[dict] = []
    for path in paths:
        failed.extend(read_meta(path).failed)
        for entry in read_entries(path):
            entries[entry.video_id] = entry
    return entries, failed
