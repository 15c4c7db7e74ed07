"""The workflow on a real SLURM cluster through profiles/slurm (docs/slurm.md).

CI starts a one-node cluster on its machine first (.ci/slurm/start); where no cluster
answers (no `sinfo`, or it fails) these tests are skipped and say why. A CI-sized config
cut to avph and random, one seed and one shard (14 jobs in 8 SLURM jobs: the profile
groups the light rules) is submitted with the profile as written, while the same config
runs locally beside it; then a training job given too little memory is killed by SLURM
and retried with twice as much.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from highlight_pipeline.memory_guard import (
    DEFAULT_LIMITS,
    RULE_LIMITS,
    extractor_limits,
    pseudo_limits,
    rule_limits,
)
from highlight_pipeline.methods.registry import get_method, method_names
from tests.workflow_helpers import CI_CONFIG, REPO, new_workdir, planned_jobs, snakemake

PROFILE = REPO / "profiles" / "slurm"
# The CI config cut to avph and the random baseline, one seed and one feature shard: still
# synthesis, probing, features, saliency, pseudo-labels, training, scoring, evaluation,
# table, plots and reel (14 jobs in 8 SLURM jobs), as fast as SLURM's latencies allow. The
# cluster has no GPU: `device: cpu`, so that no job asks for one (avph's would, docs/slurm.md).
RUNS = {m: [] for m in method_names()} | {"avph": ["av-ph"], "random": ["uniform"]}
SMALL = {
    "device": "cpu",
    "features": {"shards": 1},
    "evaluation": {"seeds": [0], "runs": RUNS},
}
# What this cluster needs besides the profile: it keeps no accounting database, so the
# plugin asks squeue instead of sacct; its first status check comes after 1 s, not 40 s;
# the logs of successful jobs are kept for the assertions below. And `--jobs`, its CPUs
# (cluster_jobs), as the local run has its cores: Snakemake then chooses by priority which
# ready job goes next, as locally (docs/slurm.md; benchmarks/slurm.py does the same).
CLUSTER_ARGS = (
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "1",
    "--slurm-keep-successful-logs",
)
FINISHED = re.compile(r"\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]\nFinished jobid")
SUBMITTED = re.compile(r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")
# The jobs a SLURM job runs: the --target-jobs of the Snakemake it starts (its log's first
# "Command:" line), each RULE:wildcard=value,...
TARGET_JOBS = re.compile(r"--target-jobs (.*?) --allowed-rules")
# The rules that profiles/slurm runs together in one SLURM job (its `groups`).
PROFILE_GROUPS = yaml.safe_load((PROFILE / "config.yaml").read_text())["groups"]
GROUPS = dict(item.split("=") for item in PROFILE_GROUPS)


def largest_request() -> int:
    """The most memory a job's first attempt asks for (the rules' figures)."""
    return max(mem_mb for mem_mb, _ in [DEFAULT_LIMITS, *RULE_LIMITS.values()])


def skip_reason() -> str | None:
    """Why these tests cannot run here, or None when a SLURM node takes jobs."""
    if shutil.which("sinfo") is None:
        return "no SLURM here (sinfo not found); .ci/slurm/start starts a one-node cluster"
    try:
        result = subprocess.run(
            ["sinfo", "--noheader", "--format=%P %t %m"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"SLURM does not answer (sinfo: {exc}); .ci/slurm/start starts a cluster"
    if result.returncode != 0:
        return f"SLURM does not answer (sinfo: {result.stderr.strip()}); see .ci/slurm/start"
    nodes = [line.split() for line in result.stdout.splitlines() if line.strip()]
    default = [n for n in nodes if n[0].endswith("*") and n[1] in ("idle", "mix", "alloc")]
    if not default:
        return f"no node of the default SLURM partition takes jobs: {result.stdout.strip()!r}"
    if max(int(n[2].rstrip("+")) for n in default) < largest_request():
        return (
            f"the SLURM nodes have {result.stdout.strip()!r} MB, less than the "
            f"{largest_request()} MB that profiles/slurm asks for a job"
        )
    return None


pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster_up() -> None:
    """Skips this module's tests, saying why, where no SLURM cluster takes jobs (asked
    only when they run: `sinfo` takes seconds to fail where slurmctld is down)."""
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)


def cluster_jobs() -> tuple[str, str]:
    """``--jobs`` with the CPUs of the cluster's nodes, all together (sinfo's total)."""
    out = subprocess.run(
        ["sinfo", "--noheader", "--format=%C"], capture_output=True, text=True, check=True
    ).stdout
    return "--jobs", str(sum(int(line.split("/")[3]) for line in out.split()))


def slurm_job(job_id: str) -> dict[str, str]:
    """``scontrol show job`` as a dict (the cluster keeps finished jobs for an hour)."""
    out = subprocess.run(
        ["scontrol", "show", "job", "--oneliner", job_id],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(field.split("=", 1) for field in out.split() if "=" in field)


def job_mem_mb(job: dict[str, str]) -> int:
    """The memory SLURM granted the job (TRES ``mem=16000M``), in MB."""
    value = re.search(r"(?:^|,)mem=([\d.]+)([MGT])", job["TRES"])
    assert value, job["TRES"]
    return round(float(value.group(1)) * {"M": 1, "G": 1024, "T": 1024**2}[value.group(2)])


def job_minutes(job: dict[str, str]) -> int:
    """The job's time limit (``[D-]HH:MM:SS``) in minutes."""
    days, _, clock = job["TimeLimit"].rpartition("-")
    hours, minutes, _ = (int(x) for x in clock.split(":"))
    return int(days or 0) * 1440 + hours * 60 + minutes


def expected(
    rule: str, wildcards: dict[str, str], attempt: int = 1, workdir: Path | None = None
) -> tuple[int, int]:
    """(mem_mb, runtime) that the rule gives a job (memory_guard.RULE_LIMITS, through
    job_resources in common.smk); training from the method's registry entry, plus the
    scoring that follows in the same job (train_limits); pseudo-labels from their inputs
    in ``workdir`` (memory_guard.pseudo_limits)."""
    if rule == "pseudo" and workdir is not None:
        results = workdir / "results" / wildcards["dataset"]
        shards = [
            sorted((results / "features" / backbone).glob("shard-*.h5"))
            for backbone in wildcards["feature_set"].split("+")
        ]
        return pseudo_limits(results / "clips.csv", shards, attempt)
    if rule == "train":
        spec = get_method(wildcards["method"])
        score_mb, score_minutes = rule_limits("score", attempt)
        return max(spec.mem_mb * attempt, score_mb), spec.runtime_minutes * attempt + score_minutes
    if rule in ("features", "saliency"):
        return extractor_limits(rule, wildcards["backbone"], attempt)
    return rule_limits(rule, attempt)


def members(log: Path) -> list[tuple[str, dict[str, str]]]:
    """The jobs (rule, wildcards) that a SLURM job ran, from its kept log."""
    found = TARGET_JOBS.search(log.read_text())
    assert found, f"no --target-jobs in {log}"
    jobs = []
    for target in found.group(1).split():
        rule, _, wildcards = target.partition(":")
        jobs.append((rule, dict(w.split("=", 1) for w in wildcards.split(",") if w)))
    return jobs


def archive_records(path: Path) -> dict[str, bytes]:
    """The records of a ``torch.save`` file, without its archive's folder name (the name
    of the temporary file it was written to, which differs between writes)."""
    with zipfile.ZipFile(path) as archive:
        return {name.split("/", 1)[1]: archive.read(name) for name in archive.namelist()}


def submissions(console: str) -> list[dict]:
    """Every SLURM job the run submitted: the jobs it ran (rule, wildcards), whether it was
    a group job of the profile's `groups`, its SLURM job id and what ``scontrol`` says."""
    found = []
    for _, slurm_id, log in SUBMITTED.findall(console):
        log_path = Path(log)
        ran = members(log_path)
        found.append(
            {
                "members": ran,
                "rules": sorted({rule for rule, _ in ran}),
                "group": any(p.name.startswith("group_") for p in log_path.parents),
                "id": slurm_id,
                "log": log_path,
                "job": slurm_job(slurm_id),
            }
        )
    return found


@pytest.fixture(scope="module")
def runs(cluster_up: None, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The small config on SLURM and, at the same time, locally (default profile)."""
    cluster = new_workdir(tmp_path_factory.mktemp("slurm_run"))
    local = new_workdir(tmp_path_factory.mktemp("local_run"))
    for workdir in (cluster, local):
        (workdir / "small.yaml").write_text(yaml.safe_dump(SMALL))
    config = ("--configfile", str(CI_CONFIG), str(cluster / "small.yaml"))
    slurm_args = ("--workflow-profile", str(PROFILE), *CLUSTER_ARGS, *cluster_jobs(), *config)
    plan = snakemake(cluster, "-n", *slurm_args).stdout
    with ThreadPoolExecutor(max_workers=1) as pool:
        local_run = pool.submit(snakemake, local, "--cores", "2", *config)
        result = snakemake(cluster, *slurm_args)
        local_run.result()
    console = result.stdout + result.stderr
    return {
        "cluster": cluster,
        "local": local,
        "args": slurm_args,
        "plan": planned_jobs(plan),
        "console": console,
        "jobs": submissions(console),
    }


def default_partition() -> str:
    out = subprocess.run(["sinfo", "--noheader", "--format=%P"], capture_output=True, text=True)
    return next(p.rstrip("*") for p in out.stdout.split() if p.endswith("*"))


def test_every_job_ran_in_a_slurm_job_with_the_rules_resources(runs) -> None:
    """Each planned job (but the local `all`) ran once, in a SLURM job of this run that
    completed on the node, in the default partition, with the rule's memory and time limit;
    a group job with its members' (the most memory of one, the sum of their runtimes for a
    chain; Snakemake adds up what may run side by side)."""
    jobs = runs["jobs"]
    planned = {rule: n for rule, n in runs["plan"].items() if rule != "all"}  # `all`: local
    per_rule: dict[str, int] = {}
    for job in jobs:
        for rule, _ in job["members"]:
            per_rule[rule] = per_rule.get(rule, 0) + 1
    assert per_rule == planned
    run_id = re.search(r"SLURM run ID: (\S+)", runs["console"]).group(1)
    partition = default_partition()
    for job in jobs:
        info = job["job"]
        assert info["JobState"] == "COMPLETED", (job["rules"], info)
        assert info["JobName"] == run_id and info["NodeList"] == "localhost"
        assert info["Partition"] == partition  # the profile names none: the default
        limits = [expected(r, w, workdir=runs["cluster"]) for r, w in job["members"]]
        got = (job_mem_mb(info), job_minutes(info))
        if len(limits) == 1:
            assert got == limits[0], job["rules"]
        else:
            mems, minutes = [m for m, _ in limits], [t for _, t in limits]
            assert max(mems) <= got[0] <= sum(mems), (job["rules"], got, limits)
            assert max(minutes) <= got[1] <= sum(minutes), (job["rules"], got, limits)
            if GROUPS[job["rules"][0]] == "run":  # train (and score) -> evaluate: one chain
                assert got == (max(mems), sum(minutes)), (job["rules"], got, limits)
        assert "--attempt 1" in job["log"].read_text()  # the job's own log, kept
    # each rule's log is there as on a local run
    assert len(list((runs["cluster"] / "results/logs").rglob("*.log"))) >= sum(planned.values())


def test_light_rules_run_together_in_the_profiles_groups(runs) -> None:
    """profiles/slurm's `groups`: a dataset's synthesis, probing and clips in one SLURM job;
    each run's training, scoring and evaluation in one; the table, plots and reel in one.
    Feature extraction and pseudo-labels stay jobs of their own."""
    jobs = runs["jobs"]
    grouped = [job for job in jobs if job["group"]]
    assert {GROUPS[job["rules"][0]] for job in grouped} == {"prepare", "run", "report"}
    for job in jobs:
        names = {GROUPS.get(rule) for rule in job["rules"]}
        assert len(names) == 1, job["rules"]  # no job mixes groups
        assert job["group"] == (names != {None}), job["rules"]
    assert sorted(job["rules"] for job in grouped) == [
        ["clips", "manifest", "synth"],
        ["evaluate", "train"],
        ["evaluate", "train"],
        ["plots", "reel", "table"],
    ]
    planned = sum(n for rule, n in runs["plan"].items() if rule != "all")
    assert (len(jobs), planned) == (8, 14)  # 14 jobs in 8 SLURM jobs


def test_each_slurm_job_starts_snakemake_once_and_is_seen_done_soon(runs) -> None:
    """highlight_pipeline/slurm_executor.py: a SLURM job's Snakemake runs its jobs itself
    (no `srun` and second Snakemake per job), and the login node's Snakemake sees a job
    finished within seconds of its end (a status check every second here), not after the
    plugin's growing waits (11 s, 21 s, ... after a check that found none finished)."""
    finished = [
        datetime.strptime(stamp, "%a %b %d %H:%M:%S %Y").timestamp()
        for stamp in FINISHED.findall(runs["console"])
    ]
    for job in runs["jobs"]:
        log = job["log"].read_text()
        assert log.count("Building DAG of jobs") == 1, job["rules"]
        assert "--executor slurm-jobstep" not in log and "srun" not in log, job["rules"]
        end = datetime.fromisoformat(job["job"]["EndTime"]).timestamp()
        seen = min(t for t in finished if t >= end - 1)
        assert seen - end <= 8, (job["rules"], seen - end)


def test_results_equal_a_local_run(runs) -> None:
    """Same machine, same packages: the tables and every score file are byte-identical."""
    cluster, local = runs["cluster"] / "results", runs["local"] / "results"
    tables = sorted(p.relative_to(local) for p in (local / "tables").iterdir())
    assert {p.suffix for p in tables} == {".md", ".csv", ".tex"}
    scores = sorted(p.relative_to(local) for p in local.rglob("*.scores.jsonl"))
    assert len(scores) == runs["plan"]["train"]
    for path in tables + scores:
        assert (cluster / path).read_bytes() == (local / path).read_bytes(), path


def test_nothing_to_do_after_the_slurm_run(runs) -> None:
    again = snakemake(runs["cluster"], "-n", *runs["args"])
    assert "Nothing to be done" in again.stdout + again.stderr


def test_training_killed_for_memory_is_retried_with_twice_as_much(runs, tmp_path: Path) -> None:
    """A training job asking 256 MB (less than it needs) is killed by SLURM; the profile's
    retry submits attempt 2 with 512 MB, and the rule's runtime doubles with it."""
    workdir = tmp_path / "oom"
    shutil.copytree(runs["cluster"], workdir, symlinks=True)  # mtimes kept: nothing stale
    model = "results/synthetic/models/random/uniform/default/seed0.pt"
    memory = ("--set-resources", "train:mem_mb=256*attempt")  # replaces the rule's
    result = snakemake(workdir, *runs["args"], *memory, "--force", model)
    console = result.stdout + result.stderr
    jobs = submissions(console)
    assert len(jobs) == 2, f"not one failed attempt and one retry:\n{console[-3000:]}"
    first, second = jobs
    assert first["rules"] == second["rules"] == ["train"]
    assert "Trying to restart job" in console
    minutes = [expected("train", {"method": "random"}, attempt)[1] for attempt in (1, 2)]
    assert first["job"]["JobState"] in ("OUT_OF_MEMORY", "FAILED")  # which step was killed
    assert (job_mem_mb(first["job"]), job_minutes(first["job"])) == (256, minutes[0])
    killed = first["log"].read_text()
    assert "oom-kill" in killed or "exceeded memory limit" in killed, killed[-2000:]
    assert "--attempt 1" in killed and "--attempt 2" in second["log"].read_text()
    assert second["job"]["JobState"] == "COMPLETED"
    assert (job_mem_mb(second["job"]), job_minutes(second["job"])) == (512, minutes[1])
    # the retried job wrote the same model as the first run
    assert archive_records(workdir / model) == archive_records(runs["cluster"] / model)
