"""Streams that end before the duration their file claims: features end with them.

Real files made by ffmpeg: a complete video, a truncated mp4 (its header still claims the
whole duration, its picture and sound stop where the bytes do) and a video whose sound
track is half as long as its picture. Nothing may be held or repeated past a stream's end:
the features end there, the shard marks the video partial with the decoded extent, the
console says so, the methods see only the clips where what they read exists, evaluation
leaves the rest out, and no pseudo-highlight comes from a clip without sound.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

import av
import h5py
import numpy as np
import pandas as pd
import pytest

from highlight_pipeline.datasets.folder import clip_grid
from highlight_pipeline.errors import DatasetError
from highlight_pipeline.evaluate import evaluate_run, protocol_scores
from highlight_pipeline.features.clip_features import load_clip_features
from highlight_pipeline.features.extract import extract_shard
from highlight_pipeline.features.neural import iter_audio_windows
from highlight_pipeline.features.shards import read_entries, read_meta
from highlight_pipeline.features.weight_free import ColorMotionExtractor, LogMelExtractor
from highlight_pipeline.features.windows import window_grid
from highlight_pipeline.manifest import build_manifest, manifest_summary
from highlight_pipeline.methods.avph import _training_targets
from highlight_pipeline.methods.inputs import load_method_inputs
from highlight_pipeline.metrics import ap_trapezoid
from highlight_pipeline.predictions import read_predictions, write_predictions
from highlight_pipeline.pseudo.highlights import (
    compute_pseudo_highlights,
    read_pseudo_highlights,
    write_pseudo_highlights,
)
from highlight_pipeline.video.decode import END_TOLERANCE, StreamExtent, iter_frame_batches
from highlight_pipeline.video.ffmpeg import ffmpeg_binary
from highlight_pipeline.video.probe import probe

FPS = 10
CLIP = 2.0
VISUAL = {
    "extractor": "colormotion",
    "version": 3,
    "fps": 5,
    "width": 64,
    "height": 48,
    "window_seconds": 1.0,
    "stride_seconds": 0.5,
}
AUDIO = {"extractor": "logmel", "audio_rate": 16000, "window_seconds": 1.0, "stride_seconds": 0.5}


def ffmpeg_video(path: Path, picture: float, sound: float | None) -> Path:
    """H.264 picture (moving test pattern) of ``picture`` s and AAC noise of ``sound`` s
    (``None``: no sound track), index at the front so that a cut file still probes."""
    command = [ffmpeg_binary(), "-v", "error", "-y"]
    command += ["-t", str(picture), "-f", "lavfi", "-i", f"testsrc2=size=64x48:rate={FPS}"]
    if sound is not None:
        noise = "anoisesrc=colour=pink:sample_rate=16000:amplitude=0.3:seed=1"
        command += ["-t", str(sound), "-f", "lavfi", "-i", noise]
    command += ["-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-pix_fmt", "yuv420p"]
    if sound is not None:
        command += ["-c:a", "aac"]
    command += ["-movflags", "+faststart", str(path)]
    subprocess.run(command, check=True, capture_output=True)
    return path


def picture_end(path: Path) -> float:
    """Where the picture of a file stops, from its packets (no decoding): the last
    packet's time plus one frame."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [float(p.pts * p.time_base) for p in container.demux(stream) if p.pts is not None]
    return max(times) + 1.0 / FPS


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("partial")
    full = ffmpeg_video(root / "full.mp4", 8.0, 8.0)
    long = ffmpeg_video(root / "long.mp4", 12.0, 12.0)
    data = long.read_bytes()
    truncated = root / "truncated.mp4"
    truncated.write_bytes(data[: int(len(data) * 0.4)])  # the bytes stop, the header stays
    long.unlink()
    half = ffmpeg_video(root / "half.mp4", 8.0, 4.0)
    return {"full": full, "truncated": truncated, "half": half}


def row_of(path: Path) -> SimpleNamespace:
    return SimpleNamespace(video_id=path.stem, path=str(path), **probe(path).as_dict())


def consecutive_identical(windows: np.ndarray) -> int:
    return int((np.abs(np.diff(windows, axis=0)).max(axis=1) == 0).sum())


# ---------------------------------------------------------------------------- decoding


def test_truncated_file_claims_its_duration_but_its_picture_stops(files):
    info = probe(files["truncated"])
    end = picture_end(files["truncated"])
    assert info.duration == pytest.approx(12.0, abs=0.05)  # what the header claims
    assert end < 0.6 * info.duration  # what the bytes hold
    extent = StreamExtent(info.duration)
    times = np.concatenate(
        [t for t, _ in iter_frame_batches(files["truncated"], 5, 32, 24, 16, info.duration, extent)]
    )
    assert extent.partial
    assert extent.seconds <= end + 1e-6 and extent.seconds > end - 1.0
    # no frame is held past the picture: the last output frame lies inside it
    assert times[-1] < extent.seconds
    assert len(times) == int(np.ceil(extent.seconds * 5 - 1e-9))


def test_complete_video_decodes_to_its_duration_and_is_not_partial(files):
    info = probe(files["full"])
    extent = StreamExtent(info.duration)
    times = np.concatenate(
        [t for t, _ in iter_frame_batches(files["full"], 5, 32, 24, 16, info.duration, extent)]
    )
    assert not extent.partial
    assert abs(extent.seconds - info.duration) < END_TOLERANCE
    assert len(times) == 40  # 8 s at 5 fps, as before


# ------------------------------------------------------------------ window features


def test_truncated_visual_and_audio_features_end_at_the_decoded_extent(files):
    row = row_of(files["truncated"])
    end = picture_end(files["truncated"])
    visual = ColorMotionExtractor(VISUAL).extract(row.path, row)
    audio = LogMelExtractor(AUDIO).extract(row.path, row)
    for found in (visual, audio):
        assert found.partial
        assert found.grid[-1, 1] <= found.extent + 1e-6  # no window past the stream's end
        assert abs(found.grid[-1, 1] - end) < CLIP  # ... and they reach it (within a clip)
        assert found.grid[-1, 1] < row.duration - CLIP  # not the 12 s the header claims
        assert consecutive_identical(found.windows) == 0  # nothing held or repeated
    assert abs(visual.extent - end) < 1.0


def test_half_audio_features_end_where_the_sound_does(files):
    row = row_of(files["half"])
    assert row.duration == pytest.approx(8.0, abs=0.05)
    audio = LogMelExtractor(AUDIO).extract(row.path, row)
    visual = ColorMotionExtractor(VISUAL).extract(row.path, row)
    assert audio.partial and not visual.partial
    assert 3.9 < audio.extent < 4.3
    # the windows past the sound do not exist (they used to repeat the last one)
    assert len(audio.windows) == len(window_grid(audio.extent, 1.0, 0.5))
    assert audio.grid[-1, 1] <= audio.extent + 1e-6
    assert consecutive_identical(audio.windows) == 0
    assert visual.grid[-1, 1] == pytest.approx(8.0, abs=0.05)


def test_neural_audio_windows_stop_at_the_sound_instead_of_zeros(files):
    row = row_of(files["half"])
    grid = window_grid(row.duration, 1.0, 0.5)
    extent = StreamExtent(row.duration)
    windows = np.concatenate(list(iter_audio_windows(row.path, 8000, grid, 4, extent)))
    assert extent.partial
    assert len(windows) < len(grid)
    assert (grid[: len(windows), 1] <= extent.seconds + 1e-6).all()
    assert (np.abs(windows).max(axis=1) > 0).all()  # no window of made-up silence
    # without a claimed duration the grid is filled, zero-padded, as before
    padded = np.concatenate(list(iter_audio_windows(row.path, 8000, grid, 4)))
    assert len(padded) == len(grid) and np.abs(padded[-1]).max() == 0


# ---------------------------------------------------------------------- the shards


@pytest.fixture(scope="module")
def dataset(files, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Shards of the three videos (visual and audio), their clips, manifest and splits."""
    root = tmp_path_factory.mktemp("dataset")
    manifest = pd.DataFrame(
        [
            {**vars(row_of(path)), "video_id": name, "category": "x", "split": "train"}
            for name, path in files.items()
        ]
    )
    manifest.to_csv(root / "manifest.csv", index=False)
    lines: dict[str, list[str]] = {"visual": [], "audio": []}
    shards = {}
    for modality, feature_slice in (("visual", VISUAL), ("audio", AUDIO)):
        shards[modality] = root / f"{modality}.h5"
        extract_shard(
            manifest, 0, 1, feature_slice, shards[modality], False, None, lines[modality].append
        )
    rows = []
    for r in manifest.itertuples():
        starts, ends = clip_grid(r.duration, CLIP)
        for k, (s, e) in enumerate(zip(starts, ends, strict=True)):
            rows.append({"video_id": r.video_id, "clip": k, "start": s, "end": e, "label": 0})
    clips = pd.DataFrame(rows)
    # highlights in every video, some of them past the end of a stream
    clips.loc[clips["clip"].isin([1, 3]), "label"] = 1
    clips.to_csv(root / "clips.csv", index=False)
    return {
        "root": root,
        "manifest": manifest,
        "clips": clips,
        "shards": shards,
        "lines": lines,
    }


def test_shard_marks_partial_videos_with_their_extent(dataset, files):
    visual = {e.video_id: e for e in read_entries(dataset["shards"]["visual"])}
    audio = {e.video_id: e for e in read_entries(dataset["shards"]["audio"])}
    end = picture_end(files["truncated"])
    assert visual["truncated"].partial and abs(visual["truncated"].extent - end) < 1.0
    assert visual["truncated"].duration == pytest.approx(12.0, abs=0.05)
    assert audio["truncated"].partial
    assert audio["half"].partial and 3.9 < audio["half"].extent < 4.3
    assert not visual["half"].partial and not visual["full"].partial
    assert not audio["full"].partial
    assert audio["full"].extent == pytest.approx(8.0, abs=END_TOLERANCE)
    meta = read_meta(dataset["shards"]["audio"])
    assert sorted(p["video_id"] for p in meta.partial) == ["half", "truncated"]
    with h5py.File(dataset["shards"]["audio"], "r") as handle:  # the attributes themselves
        assert bool(handle["half"].attrs["partial"]) is True
        assert 3.9 < float(handle["half"].attrs["extent"]) < 4.3


def test_console_has_one_line_per_partial_video(dataset, files):
    visual, audio = dataset["lines"]["visual"], dataset["lines"]["audio"]
    assert len(visual) == 1 and len(audio) == 2
    assert str(files["truncated"]) in visual[0] and "visual" in visual[0]
    assert "of the 12.00 s" in visual[0]
    half = next(line for line in audio if str(files["half"]) in line)
    assert "audio" in half and "of the 8.00 s" in half and "ends at 4." in half


def test_manifest_counts_the_video_whose_sound_track_is_short(files, tmp_path):
    for path in files.values():
        (tmp_path / path.name).symlink_to(path)
    (tmp_path / "videos.csv").write_text(
        "video_id,path,category\n" + "".join(f"{n},{p.name},x\n" for n, p in files.items())
    )
    manifest, rejected, _ = build_manifest(
        "folder", tmp_path, {"test_fraction": 0.34, "split_seed": 0}, progress=False
    )
    assert len(manifest) == 3
    half = manifest.set_index("video_id").loc["half"]
    assert 3.9 < half["audio_duration"] < 4.3
    summary = manifest_summary("mine", manifest, rejected)
    assert "1 partial (half: audio 4." in summary and "of 8.00 s" in summary


# --------------------------------------------------------------------- clip features


def test_clip_features_exist_only_inside_the_decoded_extent(dataset):
    clips = dataset["clips"]
    audio = load_clip_features([dataset["shards"]["audio"]], clips)
    visual = load_clip_features([dataset["shards"]["visual"]], clips)
    assert audio.clip_count("half") == 4
    assert len(audio.by_video["half"]) == 2  # clips [0, 2] and [2, 4]; [4, 8] have no sound
    assert len(visual.by_video["half"]) == 4
    assert len(audio.by_video["full"]) == 4 and len(visual.by_video["full"]) == 4
    n_truncated = len(visual.by_video["truncated"])
    extent = visual.partial["truncated"][0]
    assert n_truncated == int(np.floor(extent / CLIP + 0.5)) < visual.clip_count("truncated")
    assert set(audio.partial) == {"half", "truncated"} and set(visual.partial) == {"truncated"}


# ---------------------------------------------------------------- methods' inputs


def test_run_reading_both_modalities_sees_the_clips_that_have_both(dataset):
    root = dataset["root"]
    shards = {m: [str(p)] for m, p in dataset["shards"].items()}
    both = load_method_inputs(root / "manifest.csv", root / "clips.csv", features=shards)
    by_id = {v.video_id: v for v in both.videos}
    half = by_id["half"]
    assert (half.n_clips, half.total_clips, half.missing_clips) == (2, 4, 2)
    assert len(half.visual) == len(half.audio) == len(half.labels) == len(half.ends) == 2
    assert half.ends[-1] <= 4.0
    assert by_id["full"].n_clips == by_id["full"].total_clips == 4
    visual_only = load_method_inputs(
        root / "manifest.csv", root / "clips.csv", features={"visual": shards["visual"]}
    )
    assert {v.video_id: v.n_clips for v in visual_only.videos}["half"] == 4


def test_predictions_give_no_score_past_the_cut_and_evaluation_leaves_it_out(dataset, tmp_path):
    root = dataset["root"]
    shards = {m: [str(p)] for m, p in dataset["shards"].items()}
    inputs = load_method_inputs(root / "manifest.csv", root / "clips.csv", features=shards)
    scores = [np.arange(v.n_clips, dtype=np.float64)[::-1] for v in inputs.videos]
    path = tmp_path / "scores.jsonl"
    write_predictions(
        path, [v.video_id for v in inputs.videos], scores, [v.total_clips for v in inputs.videos]
    )
    assert "null" in path.read_text()
    predicted = read_predictions(path)
    assert len(predicted["half"]) == 4 and np.isnan(predicted["half"][2:]).all()
    assert np.isfinite(predicted["half"][:2]).all()
    assert np.isfinite(predicted["full"]).all()

    clips = dataset["clips"]
    videos = dataset["manifest"][["video_id", "category"]]
    _, average, _ = protocol_scores("youtube-map", predicted, clips, videos)
    truth = {v: g["label"].to_numpy() for v, g in clips.groupby("video_id")}
    aps = []
    for v, s in predicted.items():
        scored = np.isfinite(s)
        aps.append(ap_trapezoid(s[scored], truth[v][: scored.sum()]))
    expected = np.mean(aps)  # one category: the mean AP over the scored clips
    assert average == pytest.approx(expected)
    # counting the unscored clips as scored (lowest) would give another number
    lowest = {v: np.nan_to_num(s, nan=-1.0) for v, s in predicted.items()}
    assert protocol_scores("youtube-map", lowest, clips, videos)[1] != pytest.approx(average)

    metrics = evaluate_run(
        predicted,
        root / "clips.csv",
        root / "manifest.csv",
        "youtube-map",
        {v: "test" for v in predicted},
        "test",
        {"seed": 0},
        {},
    )
    assert metrics["unscored_clips"]["half"] == [2, 4]
    assert metrics["average"] == pytest.approx(average)


def test_a_missing_score_between_scored_clips_is_an_error(dataset):
    clips = dataset["clips"]
    videos = dataset["manifest"][dataset["manifest"]["video_id"] == "full"]
    with pytest.raises(DatasetError, match="clip 1 has no score"):
        protocol_scores("youtube-map", {"full": np.array([1.0, np.nan, 0.5, 0.2])}, clips, videos)


# ------------------------------------------------------------------ pseudo-highlights


PSEUDO = {
    "modalities": ["visual", "audio"],
    "categories": "real",
    "similarity": "cosine",
    "top_fraction": 0.5,
}


def test_no_pseudo_highlight_comes_from_a_clip_without_sound(dataset, tmp_path):
    clips = dataset["clips"]
    features = {m: load_clip_features([dataset["shards"][m]], clips) for m in ("visual", "audio")}
    videos = ["full", "truncated", "half"]
    _, pseudo, _, _ = compute_pseudo_highlights(videos, features, PSEUDO, {v: "x" for v in videos})
    half = pseudo["half"]
    assert len(half.av) == 4
    assert np.isnan(half.audio[2:]).all() and np.isfinite(half.audio[:2]).all()
    assert np.isnan(half.av[2:]).all()
    assert (half.labels["av"][2:] == -1).all() and (half.labels["audio"][2:] == -1).all()
    assert (half.labels["av"][:2] >= 0).all() and half.labels["av"][:2].sum() == 1
    assert (half.labels["visual"] >= 0).all()  # the picture goes on: its labels exist
    assert (half.label[2:] == 0).all()
    assert (pseudo["full"].labels["av"] >= 0).all()

    path = tmp_path / "highlights.h5"
    write_pseudo_highlights(path, pseudo, {})
    assert (read_pseudo_highlights(path)["half"].labels["av"][2:] == -1).all()
    root = dataset["root"]
    shards = {m: [str(p)] for m, p in dataset["shards"].items()}
    inputs = load_method_inputs(
        root / "manifest.csv",
        root / "clips.csv",
        {v: "train" for v in videos},
        shards,
        path,
        frozenset({"visual", "audio", "pseudo"}),
    )
    half_inputs = {v.video_id: v for v in inputs.videos}["half"]
    assert len(half_inputs.pseudo.av) == half_inputs.n_clips == 2
    run = {"settings": {"supervision": "pseudo", "target": "av"}, "training": {"fraction": 1.0}}
    chosen, targets = _training_targets(inputs, run, 0)
    by_id = dict(zip([v.video_id for v in chosen], targets, strict=True))
    assert set(by_id) == set(videos)  # every video trains, on the clips it has
    assert len(by_id["half"]) == 2 and set(np.unique(by_id["half"])) <= {0.0, 1.0}


def test_predict_scores_a_half_silent_video_only_where_both_streams_are(dataset, files, tmp_path):
    """`hlp predict` with an audio-visual model: the clips past the end of the sound get no
    score (null), the others one; no audio window is held to fill the gap."""
    import json

    from highlight_pipeline.methods import hpcl
    from highlight_pipeline.methods.models import save_model
    from highlight_pipeline.methods.recipe import feature_recipe
    from highlight_pipeline.predict_video import predict_video
    from tests.test_hpcl import small_run

    root = dataset["root"]
    shards = {m: [str(p)] for m, p in dataset["shards"].items()}
    inputs = load_method_inputs(root / "manifest.csv", root / "clips.csv", features=shards)
    run = small_run(epochs=1)
    model = hpcl.fit(inputs, run, 0, progress=False)
    path = tmp_path / "seed0.pt"
    save_model(path, run, 0, model, feature_recipe(root / "clips.csv", inputs.files))
    predict_video(files["half"], path, tmp_path / "out")
    clips = json.loads((tmp_path / "out" / "scores.json").read_text())["clips"]
    scores = [c["score"] for c in clips]
    assert len(scores) == 4 and scores[2:] == [None, None]
    assert all(isinstance(s, float) for s in scores[:2])


def test_tased_windows_stop_at_the_last_decoded_frame(files):
    """TASED's windows of a truncated file: maps only up to where the picture stops, none
    built from other frames for the part the header claims."""
    from highlight_pipeline.features.saliency import tased_windows

    path = files["truncated"]
    info = probe(path)
    times = np.concatenate(
        [t for _, t in tased_windows(path, info.fps, info.duration, out_fps=2.0, batch=4)]
    )
    end = picture_end(path)
    assert info.duration > end + 2  # the header claims much more than the picture
    assert times.max() < end and (np.diff(times) > 0).all()
    assert times.max() >= end - 1.0  # and the maps do go up to the end of the picture
