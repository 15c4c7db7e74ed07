"""SlowFast and CLIP as feature extractors, alone and as AV-PH's QVHighlights pair
(``slowfast_clip``), run end to end with random weights (no checkpoint files)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from highlight_pipeline import config as hlconfig
from highlight_pipeline.features import extractors
from highlight_pipeline.features.extract import build_extractor
from highlight_pipeline.features.neural import (
    REFERENCE_VISUAL,
    iter_visual_windows,
    to_model_input,
    visual_input_spec,
)
from highlight_pipeline.features.slowfast_clip import SlowFastClipExtractor, l2_rows
from highlight_pipeline.video.probe import probe

CPU = torch.device("cpu")
RUNTIME = {"weights": "random", "device": "cpu", "batch_size": 2}


def row_of(path) -> SimpleNamespace:
    return SimpleNamespace(video_id="v", path=str(path), **probe(path).as_dict())


def test_registry_entries():
    pair = extractors.get_extractor("slowfast_clip")
    assert pair.networks == ("slowfast_r50", "clip_vit_b32")
    assert extractors.networks_of("slowfast_clip") == ("slowfast_r50", "clip_vit_b32")
    assert extractors.networks_of("r3d34") == ("r3d34",)
    assert extractors.networks_of("colormotion") == ()
    for name in ("slowfast_r50", "clip_vit_b32", "slowfast_clip"):
        assert extractors.get_extractor(name).modality == "visual"
        assert name in extractors.extractor_names("visual")
    schema = hlconfig.load_schema()
    assert "slowfast_clip" in schema["$defs"]["extractor_visual"]["enum"]
    with pytest.raises(hlconfig.ConfigError, match="`also` needs a `backbone`"):
        extractors.ExtractorSpec("x", "m:f", modality="visual", also=("clip_vit_b32",))


def test_reference_inputs_are_moment_detrs():
    slowfast = visual_input_spec("slowfast_r50")
    # 32 frames per 2 s clip, 224 crop of the 224 short side, (x/255 - 0.45) / 0.225
    assert (slowfast.fps, slowfast.window, slowfast.stride) == (16.0, 32, 32)
    assert (slowfast.resize_short, slowfast.crop) == (224, 224)
    ones = np.full((1, 1, 1, 1, 3), 255, np.uint8)
    np.testing.assert_allclose(to_model_input(ones, slowfast, CPU).flatten(), (1 - 0.45) / 0.225)
    clip = REFERENCE_VISUAL["clip_vit_b32"]
    assert (clip.fps, clip.window, clip.crop) == (0.5, 1, 224)  # one frame per 2 s clip
    mean = np.array([0.48145466, 0.4578275, 0.40821073])
    std = np.array([0.26862954, 0.26130258, 0.27577711])
    np.testing.assert_allclose(
        to_model_input(ones, clip, CPU).flatten().numpy(), (1 - mean) / std, rtol=1e-6
    )


@pytest.fixture(scope="module")
def four_seconds(tmp_path_factory):
    from tests.conftest import write_test_video

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(64)]
    return write_test_video(
        tmp_path_factory.mktemp("sfc") / "v.mp4", fps=16, audio=False, frames=frames
    )


def test_the_pair_is_each_network_on_the_same_windows_normalised(four_seconds):
    row = row_of(four_seconds)
    pair = build_extractor({"extractor": "slowfast_clip", "version": 1, "options": {}}, RUNTIME)
    assert isinstance(pair, SlowFastClipExtractor)
    assert (pair.modality, pair.dim) == ("visual", 2304 + 512)
    found = pair.extract(four_seconds, row)
    assert found.windows.shape == (2, 2816)  # one window per 2 s clip
    np.testing.assert_allclose(found.grid, [[0.0, 2.0], [2.0, 4.0]])
    np.testing.assert_allclose(np.linalg.norm(found.windows[:, :2304], axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(found.windows[:, 2304:], axis=1), 1.0, rtol=1e-5)
    # by hand: SlowFast on the windows, CLIP on each window's middle frame (frame 16)
    [(windows, _, _)] = list(
        iter_visual_windows(four_seconds, pair.spec, 16.0, row.width, row.height, 4.0, 2)
    )
    with torch.inference_mode():
        slow_fast = pair.model.extract(to_model_input(windows, pair.spec, CPU)).numpy()
        middle = to_model_input(windows[:, 16:17], pair.clip_spec, CPU)
        clip = pair.clip_model.extract(middle).numpy()
    np.testing.assert_allclose(found.windows[:, :2304], l2_rows(slow_fast), atol=1e-5)
    np.testing.assert_allclose(found.windows[:, 2304:], l2_rows(clip), atol=1e-5)
    assert not np.allclose(found.windows[0], found.windows[1])  # different frames
    info = pair.describe()
    assert info["weights"] == "random-init; random-init"
    assert "[2304:2816] CLIP" in info["layout"]


def test_the_pair_refuses_a_crop_clip_cannot_take():
    with pytest.raises(ValueError, match="224x224 frames only"):
        SlowFastClipExtractor(
            {"extractor": "slowfast_clip", "version": 1, "options": {"crop": 112}}, **RUNTIME
        )


def test_l2_rows_keeps_zero_and_missing_rows():
    rows = np.array([[3.0, 4.0], [0.0, 0.0], [np.nan, np.nan]])
    out = l2_rows(rows)
    np.testing.assert_allclose(out[0], [0.6, 0.8])
    assert (out[1] == 0).all() and np.isnan(out[2]).all()
