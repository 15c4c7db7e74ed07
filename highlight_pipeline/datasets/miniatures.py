"""Miniatures of the benchmarks in their release layouts, to rehearse the paper presets.

``hlp rehearsal-data DATASET DIR`` (or :func:`write_miniature`) writes into DIR, for the
readers ``youtube``, ``tvsum``, ``cosum``, ``qvhighlights`` and ``vtw``:

* the annotation files in the release's own format, exactly what the reader reads from a
  real release (docs/datasets.md), and
* a few short videos with sound where the reader looks for them (its default
  ``video_pattern``), with ids in the release's style, made by the embedded synthetic
  generator (:func:`highlight_pipeline.datasets.synthetic.write_video`: its per-video
  renderer, given the event segments planned here).

Each has 2 categories x 3 videos of 10-12 s, 96 x 72 px, H.264 + AAC in .mp4 (QVHighlights:
10 videos, 6 val + 6 train queries and 2 unlabelled test queries; VTW: 6 videos in 2 event
kinds, no categories). Every video has one event: the category's event object and sound of
the synthetic generator. The annotation's highlight units are where the events are, so a
rehearsal's labels mean what they mean on the real data:

* YouTube (30 fps): the release's 100-frame segments, 50 frames apart, the last one cut at
  the video's end; match label 1 when at least half of a segment lies in the event, 0
  (borderline) when less, -1 outside. ``{domain}/vlist.json`` puts 2 videos of each domain
  in a Trai* set and 1 in a Test* set (the canonical split); ``vlist_sel.json`` and
  ``{domain}/{vid}/clip.json`` as in the release.
* TVSum (10 fps): ``matlab/ydata-tvsum50.mat`` (MATLAB v7.3) and the ``data/`` TSV pair; 20
  annotators rate 2-second shots, each annotator one low rating (1 or 2) outside the event
  and 3-5 on the event's shots (events lie on whole 2-second clips). ``nframes`` and
  ``length`` are the file's.
* CoSum (10 fps): ``shots/{NN_event}/{prefix}{k}_shots.txt`` (shots of up to 3 s, cut at the
  event's edges) and ``annotation/{NN_event}/{k}__{user}.mat``: two or three of the users
  select the event's shots, ``kk`` sometimes one more shot (one vote: not a highlight).
* QVHighlights (10 fps): ``highlight_{train,val,test}_release.jsonl``; a query describes
  its video's event, whose 2-second clips are the relevant clips, each rated 2-4 by the
  three annotators with at least one 4 (so ``label`` marks exactly the event's clips).
  Videos ``videos/{youtube_id}_{start}.0_{end}.0.mp4``; two val and two train videos have
  two queries each.
* VTW (30 fps): ``vtw_videos.csv`` (video_id, split, frames, title) and
  ``vtw_highlights.csv``, one highlight interval a video (the event's frames).

``miniature.json`` at the root records what the generator made (no release has it; no
reader reads it): per video file its ids (the reader's ``video_id``\\s), category, event
kind, split, duration, fps, frames and the event intervals in seconds.

The same seed writes the same miniature. The format writers below (``write_youtube_release``,
``write_tvsum_mat``, ...) also write the reader fixtures (tests/fixtures/readers).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import string
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import h5py
import numpy as np
import scipy.io
import yaml

from highlight_pipeline.atomic import write_text_atomic
from highlight_pipeline.datasets.synthetic import CATEGORY_NAMES, SynthSpec, VideoPlan, write_video
from highlight_pipeline.errors import ConfigError, DatasetError

WIDTH, HEIGHT, SAMPLE_RATE = 96, 72, 16000
RECORD = "miniature.json"
YOUTUBE_ID_CHARS = string.ascii_letters + string.digits + "-_"

# ------------------------------------------------------------------ release format writers


def write_youtube_release(
    root: Path,
    vlists: dict[str, list],
    labels: dict[str, list],
    selected: dict[str, list] | None = None,
    clip_json: bool = False,
) -> None:
    """``{domain}/vlist.json`` (``[[[vid, ...], set_name], ...]``), ``vlist_sel.json`` (when
    ``selected`` is given) and ``{domain}/{vid}/match_label.json`` (``[[[start_frame,
    end_frame], ...], [label, ...]]``; ``clip.json``, the segments alone, too with
    ``clip_json``) for every listed video."""
    for domain, vlist in vlists.items():
        (root / domain).mkdir(parents=True, exist_ok=True)
        (root / domain / "vlist.json").write_text(json.dumps(vlist))
        if selected is not None:
            (root / domain / "vlist_sel.json").write_text(json.dumps(selected[domain]))
        for ids, _ in vlist:
            for vid in ids:
                (root / domain / vid).mkdir(exist_ok=True)
                (root / domain / vid / "match_label.json").write_text(json.dumps(labels[vid]))
                if clip_json:
                    (root / domain / vid / "clip.json").write_text(json.dumps(labels[vid][0]))


MATLAB_HEADER = (
    b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 "
    b"HDF5 schema 1.00 ."
)


def write_tvsum_mat(path: Path, videos: list[dict]) -> None:
    """``ydata-tvsum50.mat`` as MATLAB writes it with -v7.3: HDF5 with a 512-byte MATLAB user
    block, struct array ``tvsum50`` whose fields (video, category, title, length, nframes,
    user_anno, gt_score) are (N, 1) object references into ``#refs#``, chars as uint16.

    ``videos``: dicts with ``video``, ``category``, ``title``, ``length`` (s) and ``anno``
    (annotators x nframes ratings)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")
        counter = iter(range(10**6))

        def put(data: np.ndarray, matlab_class: str) -> h5py.Reference:
            ds = refs.create_dataset(f"r{next(counter)}", data=data)
            ds.attrs["MATLAB_class"] = np.bytes_(matlab_class)
            if matlab_class == "char":
                ds.attrs["MATLAB_int_decode"] = np.int32(2)
            return ds.ref

        def char(text: str) -> h5py.Reference:
            return put(np.array([[ord(ch)] for ch in text], dtype=np.uint16), "char")

        def double(x) -> h5py.Reference:
            return put(np.atleast_2d(np.asarray(x, dtype=np.float64)), "double")

        fields = {
            "video": [char(v["video"]) for v in videos],
            "category": [char(v["category"]) for v in videos],
            "title": [char(v["title"]) for v in videos],
            "length": [double(v["length"]) for v in videos],
            "nframes": [double(v["anno"].shape[1]) for v in videos],
            "user_anno": [double(v["anno"]) for v in videos],
            "gt_score": [double(v["anno"].mean(axis=0)[None, :]) for v in videos],
        }
        group = f.create_group("tvsum50")
        group.attrs["MATLAB_class"] = np.bytes_("struct")
        for name, values in fields.items():
            group.create_dataset(name, data=np.array(values, dtype=h5py.ref_dtype).reshape(-1, 1))
    with open(path, "r+b") as fh:
        fh.write(MATLAB_HEADER.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM")


def minutes(seconds: float) -> str:
    """``m:ss``, as ydata-tvsum50-info.tsv gives lengths."""
    s = int(round(seconds))
    return f"{s // 60}:{s % 60:02d}"


def write_tvsum_tsv(data: Path, videos: list[dict]) -> None:
    """``ydata-tvsum50-anno.tsv`` (one row per video and annotator) and ``-info.tsv`` (header;
    category, video_id, title, url, length as m:ss) of the same ``videos`` as
    :func:`write_tvsum_mat`."""
    data.mkdir(parents=True, exist_ok=True)
    anno_lines, info_lines = [], ["category\tvideo_id\ttitle\turl\tlength"]
    for v in videos:
        for row in v["anno"]:
            anno_lines.append(
                f"{v['video']}\t{v['category']}\t" + ",".join(map(str, map(int, row)))
            )
        url = f"https://www.youtube.com/watch?v={v['video']}"
        info_lines.append(
            f"{v['category']}\t{v['video']}\t{v['title']}\t{url}\t{minutes(v['length'])}"
        )
    (data / "ydata-tvsum50-anno.tsv").write_text("\n".join(anno_lines) + "\n")
    (data / "ydata-tvsum50-info.tsv").write_text("\n".join(info_lines) + "\n")


MAT5_CREATED = "Mon Jan  1 00:00:00 2024"


def write_mat5(path: Path, variables: dict[str, np.ndarray], created: str = MAT5_CREATED) -> None:
    """A MATLAB v5 .mat file (``scipy.io.savemat``) whose header states ``created`` rather
    than the time of writing, so that the same variables always make the same bytes."""
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, variables)
    data = bytearray(buffer.getvalue())
    text = f"MATLAB 5.0 MAT-file Platform: posix, Created on: {created}".encode()
    data[:116] = text.ljust(116, b"\x00")[:116]
    Path(path).write_bytes(bytes(data))


def write_cosum_release(root: Path, events: dict[str, dict], created: str = MAT5_CREATED) -> None:
    """``shots/{event}/{prefix}{k}_shots.txt`` (one boundary frame number a line) and
    ``annotation/{event}/{k}__{user}.mat`` (MATLAB v5, ``labels``: a column of 1-based shot
    indices). ``events``: event folder -> {(prefix, k): (boundaries, {user: shots})}."""
    for event, videos in events.items():
        (root / "shots" / event).mkdir(parents=True, exist_ok=True)
        (root / "annotation" / event).mkdir(parents=True, exist_ok=True)
        for (prefix, k), (bounds, users) in videos.items():
            (root / "shots" / event / f"{prefix}{k}_shots.txt").write_text(
                "".join(f"{b}\n" for b in bounds)
            )
            for user, shots in users.items():
                labels = np.array(shots, dtype=np.float64).reshape(-1, 1)
                write_mat5(
                    root / "annotation" / event / f"{k}__{user}.mat", {"labels": labels}, created
                )
    (root / "shots" / "README.md").write_text("shot indices, nShot + 1 lines per video\n")


def write_qvhighlights_release(root: Path, splits: dict[str, list[dict]]) -> None:
    """``highlight_{split}_release.jsonl``: one query (a JSON object) a line."""
    root.mkdir(parents=True, exist_ok=True)
    for split, lines in splits.items():
        (root / f"highlight_{split}_release.jsonl").write_text(
            "".join(json.dumps(line) + "\n" for line in lines)
        )


def write_vtw_release(root: Path, videos: list[dict], highlights: list[tuple]) -> None:
    """``vtw_videos.csv`` (video_id, split, frames, title) and ``vtw_highlights.csv``
    (video_id, start_frame, end_frame: 0-based, half-open)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "vtw_videos.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video_id", "split", "frames", "title"])
        for v in videos:
            writer.writerow([v["video_id"], v["split"], v["frames"], v["title"]])
    with open(root / "vtw_highlights.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video_id", "start_frame", "end_frame"])
        writer.writerows(highlights)


# ------------------------------------------------------------------ videos and the record


@dataclass
class MiniVideo:
    """One video file of a miniature and what the generator put in it."""

    path: str  # relative to the root
    video_ids: list[str]  # the reader's video_id(s) of this file (QVHighlights: one per query)
    category: str  # the dataset's category ("" where it has none)
    event_category: int  # the synthetic generator's event kind (CATEGORY_NAMES)
    split: str  # the split the annotation gives ("" where a split scheme draws it)
    duration: int  # seconds
    fps: int
    events: list[tuple[float, float]]  # seconds

    @property
    def frames(self) -> int:
        return self.duration * self.fps


def youtube_ids(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct 11-character ids in YouTube's alphabet (not starting with - or _)."""
    out: list[str] = []
    while len(out) < n:
        first = rng.choice(list(string.ascii_letters + string.digits))
        vid = first + "".join(rng.choice(list(YOUTUBE_ID_CHARS), size=10))
        if vid not in out:
            out.append(str(vid))
    return out


def _event(
    rng: np.random.Generator, duration: int, grid: int, lengths: tuple[int, ...], end: int
) -> tuple[float, float]:
    """One event interval (s) of one of ``lengths`` s, starting on a multiple of ``grid``
    (at least ``grid`` s in) and ending by ``end``."""
    length = int(rng.choice(lengths))
    start = int(rng.choice(np.arange(grid, end - length + 1, grid)))
    return float(start), float(start + length)


def _frames(interval: tuple[float, float], fps: int) -> tuple[int, int]:
    return int(round(interval[0] * fps)), int(round(interval[1] * fps))


def _overlap(a: int, b: int, events: list[tuple[float, float]], fps: int) -> int:
    total = 0
    for event in events:
        s, e = _frames(event, fps)
        total += max(0, min(b, e) - max(a, s))
    return total


def _jobs(jobs: int | None, n: int) -> int:
    return max(1, min(jobs if jobs else min(2, os.cpu_count() or 1), n))


def render(
    root: Path, dataset: str, videos: list[MiniVideo], seed: int, jobs: int | None = None
) -> None:
    """Write each video with the synthetic generator's renderer (picture and sound), its
    events where ``events`` says; ``jobs`` processes (default: up to 2)."""
    names = sorted(MINIATURES)
    spec = SynthSpec(
        width=WIDTH,
        height=HEIGHT,
        sample_rate=SAMPLE_RATE,
        seed=seed * len(names) + names.index(dataset),  # other datasets, other pictures
    )
    paths, plans = [], []
    for k, v in enumerate(videos):
        path = root / v.path
        path.parent.mkdir(parents=True, exist_ok=True)
        paths.append(path)
        plans.append(
            VideoPlan(
                video_id=f"mini_{k:02d}",  # the renderer seeds each video by its last 2 digits
                category=v.event_category,
                duration=float(v.duration),
                highlights=[tuple(e) for e in v.events],
                split=v.split or "train",
                fps=v.fps,
                width=WIDTH,
                height=HEIGHT,
                sample_rate=SAMPLE_RATE,
                container="mp4",
            )
        )
    workers = _jobs(jobs, len(plans))
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(write_video, paths, [spec] * len(plans), plans))
    else:
        for path, plan in zip(paths, plans, strict=True):
            write_video(path, spec, plan)


def write_record(root: Path, dataset: str, seed: int, videos: list[MiniVideo]) -> None:
    record = {
        "dataset": dataset,
        "seed": seed,
        "made_by": "hlp rehearsal-data (highlight_pipeline.datasets.miniatures)",
        "note": "a miniature for rehearsals, not the benchmark: synthetic videos; events in "
        "seconds are where the generator drew each video's event object and sound",
        "videos": [
            {
                **asdict(video),
                "event_category": CATEGORY_NAMES[video.event_category],
                "frames": video.frames,
                "events": [list(e) for e in video.events],
            }
            for video in videos
        ],
    }
    (root / RECORD).write_text(json.dumps(record, indent=1) + "\n")


def read_record(root: str | Path) -> dict:
    """``miniature.json`` of a miniature written here."""
    return json.loads((Path(root) / RECORD).read_text())


# ------------------------------------------------------------------ the datasets


def _seed(seed: int, dataset: str) -> list[int]:
    return [seed, sorted(MINIATURES).index(dataset)]


YOUTUBE_DOMAINS = {"dog": 0, "surfing": 1}  # domain -> event kind
YOUTUBE_FPS = 30


def youtube_segments(
    frames: int, fps: int, events: list[tuple[float, float]], first: int = 0
) -> tuple[list[list[float]], list[int]]:
    """The release's segments (100 frames, every 50 frames, the last ones cut at the video's
    end) and their match labels: 1 when at least half a segment lies in an event, 0
    (borderline) when some of it does, else -1."""
    segments, labels = [], []
    for start in range(first, frames - 50, 50):
        end = min(start + 100, frames)
        inside = _overlap(start, end, events, fps)
        segments.append([float(start), float(end)])
        labels.append(1 if 2 * inside >= end - start else 0 if inside else -1)
    return segments, labels


def youtube(root: str | Path, seed: int = 0, jobs: int | None = None) -> list[MiniVideo]:
    """YouTube Highlights: ``{domain}/vlist.json``, ``vlist_sel.json``,
    ``{domain}/{vid}/match_label.json`` + ``clip.json`` and ``{domain}/{vid}.mp4``; domains
    dog and surfing, 3 videos each (TraiTightL, TraiLooseL, TestLooseL)."""
    root = Path(root)
    rng = np.random.default_rng(_seed(seed, "youtube"))
    ids = youtube_ids(rng, 3 * len(YOUTUBE_DOMAINS))
    sets = ["TraiTightL", "TraiLooseL", "TestLooseL"]
    videos, vlists, selected, labels = [], {}, {}, {}
    for d, (domain, kind) in enumerate(YOUTUBE_DOMAINS.items()):
        vids = ids[3 * d : 3 * d + 3]
        for j, vid in enumerate(vids):
            duration = int(rng.integers(10, 13))
            first = 1 if j == 2 else 0  # some release videos' segments start at frame 1
            for _ in range(100):
                events = [_event(rng, duration, 1, (3, 4), duration - 1)]
                segments, match = youtube_segments(
                    duration * YOUTUBE_FPS, YOUTUBE_FPS, events, first
                )
                if 1 in match and -1 in match:
                    break
            labels[vid] = [segments, match]
            videos.append(
                MiniVideo(
                    f"{domain}/{vid}.mp4",
                    [vid],
                    domain,
                    kind,
                    "train" if sets[j].startswith("Trai") else "test",
                    duration,
                    YOUTUBE_FPS,
                    events,
                )
            )
        vlists[domain] = [[[vid], name] for vid, name in zip(vids, sets, strict=True)]
        selected[domain] = vlists[domain][1:]  # the hand-picked subset leaves one out
    write_youtube_release(root, vlists, labels, selected, clip_json=True)
    render(root, "youtube", videos, seed, jobs)
    write_record(root, "youtube", seed, videos)
    return videos


TVSUM_CATEGORIES = {  # code -> (event kind, title stem)
    "BT": (2, "Attempting bike tricks"),
    "PK": (3, "Parkour in the city"),
}
TVSUM_FPS = 10
TVSUM_USERS = 20


def tvsum_ratings(
    rng: np.random.Generator, frames: int, fps: int, events: list[tuple[float, float]]
) -> np.ndarray:
    """(20, frames) ratings, constant within each 2-second shot: each annotator's own low
    rating (1 or 2) outside the events, 3..5 on the shots inside an event."""
    shot = np.arange(frames) // (2 * fps)
    anno = np.repeat(rng.integers(1, 3, size=(TVSUM_USERS, 1)), frames, axis=1)
    for k in np.unique(shot):
        a, b = k * 2 * fps, min((k + 1) * 2 * fps, frames)
        if _overlap(a, b, events, fps) == b - a:
            anno[:, shot == k] = rng.integers(3, 6, size=(TVSUM_USERS, 1))
    return anno.astype(np.float64)


def tvsum(root: str | Path, seed: int = 0, jobs: int | None = None) -> list[MiniVideo]:
    """TVSum50: ``matlab/ydata-tvsum50.mat``, ``data/ydata-tvsum50-{anno,info}.tsv`` and
    ``video/{video_id}.mp4``; categories BT and PK, 3 videos each (the random80 schemes put
    one of each in test)."""
    root = Path(root)
    rng = np.random.default_rng(_seed(seed, "tvsum"))
    ids = youtube_ids(rng, 3 * len(TVSUM_CATEGORIES))
    videos, annotations = [], []
    for c, (code, (kind, title)) in enumerate(TVSUM_CATEGORIES.items()):
        for j, vid in enumerate(ids[3 * c : 3 * c + 3]):
            duration = int(rng.integers(10, 13))
            frames = duration * TVSUM_FPS
            clips = int((frames - 1) / (2 * TVSUM_FPS))  # the reader's clip count
            events = [_event(rng, duration, 2, (4,), end=2 * clips)]
            annotations.append(
                {
                    "video": vid,
                    "category": code,
                    "title": f"{title} {j + 1}",
                    "length": float(duration),
                    "anno": tvsum_ratings(rng, frames, TVSUM_FPS, events),
                }
            )
            videos.append(
                MiniVideo(f"video/{vid}.mp4", [vid], code, kind, "", duration, TVSUM_FPS, events)
            )
    write_tvsum_mat(root / "matlab" / "ydata-tvsum50.mat", annotations)
    write_tvsum_tsv(root / "data", annotations)
    render(root, "tvsum", videos, seed, jobs)
    write_record(root, "tvsum", seed, videos)
    return videos


COSUM_EVENTS = {"01_base_jump": ("base", 4), "10_surfing": ("surf", 5)}  # -> (prefix, kind)
COSUM_FPS = 10
COSUM_USERS = ("dualplus", "kk", "vv")


def cosum_shots(rng: np.random.Generator, frames: int, fps: int, event: tuple[int, int]):
    """0-based first frames of the shots: up to 3 s long, cut at the event's edges."""
    starts = []
    for a, b in ((0, event[0]), event, (event[1], frames)):
        if b <= a:
            continue
        pieces = max(1, int(np.ceil((b - a) / (3 * fps))))
        cuts = [a + (b - a) * j / pieces for j in range(pieces)]
        jitter = rng.integers(-fps // 4, fps // 4 + 1, size=pieces)
        jitter[0] = 0
        starts += [int(round(x)) + int(dx) for x, dx in zip(cuts, jitter, strict=True)]
    return starts


def cosum(root: str | Path, seed: int = 0, jobs: int | None = None) -> list[MiniVideo]:
    """CoSum: ``shots/{NN_event}/{prefix}{k}_shots.txt``, ``annotation/{NN_event}/
    {k}__{user}.mat`` and ``videos/{video_id}.mp4``; events 01_base_jump and 10_surfing,
    3 videos each (the random80 schemes put one of each in test)."""
    root = Path(root)
    rng = np.random.default_rng(_seed(seed, "cosum"))
    videos, release = [], {}
    for event_dir, (prefix, kind) in COSUM_EVENTS.items():
        release[event_dir] = {}
        for k in (1, 2, 3):
            duration = int(rng.integers(10, 13))
            frames = duration * COSUM_FPS
            events = [_event(rng, duration, 1, (3, 4), duration - 1)]
            starts = cosum_shots(rng, frames, COSUM_FPS, _frames(events[0], COSUM_FPS))
            bounds = [s + 1 for s in starts] + [frames]  # 1-based; the last one: frames
            ends = starts[1:] + [frames]
            inside = [
                i + 1
                for i, (a, b) in enumerate(zip(starts, ends, strict=True))
                if _overlap(a, b, events, COSUM_FPS) == b - a
            ]
            others = [i + 1 for i in range(len(starts)) if i + 1 not in inside]
            picks = {
                "dualplus": inside,
                "kk": inside + [int(rng.choice(others))]
                if len(inside) + 1 <= len(starts) // 2 and rng.random() < 0.7
                else inside,
                "vv": inside[1:] if len(inside) > 1 else inside,
            }
            release[event_dir][(prefix, k)] = (bounds, {u: sorted(picks[u]) for u in COSUM_USERS})
            category = event_dir.split("_", 1)[1]
            videos.append(
                MiniVideo(
                    f"videos/{prefix}{k}.mp4",
                    [f"{prefix}{k}"],
                    category,
                    kind,
                    "",
                    duration,
                    COSUM_FPS,
                    events,
                )
            )
    write_cosum_release(root, release)
    render(root, "cosum", videos, seed, jobs)
    write_record(root, "cosum", seed, videos)
    return videos


QV_FPS = 10
QV_KINDS = (0, 5)  # event kinds the queries are about
QV_QUERIES = {  # event kind -> two ways to ask for it
    0: ("A red disc circles around the middle of the picture.", "Something red goes round."),
    1: ("A cyan square slides from side to side.", "A square sweeps left and right."),
    2: ("A magenta triangle bounces up and down.", "A purple triangle keeps jumping."),
    3: ("A yellow ring grows and shrinks.", "A ring pulses in the centre."),
    4: ("A green cross spins in the middle.", "A cross rotates on the spot."),
    5: ("An orange diamond zigzags across the picture.", "A diamond moves in a zigzag."),
}
QV_VIDEOS = {"val": (4, 2), "train": (4, 2), "test": (2, 0)}  # videos, of which 2 queries


def qvhighlights(root: str | Path, seed: int = 0, jobs: int | None = None) -> list[MiniVideo]:
    """QVHighlights: ``highlight_{train,val,test}_release.jsonl`` and ``videos/{vid}.mp4``
    (vid ``{youtube_id}_{start}.0_{end}.0``); 6 val and 6 train queries on 4 videos each,
    2 unlabelled test queries."""
    root = Path(root)
    rng = np.random.default_rng(_seed(seed, "qvhighlights"))
    n_videos = sum(n for n, _ in QV_VIDEOS.values())
    ids = youtube_ids(rng, n_videos)
    qids = iter(rng.choice(np.arange(1, 10_000), size=2 * n_videos, replace=False).tolist())
    videos, lines = [], {}
    for split, (count, doubled) in QV_VIDEOS.items():
        lines[split] = []
        for j in range(count):
            ytid = ids[len(videos)]
            kind = QV_KINDS[j % len(QV_KINDS)]
            duration = int(rng.integers(10, 13))
            start = 10 * int(rng.integers(0, 30))
            vid = f"{ytid}_{float(start)}_{float(start + duration)}"
            event = _event(rng, duration, 2, (4,), end=2 * (duration // 2))
            clip_ids = list(range(int(event[0]) // 2, int(event[1]) // 2))
            video_ids = []
            for text in QV_QUERIES[kind][: 2 if j < doubled else 1]:
                qid = int(next(qids))
                video_ids.append(f"qid{qid}")
                line = {"qid": qid, "query": text, "duration": duration, "vid": vid}
                if split != "test":
                    scores = rng.integers(2, 5, size=(len(clip_ids), 3))
                    scores[np.arange(len(clip_ids)), rng.integers(0, 3, size=len(clip_ids))] = 4
                    line["relevant_clip_ids"] = clip_ids
                    line["saliency_scores"] = scores.tolist()
                    line["relevant_windows"] = [[int(event[0]), int(event[1])]]
                lines[split].append(line)
            videos.append(
                MiniVideo(
                    f"videos/{vid}.mp4", video_ids, "", kind, split, duration, QV_FPS, [event]
                )
            )
    write_qvhighlights_release(root, lines)
    render(root, "qvhighlights", videos, seed, jobs)
    write_record(root, "qvhighlights", seed, videos)
    return videos


VTW_KINDS = (1, 4)
VTW_FPS = 30
VTW_TITLES = {1: "sliding down the hill", 4: "spinning on the ice"}


def vtw(root: str | Path, seed: int = 0, jobs: int | None = None) -> list[MiniVideo]:
    """VTW in the pipeline's layout: ``vtw_videos.csv``, ``vtw_highlights.csv`` and
    ``videos/{video_id}.mp4``; 6 videos (2 event kinds x 3: 2 train, 1 test)."""
    from highlight_pipeline.datasets.vtw import CLIP_FRAMES

    root = Path(root)
    rng = np.random.default_rng(_seed(seed, "vtw"))
    ids = youtube_ids(rng, 3 * len(VTW_KINDS))
    videos, rows, highlights = [], [], []
    for c, kind in enumerate(VTW_KINDS):
        for j, vid in enumerate(ids[3 * c : 3 * c + 3]):
            duration = int(rng.integers(10, 13))
            frames = duration * VTW_FPS
            for _ in range(100):
                events = [_event(rng, duration, 1, (3, 4), duration - 1)]
                touched = [
                    _overlap(a, min(a + CLIP_FRAMES, frames), events, VTW_FPS) > 0
                    for a in range(0, frames, CLIP_FRAMES)
                ]
                if not all(touched):
                    break
            split = "test" if j == 2 else "train"
            rows.append(
                {"video_id": vid, "split": split, "frames": frames, "title": VTW_TITLES[kind]}
            )
            highlights.append((vid, *_frames(events[0], VTW_FPS)))
            videos.append(
                MiniVideo(f"videos/{vid}.mp4", [vid], "", kind, split, duration, VTW_FPS, events)
            )
    write_vtw_release(root, rows, highlights)
    render(root, "vtw", videos, seed, jobs)
    write_record(root, "vtw", seed, videos)
    return videos


MINIATURES: dict[str, Callable[..., list[MiniVideo]]] = {
    "youtube": youtube,
    "tvsum": tvsum,
    "qvhighlights": qvhighlights,
    "cosum": cosum,
    "vtw": vtw,
}


def write_miniature(
    name: str,
    root: str | Path,
    seed: int = 0,
    jobs: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the miniature of dataset ``name`` (a key of :data:`MINIATURES`) into ``root``,
    which must be absent or empty; ``overwrite`` replaces a miniature written there before
    (a folder holding ``miniature.json``), never another folder. Returns the root."""
    if name not in MINIATURES:
        raise ConfigError(f"no miniature of {name!r}; known: {', '.join(MINIATURES)}")
    if seed < 0:
        raise ConfigError(f"seed must be 0 or more, not {seed}")
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    if root.is_dir() and any(root.iterdir()):
        if not overwrite:
            raise DatasetError(
                f"{root}: exists and is not empty (choose a new folder; overwrite, "
                "`hlp rehearsal-data --overwrite`, replaces a miniature written there before)"
            )
        if not (root / RECORD).is_file():
            raise DatasetError(f"{root}: holds no {RECORD}, so it is no miniature: left alone")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    MINIATURES[name](root, seed=seed, jobs=jobs)
    return root


def overlay(name: str, root: str | Path) -> dict:
    """The config overlay that points dataset ``name``'s preset at ``root``."""
    return {"datasets": {name: {"root": str(Path(root).resolve())}}}


def overlay_line(name: str, root: str | Path) -> str:
    """:func:`overlay` as one line of YAML."""
    inner = yaml.safe_dump(overlay(name, root)["datasets"], default_flow_style=True, width=10**6)
    return f"datasets: {inner.strip()}"


def write_overlay(name: str, root: str | Path, path: str | Path) -> None:
    """:func:`overlay` as a YAML file, with a comment saying which preset it goes after."""
    text = yaml.safe_dump(overlay(name, root), sort_keys=False)
    write_text_atomic(
        path,
        f"# the {name} miniature of `hlp rehearsal-data`: pass this file after "
        f"workflow/configs/{name}.yaml\n{text}",
    )


def rehearsal_data(
    name: str,
    root: str | Path,
    config: str | Path | None = None,
    seed: int = 0,
    jobs: int | None = None,
    overwrite: bool = False,
) -> Path:
    """``hlp rehearsal-data``: :func:`write_miniature`, and with ``config`` its config
    overlay (:func:`write_overlay`) there. Returns the root."""
    root = write_miniature(name, root, seed=seed, jobs=jobs, overwrite=overwrite)
    if config:
        write_overlay(name, root, config)
    return root


def summary(name: str, root: str | Path) -> str:
    """What a miniature holds, in a few words (from its miniature.json)."""
    videos = read_record(root)["videos"]
    seconds = sorted(v["duration"] for v in videos)
    head = f"{len(videos)} videos of {seconds[0]}-{seconds[-1]} s"

    def count(key, rows, weight=lambda v: 1) -> str:
        counts: dict[str, int] = {}
        for v in rows:
            counts[key(v)] = counts.get(key(v), 0) + weight(v)
        return ", ".join(f"{n} {k}" for k, n in counts.items())

    if name == "qvhighlights":
        queries = count(lambda v: v["split"], videos, lambda v: len(v["video_ids"]))
        return f"{head}; queries: {queries}"
    if not any(v["category"] for v in videos):
        return f"{head}: {count(lambda v: v['split'], videos)}"
    parts = []
    for category in dict.fromkeys(v["category"] for v in videos):
        rows = [v for v in videos if v["category"] == category]
        splits = f" ({count(lambda v: v['split'], rows)})" if all(v["split"] for v in rows) else ""
        parts.append(f"{category} {len(rows)}{splits}")
    drawn = "" if all(v["split"] for v in videos) else "; splits drawn by the reader's schemes"
    return f"{head}: {', '.join(parts)}{drawn}"
