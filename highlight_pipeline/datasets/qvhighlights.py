"""QVHighlights (Lei, Berg, Bansal, NeurIPS 2021), as released in ``jayleicn/moment_detr``.

Layout under ``root``::

    highlight_{split}_release.jsonl     one query per line (split: train, val, test);
                                        also looked for in data/
    videos/{vid}.mp4                    the released 150-s videos (``video_pattern``)

A line: ``qid`` (int), ``query`` (str), ``duration`` (s), ``vid`` (``{youtube_id}_{start}_{end}``)
and, except in the unlabelled test file, ``relevant_windows`` ([[start, end], ...] s),
``relevant_clip_ids`` (0-based 2-second clips) and ``saliency_scores`` (one [a1, a2, a3] per
relevant clip, each 0..4).

One "video" per query: ``video_id = "qid{qid}"``, whose path is the query's video file (the
same file for the few vids asked about by several queries). moment_detr evaluates highlight
detection per query (``eval_highlight`` ranks each query's clip scores against that query's
``mk_gt_scores`` array), and the saliency of the same clip differs between queries, so the
clip table is per query too. Category is empty (QVHighlights has none).

Config keys:

* ``root``: the folder above.
* ``video_pattern``: default ``"videos/{vid}.mp4"``; fields ``{vid}``, ``{qid}``, ``{video_id}``.
* ``splits``: which files to read (default: every one of train, val, test present).
* ``split_scheme``: ``"official"`` (the only one: the split of the file a query came from).

Clips: as moment_detr's ``mk_gt_scores``: ``n = int(duration / 2)`` clips, clip j = [2j, 2j + 2) s,
``s0, s1, s2`` = the three saliency scores, 0 outside ``relevant_clip_ids``; ``relevant``
(1 inside), ``query`` (the text) and ``label`` = 1 when some annotator rated the clip >= 4
("VeryGood"), the positive set of HIT@1-VeryGood (moment_detr ``compute_hl_hit1`` takes the
max over annotators; its mAP uses each annotator's own ``>= 4`` column). Test queries have
no labels: ``label``, ``relevant`` and ``s*`` are -1. Protocol: ``qvhighlights-hl``
(evaluate on val: the test labels are not public; the test queries' scores go to the
evaluation server, :mod:`highlight_pipeline.qvhighlights_submission`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from highlight_pipeline.datasets import registry
from highlight_pipeline.errors import ConfigError, DatasetError

DEFAULTS = {"video_pattern": "videos/{vid}.mp4"}
SPLIT_FILES = {s: f"highlight_{s}_release.jsonl" for s in ("train", "val", "test")}
SEARCH_DIRS = (".", "data")
N_ANNOTATORS = 3
CLIP_SECONDS = 2
CLIP_COLUMNS = ["video_id", "clip", "start", "end", "label", "relevant", "s0", "s1", "s2", "query"]


@dataclass(frozen=True)
class Query:
    qid: int
    query: str
    vid: str
    duration: float
    split: str
    where: str  # "file:line"
    clip_ids: np.ndarray | None  # None when unlabelled
    saliency: np.ndarray | None  # (len(clip_ids), 3)

    @property
    def video_id(self) -> str:
        return f"qid{self.qid}"


def n_clips(duration: float) -> int:
    """The clip grid of a query: ``int(duration / 2)`` 2-second clips (moment_detr
    ``mk_gt_scores``; a trailing part shorter than 2 s is no clip)."""
    return int(duration / CLIP_SECONDS)


def _is_number(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def parse_line(obj, split: str, where: str) -> Query:
    if not isinstance(obj, dict):
        raise DatasetError(f"{where}: expected a JSON object")
    missing = [k for k in ("qid", "query", "vid", "duration") if k not in obj]
    if missing:
        raise DatasetError(f"{where}: missing field(s) {', '.join(missing)}")
    qid, vid, duration = obj["qid"], obj["vid"], obj["duration"]
    if not isinstance(qid, int) or isinstance(qid, bool):
        raise DatasetError(f"{where}: qid {qid!r} is not an integer")
    if not isinstance(vid, str) or not vid:
        raise DatasetError(f"{where}: qid {qid}: vid {vid!r} is not a string")
    if not isinstance(obj["query"], str):
        raise DatasetError(f"{where}: qid {qid}: query is not a string")
    if not _is_number(duration) or duration < 2:
        raise DatasetError(f"{where}: qid {qid}: duration {duration!r} is not a number >= 2")
    labelled = [k for k in ("relevant_clip_ids", "saliency_scores") if k in obj]
    clip_ids = saliency = None
    if labelled:
        if len(labelled) != 2:
            raise DatasetError(
                f"{where}: qid {qid}: has {labelled[0]} but not the other of "
                "relevant_clip_ids / saliency_scores"
            )
        n = n_clips(duration)
        ids = obj["relevant_clip_ids"]
        if not isinstance(ids, list) or not all(
            isinstance(c, int) and not isinstance(c, bool) for c in ids
        ):
            raise DatasetError(f"{where}: qid {qid}: relevant_clip_ids is not a list of integers")
        bad = [c for c in ids if not 0 <= c < n]
        if bad:
            raise DatasetError(
                f"{where}: qid {qid}: relevant_clip_id {bad[0]} outside 0..{n - 1} "
                f"(int(duration / 2) = {n} clips)"
            )
        if len(set(ids)) != len(ids):
            raise DatasetError(f"{where}: qid {qid}: relevant_clip_ids has duplicates")
        scores = obj["saliency_scores"]
        if (
            not isinstance(scores, list)
            or len(scores) != len(ids)
            or not all(
                isinstance(s, list)
                and len(s) == N_ANNOTATORS
                and all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 4 for x in s)
                for s in scores
            )
        ):
            raise DatasetError(
                f"{where}: qid {qid}: saliency_scores must be {len(ids)} lists of "
                f"{N_ANNOTATORS} integers in 0..4 (one per relevant clip)"
            )
        windows = obj.get("relevant_windows", [])
        if not isinstance(windows, list) or not all(
            isinstance(w, list) and len(w) == 2 and all(_is_number(x) for x in w) and w[0] <= w[1]
            for w in windows
        ):
            raise DatasetError(
                f"{where}: qid {qid}: relevant_windows is not a list of [start, end] pairs"
            )
        clip_ids = np.asarray(ids, dtype=np.int64)
        saliency = np.asarray(scores, dtype=np.int64).reshape(len(ids), N_ANNOTATORS)
    return Query(qid, obj["query"], vid, float(duration), split, where, clip_ids, saliency)


def json_lines(
    path: str | Path, error: type[Exception] = DatasetError, blank_ok: bool = True
) -> list[tuple[int, object]]:
    """``(line number, object)`` of each line of a JSON-lines file; a file that cannot be
    read, a malformed line (and with ``blank_ok`` false an empty one) is ``error`` naming
    the file and line."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc})") from None
    out = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            if blank_ok:
                continue
            raise error(f"{path}:{lineno}: empty line")
        try:
            out.append((lineno, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise error(f"{path}:{lineno}: malformed JSON ({exc.msg})") from None
    return out


def read_jsonl(path: Path, split: str) -> list[Query]:
    return [parse_line(obj, split, f"{path}:{lineno}") for lineno, obj in json_lines(path)]


def find_files(root: Path, spec: dict) -> dict[str, Path]:
    splits = spec.get("splits")
    if splits is not None:
        unknown = [s for s in splits if s not in SPLIT_FILES]
        if unknown:
            raise ConfigError(
                f"qvhighlights: unknown split(s) {unknown}; known: {', '.join(SPLIT_FILES)}"
            )
    found = {}
    for split, name in SPLIT_FILES.items():
        if splits is not None and split not in splits:
            continue
        path = next((root / d / name for d in SEARCH_DIRS if (root / d / name).is_file()), None)
        if path is None and splits is not None:
            raise DatasetError(f"{root}: {name} not found (in root or data/)")
        if path is not None:
            found[split] = path
    if not found:
        raise DatasetError(
            f"{root}: no highlight_{{train,val,test}}_release.jsonl (in root or data/)"
        )
    return found


def release_file(root: str | Path, spec: dict, split: str) -> Path | None:
    """The ``highlight_{split}_release.jsonl`` the reader reads under ``root`` (root or
    data/), or None: no such file, or ``spec["splits"]`` leaves the split out. Never
    raises (the workflow asks this while it plans, before any file is checked)."""
    splits = spec.get("splits")
    if split not in SPLIT_FILES or (splits is not None and split not in splits):
        return None
    root = Path(root)
    name = SPLIT_FILES[split]
    return next((root / d / name for d in SEARCH_DIRS if (root / d / name).is_file()), None)


def load_queries(root: Path, spec: dict) -> list[Query]:
    queries: list[Query] = []
    seen: dict[int, str] = {}
    for split, path in find_files(Path(root), spec).items():
        for q in read_jsonl(path, split):
            if q.qid in seen:
                raise DatasetError(f"{q.where}: duplicate qid {q.qid} (first at {seen[q.qid]})")
            seen[q.qid] = q.where
            queries.append(q)
    return queries


class QVHighlightsReader:
    name = "qvhighlights"
    protocol = "qvhighlights-hl"

    def read_videos(self, root: Path, spec: dict) -> pd.DataFrame:
        root = Path(root)
        pattern = spec.get("video_pattern", DEFAULTS["video_pattern"])
        rows = []
        for q in load_queries(root, spec):
            fields = {"vid": q.vid, "qid": q.qid, "video_id": q.video_id}
            path = registry.resolve_video(root, pattern, fields, q.where)
            rows.append({"video_id": q.video_id, "path": path, "category": "", "split": q.split})
        schemes = self.split_schemes(pd.DataFrame(rows), spec)
        return registry.video_table(rows, schemes, registry.scheme_name(schemes, spec, self.name))

    def split_schemes(self, videos: pd.DataFrame, spec: dict) -> dict[str, dict[str, str]]:
        if "split" in videos.columns and all(s in SPLIT_FILES for s in videos["split"]):
            return {"official": dict(zip(videos["video_id"], videos["split"], strict=True))}
        queries = load_queries(registry.spec_root(spec, self.name), spec)
        wanted = set(videos["video_id"])
        return {"official": {q.video_id: q.split for q in queries if q.video_id in wanted}}

    def make_clips(self, manifest: pd.DataFrame, root: Path, spec: dict) -> pd.DataFrame:
        registry.require_columns(manifest, ["video_id"], "manifest")
        by_id = {q.video_id: q for q in load_queries(Path(root), spec)}
        parts = []
        for row in tqdm(
            manifest.itertuples(), total=len(manifest), desc="clips", unit="video", disable=None
        ):
            q = by_id.get(row.video_id)
            if q is None:
                raise DatasetError(
                    f"manifest: {row.video_id!r} is not a QVHighlights query under {root}"
                )
            n = n_clips(q.duration)
            if q.saliency is None:
                scores = np.full((n, N_ANNOTATORS), -1, dtype=np.int64)
                relevant = np.full(n, -1, dtype=np.int64)
                label = np.full(n, -1, dtype=np.int64)
            else:
                scores = np.zeros((n, N_ANNOTATORS), dtype=np.int64)
                scores[q.clip_ids] = q.saliency
                relevant = np.zeros(n, dtype=np.int64)
                relevant[q.clip_ids] = 1
                label = (scores.max(axis=1) >= 4).astype(np.int64)
            columns = {
                "clip": np.arange(n),
                "start": np.arange(n) * 2.0,
                "end": np.arange(n) * 2.0 + 2.0,
                "label": label,
                "relevant": relevant,
            }
            columns.update({f"s{k}": scores[:, k] for k in range(N_ANNOTATORS)})
            columns["query"] = q.query
            parts.append(registry.clip_frame(row.video_id, columns))
        return registry.concat_clips(parts, CLIP_COLUMNS)
