"""The workflow's plan (highlight_pipeline/plan.py) without Snakemake: its paths, runs and
targets, held against the golden record of every preset (tests/fixtures/golden_ids.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from highlight_pipeline.config import load_configs
from highlight_pipeline.plan import PATHS, Plan
from tests.golden_ids import config_sets, fold

REPO = Path(__file__).resolve().parent.parent
GOLDEN = json.loads((REPO / "tests" / "fixtures" / "golden_ids.json").read_text())
WITH_PATHS = [
    (label, files)
    for label, files, with_paths in config_sets(REPO)
    if with_paths and "paths" in GOLDEN["configs"].get(label, {})
]


def planned_files(plan: Plan) -> set[str]:
    """Every file the plan's jobs write or read, as the golden record lists them."""
    files: set[str] = set()
    for dataset in plan.datasets:
        files |= set(plan.shard_paths("saliency", dataset, backbone=plan.saliency))
        labelled = plan.labelled(dataset)
        for method, variant, split, seed in plan.each_run(dataset):
            inputs = plan.train_inputs(dataset, method, variant, split, seed)
            for key, value in inputs.items():
                if key in ("visual", "audio", "saliency", "frames"):
                    files |= set(value)
            if "pseudo" in inputs:
                folder = str(Path(inputs["pseudo"]).parent)
                files |= {f"{folder}/{n}" for n in ("highlights.h5", "category_model.h5")}
                files.add(f"{folder}/categories.csv")
            for name in ("model", "scores", "devices"):
                files.add(plan.run_path(name, dataset, method, variant, split, seed))
            if labelled:
                files.add(plan.run_path("metrics", dataset, method, variant, split, seed))
        files |= set(plan.analyses_of(dataset)) | set(plan.explanations_of(dataset))
    return files


@pytest.mark.parametrize(("label", "files"), WITH_PATHS, ids=[w[0] for w in WITH_PATHS])
def test_the_plan_is_the_golden_record(label, files):
    plan = Plan(load_configs(files))
    golden = GOLDEN["configs"][label]
    assert fold(planned_files(plan)) == golden["paths"]
    assert plan.backbones_used() == golden["backbones_used"]
    assert set(plan.pseudo_slices()) == {
        pid
        for runs in golden["runs"].values()
        for entry in runs.values()
        for pid in (
            entry.get("pseudo", [])
            if isinstance(entry.get("pseudo"), list)
            else [entry["pseudo"]]
            if "pseudo" in entry
            else []
        )
    }


def test_patterns_and_paths():
    plan = Plan(load_configs([REPO / "config.yaml"]), results="out")
    assert (
        plan.pattern("metrics")
        == "out/{dataset}/metrics/{method}/{variant}/{split}/seed{seed}.json"
    )
    assert plan.path("metrics", dataset="d", method="m") == (
        "out/d/metrics/m/{variant}/{split}/seed{seed}.json"
    )
    assert plan.run_path("scores", "d", "m", "v", "s", 3) == "out/d/models/m/v/s/seed3.scores.jsonl"
    assert all(not t.startswith("/") and ".." not in t for t in PATHS.values())
    # every output and log a rule names is a PATHS entry (nothing else writes under results)
    rules = "".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    assert "{RESULTS}/" not in rules
    for name in PATHS:
        if name not in ("pseudo",):
            assert f'PLAN.pattern("{name}")' in rules, name


def test_default_targets():
    plan = Plan(load_configs([REPO / "config.yaml"]))
    targets = plan.all_targets()
    assert targets[:2] == [
        "results/synthetic/saliency/pqft/shard-0.h5",
        "results/synthetic/saliency/pqft/shard-1.h5",
    ]
    for name in ("table_md", "table_csv", "table_tex", "map_bars", "curves", "reel"):
        assert plan.path(name, dataset="synthetic") in targets
    assert any("/explain/pld/" in t for t in targets)
    assert plan.missing_checkpoints() == []  # weight-free: no checkpoint read
    method, variant, split, seed = plan.plotted_run("synthetic")
    assert (split, seed) == ("default", 0) and (method, variant) == plan.runs_of("synthetic")[0]


def test_an_unlabelled_folder_scores_and_leaves_out_supervised_runs(tmp_path, capsys):
    (tmp_path / "videos.csv").write_text("video_id,path\nv,v.mp4\n")
    config = load_configs([REPO / "config.yaml"])
    config["datasets"]["mine"] = {**config["datasets"]["synthetic"], "reader": "folder"}
    config["datasets"]["mine"].pop("synth", None)
    config["datasets"]["mine"]["root"] = str(tmp_path)
    config["run_datasets"] = ["mine"]
    plan = Plan(config)
    assert not plan.labelled("mine")
    runs = plan.runs_of("mine")
    assert ("hpcl", "co-av") not in runs and ("avph", "av-ph") in runs
    assert "left out the supervised run(s) hpcl/co-av" in capsys.readouterr().err
    targets = plan.all_targets()
    assert "results/tables/mine.scores.md" in targets
    assert not any(t.endswith(".md") and "scores" not in t for t in targets)
    assert plan.metrics_of("mine")  # planned, but not a target without labels
    assert not any("/metrics/" in t for t in targets)


def test_published_weights_name_every_missing_file(tmp_path):
    config = load_configs(
        [REPO / "config.yaml", REPO / "workflow" / "configs" / "qvhighlights.yaml"]
    )
    config["weights_dir"] = str(tmp_path)
    plan = Plan(config)
    assert {"slowfast_r50", "clip_vit_b32", "cnn14"} <= set(plan.checkpoints_read())
    missing = " ".join(plan.missing_checkpoints())
    assert "SLOWFAST_8x8_R50.pyth" in missing and "ViT-B-32.pt" in missing
    config["weights"] = "random"
    assert Plan(config).missing_checkpoints() == []


def test_run_weights_is_one_word_per_run():
    plan = Plan(load_configs([REPO / "config.yaml"]))
    kinds = {
        (m, v): plan.run_weights(plan.resolved("synthetic", m, v))
        for m, v in plan.runs_of("synthetic")
    }
    assert kinds[("random", "uniform")] == "none"
    assert kinds[("avph", "av-ph")] == "weight-free"
    assert kinds[("pld", "tased-full")] == "random-init"  # its TASED net starts at random
