"""Reading saliency shards map by map: what pld needs of a video's saliency, without
loading every map of a dataset into memory (a map is read when a frame asks for it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from highlight_pipeline.features.shards import read_meta


class SaliencyTrack:
    """One video's saliency maps in time order; :meth:`at` gives the map nearest a time.

    ``maps`` is an array [T, h, w] or a function ``i -> map`` that reads map ``i``."""

    def __init__(
        self,
        times: np.ndarray,
        step: float,
        maps: np.ndarray | Callable[[int], np.ndarray],
    ) -> None:
        self.times, self.step = np.asarray(times, float), float(step)
        self._maps = maps

    def __len__(self) -> int:
        return len(self.times)

    def map(self, i: int) -> np.ndarray:
        found = self._maps(i) if callable(self._maps) else self._maps[i]
        return np.asarray(found, np.float32)

    def covers(self, t: float) -> bool:
        """Whether a map lies within one map step of ``t`` (the stream had not ended)."""
        if not len(self.times):
            return False
        return bool(self.times[0] - self.step <= t <= self.times[-1] + self.step)

    def at(self, t: float) -> np.ndarray | None:
        """The map nearest ``t``; None where no map covers it (the saliency stream ended,
        or failed, there)."""
        if not self.covers(t):
            return None
        return self.map(int(np.argmin(np.abs(self.times - t))))


def _reader(path: str, group: str) -> Callable[[int], np.ndarray]:
    def read(i: int) -> np.ndarray:
        with h5py.File(path, "r") as handle:
            return handle[group]["maps"][i]

    return read


def open_saliency_tracks(paths: list[str | Path]) -> tuple[dict[str, SaliencyTrack], list[dict]]:
    """video_id -> its track, for every video of the saliency shards; and the failures."""
    tracks: dict[str, SaliencyTrack] = {}
    failed: list[dict] = []
    for path in paths:
        meta = read_meta(path)
        failed.extend(meta.failed)
        with h5py.File(path, "r") as handle:
            for name, group in handle.items():
                start, end = group["start"][()], group["end"][()]
                if not len(start):
                    continue
                step = float(np.median(end - start))
                tracks[str(group.attrs["video_id"])] = SaliencyTrack(
                    start, step, _reader(str(path), name)
                )
    return tracks, failed
