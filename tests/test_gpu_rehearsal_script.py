"""benchmarks/gpu_rehearsal.sh without a GPU: its syntax, and its dry run (prerequisites and
the plan only: no venv, no Snakemake, nothing written)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_rehearsal.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def test_script_parses_and_is_executable():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    assert os.access(SCRIPT, os.X_OK)


def test_dry_run_checks_and_prints_the_plan(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    env = {
        **os.environ,
        "GPU_REHEARSAL_DRY": "1",
        "PYTHON": sys.executable,
        "OUT": str(out),
        "GPU_REHEARSAL_WORK": str(work),
        "GPU_REHEARSAL_CORES": "16",
    }
    done = subprocess.run(
        ["bash", str(SCRIPT)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    text = done.stdout + done.stderr
    assert done.returncode == 0, text
    plan = [line[2:] for line in done.stdout.splitlines() if line.startswith("+ ")]

    # prerequisites: the interpreter, torch and CUDA, nvidia-smi, the configs
    assert "check: torch" in text or "has no torch" in text
    assert "a real run stops here" in text or "a CUDA device is available" in text
    assert "check: workflow/configs/ci.yaml found" in text
    # its own venv on the machine's torch, the package without dependencies
    assert any("-m venv --system-site-packages" in c for c in plan)
    assert any("pip install --no-deps --no-build-isolation -e" in c for c in plan)
    # the probe: windows/s per backbone on cuda
    assert any(" probe " in c and "r3d34" in c and "cnn14" in c for c in plan)

    def runs(*parts):
        return [c for c in plan if "-m snakemake" in c and all(p in c for p in parts)]

    ci = str(REPO / "workflow" / "configs" / "ci.yaml")
    # the default workflow: a CPU reference, then the GPU jobs on one slot, then two on one
    assert len(runs(ci, "ci-cpu.yaml", "--resources gpu=99", "--cores 16")) == 1
    assert len(runs(ci, "ci-gpu1.yaml", "--resources gpu=1", "--forcerun")) == 1
    assert len(runs(ci, "ci-gpu2.yaml", "--resources gpu=2", "--forcerun")) == 1
    assert "ci-cpu.yaml: device: cpu; features: {amp: false}" in text
    assert "ci-gpu1.yaml: device: cuda; features: {amp: false}" in text
    # the paper rehearsal: its data, youtube.yaml + rehearsal.yaml + the root, amp off and on
    assert any(c.startswith("hlp rehearsal-data youtube ") for c in plan)
    youtube = str(REPO / "workflow" / "configs" / "youtube.yaml")
    rehearsal = str(REPO / "workflow" / "configs" / "rehearsal.yaml")
    assert len(runs(youtube, rehearsal, "reh-root.yaml", "reh-cpu.yaml")) == 1
    assert len(runs(youtube, rehearsal, "reh-gpu1-amp0.yaml", "--resources gpu=1")) == 1
    assert len(runs(youtube, rehearsal, "reh-gpu1-amp1.yaml", "--resources gpu=1")) == 1
    assert len(runs(youtube, rehearsal, "reh-gpu2-amp1.yaml", "--resources gpu=2")) == 1
    assert "reh-gpu1-amp1.yaml: device: cuda; features: {amp: true}" in text
    assert "datasets: {youtube: {root: " in text
    # where it writes, and that nothing was
    assert f"{out}/gpu_rehearsal.md" in text
    assert not out.exists() and not work.exists()


def test_a_real_run_without_cuda_stops_with_a_message(tmp_path):
    """Here (no CUDA): the prerequisites stop it before anything is installed or run."""
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is available here")
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "OUT": str(tmp_path / "out"),
        "GPU_REHEARSAL_WORK": str(tmp_path / "work"),
    }
    env.pop("GPU_REHEARSAL_DRY", None)
    done = subprocess.run(
        ["bash", str(SCRIPT)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "STOP:" in done.stderr and "CUDA" in done.stderr
    assert not (tmp_path / "work").exists()
