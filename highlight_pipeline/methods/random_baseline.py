"""random: the chance baseline, seeded uniform scores per clip.

Each video's scores come from a generator seeded with the run's seed and the video id, so
a video's scores do not depend on which other videos are scored or in what order.
"""

from __future__ import annotations

import zlib

import numpy as np

from highlight_pipeline.errors import ModelFileError
from highlight_pipeline.methods.inputs import MethodInputs, VideoInputs
from highlight_pipeline.methods.state_files import expect_keys


class RandomScores:
    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def score(self, video: VideoInputs) -> np.ndarray:
        key = zlib.crc32(video.video_id.encode("utf-8"))
        return np.random.default_rng([self.seed, key]).random(video.n_clips)

    def state(self) -> dict:
        return {"seed": self.seed}


def fit(inputs: MethodInputs, run: dict, seed: int, device: str = "cpu", progress: bool = True):
    return RandomScores(seed)


def load(state: dict) -> RandomScores:
    expect_keys(state, "model", required=("seed",))
    if isinstance(state["seed"], bool) or not isinstance(state["seed"], int):
        raise ModelFileError("seed: expected an integer")
    return RandomScores(state["seed"])
