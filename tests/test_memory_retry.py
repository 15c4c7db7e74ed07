"""A job over its memory is stopped by its own guard and retried with more, with real
processes: the `hlp` entry under HLP_MEM_MB, and a Snakemake run of the workflow whose
training job's first attempt has too little memory (highlight_pipeline/memory_guard.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from highlight_pipeline.features.shards import ShardMeta, VideoEntry, write_shard
from highlight_pipeline.memory_guard import (
    EXIT_OUT_OF_MEMORY,
    MB,
    RULE_LIMITS,
    pseudo_limits,
    pseudo_mem_mb,
)
from tests.workflow_helpers import CI_CONFIG, new_workdir, snakemake, venv_env

# `hlp methods` with its command replaced by one that writes its output through
# atomic_output and, inside it, allocates MB megabytes in 8 MB steps (written, so resident),
# then spawns CHILD_MB in a child process that waits; the real entry (cli.main) runs it.
HOG = """
import subprocess, sys, time
from highlight_pipeline import cli
from highlight_pipeline.atomic import atomic_output

out, mb, child_mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def hog(args):
    with atomic_output(out) as tmp:
        tmp.write_text("partial")
        chunks = []
        for _ in range(mb // 8):
            chunks.append(b"x" * (8 << 20))
            time.sleep(0.005)
        if child_mb:
            code = f"import time; x = b'x' * ({child_mb} << 20); print(flush=True); time.sleep(60)"
            child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
            print(child.pid, flush=True)
            child.stdout.readline()
            child.wait()
        tmp.write_text("finished")

cli.cmd_methods = hog
sys.exit(cli.main(["methods"]))
"""
MESSAGE = re.compile(
    r"^hlp methods: out of memory: (\d+) MB resident > the job's mem_mb (\d+) \(attempt (\S+)\);"
    r" Snakemake retries it with more",
    re.MULTILINE,
)


def outside_slurm(extra: dict[str, str]) -> dict[str, str]:
    """The venv's environment with ``extra``, as outside a SLURM job."""
    env = venv_env(extra)
    env.pop("SLURM_JOB_ID", None)
    return env


def guarded(tmp_path: Path, limit: str, mb: int, child_mb: int = 0):
    """Run HOG under HLP_MEM_MB=limit (outside SLURM); return the result and the output."""
    out = tmp_path / "out.txt"
    environ = outside_slurm({"HLP_MEM_MB": limit, "HLP_ATTEMPT": "1"})
    result = subprocess.run(
        [sys.executable, "-c", HOG, str(out), str(mb), str(child_mb)],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
    )
    return result, out


def test_a_command_over_its_memory_is_stopped_and_leaves_no_output(tmp_path: Path) -> None:
    result, out = guarded(tmp_path, "300", mb=1500)
    assert result.returncode == EXIT_OUT_OF_MEMORY, result.stderr[-2000:]
    lines = MESSAGE.findall(result.stderr)
    assert len(lines) == 1, result.stderr[-2000:]  # one line
    used, limit, attempt = lines[0]
    assert int(used) > 300 and int(used) < 1500 and (limit, attempt) == ("300", "1")
    # the open output's temporary file was removed on the way out: nothing looks finished
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_command_within_its_memory_runs_to_the_end(tmp_path: Path) -> None:
    result, out = guarded(tmp_path, "2000", mb=200)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "out of memory" not in result.stderr
    assert out.read_text() == "finished"


def test_child_processes_count_and_are_ended_with_the_command(tmp_path: Path) -> None:
    """The parent stays small; its child's 600 MB put the job over 400 MB."""
    result, out = guarded(tmp_path, "400", mb=0, child_mb=600)
    assert result.returncode == EXIT_OUT_OF_MEMORY, result.stderr[-2000:]
    assert len(MESSAGE.findall(result.stderr)) == 1
    child = int(result.stdout.split()[0])
    for _ in range(50):  # a zombie until init reaps it: gone or no longer running
        if not Path(f"/proc/{child}").exists():
            break
        if Path(f"/proc/{child}/stat").read_text().split(") ")[1].startswith("Z"):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the child process {child} still runs")
    assert not out.exists()


def test_the_real_hlp_entry_over_its_memory_at_start(tmp_path: Path) -> None:
    """`hlp` itself takes more than 1 MB: stopped before its command, with the attempt."""
    env = outside_slurm({"HLP_MEM_MB": "1", "HLP_ATTEMPT": "2"})
    result = subprocess.run(["hlp", "methods"], capture_output=True, text=True, env=env)
    assert result.returncode == EXIT_OUT_OF_MEMORY
    assert re.search(
        r"hlp methods: out of memory: \d+ MB resident > the job's mem_mb 1 "
        r"\(attempt 2\)",
        result.stderr,
    ), result.stderr
    assert result.stdout == ""  # the command did not run


def test_the_guard_stays_aside_under_slurm_and_refuses_a_bad_limit(tmp_path: Path) -> None:
    slurm = venv_env({"HLP_MEM_MB": "1", "SLURM_JOB_ID": "42"})
    result = subprocess.run(["hlp", "methods"], capture_output=True, text=True, env=slurm)
    assert result.returncode == 0 and "avph" in result.stdout  # SLURM's cgroup enforces
    bad = outside_slurm({"HLP_MEM_MB": "lots"})
    result = subprocess.run(["hlp", "methods"], capture_output=True, text=True, env=bad)
    assert result.returncode == 2
    assert "hlp methods: error: HLP_MEM_MB must be a positive number of MB, not 'lots'" in (
        result.stderr
    )


MODEL = "results/synthetic/models/random/uniform/default/seed0.pt"


CONFIG = ("--configfile", str(CI_CONFIG), "small.yaml")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CI config with one seed, in a scratch directory (each test runs what it needs)."""
    if "SLURM_JOB_ID" in os.environ:
        pytest.skip("inside a SLURM job the guard stays aside (the job's cgroup enforces)")
    workdir = new_workdir(tmp_path_factory.mktemp("memory"))
    (workdir / "small.yaml").write_text(yaml.safe_dump({"evaluation": {"seeds": [0]}}))
    return workdir


@pytest.mark.integration
def test_a_training_job_out_of_memory_is_retried_with_more(workdir: Path) -> None:
    """The default profile (retries: 1) and the rule's attempt-scaled mem_mb: attempt 1 of
    the training job gets 100 MB (hlp starts within it, training takes about 300 MB), is
    stopped by its guard on the way, and attempt 2 (4000 MB) writes the model; Snakemake's
    log shows both attempts."""
    memory = ("--set-resources", "train:mem_mb=3900*attempt-3800")
    result = snakemake(workdir, MODEL, *CONFIG, *memory)
    console = result.stdout + result.stderr
    assert (workdir / MODEL).is_file()
    assert console.count("Trying to restart job") == 1, console[-3000:]
    # attempt 1: the guard's line (the job's log, shown by the profile's show-failed-logs)
    assert re.search(
        r"hlp train: out of memory: \d+ MB resident > the job's mem_mb 100 \(attempt 1\);",
        console,
    ), console[-3000:]
    assert "mem_mb 4000" not in console  # attempt 2 stayed within its memory
    text = last_snakemake_log(workdir)
    assert text.count("Error in rule train:") == 1 and "mem_mb=4000" in text
    log = workdir / "results/logs/synthetic/train/random/uniform/default/seed0.log"
    assert "out of memory" not in log.read_text()  # attempt 2's log


def test_a_retried_attempt_is_not_reported_as_a_failed_job(tmp_path: Path) -> None:
    """failures.py after a run with retries: a job whose attempt 2 succeeded is not listed;
    one whose attempts both failed is listed once (Snakemake 9's blocks, shortened)."""
    from highlight_pipeline.failures import failed_jobs

    def block(rule: str, jobid: int) -> str:
        return (
            f"Error in rule {rule}:\n    message: None\n    jobid: {jobid}\n"
            f"    log: {rule}.log (check log file(s) for error details)\n"
            f"Logfile {rule}.log:\n=====\nhlp {rule}: out of memory: ...\n=====\n"
        )

    text = (
        block("train", 0)
        + "Trying to restart job 0.\nSelect jobs to execute...\n"
        + block("clips", 5)
        + "Trying to restart job 5.\n"
        + block("clips", 5)
        + "Exiting because a job execution failed. Look above for error messages\n"
    )
    assert [(job.rule, job.log) for job in failed_jobs(text)] == [("clips", "clips.log")]


def last_snakemake_log(workdir: Path) -> str:
    return sorted((workdir / ".snakemake/log").glob("*.snakemake.log"))[-1].read_text()


def most_at_once(snakemake_log: str, rule: str) -> int:
    """The most jobs of ``rule`` running at the same time, from Snakemake's log (a job
    starts with its ``rule R:`` block's jobid and ends with ``Finished jobid: N``)."""
    running: set[str] = set()
    most, starting = 0, False
    for line in snakemake_log.splitlines():
        stripped = line.strip()
        if stripped in (f"rule {rule}:", f"localrule {rule}:"):
            starting = True
        elif starting and stripped.startswith("jobid: "):
            running.add(stripped.split()[1])
            most, starting = max(most, len(running)), False
        elif stripped.startswith("Finished jobid: "):
            running.discard(stripped.split()[2])
    return most


@pytest.mark.integration
def test_resources_mem_mb_keeps_the_jobs_running_at_once_within_it(workdir: Path) -> None:
    """Two feature shards of a weight-free extractor (4000 MB each, its registry entry) on
    two cores, one decoding thread each (features.threads' default; 2 would let only one
    run on two cores, whatever the memory): one at a time under --resources mem_mb=6000,
    both at once under 8000."""
    shards = [f"results/synthetic/features/colormotion/shard-{k}.h5" for k in (0, 1)]
    snakemake(workdir, *shards, *CONFIG, "--resources", "mem_mb=6000")
    assert most_at_once(last_snakemake_log(workdir), "features") == 1
    again = ("--forcerun", "features", "--resources", "mem_mb=8000")
    snakemake(workdir, *shards, *CONFIG, *again)
    assert most_at_once(last_snakemake_log(workdir), "features") == 2


def test_a_finished_job_logs_its_peak_memory_beside_its_mem_mb() -> None:
    """The last line of a job's log says how much memory it used at most, so that a user
    can size a rule's mem_mb; under SLURM too. Outside a pipeline job, no line."""
    line = re.compile(r"hlp methods: peak memory (\d+) MB of the job's mem_mb 2000$")
    for env in (
        outside_slurm({"HLP_MEM_MB": "2000"}),
        venv_env({"HLP_MEM_MB": "2000", "SLURM_JOB_ID": "42"}),
    ):
        result = subprocess.run(["hlp", "methods"], capture_output=True, text=True, env=env)
        assert result.returncode == 0 and "avph" in result.stdout
        found = line.search(result.stderr.strip().splitlines()[-1])
        assert found and 5 < int(found[1]) < 2000, result.stderr
    plain = outside_slurm({})
    plain.pop("HLP_MEM_MB", None)
    result = subprocess.run(["hlp", "methods"], capture_output=True, text=True, env=plain)
    assert result.returncode == 0 and "peak memory" not in result.stderr


def test_the_peak_is_the_high_water_mark_not_the_memory_at_the_end() -> None:
    """600 MB touched and freed again: the peak still counts them; and it is the job's own,
    not that of the process that started it (this test's, which may be large)."""
    ballast = np.ones(700 * 2**20, dtype=np.uint8)  # the parent's peak: over 700 MB
    script = (
        "import numpy as np\n"
        "from highlight_pipeline.memory_guard import peak_mb\n"
        "before = peak_mb()\n"
        "block = np.ones(600 * 2**20, dtype=np.uint8); del block\n"
        "print(before, peak_mb())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=outside_slurm({})
    )
    del ballast
    before, after = (float(x) for x in result.stdout.split())
    assert before < 300 and after > before + 550, result.stdout


def test_a_pseudo_job_asks_for_the_memory_of_its_dataset(tmp_path: Path) -> None:
    """A pseudo job holds every clip's features in float32: it asks for that (with a
    margin) and its base, read from clips.csv and the shards, not for what a million clips
    need; before its inputs exist (a dry run) the rule's figure."""

    def shard(name: str, widths: list[int]) -> Path:
        path = tmp_path / name
        entries = [
            VideoEntry(
                f"v{i}", "f", np.zeros((3, w), np.float32), np.arange(3.0), np.arange(3.0) + 1
            )
            for i, w in enumerate(widths)
        ]
        write_shard(path, ShardMeta("b", "weight-free", {}, "h"), entries)
        return path

    clips = tmp_path / "clips.csv"
    clips.write_text("video_id,clip,start,end,label\n" + "v0,0,0.0,2.0,0\n" * 50_000)
    visual = [shard("visual-0.h5", []), shard("visual-1.h5", [1040])]  # the first holds no video
    audio = [shard("audio-0.h5", [0, 80])]  # a video without sound, then one with
    mem, minutes = pseudo_limits(clips, [visual, audio])
    held = 50_000 * (1040 + 80) * 4 / MB  # 214 MB of features
    assert mem == pseudo_mem_mb(50_000, [1040, 80]) and held < mem - 1000 < 1.5 * held
    assert minutes == RULE_LIMITS["pseudo"][1]
    assert pseudo_limits(clips, [visual, audio], attempt=2)[0] == 2 * mem
    assert mem < RULE_LIMITS["pseudo"][0] / 10
    # at 1,000,000 clips x (2048 + 512) the job peaked at 9.92 GiB (docs/performance.md)
    assert pseudo_mem_mb(1_000_000, [2048, 512]) > 9.92 * 1024
    assert pseudo_limits(tmp_path / "not-yet.csv", [visual]) == RULE_LIMITS["pseudo"]
