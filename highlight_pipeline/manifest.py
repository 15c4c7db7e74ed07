"""Manifest of a dataset: every video probed once; unusable videos go to rejected.csv."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from highlight_pipeline.datasets import folder
from highlight_pipeline.errors import VideoError
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
]


def dataset_root(dataset: str, spec: dict, results: str | Path = "results") -> Path:
    """Folder holding videos.csv: the configured root, or where `hlp synth` writes."""
    if spec["reader"] == "synthetic":
        return Path(results) / dataset / "source"
    return Path(spec["root"])


def build_manifest(
    root: str | Path, test_fraction: float, split_seed: int, progress: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Probe every listed video. Returns (manifest, rejected) tables."""
    table = folder.assign_missing_splits(folder.read_video_table(root), test_fraction, split_seed)
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
    return manifest, pd.DataFrame(rejected, columns=["video_id", "path", "reason"])


def read_manifest(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(
        path, dtype={"video_id": str, "category": str, "split": str}, keep_default_na=False
    )
