"""Dataset readers by name, their common interface, and the helpers they share.

Every reader turns a dataset's own annotation release into the pipeline's three tables:

* ``read_videos(root, spec)``: video_id, path (absolute; the file may not exist yet),
  category, split (the split scheme named by ``spec["split_scheme"]``, else the reader's
  default scheme; ``""`` for a video that scheme leaves out).
* ``split_schemes(videos, spec)``: scheme name -> {video_id: "train" | "val" | "test"} for the
  videos given; the first key is the default scheme. A scheme may leave videos out.
* ``make_clips(manifest, root, spec)``: video_id, clip, start, end (seconds), label (binary,
  -1 when unknown) and the reader's own label columns, for the videos of the manifest.

``get_reader(name)`` returns one: ``youtube``, ``tvsum``, ``cosum``, ``qvhighlights``,
``vtw``, ``folder`` (a thin adapter over :mod:`highlight_pipeline.datasets.folder`) and
``synthetic`` (the same adapter: ``hlp synth`` writes the folder format). docs/datasets.md
describes each dataset's layout, config keys, split schemes and clip labels.

Common config keys: ``root`` (the dataset folder), ``video_pattern`` (where a video file
lies under root, a :meth:`str.format` pattern whose fields each reader lists) and
``split_scheme``.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from highlight_pipeline.datasets import folder
from highlight_pipeline.errors import ConfigError, DatasetError

SPLITS = ("train", "val", "test")
VIDEO_COLUMNS = ["video_id", "path", "category", "split"]
DATA_DIR = Path(__file__).resolve().parent.parent / "data"


@runtime_checkable
class Reader(Protocol):
    name: str
    protocol: str

    def read_videos(self, root: Path, spec: dict) -> pd.DataFrame: ...

    def split_schemes(self, videos: pd.DataFrame, spec: dict) -> dict[str, dict[str, str]]: ...

    def make_clips(self, manifest: pd.DataFrame, root: Path, spec: dict) -> pd.DataFrame: ...


def dataset_root(dataset: str, spec: dict, results: str | Path = "results") -> Path:
    """The dataset folder: the configured root, or where `hlp synth` writes."""
    if spec["reader"] == "synthetic":
        return Path(results) / dataset / "source"
    return Path(spec["root"])


# ---------------------------------------------------------------------------- folder adapter


class FolderReader:
    """``videos.csv`` + optional ``highlights.csv`` (see :mod:`highlight_pipeline.datasets.folder`).

    Config keys: ``root``, ``clip_seconds`` (2.0), ``test_fraction`` (0.3), ``split_seed`` (0).
    Split scheme ``given``: the splits of videos.csv, the missing ones drawn per category with
    ``test_fraction`` and ``split_seed`` (as ``hlp manifest`` does).
    """

    protocol = "youtube-map"

    def __init__(self, name: str = "folder") -> None:
        self.name = name

    def read_videos(self, root: Path, spec: dict) -> pd.DataFrame:
        table = folder.read_video_table(root)
        return folder.assign_missing_splits(
            table, float(spec.get("test_fraction", 0.3)), int(spec.get("split_seed", 0))
        )

    def split_schemes(self, videos: pd.DataFrame, spec: dict) -> dict[str, dict[str, str]]:
        given = {v: s for v, s in zip(videos["video_id"], videos["split"], strict=True) if s}
        return {"given": given}

    def make_clips(self, manifest: pd.DataFrame, root: Path, spec: dict) -> pd.DataFrame:
        return folder.make_clips(manifest, root, float(spec.get("clip_seconds", 2.0)))


READERS = {
    "youtube": "highlight_pipeline.datasets.youtube:YouTubeReader",
    "tvsum": "highlight_pipeline.datasets.tvsum:TVSumReader",
    "cosum": "highlight_pipeline.datasets.cosum:CoSumReader",
    "qvhighlights": "highlight_pipeline.datasets.qvhighlights:QVHighlightsReader",
    "vtw": "highlight_pipeline.datasets.vtw:VTWReader",
    "folder": None,
    "synthetic": None,
}


def reader_names() -> list[str]:
    return list(READERS)


def get_reader(name: str) -> Reader:
    """The reader called ``name`` (see :data:`READERS`)."""
    if name not in READERS:
        raise ConfigError(f"unknown dataset reader {name!r}; known: {', '.join(READERS)}")
    target = READERS[name]
    if target is None:
        return FolderReader(name)
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)()


def protocol_columns(protocol: str, clips: pd.DataFrame) -> list[str]:
    """Clip-table columns that hold what ``protocol`` compares scores with, in order
    (:class:`highlight_pipeline.metrics.Protocol` ``columns``): ``label`` for
    ``youtube-map`` and ``tvsum-top5-top50``; the rater columns ``u0, u1, ...`` for
    ``tvsum-top5-median``; the saliency columns ``s0, s1, s2`` for ``qvhighlights-hl``.
    """
    from highlight_pipeline.metrics import MetricInputError, get_protocol

    try:
        spec = get_protocol(protocol).columns
    except MetricInputError as exc:
        raise ConfigError(str(exc)) from None
    if not spec.endswith("*"):
        if spec not in clips.columns:
            raise DatasetError(f"clip table has no {spec} column for {protocol}")
        return [spec]
    prefix = spec[:-1]
    columns = [c for c in clips.columns if c.startswith(prefix) and c[len(prefix) :].isdigit()]
    if not columns:
        raise DatasetError(f"clip table has no {prefix}0, {prefix}1, ... columns for {protocol}")
    return sorted(columns, key=lambda c: int(c[len(prefix) :]))


# ----------------------------------------------------------------- helpers for the readers


def spec_root(spec: Mapping[str, Any], reader: str) -> Path:
    if not spec.get("root"):
        raise ConfigError(f"dataset reader {reader!r} needs `root` (the dataset folder)")
    return Path(spec["root"])


def resolve_video(root: Path, pattern: str, fields: Mapping[str, Any], where: str) -> str:
    """Absolute path of ``pattern.format(**fields)`` under root; DatasetError outside root."""
    root = Path(root).resolve()
    try:
        rel = pattern.format(**fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"video_pattern {pattern!r}: cannot fill it ({exc}); "
            f"fields: {', '.join('{' + k + '}' for k in fields)}"
        ) from None
    full = (root / rel).resolve()
    if not full.is_relative_to(root):
        raise DatasetError(
            f"{where}: video {fields.get('video_id')!r} path {rel!r} points outside {root}"
        )
    return str(full)


def check_unique(ids: Iterable[str], where: str) -> None:
    seen: set[str] = set()
    duplicated: list[str] = []
    for vid in ids:
        if vid in seen and vid not in duplicated:
            duplicated.append(vid)
        seen.add(vid)
    if duplicated:
        raise DatasetError(f"{where}: duplicate video_id(s) {', '.join(duplicated[:5])}")


def load_json(path: Path) -> Any:
    """Parse a JSON file; DatasetError naming the file (and line) when missing or malformed."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"{path}: malformed JSON at line {exc.lineno} column {exc.colno} ({exc.msg})"
        ) from None


@cache
def load_data_file(name: str) -> dict:
    """A JSON file shipped in ``highlight_pipeline/data``."""
    return load_json(DATA_DIR / name)


def random_schemes(
    videos: pd.DataFrame, prefix: str = "random80", seeds: Iterable[int] = range(5)
) -> dict[str, dict[str, str]]:
    """``{prefix}-s{seed}``: 20 % of each category's videos (at least one) to test, seeded."""
    table = videos[["video_id", "category"]].copy()
    table["split"] = ""
    schemes = {}
    for seed in seeds:
        drawn = folder.assign_missing_splits(table, 0.2, seed)
        schemes[f"{prefix}-s{seed}"] = dict(zip(drawn["video_id"], drawn["split"], strict=True))
    return schemes


def scheme_name(schemes: Mapping[str, Any], spec: Mapping[str, Any], reader: str) -> str:
    name = spec.get("split_scheme") or next(iter(schemes))
    if name not in schemes:
        raise ConfigError(
            f"dataset reader {reader!r}: unknown split_scheme {name!r}; known: {', '.join(schemes)}"
        )
    return name


def video_table(
    rows: list[dict], schemes: Mapping[str, Mapping[str, str]], name: str
) -> pd.DataFrame:
    """The read_videos table, with the split of scheme ``name``."""
    table = pd.DataFrame(rows, columns=["video_id", "path", "category"])
    table["split"] = [schemes[name].get(v, "") for v in table["video_id"]]
    return table[VIDEO_COLUMNS]


def require_columns(table: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DatasetError(f"{what}: missing column(s) {', '.join(missing)}")


def manifest_fps(row: Any, where: str) -> float:
    """The manifest's frame rate of a video, checked to be a positive number."""
    try:
        fps = float(row.fps)
    except (TypeError, ValueError):
        fps = math.nan
    if not math.isfinite(fps) or fps <= 0:
        raise DatasetError(
            f"{where}: video {row.video_id!r} has no usable fps in the manifest ({row.fps!r})"
        )
    return fps


def clip_frame(video_id: str, columns: dict[str, Any]) -> pd.DataFrame:
    """One video's clip rows: video_id first, then the given columns in order."""
    return pd.DataFrame({"video_id": video_id, **columns})


def concat_clips(parts: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]
