"""Snakemake finds the default profile (profiles/default next to the Snakefile): a bare
`snakemake` call runs with its cores and prints a failing job's log on the console."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from tests.workflow_helpers import CI_CONFIG, REPO, new_workdir, snakemake

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


def test_both_profiles_retry_once_and_leave_memory_to_the_rules() -> None:
    """One declaration of memory and runtime serves both profiles: the rules' (no figure in
    either profile), and both run a failed job once more, attempt-scaled."""
    for name in ("default", "slurm"):
        profile = yaml.safe_load((REPO / f"profiles/{name}/config.yaml").read_text())
        assert profile["retries"] == 1, name
        text = yaml.safe_dump({k: v for k, v in profile.items() if "resources" in k})
        assert "mem_mb" not in text and "runtime" not in text, name


def dry_run_jobs(output: str) -> list[dict]:
    """Per planned job of ``snakemake -n -p``: its rule, threads, resources line and shell
    command."""
    jobs, current = [], None
    for line in output.splitlines():
        stripped = line.strip()
        if stripped.startswith(("rule ", "localrule ")):
            current = {
                "rule": stripped.split()[1].rstrip(":"),
                "resources": "",
                "shell": "",
                "threads": 1,
            }
            jobs.append(current)
        elif current is not None and stripped.startswith("threads:"):
            current["threads"] = int(stripped.split()[1])
        elif current is not None and stripped.startswith("resources:"):
            current["resources"] = stripped
        elif current is not None and stripped.startswith("Shell command: "):
            current["shell"] = stripped.removeprefix("Shell command: ")
    return jobs


GPU_RULES = {"features", "saliency", "train", "explain"}
DECODE_RULES = {"features", "saliency", "frames"}
ONE_NUMERIC_THREAD = (
    "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 HLP_DECODE_THREADS=1 "
)


def test_every_job_hands_its_attempt_scaled_mem_mb_to_hlp(tmp_path: Path) -> None:
    """The plan of the CI config: each job's mem_mb and runtime are its rule's figures
    (training: the registry's), and its command starts with HLP_MEM_MB set to that mem_mb;
    --set-resources changes one rule's, attempt-scaled; --resources caps them."""
    from highlight_pipeline.features.extractors import is_neural
    from highlight_pipeline.memory_guard import extractor_limits, rule_limits
    from highlight_pipeline.methods.registry import get_method

    workdir = new_workdir(tmp_path / "plan")
    args = ("-n", "-p", "--forceall", "--configfile", str(CI_CONFIG))
    jobs = dry_run_jobs(snakemake(workdir, *args).stdout)
    rules = {job["rule"] for job in jobs}
    assert {"synth", "features", "saliency", "train", "table"} <= rules
    assert "score" not in rules  # the train job scores (hlp train --scores)
    for job in jobs:
        if job["rule"] == "all":
            continue
        resources = dict(
            item.split("=", 1) for item in job["resources"].removeprefix("resources: ").split(", ")
        )
        if job["rule"] == "train":
            method = re.search(r"hlp train --method (\w+)", job["shell"])[1]
            spec = get_method(method)
            # and the scoring that follows in the same job (hlp train --scores)
            score_mb, score_minutes = rule_limits("score")
            wanted = (max(spec.mem_mb, score_mb), spec.runtime_minutes + score_minutes)
        elif job["rule"] in ("features", "saliency"):
            # the extractor's own memory where it names one: a weight-free one 4000 MB
            extractor = re.search(r'"extractor":"(\w+)"', job["shell"])[1]
            wanted = extractor_limits(job["rule"], extractor)
            assert wanted[0] == (16000 if is_neural(extractor) else 4000), job
        else:
            wanted = rule_limits(job["rule"])
        assert (int(resources["mem_mb"]), int(resources["runtime"])) == wanted, job
        # jobs that may lease a GPU also pass their runtime: how long they may wait for one
        waits = f"HLP_RUNTIME_MIN={wanted[1]} " if job["rule"] in GPU_RULES else ""
        # jobs that decode take features.threads CPUs, their numeric libraries one thread
        pins = ONE_NUMERIC_THREAD if job["rule"] in DECODE_RULES else ""
        start = f"HLP_MEM_MB={wanted[0]} HLP_ATTEMPT=1 {waits}{pins}hlp "
        assert job["shell"].startswith(start), job
        threads = 2 if job["rule"] == "synth" else 1  # features.threads: 1, the default
        assert job["threads"] == threads, job
    changed = ("--set-resources", "features:mem_mb=300*attempt")
    jobs = dry_run_jobs(snakemake(workdir, *args, *changed).stdout)
    features = [job for job in jobs if job["rule"] == "features"]
    assert features and all(j["shell"].startswith("HLP_MEM_MB=300 ") for j in features)
    assert all(j["shell"].startswith("HLP_MEM_MB=4000 ") for j in jobs if j["rule"] == "saliency")
    # --resources mem_mb=N: a job that asks for more (pseudo in a plan made before its inputs
    # exist: 16000; memory_guard.pseudo_limits) is given N, and its
    # guard enforces N
    jobs = dry_run_jobs(snakemake(workdir, *args, "--resources", "mem_mb=8000").stdout)
    pseudo = [job for job in jobs if job["rule"] == "pseudo"]
    assert pseudo and all(j["shell"].startswith("HLP_MEM_MB=8000 ") for j in pseudo)


def feature_arrays(path: Path) -> dict[str, bytes]:
    """Every dataset of a feature shard, as bytes."""
    import h5py

    found: dict[str, bytes] = {}
    with h5py.File(path, "r") as shard:
        shard.visititems(
            lambda name, obj: (
                found.__setitem__(name, obj[()].tobytes())
                if isinstance(obj, h5py.Dataset)
                else None
            )
        )
    return found


def test_decoding_threads_leave_the_features_unchanged(tmp_path: Path) -> None:
    """The feature rules take features.threads CPUs (here 2), and FFmpeg as many decoder
    threads, but their numeric libraries one thread: log-mel features (float sums of a
    matmul, which OpenBLAS splits by its thread count) come out the same as with one CPU."""
    workdir = new_workdir(tmp_path / "threads")
    overlay = {"features": {"shards": 1, "threads": 2}}
    (workdir / "one_shard.yaml").write_text(yaml.safe_dump(overlay))
    shard = "results/synthetic/features/logmel/shard-0.h5"
    args = (shard, "--cores", "2", "--configfile", str(CI_CONFIG), "one_shard.yaml")
    plan = dry_run_jobs(snakemake(workdir, "-n", "-p", *args).stdout)
    assert [job["threads"] for job in plan if job["rule"] == "features"] == [2]
    features = [job["shell"] for job in plan if job["rule"] == "features"]
    assert all("HLP_DECODE_THREADS=2 hlp" in shell for shell in features)
    snakemake(workdir, *args)
    two = feature_arrays(workdir / shard)
    shutil.rmtree(workdir / Path(shard).parent / ".prev")  # no reuse: extract again
    snakemake(workdir, *args, "--set-threads", "features=1", "--forcerun", "features")
    one = feature_arrays(workdir / shard)
    assert two and any(name.endswith("windows") for name in two)
    assert one == two
