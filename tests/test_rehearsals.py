"""Paper presets rehearsed end to end: each preset plus workflow/configs/rehearsal.yaml on a
miniature of its benchmark in the release layout (`hlp rehearsal-data`), ending in the
table with the paper's number beside each row and every row marked as a rehearsal.

The dataset presets (their main rows) run in the test suite and so in CI; the ablation
presets run with `make rehearse` (marker ``rehearsal_ablations``; README, "Rehearse")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from highlight_pipeline.config import validate_config
from highlight_pipeline.qvhighlights_submission import validate_submission
from highlight_pipeline.runs import run_list
from tests.workflow_helpers import REPO, new_workdir, snakemake, venv_env

pytestmark = pytest.mark.integration

CONFIGS = REPO / "workflow" / "configs"
#: dataset -> its preset (the main rows of the papers that report the dataset)
DATASET_PRESETS = {
    "youtube": "youtube.yaml",
    "tvsum": "tvsum.yaml",
    "qvhighlights": "qvhighlights.yaml",
    "cosum": "cosum.yaml",
    "vtw": "vtw.yaml",
}
#: (dataset, ablation preset): every ablation table of the four papers at least once
ABLATION_PRESETS = [
    ("youtube", "avph-ablations.yaml"),  # AV-PH Tables 5-12
    ("qvhighlights", "avph-ablations-qvhighlights.yaml"),
    ("youtube", "pld.yaml"),  # PLD-VHD Table 4, S3
    ("tvsum", "pld.yaml"),  # PLD-VHD Table 5
    ("youtube", "hpcl.yaml"),  # HPCL Tables 3-5
    ("youtube", "hpcl-backbones.yaml"),  # HPCL Tables 1-2
    ("youtube", "chd.yaml"),  # CHD Table 7
]


def rehearse(workdir: Path, dataset: str, *presets: str) -> dict:
    """Write the miniature, run the presets with the rehearsal overlay; the resolved config."""
    root, overlay = workdir / f"{dataset}_mini", workdir / "mini.yaml"
    made = subprocess.run(
        [sys.executable, "-m", "highlight_pipeline.cli", "rehearsal-data", dataset, str(root)]
        + ["--config", str(overlay)],
        capture_output=True,
        text=True,
        env=venv_env(),
    )
    assert made.returncode == 0, made.stderr
    files = [str(CONFIGS / p) for p in presets] + [str(CONFIGS / "rehearsal.yaml"), str(overlay)]
    result = snakemake(workdir, "--cores", "2", "--configfile", *files)
    (workdir / "console.txt").write_text(result.stdout + result.stderr)
    merged: dict = {}
    from highlight_pipeline.runs import deep_merge

    for name in [REPO / "config.yaml", *files]:
        merged = deep_merge(merged, yaml.safe_load(Path(name).read_text()) or {})
    return validate_config(merged)


def check_table(workdir: Path, dataset: str, config: dict) -> pd.DataFrame:
    table = pd.read_csv(workdir / f"results/tables/{dataset}.csv", dtype={"column": str})
    expected = set(run_list(config))
    assert set(zip(table["method"], table["variant"], strict=True)) == expected
    assert table["rehearsal"].all()
    # the published architectures ran, randomly initialised (no checkpoint needed)
    neural = table[table["method"] != "random"]
    assert neural["features"].str.contains("random-init").all(), set(neural["features"])
    # the paper's number stands beside each row the paper reports on this dataset
    paper = pd.read_csv(REPO / "highlight_pipeline/data/paper_results.csv")
    paper_dataset = config["datasets"][dataset].get("paper_dataset", dataset)
    reported = paper[paper["dataset"] == paper_dataset]
    for (method, variant), rows in table.groupby(["method", "variant"]):
        if ((reported["method"] == method) & (reported["variant"] == variant)).any():
            assert rows["paper"].notna().any(), (method, variant)
    assert table["paper"].notna().any()
    markdown = (workdir / f"results/tables/{dataset}.md").read_text()
    assert "REHEARSAL" in markdown.splitlines()[0] and "Rehearsal, not a result" in markdown
    for method, variant in expected:  # its row in the main table (the first it has)
        lines = [x for x in markdown.splitlines() if x.startswith(f"| {method} | {variant} | ")]
        assert lines and "· rehearsal" in lines[0], (method, variant)
    return table


def check_qv_submissions(workdir: Path, config: dict) -> None:
    """QVHighlights: each run's evaluation-server files (first scheme and seed), valid for
    the miniature's release files (6 val queries, 2 unlabelled test queries)."""
    root = workdir / "qvhighlights_mini"
    split = config["datasets"]["qvhighlights"]["split_schemes"][0]
    seed = config["evaluation"]["seeds"][0]
    for method, variant in run_list(config):
        base = workdir / f"results/submissions/qvhighlights/{method}/{variant}/{split}/seed{seed}"
        for part, queries in (("val", 6), ("test", 2)):
            path = base / f"hl_{part}_submission.jsonl"
            assert path.is_file(), path
            assert validate_submission(path, root / f"highlight_{part}_release.jsonl") == queries


@pytest.mark.parametrize("dataset", sorted(DATASET_PRESETS))
def test_a_dataset_preset_rehearses_to_its_table(dataset: str, tmp_path: Path) -> None:
    workdir = new_workdir(tmp_path / "run")
    config = rehearse(workdir, dataset, DATASET_PRESETS[dataset])
    check_table(workdir, dataset, config)
    if dataset == "qvhighlights":
        check_qv_submissions(workdir, config)
    console = (workdir / "console.txt").read_text()
    assert "a rehearsal (random weights, shrunk settings): not a result" in console


@pytest.mark.rehearsal_ablations
@pytest.mark.parametrize(("dataset", "preset"), ABLATION_PRESETS)
def test_an_ablation_preset_rehearses_to_its_table(dataset, preset, tmp_path: Path) -> None:
    workdir = new_workdir(tmp_path / "run")
    config = rehearse(workdir, dataset, DATASET_PRESETS[dataset], preset)
    table = check_table(workdir, dataset, config)
    assert len(set(table["variant"])) >= 3  # an ablation: several rows
    if dataset == "qvhighlights":
        check_qv_submissions(workdir, config)
