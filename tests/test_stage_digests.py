"""benchmarks/stage_digests.py: two runs compared stage by stage without copying results.

A small results folder in the pipeline's layout is recorded, then compared with a copy in
another place (paths differ, contents do not: nothing differs), and with copies in which
one feature value, one epoch's loss or one video's fingerprint changed: the comparison
fails and names that stage and that item.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "stage_digests.py"


def _results(root: Path) -> Path:
    data = root / "results" / "synthetic"
    (data / "source" / "videos").mkdir(parents=True)
    (data / "source" / "videos" / "a.mp4").write_bytes(b"not really a video")
    (data / "manifest.csv").write_text(
        "video_id,path,duration,fps,frames,width,height,fingerprint\n"
        f"a,{data / 'source/videos/a.mp4'},4.0,10.0,40,32,24,abc123\n"
    )
    (data / "features" / "logmel").mkdir(parents=True)
    with h5py.File(data / "features" / "logmel" / "shard-0.h5", "w") as out:
        out["videos/a/features"] = np.arange(12, dtype=np.float32).reshape(3, 4)
    (data / "models" / "avph").mkdir(parents=True)
    torch.save(
        {"losses": [0.5, 0.25], "model": {"w": torch.ones(3)}},
        data / "models" / "avph" / "seed0.pt",
    )
    (data / "models" / "avph" / "seed0.scores.jsonl").write_text('{"video_id":"a","scores":[1]}\n')
    (root / "results" / "tables").mkdir()
    (root / "results" / "tables" / "synthetic.csv").write_text("method,map\navph,0.5\n")
    return root / "results"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300
    )


def test_a_moved_copy_is_the_same_and_each_change_is_named(tmp_path):
    results = _results(tmp_path / "one")
    record = tmp_path / "record.json"
    done = _run("record", str(results), "--out", str(record))
    assert done.returncode == 0, done.stderr
    recorded = json.loads(record.read_text())
    assert recorded["stages"]["features"] and recorded["kernels"]
    assert "loss[001]" in " ".join(recorded["stages"]["models"])

    moved = tmp_path / "two" / "results"
    shutil.copytree(results, moved)
    manifest = moved / "synthetic" / "manifest.csv"
    manifest.write_text(manifest.read_text().replace(str(results), str(moved)))
    same = _run("compare", str(record), str(moved))
    assert same.returncode == 0, same.stdout + same.stderr
    assert "differ" not in same.stdout

    with h5py.File(moved / "synthetic/features/logmel/shard-0.h5", "r+") as out:
        out["videos/a/features"][0, 0] = np.float32(0.5)
    torch.save(
        {"losses": [0.5, 0.2500001], "model": {"w": torch.ones(3)}},
        moved / "synthetic/models/avph/seed0.pt",
    )
    manifest.write_text(manifest.read_text().replace("abc123", "abc124"))
    changed = _run("compare", str(record), str(moved))
    assert changed.returncode == 1
    lines = {line.split(":")[0].strip(): line for line in changed.stdout.splitlines()}
    assert "1 of 1 differ" in lines["manifest"]
    assert "1 of 1 differ" in lines["features"]
    assert "1 of 3 differ" in lines["models"]  # loss[000], loss[001], tensors: epoch 1 parted
    assert "seed0.pt:loss[001]" in changed.stdout
    assert "same" in lines["source"] and "same" in lines["scores"]
