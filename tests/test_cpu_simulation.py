"""The pipeline gives byte-identical results on every kind of x86-64 CPU (issue 22).

One generated dataset (written once, without simulation: the same videos on every
machine), then its smallest slice that covers every stage (decode, features, pseudo-labels,
training of avph, chd, hpcl and pld, scoring, tables) once per simulated machine:
``HLP_SIMULATE_CPU`` (``highlight_pipeline.numerics.SIMULATED_CPUS``) makes every ``hlp``
job see that machine's CPU flags and caps torch's, oneDNN's, OpenBLAS's, numpy's, numba's
and FFmpeg's kernel choice (and MKL's, on Intel CPUs) at what that machine would pick; the
pins then apply as they would there. The outputs must be the same to the byte: the feature
and pseudo-label HDF5 datasets, the pseudo-categories, the models' tensors, the score files
and the tables. ``test_simulation_reaches_the_libraries`` (tests/test_numerics.py) shows
that each simulated machine does run other kernels when unpinned.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml

from highlight_pipeline.numerics import (
    PIN_VARIABLES,
    SIMULATED_CPUS,
    X86_PINS,
    simulable_cpus,
    simulated_cpu_limits,
    x86_64_pinnable,
)
from tests.workflow_helpers import CI_CONFIG, new_workdir, snakemake

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not x86_64_pinnable(), reason="the x86_64 pins do not apply here"),
]

#: Smaller than the CI run: 10 short videos, one shard, one seed; every network method (hpcl
#: and pld at the CI run's plumbing sizes: pld is the one whose convolutions run in oneDNN).
SLICE_CONFIG = {
    "datasets": {
        "synthetic": {
            "synth": {"min_seconds": 8, "max_seconds": 12},
            "methods": {"chd": {"epochs": 3, "hidden": 128}},
        }
    },
    "features": {"shards": 1},
    "methods": {"avph": {"epochs": 5}},
    "evaluation": {
        "runs": {
            "avph": ["av-ph"],
            "chd": ["full"],
            "hpcl": ["co-av"],
            "pld": ["tased-full"],
            "random": [],
        },
        "seeds": [0],
    },
}
TABLE = "results/tables/synthetic.csv"

SIMULABLE = simulable_cpus()  # an AVX-512 host: all four


def _run(workdir: Path, target: str, env: dict[str, str] | None = None) -> None:
    snakemake(
        workdir,
        "--cores",
        "2",
        target,
        "--configfile",
        str(CI_CONFIG),
        str(workdir / "slice.yaml"),
        env=env,
    )


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A work directory with the generated videos only (no simulation: the same videos)."""
    workdir = new_workdir(tmp_path_factory.mktemp("cpu_sim_dataset"))
    (workdir / "slice.yaml").write_text(yaml.safe_dump(SLICE_CONFIG))
    _run(workdir, "results/synthetic/source/videos.csv")
    return workdir


@pytest.fixture(scope="module")
def simulated_runs(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The slice up to the table, once per simulated machine, from a copy of the dataset."""
    runs = {}
    if len(SIMULABLE) < 2:
        pytest.skip(f"this CPU can simulate only {SIMULABLE}: nothing to compare")
    for name in SIMULABLE:
        workdir = tmp_path_factory.mktemp(f"cpu_sim_{name}")
        shutil.copytree(dataset, workdir, dirs_exist_ok=True, symlinks=True)
        env = {"HLP_SIMULATE_CPU": name, "HLP_NUMERICS": "pinned"}
        _run(workdir, TABLE, env=env)
        runs[name] = workdir
    return runs


def _h5_datasets(path: Path) -> dict[str, bytes]:
    """Every dataset of an HDF5 file: its name, dtype, shape and bytes."""
    found: dict[str, bytes] = {}
    with h5py.File(path, "r") as handle:

        def visit(name: str, item) -> None:
            if isinstance(item, h5py.Dataset):
                data = np.asarray(item[()])
                found[name] = f"{data.dtype}{data.shape}".encode() + data.tobytes()

        handle.visititems(visit)
    return found


def _tensors(value, prefix: str = "") -> dict[str, bytes]:
    """Every tensor and array in a model file, by its path in the nested record."""
    if isinstance(value, torch.Tensor):
        data = value.detach().cpu().contiguous()
        return {prefix: f"{data.dtype}{tuple(data.shape)}".encode() + data.numpy().tobytes()}
    if isinstance(value, np.ndarray):
        return {prefix: f"{value.dtype}{value.shape}".encode() + value.tobytes()}
    if isinstance(value, dict):
        out: dict[str, bytes] = {}
        for key, item in value.items():
            out.update(_tensors(item, f"{prefix}/{key}"))
        return out
    if isinstance(value, (list, tuple)):
        out = {}
        for i, item in enumerate(value):
            out.update(_tensors(item, f"{prefix}[{i}]"))
        return out
    return {}


def _outputs(workdir: Path) -> dict[str, dict[str, bytes]]:
    """What must not depend on the CPU, by file (relative path) and part."""
    results = workdir / "results"
    found: dict[str, dict[str, bytes]] = {}
    for path in sorted(results.rglob("*")):
        relative = path.relative_to(workdir).as_posix()
        if not path.is_file() or "/." in relative or "/logs/" in relative:
            continue
        if path.suffix == ".h5":
            found[relative] = _h5_datasets(path)
        elif path.suffix == ".pt":
            found[relative] = _tensors(torch.load(path, map_location="cpu", weights_only=False))
            assert found[relative], f"no tensors found in {relative}"
        elif path.name.endswith(".scores.jsonl") or path.suffix in (".csv", ".md"):
            # the manifest holds the videos' absolute paths, in this run's folder
            found[relative] = {"bytes": path.read_bytes().replace(bytes(workdir), b"WORKDIR")}
    return found


def test_every_stage_is_byte_identical_on_the_simulated_cpus(simulated_runs):
    outputs = {name: _outputs(workdir) for name, workdir in simulated_runs.items()}
    first, reference = next(iter(outputs.items()))
    kinds = {
        "features": "results/synthetic/features/",
        "pseudo-labels": "results/synthetic/pseudo/",
        "models": ".pt",
        "scores": ".scores.jsonl",
        "tables": "results/tables/",
    }
    for kind, marker in kinds.items():
        assert any(marker in path for path in reference), f"no {kind} among {list(reference)}"
    for name, found in outputs.items():
        assert set(found) == set(reference), (name, set(found) ^ set(reference))
        differing = [
            f"{path}:{part}"
            for path, parts in reference.items()
            for part, data in parts.items()
            if found[path].get(part) != data
        ]
        assert not differing, f"{name} differs from {first} in {differing}"


def test_this_cpu_simulates_all_four_machines():
    missing = [name for name in SIMULATED_CPUS if name not in SIMULABLE]
    if missing:
        pytest.skip(f"this CPU lacks the flags of {missing}: compared {SIMULABLE} only")


def test_every_job_ran_as_its_simulated_cpu(simulated_runs):
    """The metrics record the simulated machine and the pins in force (the table read
    these runs' metrics): no cap of a library stayed above the pins."""
    for name, workdir in simulated_runs.items():
        metrics = sorted((workdir / "results/synthetic/metrics").rglob("*.json"))
        assert metrics
        for path in metrics:
            numerics = json.loads(path.read_text())["numerics"]
            assert numerics["simulated_cpu"] == name
            for variable, value in X86_PINS.items():
                assert numerics["environment"][variable] == value, (path, variable)
            assert numerics["ffmpeg"]["decoding_cpu_flags"] == 0


# A float32 matmul of avph's and chd's sizes through torch's BLAS (MKL), hashed.
GEMM = """
from highlight_pipeline.numerics import pin_numerics
pin_numerics(1)
import hashlib
import torch
g = torch.Generator().manual_seed(0)
a, w = torch.randn(600, 512, generator=g), torch.randn(512, 512, generator=g)
print(hashlib.sha256((a @ w).numpy().tobytes()).hexdigest())
"""


def _gemm(cpu: str, numerics_mode: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in PIN_VARIABLES}
    env.update(HLP_SIMULATE_CPU=cpu, HLP_NUMERICS=numerics_mode)
    done = subprocess.run(
        [sys.executable, "-c", GEMM], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_mkl_is_capped_and_pinned_on_this_cpu():
    """MKL_ENABLE_INSTRUCTIONS (the simulated machines' MKL cap) works on Intel CPUs only;
    MKL's COMPATIBLE branch, the pin, is SSE2 code on every CPU. On AMD the runs above all
    ran MKL's own code for AMD, so they say nothing about MKL's AVX-512 or SSE4 code."""
    limits = simulated_cpu_limits()
    if "MKL_ENABLE_INSTRUCTIONS" in limits:
        pytest.skip(limits["MKL_ENABLE_INSTRUCTIONS"])
    if "avx512-intel" not in SIMULABLE:
        pytest.skip("MKL's AVX-512 code needs an AVX-512 host")
    native = {cpu: _gemm(cpu, "native") for cpu in ("avx512-intel", "sse4")}
    assert native["avx512-intel"] != native["sse4"], "MKL's cap changed nothing"
    pinned = {cpu: _gemm(cpu, "pinned") for cpu in SIMULABLE}
    assert len(set(pinned.values())) == 1, pinned
