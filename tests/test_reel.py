"""Highlight reels: clip selection by hand, and cut-and-join checked with PyAV."""

from __future__ import annotations

import av
import numpy as np
import pandas as pd
import pytest

from highlight_pipeline.errors import PipelineError
from highlight_pipeline.predictions import write_predictions
from highlight_pipeline.reel import (
    ReelError,
    make_reel,
    probe_media,
    select_reel_clips,
    video_reel,
)
from tests.conftest import write_test_video

FPS = 10
GREY_STEP = 4  # frame i of the source is uniform grey 4 * i: a decoded frame tells its source


# ------------------------------------------------------------------------------ selection


def test_top_clips_in_time_order_adjacent_merged():
    starts = [0, 2, 4, 6, 8, 10]
    ends = [2, 4, 6, 8, 10, 12]
    scores = [0.1, 0.9, 0.8, 0.2, 0.7, 0.3]
    # by score: 2-4 (0.9), 4-6 (0.8), 8-10 (0.7) = 6 s; 2-4 and 4-6 touch -> one segment
    assert select_reel_clips(starts, ends, scores, 6) == [(2.0, 6.0), (8.0, 10.0)]
    # 5 s: the third clip would make 6 s -> stop after two
    assert select_reel_clips(starts, ends, scores, 5) == [(2.0, 6.0)]
    # everything fits: one segment covering the video
    assert select_reel_clips(starts, ends, scores, 100) == [(0.0, 12.0)]
    # the best clip alone is too long
    assert select_reel_clips(starts, ends, scores, 1.5) == []


def test_overlapping_clips_count_their_union():
    starts, ends = [0, 1, 2, 3], [2, 3, 4, 5]
    scores = [0.9, 0.1, 0.8, 0.2]
    # 0-2 (2 s), then 2-4 touches (4 s), then 3-5 adds 1 s -> 5 s > 4: stop
    assert select_reel_clips(starts, ends, scores, 4) == [(0.0, 4.0)]
    # at 5 s: 3-5 fits (5 s), then 1-3 adds nothing and fits
    assert select_reel_clips(starts, ends, scores, 5) == [(0.0, 5.0)]


def test_ties_take_the_earlier_clip_and_nan_scores_are_skipped():
    starts, ends = [0, 2, 4, 6], [2, 4, 6, 8]
    assert select_reel_clips(starts, ends, [1, 1, 1, 1], 4) == [(0.0, 4.0)]
    assert select_reel_clips(starts, ends, [np.nan, 1, np.nan, 2], 100) == [
        (2.0, 4.0),
        (6.0, 8.0),
    ]


def test_selection_properties_on_random_clips():
    rng = np.random.default_rng(0)
    starts = np.sort(rng.uniform(0, 300, 200))
    ends = starts + rng.uniform(0.5, 5, 200)
    scores = rng.normal(size=200)
    segments = select_reel_clips(starts, ends, scores, 60)
    assert sum(b - a for a, b in segments) <= 60 + 1e-9
    assert all(b > a for a, b in segments)
    assert all(b0 < a1 for (_, b0), (a1, _) in zip(segments, segments[1:], strict=False))
    best = int(np.argmax(scores))  # the best clip is always in the reel
    assert any(a <= starts[best] and ends[best] <= b for a, b in segments)


def test_selection_errors_are_pipeline_errors():
    with pytest.raises(ReelError, match="differ in length"):
        select_reel_clips([0, 1], [1, 2], [0.5], 10)
    with pytest.raises(ReelError, match="positive number of seconds"):
        select_reel_clips([0], [1], [0.5], 0)
    with pytest.raises(PipelineError, match="clip 1 has no positive duration"):
        select_reel_clips([0, 2], [1, 2], [0.5, 0.4], 10)


# ------------------------------------------------------------------------------ cutting


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """6 s, 64x48, 10 fps, frame i grey 4*i; one with a 440 Hz tone, one silent."""
    root = tmp_path_factory.mktemp("reel")
    frames = [np.full((48, 64, 3), GREY_STEP * i, np.uint8) for i in range(6 * FPS)]
    return {
        "sound": write_test_video(root / "sound.mp4", seconds=6.0, fps=FPS, frames=frames),
        "silent": write_test_video(
            root / "silent.mp4", seconds=6.0, fps=FPS, frames=frames, audio=False
        ),
    }


def decode(path):
    """Per stream type: duration in seconds, and the decoded frames or audio samples."""
    out = {}
    with av.open(str(path)) as container:
        for stream in container.streams:
            out[stream.type] = {"duration": float(stream.duration * stream.time_base)}
        if container.streams.video:
            greys = [float(f.to_ndarray(format="rgb24").mean()) for f in container.decode(video=0)]
            out["video"]["greys"] = np.array(greys)
    if "audio" in out:
        with av.open(str(path)) as container:
            samples = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
            out["audio"]["samples"] = np.concatenate(samples)
    return out


def test_reel_duration_content_and_sound(videos, tmp_path):
    segments = [(0.5, 1.5), (3.0, 4.5)]
    out = make_reel(videos["sound"], segments, tmp_path / "out" / "reel.mp4")
    assert out == tmp_path / "out" / "reel.mp4" and not list(out.parent.glob("*.tmp"))
    info = probe_media(out)
    assert info.has_video and info.has_audio
    assert info.duration == pytest.approx(2.5, abs=0.1)
    streams = decode(out)
    assert streams["video"]["duration"] == pytest.approx(2.5, abs=0.05)
    assert streams["audio"]["duration"] == pytest.approx(2.5, abs=0.1)
    # exact cuts: source frames 5..14, then 30..44
    expected = GREY_STEP * np.r_[5:15, 30:45]
    assert streams["video"]["greys"] == pytest.approx(expected, abs=3)
    samples = streams["audio"]["samples"]
    assert np.sqrt(np.mean(samples**2)) > 0.25  # the tone (amplitude 0.5, rms 0.354)


def test_reel_of_a_silent_video_has_no_audio(videos, tmp_path):
    out = make_reel(videos["silent"], [(4.0, 5.0), (1.0, 2.0)], tmp_path / "silent-reel.mp4")
    info = probe_media(out)
    assert info.has_video and not info.has_audio
    greys = decode(out)["video"]["greys"]
    assert greys == pytest.approx(GREY_STEP * np.r_[40:50, 10:20], abs=3)  # given order


def test_segment_past_the_end_is_clipped(videos, tmp_path):
    out = make_reel(videos["silent"], [(5.5, 9.0)], tmp_path / "end.mp4")
    assert probe_media(out).duration == pytest.approx(0.5, abs=0.1)


def test_reel_errors_are_one_line(videos, tmp_path):
    cases = [
        (tmp_path / "missing.mp4", [(0, 1)], "no such video"),
        (videos["sound"], [(7.0, 8.0)], "outside the video"),
        (videos["sound"], [], "no segment"),
    ]
    for video, segments, message in cases:
        with pytest.raises(ReelError, match=message) as info:
            make_reel(video, segments, tmp_path / "x.mp4")
        assert "\n" not in str(info.value)
    not_a_video = tmp_path / "text.mp4"
    not_a_video.write_text("hello")
    with pytest.raises(ReelError, match="cannot be opened"):
        make_reel(not_a_video, [(0, 1)], tmp_path / "x.mp4")
    assert not (tmp_path / "x.mp4").exists()


def test_video_reel_from_pipeline_files(videos, tmp_path):
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame(
        {"video_id": ["v"], "path": [str(videos["sound"])], "category": ["c"], "split": ["test"]}
    ).to_csv(manifest, index=False)
    clips = tmp_path / "clips.csv"
    pd.DataFrame(
        {"video_id": "v", "clip": range(3), "start": [0, 2, 4], "end": [2, 4, 6], "label": 0}
    ).to_csv(clips, index=False)
    predictions = tmp_path / "p.jsonl"
    write_predictions(predictions, ["v"], [np.array([0.2, -1.0, 3.0])])
    out, segments = video_reel(predictions, clips, manifest, "v", tmp_path / "v.mp4", 4.5)
    assert segments == [(0.0, 2.0), (4.0, 6.0)]
    assert probe_media(out).duration == pytest.approx(4.0, abs=0.1)
    with pytest.raises(ReelError, match="no prediction for video 'w'"):
        video_reel(predictions, clips, manifest, "w", tmp_path / "w.mp4", 4.5)
