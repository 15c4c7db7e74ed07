"""AV-PH's QVHighlights visual features: SlowFast and CLIP per 2-second clip, concatenated.

AV-PH §4.1: "For QVHighlights dataset, following [21, 23], we extract visual features using
SlowFast [7] and video encoder of CLIP (ViT-B/32) [33]" — Moment-DETR's recipe (HERO's
extractor for SlowFast, one CLIP frame per 2 s clip), whose training code L2-normalises
each stream before concatenating them (``start_end_dataset.py``). Here one decode serves
both networks: each window is SlowFast's (32 frames at 16 fps = 2 s, short side 224,
centre 224, its own normalisation); CLIP sees the window's middle frame (frame 16: the
clip's middle, where Moment-DETR's 0.5 fps sampling takes one frame per clip; our choice,
docs/backbones.md) with CLIP's mean and std. The feature of a window is
``[SlowFast / |SlowFast|, CLIP / |CLIP|]`` (2304 + 512 = 2816 values).

Differences from Moment-DETR's released features, written down so that nobody mistakes
one for the other: the SlowFast weights are PyTorchVideo's ``SLOWFAST_8x8_R50.pyth`` (the
same architecture as PySlowFast's Caffe2 file HERO loads, trained separately), frames are
resized by FFmpeg's scaler rather than HERO's and CLIP's bicubic resize, and the window's
middle frame stands for the frame 0.5 fps sampling keeps.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from highlight_pipeline.features.backbones.registry import get_spec
from highlight_pipeline.features.neural import (
    REFERENCE_VISUAL,
    NeuralExtractor,
    load_backbone,
    to_model_input,
)
from highlight_pipeline.features.weight_free import WindowFeatures


def l2_rows(values: np.ndarray) -> np.ndarray:
    """Each row divided by its Euclidean norm (a zero row stays zero, NaN rows stay NaN)."""
    norms = np.linalg.norm(values, axis=1, keepdims=True)
    return values / np.where(norms > 0, norms, 1.0)


class SlowFastClipExtractor(NeuralExtractor):
    """SlowFast on each window and CLIP on its middle frame, both from one decode."""

    def __init__(self, feature_slice: dict, **runtime) -> None:
        super().__init__(feature_slice, **runtime)
        self.clip_model, self.clip_weights = load_backbone(
            "clip_vit_b32",
            runtime.get("weights_dir", "weights"),
            runtime.get("weights", "published"),
            self.device,
        )
        self.slowfast_dim = self.dim
        self.dim = self.slowfast_dim + get_spec("clip_vit_b32").feature_dim
        # CLIP's input: the crop SlowFast's windows already have, CLIP's normalisation
        reference = REFERENCE_VISUAL["clip_vit_b32"]
        self.clip_spec = replace(
            self.spec, window=1, stride=1, mean=reference.mean, std=reference.std
        )
        if self.spec.crop != 224:
            raise ValueError(
                f"{self.name}: CLIP ViT-B/32 takes 224x224 frames only (its positional "
                f"embedding), but the windows are cropped to {self.spec.crop}"
            )

    def _forward_clip(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), torch.autocast("cuda", enabled=self.amp):
            return self.clip_model.extract(x).float()

    def _run_both(self, windows: np.ndarray, path: str | Path) -> np.ndarray:
        slow_fast = self._run(to_model_input(windows, self.spec, self.device), path)
        middle = windows[:, windows.shape[1] // 2 : windows.shape[1] // 2 + 1]
        clip = self._forward_clip(to_model_input(middle, self.clip_spec, self.device))
        clip = clip.cpu().numpy()
        if not np.isfinite(clip).all():
            raise ValueError(f"{path}: CLIP gave non-finite values")
        return np.concatenate([l2_rows(slow_fast), l2_rows(clip)], axis=1)

    def extract(self, path: str | Path, row) -> WindowFeatures:
        return self._extract_visual(path, row, self._run_both)

    def describe(self) -> dict:
        info = super().describe()
        info["weights"] = f"{self.weights}; {self.clip_weights}"
        info["clip_input"] = asdict(self.clip_spec)
        info["layout"] = (
            f"[0:{self.slowfast_dim}] SlowFast, L2-normalised; "
            f"[{self.slowfast_dim}:{self.dim}] CLIP of the window's middle frame, L2-normalised"
        )
        return info
