"""`snakemake -n` on a folder dataset of many videos: wall time and planned jobs (issue 13).

For each size N the script writes a scratch folder dataset: N empty files ``videos/vNNNNNN.mp4``
listed in ``videos.csv`` (a dry run opens no video: parsing reads videos.csv and stats the
files), and ``highlights.csv`` so that the whole labelled pipeline is planned. Each dry run
is a fresh ``python -m snakemake -n`` process on the repository's Snakefile and its default
profile, in a scratch working directory with ``config.yaml`` and a config naming the folder
as the dataset ``mine``; the time is that of the whole process.

Two states per size:

* ``fresh``: nothing made yet, every job planned.
* ``manifest made``: the manifest job has run (through Snakemake, so that its metadata is
  recorded; a stand-in ``hlp`` on PATH writes its three files instead of probing N empty
  files), and the dry run checks the manifest's rerun triggers before planning the rest.

Baseline, in the same run and alternated with the current workflow: the workflow files of
``--baseline`` (a git revision; the default, d2c1912, is the last one whose manifest rule took
every listed video file as an input), exported with ``git archive`` and run against the same
folder and the installed package. Reference: the default config's dry run.

    python benchmarks/dag.py                          # 10,000, 30,000 and 100,000 videos
    python benchmarks/dag.py --videos 10000 30000 --repeat 1
    python benchmarks/dag.py --baseline none          # the current workflow only
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ["Snakefile", "config.yaml", "workflow", "profiles", "envs"]

STAND_IN_HLP = """#!/bin/sh
# Stand-in for `hlp manifest` (benchmarks/dag.py): writes the three outputs, probes nothing.
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift ;;
    --rejected) rejected=$2; shift ;;
    --splits) splits=$2; shift ;;
  esac
  shift
done
echo video_id,path,duration,fps,frames,has_audio,category,split,fingerprint > "$out"
echo video_id,path,reason > "$rejected"
echo video_id,given > "$splits"
"""


def write_folder(root: Path, videos: int) -> None:
    (root / "videos").mkdir(parents=True)
    rows = ["video_id,path,category,split"]
    for i in range(videos):
        name = f"v{i:06d}"
        (root / "videos" / f"{name}.mp4").touch()
        rows.append(f"{name},videos/{name}.mp4,c{i % 4},{'test' if i % 3 == 0 else 'train'}")
    (root / "videos.csv").write_text("\n".join(rows) + "\n")
    (root / "highlights.csv").write_text(
        "video_id,start,end\n" + "".join(f"v{i:06d},1.0,3.0\n" for i in range(0, videos, 10))
    )


def export_workflow(revision: str, into: Path) -> Path:
    """The workflow files of ``revision`` (git archive) under ``into``."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", revision, *WORKFLOW_FILES],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def make_workdir(path: Path, workflow: Path, root: Path | None) -> Path:
    path.mkdir(parents=True)
    shutil.copy(workflow / "config.yaml", path / "config.yaml")
    if root is not None:
        config = {
            "run_datasets": ["mine"],
            "datasets": {"mine": {"reader": "folder", "root": str(root), "clip_seconds": 2.0}},
        }
        (path / "mine.yaml").write_text(yaml.safe_dump(config))
    return path


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def snakemake(workflow: Path, workdir: Path, *args: str, env: dict | None = None):
    """One fresh snakemake process: (wall seconds, CPU seconds, completed process)."""
    config = ["--configfile", "mine.yaml"] if (workdir / "mine.yaml").is_file() else []
    cmd = [sys.executable, "-m", "snakemake", "-s", str(workflow / "Snakefile")]
    cmd += ["-d", str(workdir), *config, *args]
    start, cpu = time.perf_counter(), child_cpu()
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, env=env)
    wall, cpu = time.perf_counter() - start, child_cpu() - cpu
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return wall, cpu, result


def dry_run(workflow: Path, workdir: Path) -> tuple[float, float, int]:
    """Wall and CPU seconds and the number of planned jobs of ``snakemake -n``."""
    wall, cpu, result = snakemake(workflow, workdir, "-n")
    total = re.search(r"^total\s+(\d+)\s*$", result.stdout, re.M)
    return wall, cpu, int(total.group(1)) if total else 0


def make_manifest(workflow: Path, workdir: Path, bindir: Path) -> None:
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{Path(sys.executable).parent}"}
    env["PATH"] += os.pathsep + os.environ.get("PATH", "")
    snakemake(workflow, workdir, "--cores", "1", "results/mine/manifest.csv", env=env)


def best(runs: list[tuple[float, float, int]], column: int) -> float:
    return min(run[column] for run in runs)


def each(runs: list[tuple[float, float, int]], column: int) -> str:
    return ", ".join(f"{run[column]:.2f}" for run in runs)


def summary(runs: list[tuple[float, float, int]]) -> str:
    return (
        f"{best(runs, 0):.2f} s wall ({each(runs, 0)}), {best(runs, 1):.2f} s CPU ({each(runs, 1)})"
    )


def table_cells(runs: list[tuple[float, float, int]]) -> str:
    return (
        f"{best(runs, 0):.2f} ({each(runs, 0)}) | {best(runs, 1):.2f} ({each(runs, 1)}) "
        f"| {runs[0][2]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--repeat", type=int, default=2, help="dry runs per state and workflow")
    parser.add_argument("--baseline", default="d2c1912", help="git revision, or none")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hlp-dag-") as tmp:
        tmp = Path(tmp)
        bindir = tmp / "bin"
        bindir.mkdir()
        (bindir / "hlp").write_text(STAND_IN_HLP)
        (bindir / "hlp").chmod(0o755)
        workflows = {"current": REPO}
        if args.baseline != "none":
            workflows["baseline"] = export_workflow(args.baseline, tmp / "baseline")

        reference = make_workdir(tmp / "reference", REPO, None)
        runs = [dry_run(REPO, reference) for _ in range(args.repeat)]
        print(f"default config (embedded dataset): {summary(runs)}, {runs[0][2]} jobs\n")

        print("| videos | state | workflow | wall s (each) | CPU s (each) | jobs | ratio |")
        print("|---|---|---|---|---|---|---|")
        for n in args.videos:
            root = tmp / f"folder-{n}"
            start = time.perf_counter()
            write_folder(root, n)
            print(f"(wrote {n} files in {time.perf_counter() - start:.1f} s)", file=sys.stderr)
            workdirs = {
                name: make_workdir(tmp / f"run-{n}-{name}", wf, root)
                for name, wf in workflows.items()
            }
            for state in ("fresh", "manifest made"):
                if state == "manifest made":
                    for name, wf in workflows.items():
                        make_manifest(wf, workdirs[name], bindir)
                found: dict[str, list] = {name: [] for name in workflows}
                for _ in range(args.repeat):  # alternated: the load of the machine varies
                    for name, wf in workflows.items():
                        found[name].append(dry_run(wf, workdirs[name]))
                for name, runs in found.items():
                    ratio = ""
                    if name == "current" and "baseline" in found:
                        base = found["baseline"]
                        ratio = (
                            f"{best(base, 0) / best(runs, 0):.1f}x wall, "
                            f"{best(base, 1) / best(runs, 1):.1f}x CPU"
                        )
                    print(f"| {n:,} | {state} | {name} | {table_cells(runs)} | {ratio} |")
                    sys.stdout.flush()
            shutil.rmtree(root)


if __name__ == "__main__":
    main()
