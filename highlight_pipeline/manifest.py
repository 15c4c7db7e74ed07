"""Manifest of a dataset: every video probed once; unusable videos go to rejected.csv.
Also the dataset's other tables: splits.csv (every split scheme) and clips.csv.

``audio_duration`` is the sound track's length as its header states (empty where the
header does not say). A header only tells what the file says of itself: a sound track
shorter than the picture shows here, and the console line counts such videos as partial;
a file cut short usually claims its whole duration, so it shows at extraction, which
measures how far every stream decodes (features/extract.py: a console line per video).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from highlight_pipeline.atomic import atomic_output
from highlight_pipeline.datasets.registry import get_reader
from highlight_pipeline.errors import DatasetError, VideoError
from highlight_pipeline.video.decode import END_TOLERANCE
from highlight_pipeline.video.probe import probe

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = [
    "video_id",
    "path",
    "duration",
    "fps",
    "frames",
    "width",
    "height",
    "has_audio",
    "category",
    "split",
    "fingerprint",
    "rotation",
    "audio_duration",
]


def build_manifest(
    reader: str, root: str | Path, spec: dict, progress: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Probe every video the reader lists. Returns (manifest, rejected, splits) tables.

    ``splits`` is long: video_id, scheme, split for every split scheme of the reader.
    """
    dataset_reader = get_reader(reader)
    table = dataset_reader.read_videos(Path(root), spec)
    rows, rejected = [], []
    for row in tqdm(
        table.itertuples(), total=len(table), desc="probe", unit="video", disable=not progress
    ):
        try:
            info = probe(row.path)
        except VideoError as exc:
            log.warning("rejected %s: %s", row.video_id, exc)
            rejected.append({"video_id": row.video_id, "path": row.path, "reason": str(exc)})
            continue
        heard = info.audio_duration if info.has_audio else None
        if heard is not None and heard < info.duration - END_TOLERANCE:
            log.warning(
                "%s: %s: its header says the sound ends at %.2f s of %.2f s (partial audio)",
                row.video_id,
                row.path,
                info.audio_duration,
                info.duration,
            )
        rows.append(
            {
                "video_id": row.video_id,
                "path": row.path,
                **info.as_dict(),
                "category": row.category,
                "split": row.split,
            }
        )
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    schemes = dataset_reader.split_schemes(table, spec)
    splits = pd.DataFrame(
        [
            {"video_id": v, "scheme": name, "split": split}
            for name, assignment in schemes.items()
            for v, split in assignment.items()
            if split
        ],
        columns=["video_id", "scheme", "split"],
    )
    return manifest, pd.DataFrame(rejected, columns=["video_id", "path", "reason"]), splits


def write_manifest(
    reader: str,
    root: str | Path,
    spec: dict,
    out: str | Path,
    rejected_out: str | Path,
    splits_out: str | Path,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``hlp manifest``: :func:`build_manifest` into manifest.csv, rejected.csv and
    splits.csv (each written atomically). Returns (manifest, rejected)."""
    manifest, rejected, splits = build_manifest(reader, root, spec)
    for frame, path in ((manifest, out), (rejected, rejected_out), (splits, splits_out)):
        with atomic_output(path) as tmp:
            frame.to_csv(tmp, index=False)
    return manifest, rejected


def write_clips(
    reader: str, manifest_path: str | Path, root: str | Path, spec: dict, out: str | Path
) -> pd.DataFrame:
    """``hlp clips``: the reader's clips (with its clip labels) of the manifest's videos,
    written atomically to clips.csv. Returns them."""
    clips = get_reader(reader).make_clips(read_manifest(manifest_path), Path(root), spec)
    with atomic_output(out) as tmp:
        clips.to_csv(tmp, index=False)
    return clips


def split_map(
    manifest_path: str | Path, splits_path: str | Path | None = None, scheme: str = "default"
) -> dict[str, str]:
    """video_id -> split: ``scheme`` of splits.csv (``splits_path``), else the manifest's
    split column."""
    if splits_path:
        return read_splits(splits_path, scheme)
    manifest = read_manifest(manifest_path)
    return dict(zip(manifest["video_id"], manifest["split"], strict=True))


def read_splits(path: str | Path, scheme: str) -> dict[str, str]:
    """video_id -> split under ``scheme`` (``default``: the reader's first scheme)."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    names = list(dict.fromkeys(table["scheme"]))
    if scheme == "default":
        if not names:
            return {}
        scheme = names[0]
    if scheme not in names:
        raise DatasetError(f"{path}: no split scheme {scheme!r}; known: {', '.join(names)}")
    chosen = table[table["scheme"] == scheme]
    return dict(zip(chosen["video_id"], chosen["split"], strict=True))


def read_manifest(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(
        path, dtype={"video_id": str, "category": str, "split": str}, keep_default_na=False
    )


def manifest_summary(name: str, manifest: pd.DataFrame, rejected: pd.DataFrame) -> str:
    """One line for the console: how many videos, and what is wrong with the others."""
    parts = [f"{name}: {len(manifest)} videos"]
    if len(rejected):
        first = rejected.iloc[0]
        parts.append(
            f"{len(rejected)} rejected (e.g. {first['video_id']}: {first['reason']}; "
            "all in rejected.csv)"
        )
    if "has_audio" in manifest.columns:
        silent = manifest.loc[~manifest["has_audio"].astype(bool), "video_id"].tolist()
        if silent:
            listed = ", ".join(silent[:3]) + (", ..." if len(silent) > 3 else "")
            parts.append(f"{len(silent)} without audio ({listed})")
    short = short_audio(manifest)
    if len(short):
        listed = ", ".join(
            f"{r.video_id}: audio {r.audio_duration:.2f} s of {r.duration:.2f} s"
            for r in short.head(3).itertuples()
        )
        parts.append(
            f"{len(short)} partial ({listed}{', ...' if len(short) > 3 else ''}; "
            "audio features end where the sound does)"
        )
    return "; ".join(parts)


def short_audio(manifest: pd.DataFrame) -> pd.DataFrame:
    """Videos whose header says the sound ends more than ``END_TOLERANCE`` before the
    picture (the manifest's duration)."""
    if "audio_duration" not in manifest.columns or manifest.empty:
        return manifest.iloc[0:0]
    audio = pd.to_numeric(manifest["audio_duration"], errors="coerce")
    duration = pd.to_numeric(manifest["duration"], errors="coerce")
    heard = manifest["has_audio"].astype(str).str.lower().isin(["true", "1"])
    return manifest[heard & (audio < duration - END_TOLERANCE)]
