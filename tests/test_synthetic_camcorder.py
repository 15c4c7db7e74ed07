"""The camcorder synthetic dataset (recipe ``camcorder``): plans, real files, tables, bytes.

``tests/fixtures/synthetic_bytes_camcorder.json`` holds the SHA-256 of every file that
``hlp synth`` writes for :data:`TINY` (every category and container, mono and stereo, NTSC
and integer frame rates), with the build it was recorded on, as
``tests/fixtures/synthetic_bytes.json`` does for the other recipes
(tests/test_synthetic_bytes.py). A refactoring keeps every file byte-identical; only a
deliberate change of the recipe rewrites the fixture: commit that change first, then::

    git worktree add /tmp/synth_base HEAD
    PYTHONPATH=/tmp/synth_base .venv/bin/python tests/test_synthetic_camcorder.py \\
        --out tests/fixtures/synthetic_bytes_camcorder.json
    git worktree remove --force /tmp/synth_base

On another build (FFmpeg's libraries under PyAV, numpy, scipy) only the tables are
compared. Nothing here runs a method on the dataset: it is only for measuring, once.
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import json
import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
import yaml

from highlight_pipeline.datasets.folder import clip_grid, interval_labels, make_clips
from highlight_pipeline.datasets.synthetic import SynthSpec, synthesize
from highlight_pipeline.datasets.synthetic.camcorder import frame_times
from highlight_pipeline.datasets.synthetic.camcorder_pictures import CamcorderPicture
from highlight_pipeline.datasets.synthetic.camcorder_plan import (
    CATEGORY_NAMES,
    FORMATS,
    plan_camcorder,
)
from highlight_pipeline.datasets.synthetic.camcorder_sound import TAIL, render_sound
from highlight_pipeline.errors import ConfigError
from highlight_pipeline.manifest import build_manifest
from highlight_pipeline.metrics import youtube_map
from highlight_pipeline.video.decode import iter_audio_chunks, iter_frame_batches
from highlight_pipeline.video.probe import probe

FIXTURE = Path(__file__).parent / "fixtures" / "synthetic_bytes_camcorder.json"
PRESET = Path(__file__).parents[1] / "workflow" / "configs" / "camcorder.yaml"
TINY = SynthSpec(
    categories=3,
    videos_per_category=2,
    min_seconds=6,
    max_seconds=8,
    width=96,
    height=72,
    fps=12,
    sample_rate=22050,
    test_fraction=0.5,
    seed=6,
    recipe="camcorder",
)
TABLES = ("videos.csv", "highlights.csv", "clip_labels.csv")
# FFmpeg's names of what FORMATS asks for, as a decoder reports them
MUXER_NAMES = {"mpeg": "mpeg", "avi": "avi", "mov": "mov", "asf": "asf"}


def preset_spec() -> SynthSpec:
    dataset = yaml.safe_load(PRESET.read_text())["datasets"]["camcorder"]
    return SynthSpec.from_config(dataset["synth"], dataset["clip_seconds"])


def spec_record(spec: SynthSpec) -> dict:
    return {k: v for k, v in asdict(spec).items() if k != "clip_seconds"}


def hashes(out: Path) -> dict[str, str]:
    return {
        path.relative_to(out).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(out.rglob("*"))
        if path.is_file()
    }


def loudest(sound: np.ndarray, rate: int, start: float, end: float, window=0.4) -> float:
    """dBFS of the loudest ``window`` s (RMS) of ``sound`` within [start, end)."""
    part = sound[int(start * rate) : int(end * rate)].astype(np.float64)
    n = min(int(window * rate), part.size)
    power = np.concatenate([[0.0], np.cumsum(part**2)])
    return 10 * np.log10(np.max(power[n:] - power[:-n]) / n + 1e-12)


def clear_distractors(video) -> list:
    """The distractor sounds clear of every highlight and its event's reverberation."""
    return [
        cue
        for cue in video.noises
        if all(cue.end <= s - 0.1 or cue.start >= e + TAIL + 0.1 for s, e in video.highlights)
    ]


# -------------------------------------------------------------------------------- plans


def test_preset_is_a_measuring_only_dataset_like_the_holdout():
    text = PRESET.read_text()
    assert "ONLY for measuring" in text and "Never tune" in text
    camcorder = yaml.safe_load(text)["datasets"]["camcorder"]
    holdout = yaml.safe_load((PRESET.parent / "holdout.yaml").read_text())["datasets"]["holdout"]
    assert camcorder["methods"]["chd"] == holdout["methods"]["chd"]
    assert camcorder["synth"]["test_fraction"] == holdout["synth"]["test_fraction"]
    spec = preset_spec()
    assert (spec.categories, spec.videos_per_category) == (3, 5)
    assert (spec.min_seconds, spec.max_seconds) == (20, 45)


def test_plans_are_seeded_and_vary_per_video():
    spec = preset_spec()
    videos = plan_camcorder(spec)
    assert videos == plan_camcorder(spec)
    assert videos != plan_camcorder(replace(spec, seed=spec.seed + 1))
    fewer = plan_camcorder(replace(spec, categories=2))  # more categories only add videos
    assert videos[: len(fewer)] == fewer
    with pytest.raises(ConfigError, match="3 categories"):
        plan_camcorder(replace(spec, categories=4))
    assert {v.extension for v in videos} == {f[0] for f in FORMATS}
    for v in videos:
        assert (v.extension, v.muxer, v.video_codec, v.audio_codec) == FORMATS[
            (2 * v.category + v.index) % 4
        ]
        assert v.height % 4 == 0 and v.width % 4 == 0
        assert 0.75 * spec.height - 2 <= v.height <= 1.3 * spec.height + 2
        assert 0.6 * spec.fps <= v.fps <= 1.25 * spec.fps
    assert any(v.fps.denominator == 1001 for v in videos)  # NTSC k x 1000/1001
    assert any(v.fps.denominator == 1 for v in videos)
    assert len({v.fps for v in videos}) >= 4
    assert {22050, 44100, 48000} <= {v.sample_rate for v in videos}
    assert {v.channels for v in videos} == {1, 2}
    assert len({round(v.width / v.height, 2) for v in videos}) >= 2
    assert len({(v.width, v.height) for v in videos}) >= 8
    for c in range(spec.categories):
        splits = [v.split for v in videos if v.category == c]
        assert splits.count("test") == 2


@pytest.mark.parametrize("seed", range(3))
def test_highlights_hold_the_events_and_stay_off_the_last_clip(seed):
    spec = replace(preset_spec(), seed=seed)
    clip = spec.clip_seconds
    cover = []
    for v in plan_camcorder(spec):
        assert spec.min_seconds <= v.duration <= spec.max_seconds
        # the clip count does not depend on a container stating the duration a frame off
        assert abs((v.duration / clip) % 1 - 0.5) * clip >= 0.4 - 1e-6
        last_clip = clip_grid(v.duration, clip)[0][-1]
        assert 1 <= len(v.highlights) <= 3 and v.highlights == sorted(v.highlights)
        for s, e in v.highlights:
            assert 1.0 <= s and e <= last_clip - 0.2 + 0.01
            assert 2.5 - 0.011 <= e - s <= 6.5 + 0.011
        for (_, e1), (s2, _) in zip(v.highlights[:-1], v.highlights[1:], strict=True):
            assert s2 - e1 >= 2.0 - 0.011
        assert [(c.start, c.end) for c in v.events] == v.highlights
        assert all(c.kind == CATEGORY_NAMES[v.category] for c in v.events)
        kinds = {c.kind for c in v.noises} | {c.kind for c in v.motions}
        assert len(kinds) >= 4
        assert clear_distractors(v)
        cover.append(sum(e - s for s, e in v.highlights) / v.duration)
    assert 0.08 <= np.mean(cover) <= 0.3


def test_events_only_add_to_picture_and_sound():
    for video in plan_camcorder(replace(TINY, videos_per_category=1, seed=2)):
        bare = replace(video, events=[])
        with_events, without = CamcorderPicture(video), CamcorderPicture(bare)
        times, _, _ = frame_times(video)
        changed = []
        for index, t in enumerate(times):
            a, b = with_events.frame(float(t), index), without.frame(float(t), index)
            if any(s <= t < e for s, e in video.highlights):
                changed.append(np.mean(np.abs(a - b).max(axis=2) > 4))
            else:
                np.testing.assert_array_equal(a, b)
        assert max(changed) > 0.002 and np.mean(changed) < 0.5, video.video_id
        a, b = render_sound(video), render_sound(bare)
        t = np.arange(a.shape[1]) / video.sample_rate
        event = np.zeros(t.size, bool)
        for s, e in video.highlights:
            event |= (t >= s) & (t < e + TAIL)
        # the track may be scaled down once against clipping: fit that scale outside
        scale = float(np.sum(a[:, ~event] * b[:, ~event]) / np.sum(a[:, ~event] ** 2))
        np.testing.assert_allclose(a[:, ~event] * scale, b[:, ~event], atol=2e-5)
        assert np.abs(a[:, event] * scale - b[:, event]).max() > 1e-3


def test_distractors_are_often_louder_than_the_events_in_the_rendered_sound():
    louder, count = 0, 0
    for video in plan_camcorder(replace(preset_spec(), categories=3, videos_per_category=2)):
        sound = render_sound(video).mean(axis=0)
        rate = video.sample_rate
        events = [loudest(sound, rate, s, e) for s, e in video.highlights]
        distractors = [loudest(sound, rate, c.start, c.end) for c in clear_distractors(video)]
        louder += sum(d > max(events) for d in distractors)
        count += len(distractors)
    assert 0.3 <= louder / count <= 0.95


# -------------------------------------------------------------------------- real files


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("camcorder")
    plans = synthesize(TINY, out, progress=False)
    return out, plans, plan_camcorder(TINY)


def test_tables_have_the_folder_format_and_agree_with_the_reader(tiny):
    out, plans, videos = tiny
    table = pd.read_csv(out / "videos.csv", dtype=str)
    assert list(table.columns) == ["video_id", "path", "category", "split"]
    assert list(table["video_id"]) == [v.video_id for v in videos]
    assert list(table["path"]) == [f"videos/{v.filename}" for v in videos]
    assert list(table["category"]) == [CATEGORY_NAMES[v.category] for v in videos]
    assert list(table["split"]) == [v.split for v in videos]
    assert sorted(p.name for p in (out / "videos").iterdir()) == sorted(v.filename for v in videos)
    highlights = pd.read_csv(out / "highlights.csv", dtype={"video_id": str})
    assert list(highlights.columns) == ["video_id", "start", "end"]
    labels = pd.read_csv(out / "clip_labels.csv", dtype={"video_id": str})
    assert list(labels.columns) == ["video_id", "clip", "start", "end", "label"]
    for plan, video in zip(plans, videos, strict=True):
        assert (plan.video_id, plan.filename, plan.container) == (
            video.video_id,
            video.filename,
            video.extension,
        )
        rows = highlights[highlights["video_id"] == video.video_id]
        assert list(zip(rows["start"], rows["end"], strict=True)) == video.highlights
        for s, e in video.highlights:
            assert 0 < s < e < video.duration
        clips = labels[labels["video_id"] == video.video_id]
        starts, ends = clip_grid(video.duration, TINY.clip_seconds)
        np.testing.assert_allclose(clips["start"], starts, atol=1e-3)
        np.testing.assert_allclose(clips["end"], ends, atol=1e-3)
        assert list(clips["label"]) == list(interval_labels(starts, ends, video.highlights))
        assert 1 <= clips["label"].sum() < len(clips)
    # the synthetic reader: every video probed, its clip table the generator's
    manifest, rejected, splits = build_manifest("synthetic", out, {}, progress=False)
    assert rejected.empty and list(manifest["video_id"]) == [v.video_id for v in videos]
    clips = make_clips(manifest, out, TINY.clip_seconds)
    merged = clips.merge(labels, on=["video_id", "clip"], how="outer", suffixes=("", "_gt"))
    assert len(merged) == len(labels) == len(clips)
    np.testing.assert_array_equal(merged["label"], merged["label_gt"])
    by_video = [g["label"].to_numpy() for _, g in labels.groupby("video_id", sort=False)]
    assert youtube_map([(y.astype(float), y) for y in by_video]) == 1.0  # youtube-map reads it


def test_every_container_decodes_with_the_pipelines_decoder(tiny):
    out, _, videos = tiny
    seen = set()
    for video in videos:
        path = out / "videos" / video.filename
        frame = 1 / float(video.fps)
        with av.open(str(path)) as container:
            v, a = container.streams.video[0], container.streams.audio[0]
            assert MUXER_NAMES[video.muxer] in container.format.name.split(",")
            assert v.codec_context.name == video.video_codec
            assert a.codec_context.name == video.audio_codec
            assert (a.sample_rate, a.layout.nb_channels) == (video.sample_rate, video.channels)
        info = probe(path)
        assert (info.width, info.height) == (video.width, video.height) and info.has_audio
        assert info.fps == pytest.approx(float(video.fps), rel=1e-3)
        assert abs(info.duration - video.duration) <= 2 * frame + 0.01  # .mpg: last frame's start
        decoded = sum(len(t) for t, _ in iter_frame_batches(path, 8, 48, 36, 16, info.duration))
        assert abs(decoded - 8 * info.duration) <= 1
        sound = np.concatenate(list(iter_audio_chunks(path, 16000)))
        assert abs(sound.size / 16000 - video.duration) <= frame
        seen.add((video.extension, video.video_codec, video.audio_codec))
    assert len({ext for ext, _, _ in seen}) == 4
    holdout = {("mp4", "libx264", "aac"), ("webm", "libvpx-vp9", "libopus")}
    holdout |= {("mkv", "mpeg4", "vorbis")}
    assert not seen & holdout


def test_a_distractor_is_louder_than_the_events_in_the_decoded_sound(tiny):
    out, _, videos = tiny
    louder = []
    for video in videos:
        sound = np.concatenate(list(iter_audio_chunks(out / "videos" / video.filename, 16000)))
        events = max(loudest(sound, 16000, s, e) for s, e in video.highlights)
        distractors = [loudest(sound, 16000, c.start, c.end) for c in clear_distractors(video)]
        louder.append(max(distractors, default=-120.0) > events)
    assert 1 <= sum(louder) < len(louder)


def test_same_seed_same_bytes_other_seed_differs(tiny, tmp_path):
    out, plans, videos = tiny
    assert synthesize(TINY, tmp_path / "again", progress=False) == plans
    names = list(TABLES) + [f"videos/{v.filename}" for v in videos]
    match, mismatch, errors = filecmp.cmpfiles(out, tmp_path / "again", names, shallow=False)
    assert not mismatch and not errors and len(match) == len(names)
    other = plan_camcorder(replace(TINY, seed=TINY.seed + 1))
    assert [v.highlights for v in other] != [v.highlights for v in videos]


def test_generated_files_are_the_recorded_bytes(tiny):
    from tests.test_synthetic_bytes import build

    out, _, _ = tiny
    expected = json.loads(FIXTURE.read_text())
    assert expected["spec"] == spec_record(TINY), "the spec changed: rewrite the fixture"
    found = hashes(out)
    assert sorted(found) == sorted(expected["files"])
    assert {n: found[n] for n in TABLES} == {n: expected["files"][n] for n in TABLES}
    if expected["build"] != build():
        pytest.skip(f"recorded on another build ({expected['build']}): only the tables compared")
    differ = sorted(n for n, digest in found.items() if expected["files"][n] != digest)
    assert not differ, f"these files are not the recorded bytes: {differ}"


def main(argv: list[str] | None = None) -> None:
    sys.path.append(str(Path(__file__).parents[1]))  # tests/ as a package
    from tests.test_synthetic_bytes import build

    parser = argparse.ArgumentParser(description="write the fixture from the code imported")
    parser.add_argument("--out", type=Path, default=FIXTURE)
    args = parser.parse_args(argv)
    pinned = build()
    with tempfile.TemporaryDirectory() as tmp:
        synthesize(TINY, Path(tmp), progress=False)
        files = hashes(Path(tmp))
    record = {"build": pinned, "spec": spec_record(TINY), "files": files}
    args.out.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(files)} hashes to {args.out}")


if __name__ == "__main__":
    sys.exit(main())
