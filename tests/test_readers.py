"""Dataset readers (YouTube Highlights, TVSum, CoSum, QVHighlights, folder) on tiny fixtures.

The fixtures under tests/fixtures/readers mimic each public release (see make_fixtures.py
there, which also states the numbers the expected tables below are derived from).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io

from highlight_pipeline.datasets import registry
from highlight_pipeline.datasets.registry import Reader, get_reader, protocol_columns
from highlight_pipeline.errors import ConfigError, DatasetError

FIXTURES = Path(__file__).parent / "fixtures" / "readers"


@pytest.fixture
def copy_of(tmp_path: Path):
    """``copy_of(name)``: a writable copy of one fixture dataset."""

    def _copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(FIXTURES / name, target)
        return target

    return _copy


def manifest_of(videos: pd.DataFrame, fps: dict[str, float] | float = 25.0) -> pd.DataFrame:
    """A manifest as `hlp manifest` would write it, with the given frame rates."""
    m = videos.copy()
    m["fps"] = [fps[v] if isinstance(fps, dict) else fps for v in m["video_id"]]
    for column, value in (("duration", 10.0), ("frames", 0), ("width", 64), ("height", 48)):
        m[column] = value
    m["has_audio"] = True
    m["fingerprint"] = "x"
    return m


def run(name: str, root: Path, spec: dict | None = None, fps=25.0):
    reader = get_reader(name)
    spec = {"root": str(root), **(spec or {})}
    videos = reader.read_videos(root, spec)
    return reader, videos, reader.make_clips(manifest_of(videos, fps), root, spec)


def rows(clips: pd.DataFrame, video_id: str) -> pd.DataFrame:
    return clips[clips["video_id"] == video_id].reset_index(drop=True)


# ------------------------------------------------------------------------------ registry


@pytest.mark.parametrize(
    ("name", "protocol"),
    [
        ("youtube", "youtube-map"),
        ("tvsum", "tvsum-top5-median"),
        ("cosum", "tvsum-top5-median"),
        ("qvhighlights", "qvhighlights-hl"),
        ("folder", "youtube-map"),
        ("synthetic", "youtube-map"),
    ],
)
def test_get_reader(name, protocol):
    reader = get_reader(name)
    assert isinstance(reader, Reader)
    assert (reader.name, reader.protocol) == (name, protocol)


def test_unknown_reader_and_scheme():
    with pytest.raises(ConfigError, match="unknown dataset reader 'nope'"):
        get_reader("nope")
    root = FIXTURES / "youtube"
    with pytest.raises(ConfigError, match="unknown split_scheme 'x'.*canonical, umt"):
        get_reader("youtube").read_videos(root, {"root": str(root), "split_scheme": "x"})


def test_folder_adapter(tmp_path):
    (tmp_path / "videos.csv").write_text(
        "video_id,path,category,split\na,a.mp4,c,train\nb,b.mp4,c,\nc,c.mp4,c,\n"
    )
    (tmp_path / "highlights.csv").write_text("video_id,start,end\na,2,4\n")
    reader = get_reader("folder")
    spec = {"root": str(tmp_path), "clip_seconds": 2.0}
    videos = reader.read_videos(tmp_path, spec)
    assert list(videos.columns) == registry.VIDEO_COLUMNS
    assert videos["path"].iloc[1] == str(tmp_path / "b.mp4")
    splits = dict(zip(videos["video_id"], videos["split"], strict=True))
    assert splits["a"] == "train"  # given; b and c drawn: one of the two to test
    assert sorted([splits["b"], splits["c"]]) == ["test", "train"]
    assert reader.split_schemes(videos, spec) == {"given": splits}
    manifest = manifest_of(videos)
    manifest["duration"] = [6.0, 4.0, 2.0]
    clips = reader.make_clips(manifest, tmp_path, spec)
    assert rows(clips, "a")["label"].tolist() == [0, 1, 0]
    assert rows(clips, "b")["label"].tolist() == [0, 0]


def test_protocol_columns():
    clips = pd.DataFrame(columns=["video_id", "label", "u10", "u2", "u0", "s0", "score"])
    assert protocol_columns("tvsum-top5-median", clips) == ["u0", "u2", "u10"]
    assert protocol_columns("youtube-map", clips) == ["label"]
    assert protocol_columns("qvhighlights-hl", clips) == ["s0"]
    with pytest.raises(ConfigError):
        protocol_columns("nope", clips)


# ------------------------------------------------------------------------------ YouTube


def test_youtube_videos_and_schemes():
    root = FIXTURES / "youtube"
    reader, videos, _ = run("youtube", root)
    assert videos["video_id"].tolist() == [
        "BsjTtq337mM",
        "a2nj7XCo2Rk",
        "notInUMT01",
        "Ai9FwQGn5ds",
    ]
    assert videos["category"].tolist() == ["dog", "dog", "surfing", "surfing"]
    assert videos["path"].iloc[0] == str((root / "dog" / "BsjTtq337mM.mp4").resolve())
    assert videos["split"].tolist() == ["train", "test", "train", "test"]
    schemes = reader.split_schemes(videos, {"root": str(root)})
    assert list(schemes) == ["canonical", "umt"]
    assert schemes["umt"] == {"BsjTtq337mM": "train", "a2nj7XCo2Rk": "test", "Ai9FwQGn5ds": "train"}
    umt = reader.read_videos(root, {"root": str(root), "split_scheme": "umt"})
    assert umt["split"].tolist() == ["train", "test", "", "train"]
    sel = reader.read_videos(root, {"root": str(root), "video_list": "vlist_sel"})
    assert sel["video_id"].tolist() == ["a2nj7XCo2Rk", "Ai9FwQGn5ds"]
    dog = reader.read_videos(root, {"root": str(root), "domains": ["dog"]})
    assert dog["category"].tolist() == ["dog", "dog"]


def test_youtube_clips():
    _, _, clips = run("youtube", FIXTURES / "youtube", fps=25.0)
    assert len(clips) == 8
    a = rows(clips, "BsjTtq337mM")
    assert a["clip"].tolist() == [0, 1, 2]
    assert a["start"].tolist() == [0.0, 2.0, 4.0]
    assert a["end"].tolist() == [4.0, 6.0, 8.0]
    assert a["match"].tolist() == [1, 0, -1]
    assert a["label"].tolist() == [1, 0, 0]  # borderline 0 is negative
    b = rows(clips, "a2nj7XCo2Rk")
    assert b["start"].tolist() == [0.04, 2.04]
    assert b["end"].tolist() == [4.04, 6.04]
    assert b["label"].tolist() == [0, 1]
    assert rows(clips, "notInUMT01")["end"].tolist() == [4.0, 5.52]
    assert rows(clips, "Ai9FwQGn5ds")["start_frame"].tolist() == [0.0]


def test_youtube_errors(copy_of):
    root = copy_of("youtube")
    spec = {"root": str(root)}
    reader = get_reader("youtube")
    videos = reader.read_videos(root, spec)

    with pytest.raises(DatasetError, match="points outside"):
        reader.read_videos(root, {**spec, "video_pattern": "../{video_id}.mp4"})

    manifest = manifest_of(videos)
    manifest.loc[0, "fps"] = float("nan")
    with pytest.raises(DatasetError, match="'BsjTtq337mM' has no usable fps"):
        reader.make_clips(manifest, root, spec)

    label_file = root / "dog" / "BsjTtq337mM" / "match_label.json"
    label_file.write_text("[[[0, 100], [50, 150]], [1, 0]")
    with pytest.raises(
        DatasetError, match=r"BsjTtq337mM/match_label.json: malformed JSON at line 1"
    ):
        reader.make_clips(manifest_of(videos), root, spec)
    label_file.write_text("[[[0, 100], [50, 150]], [1]]")
    with pytest.raises(DatasetError, match="match_label.json: 2 clips but 1 labels"):
        reader.make_clips(manifest_of(videos), root, spec)
    label_file.write_text("[[[0, 100, 5]], [1]]")
    with pytest.raises(DatasetError, match="clip 0 is not a \\[start_frame, end_frame\\] pair"):
        reader.make_clips(manifest_of(videos), root, spec)
    label_file.write_text("[[[0, 100]], [2]]")
    with pytest.raises(DatasetError, match="label 0 is 2"):
        reader.make_clips(manifest_of(videos), root, spec)

    with pytest.raises(DatasetError, match="'ghost' is not listed"):
        reader.make_clips(manifest_of(pd.DataFrame({"video_id": ["ghost"]})), root, spec)

    label_file.unlink()
    with pytest.raises(DatasetError, match="'BsjTtq337mM' has no dog/BsjTtq337mM/match_label.json"):
        reader.read_videos(root, spec)

    vlist = root / "surfing" / "vlist.json"
    vlist.write_text(json.dumps([[["a2nj7XCo2Rk"], "TraiLooseL"]]))
    with pytest.raises(DatasetError, match="surfing/vlist.json: duplicate video_id 'a2nj7XCo2Rk'"):
        reader.read_videos(root, spec)
    vlist.write_text(json.dumps([[["x"], "Validation"]]))
    with pytest.raises(DatasetError, match="unknown set 'Validation'"):
        reader.read_videos(root, spec)
    vlist.write_text(json.dumps({"x": 1}))
    with pytest.raises(DatasetError, match="surfing/vlist.json: expected a list"):
        reader.read_videos(root, spec)


# ------------------------------------------------------------------------------ TVSum

TVSUM_FPS = {"AwmHb44_ouw": 65 / 6.5, "J0nA4VgnoCo": 50 / 4.0, "Se3oxnaPsz0": 40 / 4.0}


def test_tvsum_mat_layout_is_matlab_v73():
    path = FIXTURES / "tvsum" / "matlab" / "ydata-tvsum50.mat"
    assert path.read_bytes()[:19] == b"MATLAB 7.3 MAT-file"
    with h5py.File(path, "r") as f:
        assert f["tvsum50"]["user_anno"].dtype == h5py.ref_dtype
        assert f[f["tvsum50"]["user_anno"][0, 0]].shape == (20, 65)


def test_tvsum_videos_and_schemes():
    root = FIXTURES / "tvsum"
    reader, videos, _ = run("tvsum", root, fps=TVSUM_FPS)
    assert videos["video_id"].tolist() == ["AwmHb44_ouw", "J0nA4VgnoCo", "Se3oxnaPsz0"]
    assert videos["category"].tolist() == ["VT", "VT", "BK"]
    assert videos["path"].iloc[0] == str((root / "video" / "AwmHb44_ouw.mp4").resolve())
    assert videos["split"].tolist() == ["train", "test", "test"]  # UMT: val -> test
    schemes = reader.split_schemes(videos, {"root": str(root)})
    assert list(schemes) == ["umt"] + [f"random80-s{k}" for k in range(5)] + ["longest2"]
    # HPCL's split: the two longest of each category train (here every category has <= 2)
    assert set(schemes["longest2"].values()) == {"train"}
    for k in range(5):
        scheme = schemes[f"random80-s{k}"]
        # one of the two VT videos is held out; the single BK video stays in train
        assert sorted(scheme[v] for v in ("AwmHb44_ouw", "J0nA4VgnoCo")) == ["test", "train"]
        assert scheme["Se3oxnaPsz0"] == "train"
    assert schemes == reader.split_schemes(videos, {"root": str(root)})  # deterministic
    random = reader.read_videos(root, {"root": str(root), "split_scheme": "random80-s3"})
    assert random["split"].tolist() == [schemes["random80-s3"][v] for v in random["video_id"]]


def test_tvsum_longest_two_per_category():
    """HPCL §4.1: per category of five, the two longest videos train, the three others test
    (ties in the annotation's length broken by frame count, then id); only listed videos."""
    from highlight_pipeline.datasets.tvsum import TVSumVideo, longest_two

    def video(vid: str, category: str, length: float | None, nframes: int) -> TVSumVideo:
        return TVSumVideo(vid, category, "", nframes, length, np.zeros((1, 1)), "tsv", "t")

    videos = [
        video("a1", "A", 120.0, 3600),
        video("a2", "A", 300.0, 9000),
        video("a3", "A", 60.0, 1800),
        video("a4", "A", 200.0, 6000),
        video("a5", "A", 200.0, 5000),  # ties a4 in seconds, fewer frames
        video("b1", "B", 10.0, 300),
        video("b2", "B", 20.0, 600),
        video("b3", "B", 30.0, 900),
        video("gone", "B", 999.0, 99999),  # annotated, but not in the table
    ]
    present = {v.video_id: v.category for v in videos if v.video_id != "gone"}
    split = longest_two(videos, present)
    assert [v for v, s in sorted(split.items()) if s == "train"] == ["a2", "a4", "b2", "b3"]
    assert [v for v, s in sorted(split.items()) if s == "test"] == ["a1", "a3", "a5", "b1"]
    assert "gone" not in split


def test_tvsum_clips_from_mat():
    _, _, clips = run("tvsum", FIXTURES / "tvsum", fps=TVSUM_FPS)
    assert list(clips.columns[:6]) == ["video_id", "clip", "start", "end", "label", "score"]
    assert [c for c in clips.columns if c.startswith("u")] == [f"u{k}" for k in range(20)]
    assert len(clips) == 5
    a = rows(clips, "AwmHb44_ouw")  # fps 10: frames 10, 30, 50 -> shots 0, 1, 2
    assert a["start"].tolist() == [0.0, 2.0, 4.0]
    assert a["end"].tolist() == [2.0, 4.0, 6.0]
    assert a["u0"].tolist() == [1, 2, 3]
    assert a["u1"].tolist() == [2, 3, 4]
    assert a["score"].tolist() == [1.5, 2.5, 3.5]
    assert a["label"].tolist() == [0, 0, 1]  # mean above the median mean 2.5
    b = rows(clips, "J0nA4VgnoCo")  # fps 12.5: one clip, frame floor(12.5) = 12
    assert b[[f"u{k}" for k in range(20)]].to_numpy().tolist() == [[4] * 20]
    assert b["label"].tolist() == [0]
    c = rows(clips, "Se3oxnaPsz0")  # 40 frames at 10 fps: int(39 / 20) = 1 clip, not 2
    assert c[[f"u{k}" for k in range(20)]].to_numpy().tolist() == [[1, 2, 3, 4, 5] * 4]


def test_tvsum_tsv_equals_mat(copy_of):
    root = copy_of("tvsum")
    _, videos_mat, clips_mat = run("tvsum", root, fps=TVSUM_FPS)
    _, videos_tsv, clips_tsv = run("tvsum", root, {"annotation": "tsv"}, fps=TVSUM_FPS)
    pd.testing.assert_frame_equal(videos_mat, videos_tsv)
    pd.testing.assert_frame_equal(clips_mat, clips_tsv)
    (root / "matlab" / "ydata-tvsum50.mat").unlink()  # auto falls back to the TSV pair
    _, _, clips_auto = run("tvsum", root, fps=TVSUM_FPS)
    pd.testing.assert_frame_equal(clips_mat, clips_auto)


def test_tvsum_mat_errors(copy_of):
    root = copy_of("tvsum")
    path = root / "matlab" / "ydata-tvsum50.mat"
    spec = {"root": str(root), "annotation": "mat"}
    reader = get_reader("tvsum")
    with h5py.File(path, "r+") as f:
        refs = f["tvsum50"]["user_anno"]
        bad = f[refs[1, 0]][()].T  # (nframes, 20): the MATLAB orientation, not h5py's
        refs[1, 0] = f.create_dataset("#refs#/transposed", data=bad).ref
    with pytest.raises(DatasetError, match=r"'J0nA4VgnoCo': user_anno has shape \(50, 20\)"):
        reader.read_videos(root, spec)
    with h5py.File(path, "r+") as f:
        del f["tvsum50"]["nframes"]
    with pytest.raises(DatasetError, match="ydata-tvsum50.mat: tvsum50 lacks field\\(s\\) nframes"):
        reader.read_videos(root, spec)
    path.write_bytes(b"not a mat file")
    with pytest.raises(DatasetError, match="not a MATLAB v7.3"):
        reader.read_videos(root, spec)
    path.unlink()
    with pytest.raises(DatasetError, match="no TVSum annotation found"):
        reader.read_videos(root, spec)


def test_tvsum_tsv_errors(copy_of):
    root = copy_of("tvsum")
    spec = {"root": str(root), "annotation": "tsv"}
    reader = get_reader("tvsum")
    anno = root / "data" / "ydata-tvsum50-anno.tsv"
    info = root / "data" / "ydata-tvsum50-info.tsv"
    lines = anno.read_text().splitlines()

    anno.write_text("\n".join(lines[:5] + [lines[5].replace(",", ";", 1)] + lines[6:]) + "\n")
    with pytest.raises(DatasetError, match="anno.tsv: line 6: video 'AwmHb44_ouw' scores are not"):
        reader.read_videos(root, spec)
    anno.write_text("\n".join(lines[:5] + [lines[5] + ",1"] + lines[6:]) + "\n")
    with pytest.raises(DatasetError, match="line 6: video 'AwmHb44_ouw' has 66 frame scores"):
        reader.read_videos(root, spec)
    anno.write_text("\n".join(lines[:-1]) + "\n")  # the last video loses an annotator
    with pytest.raises(DatasetError, match="different numbers of annotators"):
        reader.read_videos(root, spec)
    anno.write_text("\n".join(lines) + "\n")

    info_lines = info.read_text().splitlines()
    info.write_text("\n".join(info_lines[:-1]) + "\n")
    with pytest.raises(DatasetError, match="info.tsv: no row for video 'Se3oxnaPsz0'"):
        reader.read_videos(root, spec)
    info.write_text("\n".join([*info_lines, info_lines[1]]) + "\n")
    with pytest.raises(DatasetError, match="info.tsv: line 5: duplicate video_id 'AwmHb44_ouw'"):
        reader.read_videos(root, spec)
    info.write_text("\n".join(info_lines).replace("0:04", "four") + "\n")
    with pytest.raises(DatasetError, match="length 'four' is not m:ss"):
        reader.read_videos(root, spec)


def test_tvsum_path_outside_root_and_unknown_video():
    root = FIXTURES / "tvsum"
    reader = get_reader("tvsum")
    spec = {"root": str(root), "video_pattern": "/elsewhere/{video_id}.mp4"}
    with pytest.raises(DatasetError, match="video 'AwmHb44_ouw' path .* points outside"):
        reader.read_videos(root, spec)
    with pytest.raises(DatasetError, match="'ghost' is not in the TVSum annotation"):
        reader.make_clips(pd.DataFrame({"video_id": ["ghost"], "fps": [10.0]}), root, {})


# ------------------------------------------------------------------------------ CoSum


def test_cosum_videos_and_schemes():
    root = FIXTURES / "cosum"
    reader, videos, _ = run("cosum", root, fps=10.0)
    assert videos["video_id"].tolist() == ["base1", "base2", "surf1"]
    assert videos["category"].tolist() == ["base_jump", "base_jump", "surfing"]
    assert videos["path"].iloc[2] == str((root / "videos" / "surf1.mp4").resolve())
    schemes = reader.split_schemes(videos, {"root": str(root)})
    assert list(schemes) == [f"random80-s{k}" for k in range(5)]
    for scheme in schemes.values():
        assert sorted([scheme["base1"], scheme["base2"]]) == ["test", "train"]
        assert scheme["surf1"] == "train"
    assert videos["split"].tolist() == [schemes["random80-s0"][v] for v in videos["video_id"]]
    spec = {"root": str(root), "video_pattern": "{event}/{index}.mp4"}
    assert reader.read_videos(root, spec)["path"].iloc[0] == str(root / "01_base_jump" / "1.mp4")


def test_cosum_clips(caplog):
    _, _, clips = run("cosum", FIXTURES / "cosum", fps=10.0)
    assert len(clips) == 3 + 2 + 4
    a = rows(clips, "base1")  # boundaries 1, 11, 31, 41
    assert a["start"].tolist() == [0.0, 1.0, 3.0]
    assert a["end"].tolist() == [1.0, 3.0, 4.1]
    assert a["start_frame"].tolist() == [0, 10, 30]
    assert a["end_frame"].tolist() == [10, 30, 41]
    assert a["u0"].tolist() == [1, 1, 0]  # dualplus: shots 1, 2
    assert a["u1"].tolist() == [0, 1, 0]  # kk: shot 2
    assert a["u2"].tolist() == [0, 1, 1]  # vv: shots 2, 3
    assert a["votes"].tolist() == [1, 3, 1]
    assert a["label"].tolist() == [0, 1, 0]
    b = rows(clips, "base2")  # kk selected nothing
    assert b["end"].tolist() == [2.0, 4.0]
    assert b["u1"].tolist() == [0, 0]
    assert b["label"].tolist() == [0, 0]
    s = rows(clips, "surf1")
    assert s["start"].tolist() == [0.0, 0.5, 1.5, 2.5]
    assert s["votes"].tolist() == [1, 0, 1, 2]
    assert s["label"].tolist() == [0, 0, 0, 1]
    assert "base1: user dualplus selected 2 of 3 shots" in caplog.text
    _, _, one_vote = run("cosum", FIXTURES / "cosum", {"min_votes": 1}, fps=10.0)
    assert rows(one_vote, "base2")["label"].tolist() == [1, 1]


def test_cosum_rescale():
    root = FIXTURES / "cosum"
    reader = get_reader("cosum")
    videos = reader.read_videos(root, {"root": str(root)})
    manifest = manifest_of(videos, 10.0)
    manifest["frames"] = [82, 80, 62]  # twice the boundary list's last frame
    clips = reader.make_clips(manifest, root, {"rescale_shots": True})
    assert rows(clips, "base1")["end_frame"].tolist() == [21, 61, 82]


def test_cosum_errors(copy_of):
    root = copy_of("cosum")
    reader = get_reader("cosum")
    spec = {"root": str(root)}
    videos = reader.read_videos(root, spec)
    manifest = manifest_of(videos, 10.0)
    ann = root / "annotation" / "01_base_jump"

    scipy.io.savemat(ann / "1__kk.mat", {"labels": np.array([[2.0], [4.0]])})
    with pytest.raises(DatasetError, match="1__kk.mat: shot index 4 outside 1..3"):
        reader.make_clips(manifest, root, spec)
    scipy.io.savemat(ann / "1__kk.mat", {"other": np.array([[2.0]])})
    with pytest.raises(DatasetError, match="1__kk.mat: no variable 'labels'"):
        reader.make_clips(manifest, root, spec)
    scipy.io.savemat(ann / "1__kk.mat", {"labels": np.ones((2, 2))})
    with pytest.raises(DatasetError, match="'labels' should be a vector"):
        reader.make_clips(manifest, root, spec)
    (ann / "1__kk.mat").unlink()
    with pytest.raises(DatasetError, match="1__kk.mat: not found"):
        reader.make_clips(manifest, root, spec)
    with pytest.raises(ConfigError, match="min_votes"):
        reader.make_clips(manifest, root, {"min_votes": 4})
    shutil.copy(FIXTURES / "cosum" / "annotation" / "01_base_jump" / "1__kk.mat", ann)

    shots = root / "shots" / "01_base_jump" / "base2_shots.txt"
    shots.write_text("1\n21\nforty\n")
    with pytest.raises(DatasetError, match="base2_shots.txt: entry 3 \\('forty'\\)"):
        reader.make_clips(manifest, root, spec)
    shots.write_text("1\n21\n\n21\n40\n")  # a repeated boundary: an empty shot, kept
    assert rows(reader.make_clips(manifest, root, spec), "base2")["end"].tolist() == [2, 2, 4]
    shots.write_text("1\n21\n20\n")
    with pytest.raises(DatasetError, match="base2_shots.txt: boundaries are not increasing"):
        reader.make_clips(manifest, root, spec)

    shutil.copy(shots, root / "shots" / "10_surfing" / "base2_shots.txt")
    with pytest.raises(DatasetError, match="duplicate video_id 'base2'"):
        reader.read_videos(root, spec)
    (root / "shots" / "10_surfing" / "base2_shots.txt").unlink()
    with pytest.raises(DatasetError, match="points outside"):
        reader.read_videos(root, {"video_pattern": "../../{video_id}.mp4"})
    shutil.rmtree(root / "shots")
    with pytest.raises(DatasetError, match="shots: not found"):
        reader.read_videos(root, spec)


# ------------------------------------------------------------------------------ QVHighlights


def test_qvhighlights_videos_and_schemes():
    root = FIXTURES / "qvhighlights"
    reader, videos, _ = run("qvhighlights", root)
    assert videos["video_id"].tolist() == ["qid21", "qid11", "qid12", "qid13", "qid31"]
    assert videos["split"].tolist() == ["train", "val", "val", "val", "test"]
    assert videos["category"].tolist() == [""] * 5
    paths = dict(zip(videos["video_id"], videos["path"], strict=True))
    assert paths["qid11"] == paths["qid12"] == str(root / "videos" / "abcdefghijk_60.0_70.0.mp4")
    schemes = reader.split_schemes(videos[["video_id"]], {"root": str(root)})
    assert schemes == {"official": dict(zip(videos["video_id"], videos["split"], strict=True))}
    val = reader.read_videos(root, {"root": str(root), "splits": ["val"]})
    assert val["video_id"].tolist() == ["qid11", "qid12", "qid13"]


def test_qvhighlights_clips():
    _, _, clips = run("qvhighlights", FIXTURES / "qvhighlights")
    assert len(clips) == 5 + 4 + 3 + 2 + 2
    a = rows(clips, "qid11")  # duration 10 -> 5 clips; clips 1, 2 relevant
    assert a["start"].tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert a["end"].tolist() == [2.0, 4.0, 6.0, 8.0, 10.0]
    assert a[["s0", "s1", "s2"]].to_numpy().tolist() == [
        [0, 0, 0],
        [4, 2, 1],
        [3, 3, 3],
        [0, 0, 0],
        [0, 0, 0],
    ]
    assert a["relevant"].tolist() == [0, 1, 1, 0, 0]
    assert a["label"].tolist() == [0, 1, 0, 0, 0]  # VeryGood: some annotator >= 4
    assert set(a["query"]) == {"A man waves at the camera."}
    b = rows(clips, "qid12")  # duration 9 -> int(4.5) = 4 clips
    assert b["s1"].tolist() == [1, 0, 0, 4]
    assert b["label"].tolist() == [0, 0, 0, 1]
    c = rows(clips, "qid13")  # relevant ids out of order
    assert c["s0"].tolist() == [2, 4, 1]
    assert c["label"].tolist() == [0, 1, 0]
    t = rows(clips, "qid31")  # test: no labels
    assert t[["label", "relevant", "s0", "s1", "s2"]].to_numpy().tolist() == [[-1] * 5] * 2


def test_qvhighlights_errors(copy_of):
    root = copy_of("qvhighlights")
    reader = get_reader("qvhighlights")
    spec = {"root": str(root)}
    val = root / "highlight_val_release.jsonl"
    lines = val.read_text().splitlines()

    def write(line2: str | dict) -> None:
        text = line2 if isinstance(line2, str) else json.dumps(line2)
        val.write_text("\n".join([lines[0], text, lines[2]]) + "\n")

    write(lines[1][:-1])
    with pytest.raises(DatasetError, match="highlight_val_release.jsonl:2: malformed JSON"):
        reader.read_videos(root, spec)
    record = json.loads(lines[1])
    write({**record, "relevant_clip_ids": [0, 4]})
    with pytest.raises(DatasetError, match=":2: qid 12: relevant_clip_id 4 outside 0..3"):
        reader.read_videos(root, spec)
    write({**record, "saliency_scores": [[0, 1], [2, 4]]})
    with pytest.raises(DatasetError, match=":2: qid 12: saliency_scores must be 2 lists of 3"):
        reader.read_videos(root, spec)
    write({**record, "saliency_scores": [[0, 1, 2]]})
    with pytest.raises(DatasetError, match="saliency_scores must be 2 lists"):
        reader.read_videos(root, spec)
    write({k: v for k, v in record.items() if k != "vid"})
    with pytest.raises(DatasetError, match=":2: missing field\\(s\\) vid"):
        reader.read_videos(root, spec)
    write({**record, "qid": 21})
    with pytest.raises(
        DatasetError, match=r"val_release.jsonl:2: duplicate qid 21 \(first at .*train"
    ):
        reader.read_videos(root, spec)
    write({**record, "vid": "../../../x"})
    with pytest.raises(DatasetError, match="'qid12' path .* points outside"):
        reader.read_videos(root, spec)

    with pytest.raises(DatasetError, match="highlight_val_release.jsonl not found"):
        reader.read_videos(root / "videos", {"splits": ["val"]})
    with pytest.raises(ConfigError, match="unknown split"):
        reader.read_videos(root, {"splits": ["dev"]})
