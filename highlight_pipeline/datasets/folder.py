"""The folder dataset: any directory of videos described by ``videos.csv``.

``videos.csv``: video_id, path (relative to the root), optional category, optional split.
``highlights.csv`` (optional): video_id, start, end in seconds. Clips are fixed
``clip_seconds`` windows; a clip is a highlight when at least half of it lies inside
highlight intervals. The synthetic dataset is written in this format too.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import os
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
        # The path as listed, normalised without following links: a symlink inside the
        # folder that points to another disk is the user's choice and is kept; "../x.mp4"
        # or an absolute path elsewhere is refused.
        full = Path(os.path.normpath(root / rel))
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


def listing_signature(root: str | Path) -> str:
    """A digest of the files ``videos.csv`` lists: each path as written, with its file's size
    and modification time (in nanoseconds; ``missing`` where there is no file).

    The workflow's manifest rule takes it as a param instead of every video file as an
    input: a video rewritten in place, or a listed one that appears or goes, changes it and
    reruns the manifest (a video added to or removed from the table changes videos.csv, an
    input). One stat per video and the csv module: 0.25 s at 30,000 videos, where
    Snakemake's bookkeeping of 30,000 inputs made `snakemake -n` 12 s slower. A missing or
    unreadable videos.csv gives a fixed string (``hlp manifest`` says what is wrong).
    """
    base = os.fspath(root)
    entries = []
    try:
        with open(os.path.join(base, "videos.csv"), newline="", encoding="utf-8-sig") as handle:
            rows = csv.reader(handle)
            header = next(rows, [])
            if "path" not in header:
                return "videos.csv without a path column"
            column = header.index("path")
            for row in rows:
                rel = row[column] if column < len(row) else ""
                try:
                    stat = os.stat(os.path.normpath(os.path.join(base, rel)))
                    entries.append(f"{rel}\t{stat.st_size}\t{stat.st_mtime_ns}\n")
                except OSError:
                    entries.append(f"{rel}\tmissing\n")
    except (OSError, UnicodeDecodeError, csv.Error):
        return "unreadable videos.csv"
    return hashlib.sha256("".join(entries).encode()).hexdigest()


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
    """``highlights.csv`` as video_id, start, end (seconds) and line (its line in the file),
    or None when the folder has none.

    Every row is checked against the file and ``videos.csv``: a video_id that videos.csv does
    not list (a typo would otherwise drop the row without a word), a start or end that is
    not a number, a negative start and an end not after its start are errors naming the file,
    the line and the video."""
    path = Path(root) / "highlights.csv"
    if not path.is_file():
        return None
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"video_id", "start", "end"} - set(table.columns)
    if missing:
        raise DatasetError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    known = set(read_video_table(root)["video_id"])
    rows = []
    for i, row in enumerate(table.itertuples(index=False), start=2):  # line 1: the header
        where = f"{path}: line {i} (video {row.video_id!r})"
        if row.video_id not in known:
            near = difflib.get_close_matches(row.video_id, sorted(known), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise DatasetError(f"{where}: not a video_id of videos.csv{hint}")
        start, end = _seconds(row.start, "start", where), _seconds(row.end, "end", where)
        if start < 0:
            raise DatasetError(f"{where}: start {start} is before the video begins")
        if end <= start:
            raise DatasetError(f"{where}: end {end} is not after start {start}")
        rows.append((row.video_id, start, end, i))
    return pd.DataFrame(rows, columns=["video_id", "start", "end", "line"]).astype(
        {"video_id": str, "start": float, "end": float, "line": int}
    )


def _seconds(text: str, column: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DatasetError(f"{where}: {column} {text!r} is not a number of seconds") from None
    if not np.isfinite(value):
        raise DatasetError(f"{where}: {column} {text!r} is not a number of seconds")
    return value


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
        {vid: g for vid, g in highlights.groupby("video_id")} if highlights is not None else {}
    )
    parts = []
    for row in manifest.itertuples():
        duration = float(row.duration)
        starts, ends = clip_grid(duration, clip_seconds)
        rows = by_video.get(row.video_id)
        if rows is not None:
            late = rows[rows["end"] > duration + 0.5]  # half a second of rounding is fine
            if len(late):
                first = late.iloc[0]
                raise DatasetError(
                    f"{Path(root) / 'highlights.csv'}: line {first['line']} (video "
                    f"{row.video_id!r}): end {first['end']} is after the video's end "
                    f"({duration:.2f} s)"
                )
        intervals = [] if rows is None else list(zip(rows["start"], rows["end"], strict=True))
        labels = (
            interval_labels(starts, ends, intervals)
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
