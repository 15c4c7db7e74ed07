"""CoSum (Chu, Song, Jaimes, "Video co-summarization", CVPR 2015): 51 videos of 10 events.

Layout under ``root``: the public release (GitHub ``Blssel/cosum``, a mirror of the authors'
``cosum`` repository), plus your videos::

    shots/{NN_event}/{prefix}{k}_shots.txt      shot boundaries: nShots + 1 lines, one frame
                                                number each (1-based); shot n spans line n
                                                to line n + 1
    annotation/{NN_event}/{k}__{user}.mat       one user's selected shots: variable
                                                ``labels``, a column of 1-based shot indices
    videos/{video_id}.mp4                       the videos (``video_pattern``)

for example ``shots/01_base_jump/base1_shots.txt`` and ``annotation/01_base_jump/1__kk.mat``.
The users are ``dualplus``, ``kk`` and ``vv``. ``video_id`` is ``{prefix}{k}`` (``base1``),
category is the event without its number (``base_jump``). The .mat files are read with
``scipy.io.loadmat`` (MATLAB v5), or h5py for v7.3.

Config keys:

* ``root``: the folder above.
* ``video_pattern``: default ``"videos/{video_id}.mp4"``; fields ``{video_id}``,
  ``{event}`` (``01_base_jump``), ``{category}`` (``base_jump``), ``{index}`` (k).
* ``users``: annotation users, default ``["dualplus", "kk", "vv"]`` (columns u0, u1, u2).
* ``min_votes``: a shot is a highlight (``label`` 1) when at least this many users picked it
  (default 2, "at least two of three").
* ``rescale_shots``: false (default): shot frame numbers are frames of your video file;
  true: they are scaled by ``manifest frames / last boundary`` first (for a re-encoded copy
  whose frame count differs from the one the shots were cut on).
* ``split_scheme``: ``"random80-s0"`` (default) ... ``"random80-s4"``.

Split schemes: CoSum has no official split; ``random80-s{k}`` puts one random video of each
event (20 %, at least one) into test, seed k.

Clips: one per shot. Shot i (0-based) covers the 0-based frames
``[b[i] - 1, b[i + 1] - 1)`` of the boundary list b, the last shot ``[b[-2] - 1, b[-1])``;
``start``/``end`` are those frames / the manifest's fps. Frames before the first boundary
belong to no shot (some files start at 3, not 1). A repeated boundary makes an empty shot,
kept so that the annotation's shot numbers still match. The public repository holds several
versions of some shot files (``mlb6_shots.txt`` differs a lot between commits): use the
version that matches your annotation files. Columns ``u0, u1, u2`` (1 when that
user selected the shot), ``votes``, ``label`` (votes >= min_votes), ``start_frame``,
``end_frame``. Protocol: ``tvsum-top5-median`` on the user columns, i.e. the top-5 mAP
against each user's selection averaged over users (as in MINI-Net / PLD-VHD Table 3); this
equals it while each user selects at most half of a video's shots (a warning is logged when
not, since the median binarisation then marks nothing positive).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.io
from tqdm import tqdm

from highlight_pipeline.datasets import registry
from highlight_pipeline.errors import ConfigError, DatasetError

log = logging.getLogger(__name__)

DEFAULTS = {
    "video_pattern": "videos/{video_id}.mp4",
    "users": ["dualplus", "kk", "vv"],
    "min_votes": 2,
    "rescale_shots": False,
}
SHOTS_FILE = re.compile(r"^([A-Za-z]+)(\d+)_shots\.txt$")


@dataclass(frozen=True)
class CoSumVideo:
    video_id: str
    event: str
    category: str
    index: int
    shots_path: Path


def read_index(root: Path) -> list[CoSumVideo]:
    """The videos of ``shots/``, sorted by event and file name."""
    shots_dir = Path(root) / "shots"
    if not shots_dir.is_dir():
        raise DatasetError(f"{shots_dir}: not found (CoSum layout: shots/{{event}}/*_shots.txt)")
    videos: list[CoSumVideo] = []
    first: dict[str, Path] = {}
    for event_dir in sorted(p for p in shots_dir.iterdir() if p.is_dir()):
        for path in sorted(event_dir.glob("*_shots.txt")):
            match = SHOTS_FILE.match(path.name)
            if match is None:
                raise DatasetError(f"{path}: name is not {{prefix}}{{k}}_shots.txt")
            vid = f"{match.group(1)}{int(match.group(2))}"
            if vid in first:
                raise DatasetError(f"{path}: duplicate video_id {vid!r} (also {first[vid]})")
            first[vid] = path
            category = re.sub(r"^\d+_", "", event_dir.name)
            videos.append(CoSumVideo(vid, event_dir.name, category, int(match.group(2)), path))
    if not videos:
        raise DatasetError(f"{shots_dir}: no {{event}}/*_shots.txt files")
    return videos


def read_shots(path: Path) -> np.ndarray:
    """The boundary frame numbers (nShots + 1, non-decreasing; blank lines are skipped)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").split()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from None
    values = []
    for i, text in enumerate(lines, start=1):
        try:
            values.append(int(text))
        except ValueError:
            raise DatasetError(f"{path}: entry {i} ({text!r}) is not a frame number") from None
    bounds = np.asarray(values, dtype=np.int64)
    if len(bounds) < 2:
        raise DatasetError(f"{path}: needs at least 2 boundaries (one shot), has {len(bounds)}")
    if bounds[0] < 0 or np.any(np.diff(bounds) < 0):
        raise DatasetError(f"{path}: boundaries are not increasing non-negative frame numbers")
    if np.any(np.diff(bounds) == 0):
        # kept, so that the annotation's shot numbers still match (one release version of
        # mlb6_shots.txt repeats a boundary)
        log.warning("cosum: %s: repeated boundary, an empty shot", path)
    return bounds


def read_selection(path: Path, n_shots: int) -> np.ndarray:
    """The 0-based indices of the shots a user selected (``labels``: 1-based indices)."""
    if not path.is_file():
        raise DatasetError(f"{path}: not found (CoSum user annotation)")
    try:
        labels = scipy.io.loadmat(str(path))["labels"]
    except NotImplementedError:  # MATLAB v7.3: HDF5
        try:
            with h5py.File(path, "r") as f:
                labels = f["labels"][()]
        except (OSError, KeyError) as exc:
            raise DatasetError(f"{path}: cannot read 'labels' ({exc})") from None
    except KeyError:
        raise DatasetError(f"{path}: no variable 'labels'") from None
    except (ValueError, TypeError, OSError) as exc:
        raise DatasetError(f"{path}: not a MATLAB file ({exc})") from None
    labels = np.asarray(labels)
    if labels.size and (labels.dtype.kind not in "iuf" or sum(d > 1 for d in labels.shape) > 1):
        raise DatasetError(
            f"{path}: 'labels' should be a vector of shot indices, got {labels.dtype} "
            f"{labels.shape}"
        )
    labels = labels.ravel()
    if np.any(labels != np.round(labels)):
        raise DatasetError(f"{path}: 'labels' holds non-integer shot indices")
    labels = labels.astype(np.int64)
    bad = labels[(labels < 1) | (labels > n_shots)]
    if len(bad):
        raise DatasetError(
            f"{path}: shot index {int(bad[0])} outside 1..{n_shots} (the video's shots)"
        )
    return np.unique(labels - 1)


def annotation_path(root: Path, video: CoSumVideo, user: str) -> Path:
    return Path(root) / "annotation" / video.event / f"{video.index}__{user}.mat"


class CoSumReader:
    name = "cosum"
    protocol = "tvsum-top5-median"

    def read_videos(self, root: Path, spec: dict) -> pd.DataFrame:
        root = Path(root)
        pattern = spec.get("video_pattern", DEFAULTS["video_pattern"])
        rows = []
        for v in read_index(root):
            fields = {
                "video_id": v.video_id,
                "event": v.event,
                "category": v.category,
                "index": v.index,
            }
            path = registry.resolve_video(root, pattern, fields, str(v.shots_path))
            rows.append({"video_id": v.video_id, "path": path, "category": v.category})
        schemes = registry.random_schemes(pd.DataFrame(rows))
        return registry.video_table(rows, schemes, registry.scheme_name(schemes, spec, self.name))

    def split_schemes(self, videos: pd.DataFrame, spec: dict) -> dict[str, dict[str, str]]:
        return registry.random_schemes(videos)

    def make_clips(self, manifest: pd.DataFrame, root: Path, spec: dict) -> pd.DataFrame:
        root = Path(root)
        registry.require_columns(manifest, ["video_id", "fps"], "manifest")
        users = list(spec.get("users", DEFAULTS["users"]))
        min_votes = int(spec.get("min_votes", DEFAULTS["min_votes"]))
        if not users or not 1 <= min_votes <= len(users):
            raise ConfigError(f"cosum: min_votes must be in 1..{len(users)} (users: {users})")
        rescale = bool(spec.get("rescale_shots", DEFAULTS["rescale_shots"]))
        by_id = {v.video_id: v for v in read_index(root)}
        user_columns = [f"u{k}" for k in range(len(users))]
        parts = []
        for row in tqdm(
            manifest.itertuples(), total=len(manifest), desc="clips", unit="video", disable=None
        ):
            video = by_id.get(row.video_id)
            if video is None:
                raise DatasetError(f"manifest: video {row.video_id!r} is not under {root}/shots")
            fps = registry.manifest_fps(row, "manifest")
            bounds = read_shots(video.shots_path).astype(np.float64)
            if rescale:
                frames = float(getattr(row, "frames", np.nan))
                if not frames > 0:
                    raise DatasetError(
                        f"manifest: video {row.video_id!r} has no frame count to rescale shots"
                    )
                bounds = bounds * frames / bounds[-1]
            n_shots = len(bounds) - 1
            start_frame = np.maximum(bounds[:-1] - 1, 0)
            end_frame = np.append(bounds[1:-1] - 1, bounds[-1])
            picked = np.zeros((n_shots, len(users)), dtype=np.int64)
            for k, user in enumerate(users):
                chosen = read_selection(annotation_path(root, video, user), n_shots)
                picked[chosen, k] = 1
                if len(chosen) > n_shots // 2:
                    log.warning(
                        "cosum: %s: user %s selected %d of %d shots; the median-binarised "
                        "top-5 protocol marks none of them positive",
                        row.video_id,
                        user,
                        len(chosen),
                        n_shots,
                    )
            votes = picked.sum(axis=1)
            columns = {
                "clip": np.arange(n_shots),
                "start": (start_frame / fps).round(3),
                "end": (end_frame / fps).round(3),
                "label": (votes >= min_votes).astype(np.int64),
                "votes": votes,
            }
            columns.update({c: picked[:, k] for k, c in enumerate(user_columns)})
            columns.update({"start_frame": start_frame, "end_frame": end_frame})
            parts.append(registry.clip_frame(row.video_id, columns))
        return registry.concat_clips(
            parts,
            ["video_id", "clip", "start", "end", "label", "votes", *user_columns]
            + ["start_frame", "end_frame"],
        )
