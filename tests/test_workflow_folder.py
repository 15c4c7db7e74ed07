"""A folder dataset with a corrupt file and a video without sound runs to the end."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import av
import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

from highlight_pipeline.datasets.synthetic import SynthSpec, synthesize
from tests.workflow_helpers import REPO, new_workdir, planned_jobs, snakemake

pytestmark = pytest.mark.integration


def write_silent_video(path: Path, seconds: float = 8.0, fps: int = 10) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 96, 72, "yuv420p"
        for i in range(int(seconds * fps)):
            frame = np.full((72, 96, 3), (i * 3) % 255, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("my_videos")
    spec = SynthSpec(
        categories=2,
        videos_per_category=3,
        min_seconds=8,
        max_seconds=10,
        width=96,
        height=72,
        fps=10,
    )
    synthesize(spec, root, progress=False)
    table = pd.read_csv(root / "videos.csv")
    (root / "videos" / "broken.mp4").write_bytes(
        b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8
    )
    write_silent_video(root / "videos" / "silent.mp4")
    extra = pd.DataFrame(
        [
            ["broken", "videos/broken.mp4", "orbit", "train"],
            ["silent", "videos/silent.mp4", "orbit", "test"],
        ],
        columns=table.columns,
    )
    pd.concat([table, extra]).to_csv(root / "videos.csv", index=False)

    workdir = new_workdir(tmp_path_factory.mktemp("folder_run"))
    config = {
        "run_datasets": ["mine"],
        "datasets": {"mine": {"reader": "folder", "root": str(root), "clip_seconds": 2.0}},
        "decode": {"fps": 5, "width": 96, "height": 72},
        "methods": {"avph": {"epochs": 5}},
        "evaluation": {"seeds": [0]},
    }
    (workdir / "mine.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "--cores", "2", "--configfile", str(workdir / "mine.yaml"))
    (workdir / "console.txt").write_text(result.stdout + result.stderr)
    return workdir


def test_corrupt_video_is_rejected_with_reason(folder_run: Path) -> None:
    rejected = pd.read_csv(folder_run / "results/mine/rejected.csv")
    assert list(rejected["video_id"]) == ["broken"]
    assert "broken.mp4" in rejected["reason"].iloc[0]
    # and the console says so in one line, with the silent video, not only the job's log
    console = (folder_run / "console.txt").read_text()
    summary = [line for line in console.splitlines() if line.startswith("mine: ")]
    assert len(summary) == 1, console[-2000:]
    assert summary[0].startswith("mine: 7 videos; 1 rejected (e.g. broken: ")
    assert summary[0].endswith("; 1 without audio (silent)")
    manifest = pd.read_csv(folder_run / "results/mine/manifest.csv")
    assert "broken" not in set(manifest["video_id"])
    assert len(manifest) == 7  # six synthetic videos and the silent one


def test_silent_video_is_processed_with_audio_marked_missing(folder_run: Path) -> None:
    manifest = pd.read_csv(folder_run / "results/mine/manifest.csv").set_index("video_id")
    assert not manifest.loc["silent", "has_audio"]
    found = False
    for shard in sorted((folder_run / "results/mine/features/logmel").glob("shard-*.h5")):
        with h5py.File(shard) as handle:
            for group in handle.values():
                if group.attrs["video_id"] == "silent":
                    found = bool(group.attrs["missing"]) and group["windows"].shape[0] == 0
    assert found
    predictions = pd.read_json(
        folder_run / "results/mine/models/avph/av-ph/default/seed0.scores.jsonl",
        lines=True,
        dtype={"video_id": str},
    ).set_index("video_id")
    scores = np.asarray(predictions.loc["silent", "scores"])
    assert len(scores) == 4 and np.isfinite(scores).all()  # 8 s in 2 s clips


def test_run_finishes_for_all_other_videos(folder_run: Path) -> None:
    """The labelled journey ends in its table, plots and reel."""
    for made in ("tables/mine.md", "plots/mine/map_bars.png", "plots/mine/reel.mp4"):
        assert (folder_run / "results" / made).stat().st_size > 1000, made
    curves = sorted((folder_run / "results/plots/mine/curves").glob("*.png"))
    manifest = pd.read_csv(folder_run / "results/mine/manifest.csv")
    assert len(curves) == (manifest["split"] == "test").sum()
    with av.open(str(folder_run / "results/plots/mine/reel.mp4")) as reel:
        assert {s.type for s in reel.streams} >= {"video"} and reel.duration > 0
    table = pd.read_csv(folder_run / "results/tables/mine.csv")
    default_runs = yaml.safe_load((REPO / "config.yaml").read_text())["evaluation"]["runs"]
    assert set(table["method"]) == {m for m, variants in default_runs.items() if variants}
    predictions = pd.read_json(
        folder_run / "results/mine/models/random/uniform/default/seed0.scores.jsonl",
        lines=True,
    )
    assert len(predictions) == 7


def test_unlabelled_folder_is_scored_but_not_evaluated(tmp_path: Path) -> None:
    root = tmp_path / "videos"
    root.mkdir()
    (root / "videos.csv").write_text("video_id,path\na,a.mp4\nb,b.mp4\n")  # no highlights.csv
    workdir = new_workdir(tmp_path / "run")
    config = {
        "run_datasets": ["mine"],
        "datasets": {"mine": {"reader": "folder", "root": str(root)}},
        "evaluation": {"seeds": [0], "runs": {"avph": ["av-ph", "supervised"]}},
    }
    (workdir / "mine.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "-n", "--configfile", str(workdir / "mine.yaml"))
    planned = set(re.findall(r"^rule (\w+):", result.stdout, re.M))
    assert {"train", "saliency", "scores_summary"} <= planned
    assert not {"evaluate", "table", "plots", "reel", "analysis"} & planned, planned
    # the supervised run needs labels: left out, and said so once
    assert "left out the supervised run(s) avph/supervised" in result.stderr
    assert "/supervised/" not in result.stdout
    bogus = "results/mine/pseudo/colormotion+logmel/cosine-pseudo-0000/default/highlights.h5"
    failed = snakemake(
        workdir, "-n", bogus, "--configfile", str(workdir / "mine.yaml"), check=False
    )
    assert failed.returncode != 0
    console = failed.stdout + failed.stderr
    assert "no run of this config uses the pseudo-labels 'cosine-pseudo-0000'" in console


def two_small_videos(root: Path) -> Path:
    """A folder dataset of two short synthetic videos (videos.csv, highlights.csv)."""
    spec = SynthSpec(
        categories=1,
        videos_per_category=2,
        min_seconds=6,
        max_seconds=7,
        width=64,
        height=48,
        fps=5,
        sample_rate=8000,
    )
    synthesize(spec, root, progress=False)
    return root


def test_annotation_typo_stops_with_its_line_at_the_end_of_the_console(tmp_path: Path) -> None:
    """A highlights.csv row naming no video of videos.csv fails the clips job; the end of
    the console names the file, the line and the closest video_id; finished jobs are kept."""
    root = two_small_videos(tmp_path / "data")
    first = pd.read_csv(root / "videos.csv", dtype=str)["video_id"].iloc[0]  # orbit_00
    typo = first.replace("orbit", "orbti")
    with open(root / "highlights.csv", "a") as handle:
        handle.write(f"{typo},1.0,2.0\n")
    lines = len((root / "highlights.csv").read_text().splitlines())
    workdir = new_workdir(tmp_path / "run")
    config = {
        "run_datasets": ["mine"],
        "datasets": {"mine": {"reader": "folder", "root": str(root)}},
    }
    (workdir / "mine.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "--cores", "2", "--configfile", "mine.yaml", check=False)
    assert result.returncode != 0
    tail = (result.stdout + result.stderr).splitlines()[-8:]
    failed = [line for line in tail if line.strip().startswith("failed: clips: hlp clips: error:")]
    assert len(failed) == 1, "\n".join(tail)
    assert f"highlights.csv: line {lines} (video '{typo}'): not a video_id" in failed[0]
    assert f"did you mean '{first}'?" in failed[0]
    assert (workdir / "results/mine/manifest.csv").is_file()  # what finished is kept


def test_a_new_video_is_the_only_one_decoded_again(folder_run: Path) -> None:
    """One more video in the folder: the manifest changes, so every shard's job runs again
    (Snakemake gives no way to rerun only the jobs whose slice of a changed file differs
    when that file's job runs in the same call), but each job reuses the unchanged videos'
    features (content fingerprint and config hash): only the new video is decoded."""
    from highlight_pipeline.features.shards import read_entries, shard_of

    config_file = folder_run / "mine.yaml"
    config = yaml.safe_load(config_file.read_text())
    root = Path(config["datasets"]["mine"]["root"])
    table = pd.read_csv(root / "videos.csv", dtype=str)
    source = table[table["video_id"].str.startswith("orbit")].iloc[0]
    new = source.copy()
    new["video_id"], new["path"] = "newcomer", "videos/newcomer" + Path(source["path"]).suffix
    (root / new["path"]).write_bytes((root / source["path"]).read_bytes())
    pd.concat([table, new.to_frame().T]).to_csv(root / "videos.csv", index=False)
    shards = yaml.safe_load((REPO / "config.yaml").read_text())["features"]["shards"]
    target = shard_of("newcomer", shards)

    snakemake(folder_run, "--cores", "2", "--configfile", str(config_file))
    logs = sorted((folder_run / "results/logs/mine/features").glob("*/shard-*.log"))
    assert len(logs) == 2 * shards  # colormotion and logmel
    for log in logs:
        found = re.search(r"shard (\d+): (\d+) videos \((\d+) reused", log.read_text())
        assert found, log
        shard, videos, reused = (int(g) for g in found.groups())
        assert videos - reused == (1 if shard == target else 0), (log, found.group(0))
        entries = read_entries(
            folder_run / f"results/mine/features/{log.parent.name}/{log.stem}.h5"
        )
        assert ("newcomer" in {e.video_id for e in entries}) == (shard == target)


def test_manifest_reruns_for_a_listed_video_changed_in_place_only(tmp_path: Path) -> None:
    """The manifest's inputs are videos.csv and, as a param, the size and mtime of every file
    it lists (no input per video): a listed video rewritten in place or appearing reruns the
    manifest; a file videos.csv does not list, or nothing at all, plans nothing."""
    root = two_small_videos(tmp_path / "data")
    table = pd.read_csv(root / "videos.csv", dtype=str)
    late = {"video_id": "late", "path": "videos/late.mp4", "category": "orbit", "split": "test"}
    pd.concat([table, pd.DataFrame([late])]).to_csv(root / "videos.csv", index=False)
    workdir = new_workdir(tmp_path / "run")
    config = {
        "run_datasets": ["mine"],
        "datasets": {"mine": {"reader": "folder", "root": str(root)}},
    }
    (workdir / "mine.yaml").write_text(yaml.safe_dump(config))
    target = "results/mine/manifest.csv"
    snakemake(workdir, "--cores", "1", target, "--configfile", "mine.yaml")
    assert len(pd.read_csv(workdir / target)) == 2  # late.mp4 is not there yet

    def plan() -> dict[str, int]:
        return planned_jobs(snakemake(workdir, "-n", target, "--configfile", "mine.yaml").stdout)

    assert plan() == {}
    (root / "notes.txt").write_text("not a video of videos.csv")
    (root / "videos" / "unlisted.mp4").write_bytes(b"")
    assert plan() == {}
    video = root / table["path"].iloc[0]
    stat = video.stat()
    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5 * 10**9))  # rewritten in place
    assert plan() == {"manifest": 1}
    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert plan() == {}
    shutil.copy(video, root / late["path"])  # the listed video that was missing appears
    assert plan() == {"manifest": 1}
