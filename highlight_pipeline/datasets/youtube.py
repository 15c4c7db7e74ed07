"""YouTube Highlights (Sun, Farhadi, Seitz, ECCV 2014), as released in
``aliensunmin/DomainSpecificHighlight``.

Layout under ``root`` (the release's own; no videos are distributed)::

    {domain}/vlist.json                   [[[vid, ...], set_name], ...]
    {domain}/vlist_sel.json               the hand-picked subset (optional)
    {domain}/{vid}/match_label.json       [[[start_frame, end_frame], ...], [label, ...]]
    {domain}/{video_id}.mp4               the videos you downloaded (``video_pattern``)

Domains are the folders holding a vlist.json (dog, gymnastics, parkour, skating, skiing,
surfing). Set names: TraiTightL, TraiLooseL, TestTightL, TestLooseL.

Config keys:

* ``root``: the folder above.
* ``video_pattern``: default ``"{domain}/{video_id}.mp4"``; fields ``{video_id}``, ``{domain}``.
* ``domains``: list of domains to read (default: every domain found).
* ``video_list``: ``"vlist"`` (default, all 550 videos) or ``"vlist_sel"``.
* ``split_scheme``: ``"canonical"`` (default) or ``"umt"``.

Split schemes: ``canonical``: Trai* sets -> train, Test* sets -> test (vlist.json). ``umt``:
UMT's ``YOUTUBE_SPLITS`` (TencentARC/UMT ``datasets/utils/static.py``, shipped as
``data/youtube_umt_splits.json``): its train -> train, its val (the set UMT reports on)
-> test; the 131 videos UMT does not use are left out.

Clips: the segments of match_label.json (about 100 frames, stride 50, overlapping), with
``start = start_frame / fps`` and ``end = end_frame / fps`` (fps from the manifest). Columns
``label`` (1 when the match label is > 0, so the borderline 0 counts as negative, as in UMT),
``match`` (the raw 1 / 0 / -1), ``start_frame``, ``end_frame``. Category = domain.
Protocol: ``youtube-map`` (UMT evaluates each domain separately).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from highlight_pipeline.datasets import registry
from highlight_pipeline.errors import ConfigError, DatasetError

DEFAULTS = {"video_pattern": "{domain}/{video_id}.mp4", "video_list": "vlist"}
TRAIN_SETS = ("TraiTightL", "TraiLooseL")
TEST_SETS = ("TestTightL", "TestLooseL")
CLIP_COLUMNS = ["video_id", "clip", "start", "end", "label", "match", "start_frame", "end_frame"]


def find_domains(root: Path, video_list: str) -> list[str]:
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder (YouTube Highlights root)")
    domains = sorted(p.parent.name for p in root.glob(f"*/{video_list}.json"))
    if not domains:
        raise DatasetError(f"{root}: no {{domain}}/{video_list}.json (YouTube Highlights layout)")
    return domains


def read_vlist(path: Path) -> list[tuple[str, str]]:
    """[(video id, set name), ...] in file order."""
    data = registry.load_json(path)
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a list of [video ids, set name] pairs")
    out = []
    for i, entry in enumerate(data):
        if (
            not isinstance(entry, list)
            or len(entry) != 2
            or not isinstance(entry[0], list)
            or not isinstance(entry[1], str)
        ):
            raise DatasetError(f"{path}: entry {i} is not a [video ids, set name] pair")
        ids, set_name = entry
        if set_name not in TRAIN_SETS + TEST_SETS:
            raise DatasetError(
                f"{path}: entry {i} has unknown set {set_name!r}; "
                f"known: {', '.join(TRAIN_SETS + TEST_SETS)}"
            )
        for vid in ids:
            if not isinstance(vid, str) or not vid:
                raise DatasetError(f"{path}: entry {i} ({set_name}) has a non-string id {vid!r}")
            out.append((vid, set_name))
    return out


def read_index(root: Path, spec: dict) -> pd.DataFrame:
    """video_id, domain, set, source (the vlist file) of every listed video."""
    root = Path(root)
    video_list = spec.get("video_list", DEFAULTS["video_list"])
    if video_list not in ("vlist", "vlist_sel"):
        raise ConfigError(f"youtube: video_list must be 'vlist' or 'vlist_sel', not {video_list!r}")
    domains = spec.get("domains") or find_domains(root, video_list)
    rows: list[dict] = []
    first: dict[str, Path] = {}
    for domain in domains:
        path = root / domain / f"{video_list}.json"
        for vid, set_name in read_vlist(path):
            if vid in first:
                raise DatasetError(
                    f"{path}: duplicate video_id {vid!r} (already listed in {first[vid]})"
                )
            first[vid] = path
            rows.append({"video_id": vid, "domain": domain, "set": set_name, "source": str(path)})
    return pd.DataFrame(rows, columns=["video_id", "domain", "set", "source"])


def read_match_label(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(frames [n, 2] float, labels [n] int) from a match_label.json file."""
    data = registry.load_json(path)
    if not isinstance(data, list) or len(data) != 2:
        raise DatasetError(f"{path}: expected [clips, labels]")
    clips, labels = data
    if not isinstance(clips, list) or not isinstance(labels, list):
        raise DatasetError(f"{path}: expected [clips, labels] with two lists")
    if len(clips) != len(labels):
        raise DatasetError(f"{path}: {len(clips)} clips but {len(labels)} labels")
    if not clips:
        raise DatasetError(f"{path}: no clips")
    for i, clip in enumerate(clips):
        if (
            not isinstance(clip, list)
            or len(clip) != 2
            or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in clip)
        ):
            raise DatasetError(f"{path}: clip {i} is not a [start_frame, end_frame] pair")
        if not (0 <= clip[0] < clip[1]):
            raise DatasetError(f"{path}: clip {i} has frames {clip} (need 0 <= start < end)")
    for i, label in enumerate(labels):
        if isinstance(label, bool) or label not in (-1, 0, 1):
            raise DatasetError(f"{path}: label {i} is {label!r} (expected 1, 0 or -1)")
    return np.asarray(clips, dtype=np.float64), np.asarray(labels, dtype=np.int64)


def annotation_path(root: Path, domain: str, vid: str) -> Path:
    return Path(root) / domain / vid / "match_label.json"


class YouTubeReader:
    name = "youtube"
    protocol = "youtube-map"

    def read_videos(self, root: Path, spec: dict) -> pd.DataFrame:
        root = Path(root)
        index = read_index(root, spec)
        pattern = spec.get("video_pattern", DEFAULTS["video_pattern"])
        rows = []
        for row in index.itertuples():
            if not annotation_path(root, row.domain, row.video_id).is_file():
                raise DatasetError(
                    f"{row.source}: video {row.video_id!r} has no "
                    f"{row.domain}/{row.video_id}/match_label.json"
                )
            fields = {"video_id": row.video_id, "domain": row.domain}
            path = registry.resolve_video(root, pattern, fields, row.source)
            rows.append({"video_id": row.video_id, "path": path, "category": row.domain})
        videos = pd.DataFrame(rows, columns=["video_id", "path", "category"])
        schemes = self._schemes(index, videos["video_id"])
        name = registry.scheme_name(schemes, spec, self.name)
        return registry.video_table(rows, schemes, name)

    def split_schemes(self, videos: pd.DataFrame, spec: dict) -> dict[str, dict[str, str]]:
        index = read_index(registry.spec_root(spec, self.name), spec)
        return self._schemes(index, videos["video_id"])

    def _schemes(self, index: pd.DataFrame, video_ids) -> dict[str, dict[str, str]]:
        wanted = set(video_ids)
        listed = index[index["video_id"].isin(wanted)]
        canonical = {
            vid: ("train" if s in TRAIN_SETS else "test")
            for vid, s in zip(listed["video_id"], listed["set"], strict=True)
        }
        umt: dict[str, str] = {}
        domain_of = dict(zip(listed["video_id"], listed["domain"], strict=True))
        for domain, parts in registry.load_data_file("youtube_umt_splits.json")["splits"].items():
            for part, split in (("train", "train"), ("val", "test")):
                for vid in parts[part]:
                    if domain_of.get(vid) == domain:
                        umt[vid] = split
        return {"canonical": canonical, "umt": umt}

    def make_clips(self, manifest: pd.DataFrame, root: Path, spec: dict) -> pd.DataFrame:
        root = Path(root)
        registry.require_columns(manifest, ["video_id", "fps"], "manifest")
        domain_of = dict(
            zip(*(read_index(root, spec)[c] for c in ("video_id", "domain")), strict=True)
        )
        parts = []
        for row in tqdm(
            manifest.itertuples(), total=len(manifest), desc="clips", unit="video", disable=None
        ):
            if row.video_id not in domain_of:
                raise DatasetError(f"manifest: video {row.video_id!r} is not listed under {root}")
            path = annotation_path(root, domain_of[row.video_id], row.video_id)
            fps = registry.manifest_fps(row, "manifest")
            frames, match = read_match_label(path)
            parts.append(
                registry.clip_frame(
                    row.video_id,
                    {
                        "clip": np.arange(len(match)),
                        "start": (frames[:, 0] / fps).round(3),
                        "end": (frames[:, 1] / fps).round(3),
                        "label": (match > 0).astype(np.int64),
                        "match": match,
                        "start_frame": frames[:, 0],
                        "end_frame": frames[:, 1],
                    },
                )
            )
        return registry.concat_clips(parts, CLIP_COLUMNS)
