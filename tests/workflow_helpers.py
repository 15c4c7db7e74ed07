"""Running the real Snakefile in a scratch directory (used by the workflow tests)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CI_CONFIG = REPO / "workflow" / "configs" / "ci.yaml"


def venv_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment with the venv's tools (hlp, snakemake) first on PATH."""
    env = {**os.environ, **(extra or {})}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def snakemake(
    workdir: Path,
    *args: str,
    check: bool = True,
    env: dict[str, str] | None = None,
    snakefile: Path = REPO / "Snakefile",
) -> subprocess.CompletedProcess:
    """Run ``snakemake -s SNAKEFILE -d workdir ARGS`` with the venv's tools on PATH (and
    ``env`` added to the environment)."""
    env = venv_env(env)
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(snakefile),
        "-d",
        str(workdir),
        *args,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir)
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def new_workdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "config.yaml", path / "config.yaml")
    return path


def planned_jobs(dry_run_output: str) -> dict[str, int]:
    """Job counts per rule from the 'Job stats' table of ``snakemake -n``."""
    counts: dict[str, int] = {}
    in_table = False
    for line in dry_run_output.splitlines():
        if line.startswith("job ") and "count" in line:
            in_table = True
            continue
        if in_table:
            match = re.match(r"^(\w+)\s+(\d+)$", line.strip())
            if match and match.group(1) != "total":
                counts[match.group(1)] = int(match.group(2))
            elif line.strip().startswith("total"):
                break
    return counts


def _rule_lines(dry_run_output: str):
    """(index of the job, its rule, stripped line) for each line of each job of a
    ``snakemake -n`` plan."""
    job, rule = -1, None
    for line in dry_run_output.splitlines():
        stripped = line.strip()
        if stripped.startswith(("rule ", "localrule ")):
            job, rule = job + 1, stripped.split()[1].rstrip(":")
        yield job, rule, stripped


def planned_outputs(dry_run_output: str, rule: str) -> list[str]:
    """The output paths of the jobs of ``rule`` in a ``snakemake -n`` plan."""
    return [
        p.strip()
        for _, name, line in _rule_lines(dry_run_output)
        if name == rule and line.startswith("output:")
        for p in line.removeprefix("output:").split(",")
    ]


def planned_priorities(dry_run_output: str, rule: str) -> list[int]:
    """The priority of each job of ``rule`` in a ``snakemake -n`` plan (0 where the plan
    prints none)."""
    found: dict[int, int] = {}
    for job, name, line in _rule_lines(dry_run_output):
        if name == rule:
            found.setdefault(job, 0)
            if line.startswith("priority:"):
                found[job] = int(line.removeprefix("priority:"))
    return list(found.values())


def method_jobs(config: dict, method: str) -> dict[str, int]:
    """Jobs that a change of ``methods.METHOD`` reruns, from the registry: train (which
    scores) and evaluate per run of the method and seed (and split scheme), and what shows them."""
    from highlight_pipeline.runs import run_list

    runs = [v for m, v in run_list(config) if m == method]
    per_rule = len(runs) * len(config["evaluation"]["seeds"])
    # the table is an input of the plots and the reel, so both follow it
    return {"train": per_rule, "evaluate": per_rule} | dict.fromkeys(
        ("table", "plots", "reel", "all"), 1
    )
