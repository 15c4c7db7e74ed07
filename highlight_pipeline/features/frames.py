"""Frame caches for pld: each video's frames decoded once, at pld's frame rate and training
resolution, into HDF5 shards beside the feature shards.

pld learns from pixels and reads many windows of many frames, many times: decoding the
videos again every epoch would make a CPU run decode-bound. ``hlp frames`` (rule
``frames``) decodes each video of a shard once and streams its frames into the shard, so
neither the job nor the reader ever holds a whole video in memory.

Layout of ``results/{dataset}/frames/{frames_id}/shard-{k}.h5`` (``frames_id`` =
``{fps}fps-{height}x{width}``, :func:`highlight_pipeline.runs.frames_id`): one group per
video (URL-quoted id) with

* ``frames`` [T, H, W, 3] uint8 RGB, as a player shows them (rotation applied), chunked
  by ``CHUNK_FRAMES`` frames and compressed with LZF (fast to read back);
* ``time`` [T] seconds of each frame, at ``1/fps`` steps from 0;
* attributes ``video_id``, ``fingerprint``, ``duration`` (the manifest's), ``extent``
  (seconds decoded: the last frame's time + 1/fps) and ``partial`` (the picture ended more
  than ``END_TOLERANCE`` before ``duration``: frames stop there, none is held or repeated).

File attributes as in the feature shards (``features.shards``): ``backbone`` ("frames"),
``preprocessing`` (the slice), ``config_hash``, ``failed``, ``partial``, ``layout``. The
shard is written to a temporary file renamed into place, then hard-linked under ``.prev/``
so that the next run of the same shard copies every video whose fingerprint and slice are
unchanged (HDF5 group copy, no decode) instead of decoding it again.

Memory: a writer holds one decode batch (``BATCH`` frames); a reader holds the frames of
the windows it was asked for (:meth:`FrameSource.read`, :meth:`FrameSource.iter_blocks`;
:class:`FrameFiles` reads the same with the files kept open, for pld's reader thread,
``features/frame_feed.py``).
At the paper's 384x224 a frame is 258 KB, so a 32-frame window is 8.3 MB whatever the
video's length.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import h5py
import numpy as np
import pandas as pd
from tqdm import tqdm

from highlight_pipeline import __version__
from highlight_pipeline.errors import VideoError
from highlight_pipeline.features.shards import previous_path, publish_shard, shard_of
from highlight_pipeline.hashing import slice_hash
from highlight_pipeline.video.decode import END_TOLERANCE, StreamExtent, iter_frame_batches

log = logging.getLogger(__name__)

LAYOUT = 1
CHUNK_FRAMES = 8
BATCH = 32  # frames per decode batch (what a writer holds)


def write_frame_shard(
    manifest: pd.DataFrame,
    shard: int,
    n_shards: int,
    frames_slice: dict,
    out: str | Path,
    progress: bool = True,
    console: Callable[[str], None] | None = None,
) -> dict:
    """Decode (or copy from the previous run) every video of shard ``shard`` into ``out``.
    Returns the summary (videos, reused, failed, partial)."""
    console = console or (lambda line: print(line, flush=True))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    config_hash = slice_hash({**frames_slice, "layout": LAYOUT})
    prev = previous_path(out)
    previous = _previous_fingerprints(prev, config_hash)
    videos = manifest[[shard_of(v, n_shards) == shard for v in manifest["video_id"]]]
    failed: list[dict] = []
    partial: list[dict] = []
    reused = 0
    tmp = out.with_name(out.name + ".tmp")
    with h5py.File(tmp, "w") as handle:
        bar = tqdm(
            videos.itertuples(),
            total=len(videos),
            desc=f"frames shard {shard}",
            unit="video",
            disable=not progress,
        )
        for row in bar:
            name = quote(str(row.video_id), safe="")
            if previous.get(str(row.video_id)) == row.fingerprint:
                with h5py.File(prev, "r") as old:
                    old.copy(old[name], handle, name=name)
                reused += 1
                group = handle[name]
            else:
                try:
                    group = _decode_into(handle, name, row, frames_slice)
                except (VideoError, ValueError) as exc:
                    log.warning("%s: frames failed: %s", row.video_id, exc)
                    failed.append({"video_id": row.video_id, "path": row.path, "reason": str(exc)})
                    if name in handle:
                        del handle[name]
                    continue
            if bool(group.attrs["partial"]):
                extent, duration = float(group.attrs["extent"]), float(group.attrs["duration"])
                partial.append(
                    {
                        "video_id": row.video_id,
                        "path": str(row.path),
                        "extent": round(extent, 3),
                        "duration": round(duration, 3),
                    }
                )
                line = (
                    f"partial: {row.path}: the picture ends at {extent:.2f} s of the "
                    f"{duration:.2f} s the file claims; its cached frames end there"
                )
                log.warning("%s: %s", row.video_id, line)
                console(line)
        handle.attrs.update(
            backbone="frames",
            weights="none",
            preprocessing=json.dumps({"slice": frames_slice}, sort_keys=True),
            config_hash=config_hash,
            package_version=__version__,
            failed=json.dumps(failed),
            partial=json.dumps(partial),
            array="frames",
            layout=LAYOUT,
        )
    publish_shard(tmp, out)
    summary = {"videos": len(videos), "reused": reused, "failed": failed, "partial": partial}
    log.info(
        "frames shard %d: %d videos (%d reused, %d failed, %d partial)",
        shard,
        len(videos),
        reused,
        len(failed),
        len(partial),
    )
    return summary


def _previous_fingerprints(prev: Path, config_hash: str) -> dict[str, str]:
    if not prev.is_file():
        return {}
    try:
        with h5py.File(prev, "r") as handle:
            if handle.attrs.get("config_hash") != config_hash:
                return {}
            return {str(g.attrs["video_id"]): str(g.attrs["fingerprint"]) for g in handle.values()}
    except (OSError, KeyError):
        return {}


def _decode_into(handle: h5py.File, name: str, row, frames_slice: dict) -> h5py.Group:
    fps, height, width = (
        float(frames_slice["fps"]),
        int(frames_slice["height"]),
        int(frames_slice["width"]),
    )
    group = handle.create_group(name)
    frames = group.create_dataset(
        "frames",
        shape=(0, height, width, 3),
        maxshape=(None, height, width, 3),
        dtype=np.uint8,
        chunks=(CHUNK_FRAMES, height, width, 3),
        compression="lzf",
    )
    times = group.create_dataset("time", shape=(0,), maxshape=(None,), dtype=np.float64)
    extent = StreamExtent()
    duration = float(row.duration)
    n = 0
    for t, batch in iter_frame_batches(row.path, fps, width, height, BATCH, duration, extent):
        frames.resize(n + len(batch), axis=0)
        times.resize(n + len(batch), axis=0)
        frames[n:] = batch
        times[n:] = t
        n += len(batch)
    if n == 0:
        raise ValueError("no frames decoded")
    end = float(times[n - 1]) + 1.0 / fps
    group.attrs.update(
        video_id=str(row.video_id),
        fingerprint=str(row.fingerprint),
        duration=duration,
        extent=min(end, duration),
        partial=bool(end < duration - END_TOLERANCE),
    )
    return group


# ----------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class FrameSource:
    """One video's cached frames: a handle, read on demand (nothing is loaded up front)."""

    path: str
    group: str
    fps: float
    n_frames: int
    extent: float
    partial: bool

    @property
    def times(self) -> np.ndarray:
        """Seconds of every cached frame (frame k is at k / fps)."""
        return np.arange(self.n_frames) / self.fps

    def read(self, indices: np.ndarray) -> np.ndarray:
        """Frames at ``indices`` (any order, repeats allowed) -> uint8 [len, H, W, 3].

        Reads the covering range once (a window's frames are contiguous, or the head of the
        video for the reversed padding)."""
        with h5py.File(self.path, "r") as handle:
            return self.read_from(handle[self.group]["frames"], indices)

    def read_from(self, frames: h5py.Dataset, indices: np.ndarray) -> np.ndarray:
        """:meth:`read` from the video's ``frames`` dataset already open."""
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) == 0:
            raise ValueError("no frame indices")
        if indices.min() < 0 or indices.max() >= self.n_frames:
            raise IndexError(f"{self.group}: frame index out of 0..{self.n_frames - 1}")
        low, high = int(indices.min()), int(indices.max()) + 1
        return frames[low:high][indices - low]

    def iter_blocks(self, size: int) -> Iterator[tuple[int, np.ndarray]]:
        """``(first index, frames)`` of consecutive blocks of ``size`` frames, in order."""
        with h5py.File(self.path, "r") as handle:
            data = handle[self.group]["frames"]
            for low in range(0, self.n_frames, size):
                yield low, data[low : low + size]


class FrameFiles:
    """Frame shards kept open for one thread's reads: each file is opened once (not once a
    window, as :meth:`FrameSource.read` does), the last video's ``frames`` dataset stays
    open, so that HDF5's chunk cache (1 MiB a dataset) serves the chunks that consecutive
    windows of one video share. Every dataset but the last is closed when the next is
    opened: the memory held does not grow with the videos read. Not thread-safe: the one
    thread that reads owns it (``features/frame_feed.py``) and closes it."""

    def __init__(self) -> None:
        self._files: dict[str, h5py.File] = {}
        self._last: tuple[tuple[str, str], h5py.Dataset] | None = None

    def dataset(self, source: FrameSource) -> h5py.Dataset:
        key = (source.path, source.group)
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        handle = self._files.get(source.path)
        if handle is None:
            handle = self._files[source.path] = h5py.File(source.path, "r")
        data = handle[source.group]["frames"]
        self._last = (key, data)
        return data

    def read(self, source: FrameSource, indices: np.ndarray) -> np.ndarray:
        """``source.read(indices)`` (the same frames, the same bytes) from the open file."""
        return source.read_from(self.dataset(source), indices)

    def close(self) -> None:
        self._last = None
        for handle in self._files.values():
            handle.close()
        self._files.clear()

    def __enter__(self) -> FrameFiles:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class FrameCache:
    """Every video of a set of frame shards, by id; the videos the shards report failed."""

    sources: dict[str, FrameSource]
    failed: list[dict]
    fps: float
    height: int
    width: int


def open_frame_cache(paths: list[str | Path]) -> FrameCache:
    sources: dict[str, FrameSource] = {}
    failed: list[dict] = []
    geometry: dict | None = None
    for path in paths:
        with h5py.File(path, "r") as handle:
            if handle.attrs.get("backbone") != "frames":
                raise VideoError(f"{path}: not a frame shard (written by `hlp frames`)")
            this = json.loads(handle.attrs["preprocessing"])["slice"]
            if geometry is not None and this != geometry:
                raise VideoError(f"{path}: frame shards of different settings mixed")
            geometry = this
            failed.extend(json.loads(handle.attrs["failed"]))
            for name, group in handle.items():
                sources[str(group.attrs["video_id"])] = FrameSource(
                    path=str(path),
                    group=name,
                    fps=float(this["fps"]),
                    n_frames=int(group["frames"].shape[0]),
                    extent=float(group.attrs["extent"]),
                    partial=bool(group.attrs["partial"]),
                )
    if geometry is None:
        raise VideoError("no frame shards given")
    return FrameCache(
        sources, failed, float(geometry["fps"]), int(geometry["height"]), int(geometry["width"])
    )
