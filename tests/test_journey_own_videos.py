"""README, "Your own videos", without labels, run to the end on files nobody here designed
for: a folder of real-world containers and codecs (tests/real_world_files.py) with a
`videos.csv` and no `highlights.csv`. The journey ends in the score files, the summary
table, and `hlp predict` on every file of the folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.real_world_files import write_real_world_folder
from tests.workflow_helpers import new_workdir, snakemake, venv_env

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def unlabelled_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("my_files")
    files = [f for f in write_real_world_folder(root) if f["path"]]  # skipped: no encoder
    table = pd.DataFrame(
        {"video_id": [f["video_id"] for f in files], "path": [f["path"] for f in files]}
    )
    table.to_csv(root / "videos.csv", index=False)  # no highlights.csv: no labels
    workdir = new_workdir(tmp_path_factory.mktemp("own_videos"))
    config = {
        "run_datasets": ["mine"],
        "datasets": {"mine": {"reader": "folder", "root": str(root), "clip_seconds": 2.0}},
        "decode": {"fps": 5, "width": 96, "height": 72},
        "methods": {"avph": {"epochs": 3}, "chd": {"epochs": 2, "hidden": 64}},
        "evaluation": {"seeds": [0]},
    }
    (workdir / "mine.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "--cores", "2", "--configfile", str(workdir / "mine.yaml"))
    (workdir / "console.txt").write_text(result.stdout + result.stderr)
    return workdir, files


def test_every_file_is_scored_or_rejected_with_its_reason(unlabelled_run) -> None:
    workdir, files = unlabelled_run
    manifest = pd.read_csv(workdir / "results/mine/manifest.csv", dtype={"video_id": str})
    rejected_path = workdir / "results/mine/rejected.csv"
    rejected = (
        pd.read_csv(rejected_path, dtype={"video_id": str}) if rejected_path.exists() else None
    )
    rejected_ids = set() if rejected is None else set(rejected["video_id"])
    assert set(manifest["video_id"]) | rejected_ids == {f["video_id"] for f in files}
    assert rejected is None or rejected["reason"].str.len().gt(0).all()
    for method, variant in (("avph", "av-ph"), ("chd", "full"), ("random", "uniform")):
        scores = pd.read_json(
            workdir / f"results/mine/models/{method}/{variant}/default/seed0.scores.jsonl",
            lines=True,
            dtype={"video_id": str},
        )
        assert set(scores["video_id"]) == set(manifest["video_id"]), method


def test_damaged_packets_cost_only_what_they_damage(unlabelled_run) -> None:
    """A damaged packet is skipped and decoding goes on: the file is scored; only a hole
    longer than a window costs the clips from the one it leaves without sound."""
    workdir, files = unlabelled_run
    manifest = pd.read_csv(workdir / "results/mine/manifest.csv", dtype={"video_id": str})
    damaged = {f["video_id"]: f["damage"] for f in files if "damage" in f}
    assert damaged and set(damaged) <= set(manifest["video_id"])
    scores = pd.read_json(
        workdir / "results/mine/models/avph/av-ph/default/seed0.scores.jsonl",
        lines=True,
        dtype={"video_id": str},
    ).set_index("video_id")
    for video_id, damage in damaged.items():
        clips = scores.loc[video_id, "scores"]
        scored = [v is not None for v in clips]
        if damage["end"] - damage["start"] > 1.0:  # longer than a window
            before = int(damage["start"] // 2.0)  # the 2 s clips before the hole
            assert all(scored[:before]) and not all(scored), (video_id, clips)
        else:
            assert all(scored), (video_id, clips)


def test_the_summary_table_says_what_the_scores_rest_on(unlabelled_run) -> None:
    workdir, _ = unlabelled_run
    summary = (workdir / "results/tables/mine.scores.md").read_text()
    assert summary.startswith("# mine: clip scores (no labels: not evaluated)")
    for row in ("| avph | av-ph |", "| chd | full |", "| random | uniform |"):
        assert row in summary
    assert "weight-free" in summary
    console = (workdir / "console.txt").read_text()
    assert "left out the supervised run(s)" in console  # hpcl and pld need labels


def test_hlp_predict_scores_every_file_of_the_folder(unlabelled_run, tmp_path) -> None:
    workdir, files = unlabelled_run
    model = workdir / "results/mine/models/avph/av-ph/default/seed0.pt"
    root = Path(yaml.safe_load((workdir / "mine.yaml").read_text())["datasets"]["mine"]["root"])
    for f in files:
        out = tmp_path / f["video_id"]
        done = subprocess.run(
            [sys.executable, "-m", "highlight_pipeline.cli", "predict", str(root / f["path"])]
            + ["--model", str(model), "--out", str(out), "--reel-seconds", "2"],
            capture_output=True,
            text=True,
            env=venv_env(),
        )
        assert done.returncode == 0, (f["format"], done.stderr[-2000:])
        scores = json.loads((out / "scores.json").read_text())
        assert scores, f["format"]
