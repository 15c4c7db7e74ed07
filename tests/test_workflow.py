"""End-to-end: the real Snakefile on the CI-sized synthetic config, then rerun behaviour."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from highlight_pipeline.config import validate_config
from highlight_pipeline.manifest import read_splits
from highlight_pipeline.methods.registry import get_method
from highlight_pipeline.predictions import read_predictions
from highlight_pipeline.runs import deep_merge, resolve_run, run_inputs, run_list
from tests.workflow_helpers import (
    CI_CONFIG,
    REPO,
    method_jobs,
    new_workdir,
    planned_jobs,
    planned_outputs,
    planned_priorities,
    snakemake,
    venv_env,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = new_workdir(tmp_path_factory.mktemp("ci_run"))
    snakemake(workdir, "--cores", "2", "--configfile", str(CI_CONFIG))
    return workdir


def test_table_shows_avph_above_random(finished_run: Path) -> None:
    table = pd.read_csv(finished_run / "results/tables/synthetic.csv")
    average = table[table["column"] == "average"].set_index("method")
    assert set(average.index) == {"avph", "chd", "hpcl", "pld", "random"}
    assert (average["runs"] == 2).all()  # two seeds in the CI config
    assert average.loc["avph", "mean"] > average.loc["random", "mean"] + 0.1
    assert average.loc["avph", "vs_random"] in ("above chance", "≈ chance", "below chance")
    markdown = (finished_run / "results/tables/synthetic.md").read_text()
    assert "| avph | av-ph |" in markdown and "| random | uniform |" in markdown
    # avph learns from pseudo-labels: their quality on the training videos is shown
    quality = table[table["metric"] == "pseudo-highlight quality"].set_index("column")
    assert set(quality.index) == {"visual", "audio", "av", "random", "categories"}
    assert quality.loc["av", "mean"] > quality.loc["random", "mean"]
    # the embedded categories are found (the README's table says so: adjusted Rand 1)
    assert quality.loc["categories", "mean"] == pytest.approx(1.0)
    assert "## Pseudo-highlight quality on the training videos" in markdown


def test_pld_reads_its_frame_cache_scores_the_test_videos_and_draws_them(
    finished_run: Path,
) -> None:
    """pld's frames are cached once per shard at its fps and size; its scores cover the
    test videos only (training videos are null), and its explanation strips are drawn for
    the first test videos of the first seed."""
    results = finished_run / "results/synthetic"
    shards = sorted((results / "frames/2fps-32x32").glob("shard-*.h5"))
    assert len(shards) == 2
    with h5py.File(shards[0]) as handle:
        group = next(iter(handle.values()))
        assert group["frames"].shape[1:] == (32, 32, 3) and group["frames"].dtype == np.uint8
    splits = read_splits(results / "splits.csv", "default")
    test = {video for video, split in splits.items() if split == "test"}
    scores = read_predictions(results / "models/pld/tased-full/default/seed0.scores.jsonl")
    for video, clip_scores in scores.items():
        assert np.isfinite(clip_scores).all() == (video in test), video
    explain = finished_run / "results/plots/synthetic/explain/pld/tased-full/default/seed0"
    strips = sorted(explain.glob("*.png"))
    assert [p.stem for p in strips] == sorted(test)[:3]


def test_chd_analysis_section_from_its_registry_entry(finished_run: Path) -> None:
    """The registry's analysis of chd/full (CHD §4.3) runs on the first seed's model and
    its section follows the table; it is not run for variants it does not apply to."""
    analyses = sorted((finished_run / "results/synthetic/analyses").rglob("*.json"))
    assert [p.relative_to(finished_run / "results/synthetic/analyses") for p in analyses] == [
        Path("chd/full/default/seed0.clusters.json")
    ]
    record = json.loads(analyses[0].read_text())
    values = record["values"]
    assert values["masks"] == 20 and values["videos"] >= 2
    for kind in ("highlight", "non-highlight"):
        assert 0.0 <= values[kind]["intra"] <= 2.0 and 0.0 <= values[kind]["inter"] <= 2.0
    markdown = (finished_run / "results/tables/synthetic.md").read_text()
    assert "## CHD §4.3 (Table 6): highlight and non-highlight clusters under dropout" in (markdown)
    assert "| highlight | " in markdown and "0.0888" in markdown  # the paper's YouTube value


def test_the_report_bundles_the_tables_plots_and_reel(finished_run: Path) -> None:
    """The README's `snakemake --report report.html`, run, not planned."""
    snakemake(
        finished_run, "--configfile", str(CI_CONFIG), "--report", str(finished_run / "report.html")
    )
    page = (finished_run / "report.html").read_text(errors="replace")
    assert len(page) > 10_000
    for name in ("synthetic.md", "map_bars.png", "reel.mp4"):
        assert name in page, name


def test_metrics_record_config_commit_and_versions(finished_run: Path) -> None:
    path = finished_run / "results/synthetic/metrics/avph/av-ph/default/seed0.json"
    metrics = json.loads(path.read_text())
    ci = yaml.safe_load(CI_CONFIG.read_text())
    run = metrics["config_slice"]  # the fully resolved run: settings, backbones, pseudo
    assert run["settings"]["epochs"] == ci["methods"]["avph"]["epochs"]
    assert run["pseudo"]["k_max"] == ci["pseudo"]["k_max"] and run["variant"] == "av-ph"
    assert run["features"]["visual"] == "colormotion" and run["training"]["fraction"] == 1.0
    assert len(metrics["config_hash"]) == 12
    assert metrics["git_commit"] and metrics["versions"]["torch"].startswith("2.13")
    assert metrics["protocol"] == "youtube-map" and metrics["eval_split"] == "test"
    assert metrics["split"] == "default"  # the dataset's own split scheme
    assert 0.0 <= metrics["average"] <= 1.0
    # what the features rest on, a field (not a phrase of the features label to search)
    assert metrics["weights"] == "weight-free"
    random = finished_run / "results/synthetic/metrics/random/uniform/default/seed0.json"
    assert json.loads(random.read_text())["weights"] == "none"


def test_nothing_to_do_after_a_finished_run(finished_run: Path) -> None:
    result = snakemake(finished_run, "-n", "--configfile", str(CI_CONFIG))
    assert "Nothing to be done" in result.stdout + result.stderr


SEEDS = yaml.safe_load(CI_CONFIG.read_text())["evaluation"]["seeds"]


def ci_config(*overrides: Path) -> dict:
    """The config as Snakemake resolves it: config.yaml, the CI file, then ``overrides``."""
    raw = yaml.safe_load((Path(__file__).parents[1] / "config.yaml").read_text())
    for path in (CI_CONFIG, *overrides):
        raw = deep_merge(raw, yaml.safe_load(path.read_text()))
    return validate_config(raw)


def resolve(config: dict, method: str, variant: str) -> dict:
    return resolve_run(config, "synthetic", method, variant)


def test_learning_rate_change_reruns_only_avph_training_onwards(finished_run: Path) -> None:
    override = finished_run / "lr.yaml"
    override.write_text(yaml.safe_dump({"methods": {"avph": {"lr": 1.0e-3}}}))
    result = snakemake(finished_run, "-n", "--configfile", str(CI_CONFIG), str(override))
    # avph's outputs and what shows them (table, plots of avph's scores, the reel); nothing
    # upstream: no synthesis, manifest, clips, features, saliency or pseudo-labels.
    assert planned_jobs(result.stdout) == method_jobs(ci_config(override), "avph")
    assert all("/avph/" in p for p in planned_outputs(result.stdout, "train"))


def test_pseudo_change_does_not_touch_features(finished_run: Path) -> None:
    override = finished_run / "pseudo.yaml"
    override.write_text(yaml.safe_dump({"pseudo": {"top_fraction": 0.4}}))
    result = snakemake(finished_run, "-n", "--configfile", str(CI_CONFIG), str(override))
    jobs = planned_jobs(result.stdout)
    config = ci_config(override)
    readers = [  # the runs whose training reads pseudo-labels, from the registry
        (m, v) for m, v in run_list(config) if "pseudo" in run_inputs(resolve(config, m, v))
    ]
    assert jobs["pseudo"] == 1 and jobs["train"] == len(readers) * len(SEEDS)
    assert not {"synth", "manifest", "clips", "features", "saliency"} & set(jobs), jobs
    assert all("/random/" not in p for p in planned_outputs(result.stdout, "train"))


def test_variants_share_pseudo_jobs_and_rerun_alone(finished_run: Path) -> None:
    """v-ph and sa-late read the pseudo-labels of av-ph (no new pseudo job); pcc needs its
    own; a change of one variant's settings reruns that variant's jobs only."""
    runs = finished_run / "runs.yaml"
    runs.write_text(
        yaml.safe_dump({"evaluation": {"runs": {"avph": ["av-ph", "v-ph", "sa-late", "pcc"]}}})
    )
    plan = snakemake(finished_run, "-n", "--configfile", str(CI_CONFIG), str(runs)).stdout
    jobs = planned_jobs(plan)
    assert jobs["pseudo"] == 1  # pcc's: v-ph and sa-late share av-ph's finished one
    assert [p for p in planned_outputs(plan, "pseudo") if "pearson-pseudo-" in p]
    assert jobs["train"] == 3 * len(SEEDS)  # v-ph, sa-late, pcc
    spec = get_method("avph")
    assert set(spec.variants) >= {"v-ph", "sa-late", "pcc"}
    # now change v-ph alone: a user overlay redefines it with another learning rate
    changed = finished_run / "vph.yaml"
    changed.write_text(
        yaml.safe_dump(
            {"variants": {"avph": {"v-ph": {"method": {"target": "visual", "lr": 1.0e-3}}}}}
        )
    )
    snakemake(finished_run, "--cores", "2", "--configfile", str(CI_CONFIG), str(runs))
    plan = snakemake(
        finished_run, "-n", "--configfile", str(CI_CONFIG), str(runs), str(changed)
    ).stdout
    trained = [p for p in planned_outputs(plan, "train") if p.endswith(".pt")]  # the models
    assert trained and all("/avph/v-ph/" in p for p in trained), trained
    assert len(trained) == len(SEEDS)
    assert "pseudo" not in planned_jobs(plan)


def test_the_pseudo_job_asks_for_its_datasets_memory(finished_run: Path) -> None:
    """The pseudo job's mem_mb comes from its inputs (memory_guard.pseudo_limits): on the CI
    dataset far below the rule's 16000 MB for a million clips, and above what it used."""
    logs = sorted((finished_run / "results/logs/synthetic/pseudo").rglob("*.log"))
    assert logs
    for log in logs:
        last = log.read_text().strip().splitlines()[-1]
        found = re.search(r"peak memory (\d+) MB of the job's mem_mb (\d+)$", last)
        assert found, last
        used, asked = int(found[1]), int(found[2])
        assert used < asked < 2000, last


def test_saliency_maps_no_run_reads_wait_for_the_features(tmp_path: Path) -> None:
    """Saliency maps are a product of every dataset, but only pld's runs read them: where
    none does, their jobs have no priority and so do not take the CPUs before the features
    that pseudo-labels and trainings wait for; where pld runs, they come first with them."""
    workdir = new_workdir(tmp_path)

    def priorities(runs: dict) -> dict[str, list[int]]:
        overlay = tmp_path / "runs.yaml"
        overlay.write_text(yaml.safe_dump({"evaluation": {"runs": runs}}))
        plan = snakemake(workdir, "-n", "--configfile", str(CI_CONFIG), str(overlay)).stdout
        return {rule: planned_priorities(plan, rule) for rule in ("features", "saliency")}

    none_read = {"avph": ["av-ph"], "chd": [], "hpcl": [], "pld": [], "random": ["uniform"]}
    plan = priorities(none_read)
    assert plan["saliency"] and set(plan["saliency"]) == {0}, plan
    assert plan["features"] and min(plan["features"]) > 0, plan
    plan = priorities({**none_read, "pld": ["tased-full"]})
    assert set(plan["saliency"]) == set(plan["features"]) and min(plan["saliency"]) > 0, plan


def test_unknown_config_key_stops_with_its_name(tmp_path: Path) -> None:
    workdir = new_workdir(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"methods": {"avph": {"learning_rate": 0.1}}}))
    result = snakemake(workdir, "-n", "--configfile", str(bad), check=False)
    assert result.returncode != 0
    assert "unknown key 'learning_rate' in config.methods.avph" in result.stderr + result.stdout
    assert "allowed keys:" in result.stderr + result.stdout


@pytest.mark.parametrize(
    "method,variant",
    [("avph", "av-ph"), ("hpcl", "co-av"), ("pld", "tased-full"), ("random", "uniform")],
)
def test_predict_scores_a_video_as_the_pipeline_did(finished_run: Path, method, variant) -> None:
    """`hlp predict` featurises a video with the model's recipe: for a video of the dataset
    its clip scores are the train job's (hlp train --scores)."""
    manifest = pd.read_csv(finished_run / "results/synthetic/manifest.csv", dtype=str)
    test = manifest[manifest["split"] == "test"].iloc[0]
    model = finished_run / f"results/synthetic/models/{method}/{variant}/default/seed0.pt"
    out = finished_run / f"predict-{method}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "highlight_pipeline.cli",
            "predict",
            test["path"],
            "--model",
            str(model),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=finished_run,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    scores = [c["score"] for c in json.loads((out / "scores.json").read_text())["clips"]]
    pipeline = pd.read_json(
        model.with_name("seed0.scores.jsonl"), lines=True, dtype={"video_id": str}
    ).set_index("video_id")
    expected = pipeline.loc[test["video_id"]]  # the file's stem is its video id
    assert len(scores) == len(expected["scores"])
    assert scores == pytest.approx(expected["scores"], rel=1e-5, abs=1e-5)  # float32
    assert (out / "scores.png").stat().st_size > 0 and (out / "reel.mp4").stat().st_size > 0
    written = json.loads((out / "scores.json").read_text())
    if method == "random":  # reads no features: nothing to warn about
        assert written["features"] == {} and written["note"] == ""
    elif method == "pld":  # its own frame cache of the video; a network from random weights
        assert written["features"]["frames"]["extractor"] == "2fps-32x32"
        assert written["features"]["frames"]["weights"] == "random-init"
        assert "random" in written["note"]
    else:  # says which features it used, and that weight-free ones are a fallback
        assert written["features"]["visual"]["weights"] == "weight-free"
        assert "colormotion" in result.stdout and "weight-free features are a fallback" in (
            result.stdout
        )


def test_a_killed_training_job_resumes_from_its_last_epoch(finished_run: Path) -> None:
    """The train rule's own command, as a real process: killed (SIGKILL) after a few epochs,
    run again it goes on from its last finished epoch, and it ends with the model that an
    uninterrupted run gives, tensor for tensor."""
    override = finished_run / "long.yaml"
    override.write_text(yaml.safe_dump({"methods": {"avph": {"epochs": 200}}}))
    target = "results/synthetic/models/avph/av-ph/default/seed0.pt"
    plan = snakemake(
        finished_run, "-n", "-p", target, "--configfile", str(CI_CONFIG), str(override)
    )
    rule_command = next(  # "Shell command: hlp train ... 2> log"
        line[line.index("hlp train") :]
        for line in (plan.stdout + plan.stderr).splitlines()
        if "hlp train" in line
    ).split(" 2> ")[0]
    env = {**venv_env(), "HLP_CHECKPOINT_SECONDS": "1"}  # saved at least every second

    def command(out: Path) -> list[str]:
        return ["bash", "-c", "exec " + re.sub(r"--out \S+", f"--out {out}", rule_command)]

    killed, straight = finished_run / "killed.pt", finished_run / "straight.pt"
    resume = Path(f"{killed}.resume")
    for leftover in (killed, straight, resume):
        leftover.unlink(missing_ok=True)
    job = subprocess.Popen(command(killed), cwd=finished_run, env=env, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    epoch = 0
    while epoch < 5 and time.time() < deadline and job.poll() is None:
        time.sleep(0.2)
        if resume.is_file():
            epoch = torch.load(resume, weights_only=True)["epoch"]
    job.kill()
    job.wait()
    assert 5 <= epoch < 200 and resume.is_file() and not killed.exists()
    saved = torch.load(resume, weights_only=True)["epoch"]
    again = subprocess.run(
        command(killed), cwd=finished_run, env=env, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert f"after epoch {saved}" in again.stderr and not resume.exists()
    subprocess.run(command(straight), cwd=finished_run, env=env, check=True, capture_output=True)
    a, b = (torch.load(p, weights_only=True) for p in (killed, straight))
    assert a["losses"] == b["losses"] and len(a["losses"]) == 200
    state_a, state_b = a["model"]["state_dict"], b["model"]["state_dict"]
    assert state_a.keys() == state_b.keys()
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)


def test_a_backbone_setting_reruns_that_backbone_and_what_reads_it(finished_run: Path) -> None:
    """The weight-free visual extractor's frame rate: its shards are extracted again, the
    audio backbone's are not; every run that reads visual features trains again, the
    random baseline (it reads none) does not."""
    override = finished_run / "fps.yaml"
    override.write_text(yaml.safe_dump({"decode": {"fps": 4}}))
    plan = snakemake(finished_run, "-n", "--configfile", str(CI_CONFIG), str(override)).stdout
    jobs = planned_jobs(plan)
    extracted = planned_outputs(plan, "features")
    shards = ci_config()["features"]["shards"]
    assert len(extracted) == shards and all("/features/colormotion/" in p for p in extracted)
    assert not {"synth", "manifest", "clips"} & set(jobs), jobs
    trained = [p for p in planned_outputs(plan, "train") if p.endswith(".pt")]  # the models
    assert trained and all("/random/" not in p for p in trained)
    config = ci_config(override)
    readers = [(m, v) for m, v in run_list(config) if "visual" in run_inputs(resolve(config, m, v))]
    assert jobs["train"] == len(readers) * len(SEEDS)


def test_a_fresh_copy_of_the_repository_reruns_nothing(finished_run: Path, tmp_path: Path) -> None:
    """Every tracked file copied anew (new mtimes, as after `git clone`), and a package
    source file touched: the finished run has nothing to do."""
    # earlier tests ran other configs in this workdir: bring it back to the CI config's
    snakemake(finished_run, "--cores", "2", "--configfile", str(CI_CONFIG))
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    clone = tmp_path / "clone"
    for name in tracked:
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        if (REPO / name).is_file():
            (clone / name).write_bytes((REPO / name).read_bytes())  # a new mtime
    (REPO / "highlight_pipeline" / "reel.py").touch()
    result = snakemake(
        finished_run,
        "-n",
        "--configfile",
        str(clone / "workflow/configs/ci.yaml"),
        snakefile=clone / "Snakefile",
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Nothing to be done" in result.stdout + result.stderr, result.stdout
