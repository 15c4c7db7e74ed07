"""TVSum50 (Song, Vallmitjana, Stent, Jaimes, CVPR 2015), as released in ydata-tvsum50-v1_1.

Layout under ``root`` (the release's own)::

    matlab/ydata-tvsum50.mat          MATLAB v7.3 (HDF5) struct array ``tvsum50``
    data/ydata-tvsum50-anno.tsv       video_id <TAB> category <TAB> per-frame scores (20 rows/video)
    data/ydata-tvsum50-info.tsv       header row; category, video_id, title, url, length
    video/{video_id}.mp4              the videos (``video_pattern``)

The annotation files may also lie directly in ``root``. The .mat is preferred when present.
In the .mat, each field of ``tvsum50`` (video, category, title, length, nframes, user_anno,
gt_score) is a (50, 1) dataset of object references; ``user_anno`` is (20, nframes) in h5py
order, chars are uint16 codes.

Config keys:

* ``root``: the folder above.
* ``video_pattern``: default ``"video/{video_id}.mp4"``; fields ``{video_id}``, ``{category}``.
* ``annotation``: ``"auto"`` (default: the .mat if found, else the TSV pair), ``"mat"``, ``"tsv"``.
* ``split_scheme``: ``"umt"`` (default), ``"random80-s0"`` ... ``"random80-s4"`` or
  ``"longest2"``.

Split schemes: ``umt``: UMT's ``TVSUM_SPLITS`` (4 train videos and 1 val video per category,
shipped as ``data/tvsum_umt_splits.json``); UMT's val, the set it reports on, -> test.
``random80-s{k}``: one random video of each category to test (20 %), seed k.
``longest2``: HPCL's split (§4.1): per category, the two longest videos train, the other
three test (:func:`longest_two`).

Clips: 2-second clips as in UMT / lighthouse: ``fps = nframes / length``,
``n = int((nframes - 1) / (2 * fps))`` clips, clip j = [2j, 2j + 2) s takes the ratings of
frame ``floor((j + 0.5) * 2 * fps)``. Columns ``u0`` ... ``u19`` (each annotator's 1..5
rating), ``score`` (their mean) and ``label`` = 1 when the clip's mean rating is above the
video's median mean rating (the protocol itself binarises each annotator at their median).
With the TSV pair, whose ``length`` is only given as m:ss, fps is the manifest's (the video
file's) when known, else nframes / length. Protocol: ``tvsum-top5-median``.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from tqdm import tqdm

from highlight_pipeline.datasets import registry
from highlight_pipeline.errors import ConfigError, DatasetError

log = logging.getLogger(__name__)

DEFAULTS = {"video_pattern": "video/{video_id}.mp4", "annotation": "auto"}
MAT_NAME = "ydata-tvsum50.mat"
ANNO_NAME = "ydata-tvsum50-anno.tsv"
INFO_NAME = "ydata-tvsum50-info.tsv"
MAT_DIRS = ("matlab", "data", ".")
TSV_DIRS = ("data", ".")
REQUIRED_FIELDS = ("video", "category", "length", "nframes", "user_anno")


@dataclass(frozen=True)
class TVSumVideo:
    video_id: str
    category: str
    title: str
    nframes: int
    length: float | None  # seconds; exact in the .mat, None or whole seconds from the TSV
    user_anno: np.ndarray  # (annotators, nframes)
    source: str  # "mat" or "tsv"
    where: str  # file the annotation came from


# ---------------------------------------------------------------------------- .mat (v7.3)


def _char(value: h5py.Dataset, where: str) -> str:
    data = value[()]
    if value.attrs.get("MATLAB_class", b"char") not in (b"char", "char") or data.dtype.kind != "u":
        raise DatasetError(f"{where}: expected a MATLAB char array, got {data.dtype}")
    return "".join(map(chr, np.asarray(data).ravel()))


def _scalar(value: h5py.Dataset, where: str) -> float:
    data = np.asarray(value[()], dtype=np.float64)
    if data.size != 1 or not math.isfinite(float(data.ravel()[0])):
        raise DatasetError(f"{where}: expected one finite number, got shape {data.shape}")
    return float(data.ravel()[0])


def read_mat(path: Path) -> list[TVSumVideo]:
    """Every video of ``ydata-tvsum50.mat`` (MATLAB v7.3, read with h5py)."""
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DatasetError(f"{path}: not a MATLAB v7.3 (HDF5) file ({exc})") from None
    with f:
        if "tvsum50" not in f or not isinstance(f["tvsum50"], h5py.Group):
            raise DatasetError(f"{path}: no struct array 'tvsum50'")
        group = f["tvsum50"]
        missing = [k for k in REQUIRED_FIELDS if k not in group]
        if missing:
            raise DatasetError(f"{path}: tvsum50 lacks field(s) {', '.join(missing)}")
        refs = {}
        for key in (*REQUIRED_FIELDS, "title"):
            if key not in group:
                continue
            ds = group[key]
            if ds.dtype != h5py.ref_dtype or ds.ndim != 2 or 1 not in ds.shape:
                raise DatasetError(
                    f"{path}: tvsum50/{key} should be an (N, 1) array of object references, "
                    f"got shape {ds.shape} dtype {ds.dtype}"
                )
            refs[key] = np.asarray(ds[()]).ravel()
        counts = {len(r) for r in refs.values()}
        if len(counts) != 1:
            raise DatasetError(f"{path}: tvsum50 fields have different lengths {sorted(counts)}")
        videos = []
        for i in range(counts.pop()):

            def get(key: str, i: int = i) -> h5py.Dataset:
                try:
                    obj = f[refs[key][i]]
                except (ValueError, KeyError, TypeError) as exc:
                    raise DatasetError(
                        f"{path}: tvsum50({i + 1}).{key}: bad reference ({exc})"
                    ) from None
                if not isinstance(obj, h5py.Dataset):
                    raise DatasetError(f"{path}: tvsum50({i + 1}).{key} is not a dataset")
                return obj

            at = f"{path}: tvsum50({i + 1})"
            vid = _char(get("video"), f"{at}.video")
            at = f"{path}: video {vid!r}"
            nframes = _scalar(get("nframes"), f"{at} nframes")
            if nframes < 2 or nframes != int(nframes):
                raise DatasetError(f"{at}: nframes {nframes} is not a whole number >= 2")
            length = _scalar(get("length"), f"{at} length")
            if length <= 0:
                raise DatasetError(f"{at}: length {length} is not positive")
            anno = np.asarray(get("user_anno")[()], dtype=np.float64)
            if anno.ndim != 2 or anno.shape[1] != int(nframes):
                raise DatasetError(
                    f"{at}: user_anno has shape {anno.shape}, expected (annotators, {int(nframes)})"
                )
            videos.append(
                TVSumVideo(
                    video_id=vid,
                    category=_char(get("category"), f"{at} category"),
                    title=_char(get("title"), f"{at} title") if "title" in refs else "",
                    nframes=int(nframes),
                    length=length,
                    user_anno=_ratings(anno, at),
                    source="mat",
                    where=str(path),
                )
            )
    return videos


def _ratings(anno: np.ndarray, where: str) -> np.ndarray:
    if not np.all(np.isfinite(anno)) or np.any(anno != np.round(anno)):
        raise DatasetError(f"{where}: user_anno holds non-integer ratings")
    if anno.size and (anno.min() < 1 or anno.max() > 5):
        raise DatasetError(
            f"{where}: ratings outside 1..5 (min {anno.min():g}, max {anno.max():g})"
        )
    return anno.astype(np.int64)


# ---------------------------------------------------------------------------- TSV pair


def parse_length(text: str) -> float:
    """``"m:ss"``, ``"h:mm:ss"`` or plain seconds -> seconds."""
    parts = text.strip().split(":")
    if len(parts) > 3 or not all(parts):
        raise ValueError(text)
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + float(part)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(text)
    return seconds


def read_info(path: Path) -> dict[str, tuple[str, float | None]]:
    """video_id -> (title, length seconds) from ``ydata-tvsum50-info.tsv`` (with a header)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from None
    if not lines:
        raise DatasetError(f"{path}: empty")
    header = lines[0].split("\t")
    if "video_id" not in header:
        raise DatasetError(f"{path}: header has no video_id column: {lines[0]!r}")
    col = {name: header.index(name) for name in header}
    out: dict[str, tuple[str, float | None]] = {}
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != len(header):
            raise DatasetError(
                f"{path}: line {lineno}: {len(cells)} fields, header has {len(header)}"
            )
        vid = cells[col["video_id"]]
        length = None
        if "length" in col:
            try:
                length = parse_length(cells[col["length"]])
            except ValueError:
                raise DatasetError(
                    f"{path}: line {lineno}: video {vid!r} length {cells[col['length']]!r} "
                    "is not m:ss or seconds"
                ) from None
        if vid in out:
            raise DatasetError(f"{path}: line {lineno}: duplicate video_id {vid!r}")
        out[vid] = (cells[col["title"]] if "title" in col else "", length)
    return out


def read_tsv(anno_path: Path, info_path: Path) -> list[TVSumVideo]:
    """Every video of the ``-anno.tsv`` / ``-info.tsv`` pair, in anno file order."""
    info = read_info(info_path)
    try:
        lines = Path(anno_path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DatasetError(f"{anno_path}: cannot read ({exc})") from None
    rows: dict[str, list[np.ndarray]] = {}
    category: dict[str, str] = {}
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != 3:
            raise DatasetError(
                f"{anno_path}: line {lineno}: {len(cells)} tab-separated fields, "
                "expected video_id, category, scores"
            )
        vid, cat, scores = cells
        try:
            values = np.array([int(x) for x in scores.split(",")], dtype=np.int64)
        except ValueError:
            raise DatasetError(
                f"{anno_path}: line {lineno}: video {vid!r} scores are not comma-separated integers"
            ) from None
        if category.setdefault(vid, cat) != cat:
            raise DatasetError(
                f"{anno_path}: line {lineno}: video {vid!r} category {cat!r} "
                f"differs from {category[vid]!r} on an earlier line"
            )
        if vid in rows and len(values) != len(rows[vid][0]):
            raise DatasetError(
                f"{anno_path}: line {lineno}: video {vid!r} has {len(values)} frame scores, "
                f"an earlier line has {len(rows[vid][0])}"
            )
        rows.setdefault(vid, []).append(values)
    if not rows:
        raise DatasetError(f"{anno_path}: no annotation rows")
    videos = []
    for vid, user_rows in rows.items():
        if vid not in info:
            raise DatasetError(f"{info_path}: no row for video {vid!r} (listed in {anno_path})")
        title, length = info[vid]
        anno = np.stack(user_rows)
        if anno.shape[1] < 2:
            raise DatasetError(f"{anno_path}: video {vid!r} has fewer than 2 frames")
        videos.append(
            TVSumVideo(
                video_id=vid,
                category=category[vid],
                title=title,
                nframes=anno.shape[1],
                length=length,
                user_anno=_ratings(anno, f"{anno_path}: video {vid!r}"),
                source="tsv",
                where=str(anno_path),
            )
        )
    return videos


# ---------------------------------------------------------------------------- loading


def _find(root: Path, name: str, dirs: tuple[str, ...]) -> Path | None:
    for d in dirs:
        path = root / d / name
        if path.is_file():
            return path
    return None


_CACHE: dict[tuple, list[TVSumVideo]] = {}


def _stamp(*paths: Path) -> tuple:
    out = []
    for p in paths:
        st = os.stat(p)
        out.append((str(Path(p).resolve()), st.st_mtime_ns, st.st_size))
    return tuple(out)


def load_annotations(root: Path, spec: dict) -> list[TVSumVideo]:
    """The videos of the .mat or the TSV pair under root (see ``annotation``)."""
    root = Path(root)
    mode = spec.get("annotation", DEFAULTS["annotation"])
    if mode not in ("auto", "mat", "tsv"):
        raise ConfigError(f"tvsum: annotation must be 'auto', 'mat' or 'tsv', not {mode!r}")
    mat = _find(root, MAT_NAME, MAT_DIRS) if mode in ("auto", "mat") else None
    anno = _find(root, ANNO_NAME, TSV_DIRS)
    info = _find(root, INFO_NAME, TSV_DIRS)
    if mat is not None:
        key, loader = _stamp(mat), lambda: read_mat(mat)
    elif mode != "mat" and anno is not None and info is not None:
        key, loader = _stamp(anno, info), lambda: read_tsv(anno, info)
    else:
        wanted = {
            "auto": f"{MAT_NAME} or {ANNO_NAME} + {INFO_NAME}",
            "mat": MAT_NAME,
            "tsv": f"{ANNO_NAME} + {INFO_NAME}",
        }[mode]
        raise DatasetError(
            f"{root}: no TVSum annotation found ({wanted} in root, matlab/ or data/)"
        )
    if key not in _CACHE:
        videos = loader()
        if not videos:
            raise DatasetError(f"{key[0][0]}: no videos")
        registry.check_unique(
            (v.video_id for v in videos), videos[0].where if videos else str(root)
        )
        users = {v.user_anno.shape[0] for v in videos}
        if len(users) > 1:
            raise DatasetError(
                f"{videos[0].where}: videos have different numbers of annotators {sorted(users)}"
            )
        _CACHE.clear()
        _CACHE[key] = videos
    return _CACHE[key]


def clip_ratings(video: TVSumVideo, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """(sampled frame index [n], ratings [n, annotators]) of the 2-second clips."""
    n = int((video.nframes - 1) / (2 * fps))
    if n < 1:
        raise DatasetError(
            f"{video.where}: video {video.video_id!r} is shorter than one 2-second clip"
        )
    frames = np.floor((np.arange(n) + 0.5) * 2 * fps).astype(np.int64)
    return frames, video.user_anno[:, frames].T


def longest_two(videos: list[TVSumVideo], present: dict[str, str]) -> dict[str, str]:
    """HPCL's TVSum split (§4.1, after Xiong et al. 2019): in each category the two longest
    videos train and the others test. Length: the annotation's (exact in the .mat, whole
    seconds in the info TSV), ties broken by the number of annotated frames, then the id.
    Only the videos in ``present`` (id -> category) are split."""
    by_category: dict[str, list[TVSumVideo]] = {}
    for v in videos:
        if present.get(v.video_id) == v.category:
            by_category.setdefault(v.category, []).append(v)
    out: dict[str, str] = {}
    for members in by_category.values():
        members.sort(key=lambda v: (-(v.length or 0.0), -v.nframes, v.video_id))
        for rank, v in enumerate(members):
            out[v.video_id] = "train" if rank < 2 else "test"
    return out


class TVSumReader:
    name = "tvsum"
    protocol = "tvsum-top5-median"

    def read_videos(self, root: Path, spec: dict) -> pd.DataFrame:
        root = Path(root)
        videos = load_annotations(root, spec)
        pattern = spec.get("video_pattern", DEFAULTS["video_pattern"])
        rows = [
            {
                "video_id": v.video_id,
                "path": registry.resolve_video(
                    root, pattern, {"video_id": v.video_id, "category": v.category}, v.where
                ),
                "category": v.category,
            }
            for v in videos
        ]
        schemes = self._schemes(pd.DataFrame(rows), videos)
        return registry.video_table(rows, schemes, registry.scheme_name(schemes, spec, self.name))

    def split_schemes(self, videos: pd.DataFrame, spec: dict) -> dict[str, dict[str, str]]:
        return self._schemes(videos, load_annotations(registry.spec_root(spec, self.name), spec))

    def _schemes(
        self, videos: pd.DataFrame, annotations: list[TVSumVideo]
    ) -> dict[str, dict[str, str]]:
        present = dict(zip(videos["video_id"], videos["category"], strict=True))
        umt: dict[str, str] = {}
        for category, parts in registry.load_data_file("tvsum_umt_splits.json")["splits"].items():
            for part, split in (("train", "train"), ("val", "test")):
                for vid in parts[part]:
                    if present.get(vid) == category:
                        umt[vid] = split
        return {
            "umt": umt,
            **registry.random_schemes(videos),
            "longest2": longest_two(annotations, present),
        }

    def make_clips(self, manifest: pd.DataFrame, root: Path, spec: dict) -> pd.DataFrame:
        registry.require_columns(manifest, ["video_id"], "manifest")
        by_id = {v.video_id: v for v in load_annotations(Path(root), spec)}
        n_users = next(iter(by_id.values())).user_anno.shape[0]
        user_columns = [f"u{k}" for k in range(n_users)]
        parts = []
        for row in tqdm(
            manifest.itertuples(), total=len(manifest), desc="clips", unit="video", disable=None
        ):
            video = by_id.get(row.video_id)
            if video is None:
                raise DatasetError(
                    f"manifest: video {row.video_id!r} is not in the TVSum annotation"
                )
            fps = self._fps(video, row)
            _, ratings = clip_ratings(video, fps)
            mean = ratings.mean(axis=1)
            n = len(mean)
            columns = {
                "clip": np.arange(n),
                "start": np.arange(n) * 2.0,
                "end": np.arange(n) * 2.0 + 2.0,
                "label": (mean > np.median(mean)).astype(np.int64),
                "score": mean.round(4),
            }
            columns.update({c: ratings[:, k] for k, c in enumerate(user_columns)})
            parts.append(registry.clip_frame(row.video_id, columns))
        return registry.concat_clips(
            parts, ["video_id", "clip", "start", "end", "label", "score", *user_columns]
        )

    @staticmethod
    def _fps(video: TVSumVideo, row) -> float:
        if video.source == "mat":
            return video.nframes / video.length
        fps = getattr(row, "fps", None)
        try:
            fps = float(fps)
        except (TypeError, ValueError):
            fps = math.nan
        if math.isfinite(fps) and fps > 0:
            return fps
        if video.length is None:
            raise DatasetError(
                f"{video.where}: video {video.video_id!r}: no fps in the manifest and no length "
                "in the info file"
            )
        log.warning("tvsum: %s: fps from nframes / m:ss length (inexact)", video.video_id)
        return video.nframes / video.length
