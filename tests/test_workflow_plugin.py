"""A method added through the registry alone (an entry point outside the package) is
trained, scored, evaluated and tabled by the unchanged workflow; its GPU jobs each lease a
GPU slot of their own (two fake slots; the first training job holds its slot until a
second one has started, so two surely overlap)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from highlight_pipeline.methods.registry import BUILTIN
from tests.workflow_helpers import CI_CONFIG, new_workdir, planned_jobs, snakemake

pytestmark = pytest.mark.integration

PLUGIN = Path(__file__).parent / "fixtures" / "toy_plugin"
SEEDS = [0, 1]


@pytest.fixture(scope="module")
def plugin_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    workdir = new_workdir(tmp_path_factory.mktemp("plugin_run"))
    override = workdir / "toy.yaml"
    override.write_text(
        yaml.safe_dump(
            {
                "evaluation": {
                    "runs": {  # every built-in method off but the baseline
                        **{spec.name: [] for spec in BUILTIN},
                        "toy": ["linear", "flipped"],
                        "random": ["uniform"],
                    },
                    "seeds": SEEDS,
                },
                "methods": {"toy": {"hold_seconds": 120.0, "meet_dir": str(workdir / "toy-meet")}},
            }
        )
    )
    env = {
        "PYTHONPATH": str(PLUGIN),
        "HLP_FAKE_GPUS": "2",
        "HLP_GPU_LOCK_DIR": str(workdir / "gpu-locks"),
    }
    args = ("--configfile", str(CI_CONFIG), str(override))
    plan = snakemake(workdir, "-n", *args, env=env).stdout
    snakemake(workdir, "--cores", "2", "--resources", "gpu=2", *args, env=env)
    return workdir, {"plan": plan, "env": env, "args": args}


def test_plugin_method_is_trained_scored_evaluated_and_tabled(plugin_run) -> None:
    workdir, info = plugin_run
    jobs = planned_jobs(info["plan"])
    assert jobs["train"] == jobs["evaluate"] == 3 * len(SEEDS)
    assert "score" not in jobs  # the train job scores
    assert "pseudo" not in jobs  # the toy reads labels, not pseudo-labels
    table = pd.read_csv(workdir / "results/tables/synthetic.csv")
    average = table[table["column"] == "average"].set_index(["method", "variant"])["mean"]
    assert set(average.index) == {("toy", "linear"), ("toy", "flipped"), ("random", "uniform")}
    # the supervised direction ranks highlights first; flipped, it ranks them last
    assert average[("toy", "linear")] > average[("random", "uniform")] > average[("toy", "flipped")]
    markdown = (workdir / "results/tables/synthetic.md").read_text()
    assert "| toy | linear | colormotion (weight-free) | 2 |" in markdown
    assert "toy/flipped is no better than random" in markdown
    again = snakemake(workdir, "-n", *info["args"], env=info["env"])
    assert "Nothing to be done" in again.stdout + again.stderr


def test_concurrent_gpu_jobs_never_share_a_slot(plugin_run) -> None:
    workdir, _ = plugin_run
    records = []
    for variant, seed in itertools.product(["linear", "flipped"], SEEDS):
        path = workdir / f"results/synthetic/models/toy/{variant}/default/seed{seed}.pt"
        records.append(torch.load(path, weights_only=True)["model"]["record"])
    assert {r["slot"] for r in records} <= {0, 1} and all(r["device"] == "cpu" for r in records)
    overlapping = [
        (a, b)
        for a, b in itertools.combinations(records, 2)
        if a["start"] < b["end"] and b["start"] < a["end"]
    ]
    assert overlapping, "no two GPU jobs ran at once: the test proves nothing"
    assert all(a["slot"] != b["slot"] for a, b in overlapping), overlapping
