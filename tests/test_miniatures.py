"""Miniatures of the benchmarks for rehearsals (`hlp rehearsal-data`, datasets/miniatures.py).

Each miniature is written with the command, then read as the pipeline reads it: the config
of config.yaml + the dataset's preset + the overlay the command wrote, the reader slice of
that config, `build_manifest` (which probes every video) and the reader's `make_clips`.
"""

from __future__ import annotations

import contextlib
import io
import time
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pandas as pd
import pytest
import yaml

from highlight_pipeline.cli import MINIATURE_NAMES, build_parser
from highlight_pipeline.config import load_configs, reader_slice
from highlight_pipeline.datasets import cosum, qvhighlights, tvsum, vtw
from highlight_pipeline.datasets.miniatures import (
    HEIGHT,
    MINIATURES,
    RECORD,
    WIDTH,
    overlay,
    read_record,
    write_miniature,
)
from highlight_pipeline.datasets.registry import get_reader
from highlight_pipeline.datasets.synthetic import CATEGORY_NAMES, EVENT_COLOURS
from highlight_pipeline.errors import ConfigError, DatasetError
from highlight_pipeline.manifest import build_manifest

REPO = Path(__file__).resolve().parents[1]
PRESETS = REPO / "workflow" / "configs"


@pytest.fixture(scope="module", params=list(MINIATURES))
def mini(request, tmp_path_factory) -> SimpleNamespace:
    name = request.param
    base = tmp_path_factory.mktemp(name)
    root, overlay_file = base / "mini", base / "mini.yaml"
    args = build_parser().parse_args(
        ["rehearsal-data", name, str(root), "--config", str(overlay_file)]
    )
    out = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out):
        args.func(args)
    seconds = time.perf_counter() - start
    config = load_configs([REPO / "config.yaml", PRESETS / f"{name}.yaml", overlay_file])
    dataset = config["datasets"][name]
    spec = reader_slice(config, name)
    reader = get_reader(dataset["reader"])
    manifest, rejected, splits = build_manifest(reader.name, spec["root"], spec, progress=False)
    clips = reader.make_clips(manifest, Path(spec["root"]), spec)
    record = read_record(root)
    truth = {vid: v for v in record["videos"] for vid in v["video_ids"]}
    return SimpleNamespace(
        name=name,
        root=root,
        printed=out.getvalue(),
        seconds=seconds,
        dataset=dataset,
        spec=spec,
        reader=reader,
        videos=reader.read_videos(root, spec),
        manifest=manifest,
        rejected=rejected,
        splits=splits,
        clips=clips,
        record=record,
        truth=truth,
    )


def test_command_and_overlay(mini):
    assert mini.seconds < 20, f"{mini.name}: {mini.seconds:.1f} s"
    assert mini.printed.count("\n") == 1
    line = mini.printed.split("rehearse the preset with: ")[1]
    assert yaml.safe_load(line) == overlay(mini.name, mini.root)
    assert Path(mini.spec["root"]) == mini.root.resolve()  # the overlay moved the preset's root
    assert mini.record["dataset"] == mini.name


def test_every_video_has_its_file(mini):
    assert mini.rejected.empty, mini.rejected.to_dict("records")
    assert all(Path(p).is_file() for p in mini.videos["path"])
    assert sorted(mini.manifest["video_id"]) == sorted(mini.videos["video_id"])
    assert sorted(mini.truth) == sorted(mini.videos["video_id"])
    files = {str((mini.root / v["path"]).resolve()) for v in mini.record["videos"]}
    assert set(mini.manifest["path"]) == files
    assert mini.manifest["has_audio"].astype(bool).all()
    assert (mini.manifest["width"] == WIDTH).all() and (mini.manifest["height"] == HEIGHT).all()
    durations = mini.manifest["duration"]
    assert durations.between(8, 12 + 1e-6).all()
    if mini.dataset["reader"] in ("youtube", "tvsum", "cosum"):
        per_category = mini.videos.groupby("category")["video_id"].count()
        assert len(per_category) == 2 and (per_category == 3).all()


def annotated_lengths(mini) -> dict[str, list[tuple[str, float]]]:
    """video_id -> [("frames" | "seconds", what the annotation says of the video's length)]."""
    name, root = mini.name, mini.root
    if name == "youtube":  # the last segment ends at the video's last frame
        ends = mini.clips.groupby("video_id")["end_frame"].max()
        return {v: [("frames", end)] for v, end in ends.items()}
    if name == "tvsum":
        return {
            v.video_id: [("frames", v.nframes), ("seconds", v.length)]
            for v in tvsum.load_annotations(root, mini.spec)
        }
    if name == "cosum":  # the last shot boundary is the last frame
        return {
            v.video_id: [("frames", cosum.read_shots(v.shots_path)[-1])]
            for v in cosum.read_index(root)
        }
    if name == "qvhighlights":
        return {
            q.video_id: [("seconds", q.duration)]
            for q in qvhighlights.load_queries(root, mini.spec)
        }
    return {v.video_id: [("frames", v.frames)] for v in vtw.load_annotations(root)}


def test_durations_agree_with_the_annotation(mini):
    annotated = annotated_lengths(mini)
    assert sorted(annotated) == sorted(mini.manifest["video_id"])
    for row in mini.manifest.itertuples():
        for unit, value in annotated[row.video_id]:
            if unit == "frames":
                assert abs(value - row.frames) <= 1, (row.video_id, value, row.frames)
            else:
                assert abs(value - row.duration) <= 1 / row.fps, (row.video_id, value, row.duration)
        assert row.frames == mini.truth[row.video_id]["frames"]
    duration = dict(zip(mini.manifest["video_id"], mini.manifest["duration"], strict=True))
    fps = dict(zip(mini.manifest["video_id"], mini.manifest["fps"], strict=True))
    slack = 1 / mini.clips["video_id"].map(fps) + 1e-3
    assert (mini.clips["end"] <= mini.clips["video_id"].map(duration) + slack).all()


def test_labels_have_positives_and_negatives(mini):
    labelled = mini.clips[mini.clips["label"] != -1]
    assert set(labelled["label"]) == {0, 1}
    for video_id, labels in labelled.groupby("video_id")["label"]:
        assert set(labels) == {0, 1}, video_id
    unlabelled = set(mini.clips["video_id"]) - set(labelled["video_id"])
    if mini.name == "qvhighlights":  # the test file has no labels
        split = dict(zip(mini.videos["video_id"], mini.videos["split"], strict=True))
        assert {split[v] for v in unlabelled} == {"test"}
        assert {split[v] for v in labelled["video_id"]} == {"train", "val"}
    else:
        assert not unlabelled


def test_splits_of_the_preset(mini):
    schemes = mini.dataset.get("split_schemes", ["default"])
    eval_split = mini.dataset.get("eval_split", "test")
    names = list(dict.fromkeys(mini.splits["scheme"]))
    category = dict(zip(mini.videos["video_id"], mini.videos["category"], strict=True))
    for scheme in schemes:
        scheme = names[0] if scheme == "default" else scheme
        chosen = mini.splits[mini.splits["scheme"] == scheme]
        assert len(chosen), f"{mini.name}: scheme {scheme} assigns no video"
        counts = pd.crosstab(chosen["video_id"].map(category), chosen["split"])
        assert set(counts.index) == set(category.values())
        assert (counts["train"] >= 2).all(), (scheme, counts)
        assert (counts[eval_split] >= 1).all(), (scheme, counts)


def test_positive_clips_lie_on_the_events(mini):
    labelled = mini.clips[mini.clips["label"] != -1]
    for row in labelled.itertuples():
        events = mini.truth[row.video_id]["events"]
        inside = sum(max(0.0, min(row.end, e) - max(row.start, s)) for s, e in events)
        within = any(row.start >= s - 1e-3 and row.end <= e + 1e-3 for s, e in events)
        where = (mini.name, row.video_id, row.start, row.end, events)
        if row.label == 1:
            # VTW: a clip touching a highlight is one (the reader's rule); else most of it
            least = 1e-6 if mini.name == "vtw" else (row.end - row.start) / 2 - 1e-3
            assert inside >= least, where
        if within:
            assert row.label == 1, where
    if mini.name in ("tvsum", "cosum"):  # the protocol's rater columns agree
        users = [c for c in labelled.columns if c[:1] == "u" and c[1:].isdigit()]
        event = labelled["label"] == 1
        means = labelled[users].mean(axis=1)
        assert means[event].min() > means[~event].max()


def test_same_seed_same_annotations(tmp_path):
    written = [write_miniature("tvsum", tmp_path / str(k), seed=3) for k in range(2)]
    for name in ("matlab/ydata-tvsum50.mat", "data/ydata-tvsum50-anno.tsv", RECORD):
        assert (written[0] / name).read_bytes() == (written[1] / name).read_bytes()


def test_refusals(tmp_path):
    with pytest.raises(ConfigError, match="no miniature of 'nope'"):
        write_miniature("nope", tmp_path / "x")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "mine.txt").write_text("keep")
    with pytest.raises(DatasetError, match="not empty"):
        write_miniature("vtw", tmp_path / "busy")
    with pytest.raises(DatasetError, match="no miniature.json"):
        write_miniature("vtw", tmp_path / "busy", overwrite=True)
    assert (tmp_path / "busy" / "mine.txt").read_text() == "keep"
    assert MINIATURE_NAMES == list(MINIATURES)


def test_events_are_in_the_videos(mini):
    """The generator drew the events where the record says: the event object's colour
    fills part of every frame inside an event and (almost) none outside."""
    for video in mini.record["videos"]:
        colour = EVENT_COLOURS[CATEGORY_NAMES.index(video["event_category"])]
        share = []
        with av.open(str(mini.root / video["path"])) as container:
            for frame in container.decode(video=0):
                rgb = frame.to_ndarray(format="rgb24").astype(np.float32)
                share.append((np.abs(rgb - colour).max(axis=2) < 40).mean())
        share = np.asarray(share)
        t = (np.arange(len(share)) + 0.5) / video["fps"]
        inside = np.zeros(len(share), dtype=bool)
        for s, e in video["events"]:
            inside |= (t >= s) & (t < e)
        assert share[inside].mean() > 0.04 > 0.02 > share[~inside].mean(), video["path"]
