"""What produced a result: git commit, package versions, device, config hash."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess

from highlight_pipeline import __version__
from highlight_pipeline.config import REPO_ROOT

PACKAGES = ["torch", "numpy", "scikit-learn", "umap-learn", "av", "h5py", "pandas", "snakemake"]


def git_commit() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def package_versions() -> dict[str, str]:
    versions = {"highlight-pipeline": __version__, "python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def device_name(device: str = "cpu") -> str:
    """``cuda:<GPU model>`` of the given CUDA device (the one the job leased, not torch's
    current device), or ``cpu:<processor>``."""
    if device.startswith("cuda"):
        import torch

        return f"cuda:{torch.cuda.get_device_name(torch.device(device))}"
    return f"cpu:{platform.processor() or platform.machine()}"


def provenance(device: str = "cpu", devices: dict | None = None) -> dict[str, object]:
    """Git commit, versions, numeric settings and the device. ``devices``: what trained and
    scored a run (``{"train": record, "score": record}``, records of
    ``gpu_slots.DeviceLease.record``, as ``hlp score --devices`` writes them): recorded as
    ``devices``, and the training device's name is ``device`` (the job that evaluates runs
    on the CPU and says nothing about the run); without it ``device`` names ``device``."""
    from highlight_pipeline.numerics import describe_numerics

    found: dict[str, object] = {
        "git_commit": git_commit(),
        "versions": package_versions(),
        "device": device_name(device),
        "numerics": describe_numerics(),
    }
    if devices:
        trained = devices.get("train") or devices.get("score") or {}
        found["device"] = trained.get("name", found["device"])
        found["devices"] = devices
    return found
