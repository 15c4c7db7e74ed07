"""The published-network code path through Snakemake, with explicit random initialisation."""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
import pandas as pd
import pytest
import yaml

from tests.workflow_helpers import new_workdir, snakemake

pytestmark = pytest.mark.integration

NEURAL_CONFIG = {
    "weights": "random",
    "device": "cpu",
    "datasets": {
        "synthetic": {
            "reader": "synthetic",
            "synth": {
                "categories": 2,
                "videos_per_category": 3,
                "min_seconds": 8,
                "max_seconds": 10,
                "width": 96,
                "height": 72,
                "fps": 10,
                "test_fraction": 0.34,
            },
        }
    },
    "features": {"visual": "r3d34", "audio": "cnn14", "shards": 1, "batch_size": 4},
    "methods": {"avph": {"epochs": 3}},
    "evaluation": {"seeds": [0]},
}


@pytest.fixture(scope="module")
def neural_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = new_workdir(tmp_path_factory.mktemp("neural_run"))
    (workdir / "neural.yaml").write_text(yaml.safe_dump(NEURAL_CONFIG))
    snakemake(workdir, "--cores", "2", "--configfile", str(workdir / "neural.yaml"))
    return workdir


def test_random_init_is_recorded_in_shards_and_tables(neural_run: Path) -> None:
    shard = neural_run / "results/synthetic/features/r3d34/shard-0.h5"
    with h5py.File(shard) as handle:
        assert handle.attrs["weights"] == "random-init"
        preprocessing = json.loads(handle.attrs["preprocessing"])
        assert preprocessing["input"]["window"] == 16 and preprocessing["input"]["crop"] == 112
        windows = next(iter(handle.values()))["windows"]
        assert windows.shape[1] == 512
    with h5py.File(neural_run / "results/synthetic/features/cnn14/shard-0.h5") as handle:
        assert next(iter(handle.values()))["windows"].shape[1] == 2048
    table = pd.read_csv(neural_run / "results/tables/synthetic.csv")
    avph = table[table["method"] == "avph"]
    assert avph["features"].str.contains("r3d34\\+cnn14 \\(random-init\\)").all()
    assert (table[table["method"] == "random"]["features"] == "none").all()  # reads none
    assert "random-init" in (neural_run / "results/tables/synthetic.md").read_text()


def test_neural_extraction_asks_for_a_gpu_slot_unless_the_device_is_cpu(neural_run: Path) -> None:
    def planned(*overrides: dict) -> dict[str, str]:
        files = []
        for i, values in enumerate(overrides):
            files.append(neural_run / f"more{i}.yaml")
            files[-1].write_text(yaml.safe_dump(values))
        config = [str(neural_run / "neural.yaml"), *map(str, files)]
        result = snakemake(neural_run, "-n", "--configfile", *config)
        jobs = re.findall(r"output: (\S+)\n(?:.*\n){0,6}?\s+resources: ([^\n]*)", result.stdout)
        return {Path(out).parent.name: res for out, res in jobs if "/features/" in out}

    # Only cnn14's audio windows depend on window_seconds (r3d34 windows are frames).
    window = {"features": {"window_seconds": 2.0}}
    on_cpu = planned(window)  # neural.yaml says device: cpu: no GPU asked, none held back
    assert set(on_cpu) == {"cnn14"}, on_cpu
    assert "gpu=0" in on_cpu["cnn14"] and '"device":"cpu"' in on_cpu["cnn14"]
    on_gpu = planned(window, {"device": "auto"})
    assert "gpu=1" in on_gpu["cnn14"] and '"device":"auto"' in on_gpu["cnn14"]


def test_missing_checkpoint_stops_before_any_job(tmp_path: Path) -> None:
    workdir = new_workdir(tmp_path)
    config = {**NEURAL_CONFIG, "weights": "published", "weights_dir": str(tmp_path / "weights")}
    (workdir / "published.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "-n", "--configfile", str(workdir / "published.yaml"), check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "resnet-34-kinetics.pth" in output and "kenshohara/3D-ResNets-PyTorch" in output
