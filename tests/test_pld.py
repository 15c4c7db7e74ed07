"""pld (PLD-VHD): windows, pixel targets, the frame cache and segment scores.

The frame cache is written from real videos (PyAV) whose frame i is grey level 8 * i, so
a frame read back tells which source frame it is."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from highlight_pipeline.errors import DatasetError, PipelineError
from highlight_pipeline.features.frames import open_frame_cache, write_frame_shard
from highlight_pipeline.features.saliency_maps import SaliencyTrack
from highlight_pipeline.methods import pld
from highlight_pipeline.methods.inputs import MethodInputs, VideoInputs
from highlight_pipeline.methods.registry import get_method
from highlight_pipeline.runs import frames_id, parse_frames_id
from tests.conftest import LEVEL_STEP, write_test_video

# ----------------------------------------------------------------------------- windows


def test_first_windows_are_padded_with_the_first_frames_reversed():
    # position -1 is frame 0, -2 frame 1, ...: frames L-2 .. 0 come before the video
    assert pld.window_indices(0, 100, 4).tolist() == [2, 1, 0, 0]
    assert pld.window_indices(1, 100, 4).tolist() == [1, 0, 0, 1]
    assert pld.window_indices(2, 100, 4).tolist() == [0, 0, 1, 2]
    assert pld.window_indices(3, 100, 4).tolist() == [0, 1, 2, 3]  # no padding from L - 1
    assert pld.window_indices(50, 100, 32).tolist() == list(range(19, 51))
    first = pld.window_indices(0, 100, 32)
    assert first.tolist() == list(range(30, -1, -1)) + [0]


def test_padding_of_a_video_shorter_than_the_window_stays_inside_it():
    window = pld.window_indices(1, 3, 6)
    assert window.tolist() == [2, 2, 1, 0, 0, 1]
    assert window.max() < 3 and len(window) == 6


def test_no_temporal_window_is_the_target_frame_repeated():
    assert pld.window_indices(7, 20, 16, temporal=False).tolist() == [7] * 16
    assert pld.window_indices(0, 20, 32, temporal=False).tolist() == [0] * 32
    with pytest.raises(IndexError):
        pld.window_indices(20, 20, 16)


# ----------------------------------------------------------------------------- targets


def test_non_highlight_frames_get_all_zero_targets_whatever_the_saliency():
    salient = np.ones((4, 6), np.float32)
    for spatial in (True, False):
        target = pld.pixel_targets(salient, False, spatial, 0.0, "raw", (4, 6))
        assert target.shape == (4, 6) and not target.any()


def test_no_spatial_highlight_frames_are_all_ones():
    target = pld.pixel_targets(None, True, False, 0.5, "raw", (4, 6))
    assert target.shape == (4, 6) and target.all()


def test_beta_threshold_marks_the_pixels_strictly_above_beta():
    beta = 0.0005
    smap = np.array([[0.0, beta / 2, beta], [beta * 1.01, 0.01, 0.9]], np.float32)
    target = pld.pixel_targets(smap, True, True, beta, "raw", (2, 3))
    assert target.tolist() == [[0, 0, 0], [1, 1, 1]]  # equal to beta is not above it
    # around beta: a slightly lower threshold takes the pixel at beta, a higher drops one
    assert pld.pixel_targets(smap, True, True, beta * 0.99, "raw", (2, 3)).sum() == 4
    assert pld.pixel_targets(smap, True, True, 0.011, "raw", (2, 3)).sum() == 1
    # beta 0 on a strictly positive map: every pixel (the "w/o spatial" targets)
    positive = np.full((2, 3), 1e-6, np.float32)
    assert pld.pixel_targets(positive, True, True, 0.0, "raw", (2, 3)).all()


def test_beta_relative_to_the_frame_mean():
    smap = np.array([[1.0, 1.0, 1.0, 5.0]], np.float32)  # mean 2
    target = pld.pixel_targets(smap, True, True, 1.0, "mean", (1, 4))
    assert target.tolist() == [[0, 0, 0, 1]]
    assert pld.pixel_targets(smap, True, True, 0.4, "mean", (1, 4)).all()  # 0.8 < 1


def test_saliency_is_resized_to_the_training_resolution():
    smap = np.zeros((2, 2), np.float32)
    smap[:, 1] = 1.0  # right half salient
    target = pld.pixel_targets(smap, True, True, 0.5, "raw", (4, 8))
    assert target.shape == (4, 8)
    assert target[:, :3].sum() == 0 and target[:, 5:].all()


def test_beta_by_category_overrides_beta():
    settings = {"beta": 0.0005, "beta_by_category": {"dog": 0.001}}
    assert pld.beta_of(settings, "dog") == 0.001
    assert pld.beta_of(settings, "surfing") == 0.0005
    assert pld.beta_of({"beta": 0.0, "beta_by_category": None}, "dog") == 0.0


def test_frames_belong_to_the_clip_that_holds_them():
    starts, ends = np.array([0.0, 2.0, 4.0]), np.array([2.0, 4.0, 6.0])
    times = np.array([0.0, 1.99, 2.0, 5.9, 6.0, 7.5])
    frame, clip = pld.frame_clip_pairs(times, starts, ends)
    pairs = list(zip(frame.tolist(), clip.tolist(), strict=True))
    assert pairs == [(0, 0), (1, 0), (2, 1), (3, 2)]


def test_overlapping_segments_each_hold_every_frame_inside_them():
    """YouTube Highlights' layout: 100-frame segments every 50 frames (match_label.json);
    at 10 fps [0, 10), [5, 15), [10, 20) s. Eq. 6: a segment's frames are all of them."""
    starts, ends = np.array([0.0, 5.0, 10.0]), np.array([10.0, 15.0, 20.0])
    times = np.arange(0, 20, 0.1)
    frame, clip = pld.frame_clip_pairs(times, starts, ends)
    for c in range(3):
        held = times[frame[clip == c]]
        assert len(held) == 100 and held.min() >= starts[c] and held.max() < ends[c]
    labels = pld.frame_labels(times, starts, ends, np.array([1, 0, -1]))
    assert (labels[:50] == 1).all()  # in segment 0 only
    assert (labels[50:100] == -1).all()  # a highlight and a non-highlight segment: neither
    assert (labels[100:150] == 0).all()  # segment 1, and segment 2 is unlabelled
    assert (labels[150:] == -1).all()  # unlabelled only


def test_saliency_track_gives_the_nearest_map_and_nothing_past_its_end():
    maps = np.arange(3, dtype=np.float32)[:, None, None] * np.ones((3, 2, 2), np.float32)
    track = SaliencyTrack(np.array([0.0, 0.5, 1.0]), 0.5, maps)
    assert track.at(0.3)[0, 0] == 1.0 and track.at(0.2)[0, 0] == 0.0
    assert track.covers(1.5) and not track.covers(1.6)
    assert track.at(1.6) is None


# ----------------------------------------------------------------------------- frame cache


def _manifest(tmp_path, videos: dict[str, dict]) -> pd.DataFrame:
    rows = []
    for name, kwargs in videos.items():
        path = write_test_video(tmp_path / f"{name}.mp4", audio=False, **kwargs)
        seconds = kwargs.get("seconds", 3.0)
        rows.append({"video_id": name, "path": str(path), "duration": seconds, "fingerprint": "f1"})
    return pd.DataFrame(rows)


def test_frame_cache_holds_each_frame_once_at_the_cache_rate(tmp_path):
    manifest = _manifest(tmp_path, {"a": {"seconds": 3.0, "fps": 10}})
    out = tmp_path / "frames" / "shard-0.h5"
    summary = write_frame_shard(manifest, 0, 1, {"fps": 5.0, "height": 16, "width": 32}, out)
    assert summary["reused"] == 0 and not summary["failed"]
    cache = open_frame_cache([out])
    source = cache.sources["a"]
    assert (cache.fps, cache.height, cache.width) == (5.0, 16, 32)
    assert source.n_frames == 15 and not source.partial
    frames = source.read(np.array([0, 1, 14, 1]))
    assert frames.shape == (4, 16, 32, 3) and frames.dtype == np.uint8
    # cache frame k is source frame 2k (10 fps -> 5 fps): grey level 8 * 2k
    levels = frames.reshape(4, -1).mean(axis=1)
    assert np.allclose(levels, [0, 2 * LEVEL_STEP, 28 * LEVEL_STEP, 2 * LEVEL_STEP], atol=2)
    blocks = list(source.iter_blocks(4))
    assert [low for low, _ in blocks] == [0, 4, 8, 12] and len(blocks[-1][1]) == 3


def test_frame_cache_reuses_unchanged_videos_and_redecodes_changed_ones(tmp_path):
    manifest = _manifest(tmp_path, {"a": {"seconds": 2.0}, "b": {"seconds": 2.0}})
    out = tmp_path / "shard-0.h5"
    frames_slice = {"fps": 5.0, "height": 16, "width": 16}
    write_frame_shard(manifest, 0, 1, frames_slice, out)
    first = open_frame_cache([out]).sources["a"].read(np.arange(10))
    manifest.loc[manifest.video_id == "b", "fingerprint"] = "f2"
    summary = write_frame_shard(manifest, 0, 1, frames_slice, out)
    assert summary["reused"] == 1  # a copied, b decoded again
    assert np.array_equal(open_frame_cache([out]).sources["a"].read(np.arange(10)), first)
    other = {"fps": 5.0, "height": 32, "width": 16}  # another slice: nothing reused
    assert write_frame_shard(manifest, 0, 1, other, tmp_path / "other.h5")["reused"] == 0


def test_frame_cache_of_a_truncated_video_ends_with_its_picture(tmp_path):
    manifest = _manifest(tmp_path, {"short": {"seconds": 2.0}})
    manifest["duration"] = 6.0  # the file "claims" 6 s; its picture stops at 2 s
    out = tmp_path / "shard-0.h5"
    lines = []
    summary = write_frame_shard(
        manifest, 0, 1, {"fps": 5.0, "height": 16, "width": 16}, out, console=lines.append
    )
    source = open_frame_cache([out]).sources["short"]
    assert source.partial and source.n_frames == 10 and abs(source.extent - 2.0) < 0.11
    assert summary["partial"][0]["video_id"] == "short"
    assert len(lines) == 1 and "picture ends at 2.00 s of the 6.00 s" in lines[0]


def test_a_video_that_cannot_be_decoded_is_reported_and_the_rest_kept(tmp_path, corrupt_file):
    manifest = _manifest(tmp_path, {"good": {"seconds": 2.0}})
    bad = {"video_id": "bad", "path": str(corrupt_file), "duration": 2.0, "fingerprint": "x"}
    manifest = pd.concat([manifest, pd.DataFrame([bad])], ignore_index=True)
    out = tmp_path / "shard-0.h5"
    summary = write_frame_shard(manifest, 0, 1, {"fps": 5.0, "height": 16, "width": 16}, out)
    assert [f["video_id"] for f in summary["failed"]] == ["bad"]
    cache = open_frame_cache([out])
    assert set(cache.sources) == {"good"} and cache.failed[0]["video_id"] == "bad"
    with h5py.File(out) as handle:
        assert "bad" not in handle


def test_frames_id_round_trips():
    found = {"fps": 2.5, "height": 32, "width": 64}
    assert frames_id(found) == "2p5fps-32x64"
    assert parse_frames_id(frames_id(found)) == found


# ----------------------------------------------------------------------------- the model


SETTINGS = {
    "backbone": "c3d",
    "spatial": True,
    "temporal": True,
    "pretrained": False,
    "beta": 0.5,
    "beta_scale": "raw",
    "beta_by_category": {},
    "size": {"tased": [32, 32], "c3d": [16, 16]},
    "fps": 5.0,
    "score_fps": None,
    "epochs": 2,
    "windows_per_video": 2,
    "batch_size": 2,
    "optimizer": "sgd",
    "bn_windows": 4,
    "train_encoder": True,
    "prior_bias": False,
    "lr": 0.01,
    "weight_decay": 0.0,
}


@pytest.fixture(scope="module")
def small_inputs(tmp_path_factory, one_torch_thread):
    """Three 4 s videos (frames at 5 fps, 16x16), 2 s clips, first clip a highlight."""
    tmp = tmp_path_factory.mktemp("pld")
    manifest = _manifest(tmp, {n: {"seconds": 4.0, "fps": 5} for n in ("v0", "v1", "v2")})
    out = tmp / "shard-0.h5"
    write_frame_shard(manifest, 0, 1, {"fps": 5.0, "height": 16, "width": 16}, out)
    cache = open_frame_cache([out])
    rng = np.random.default_rng(0)
    videos = []
    paths = dict(zip(manifest["video_id"], manifest["path"], strict=True))
    for k, name in enumerate(("v0", "v1", "v2")):
        maps = rng.random((8, 4, 4)).astype(np.float32)
        videos.append(
            VideoInputs(
                video_id=name,
                starts=np.array([0.0, 2.0]),
                ends=np.array([2.0, 4.0]),
                category="c",
                split="test" if k == 2 else "train",
                labels=np.array([1, 0]),
                frames=cache.sources[name],
                saliency=SaliencyTrack(np.arange(8) * 0.5, 0.5, maps),
                path=paths[name],
            )
        )
    geometry = {"fps": 5.0, "height": 16, "width": 16}
    return MethodInputs(videos, frozenset({"frames", "labels", "saliency"}), {}, geometry)


def _run(**settings):
    return {"method": "pld", "variant": "test", "settings": {**SETTINGS, **settings}}


def test_segment_score_is_the_mean_of_the_maps_over_its_frames(small_inputs):
    model = pld.fit(small_inputs, _run(), seed=0, progress=False)
    video = small_inputs.videos[2]
    maps = model.distinction_maps(video, np.arange(video.frames.n_frames))
    assert maps.shape == (20, 16, 16) and 0 <= maps.min() and maps.max() <= 1
    scores = model.score(video)
    assert np.allclose(scores, [maps[:10].mean(), maps[10:].mean()], atol=1e-6)


def test_overlapping_segments_are_scored_from_every_frame_inside_them(small_inputs):
    """Eq. 6 on YouTube Highlights' layout (segments overlapping by half): each segment's
    score is the mean over all of its frames, those it shares with its neighbours too."""
    model = pld.fit(small_inputs, _run(), seed=0, progress=False)
    base = small_inputs.videos[2]
    video = VideoInputs(
        video_id=base.video_id,
        starts=np.array([0.0, 1.0, 2.0]),
        ends=np.array([2.0, 3.0, 4.0]),
        category="c",
        split="test",
        labels=np.array([1, 0, 0]),
        frames=base.frames,
        saliency=base.saliency,
        path=base.path,
    )
    maps = model.distinction_maps(video, np.arange(video.frames.n_frames)).mean(axis=(1, 2))
    expected = [maps[0:10].mean(), maps[5:15].mean(), maps[10:20].mean()]
    assert np.allclose(model.score(video), expected, atol=1e-6)


def test_scoring_batches_more_windows_without_changing_the_maps(small_inputs):
    """At small frames scoring runs up to 16 windows per pass (faster on a CPU); the maps
    are those of the training batch size; at the paper's 384x224 it stays that batch."""
    model = pld.fit(small_inputs, _run(), seed=0, progress=False)
    video = small_inputs.videos[2]
    assert model.inference_batch == 16  # 16x16 frames
    batched = model.distinction_maps(video, np.arange(video.frames.n_frames))
    model.hparams = {**model.hparams, "height": 224, "width": 384}
    assert model.inference_batch == SETTINGS["batch_size"]
    in_pairs = model.distinction_maps(video, np.arange(video.frames.n_frames))
    assert np.allclose(batched, in_pairs, atol=1e-6)


def test_score_fps_scores_the_frames_nearest_its_grid(small_inputs):
    model = pld.fit(small_inputs, _run(score_fps=1.0), seed=0, progress=False)
    video = small_inputs.videos[2]
    frames, owners = model.scored_frames(video)
    # the middle of each 1 s period: 0.5 s, 1.5 s, ... (frames at 5 fps; a tie is the later)
    assert frames.tolist() == [3, 8, 13, 18] and owners.tolist() == [0, 0, 1, 1]
    maps = model.distinction_maps(video, frames).mean(axis=(1, 2))
    assert np.allclose(model.score(video), [maps[:2].mean(), maps[2:].mean()], atol=1e-6)


def test_clips_past_the_decoded_picture_get_no_score(small_inputs):
    model = pld.fit(small_inputs, _run(), seed=0, progress=False)
    video = small_inputs.videos[2]
    longer = VideoInputs(
        **{
            **video.__dict__,
            "starts": np.array([0.0, 2.0, 4.0]),
            "ends": np.array([2.0, 4.0, 6.0]),
            "labels": np.array([1, 0, 0]),
        }
    )
    scores = model.score(longer)
    assert np.isfinite(scores[:2]).all() and np.isnan(scores[2])


def test_training_is_seeded_and_the_state_round_trips(small_inputs):
    a = pld.fit(small_inputs, _run(), seed=3, progress=False)
    b = pld.fit(small_inputs, _run(), seed=3, progress=False)
    video = small_inputs.videos[2]
    assert np.array_equal(a.score(video), b.score(video))
    assert len(a.losses) == 2 and all(np.isfinite(a.losses))
    restored = pld.load(a.state())
    assert np.array_equal(restored.score(video), a.score(video))
    assert a.hparams["weights"] == "random-init" and a.hparams["height"] == 16


def test_training_targets_skip_highlight_frames_without_saliency(small_inputs):
    video = small_inputs.videos[0]
    short = SaliencyTrack(np.array([0.0]), 0.5, np.ones((1, 4, 4), np.float32))
    cut = VideoInputs(**{**video.__dict__, "saliency": short})
    entry = pld.TrainingVideo(cut, SETTINGS, (16, 16))
    # highlight frames 0..9 (clip 0): maps cover 0..0.5 s only -> frames 0, 1, 2
    assert entry.targets.tolist() == [0, 1, 2, *range(10, 20)]
    no_spatial = pld.TrainingVideo(cut, {**SETTINGS, "spatial": False}, (16, 16))
    assert no_spatial.targets.tolist() == list(range(20))


def test_a_dataset_without_labels_gets_a_clear_message(small_inputs):
    unlabelled = [
        VideoInputs(**{**v.__dict__, "labels": np.array([-1, -1])}) for v in small_inputs.videos
    ]
    inputs = MethodInputs(unlabelled, small_inputs.kinds, {}, small_inputs.frame_geometry)
    with pytest.raises(DatasetError, match="supervised by segment labels"):
        pld.fit(inputs, _run(), seed=0, progress=False)


def test_frame_size_must_suit_the_backbone(small_inputs):
    inputs = MethodInputs(
        small_inputs.videos, small_inputs.kinds, {}, {"fps": 5.0, "height": 24, "width": 16}
    )
    with pytest.raises(PipelineError, match="multiples of 16"):
        pld.fit(inputs, _run(), seed=0, progress=False)


def test_a_missing_published_checkpoint_names_the_file(small_inputs, tmp_path):
    run = {**_run(pretrained=True), "weights_dir": str(tmp_path), "weights": "published"}
    with pytest.raises(Exception, match="c3d.pickle"):
        pld.fit(small_inputs, run, seed=0, progress=False)


def test_networks_map_windows_to_one_map_of_the_input_size(one_torch_thread):
    c3d = pld.build_network("c3d").eval()
    with torch.no_grad():
        out = c3d(torch.zeros(1, 3, 16, 32, 48))
    assert out.shape == (1, 32, 48) and ((out > 0) & (out < 1)).all()
    x = pld.to_input(np.full((1, 2, 4, 4, 3), 255, np.uint8), "tased")
    assert x.shape == (1, 3, 2, 4, 4) and torch.allclose(x, torch.ones_like(x))


def test_registry_reads_saliency_only_for_spatial_variants():
    spec = get_method("pld")
    base = {"method": "pld", "settings": dict(SETTINGS)}
    assert spec.inputs({**base, "variant": "tased-full"}) == {"frames", "labels", "saliency"}
    no_spatial = {"method": "pld", "variant": "x", "settings": {**SETTINGS, "spatial": False}}
    assert spec.inputs(no_spatial) == {"frames", "labels"}
    assert spec.frames_of(base) == {"fps": 5.0, "height": 16, "width": 16}
    assert not spec.scores_training_videos
    assert SimpleNamespace(**spec.variants["tased-full-beta0"].overlay["method"]).beta == 0.0


def test_the_prior_is_the_mean_of_the_training_targets(small_inputs):
    videos = pld.training_videos(small_inputs, SETTINGS, (16, 16))
    # fewer target frames than PRIOR_FRAMES: every one of them counts once
    every = [v.target_map(int(t)).mean() for v in videos for t in v.targets]
    assert pld.target_prior(videos) == pytest.approx(float(np.mean(every)), rel=1e-6)
    assert 0 < pld.target_prior(videos) < 0.5  # half the frames are highlights, β masks some


@pytest.mark.parametrize("backbone, size", [("c3d", 16), ("tased", 32)])
def test_prior_bias_starts_the_maps_near_the_prior(backbone, size, one_torch_thread):
    x = torch.rand(2, 3, pld.WINDOW[backbone], size, size) * 2 - 1
    torch.manual_seed(0)
    plain = pld.build_network(backbone).eval()
    torch.manual_seed(0)
    primed = pld.build_network(backbone).eval()
    pld.set_prior_bias(primed, backbone, 0.05)
    with torch.no_grad():
        assert float(plain(x).mean()) > 0.2  # a random network's maps start near 0.5
        assert 0.02 < float(primed(x).mean()) < 0.12
    pld.set_prior_bias(primed, backbone, 0.0)  # clamped: a finite bias
    assert torch.isfinite(pld.output_layer(primed, backbone).bias).all()


def test_prior_bias_starts_training_at_the_targets_level(small_inputs):
    video = small_inputs.videos[2]
    plain = pld.fit(small_inputs, _run(), seed=3, progress=False)
    primed = pld.fit(small_inputs, _run(prior_bias=True), seed=3, progress=False)
    assert not np.array_equal(plain.score(video), primed.score(video))
    assert primed.losses[0] < plain.losses[0]  # it starts at the targets' level


def test_a_fixed_encoder_keeps_its_weights_and_the_decoder_learns(small_inputs):
    torch.manual_seed(5)
    start = pld.build_network("c3d")
    before = {k: v.clone() for k, v in start.state_dict().items()}
    model = pld.fit(small_inputs, _run(train_encoder=False, lr=0.1), seed=5, progress=False)
    after = model.net.state_dict()
    encoder = [k for k in after if k.startswith("encoder.") and "conv" in k]
    decoder = [k for k in after if k.startswith("decoder.") and k.endswith("weight")]
    assert encoder and decoder
    assert all(torch.equal(after[k], before[k]) for k in encoder)  # same seed, same init
    assert any(not torch.equal(after[k], before[k]) for k in decoder)


def test_explanation_strips_show_the_chosen_videos(small_inputs, tmp_path):
    from matplotlib.image import imread

    from highlight_pipeline.explain import chosen_videos, explain_videos

    model = pld.fit(small_inputs, _run(), seed=0, progress=False)
    panels = model.explain(small_inputs.videos[2], 4)
    assert [round(t, 2) for t, _ in panels] == [0.0, 1.2, 2.6, 3.8]  # frames 0, 6, 13, 19
    assert all(m.shape == (16, 16) for _, m in panels)
    videos = chosen_videos(small_inputs.videos, 2)
    assert [v.video_id for v in videos] == ["v0", "v1"]
    assert [v.video_id for v in chosen_videos(small_inputs.videos, ["v2"])] == ["v2"]
    with pytest.raises(ValueError, match="no video nope"):
        chosen_videos(small_inputs.videos, ["nope"])
    written = explain_videos(model, videos, tmp_path / "explain", 3, "pld test")
    assert [p.rsplit("/", 1)[1] for p in written] == ["v0.png", "v1.png"]
    image = imread(written[0])
    assert image.shape[1] > image.shape[0] > 100  # a strip: wider than tall


def test_explanation_captions_read_the_scores_file_when_given(small_inputs, tmp_path):
    """The pipeline passes the run's scores file: the strips are those of scoring again
    (same bytes), and a caption shows the file's score, not a second scoring's."""
    from highlight_pipeline.explain import chosen_videos, explain_videos
    from highlight_pipeline.predictions import read_predictions, write_predictions

    model = pld.fit(small_inputs, _run(), seed=0, progress=False)
    videos = chosen_videos(small_inputs.videos, 2)
    again = [Path(p).read_bytes() for p in explain_videos(model, videos, tmp_path / "a", 3, "t")]
    path = tmp_path / "seed0.scores.jsonl"
    write_predictions(path, [v.video_id for v in videos], [model.score(v) for v in videos])
    scored = read_predictions(path)
    from_file = explain_videos(model, videos, tmp_path / "f", 3, "t", scored)
    assert [Path(p).read_bytes() for p in from_file] == again
    other = {"v0": np.full(videos[0].n_clips, 0.123)}  # v1 is not in it: scored again
    changed = [
        Path(p).read_bytes() for p in explain_videos(model, videos, tmp_path / "o", 3, "t", other)
    ]
    assert changed[0] != again[0]
    assert changed[1] == again[1]
