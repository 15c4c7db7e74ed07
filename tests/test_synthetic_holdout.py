"""Tests for the holdout synthetic dataset (recipe ``holdout``): plans, real files, tables."""

from __future__ import annotations

import filecmp
from dataclasses import replace
from fractions import Fraction

import av
import numpy as np
import pandas as pd
import pytest

from highlight_pipeline.datasets.folder import clip_grid, make_clips, read_highlights
from highlight_pipeline.datasets.synthetic import SynthSpec, synthesize
from highlight_pipeline.datasets.synthetic_holdout import (
    CATEGORY_NAMES,
    FORMATS,
    OPUS_RATES,
    STANDARD_RATES,
    VORBIS_MIN_RATE,
    _Picture,
    audio_samples,
    frame_times,
    plan_holdout,
    render_sound,
)
from highlight_pipeline.errors import ConfigError
from highlight_pipeline.manifest import build_manifest
from highlight_pipeline.video.decode import iter_audio_chunks
from highlight_pipeline.video.probe import probe

TINY = SynthSpec(
    categories=2,
    videos_per_category=2,
    min_seconds=6,
    max_seconds=8,
    width=96,
    height=72,
    fps=10,
    sample_rate=16000,
    test_fraction=0.5,
    seed=3,
    recipe="holdout",
)
WIDE = replace(TINY, categories=4, videos_per_category=6, min_seconds=6, max_seconds=60)
CODEC_NAMES = {"libx264": "h264", "libvpx-vp9": "vp9", "mpeg4": "mpeg4", "libopus": "opus"}


def naive_labels(starts, ends, intervals):
    out = []
    for s, e in zip(starts, ends, strict=True):
        inside = sum(max(0.0, min(e, b) - max(s, a)) for a, b in intervals)
        out.append(int(inside >= 0.5 * (e - s) - 1e-9))
    return out


# -------------------------------------------------------------------------------- plans


def test_loud_variant_changes_only_the_distractors_and_the_shake():
    """``holdout-loud`` (development only): the same videos, highlights, events and files,
    with about twice the distractors, sounds at or above the video's event level, larger
    movers and a shakier handheld camera."""
    from highlight_pipeline.datasets.synthetic.holdout_plan import LOUD

    plain, loud = plan_holdout(WIDE), plan_holdout(WIDE, LOUD)
    assert [v.video_id for v in plain] == [v.video_id for v in loud]
    for a, b in zip(plain, loud, strict=True):
        for name in ("highlights", "events", "split", "duration", "sample_rate", "camera"):
            assert getattr(a, name) == getattr(b, name), name
        if a.camera == "handheld":
            ratio = np.asarray(b.camera_params["amps"]) / np.asarray(a.camera_params["amps"])
            assert np.allclose(ratio, LOUD.shake)
        else:
            assert a.camera_params == b.camera_params
        # each event's gain is the video's event level -4 to +3 dB: a distractor is at or
        # above that level (0 to 8 dB over it), short of full scale
        gains = [e.params["gain_db"] for e in b.events if "gain_db" in e.params]
        for d in b.sound_distractors:
            assert d.params["gain_db"] <= -3.0
            if gains:
                assert d.params["gain_db"] >= min(-3.0, max(gains) - 3.0)
    for kind in ("visual_distractors", "sound_distractors"):
        ratio = sum(len(getattr(v, kind)) for v in loud) / sum(len(getattr(v, kind)) for v in plain)
        assert 1.6 < ratio < 2.4, kind
    # louder than the plain recipe's distractors, which lie in the events' range
    plain_gain = np.median([d.params["gain_db"] for v in plain for d in v.sound_distractors])
    loud_gain = np.median([d.params["gain_db"] for v in loud for d in v.sound_distractors])
    assert loud_gain > plain_gain + 3
    plain_size = np.median([d.params["size"] for v in plain for d in v.visual_distractors])
    loud_size = np.median([d.params["size"] for v in loud for d in v.visual_distractors])
    assert loud_size == pytest.approx(LOUD.size * plain_size, rel=0.15)



def test_plans_are_seeded_and_do_not_reshuffle():
    assert plan_holdout(WIDE) == plan_holdout(WIDE)
    assert plan_holdout(WIDE) != plan_holdout(replace(WIDE, seed=4))
    # more categories add videos without changing the drawn ones
    fewer = plan_holdout(replace(WIDE, categories=2))
    assert plan_holdout(WIDE)[: len(fewer)] == fewer


def test_too_many_categories():
    with pytest.raises(ConfigError, match="4 categories"):
        plan_holdout(replace(TINY, categories=5))


@pytest.mark.parametrize("seed", range(4))
def test_highlights_inside_disjoint_and_a_minority(seed):
    videos = plan_holdout(replace(WIDE, seed=seed))
    cover = []
    for v in videos:
        assert WIDE.min_seconds <= v.duration <= WIDE.max_seconds
        assert 1 <= len(v.highlights) <= 3
        assert v.highlights == sorted(v.highlights)
        for s, e in v.highlights:
            assert 0 < s < e < v.duration
            assert 2.0 - 0.011 <= e - s <= 6.0 + 0.011
            assert round(s, 2) == s and round(e, 2) == e  # as written in highlights.csv
        for (_, e1), (s2, _) in zip(v.highlights[:-1], v.highlights[1:], strict=True):
            assert s2 - e1 >= 1.5 - 0.011
        share = sum(e - s for s, e in v.highlights) / v.duration
        assert share < 0.35  # 2 s of a 6 s video at most
        cover.append(share)
        for occ in v.events:  # each event lies inside one highlight
            assert any(s - 1e-9 <= occ.start < occ.end <= e + 1e-9 for s, e in v.highlights)
        outside = [
            o
            for o in v.visual_distractors + v.sound_distractors
            if all(o.end <= s or o.start >= e for s, e in v.highlights)
        ]
        assert len(outside) >= 1
    assert 0.1 <= np.mean(cover) <= 0.3
    assert not all(float(s).is_integer() for v in videos for s, _ in v.highlights)
    for c in range(WIDE.categories):
        splits = [v.split for v in videos if v.category == c]
        assert splits.count("test") == max(1, round(6 * WIDE.test_fraction))


def test_formats_vary_around_the_nominal_values():
    videos = plan_holdout(WIDE)
    assert {v.extension for v in videos} == {"mp4", "webm", "mkv"}
    for v in videos:
        ext, _, vcodec, acodec = FORMATS[(v.category + v.index) % 3]
        assert (v.extension, v.video_codec, v.audio_codec) == (ext, vcodec, acodec)
        assert v.filename == f"{v.video_id}.{ext}"
        assert v.height % 4 == 0 and v.width % 2 == 0
        assert 0.75 * WIDE.height - 2 <= v.height <= 1.25 * WIDE.height + 2
        assert v.width / v.height == pytest.approx(4 / 3, abs=0.03) or v.width / v.height == (
            pytest.approx(16 / 9, abs=0.03)
        )
        fps = float(v.fps)
        assert 0.75 * WIDE.fps * 0.999 - 0.5 <= fps <= 1.25 * WIDE.fps + 0.5
        assert v.sample_rate in STANDARD_RATES or v.sample_rate in OPUS_RATES
        if v.audio_codec == "libopus":  # Opus codes 8/12/16/24/48 kHz only
            assert v.sample_rate in OPUS_RATES
        elif v.audio_codec == "vorbis":  # stereo only; >= 32 kHz keeps its priming short
            assert v.channels == 2 and v.sample_rate >= VORBIS_MIN_RATE
        else:
            assert WIDE.sample_rate / 1.5 <= v.sample_rate <= WIDE.sample_rate * 1.5
        assert -45 <= v.noise_dbfs <= -20
    assert sum(v.variable_frame_rate for v in videos) == 1
    assert len({v.sample_rate for v in videos}) >= 3
    assert len({(v.width, v.height) for v in videos}) >= 10
    assert len({v.fps for v in videos}) >= 4
    assert any(v.fps.denominator != 1 for v in videos)  # NTSC-style k * 1000 / 1001
    assert {v.channels for v in videos} == {1, 2}
    assert len({v.noise for v in videos}) >= 3
    assert len({v.camera for v in videos}) >= 3
    assert {v.scene for v in videos} == {"night", "track", "stage", "field"}


def test_variable_frame_rate_timestamps():
    video = next(v for v in plan_holdout(WIDE) if v.variable_frame_rate)
    times, stamps, time_base = frame_times(video)
    assert time_base == Fraction(1, 1000)
    gaps = np.diff(stamps)
    assert (gaps > 0).all() and gaps.std() > 0.1 * gaps.mean()
    assert abs(times[-1] - video.duration) < 3 / float(video.fps)
    regular = next(v for v in plan_holdout(WIDE) if not v.variable_frame_rate)
    times, stamps, _ = frame_times(regular)
    assert (np.diff(stamps) == 1).all()
    assert abs(len(times) / float(regular.fps) - regular.duration) <= 0.5 / float(regular.fps)


# ------------------------------------------------- events only add (no give-away changes)


def _without_events(video):
    """The same video with no events and no highlights: whatever differs is the events'."""
    return replace(video, events=[], highlights=[])


@pytest.mark.parametrize("index", range(4))
def test_events_only_add_to_the_picture(index):
    video = plan_holdout(replace(TINY, categories=4, videos_per_category=1, seed=5))[index]
    with_events, without = _Picture(video), _Picture(_without_events(video))
    times, _, _ = frame_times(video)
    changed_inside = []
    for t in times:
        a, b = with_events.frame(float(t)), without.frame(float(t))
        inside = any(s <= t < e for s, e in video.highlights)
        if not inside:
            np.testing.assert_array_equal(a, b)  # nothing outside the highlights
            continue
        diff = a.mean(axis=2) - b.mean(axis=2)
        changed_inside.append(np.mean(np.abs(diff) > 1))
        if video.scene == "night":  # fireworks are light: they only add
            assert diff.min() >= -1e-3
        if video.scene == "stage":  # stage lights add; only raised arms darken a few pixels
            assert np.mean(diff < -1) < 0.05
    assert max(changed_inside) > 0  # the event is drawn
    assert np.mean(changed_inside) < 0.9  # and leaves background to see


@pytest.mark.parametrize("index", range(4))
def test_events_only_add_to_the_sound(index):
    video = plan_holdout(replace(TINY, categories=4, videos_per_category=1, seed=5))[index]
    a, b = render_sound(video), render_sound(_without_events(video))
    assert a.shape == b.shape == (video.channels, audio_samples(video))
    t = np.arange(a.shape[1]) / video.sample_rate
    inside = np.zeros(t.size, bool)
    for s, e in video.highlights:
        inside |= (t >= s) & (t < e)
    # the whole track may be scaled once against clipping: fit that scale outside
    scale = float(np.sum(a[:, ~inside] * b[:, ~inside]) / np.sum(a[:, ~inside] ** 2))
    assert 0.2 < scale <= 1.0 / 0.2
    np.testing.assert_allclose(a[:, ~inside] * scale, b[:, ~inside], atol=1e-5)
    residual = (a[:, inside] * scale - b[:, inside]).ravel()  # the event sounds alone
    # the same noise on its own (drawn first, so the same samples), no distractors
    noise = render_sound(replace(_without_events(video), sound_distractors=[]))
    assert np.abs(noise).max() < 0.98  # not rescaled
    noise = noise[:, inside].ravel()
    assert np.sqrt(np.mean(residual**2)) > np.sqrt(np.mean(noise**2))  # events sound above it
    # ducking would take part of the noise away: the residual would contain -k * noise
    beta = float(residual @ noise / (noise @ noise))
    assert abs(beta) < 0.2


# -------------------------------------------------------------------------- real files


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("holdout")
    plans = synthesize(TINY, out, progress=False)
    return out, plans, plan_holdout(TINY)


def _decoded(path):
    with av.open(str(path)) as container:
        v, a = container.streams.video[0], container.streams.audio[0]
        info = {
            "format": container.format.name,
            "video_codec": v.codec_context.name,
            "audio_codec": a.codec_context.name,
            "rate": a.sample_rate,
            "channels": a.layout.nb_channels,
        }
        info["times"] = [f.time for f in container.decode(v)]
    with av.open(str(path)) as container:
        info["samples"] = sum(f.samples for f in container.decode(audio=0))
    return info


def test_files_decode_as_planned(tiny_dataset):
    out, plans, videos = tiny_dataset
    table = pd.read_csv(out / "videos.csv", dtype=str)
    assert list(table["path"]) == [f"videos/{v.filename}" for v in videos]
    assert sorted(p.name for p in (out / "videos").iterdir()) == sorted(v.filename for v in videos)
    codecs, rates = set(), set()
    for video in videos:
        path = out / "videos" / video.filename
        info = _decoded(path)
        frame = 1 / float(video.fps)
        muxer = {"mp4": "mp4", "webm": "matroska", "mkv": "matroska"}[video.extension]
        assert muxer in info["format"].split(",")
        assert info["video_codec"] == CODEC_NAMES.get(video.video_codec, video.video_codec)
        assert info["audio_codec"] == CODEC_NAMES.get(video.audio_codec, video.audio_codec)
        assert (info["rate"], info["channels"]) == (video.sample_rate, video.channels)
        probed = probe(path)
        assert (probed.width, probed.height) == (video.width, video.height)
        assert probed.has_audio
        assert abs(probed.duration - video.duration) <= frame + 1e-3
        assert abs(info["samples"] / info["rate"] - video.duration) <= frame
        times = np.array(info["times"])
        assert times[0] == pytest.approx(0.0, abs=1e-3)
        assert abs(times[-1] + frame - video.duration) <= 3 * frame
        gaps = np.diff(times)
        if video.variable_frame_rate:
            assert gaps.std() > 0.1 * gaps.mean()
        else:
            assert gaps == pytest.approx(frame, abs=2e-3)
            assert probed.fps == pytest.approx(float(video.fps), rel=1e-3)
        # the project's own decoder reads the sound on the video's clock, in full
        sound = np.concatenate(list(iter_audio_chunks(path, 16000)))
        assert abs(sound.size / 16000 - video.duration) <= frame
        codecs.add(info["video_codec"])
        rates.add(info["rate"])
    assert len(codecs) >= 2 and len(rates) >= 2


def test_tables_agree_with_plans(tiny_dataset):
    out, plans, videos = tiny_dataset
    table = pd.read_csv(out / "videos.csv", dtype=str)
    assert list(table.columns) == ["video_id", "path", "category", "split"]
    assert list(table["video_id"]) == [v.video_id for v in videos]
    assert list(table["category"]) == [CATEGORY_NAMES[v.category] for v in videos]
    assert list(table["split"]) == [v.split for v in videos]
    assert [p.highlights for p in plans] == [v.highlights for v in videos]
    for plan, video in zip(plans, videos, strict=True):
        assert (plan.filename, plan.category_name, plan.container) == (
            video.filename,
            CATEGORY_NAMES[video.category],
            video.extension,
        )
        assert (plan.width, plan.height, plan.sample_rate) == (
            video.width,
            video.height,
            video.sample_rate,
        )
        assert plan.fps == float(video.fps) and plan.duration == video.duration
    highlights = read_highlights(out)
    for video in videos:
        rows = highlights[highlights["video_id"] == video.video_id]
        assert list(zip(rows["start"], rows["end"], strict=True)) == video.highlights
    written = pd.read_csv(out / "clip_labels.csv", dtype={"video_id": str})
    for video in videos:
        clips = written[written["video_id"] == video.video_id]
        starts, ends = clip_grid(video.duration, TINY.clip_seconds)
        np.testing.assert_allclose(clips["start"], starts, atol=1e-3)
        assert list(clips["label"]) == naive_labels(starts, ends, video.highlights)
        assert clips["label"].sum() >= 1
    # readable by the project's folder reader; its clip table agrees
    manifest, rejected = build_manifest(
        "folder", out, {"test_fraction": 0.3, "split_seed": 0}, progress=False
    )[:2]
    assert rejected.empty and len(manifest) == len(videos)
    clips = make_clips(manifest, out, TINY.clip_seconds)
    merged = clips.merge(written, on=["video_id", "clip"], how="outer", suffixes=("", "_gt"))
    assert len(merged) == len(written)
    np.testing.assert_array_equal(merged["label"], merged["label_gt"])


def _luma(frame: av.VideoFrame) -> np.ndarray:
    return frame.to_ndarray(format="rgb24").astype(np.float32).mean(axis=2)


def test_background_does_not_dim_during_highlights(tiny_dataset):
    # per pixel, the median over highlight frames vs over the other frames: moving events and
    # distractors drop out of the medians; a dimmed background would lower most pixels
    out, _, videos = tiny_dataset
    for video in videos:
        inside, outside = [], []
        with av.open(str(out / "videos" / video.filename)) as container:
            for frame in container.decode(video=0):
                t = frame.time
                if any(s + 0.2 <= t < e - 0.2 for s, e in video.highlights):
                    inside.append(_luma(frame))
                elif all(t < s - 0.5 or t > e + 0.5 for s, e in video.highlights):
                    outside.append(_luma(frame))
        assert inside and outside
        change = np.median(np.stack(inside), axis=0) - np.median(np.stack(outside), axis=0)
        assert np.median(change) > -2.0, video.video_id
        assert np.mean(change < -20) < 0.1, video.video_id


def test_noise_does_not_duck_during_highlights(tiny_dataset):
    # the noise floor (quietest 20 ms windows) inside highlights is not below the noise alone
    # (outside highlights and planned distractor sounds); ducking by 14 dB fails this
    out, _, videos = tiny_dataset
    checked = 0
    for video in videos:
        sound = np.concatenate(list(iter_audio_chunks(out / "videos" / video.filename, 16000)))
        windows = sound[: sound.size // 320 * 320].reshape(-1, 320)
        level = 10 * np.log10(np.mean(windows.astype(np.float64) ** 2, axis=1) + 1e-12)
        t = (np.arange(level.size) + 0.5) * 0.02
        inside = np.zeros(t.size, bool)
        for s, e in video.highlights:
            inside |= (t >= s) & (t < e)
        quiet = ~inside
        for occ in video.sound_distractors:
            quiet &= (t < occ.start - 0.05) | (t >= occ.end + 0.3)
        if quiet.sum() < 10:  # a short video full of distractors
            continue
        floor_in, floor_out = np.percentile(level[inside], 10), np.percentile(level[quiet], 10)
        assert floor_in > floor_out - 3.0, video.video_id
        checked += 1
    assert checked >= 2


def test_same_seed_same_bytes_other_seed_differs(tiny_dataset, tmp_path):
    out, plans, videos = tiny_dataset
    again = synthesize(TINY, tmp_path / "again", progress=False)
    assert again == plans
    names = ["videos.csv", "highlights.csv", "clip_labels.csv"]
    names += [f"videos/{v.filename}" for v in videos]
    match, mismatch, errors = filecmp.cmpfiles(out, tmp_path / "again", names, shallow=False)
    assert not mismatch and not errors and len(match) == len(names)
    other = synthesize(replace(TINY, seed=TINY.seed + 1), tmp_path / "other", progress=False)
    assert [p.highlights for p in other] != [p.highlights for p in plans]
    assert (out / "videos" / videos[0].filename).read_bytes() != (
        tmp_path / "other" / "videos" / videos[0].filename
    ).read_bytes()
