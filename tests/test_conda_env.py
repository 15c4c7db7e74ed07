"""envs/pipeline.yaml (the rules' conda environment) against what the tests run with.

No conda channel is reachable where these tests run, so the environment itself is never
built here: these checks keep its pins equal to the installed versions, its package list
complete, and its post-deploy script (which installs the package) well formed and able to
find the checkout from where Snakemake runs it.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
ENV_FILE = REPO / "envs" / "pipeline.yaml"
# Snakemake's name for it: the env file's with .yaml replaced (deployment/conda.py)
POST_DEPLOY = ENV_FILE.with_name(ENV_FILE.name.removesuffix(".yaml") + ".post-deploy.sh")
# Snakemake and its executor plugin drive the rules; the jobs never import them.
NOT_IN_ENV = {"snakemake", "snakemake-executor-plugin-slurm"}


def env_spec() -> dict:
    return yaml.safe_load(ENV_FILE.read_text())


def conda_entries() -> list[str]:
    return [d for d in env_spec()["dependencies"] if isinstance(d, str)]


def pip_entries() -> list[str]:
    lists = [d["pip"] for d in env_spec()["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(lists) == 1, "envs/pipeline.yaml: expected one `pip:` list"
    return lists[0]


def pip_requirements() -> dict[str, Requirement]:
    return {canonicalize_name(r.name): r for r in map(Requirement, pip_entries())}


def runtime_dependencies() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [Requirement(d) for d in project["dependencies"]]


def test_no_editable_or_path_entries():
    for entry in pip_entries() + conda_entries():
        assert not entry.startswith(("-e", "--editable", ".", "/", "file:")), entry
    assert all(" -e " not in f" {e} " for e in pip_entries())


@pytest.mark.parametrize("entry", pip_entries())
def test_pip_pin_equals_installed_version(entry):
    requirement = Requirement(entry)
    specs = list(requirement.specifier)
    assert len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version, (
        f"{entry}: pin one exact version with =="
    )
    pinned = Version(specs[0].version)
    try:
        installed = importlib.metadata.version(requirement.name)
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"{requirement.name} is pinned in envs/pipeline.yaml but not installed")
    # torch's local label (+cpu, +cu128) names the build, not the version
    assert Version(installed).public == str(pinned), (
        f"envs/pipeline.yaml pins {entry}, the tests run with {requirement.name} {installed}"
    )


def test_every_runtime_dependency_is_pinned_in_the_env():
    pins = pip_requirements()
    for dependency in runtime_dependencies():
        name = canonicalize_name(dependency.name)
        if name in NOT_IN_ENV:
            continue
        assert name in pins, f"{dependency.name} (pyproject.toml) is missing from pipeline.yaml"
        pinned = next(iter(pins[name].specifier)).version
        assert dependency.specifier.contains(pinned, prereleases=True), (
            f"pipeline.yaml pins {name}=={pinned}, outside pyproject.toml's {dependency}"
        )


def test_conda_side():
    entries = conda_entries()
    python = [e for e in entries if e.split("=")[0] == "python"]
    assert python == [f"python={sys.version_info.major}.{sys.version_info.minor}"]
    assert "pip" in entries
    # the post-deploy script builds the package without build isolation (offline)
    assert any(e.startswith("setuptools") for e in entries)
    # an ffmpeg on PATH would replace imageio-ffmpeg's executable (video/ffmpeg.py)
    assert not any(e.split("=")[0].split(">")[0].strip() == "ffmpeg" for e in entries)


def test_post_deploy_script_is_there_executable_and_installs_the_package():
    assert POST_DEPLOY == REPO / "envs" / "pipeline.post-deploy.sh"
    assert POST_DEPLOY.is_file()
    assert os.access(POST_DEPLOY, os.X_OK), "chmod +x envs/pipeline.post-deploy.sh"
    text = POST_DEPLOY.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")  # Snakemake runs it with its shebang
    install = [line for line in text.splitlines() if "pip install" in line and "#" not in line]
    assert len(install) == 1, install
    for flag in ("--no-deps", "--no-build-isolation", "-e"):
        assert flag in install[0].split()
    subprocess.run(["bash", "-n", str(POST_DEPLOY)], check=True)


def _run_post_deploy(tmp_path: Path, script: Path, cwd: Path, parent_args=(), env=None):
    """Run the script with a stand-in ``python`` and ``hlp`` on PATH (the stand-in records
    its arguments and installs nothing); returns (exit code, output, recorded calls)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    calls = tmp_path / "calls.log"
    (bin_dir / "python").write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\n')
    (bin_dir / "hlp").write_text("#!/bin/sh\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    environ = {k: v for k, v in os.environ.items() if k != "HLP_REPO"}
    environ.update(PATH=f"{bin_dir}{os.pathsep}{environ['PATH']}", **(env or {}))
    # as Snakemake does: a shell runs `/usr/bin/env bash COPY`, from a Python process
    launcher = (
        "import subprocess, sys; sys.exit(subprocess.run(['bash', '-c', "
        f"'/usr/bin/env bash {script}']).returncode)"
    )
    done = subprocess.run(
        [sys.executable, "-c", launcher, *parent_args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    recorded = calls.read_text().splitlines() if calls.exists() else []
    calls.unlink(missing_ok=True)
    return done.returncode, done.stdout + done.stderr, recorded


@pytest.mark.skipif(
    shutil.which("bash") is None or not Path("/proc/self").exists(), reason="needs bash and /proc"
)
def test_post_deploy_script_finds_the_checkout(tmp_path):
    root = str(REPO.resolve())
    expected = f"-m pip install --no-deps --no-build-isolation --no-input -e {root}"
    # Snakemake runs a copy under <workdir>/.snakemake/conda/
    elsewhere = tmp_path / "workdir"
    copy = elsewhere / ".snakemake" / "conda" / "0123abcd.post-deploy.sh"
    copy.parent.mkdir(parents=True)
    shutil.copy(POST_DEPLOY, copy)

    # by hand, from anywhere: found from the script's own place
    rc, out, calls = _run_post_deploy(tmp_path, POST_DEPLOY, tmp_path)
    assert rc == 0, out
    assert calls[0] == expected and calls[1] == "-c import highlight_pipeline"
    # snakemake in the checkout: the copy, run in the checkout
    rc, out, calls = _run_post_deploy(tmp_path, copy, REPO)
    assert rc == 0 and calls[0] == expected, out
    # snakemake -s CHECKOUT/Snakefile -d ELSEWHERE: the copy, run elsewhere
    rc, out, calls = _run_post_deploy(
        tmp_path, copy, elsewhere, parent_args=("-s", str(REPO / "Snakefile"))
    )
    assert rc == 0 and calls[0] == expected, out
    # HLP_REPO wins
    rc, out, calls = _run_post_deploy(tmp_path, copy, elsewhere, env={"HLP_REPO": root})
    assert rc == 0 and calls[0] == expected, out
    # nothing to go by: a clear failure, no install
    rc, out, calls = _run_post_deploy(tmp_path, copy, elsewhere)
    assert rc == 1 and calls == [] and "HLP_REPO" in out, out
