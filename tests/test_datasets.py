"""Tests for the folder dataset reader, the manifest, and the synthetic dataset generator."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

from highlight_pipeline.datasets.folder import (
    assign_missing_splits,
    clip_grid,
    interval_labels,
    make_clips,
    read_highlights,
    read_video_table,
)
from highlight_pipeline.datasets.registry import dataset_root
from highlight_pipeline.datasets.synthetic import (
    CATEGORY_NAMES,
    SynthSpec,
    _Renderer,
    plan_videos,
    render_audio,
    rgb_to_yuv420p,
    synthesize,
    write_video,
)
from highlight_pipeline.errors import DatasetError
from highlight_pipeline.manifest import MANIFEST_COLUMNS, build_manifest
from highlight_pipeline.video.probe import probe


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n")
    return path


def naive_labels(starts, ends, intervals):
    """1 when at least half of the clip lies inside the (non-overlapping) intervals."""
    out = []
    for s, e in zip(starts, ends, strict=True):
        inside = sum(max(0.0, min(e, b) - max(s, a)) for a, b in intervals)
        out.append(int(inside >= 0.5 * (e - s) - 1e-9))
    return out


# ------------------------------------------------------------------------ videos.csv


def test_read_video_table_resolves_paths_and_fills_columns(tmp_path):
    (tmp_path / "sub").mkdir()
    write_csv(tmp_path / "videos.csv", "video_id,path\na,sub/a.mp4\nb,b.mp4")
    table = read_video_table(tmp_path)
    assert list(table.columns) == ["video_id", "path", "category", "split"]
    assert list(table["path"]) == [str(tmp_path / "sub/a.mp4"), str(tmp_path / "b.mp4")]
    assert list(table["category"]) == ["", ""] and list(table["split"]) == ["", ""]


def test_missing_videos_csv(tmp_path):
    with pytest.raises(DatasetError, match="videos.csv") as info:
        read_video_table(tmp_path)
    assert "not found" in str(info.value)


def test_duplicate_video_ids(tmp_path):
    write_csv(tmp_path / "videos.csv", "video_id,path\nx,a.mp4\ny,b.mp4\nx,c.mp4")
    with pytest.raises(DatasetError, match=r"duplicate video_id\(s\) x"):
        read_video_table(tmp_path)


@pytest.mark.parametrize("bad_path", ["../outside.mp4", "sub/../../outside.mp4", "/etc/x.mp4"])
def test_path_outside_root(tmp_path, bad_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    write_csv(root / "videos.csv", f"video_id,path\nok,sub/a.mp4\nevil,{bad_path}")
    with pytest.raises(DatasetError, match="outside") as info:
        read_video_table(root)
    assert "'evil'" in str(info.value)


def test_symlink_inside_root_to_another_disk_is_kept(tmp_path, make_video):
    """A video linked into the folder from elsewhere is listed by its path in the folder:
    the outside check reads the path as listed, not the link's target."""
    (tmp_path / "elsewhere").mkdir()
    elsewhere = make_video("elsewhere/big.mp4", seconds=1.0, fps=5)
    root = tmp_path / "root"
    root.mkdir()
    (root / "linked.mp4").symlink_to(elsewhere)
    write_csv(root / "videos.csv", "video_id,path\nlinked,linked.mp4")
    table = read_video_table(root)
    assert table["path"].iloc[0] == str(root.resolve() / "linked.mp4")
    assert Path(table["path"].iloc[0]).stat().st_size == Path(elsewhere).stat().st_size


def test_dotdot_that_stays_inside_root_is_fine(tmp_path):
    (tmp_path / "sub").mkdir()
    write_csv(tmp_path / "videos.csv", "video_id,path\na,sub/../a.mp4")
    assert read_video_table(tmp_path)["path"].iloc[0] == str(tmp_path / "a.mp4")


def test_unknown_split(tmp_path):
    write_csv(tmp_path / "videos.csv", "video_id,path,split\na,a.mp4,train\nb,b.mp4,dev")
    with pytest.raises(DatasetError, match=r"unknown split\(s\) \['dev'\]") as info:
        read_video_table(tmp_path)
    assert "test" in str(info.value) and "train" in str(info.value)


def test_unknown_and_missing_columns(tmp_path):
    write_csv(tmp_path / "videos.csv", "video_id,path,label\na,a.mp4,1")
    with pytest.raises(DatasetError, match=r"unknown column\(s\) label"):
        read_video_table(tmp_path)
    write_csv(tmp_path / "videos.csv", "video_id,file\na,a.mp4")
    with pytest.raises(DatasetError, match=r"missing column\(s\) path"):
        read_video_table(tmp_path)


# --------------------------------------------------------------------------- splits


def split_table():
    rows = [
        {"video_id": f"{c}{i}", "path": "", "category": c, "split": ""}
        for c in ("cat", "dog")
        for i in range(10)
    ]
    rows.append({"video_id": "fixed", "path": "", "category": "cat", "split": "val"})
    rows.append({"video_id": "lonely", "path": "", "category": "emu", "split": ""})
    return pd.DataFrame(rows)


def test_assign_missing_splits_is_seeded_and_stratified():
    table = split_table()
    a = assign_missing_splits(table, 0.3, seed=1)
    assert a.equals(assign_missing_splits(table, 0.3, seed=1))
    assert (table["split"] == "").sum() == 21  # input untouched
    for category in ("cat", "dog"):
        part = a[(a["category"] == category) & (a["video_id"] != "fixed")]
        assert (part["split"] == "test").sum() == 3  # round(10 * 0.3) per category
        assert (part["split"] == "train").sum() == 7
    assert a.set_index("video_id").at["fixed", "split"] == "val"  # given splits kept
    assert a.set_index("video_id").at["lonely", "split"] == "train"  # one video: train
    others = [assign_missing_splits(table, 0.3, seed=s)["split"].tolist() for s in range(2, 6)]
    assert any(o != a["split"].tolist() for o in others)


# ------------------------------------------------------------------------------ clips


@pytest.mark.parametrize(
    "duration, starts, ends",
    [
        (6.0, [0, 2, 4], [2, 4, 6]),
        (5.0, [0, 2, 4], [2, 4, 5]),  # last partial clip is half long: kept
        (4.9, [0, 2], [2, 4]),  # last partial clip shorter than half: dropped
        (0.5, [0], [0.5]),  # at least one clip
    ],
)
def test_clip_grid(duration, starts, ends):
    s, e = clip_grid(duration, 2.0)
    np.testing.assert_allclose(s, starts)
    np.testing.assert_allclose(e, ends)


def test_interval_labels_half_overlap_rule():
    starts, ends = np.array([0.0, 2, 4, 6]), np.array([2.0, 4, 6, 7])
    intervals = [(1.0, 2.9), (4.5, 5.0), (5.5, 6.0), (6.5, 9.0)]
    # clip 0: 1.0 of 2 -> 1; clip 1: 0.9 of 2 -> 0; clip 2: 0.5 + 0.5 of 2 -> 1;
    # clip 3: 0.5 of 1 -> 1
    np.testing.assert_array_equal(interval_labels(starts, ends, intervals), [1, 0, 1, 1])
    rng = np.random.default_rng(0)
    for _ in range(20):
        cuts = np.sort(rng.uniform(0, 20, 6))
        intervals = list(zip(cuts[::2], cuts[1::2], strict=True))
        s, e = clip_grid(20.0, 1.5)
        np.testing.assert_array_equal(
            interval_labels(s, e, intervals), naive_labels(s, e, intervals)
        )


def test_make_clips_with_and_without_highlights(tmp_path):
    manifest = pd.DataFrame({"video_id": ["a", "b"], "duration": [5.0, 3.0]})
    unlabelled = make_clips(manifest, tmp_path, 2.0)
    assert list(unlabelled.columns) == ["video_id", "clip", "start", "end", "label"]
    assert list(unlabelled["video_id"]) == ["a", "a", "a", "b", "b"]
    assert list(unlabelled["clip"]) == [0, 1, 2, 0, 1]
    assert (unlabelled["label"] == -1).all()
    write_csv(tmp_path / "videos.csv", "video_id,path\na,a.mp4\nb,b.mp4")
    write_csv(tmp_path / "highlights.csv", "video_id,start,end\na,1.0,3.0\na,4.4,5.0")
    labelled = make_clips(manifest, tmp_path, 2.0)
    np.testing.assert_array_equal(labelled["label"], [1, 1, 1, 0, 0])  # b: none -> 0
    np.testing.assert_allclose(labelled["end"], [2, 4, 5, 2, 3])


def test_read_highlights_errors(tmp_path):
    assert read_highlights(tmp_path) is None
    write_csv(tmp_path / "videos.csv", "video_id,path\nmatch01,a.mp4\nb,b.mp4")
    cases = [
        ("match01,3.0,2.0", r"line 2 \(video 'match01'\): end 2.0 is not after start 3.0"),
        ("b,1,2\nmatc01,1,2", r"line 3 \(video 'matc01'\): not a video_id.*'match01'\?"),
        ("b,abc,2", r"highlights.csv: line 2 \(video 'b'\): start 'abc' is not a number"),
        ("b,1,nan", r"line 2 \(video 'b'\): end 'nan' is not a number"),
        ("b,-1,2", r"line 2 \(video 'b'\): start -1.0 is before the video begins"),
    ]
    for rows, message in cases:
        write_csv(tmp_path / "highlights.csv", "video_id,start,end\n" + rows)
        with pytest.raises(DatasetError, match=message):
            read_highlights(tmp_path)
    write_csv(tmp_path / "highlights.csv", "video_id,begin,end\nb,1,2")
    with pytest.raises(DatasetError, match=r"missing column\(s\) start"):
        read_highlights(tmp_path)
    write_csv(tmp_path / "highlights.csv", "video_id,start,end\nb,1,2\nmatch01,0.5,1.5")
    table = read_highlights(tmp_path)
    assert list(table["line"]) == [2, 3] and table["start"].dtype == float


def test_highlight_after_the_video_ends_is_an_error(tmp_path):
    write_csv(tmp_path / "videos.csv", "video_id,path\na,a.mp4")
    manifest = pd.DataFrame({"video_id": ["a"], "duration": [10.0]})
    write_csv(tmp_path / "highlights.csv", "video_id,start,end\na,2,10.4")  # rounding: fine
    assert make_clips(manifest, tmp_path, 2.0)["label"].sum() > 0
    write_csv(tmp_path / "highlights.csv", "video_id,start,end\na,2,4\na,8,30")
    with pytest.raises(DatasetError, match=r"line 3 \(video 'a'\): end 30.0 is after the video"):
        make_clips(manifest, tmp_path, 2.0)


# --------------------------------------------------------------------------- manifest


def test_build_manifest_rejects_missing_and_corrupt(tmp_path, make_video, corrupt_file):
    root = tmp_path / "data"
    root.mkdir()
    make_video("data/good.mp4", seconds=2.0, fps=5, rate=8000)
    make_video("data/silent.mp4", seconds=1.0, fps=5, audio=False)
    (root / "corrupt.mp4").write_bytes(corrupt_file.read_bytes())
    write_csv(
        root / "videos.csv",
        "video_id,path,category\ngood,good.mp4,x\nsilent,silent.mp4,x\n"
        "gone,missing.mp4,y\nbroken,corrupt.mp4,y",
    )
    manifest, rejected = build_manifest(
        "folder", root, {"test_fraction": 0.5, "split_seed": 0}, progress=False
    )[:2]
    assert list(manifest.columns) == MANIFEST_COLUMNS
    assert list(manifest["video_id"]) == ["good", "silent"]
    good = manifest.set_index("video_id").loc["good"]
    assert good["duration"] == pytest.approx(2.0, abs=0.05) and bool(good["has_audio"])
    assert good["fingerprint"] == probe(root / "good.mp4").fingerprint
    assert not manifest.set_index("video_id").at["silent", "has_audio"]
    assert set(manifest["split"]) <= {"train", "test"}
    reasons = rejected.set_index("video_id")["reason"]
    assert set(reasons.index) == {"gone", "broken"}
    assert "not found" in reasons["gone"] and "missing.mp4" in reasons["gone"]
    assert "corrupt.mp4" in reasons["broken"]


def test_dataset_root():
    assert dataset_root("syn", {"reader": "synthetic"}, "res") == Path("res/syn/source")
    assert dataset_root("m", {"reader": "folder", "root": "/d/v"}) == Path("/d/v")


# -------------------------------------------------------------------------- synthetic

TINY = SynthSpec(
    categories=2,
    videos_per_category=2,
    min_seconds=6,
    max_seconds=8,
    width=64,
    height=48,
    fps=6,
    sample_rate=8000,
    test_fraction=0.5,
    seed=0,
)


def test_plan_videos_deterministic_per_seed():
    spec = replace(TINY, categories=3, videos_per_category=5, min_seconds=20, max_seconds=60)
    assert plan_videos(spec) == plan_videos(spec)
    assert plan_videos(spec) != plan_videos(replace(spec, seed=1))


@pytest.mark.parametrize("seed", range(5))
def test_plan_highlights_inside_and_disjoint(seed):
    spec = replace(
        TINY, categories=6, videos_per_category=4, min_seconds=6, max_seconds=60, seed=seed
    )
    plans = plan_videos(spec)
    assert len(plans) == 24 and len({p.video_id for p in plans}) == 24
    for p in plans:
        assert spec.min_seconds <= p.duration <= spec.max_seconds
        assert 1 <= len(p.highlights) <= 3
        assert p.highlights == sorted(p.highlights)
        for s, e in p.highlights:
            assert 0 <= s < e <= p.duration
        for (_, e1), (s2, _) in zip(p.highlights[:-1], p.highlights[1:], strict=True):
            assert e1 <= s2
    for c in range(6):
        splits = [p.split for p in plans if p.category == c]
        assert splits.count("test") == max(1, round(4 * spec.test_fraction))


def test_highlights_stay_a_minority_for_short_videos():
    for p in plan_videos(TINY):
        assert sum(e - s for s, e in p.highlights) <= 0.5 * p.duration


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    plans = synthesize(TINY, out, progress=False)
    return out, plans


def test_synthesize_in_two_processes_writes_the_same_bytes(tiny_dataset, tmp_path):
    out, plans = tiny_dataset
    synthesize(TINY, tmp_path, progress=False, jobs=2)
    for plan in plans:
        one = (out / "videos" / plan.filename).read_bytes()
        assert one == (tmp_path / "videos" / plan.filename).read_bytes(), plan.filename
    assert (out / "highlights.csv").read_text() == (tmp_path / "highlights.csv").read_text()


def test_synthesize_files_and_tables(tiny_dataset):
    out, plans = tiny_dataset
    videos = pd.read_csv(out / "videos.csv", dtype=str)
    assert list(videos.columns) == ["video_id", "path", "category", "split"]
    assert list(videos["video_id"]) == [p.video_id for p in plans]
    assert set(videos["category"]) == set(CATEGORY_NAMES[:2])
    table = read_video_table(out)  # readable as a folder dataset
    for row, plan in zip(table.itertuples(), plans, strict=True):
        info = probe(row.path)
        assert row.path.endswith(f".{plan.container}")
        assert (info.width, info.height) == (plan.width, plan.height)
        assert info.fps == pytest.approx(plan.fps)
        assert info.duration == pytest.approx(plan.duration, abs=0.2)
        assert info.has_audio
        assert row.split == plan.split
        with av.open(row.path) as container:
            assert container.streams.audio[0].rate == plan.sample_rate
    highlights = read_highlights(out)
    for plan in plans:
        rows = highlights[highlights["video_id"] == plan.video_id]
        assert list(zip(rows["start"], rows["end"], strict=True)) == plan.highlights


def test_synthetic_clip_labels_match_highlights(tiny_dataset):
    out, _ = tiny_dataset
    highlights = read_highlights(out)
    written = pd.read_csv(out / "clip_labels.csv", dtype={"video_id": str})
    for vid, clips in written.groupby("video_id"):
        h = highlights[highlights["video_id"] == vid]
        intervals = list(zip(h["start"], h["end"], strict=True))
        assert list(clips["label"]) == naive_labels(clips["start"], clips["end"], intervals)
        assert clips["label"].sum() >= 1


def test_synthetic_clip_labels_equal_the_pipeline_clip_table(tiny_dataset):
    out, _ = tiny_dataset
    manifest, _ = build_manifest(
        "folder", out, {"test_fraction": 0.3, "split_seed": 0}, progress=False
    )[:2]
    clips = make_clips(manifest, out, TINY.clip_seconds)
    written = pd.read_csv(out / "clip_labels.csv", dtype={"video_id": str})
    merged = clips.merge(written, on=["video_id", "clip"], how="outer", suffixes=("", "_gt"))
    assert len(merged) == len(clips) == len(written)
    np.testing.assert_array_equal(merged["label"], merged["label_gt"])


def test_synthetic_dataset_through_folder_reader(tiny_dataset):
    out, plans = tiny_dataset
    manifest, rejected = build_manifest(
        "folder", out, {"test_fraction": 0.3, "split_seed": 0}, progress=False
    )[:2]
    assert rejected.empty and len(manifest) == 4
    clips = make_clips(manifest, out, TINY.clip_seconds)
    for plan in plans:
        c = clips[clips["video_id"] == plan.video_id]
        assert list(c["label"]) == naive_labels(c["start"], c["end"], plan.highlights)


def test_formats_vary_per_video_like_real_footage():
    spec = replace(TINY, categories=3, videos_per_category=6)
    plans = plan_videos(spec)
    assert len({(p.width, p.height) for p in plans}) >= 3
    assert len({p.fps for p in plans}) >= 2 and len({p.sample_rate for p in plans}) >= 2
    assert {p.container for p in plans} == {"mp4", "mkv"}
    assert all(p.width % 4 == 0 and p.height % 4 == 0 for p in plans)


def test_no_dimming_and_no_ducking_give_highlights_away():
    """A highlight only adds its event: the same video rendered without its highlights has
    the same pixels outside the event object and the same sound outside the event's (the
    first recipe dimmed the background and ducked the ambience, cues real footage lacks)."""
    spec = replace(TINY, min_seconds=20, max_seconds=24, width=96, height=72, seed=3)
    for plan in plan_videos(spec)[:2]:
        plain = replace(plan, highlights=[])
        with_event = _Renderer(spec, plan, np.random.default_rng(5))
        without = _Renderer(spec, plain, np.random.default_rng(5))
        s, e = plan.highlights[0]
        for t in np.arange(s, e, 0.5):
            a, b = with_event.frame(t), without.frame(t)
            event = np.asarray(with_event._event(t)[0])
            assert event.any() and (a[event] != b[event]).any()
            np.testing.assert_array_equal(a[~event], b[~event])
        sound = render_audio(spec, plan, np.random.default_rng(6))
        silent = render_audio(spec, plain, np.random.default_rng(6))
        rate = plan.sample_rate
        inside = np.zeros(sound.size, bool)
        for s, e in plan.highlights:
            inside[int(s * rate) : int(e * rate)] = True
        unclipped = np.abs(silent) < 0.99
        np.testing.assert_array_equal(sound[~inside], silent[~inside])
        added = (sound - silent)[inside & unclipped]
        assert np.sqrt(np.mean(added**2)) > 1e-3  # the event is there, on top
        # and only the event: ducking would subtract a share of the ambience
        assert abs(np.corrcoef(added, silent[inside & unclipped])[0, 1]) < 0.2


def test_synthetic_videos_are_byte_reproducible(tmp_path):
    spec = SynthSpec(
        categories=1,
        videos_per_category=2,
        min_seconds=6,
        max_seconds=7,
        width=64,
        height=48,
        fps=6,
    )
    for container in ("mp4", "mkv"):
        plan = replace(plan_videos(spec)[0], container=container, filename="")
        written = []
        for k in range(8):  # the encoder's nondeterminism showed in about 1 run in 15
            path = tmp_path / f"{k}.{container}"
            write_video(path, spec, plan)
            written.append(path.read_bytes())
        assert all(data == written[0] for data in written)


def test_rgb_to_yuv420p_matches_bt601_on_flat_colours():
    frame = np.zeros((4, 4, 3), np.uint8)
    frame[:] = (255, 0, 0)  # pure red: Y 82, U 90, V 240 in BT.601 limited range
    yuv = rgb_to_yuv420p(frame)
    assert yuv.shape == (6, 4)
    assert (yuv[:4] == 82).all() and (yuv[4] == 90).all() and (yuv[5] == 240).all()
