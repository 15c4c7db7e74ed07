"""End-to-end: the real Snakefile on the CI-sized synthetic config, then rerun behaviour."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.workflow_helpers import CI_CONFIG, new_workdir, planned_jobs, snakemake

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = new_workdir(tmp_path_factory.mktemp("ci_run"))
    snakemake(workdir, "--cores", "2", "--configfile", str(CI_CONFIG))
    return workdir


def test_table_shows_avph_above_random(finished_run: Path) -> None:
    table = pd.read_csv(finished_run / "results/tables/synthetic.csv")
    average = table[table["column"] == "average"].set_index("method")
    assert set(average.index) == {"avph", "random"}
    assert (average["runs"] == 2).all()  # two seeds in the CI config
    assert average.loc["avph", "mean"] > average.loc["random", "mean"] + 0.1
    markdown = (finished_run / "results/tables/synthetic.md").read_text()
    assert "| avph | av-ph |" in markdown and "| random | uniform |" in markdown


def test_metrics_record_config_commit_and_versions(finished_run: Path) -> None:
    path = finished_run / "results/synthetic/metrics/avph/av-ph/default/seed0.json"
    metrics = json.loads(path.read_text())
    ci = yaml.safe_load(CI_CONFIG.read_text())
    assert metrics["config_slice"]["epochs"] == ci["methods"]["avph"]["epochs"]
    assert len(metrics["config_hash"]) == 12
    assert metrics["git_commit"] and metrics["versions"]["torch"].startswith("2.13")
    assert metrics["protocol"] == "youtube-map" and metrics["eval_split"] == "test"
    assert metrics["split"] == "default"  # the dataset's own split scheme
    assert 0.0 <= metrics["average"] <= 1.0


def test_nothing_to_do_after_a_finished_run(finished_run: Path) -> None:
    result = snakemake(finished_run, "-n", "--configfile", str(CI_CONFIG))
    assert "Nothing to be done" in result.stdout + result.stderr


def test_learning_rate_change_reruns_only_avph_training_onwards(finished_run: Path) -> None:
    override = finished_run / "lr.yaml"
    override.write_text(yaml.safe_dump({"methods": {"avph": {"lr": 1.0e-3}}}))
    result = snakemake(finished_run, "-n", "--configfile", str(CI_CONFIG), str(override))
    jobs = planned_jobs(result.stdout)
    # avph's outputs and what shows them (table, plots of avph's scores, the reel); nothing
    # upstream: no synthesis, manifest, clips, features, saliency or pseudo-labels.
    assert set(jobs) == {
        "train_avph",
        "predict_avph",
        "evaluate",
        "table",
        "plots",
        "reel",
        "all",
    }, jobs
    assert jobs["train_avph"] == jobs["predict_avph"] == jobs["evaluate"] == 2  # avph seeds only


def test_pseudo_change_does_not_touch_features(finished_run: Path) -> None:
    override = finished_run / "pseudo.yaml"
    override.write_text(yaml.safe_dump({"pseudo": {"top_fraction": 0.4}}))
    jobs = planned_jobs(
        snakemake(finished_run, "-n", "--configfile", str(CI_CONFIG), str(override)).stdout
    )
    assert "pseudo" in jobs and "train_avph" in jobs
    assert not {"synth", "manifest", "clips", "features", "predict_random"} & set(jobs), jobs


def test_unknown_config_key_stops_with_its_name(tmp_path: Path) -> None:
    workdir = new_workdir(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"methods": {"avph": {"learning_rate": 0.1}}}))
    result = snakemake(workdir, "-n", "--configfile", str(bad), check=False)
    assert result.returncode != 0
    assert "unknown key 'learning_rate' in config.methods.avph" in result.stderr + result.stdout
    assert "allowed keys:" in result.stderr + result.stdout
