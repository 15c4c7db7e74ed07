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
    # the device checks, one short call after the probe and before the workflows
    checks = [i for i, c in enumerate(plan) if " checks " in c]
    assert len(checks) == 1
    shown = plan[checks[0]].replace("\\,", ",")  # the plan quotes as printf %q does
    assert shown.endswith(" cuda slots,amp-loud,resume,pld,fast-paths")
    assert " cuda " in plan[checks[0]] and "checks.json" in plan[checks[0]]
    probe = next(i for i, c in enumerate(plan) if " probe " in c)
    first_run = next(i for i, c in enumerate(plan) if "-m snakemake" in c)
    assert probe < checks[0] < first_run
    assert "at most 150 s together" in text

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


def _dry(tmp_path, **extra) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "GPU_REHEARSAL_DRY": "1",
        "PYTHON": sys.executable,
        "OUT": str(tmp_path / "out"),
        "GPU_REHEARSAL_WORK": str(tmp_path / "work"),
        **extra,
    }
    return subprocess.run(
        ["bash", str(SCRIPT)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )


def test_a_subset_of_phases_runs_only_those_and_the_checks_take_their_own_list(tmp_path):
    done = _dry(
        tmp_path,
        GPU_REHEARSAL_PHASES="checks",
        GPU_REHEARSAL_CHECKS="slots,pld",
        GPU_REHEARSAL_CHECKS_LIMIT_S="40",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    plan = [line[2:] for line in done.stdout.splitlines() if line.startswith("+ ")]
    shown = [c.replace("\\,", ",") for c in plan if " checks " in c]
    assert len(shown) == 1 and shown[0].endswith(" cuda slots,pld")
    assert not [c for c in plan if " probe " in c or "-m snakemake" in c]
    assert "at most 40 s together" in done.stdout


def _helper(tmp_path: Path) -> Path:
    """The script's Python helper, as the script writes it (its here-document)."""
    text = SCRIPT.read_text()
    start = text.index("<<'PYTHON'\n") + len("<<'PYTHON'\n")
    end = text.index("\nPYTHON\n", start)
    helper = tmp_path / "helper.py"
    helper.write_text(text[start:end] + "\n")
    return helper


def test_the_slots_check_leases_two_slots_at_once(tmp_path):
    """The check itself, here on two fake slots (HLP_FAKE_GPUS=2; the jobs run on the CPU)."""
    import json

    helper, out = _helper(tmp_path), tmp_path / "checks.json"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("HLP_FAKE_GPUS", None)
    cmd = [sys.executable, str(helper), "checks", str(REPO), str(out), str(tmp_path / "w"), "cpu"]
    done = subprocess.run(
        [*cmd, "slots"], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(out.read_text())["checks"]["slots"]
    assert found["ok"] is True, found
    assert found["kind"].startswith("fake") or found["kind"] == "real"
    assert sorted(job["slot"] for job in found["jobs"]) == [0, 1]
    assert found["distinct_slots"] and found["ran_together"]
    # a check that fails to run is reported, not fatal to the others
    done = subprocess.run(
        [*cmd, "no-such-check,slots"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(out.read_text())["checks"]
    assert found["no-such-check"]["ok"] is False and "KeyError" in found["no-such-check"]["error"]
    assert found["slots"]["ok"] is True


def test_the_report_shows_a_row_per_device_check(tmp_path):
    import json

    helper = _helper(tmp_path)
    state, out = tmp_path / "state", tmp_path / "out"
    (out / "raw").mkdir(parents=True)
    state.mkdir()
    (state / "phases.tsv").write_text("checks\tchecks\t-\tcuda\t-\t1\t0\t10.0\t70.5\t-\tlog\n")
    checks = {
        "slots": {
            "ok": True,
            "seconds": 6.5,
            "kind": "real",
            "jobs": [{"device": "cuda:0", "slot": 0}, {"device": "cuda:1", "slot": 1}],
            "distinct_slots": True,
            "ran_together": True,
        },
        "amp-loud": {
            "ok": True,
            "seconds": 9.0,
            "clip": "6.0 s",
            "fp32": "11 windows, non-finite 0",
            "amp": "11 windows, non-finite 0",
            "max_abs": 0.0123,
            "min_cosine": 0.99991,
        },
        "resume": {
            "ok": True,
            "seconds": 30.0,
            "resumed_without_gpus": {
                "exit": 0,
                "saved_epoch": 2,
                "cuda_states_saved": 1,
                "result": {"losses": [1.0] * 6},
            },
            "same_device_bitwise": True,
        },
        "pld": {
            "ok": True,
            "seconds": 12.0,
            "pinned_batches": True,
            "train_s": 3.0,
            "score_windows_per_s_cuda": 250.0,
            "score_windows_per_s_cpu": 20.0,
            "max_abs_vs_cpu": 2e-6,
            "nonfinite": 0,
            "scored_clips": 48,
        },
        "fast-paths": {
            "ok": True,
            "seconds": 8.0,
            "rows": [
                {
                    "backbone": "i3d",
                    "batch": 8,
                    "windows_per_s_plain": 400.0,
                    "windows_per_s_fast": 200.0,
                    "max_abs": 1e-5,
                }
            ],
            "batch_bound": {"i3d_batch_8": 8, "i3d_batch_64": 64, "free_mib": 80000.0},
        },
        "pld-broken": {"ok": False, "seconds": 1.0, "error": "RuntimeError: CUDA error | x"},
    }
    (out / "raw" / "checks.json").write_text(json.dumps({"device": "cuda", "checks": checks}))
    done = subprocess.run(
        [sys.executable, str(helper), "report", str(state), str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    text = (out / "gpu_rehearsal.md").read_text()
    assert "## Device checks" in text and "| checks | checks | cuda |" in text
    rows = {line.split(" | ")[0][2:]: line for line in text.splitlines() if line.startswith("| ")}
    assert "cuda:0 slot 0; cuda:1 slot 1" in rows["slots"] and "| True | 6.5 |" in rows["slots"]
    assert "max abs 0.0123, min cosine 0.999910" in rows["amp-loud"]
    assert "saved after epoch 2 with 1 CUDA state(s), 6 epochs" in rows["resume"]
    assert "same device bit for bit: True" in rows["resume"]
    assert "250.0 windows/s on the device, 20.0 on the CPU" in rows["pld"]
    assert "(x0.50)" in rows["fast-paths"] and "8 / 64 (80000 MiB free)" in rows["fast-paths"]
    assert "| False |" in rows["pld-broken"] and "CUDA error / x" in rows["pld-broken"]
