"""Snakemake finds the default profile (profiles/default next to the Snakefile): a bare
`snakemake` call runs with its cores and prints a failing job's log on the console."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.workflow_helpers import REPO, snakemake

pytestmark = pytest.mark.integration


def broken_folder(tmp_path: Path) -> Path:
    """A folder dataset whose videos.csv lacks its columns: the manifest job fails."""
    root = tmp_path / "videos"
    root.mkdir()
    (root / "videos.csv").write_text("name,file\nx,y.mp4\n")
    config = {"run_datasets": ["bad"], "datasets": {"bad": {"reader": "folder", "root": str(root)}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def test_default_profile_is_in_effect_on_a_bare_call(tmp_path: Path) -> None:
    profile = yaml.safe_load((REPO / "profiles/default/config.yaml").read_text())
    assert profile["show-failed-logs"] is True and profile["cores"] == 2
    workdir = broken_folder(tmp_path)
    result = snakemake(workdir, check=False)  # no --cores, no --show-failed-logs
    console = result.stdout + result.stderr
    assert result.returncode != 0
    assert "profiles/default for setting default command line arguments" in console
    assert "Provided cores: 2" in console  # the profile's cores
    # the profile's show-failed-logs: the job's log line is on the console
    assert "missing column(s) path, video_id" in console


def test_without_the_profile_only_the_one_line_failure_reaches_the_console(
    tmp_path: Path,
) -> None:
    """Without the profile Snakemake does not print the job's log; the Snakefile's onerror
    still ends the console with the failed job's error line (failures.py)."""
    workdir = broken_folder(tmp_path)
    result = snakemake(workdir, "--workflow-profile", "none", "--cores", "1", check=False)
    console = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Logfile results/logs/bad/manifest.log:" not in console  # no log dump
    failed = [line for line in console.splitlines() if line.strip().startswith("failed: ")]
    assert len(failed) == 1 and failed[0].strip().startswith("failed: manifest: hlp manifest:")
    assert "missing column(s) path, video_id" in failed[0]
    log = workdir / "results/logs/bad/manifest.log"
    assert "missing column(s) path, video_id" in log.read_text()
