"""The folder dataset: any directory of videos described by ``videos.csv``.

``videos.csv``: video_id, path (relative to the root), optional category, optional split.
``highlights.csv`` (optional): video_id, start, end in seconds. Clips are fixed
``clip_seconds`` windows; a clip is a highlight when at least half of it lies inside
highlight intervals. The synthetic dataset is written in this format too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from highlight_pipeline.errors import DatasetError

SPLITS = {"train", "test", "val"}


def read_video_table(root: str | Path) -> pd.DataFrame:
    """Read ``videos.csv`` into video_id, path (absolute), category, split ('' when absent)."""
    root = Path(root).resolve()
    table_path = root / "videos.csv"
    if not table_path.is_file():
        raise DatasetError(f"{table_path}: not found (a folder dataset needs videos.csv)")
    table = pd.read_csv(table_path, dtype=str, keep_default_na=False)
    missing = {"video_id", "path"} - set(table.columns)
    if missing:
        raise DatasetError(f"{table_path}: missing column(s) {', '.join(sorted(missing))}")
    unknown = set(table.columns) - {"video_id", "path", "category", "split"}
    if unknown:
        raise DatasetError(
            f"{table_path}: unknown column(s) {', '.join(sorted(unknown))}; "
            "allowed: video_id, path, category, split"
        )
    duplicated = table["video_id"][table["video_id"].duplicated()].unique()
    if len(duplicated):
        raise DatasetError(f"{table_path}: duplicate video_id(s) {', '.join(duplicated[:5])}")
    paths = []
    for vid, rel in zip(table["video_id"], table["path"], strict=True):
        full = (root / rel).resolve()
        if not full.is_relative_to(root):
            raise DatasetError(f"{table_path}: video {vid!r} path {rel!r} points outside {root}")
        paths.append(str(full))
    table["path"] = paths
    for column in ("category", "split"):
        if column not in table.columns:
            table[column] = ""
    bad = set(table["split"]) - SPLITS - {""}
    if bad:
        raise DatasetError(
            f"{table_path}: unknown split(s) {sorted(bad)}; allowed: {sorted(SPLITS)}"
        )
    return table[["video_id", "path", "category", "split"]]


def assign_missing_splits(table: pd.DataFrame, test_fraction: float, seed: int) -> pd.DataFrame:
    """Fill empty splits with a seeded split, stratified by category."""
    table = table.copy()
    rng = np.random.default_rng(seed)
    empty = table["split"] == ""
    for _, group in table[empty].groupby("category", sort=True):
        order = rng.permutation(group.index.to_numpy())
        n_test = max(1, int(round(len(order) * test_fraction))) if len(order) > 1 else 0
        table.loc[order[:n_test], "split"] = "test"
        table.loc[order[n_test:], "split"] = "train"
    return table


def read_highlights(root: str | Path) -> pd.DataFrame | None:
    path = Path(root) / "highlights.csv"
    if not path.is_file():
        return None
    table = pd.read_csv(path, dtype={"video_id": str})
    missing = {"video_id", "start", "end"} - set(table.columns)
    if missing:
        raise DatasetError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    bad = table[table["end"] <= table["start"]]
    if len(bad):
        raise DatasetError(
            f"{path}: interval with end <= start for video {bad['video_id'].iloc[0]!r}"
        )
    return table


def clip_grid(duration: float, clip_seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Clips of ``clip_seconds`` from 0; a last partial clip counts when at least half long."""
    n = int(np.floor(duration / clip_seconds + 0.5))
    n = max(1, n)
    starts = np.arange(n) * clip_seconds
    return starts, np.minimum(starts + clip_seconds, duration)


def interval_labels(
    starts: np.ndarray, ends: np.ndarray, intervals: list[tuple[float, float]]
) -> np.ndarray:
    covered = np.zeros(len(starts))
    for s, e in intervals:
        covered += np.clip(np.minimum(ends, e) - np.maximum(starts, s), 0, None)
    return (covered >= 0.5 * (ends - starts) - 1e-9).astype(np.int64)


def make_clips(manifest: pd.DataFrame, root: str | Path, clip_seconds: float) -> pd.DataFrame:
    """Clip table: video_id, clip, start, end, label (-1 where the dataset has no labels)."""
    highlights = read_highlights(root)
    by_video = (
        {
            vid: list(zip(g["start"], g["end"], strict=True))
            for vid, g in highlights.groupby("video_id")
        }
        if highlights is not None
        else {}
    )
    parts = []
    for row in manifest.itertuples():
        starts, ends = clip_grid(float(row.duration), clip_seconds)
        labels = (
            interval_labels(starts, ends, by_video.get(row.video_id, []))
            if highlights is not None
            else np.full(len(starts), -1)
        )
        parts.append(
            pd.DataFrame(
                {
                    "video_id": row.video_id,
                    "clip": np.arange(len(starts)),
                    "start": starts.round(3),
                    "end": ends.round(3),
                    "label": labels,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)
