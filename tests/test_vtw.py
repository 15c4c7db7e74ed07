"""The VTW reader on the hand-written fixture tests/fixtures/readers/vtw (its README states
the numbers the expected tables below come from), its errors, and its config preset."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from highlight_pipeline.config import deep_merge, validate_config
from highlight_pipeline.datasets import registry
from highlight_pipeline.datasets.registry import Reader, get_reader
from highlight_pipeline.errors import ConfigError, DatasetError

REPO = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).parent / "fixtures" / "readers" / "vtw"
IDS = ["vtw0001", "vtw0002", "vtw0003", "vtw0004", "vtw0005"]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A writable copy of the fixture."""
    target = tmp_path / "vtw"
    shutil.copytree(FIXTURE, target)
    return target


def manifest_of(videos: pd.DataFrame, fps: float = 25.0, frames: int = 205) -> pd.DataFrame:
    """A manifest as `hlp manifest` writes it; every video probed with ``frames`` frames."""
    m = videos.copy()
    m["fps"] = fps
    m["frames"] = frames
    for column, value in (("duration", frames / fps), ("width", 64), ("height", 48)):
        m[column] = value
    m["has_audio"] = True
    m["fingerprint"] = "x"
    return m


def clips_of(root: Path, fps: float = 25.0, frames: int = 205, spec: dict | None = None):
    reader = get_reader("vtw")
    spec = {"root": str(root), **(spec or {})}
    videos = reader.read_videos(root, spec)
    return reader.make_clips(manifest_of(videos, fps, frames), root, spec)


def rows(clips: pd.DataFrame, video_id: str) -> pd.DataFrame:
    return clips[clips["video_id"] == video_id].reset_index(drop=True)


def write(path: Path, *lines: str) -> None:
    path.write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------------------ tables


def test_registered():
    reader = get_reader("vtw")
    assert isinstance(reader, Reader)
    assert (reader.name, reader.protocol) == ("vtw", "youtube-map")
    assert "vtw" in registry.reader_names()


def test_videos_and_schemes():
    reader = get_reader("vtw")
    spec = {"root": str(FIXTURE)}
    videos = reader.read_videos(FIXTURE, spec)
    assert list(videos.columns) == registry.VIDEO_COLUMNS
    assert videos["video_id"].tolist() == IDS
    assert videos["split"].tolist() == ["train", "train", "test", "test", ""]
    assert videos["category"].tolist() == [""] * 5
    assert videos["path"].iloc[2] == str((FIXTURE / "videos" / "vtw0003.mp4").resolve())
    expected = {"vtw0001": "train", "vtw0002": "train", "vtw0003": "test", "vtw0004": "test"}
    assert reader.split_schemes(videos, spec) == {"default": expected}
    assert reader.split_schemes(videos[videos["split"] == "test"], spec) == {
        "default": {"vtw0003": "test", "vtw0004": "test"}
    }
    same = reader.read_videos(FIXTURE, {**spec, "split_scheme": "default"})
    assert same.equals(videos)
    other = reader.read_videos(FIXTURE, {**spec, "video_pattern": "clips/{video_id}.avi"})
    assert other["path"].iloc[0] == str((FIXTURE / "clips" / "vtw0001.avi").resolve())


def test_clips():
    clips = clips_of(FIXTURE, fps=25.0, frames=205)
    assert list(clips.columns) == [
        "video_id",
        "clip",
        "start",
        "end",
        "label",
        "highlight_frames",
        "start_frame",
        "end_frame",
    ]
    assert clips["video_id"].drop_duplicates().tolist() == IDS
    assert len(clips) == 3 + 1 + 5 + 3 + 1

    a = rows(clips, "vtw0001")
    assert a["clip"].tolist() == [0, 1, 2]
    assert a["start_frame"].tolist() == [0, 100, 200]
    assert a["end_frame"].tolist() == [100, 200, 250]  # the short last clip is kept
    assert a["start"].tolist() == [0.0, 4.0, 8.0]
    assert a["end"].tolist() == [4.0, 8.0, 10.0]
    assert a["highlight_frames"].tolist() == [0, 60, 10]
    assert a["label"].tolist() == [0, 1, 1]

    b = rows(clips, "vtw0002")  # no highlight row: unlabelled
    assert b[["start_frame", "end_frame", "label", "highlight_frames"]].values.tolist() == [
        [0, 100, -1, -1]
    ]

    c = rows(clips, "vtw0003")  # overlapping intervals count once
    assert c["start_frame"].tolist() == [0, 100, 200, 300, 400]
    assert c["end_frame"].tolist() == [100, 200, 300, 400, 430]
    assert c["highlight_frames"].tolist() == [0, 50, 100, 0, 0]
    assert c["label"].tolist() == [0, 1, 1, 0, 0]

    d = rows(clips, "vtw0004")  # frames blank: the manifest's 205
    assert d["end_frame"].tolist() == [100, 200, 205]
    assert d["highlight_frames"].tolist() == [1, 0, 5]  # end_frame is exclusive
    assert d["label"].tolist() == [1, 0, 1]
    assert d["end"].tolist() == [4.0, 8.0, 8.2]

    e = rows(clips, "vtw0005")
    assert e[["end_frame", "highlight_frames", "label"]].values.tolist() == [[50, 10, 1]]


def test_clips_follow_the_fps_and_only_the_manifest_videos():
    reader = get_reader("vtw")
    spec = {"root": str(FIXTURE)}
    videos = reader.read_videos(FIXTURE, spec)
    manifest = manifest_of(videos[videos["video_id"] == "vtw0003"], fps=30.0, frames=430)
    clips = reader.make_clips(manifest, FIXTURE, spec)
    assert set(clips["video_id"]) == {"vtw0003"}
    np.testing.assert_allclose(clips["start"], np.round(np.arange(5) * 100 / 30, 3))
    assert clips["end"].iloc[-1] == round(430 / 30, 3)


def test_annotation_frames_win_over_the_manifest(caplog):
    with caplog.at_level(logging.WARNING, logger="highlight_pipeline.datasets.vtw"):
        clips = clips_of(FIXTURE, frames=300)
    assert rows(clips, "vtw0001")["end_frame"].tolist() == [100, 200, 250]
    assert rows(clips, "vtw0004")["end_frame"].tolist() == [100, 200, 300]
    assert "vtw0001: vtw_videos.csv gives 250 frames, the video file 300" in caplog.text


# ------------------------------------------------------------------------------ errors


def test_highlight_row_errors(root):
    reader = get_reader("vtw")
    spec = {"root": str(root)}
    path = root / "vtw_highlights.csv"
    good = path.read_text().splitlines()

    def replace_line3(text: str) -> None:
        write(path, *good[:2], text, *good[3:])

    replace_line3("vtw003,150,260")  # typo'd id
    with pytest.raises(
        DatasetError,
        match=r"vtw_highlights.csv: line 3: video 'vtw003' is not listed in .*vtw_videos.csv",
    ):
        reader.read_videos(root, spec)
    replace_line3("vtw0003,abc,260")
    with pytest.raises(
        DatasetError,
        match="vtw_highlights.csv: line 3: video 'vtw0003' start_frame 'abc' is not a whole "
        "frame number",
    ):
        reader.read_videos(root, spec)
    replace_line3("vtw0003,150,26.5")
    with pytest.raises(DatasetError, match="line 3: video 'vtw0003' end_frame '26.5' is not"):
        reader.read_videos(root, spec)
    replace_line3("vtw0003,-5,260")
    with pytest.raises(DatasetError, match="line 3: video 'vtw0003' start_frame '-5'"):
        reader.read_videos(root, spec)
    replace_line3("vtw0003,400,431")  # the video has 430 frames
    with pytest.raises(
        DatasetError,
        match=r"line 3: video 'vtw0003' highlight \[400, 431\) ends after the video's 430 frames",
    ):
        reader.read_videos(root, spec)
    replace_line3("vtw0003,260,260")
    with pytest.raises(
        DatasetError, match=r"line 3: video 'vtw0003' highlight \[260, 260\) is empty"
    ):
        reader.read_videos(root, spec)
    replace_line3("vtw0003,150")
    with pytest.raises(
        DatasetError, match="vtw_highlights.csv: line 3: 2 fields, the header has 3"
    ):
        reader.read_videos(root, spec)
    replace_line3("vtw0003,150.0,260.0")  # whole numbers written as floats are fine
    assert rows(clips_of(root), "vtw0003")["highlight_frames"].tolist() == [0, 50, 100, 0, 0]

    write(path, "video_id,start,end", "vtw0001,0,10")
    with pytest.raises(
        DatasetError, match="vtw_highlights.csv: header lacks column\\(s\\) start_frame, end_frame"
    ):
        reader.read_videos(root, spec)
    path.unlink()
    with pytest.raises(DatasetError, match="vtw_highlights.csv: not found"):
        reader.read_videos(root, spec)


def test_interval_outside_the_probed_video(root):
    """vtw0004 leaves frames blank: its intervals are checked against the manifest's count."""
    with pytest.raises(
        DatasetError,
        match=r"vtw_highlights.csv: line 7: video 'vtw0004' highlight \[200, 205\) ends after the "
        r"video's 204 frames \(the manifest's frame count\)",
    ):
        clips_of(root, frames=204)
    reader = get_reader("vtw")
    spec = {"root": str(root)}
    manifest = manifest_of(reader.read_videos(root, spec))
    manifest["frames"] = 0
    with pytest.raises(
        DatasetError,
        match="vtw_videos.csv: line 5: video 'vtw0004' leaves frames blank and the manifest has no "
        "frame count",
    ):
        reader.make_clips(manifest, root, spec)


def test_video_row_errors(root):
    reader = get_reader("vtw")
    spec = {"root": str(root)}
    path = root / "vtw_videos.csv"
    good = path.read_text().splitlines()

    def replace_line2(text: str) -> None:
        write(path, good[0], text, *good[2:])

    replace_line2("vtw0003,train,250,dup")
    with pytest.raises(
        DatasetError,
        match=r"vtw_videos.csv: line 4: duplicate video_id 'vtw0003' \(first at line 2\)",
    ):
        reader.read_videos(root, spec)
    replace_line2("vtw0001,training,250,x")
    with pytest.raises(DatasetError, match="line 2: video 'vtw0001' has split 'training'"):
        reader.read_videos(root, spec)
    replace_line2("vtw0001,train,2.5e2x,x")
    with pytest.raises(DatasetError, match="line 2: video 'vtw0001' frames '2.5e2x' is not"):
        reader.read_videos(root, spec)
    replace_line2("vtw0001,train,0,x")
    with pytest.raises(DatasetError, match="line 2: video 'vtw0001' has frames 0"):
        reader.read_videos(root, spec)
    replace_line2("vtw0001,train,200,x")  # vtw0001 has a highlight up to frame 250
    with pytest.raises(
        DatasetError, match=r"highlights.csv: line 4: video 'vtw0001' highlight \[240, 250\) ends"
    ):
        reader.read_videos(root, spec)
    replace_line2(",train,250,x")
    with pytest.raises(DatasetError, match="vtw_videos.csv: line 2: empty video_id"):
        reader.read_videos(root, spec)

    write(path, "video_id,split")
    with pytest.raises(DatasetError, match="vtw_videos.csv: header lacks column\\(s\\) frames"):
        reader.read_videos(root, spec)
    write(path, "video_id,split,frames")
    with pytest.raises(DatasetError, match="vtw_videos.csv: no videos"):
        reader.read_videos(root, spec)
    path.write_text("")
    with pytest.raises(DatasetError, match="vtw_videos.csv: empty"):
        reader.read_videos(root, spec)
    with pytest.raises(DatasetError, match="not a folder"):
        reader.read_videos(root / "nope", spec)


def test_config_and_manifest_errors(root):
    reader = get_reader("vtw")
    spec = {"root": str(root)}
    videos = reader.read_videos(root, spec)
    with pytest.raises(ConfigError, match="unknown split_scheme 'canonical'; known: default"):
        reader.read_videos(root, {**spec, "split_scheme": "canonical"})
    with pytest.raises(
        DatasetError, match="vtw_videos.csv: line 2: video 'vtw0001' path '../x/vtw0001.mp4' points"
    ):
        reader.read_videos(root, {**spec, "video_pattern": "../x/{video_id}.mp4"})
    with pytest.raises(ConfigError, match="cannot fill it"):
        reader.read_videos(root, {**spec, "video_pattern": "{domain}/{video_id}.mp4"})
    with pytest.raises(ConfigError, match="needs `root`"):
        reader.split_schemes(videos, {})

    manifest = manifest_of(videos)
    manifest.loc[1, "fps"] = float("nan")
    with pytest.raises(DatasetError, match="'vtw0002' has no usable fps"):
        reader.make_clips(manifest, root, spec)
    ghost = manifest_of(pd.DataFrame({"video_id": ["ghost"]}))
    with pytest.raises(DatasetError, match="manifest: video 'ghost' is not listed in"):
        reader.make_clips(ghost, root, spec)
    with pytest.raises(DatasetError, match="manifest: missing column\\(s\\) fps"):
        reader.make_clips(pd.DataFrame({"video_id": ["vtw0001"]}), root, spec)


# ------------------------------------------------------------------------------ config


def test_preset_validates_over_the_default_config():
    base = yaml.safe_load((REPO / "config.yaml").read_text())
    preset = yaml.safe_load((REPO / "workflow" / "configs" / "vtw.yaml").read_text())
    config = validate_config(deep_merge(base, preset))
    assert config["run_datasets"] == ["vtw"]
    spec = config["datasets"]["vtw"]
    assert (spec["reader"], spec["paper_dataset"]) == ("vtw", "vtw")
    assert config["features"]["visual"] == "c3d"
    runs = config["evaluation"]["runs"]  # avph (on in config.yaml) is switched off
    assert runs == {
        "avph": [],
        "chd": ["full", "no-dropout"],
        "hpcl": [],
        "pld": [],
        "random": ["uniform"],
    }


def test_schema_accepts_the_reader_and_rejects_unknown_keys():
    base = yaml.safe_load((REPO / "config.yaml").read_text())
    dataset = {"reader": "vtw", "root": "data/vtw", "video_pattern": "clips/{video_id}.mp4"}
    config = deep_merge(base, {"run_datasets": ["v"], "datasets": {"v": dataset}})
    assert validate_config(config)["datasets"]["v"]["reader"] == "vtw"
    with pytest.raises(ConfigError, match="clip_frames"):
        validate_config(deep_merge(config, {"datasets": {"v": {"clip_frames": 50}}}))
