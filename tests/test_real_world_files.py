"""Files in the containers and codecs people have, and files with a damaged packet.

Every format of ``tests/real_world_files.py`` (written with the ffmpeg the project finds;
a format is skipped, naming the encoder, only where no ffmpeg here has its encoder) is
probed, decoded (picture and sound), featurised by the weight-free extractors through the
shard entry point of ``hlp features``, and scored by ``hlp predict``.

The damaged files are copies of an MPEG-4 Part 2 + AC3 AVI (the issue's kind of file) with
the payload of packets overwritten: a damaged packet is skipped and counted, decoding goes
on, the log has one line per file and stream with the count and the time, the sound after
a hole keeps its true time, and a hole longer than one window is marked missing (NaN
windows, the shard's ``gaps``), never filled.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from highlight_pipeline.errors import VideoError
from highlight_pipeline.features.clip_features import load_clip_features
from highlight_pipeline.features.extract import extract_shard
from highlight_pipeline.features.pooling import pool_windows
from highlight_pipeline.features.shards import read_entries, read_meta
from highlight_pipeline.features.weight_free import ColorMotionExtractor, LogMelExtractor
from highlight_pipeline.features.windows import frame_ranges, range_means, range_stds
from highlight_pipeline.video.decode import (
    END_TOLERANCE,
    StreamExtent,
    iter_audio_chunks,
    iter_frame_batches,
)
from highlight_pipeline.video.probe import probe
from tests.real_world_files import (
    DAMAGED,
    FORMATS,
    GAP_END,
    MIDDLE,
    TONE_HZ,
    damage_packets,
    packets,
    write_real_world_folder,
)

RATE = 16000
VISUAL = {
    "extractor": "colormotion",
    "version": 3,
    "fps": 5,
    "width": 64,
    "height": 48,
    "window_seconds": 1.0,
    "stride_seconds": 0.5,
}
AUDIO = {"extractor": "logmel", "audio_rate": RATE, "window_seconds": 1.0, "stride_seconds": 0.5}
NAMES = list(FORMATS) + list(DAMAGED)
DECODE_LOG = "highlight_pipeline.video.decode"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("real-world")
    began = time.perf_counter()
    entries = write_real_world_folder(root)
    seconds = time.perf_counter() - began
    print(f"\nreal-world files written in {seconds:.1f} s")
    return {"root": root, "entries": {e["video_id"]: e for e in entries}, "seconds": seconds}


def file_of(folder: dict, name: str) -> tuple[Path, dict]:
    entry = folder["entries"][name]
    if entry["path"] is None:
        pytest.skip(f"{name}: no ffmpeg here has the {', '.join(entry['skipped'])} encoder")
    return folder["root"] / entry["path"], entry


def row_of(path: Path, video_id: str = "v") -> SimpleNamespace:
    return SimpleNamespace(video_id=video_id, path=str(path), **probe(path).as_dict())


def decode_lines(caplog: pytest.LogCaptureFixture, path: Path) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == DECODE_LOG and str(path) in r.getMessage() and "damaged" in r.getMessage()
    ]


def sound(path: Path, extent: StreamExtent | None = None) -> np.ndarray:
    return np.concatenate(list(iter_audio_chunks(path, RATE, extent=extent)))


def onset(samples: np.ndarray, second: int) -> float:
    """Where the tone that starts near ``second`` starts, in seconds of the sound."""
    lo = int((second - 0.2) * RATE)
    loud = np.abs(np.nan_to_num(samples[lo : int((second + 0.1) * RATE)])) > 0.1
    assert loud.any()
    return (lo + int(np.argmax(loud))) / RATE


def missing_rows(windows: np.ndarray) -> np.ndarray:
    return ~np.isfinite(windows).all(axis=1)


def overlapping(grid: np.ndarray, start: float, end: float) -> np.ndarray:
    return (grid[:, 0] < end) & (grid[:, 1] > start)


# ------------------------------------------------------------------- every format


def test_files_are_written_quickly_and_only_a_missing_encoder_skips_one(folder):
    assert folder["seconds"] < 20
    for name, entry in folder["entries"].items():
        assert (entry["path"] is None) == bool(entry["skipped"]), name
        if entry["path"] is not None:
            assert (folder["root"] / entry["path"]).stat().st_size > 1000
    skipped = {n: e["skipped"] for n, e in folder["entries"].items() if e["skipped"]}
    if skipped:
        print(f"skipped for want of an encoder: {skipped}")


@pytest.mark.parametrize("name", NAMES)
def test_every_file_probes_and_its_picture_and_sound_decode(folder, name):
    path, entry = file_of(folder, name)
    info = probe(path)
    assert (info.width, info.height) == (96, 72)
    assert info.has_audio and info.fps > 0
    assert info.duration == pytest.approx(entry["seconds"], abs=0.15)
    extent = StreamExtent(info.duration)
    times = np.concatenate(
        [t for t, _ in iter_frame_batches(path, 10, 32, 24, 16, info.duration, extent)]
    )
    assert not extent.partial
    assert extent.seconds >= info.duration - END_TOLERANCE
    assert times[-1] >= info.duration - 0.2 and (np.diff(times) > 0).all()
    samples = sound(path)
    assert len(samples) / RATE >= info.duration - END_TOLERANCE
    heard = np.nan_to_num(samples)
    if entry["seconds"] >= 1:
        spectrum = np.abs(np.fft.rfft(heard))
        assert np.fft.rfftfreq(len(heard), 1 / RATE)[spectrum.argmax()] == pytest.approx(
            TONE_HZ, abs=3
        )
        assert 0.1 < np.abs(heard).max() < 1.0  # the tone, downmixed, at its level


@pytest.fixture(scope="module")
def shards(folder, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Weight-free shards (``hlp features``' entry point) of every file written."""
    out = tmp_path_factory.mktemp("shards")
    rows = [
        {**vars(row_of(folder["root"] / e["path"], name)), "category": "x", "split": "test"}
        for name, e in folder["entries"].items()
        if e["path"] is not None
    ]
    manifest = pd.DataFrame(rows)
    found = {"manifest": manifest, "lines": {}, "paths": {}}
    for modality, feature_slice in (("visual", VISUAL), ("audio", AUDIO)):
        lines: list[str] = []
        path = out / f"{modality}.h5"
        extract_shard(manifest, 0, 1, feature_slice, path, False, None, lines.append)
        found["paths"][modality] = path
        found["lines"][modality] = lines
        found[modality] = {e.video_id: e for e in read_entries(path)}
    return found


@pytest.mark.parametrize("name", NAMES)
def test_weight_free_features_of_every_file(folder, shards, name):
    path, entry = file_of(folder, name)
    for modality in ("visual", "audio"):
        assert read_meta(shards["paths"][modality]).failed == []
        found = shards[modality][name]
        assert not found.partial and not found.missing
        assert found.windows.shape[0] == len(found.start) > 0
        stride = 0.5  # the windows reach the duration, to within one stride
        assert entry["seconds"] - stride - 0.15 <= found.end[-1] <= entry["seconds"] + 0.15
        assert found.short == (entry["seconds"] < 1.0)
        holes = [(a, b) for a, b in found.gaps]
        damaged = entry.get("damage") or {}
        if damaged.get("packets", 0) > 1 and damaged["stream"] == modality:
            assert holes  # the hole longer than a window: the next tests
        else:
            assert holes == [] and not missing_rows(found.windows).any()


# ------------------------------------------------------------------ damaged packets


def test_damaged_audio_packet_at_the_end_is_skipped_and_logged_once(folder, caplog):
    path, entry = file_of(folder, "avi_mpeg4_ac3_damaged_audio_end")
    damage = entry["damage"]
    caplog.set_level(logging.WARNING)
    extent = StreamExtent()
    samples = sound(path, extent)
    assert decode_lines(caplog, path) == [
        f"{path}: 1 damaged audio packet skipped (at {damage['start']:.2f} s); "
        "decoding went on after it"
    ]
    assert extent.skipped == 1 and extent.gaps == []  # no hole inside: the sound ends there
    # every packet before the damaged one decoded: the sound reaches it, no further
    assert len(samples) / RATE == pytest.approx(damage["start"], abs=0.005)
    assert not np.isnan(samples).any()
    audio = LogMelExtractor(AUDIO).extract(path, row_of(path))
    assert not audio.partial and np.isfinite(audio.windows).all()  # within END_TOLERANCE


def test_damaged_audio_packet_in_the_middle_leaves_a_hole_at_its_true_time(folder, caplog):
    path, entry = file_of(folder, "avi_mpeg4_ac3_damaged_audio_middle")
    damage = entry["damage"]
    caplog.set_level(logging.WARNING)
    extent = StreamExtent()
    samples = sound(path, extent)
    assert decode_lines(caplog, path) == [
        f"{path}: 1 damaged audio packet skipped (at {damage['start']:.2f} s); "
        "decoding went on after it"
    ]
    assert extent.skipped == 1
    # the hole is the packet's 32 ms, missing (NaN), not silence and not the next sound
    (hole,) = extent.gaps
    assert hole == pytest.approx((damage["start"], damage["end"]), abs=1 / RATE)
    missing = np.flatnonzero(np.isnan(samples))
    assert missing[0] == round(damage["start"] * RATE)
    assert len(missing) == round((damage["end"] - damage["start"]) * RATE)
    assert (np.diff(missing) == 1).all()
    # decoding went on to the end of the file, and what follows keeps its time
    assert len(samples) / RATE == pytest.approx(damage["last_packet"], abs=0.005)
    codec_delay = onset(samples, 1) - 1.0  # before the hole
    for second in (3, 4, 5):
        assert onset(samples, second) - second == pytest.approx(codec_delay, abs=0.002)
    # shorter than a window: the windows around it are made of the real sound they hold
    audio = LogMelExtractor(AUDIO).extract(path, row_of(path))
    assert len(audio.gaps) == 0 and np.isfinite(audio.windows).all()
    assert audio.grid[-1, 1] == pytest.approx(entry["seconds"], abs=0.05)


def test_audio_gap_longer_than_a_window_is_marked_missing(folder, caplog):
    path, entry = file_of(folder, "avi_mpeg4_ac3_damaged_audio_gap")
    damage = entry["damage"]
    caplog.set_level(logging.WARNING)
    extent = StreamExtent()
    samples = sound(path, extent)
    last = damage["end"] - 0.032  # the last damaged packet's time
    assert decode_lines(caplog, path) == [
        f"{path}: {damage['packets']} damaged audio packets skipped "
        f"(from {damage['start']:.2f} s to {last:.2f} s); decoding went on after them"
    ]
    assert extent.skipped == damage["packets"] == 50
    (hole,) = extent.gaps
    assert hole == pytest.approx((damage["start"], damage["end"]), abs=1 / RATE)
    assert np.isnan(samples).sum() == round((damage["end"] - damage["start"]) * RATE)
    assert len(samples) / RATE == pytest.approx(damage["last_packet"], abs=0.005)
    assert onset(samples, 5) - 5 == pytest.approx(onset(samples, 1) - 1, abs=0.002)

    audio = LogMelExtractor(AUDIO).extract(path, row_of(path))
    assert audio.gaps.ravel().tolist() == pytest.approx([damage["start"], damage["end"]], abs=1e-3)
    over = overlapping(audio.grid, damage["start"], damage["end"])
    assert over.sum() == 5  # [1.5, 2.5] ... [3.5, 4.5]
    assert (missing_rows(audio.windows) == over).all()  # missing there, real elsewhere
    assert np.isnan(audio.windows[over]).all()
    assert audio.grid[-1, 1] == pytest.approx(entry["seconds"], abs=0.05)  # and on after it


def test_damaged_video_packet_in_the_middle_is_skipped_and_the_rest_decodes(folder, caplog):
    path, entry = file_of(folder, "avi_mpeg4_ac3_damaged_video_middle")
    damage = entry["damage"]
    caplog.set_level(logging.WARNING)
    info = probe(path)
    extent = StreamExtent(info.duration)
    times = np.concatenate(
        [t for t, _ in iter_frame_batches(path, 10, 32, 24, 16, info.duration, extent)]
    )
    # the frame-threaded decoder reports the error late; the line names the lost frame
    assert decode_lines(caplog, path) == [
        f"{path}: 1 damaged video packet skipped (at {damage['start']:.2f} s); "
        "decoding went on after it"
    ]
    assert extent.skipped == 1
    assert extent.gaps == [pytest.approx((damage["start"], damage["end"]))]
    assert not extent.partial and extent.seconds == pytest.approx(damage["last_packet"])
    assert len(times) == 60  # 6 s at 10 fps: the frame before the hole shows through it
    visual = ColorMotionExtractor(VISUAL).extract(path, row_of(path))
    assert len(visual.gaps) == 0 and np.isfinite(visual.windows).all()


def test_video_gap_longer_than_a_window_is_marked_missing(folder, caplog, tmp_path):
    source, _ = file_of(folder, "avi_mpeg4_ac3_damaged_audio_middle")
    path = tmp_path / "video-gap.avi"
    shutil.copyfile(source, path)
    lost = [p for p in packets(path, "video") if MIDDLE - 1e-6 <= p["time"] < GAP_END - 1e-6]
    damage_packets(path, lost, "video")  # 16 frames, a keyframe among them
    caplog.set_level(logging.WARNING)
    visual = ColorMotionExtractor(VISUAL).extract(path, row_of(path))
    (line,) = decode_lines(caplog, path)
    assert f"{len(lost)} damaged video packets skipped (from 2.20 s to 3.70 s)" in line
    assert visual.gaps.ravel().tolist() == pytest.approx([MIDDLE, GAP_END])
    over = overlapping(visual.grid, MIDDLE, GAP_END)
    assert (missing_rows(visual.windows) == over).all() and over.sum() == 5
    # the frame held over the hole made no window; the windows after it are real
    assert visual.grid[-1, 1] == pytest.approx(6.0) and not visual.partial


def test_shard_records_the_gap_and_clips_stop_before_it(folder, shards, caplog):
    path, entry = file_of(folder, "avi_mpeg4_ac3_damaged_audio_gap")
    name = "avi_mpeg4_ac3_damaged_audio_gap"
    audio = shards["audio"][name]
    hole = [entry["damage"]["start"], entry["damage"]["end"]]
    assert audio.gaps.ravel().tolist() == pytest.approx(hole)
    assert read_meta(shards["paths"]["audio"]).gaps == [
        {"video_id": name, "path": str(path), "gaps": [[2.208, 3.808]]}
    ]
    assert shards["lines"]["audio"] == [
        f"gaps: {path}: the audio stream has no data at 2.21-3.81 s (damaged packets); "
        "logmel windows over it are marked missing"
    ]
    assert shards["lines"]["visual"] == []
    clips = pd.DataFrame(
        {"video_id": name, "clip": range(3), "start": [0.0, 2.0, 4.0], "end": [2.0, 4.0, 6.0]}
    )
    caplog.set_level(logging.WARNING)
    found = load_clip_features([shards["paths"]["audio"]], clips)
    # clip 2-4 s has no sound: the run reads the clip before it, nothing made up for it
    assert len(found.by_video[name]) == 1 and np.isfinite(found.by_video[name]).all()
    assert name in found.gaps and "features for 1 of its 3 clips" in caplog.text
    visual = load_clip_features([shards["paths"]["visual"]], clips)
    assert len(visual.by_video[name]) == 3


def test_a_stream_of_which_nothing_decodes_is_still_an_error(folder, tmp_path):
    source, _ = file_of(folder, "avi_mpeg4_ac3")
    silent = tmp_path / "no-sound.avi"
    shutil.copyfile(source, silent)
    damage_packets(silent, packets(silent, "audio"), "audio")
    with pytest.raises(VideoError, match="audio decoding failed") as info:
        sound(silent)
    assert str(silent) in str(info.value)
    blind = tmp_path / "no-picture.avi"
    shutil.copyfile(source, blind)
    damage_packets(blind, packets(blind, "video"), "video")
    with pytest.raises(VideoError) as info:
        probe(blind)
    assert str(blind) in str(info.value)


# ------------------------------------------------------------------- missing rows


def test_missing_rows_are_left_out_of_window_means_and_pooled_clips():
    rows = np.arange(20, dtype=np.float64).reshape(10, 2)
    rows[3:5] = np.nan
    grid = np.array([[0.0, 0.5], [0.2, 0.6], [0.3, 0.5]])
    lo, hi = frame_ranges(grid, 10, len(rows))
    means = range_means(rows, lo, hi)
    assert means[0].tolist() == pytest.approx(rows[[0, 1, 2]].mean(axis=0))
    assert means[1].tolist() == pytest.approx(rows[[2, 5]].mean(axis=0))
    assert np.isnan(means[2]).all()  # nothing but missing rows: missing
    spreads = range_stds(rows, lo, hi)
    assert spreads[1].tolist() == pytest.approx(rows[[2, 5]].std(axis=0))
    windows = np.array([[1.0], [np.nan], [3.0], [np.nan], [np.nan]], np.float32)
    starts = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    clips = pool_windows(windows, starts, starts + 1, np.array([0.0, 2.0]), np.array([2.0, 3.0]))
    assert clips[0, 0] == pytest.approx(2.0)  # the two real windows of the clip
    assert np.isnan(clips[1, 0])  # all its windows missing: missing, not the nearest real one


# --------------------------------------------------------------------- hlp predict


@pytest.fixture(scope="module")
def random_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cheapest model `hlp predict` takes: the random baseline, with a weight-free
    recipe (its scores ignore the features, which predict extracts all the same)."""
    from highlight_pipeline.config import validate_config
    from highlight_pipeline.methods.models import save_model
    from highlight_pipeline.methods.random_baseline import RandomScores
    from highlight_pipeline.runs import resolve_run

    config = validate_config(
        {
            "run_datasets": ["synthetic"],
            "datasets": {"synthetic": {"reader": "synthetic"}},
            "evaluation": {"runs": {"random": ["uniform"]}},
        }
    )
    run = resolve_run(config, "synthetic", "random", "uniform")
    path = tmp_path_factory.mktemp("model") / "seed0.pt"
    recipe = {"features": {"visual": VISUAL, "audio": AUDIO}, "clip_seconds": 2.0}
    save_model(path, run, 0, RandomScores(0), recipe)
    return path


PREDICT_ALL = """
import sys
from highlight_pipeline.cli import main
model, out = sys.argv[1], sys.argv[2]
for k, video in enumerate(sys.argv[3:]):
    code = main(["--quiet", "predict", video, "--model", model, "--out", f"{out}/{k}"])
    print("exit", k, code, flush=True)
"""


def test_hlp_predict_scores_every_file(folder, random_model, tmp_path):
    """`hlp predict VIDEO --model MODEL --out DIR`: the console script on the issue's file,
    and the same command line (``cli.main``, one process) on every file."""
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    issue, _ = file_of(folder, "avi_mpeg4_ac3_damaged_audio_end")
    done = subprocess.run(
        ["hlp", "predict", str(issue), "--model", str(random_model), "--out", str(tmp_path / "h")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "1 damaged audio packet skipped" in done.stderr
    assert (tmp_path / "h" / "scores.json").is_file()

    written = [(n, folder["root"] / e["path"]) for n, e in folder["entries"].items() if e["path"]]
    done = subprocess.run(
        [sys.executable, "-c", PREDICT_ALL, str(random_model), str(tmp_path / "all")]
        + [str(p) for _, p in written],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert [line for line in done.stdout.splitlines() if line.startswith("exit")] == [
        f"exit {k} 0" for k in range(len(written))
    ], done.stderr[-3000:]
    for k, (name, path) in enumerate(written):
        result = json.loads((tmp_path / "all" / str(k) / "scores.json").read_text())
        assert result["video"] == str(path)
        assert set(result["features"]) == {"visual", "audio"}, name  # the sound was used
        assert len(result["clips"]) >= 1
        scored = [c["score"] is not None for c in result["clips"]]
        if name == "avi_mpeg4_ac3_damaged_audio_gap":  # a hole longer than a window
            # scored up to the clip the hole leaves without sound, as in the pipeline
            assert scored[0] and not all(scored) and scored == sorted(scored, reverse=True)
        else:
            assert all(scored), name
