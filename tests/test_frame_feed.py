"""pld's frames read ahead (features/frame_feed.py) and the frame files it keeps open
(features/frames.FrameFiles): the same windows, in the same order, with the same bytes as
the plain reader; errors of the reader thread in the consumer; no thread left behind."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from highlight_pipeline.features.frame_feed import FrameFeed, pin_for, pinned
from highlight_pipeline.features.frames import FrameFiles, open_frame_cache
from highlight_pipeline.features.saliency_maps import SaliencyTrack
from highlight_pipeline.methods import pld
from highlight_pipeline.methods.inputs import MethodInputs, VideoInputs
from highlight_pipeline.runs import resolve_run

FPS = 4.0
SIZE = (32, 64)


def write_cache(path: Path, lengths: list[int], seed: int = 0, first: int = 0) -> None:
    """A frame shard of random frames (the ``features/frames.py`` layout, LZF chunks)."""
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as handle:
        handle.attrs.update(
            backbone="frames",
            failed="[]",
            preprocessing=json.dumps({"slice": {"fps": FPS, "height": SIZE[0], "width": SIZE[1]}}),
        )
        for k, n in enumerate(lengths):
            group = handle.create_group(f"v{first + k}")
            frames = rng.integers(0, 256, (n, *SIZE, 3), dtype=np.uint8)
            group.create_dataset("frames", data=frames, chunks=(8, *SIZE, 3), compression="lzf")
            group.attrs.update(video_id=f"v{first + k}", extent=n / FPS, partial=False)


@pytest.fixture
def cache(tmp_path):
    """Two shards: videos v0, v1 in one, v2, v3 in the other."""
    write_cache(tmp_path / "a.h5", [40, 23], seed=1)
    write_cache(tmp_path / "b.h5", [9, 64], seed=2, first=2)
    return open_frame_cache([tmp_path / "a.h5", tmp_path / "b.h5"])


def _jobs(cache, count: int = 30, seed: int = 3) -> list[tuple[str, np.ndarray]]:
    """Windows of 16 frames (pld's indices, reversed padding) across videos and shards."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        video = f"v{rng.integers(0, 4)}"
        n = cache.sources[video].n_frames
        out.append((video, pld.window_indices(int(rng.integers(0, n)), n, 16)))
    return out


def _new_threads(before: set[threading.Thread], seconds: float = 2.0) -> list[threading.Thread]:
    deadline = time.monotonic() + seconds
    while True:
        alive = [
            t
            for t in threading.enumerate()
            if t not in before and t.is_alive() and t.name != "tqdm_monitor"  # tqdm's own
        ]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.01)


def test_open_files_read_the_same_bytes_as_the_plain_reader(cache):
    with FrameFiles() as files:
        for video, index in _jobs(cache):
            source = cache.sources[video]
            got, want = files.read(source, index), source.read(index)
            assert got.dtype == want.dtype == np.uint8 and got.shape == (16, *SIZE, 3)
            assert got.tobytes() == want.tobytes()
        assert len(files._files) == 2  # each shard opened once, not once a window
        handles = list(files._files.values())
    assert files._files == {} and all(not h.id.valid for h in handles)
    with pytest.raises(IndexError, match="out of 0..8"):
        FrameFiles().read(cache.sources["v2"], np.array([3, 9]))


def test_the_feed_gives_the_plain_loops_batches_in_order(cache):
    jobs = _jobs(cache, 40)
    batches = [jobs[k : k + 3] for k in range(0, len(jobs), 3)]

    def load(files, batch):
        return np.stack([files.read(cache.sources[v], i) for v, i in batch]), len(batch)

    want = [np.stack([cache.sources[v].read(i) for v, i in batch]) for batch in batches]
    readers: set[str] = set()

    def load_noting_thread(files, batch):
        readers.add(threading.current_thread().name)
        return load(files, batch)

    before = set(threading.enumerate())
    with FrameFeed(batches, load_noting_thread, depth=2) as feed:
        got = list(feed)
    assert [n for _, n in got] == [len(b) for b in batches]
    assert len(got) == len(want)
    for (x, _), y in zip(got, want, strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
    assert readers == {"frame-reader"}  # one thread of its own did every read
    assert _new_threads(before) == []


def test_an_error_in_the_reader_is_raised_in_the_consumer_with_its_message(cache):
    opened: list[FrameFiles] = []

    def load(files, job):
        opened.append(files)
        if job == 3:
            raise KeyError("v9: no such video in the frame cache")
        return files.read(cache.sources["v0"], np.arange(job, job + 4))

    before = set(threading.enumerate())
    got = []
    with pytest.raises(KeyError, match="v9: no such video in the frame cache"):
        with FrameFeed(range(10), load) as feed:
            for batch in feed:
                got.append(batch)
    assert len(got) == 3  # the batches before the failing one came through
    assert _new_threads(before) == []
    assert opened and opened[0]._files == {}  # the reader closed its files on the way out


def test_an_error_in_the_consumer_stops_the_reader_and_leaves_no_thread(cache):
    loaded = 0

    def load(files, job):
        nonlocal loaded
        loaded += 1
        return files.read(cache.sources["v3"], np.arange(job % 50, job % 50 + 8))

    before = set(threading.enumerate())
    with pytest.raises(RuntimeError, match="the network failed"):
        with FrameFeed(range(1000), load, depth=2) as feed:
            for k, _ in enumerate(feed):
                if k == 4:
                    raise RuntimeError("the network failed")
    assert _new_threads(before, 0.0) == []  # joined before the with block was left
    stopped = loaded
    time.sleep(0.2)
    assert loaded == stopped <= 5 + 2 + 1  # it read no further than the queue's depth ahead


@pytest.mark.parametrize("depth", [1, 3])
def test_the_reader_reads_at_most_the_queues_depth_ahead(depth):
    loaded = 0

    def load(files, job):
        nonlocal loaded
        loaded += 1
        return job

    leads = []
    with FrameFeed(range(30), load, depth=depth) as feed:
        for used, job in enumerate(feed, start=1):
            assert job == used - 1
            time.sleep(0.01)  # a slow network: the reader has all the time it needs
            leads.append(loaded - used)
    assert depth <= max(leads) <= depth + 1  # it reads ahead, and no further


def test_batches_are_pinned_only_for_a_cuda_device_with_cuda_available():
    assert pin_for("cpu") is False
    assert pin_for(torch.device("cuda:0")) is torch.cuda.is_available()
    plain = np.arange(6, dtype=np.uint8)
    assert pinned(("not an array",))[0] == "not an array"
    if not torch.cuda.is_available():
        return
    x, y = pinned((plain, plain.astype(np.float32)))
    assert x.is_pinned() and y.is_pinned() and x.numpy().tobytes() == plain.tobytes()


# ----------------------------------------------------------------------------- pld


def _pld_inputs(cache) -> MethodInputs:
    rng = np.random.default_rng(5)
    videos = []
    for k in range(4):
        source = cache.sources[f"v{k}"]
        clips = max(1, source.n_frames // 8)
        times = np.arange(0, clips * 2.0, 0.5)
        videos.append(
            VideoInputs(
                f"v{k}",
                np.arange(clips) * 2.0,
                np.arange(1, clips + 1) * 2.0,
                category="c",
                split="train",
                labels=np.array([1] + [0] * (clips - 1)),
                frames=source,
                saliency=SaliencyTrack(times, 0.5, rng.random((len(times), 7, 12), np.float32)),
            )
        )
    geometry = {"fps": FPS, "height": SIZE[0], "width": SIZE[1]}
    return MethodInputs(videos, frozenset({"frames", "labels", "saliency"}), {}, geometry)


def _pld_run(**settings) -> dict:
    from highlight_pipeline.config import validate_config

    config = validate_config(
        {
            "run_datasets": ["b"],
            "datasets": {"b": {"reader": "synthetic"}},
            "evaluation": {"runs": {"pld": ["tased-full"]}},
        }
    )
    run = resolve_run(config, "b", "pld", "tased-full")
    run["settings"].update(pretrained=False, **settings)
    return run


def test_pld_training_batches_through_the_feed_are_the_plain_loops(cache):
    inputs = _pld_inputs(cache)
    run = _pld_run()
    videos = pld.training_videos(inputs, run["settings"], SIZE)
    model = pld.PLDModel(pld.build_network("tased"), {**run["settings"], "fps": FPS})
    draws = [(i, int(t)) for i, v in enumerate(videos) for t in v.targets[::5]]
    steps = [draws[k : k + 3] for k in range(0, len(draws), 3)]

    def load(files, chosen):
        return pld._training_batch(model, videos, chosen, files)

    with FrameFeed(steps, load) as feed:
        got = list(feed)
    assert len(got) == len(steps) > 2
    for (x, y), chosen in zip(got, steps, strict=True):
        want_x = pld._window_batch(model, videos, chosen)  # the plain reader, file by file
        want_y = np.stack([videos[i].target_map(t) for i, t in chosen])
        assert x.tobytes() == want_x.tobytes() and x.shape == want_x.shape
        assert y.tobytes() == want_y.tobytes() and y.dtype == np.float32
    assert any(y.any() for _, y in got) and any(not y.all() for _, y in got)


@pytest.mark.usefixtures("one_torch_thread")
def test_pld_scores_through_the_feed_as_batch_by_batch_and_leaves_no_thread(cache):
    inputs = _pld_inputs(cache)
    torch.manual_seed(0)
    net = pld.build_network("tased").eval()
    hparams = {**_pld_run()["settings"], "fps": FPS, "height": SIZE[0], "width": SIZE[1]}
    model = pld.PLDModel(net, {**hparams, "batch_size": 3})
    video = inputs.videos[3]
    targets = np.arange(0, video.frames.n_frames, 3)
    before = set(threading.enumerate())
    maps = model.distinction_maps(video, targets)
    assert _new_threads(before) == []
    batch = model.inference_batch
    with torch.no_grad():
        want = np.concatenate(
            [
                net(pld.to_input(model.windows(video, targets[k : k + batch]), "tased")).numpy()
                for k in range(0, len(targets), batch)
            ]
        )
    assert maps.shape == (len(targets), *SIZE) and maps.tobytes() == want.tobytes()


@pytest.mark.usefixtures("one_torch_thread")
def test_a_frame_cache_that_fails_mid_training_stops_fit_with_its_message(cache, tmp_path):
    inputs = _pld_inputs(cache)
    broken = inputs.videos[1].frames
    from dataclasses import replace

    # a shard that lost a video after it was listed: the reader thread's KeyError
    inputs.videos[1].frames = replace(broken, group="gone")
    run = _pld_run(epochs=1, windows_per_video=2, batch_size=2, bn_windows=2)
    run["variant"] = "tased-full"
    before = set(threading.enumerate())
    with pytest.raises(KeyError, match="gone"):
        pld.fit(inputs, run, 0, "cpu", False)
    assert _new_threads(before) == []
