"""Tests for features.shards (HDF5 shards, .prev reuse) and features.extract (one shard job)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from highlight_pipeline.features import weight_free
from highlight_pipeline.features.extract import extract_shard
from highlight_pipeline.features.shards import (
    ShardMeta,
    VideoEntry,
    load_features,
    previous_path,
    read_entries,
    read_meta,
    reusable_entries,
    shard_of,
    write_shard,
)
from highlight_pipeline.features.windows import window_grid
from highlight_pipeline.video.probe import probe

VISUAL = {
    "extractor": "colormotion",
    "fps": 5,
    "width": 32,
    "height": 24,
    "window_seconds": 1.0,
    "stride_seconds": 0.5,
}
AUDIO = {"extractor": "logmel", "audio_rate": 8000, "window_seconds": 1.0, "stride_seconds": 0.5}


# ---------------------------------------------------------------------------- shard_of


def test_shard_of_is_deterministic_across_processes():
    ids = [f"video_{i}" for i in range(50)] + ["a/b", "ünïcode"]
    here = [shard_of(v, 4) for v in ids]
    assert all(0 <= s < 4 for s in here)
    code = (
        "from highlight_pipeline.features.shards import shard_of;"
        f"print([shard_of(v, 4) for v in {ids!r}])"
    )
    for seed in ("1", "2"):  # independent of Python's randomised str hash
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        assert eval(out) == here


def test_adding_videos_does_not_move_others():
    ids = [f"v{i:03d}" for i in range(200)]
    before = {v: shard_of(v, 4) for v in ids}
    after_ids = ids + [f"new{i}" for i in range(20)]
    after = {v: shard_of(v, 4) for v in after_ids}
    assert all(after[v] == before[v] for v in ids)
    counts = np.bincount(list(before.values()), minlength=4)
    assert counts.min() >= 25  # every shard gets a fair share


# -------------------------------------------------------------------------- write/read


def entry(video_id, n=3, d=4, missing=False, seed=0):
    rng = np.random.default_rng(seed)
    if missing:
        return VideoEntry(
            video_id,
            "fp-" + video_id,
            np.zeros((0, d), np.float32),
            np.zeros(0),
            np.zeros(0),
            missing=True,
        )
    start = np.arange(n) * 0.5
    return VideoEntry(
        video_id,
        "fp-" + video_id,
        rng.normal(size=(n, d)).astype(np.float32),
        start,
        start + 1.0,
        short=(n == 1),
    )


def test_write_read_round_trip(tmp_path):
    entries = [
        entry("cat/video 1", seed=1),
        entry("100%/x", n=1, seed=2),
        entry("plain", missing=True),
    ]
    meta = ShardMeta(
        "colormotion",
        "weight-free",
        {"fps": 5, "nested": {"a": 1}},
        "abc123",
        failed=[{"video_id": "bad", "path": "/x/bad.mp4", "reason": "corrupt"}],
    )
    out = tmp_path / "feat" / "shard-0.h5"
    write_shard(out, meta, entries)
    back = {e.video_id: e for e in read_entries(out)}
    assert set(back) == {"cat/video 1", "100%/x", "plain"}
    for original in entries:
        got = back[original.video_id]
        assert got.fingerprint == original.fingerprint
        np.testing.assert_array_equal(got.windows, original.windows)
        np.testing.assert_array_equal(got.start, original.start)
        np.testing.assert_array_equal(got.end, original.end)
        assert (got.short, got.missing) == (original.short, original.missing)
        assert got.windows.dtype == np.float32
    assert back["plain"].windows.shape == (0, 4)
    assert all(back[v].centre is None for v in back)  # nothing taken off: none stored
    read = read_meta(out)
    assert read == meta
    loaded, failed = load_features([out])
    assert set(loaded) == set(back) and failed == meta.failed


def test_the_centre_an_extractor_took_off_comes_back_and_survives_reuse(tmp_path):
    centred = entry("centred", seed=3)
    centred.centre = np.array([1.5, -2.0, 0.25, 8.0], np.float32)
    out = tmp_path / "shard-0.h5"
    write_shard(out, ShardMeta("colormotion", "weight-free", {}, "h"), [centred])
    (back,) = read_entries(out)
    np.testing.assert_array_equal(back.centre, centred.centre)
    # the next run of the shard reuses the entry with its centre
    reused = reusable_entries(out, "h")["centred"]
    np.testing.assert_array_equal(reused.centre, centred.centre)


def test_write_is_atomic_and_links_prev(tmp_path):
    out = tmp_path / "shard-1.h5"
    write_shard(out, ShardMeta("b", "w", {}, "h1"), [entry("a")])
    assert sorted(p.name for p in tmp_path.iterdir()) == [".prev", "shard-1.h5"]
    prev = previous_path(out)
    assert prev == tmp_path / ".prev" / "shard-1.h5"
    assert os.path.samefile(prev, out)
    # rewriting replaces the file and the link (the old .prev content is gone)
    write_shard(out, ShardMeta("b", "w", {}, "h2"), [entry("b")])
    assert not list(tmp_path.glob("*.tmp"))
    assert os.path.samefile(prev, out)
    assert [e.video_id for e in read_entries(prev)] == ["b"]
    # the .prev link survives deletion of the output (what Snakemake does before a rerun)
    out.unlink()
    assert set(reusable_entries(out, "h2")) == {"b"}
    assert reusable_entries(out, "other-hash") == {}


def test_reusable_entries_without_prev_or_with_garbage(tmp_path):
    out = tmp_path / "shard-0.h5"
    assert reusable_entries(out, "h") == {}
    previous_path(out).parent.mkdir()
    previous_path(out).write_bytes(b"not hdf5")
    assert reusable_entries(out, "h") == {}


# ------------------------------------------------------------------------- extract_shard


@pytest.fixture
def manifest(make_video):
    rows = []
    specs = {
        "a/one": dict(seconds=2.0, fps=5),
        "two": dict(seconds=1.6, fps=5, audio=False),
        "three": dict(seconds=0.6, fps=5),  # shorter than one window
    }
    for i, (vid, kwargs) in enumerate(specs.items()):
        path = make_video(f"v{i}.mp4", rate=8000, **kwargs)
        info = probe(path)
        rows.append({"video_id": vid, "path": str(path), **info.as_dict()})
    return pd.DataFrame(rows)


@pytest.fixture
def count_extract(monkeypatch):
    calls: list[str] = []
    for cls in (weight_free.ColorMotionExtractor, weight_free.LogMelExtractor):
        original = cls.extract

        def counted(self, path, row, _original=original):
            calls.append(str(path))
            return _original(self, path, row)

        monkeypatch.setattr(cls, "extract", counted)
    return calls


def read_by_id(path):
    return {e.video_id: e for e in read_entries(path)}


def test_extract_shard_writes_every_video_with_its_grid(manifest, tmp_path, count_extract):
    out = tmp_path / "shard-0.h5"
    meta = extract_shard(manifest, 0, 1, VISUAL, out, progress=False)
    assert meta.failed == []
    entries = read_by_id(out)
    assert set(entries) == set(manifest["video_id"])
    for row in manifest.itertuples():
        e = entries[row.video_id]
        grid = window_grid(row.duration, 1.0, 0.5)
        np.testing.assert_allclose(e.start, grid[:, 0])
        np.testing.assert_allclose(e.end, grid[:, 1])
        assert e.windows.shape == (len(grid), 1040)  # colormotion v2
        assert e.fingerprint == row.fingerprint
        assert e.short == (row.duration < 1.0)
        assert not e.missing
    assert len(count_extract) == 3
    assert read_meta(out).backbone == "colormotion"


def test_second_run_reuses_entries(manifest, tmp_path, count_extract):
    out = tmp_path / "shard-0.h5"
    extract_shard(manifest, 0, 1, VISUAL, out, progress=False)
    first = read_by_id(out)
    assert len(count_extract) == 3
    out.unlink()  # Snakemake removes outputs before rerunning a job
    extract_shard(manifest, 0, 1, VISUAL, out, progress=False)
    assert len(count_extract) == 3  # nothing recomputed
    second = read_by_id(out)
    for vid in first:
        np.testing.assert_array_equal(second[vid].windows, first[vid].windows)


def test_changed_config_slice_forces_recomputation(manifest, tmp_path, count_extract):
    out = tmp_path / "shard-0.h5"
    extract_shard(manifest, 0, 1, VISUAL, out, progress=False)
    extract_shard(manifest, 0, 1, {**VISUAL, "fps": 4}, out, progress=False)
    assert len(count_extract) == 6


def test_a_shard_made_on_another_kind_of_device_is_not_reused(
    manifest, tmp_path, count_extract, monkeypatch
):
    """Switching between the CPU and a GPU re-extracts the shard; it never mixes entries of
    both in one shard (issue 26: the device is part of the reuse key)."""
    out = tmp_path / "shard-0.h5"
    extract_shard(manifest, 0, 1, VISUAL, out, progress=False)
    assert len(count_extract) == 3
    cpu_describe = weight_free.ColorMotionExtractor.describe
    monkeypatch.setattr(
        weight_free.ColorMotionExtractor,
        "describe",
        lambda self: {**cpu_describe(self), "device": "cuda:1"},
    )
    extract_shard(manifest, 0, 1, VISUAL, out, progress=False)
    assert len(count_extract) == 6  # every video again, on the "GPU"
    extract_shard(manifest, 0, 1, VISUAL, out, progress=False)
    assert len(count_extract) == 6  # and reused on the same kind of device (cuda:0 or :1)
    monkeypatch.setattr(weight_free.ColorMotionExtractor, "describe", cpu_describe)
    extract_shard(manifest, 0, 1, VISUAL, out, progress=False)
    assert len(count_extract) == 9  # back on the CPU: again


def test_the_reuse_key_on_the_cpu_is_the_one_from_before_devices_entered_it():
    from highlight_pipeline.features.extract import reuse_key

    assert reuse_key(VISUAL, {"weights": "weight-free"}) == {**VISUAL, "weights": "weight-free"}
    assert reuse_key(VISUAL, {"weights": "w", "device": "cpu"}) == {**VISUAL, "weights": "w"}
    assert reuse_key(VISUAL, {"weights": "w", "device": "cuda:3"})["device"] == "cuda"


def test_changed_fingerprint_recomputes_only_that_video(manifest, tmp_path, count_extract):
    out = tmp_path / "shard-0.h5"
    extract_shard(manifest, 0, 1, VISUAL, out, progress=False)
    changed = manifest.copy()
    changed.loc[changed["video_id"] == "two", "fingerprint"] = "edited"
    extract_shard(changed, 0, 1, VISUAL, out, progress=False)
    assert count_extract[3:] == [manifest.set_index("video_id").at["two", "path"]]
    assert read_by_id(out)["two"].fingerprint == "edited"


def test_shards_partition_the_manifest(manifest, tmp_path):
    ids = []
    for k in range(2):
        out = tmp_path / f"shard-{k}.h5"
        extract_shard(manifest, k, 2, VISUAL, out, progress=False)
        got = list(read_by_id(out))
        assert all(shard_of(v, 2) == k for v in got)
        ids += got
    assert sorted(ids) == sorted(manifest["video_id"])


def test_audio_missing_for_video_without_audio(manifest, tmp_path, count_extract):
    out = tmp_path / "audio-0.h5"
    meta = extract_shard(manifest, 0, 1, AUDIO, out, progress=False)
    assert meta.failed == []
    entries = read_by_id(out)
    assert entries["two"].missing and entries["two"].windows.shape == (0, 80)
    assert not entries["a/one"].missing
    assert entries["a/one"].windows.shape == (len(window_grid(2.0, 1.0, 0.5)), 80)
    assert len(count_extract) == 2  # the silent video is never decoded for audio


def test_corrupt_video_is_reported_as_failed(manifest, corrupt_file, tmp_path):
    bad = {
        "video_id": "broken",
        "path": str(corrupt_file),
        "duration": 2.0,
        "fps": 5.0,
        "frames": 10,
        "width": 64,
        "height": 48,
        "has_audio": True,
        "fingerprint": "zz",
    }
    with_bad = pd.concat([manifest, pd.DataFrame([bad])], ignore_index=True)
    out = tmp_path / "shard-0.h5"
    meta = extract_shard(with_bad, 0, 1, VISUAL, out, progress=False)
    assert [f["video_id"] for f in meta.failed] == ["broken"]
    assert meta.failed[0]["path"] == str(corrupt_file)
    assert str(corrupt_file) in meta.failed[0]["reason"]
    assert read_meta(out).failed == meta.failed
    assert set(read_by_id(out)) == set(manifest["video_id"])


# ------------------------------------------------------------------ partial streams


def test_round_trip_of_duration_extent_and_partial(tmp_path):
    cut = entry("cut", n=4)
    cut.duration, cut.extent, cut.partial = 12.0, 2.5, True
    whole = entry("whole")
    whole.duration, whole.extent = 2.0, 2.0
    unmeasured = entry("maps")  # e.g. saliency maps: no extent
    meta = ShardMeta("b", "w", {}, "h", partial=[{"video_id": "cut", "extent": 2.5}])
    out = tmp_path / "shard-0.h5"
    write_shard(out, meta, [cut, whole, unmeasured])
    back = read_by_id(out)
    assert (back["cut"].duration, back["cut"].extent, back["cut"].partial) == (12.0, 2.5, True)
    assert (back["whole"].extent, back["whole"].partial) == (2.0, False)
    assert back["maps"].extent is None and back["maps"].duration is None
    assert read_meta(out).partial == meta.partial and read_meta(out).layout == 2


def test_shard_of_an_older_layout_is_not_reused(manifest, tmp_path, count_extract):
    import h5py

    out = tmp_path / "shard-0.h5"
    extract_shard(manifest, 0, 1, VISUAL, out, progress=False)
    with h5py.File(previous_path(out), "r+") as handle:  # as written before layout 2
        del handle.attrs["layout"]
    assert reusable_entries(out, read_meta(out).config_hash) == {}
    extract_shard(manifest, 0, 1, VISUAL, out, progress=False)
    assert len(count_extract) == 6  # every video decoded again: old windows may hold frames


def test_video_claiming_more_than_it_holds_is_partial_and_said_again_on_reuse(
    manifest, tmp_path, count_extract
):
    claimed = manifest.copy()
    claimed.loc[claimed["video_id"] == "a/one", "duration"] = 5.0  # it holds 2 s
    out = tmp_path / "shard-0.h5"
    lines: list[str] = []
    meta = extract_shard(claimed, 0, 1, VISUAL, out, progress=False, console=lines.append)
    e = read_by_id(out)["a/one"]
    assert e.partial and e.extent == pytest.approx(2.0) and e.duration == 5.0
    assert e.end.max() <= 2.0 + 1e-9  # windows end with the picture, not at 5 s
    assert len(e.windows) == len(window_grid(2.0, 1.0, 0.5))
    assert not read_by_id(out)["two"].partial
    assert [p["video_id"] for p in meta.partial] == ["a/one"]
    assert len(lines) == 1 and "visual stream ends at 2.00 s of the 5.00 s" in lines[0]
    out.unlink()
    again: list[str] = []
    extract_shard(claimed, 0, 1, VISUAL, out, progress=False, console=again.append)
    assert len(count_extract) == 3 and again == lines  # reused, and still reported
