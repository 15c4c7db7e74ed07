"""pld's feeding: windows read through the frame feed (a reader thread that keeps the frame
cache open and reads ahead, ``features/frame_feed.py``) against the reader it replaced
(each window read in the training loop, the HDF5 file opened and its chunks decompressed
once a window), in one process, alternated, medians of ``--rounds``.

    python benchmarks/pld_feeding.py                       # embedded sizes, CPU
    python benchmarks/pld_feeding.py --scales embedded paper --rounds 3

Per scale (a synthetic frame cache of random frames, LZF chunks of 8 frames as ``hlp
frames`` writes them; ``benchmarks/train.py``'s ``synthetic_frame_inputs``):

* reading alone: a training epoch's batches of windows, read plain (a file open per
  window), through :class:`FrameFiles` (open once), and through the feed (no network);
* ``pld.fit`` windows/s and ``distinction_maps`` windows/s with the feed and with the old
  reader (the feed replaced by a loop that reads each batch in the training thread with no
  open files: the code path before the feed). Both give the same model and maps, byte for
  byte (checked here too).

The numerics are pinned as in the pipeline's jobs (one thread).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

SCALES = {  # frames (height, width), videos, frames per video, epochs
    "embedded": ((32, 64), 8, 64, 3),
    "paper": ((224, 384), 2, 64, 1),
}


class PlainFeed:
    """The feed's interface without its thread or open files: each batch read when the
    loop asks for it, ``load(None, job)`` (``FrameSource.read``: a file open per window)."""

    def __init__(self, jobs, load, depth=1, pin_device=None, name=""):
        self.jobs, self.load = jobs, load

    def __enter__(self):
        return (self.load(None, job) for job in self.jobs)

    def __exit__(self, *exc):
        return None


def _run(settings: dict, scale: str):
    from highlight_pipeline.config import validate_config
    from highlight_pipeline.runs import resolve_run

    config = validate_config(
        {
            "run_datasets": ["bench"],
            "datasets": {"bench": {"reader": "synthetic"}},
            "evaluation": {"runs": {"pld": ["tased-full"]}},
        }
    )
    run = resolve_run(config, "bench", "pld", "tased-full")
    run["settings"].update(settings)
    return run


def measure(scale: str, rounds: int) -> dict:
    import numpy as np
    import torch
    import train as tx  # benchmarks/train.py: synthetic_frame_inputs

    from highlight_pipeline.features import frame_feed
    from highlight_pipeline.features.frames import FrameFiles
    from highlight_pipeline.methods import pld

    size, n_videos, n_frames, epochs = SCALES[scale]
    settings = {
        "pretrained": False,
        "spatial": False,
        "epochs": epochs,
        "windows_per_video": 2,
        "batch_size": 2,
        "bn_windows": 2,
    }
    run = _run(settings, scale)
    out: dict = {"scale": f"{scale} {size[0]}x{size[1]}", "videos": n_videos}
    with tempfile.TemporaryDirectory() as tmp:
        inputs = tx.synthetic_frame_inputs(Path(tmp) / "frames.h5", n_videos, n_frames, size)
        videos = pld.training_videos(inputs, run["settings"], size)
        model = pld.PLDModel(pld.build_network("tased"), {**run["settings"], "fps": 4.0})
        rng = np.random.default_rng(0)
        draws = [(i, int(t)) for i, v in enumerate(videos) for t in rng.choice(v.targets, 4)]
        batches = [draws[k : k + 2] for k in range(0, len(draws), 2)]
        windows = len(draws)

        def read_plain():
            for chosen in batches:
                pld._training_batch(model, videos, chosen, None)

        def read_open():
            with FrameFiles() as files:
                for chosen in batches:
                    pld._training_batch(model, videos, chosen, files)

        def read_feed():
            def load(files, chosen):
                return pld._training_batch(model, videos, chosen, files)

            with frame_feed.FrameFeed(batches, load) as feed:
                for _ in feed:
                    pass

        times: dict[str, list[float]] = {}
        ways = (("plain", read_plain), ("open", read_open), ("feed", read_feed))
        for round_ in range(max(3, rounds)):
            for name, fn in ways if round_ % 2 == 0 else ways[::-1]:
                t0 = time.perf_counter()
                fn()
                times.setdefault(f"read_{name}", []).append(windows / (time.perf_counter() - t0))

        trained, maps = {}, {}
        video, targets = inputs.videos[0], np.arange(16 if scale == "embedded" else 4)
        for round_ in range(rounds):
            for name in ("plain", "feed") if round_ % 2 == 0 else ("feed", "plain"):
                pld.FrameFeed = PlainFeed if name == "plain" else frame_feed.FrameFeed
                try:
                    torch.manual_seed(0)
                    t0 = time.perf_counter()
                    fitted = pld.fit(inputs, run, 0, "cpu", False)
                    seconds = time.perf_counter() - t0
                    times.setdefault(f"train_{name}", []).append(
                        epochs * n_videos * settings["windows_per_video"] / seconds
                    )
                    t0 = time.perf_counter()
                    found = fitted.distinction_maps(video, targets)
                    times.setdefault(f"score_{name}", []).append(
                        len(targets) / (time.perf_counter() - t0)
                    )
                finally:
                    pld.FrameFeed = frame_feed.FrameFeed
                weights = b"".join(v.numpy().tobytes() for v in fitted.net.state_dict().values())
                trained.setdefault(name, weights)
                maps.setdefault(name, found.tobytes())
        out["identical"] = trained["plain"] == trained["feed"] and maps["plain"] == maps["feed"]
    out.update({key: statistics.median(values) for key, values in times.items()})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", nargs="*", default=["embedded"], choices=list(SCALES))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from highlight_pipeline.numerics import pin_numerics

    pin_numerics(1)  # as every `hlp train` job does
    import torch

    torch.set_num_threads(1)
    print("windows/s, medians of alternated rounds; plain: a file open per window, in the loop")
    print(
        f"{'frames':<20}{'read plain':>11}{'open':>9}{'feed':>9}"
        f"{'train plain':>13}{'feed':>9}{'x':>7}{'score plain':>13}{'feed':>9}{'x':>7}"
        f"{'identical':>11}"
    )
    for scale in args.scales:
        r = measure(scale, args.rounds)
        print(
            f"{r['scale']:<20}{r['read_plain']:>11.1f}{r['read_open']:>9.1f}{r['read_feed']:>9.1f}"
            f"{r['train_plain']:>13.2f}{r['train_feed']:>9.2f}"
            f"{r['train_feed'] / r['train_plain']:>7.2f}"
            f"{r['score_plain']:>13.2f}{r['score_feed']:>9.2f}"
            f"{r['score_feed'] / r['score_plain']:>7.2f}{str(r['identical']):>11}"
        )


if __name__ == "__main__":
    main()
