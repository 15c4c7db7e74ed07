"""The CI workflow on SLURM (profiles/slurm) against the same workflow run locally (issue 22).

Each repeat runs, from the same inputs in fresh folders of their own, one after the other
and in alternating order:

* ``local``: ``snakemake --cores 2`` (profiles/default), the reference;
* ``slurm``: ``snakemake --workflow-profile profiles/slurm`` plus what the one-node CI
  cluster needs (the arguments of tests/test_slurm.py: ``squeue`` for the status, a check
  every second, kept logs) and ``--jobs`` set to the cluster's CPUs, as the local run has
  its 2 cores (``--jobs 0``: the profile's 50). With more jobs than the cluster runs at
  once, Snakemake hands SLURM every job that is ready, and SLURM starts whichever is
  queued when a CPU frees: here the saliency maps and the random baseline's run, which
  were ready first, took the CPUs that the features jobs left, and the pseudo-labels,
  submitted a second later when Snakemake saw the features end, waited 4 s for a CPU.
  With ``--jobs`` at the cluster's size Snakemake keeps the rest and chooses by priority,
  as a local run does (docs/slurm.md);
* ``baseline`` (with ``--baseline REV``): the same on the workflow files (Snakefile,
  workflow/, profiles/, config.yaml) of a git revision, exported with ``git archive``, run
  against the installed package.

It prints each run's wall time (from the start of the ``snakemake`` process to its end), the
medians, the ratio SLURM / local, whether every result table (Markdown, CSV, LaTeX) and
every score file is byte-equal to the local run's, and where a SLURM run's time went: its
SLURM jobs, their waits in the queue (submit to start) and their time on the node (start
to end, from ``scontrol``), and what is left, the time between a job's end and the next
submission (the executor's status checks and Snakemake on the login node).

The CI workflow is tests/test_slurm.py's: workflow/configs/ci.yaml cut to avph and the
random baseline, one seed and one feature shard, ``device: cpu`` (``--full``: ci.yaml as it
is). A one-node cluster must answer (``.ci/slurm/start``, as root).

    python benchmarks/slurm.py                       # 1 repeat
    python benchmarks/slurm.py --repeats 3 --baseline HEAD
    python benchmarks/slurm.py --jobs 0              # the profile's jobs: 50
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CI_CONFIG = REPO / "workflow" / "configs" / "ci.yaml"
WORKFLOW_FILES = ["Snakefile", "config.yaml", "workflow", "profiles", "envs"]
METHODS = ("avph", "chd", "hpcl", "pld", "random")
# tests/test_slurm.py's cut of the CI config (16 jobs).
SMALL = {
    "device": "cpu",
    "features": {"shards": 1},
    "evaluation": {
        "seeds": [0],
        "runs": {m: [] for m in METHODS} | {"avph": ["av-ph"], "random": ["uniform"]},
    },
}
# What the one-node CI cluster needs besides the profile (as tests/test_slurm.py): no
# accounting database, so squeue for the status; a status check every second; logs of
# successful jobs kept.
CLUSTER_ARGS = (
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "1",
    "--slurm-keep-successful-logs",
)


def cluster_cpus() -> int:
    """The CPUs of the cluster's nodes, all together (sinfo's total)."""
    out = subprocess.run(
        ["sinfo", "--noheader", "--format=%C"], capture_output=True, text=True, check=True
    ).stdout
    return sum(int(line.split("/")[3]) for line in out.split())


SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+)")


def venv_path() -> str:
    return f"{Path(sys.executable).parent}:{__import__('os').environ.get('PATH', '')}"


def snakemake(workdir: Path, snakefile: Path, *args: str) -> tuple[float, str]:
    """Runs ``snakemake -s SNAKEFILE -d WORKDIR ARGS``; (wall seconds, console)."""
    import os

    env = {**os.environ, "PATH": venv_path()}
    cmd = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "-d", str(workdir), *args]
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir)
    wall = time.perf_counter() - start
    console = result.stdout + result.stderr
    if result.returncode != 0:
        raise SystemExit(f"snakemake failed in {workdir}:\n{console[-4000:]}")
    return wall, console


def export_workflow(rev: str, into: Path) -> Path:
    """The workflow files of git revision ``rev`` in ``into``; its Snakefile."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, *WORKFLOW_FILES],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "Snakefile"


def slurm_times(job_id: str) -> dict[str, float]:
    """Submit, start and end of a SLURM job (scontrol keeps finished jobs MinJobAge)."""
    out = subprocess.run(
        ["scontrol", "show", "job", "--oneliner", job_id],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    fields = dict(f.split("=", 1) for f in out.split() if "=" in f)
    return {
        k: datetime.fromisoformat(fields[f"{k.title()}Time"]).timestamp()
        for k in ("submit", "start", "end")
    }


def breakdown(console: str, wall: float) -> str:
    """Where a SLURM run's time went (its jobs' queue waits and time on the node)."""
    jobs = [slurm_times(j) for j in SUBMITTED.findall(console)]
    if not jobs:
        return "no SLURM job"
    queued = sum(j["start"] - j["submit"] for j in jobs)
    on_node = sum(j["end"] - j["start"] for j in jobs)
    # the time some job was queued or running, against the wall time
    spans = sorted((j["submit"], j["end"]) for j in jobs)
    busy, until = 0.0, spans[0][0]
    for begin, end in spans:
        busy += max(0.0, end - max(begin, until))
        until = max(until, end)
    return (
        f"{len(jobs)} SLURM jobs; queued {queued:.0f} s and on the node {on_node:.0f} s"
        f" (summed over jobs); some job queued or running {busy:.0f} s of the {wall:.0f} s;"
        f" none: {wall - busy:.0f} s (start-up on the login node, status-check latency)"
    )


def timeline(console: str, workdir: Path) -> str:
    """Each SLURM job of a run: what it ran (its log folder under .snakemake/slurm_logs),
    and its submit, start and end in seconds from the first submission."""
    names = {
        log.stem: str(log.parent.relative_to(workdir / ".snakemake" / "slurm_logs"))
        for log in (workdir / ".snakemake" / "slurm_logs").rglob("*.log")
    }
    jobs = {j: slurm_times(j) for j in SUBMITTED.findall(console)}
    if not jobs:
        return "no SLURM job"
    zero = min(t["submit"] for t in jobs.values())
    lines = [f"{'submit':>7s} {'start':>6s} {'end':>6s}  job"]
    for job_id, t in sorted(jobs.items(), key=lambda item: item[1]["submit"]):
        s, b, e = (t[k] - zero for k in ("submit", "start", "end"))
        lines.append(f"{s:7.0f} {b:6.0f} {e:6.0f}  {names.get(job_id, job_id)}")
    return "\n".join(lines)


def same_results(local: Path, other: Path) -> tuple[bool, int]:
    """Whether every table and score file of ``other`` is byte-equal to ``local``'s."""
    local, other = local / "results", other / "results"
    files = sorted(p.relative_to(local) for p in (local / "tables").iterdir())
    files += sorted(p.relative_to(local) for p in local.rglob("*.scores.jsonl"))
    equal = all(
        (other / p).is_file() and (other / p).read_bytes() == (local / p).read_bytes()
        for p in files
    )
    return equal, len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--baseline", help="git revision whose workflow files to run too")
    parser.add_argument("--full", action="store_true", help="ci.yaml as it is")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folders")
    parser.add_argument(
        "--timeline", action="store_true", help="print each SLURM job's submit, start and end"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        help="jobs Snakemake has on the cluster at once (default: the cluster's CPUs, as a "
        "local run has its cores; 0: the profile's `jobs`)",
    )
    parser.add_argument(
        "--compare-jobs",
        type=int,
        metavar="N",
        help="also run the SLURM workflow with --jobs N in each repeat (0: the profile's)",
    )
    args = parser.parse_args()
    if shutil.which("sinfo") is None or subprocess.run(["sinfo"], capture_output=True).returncode:
        raise SystemExit("no SLURM cluster answers; start one with .ci/slurm/start (root)")

    def with_jobs(jobs: int) -> tuple[str, ...]:
        return (*CLUSTER_ARGS, "--jobs", str(jobs)) if jobs else CLUSTER_ARGS

    default_jobs = cluster_cpus() if args.jobs is None else args.jobs

    scratch = Path(tempfile.mkdtemp(prefix="hlp-slurm-bench-"))
    # name -> (Snakefile, the cluster's arguments; None: the local run)
    runs: dict[str, tuple[Path, tuple[str, ...] | None]] = {
        "local": (REPO / "Snakefile", None),
        "slurm": (REPO / "Snakefile", with_jobs(default_jobs)),
    }
    if args.compare_jobs is not None:
        runs[f"slurm --jobs {args.compare_jobs or 'profile'}"] = (
            REPO / "Snakefile",
            with_jobs(args.compare_jobs),
        )
    if args.baseline:
        runs["baseline"] = (
            export_workflow(args.baseline, scratch / "baseline-workflow"),
            runs["slurm"][1],
        )
    for name, (_, cluster_args) in runs.items():
        if cluster_args is not None:
            print(f"{name}: {' '.join(cluster_args)}", flush=True)
    small = scratch / "small.yaml"
    small.write_text(yaml.safe_dump({} if args.full else SMALL))
    config = ("--configfile", str(CI_CONFIG), str(small))
    walls: dict[str, list[float]] = {name: [] for name in runs}
    equal = True
    try:
        for repeat in range(args.repeats):
            order = list(runs) if repeat % 2 == 0 else list(reversed(runs))
            folders = {}
            for name in order:
                snakefile, cluster_args = runs[name]
                workdir = scratch / f"{re.sub(r'[^a-z0-9]+', '-', name)}-{repeat}"
                workdir.mkdir()
                shutil.copy(snakefile.parent / "config.yaml", workdir / "config.yaml")
                if cluster_args is None:
                    run_args = ("--cores", "2", *config)
                else:
                    profile = snakefile.parent / "profiles" / "slurm"
                    run_args = ("--workflow-profile", str(profile), *cluster_args, *config)
                wall, console = snakemake(workdir, snakefile, *run_args)
                walls[name].append(wall)
                folders[name] = workdir
                extra = "" if name == "local" else f"  ({breakdown(console, wall)})"
                print(f"repeat {repeat}: {name:8s} {wall:6.1f} s{extra}", flush=True)
                if args.timeline and name != "local":
                    print(timeline(console, workdir), flush=True)
            for name in folders:
                if name != "local":
                    same, count = same_results(folders["local"], folders[name])
                    equal &= same
                    print(
                        f"repeat {repeat}: {name} tables and scores equal to local's "
                        f"({count} files): {same}",
                        flush=True,
                    )
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            print(f"scratch folders kept in {scratch}")
    local = statistics.median(walls["local"])
    print(f"\nmedian of {args.repeats}: local {local:.1f} s")
    for name in walls:
        if name != "local":
            median = statistics.median(walls[name])
            print(f"median of {args.repeats}: {name} {median:.1f} s, {median / local:.2f}x local")
    print(f"tables and scores equal: {equal}")


if __name__ == "__main__":
    main()
