"""Where two machines' runs of the same pipeline part ways: per-stage content digests (issue 22).

Two machines that run the default pipeline should write the same numbers. When their
tables differ, this finds the first stage whose outputs differ, without copying results
between machines: one machine records the digests of its run and the file is committed
(``benchmarks/digests/``); the other compares its own run against it.

    python benchmarks/stage_digests.py record results --out benchmarks/digests/NAME.json
    python benchmarks/stage_digests.py compare benchmarks/digests/NAME.json results

What is hashed, per stage in the order the pipeline runs them (``results/<dataset>/``):

* ``source``: the generated videos (their bytes) and the dataset's tables;
* ``manifest``: each video's fingerprint, duration, frame count and size (not its path);
* ``features``, ``frames``, ``saliency``, ``pseudo``: every HDF5 dataset's values and
  every CSV (one digest each, keyed by file and dataset);
* ``models``: each run's loss per epoch (a digest per epoch, so the first epoch that
  differs shows where training parted) and one digest of its network's tensors; ``scores``: each
  run's clip scores;
* ``tables``: ``results/tables/*.csv``.

It also hashes a few kernels under the pins (:func:`kernel_digests`: BLAS, MKL's vector
maths, torch's attention and 3D convolutions, numpy's FFT and logarithm, OpenBLAS), so that
a difference in a stage can be traced to the library that computed it. The machine is
recorded with its CPU model, flags and cache sizes (``lscpu``), the library versions and
the environment variables that the numeric libraries read.

Paths differ between clones and are never hashed. Run both sides from the same commit and
installed packages (the record says which).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

STAGES = (
    "source",
    "manifest",
    "features",
    "frames",
    "saliency",
    "pseudo",
    "models",
    "scores",
    "tables",
)
# the environment this process started with (libraries add variables of their own on import)
START_ENVIRONMENT = dict(os.environ)
MANIFEST_COLUMNS = ("video_id", "duration", "fps", "frames", "width", "height", "fingerprint")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _h5_digests(path: Path, key: str) -> dict[str, str]:
    import h5py
    import numpy as np

    found: dict[str, str] = {}

    def visit(name: str, obj) -> None:
        if isinstance(obj, h5py.Dataset):
            value = obj[()]
            data = (
                np.ascontiguousarray(value).tobytes()
                if isinstance(value, np.ndarray)
                else repr(value).encode()
            )
            found[f"{key}:{name}"] = _sha(data)

    with h5py.File(path, "r") as handle:
        handle.visititems(visit)
    return found


def _csv_digest(path: Path, columns: tuple[str, ...] | None = None) -> str:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    keep = [c for c in (columns or (rows[0].keys() if rows else ())) if c != "path"]
    out = io.StringIO()
    for row in rows:
        out.write(",".join(str(row.get(c, "")) for c in keep) + "\n")
    return _sha(out.getvalue().encode())


def _model_digests(path: Path, key: str) -> dict[str, str]:
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    found = {}
    for epoch, loss in enumerate(state.get("losses") or []):
        found[f"{key}:loss[{epoch:03d}]"] = _sha(repr(loss).encode())

    tensors = hashlib.sha256()

    def walk(value) -> None:
        if isinstance(value, torch.Tensor):
            tensors.update(value.detach().contiguous().numpy().tobytes())
        elif isinstance(value, dict):
            for name in sorted(value, key=str):
                walk(value[name])

    walk(state.get("model"))
    found[f"{key}:tensors"] = tensors.hexdigest()[:16]
    return found


def stage_digests(results: Path) -> dict[str, dict[str, str]]:
    """Digests of every dataset's outputs under ``results`` (a pipeline's results folder)."""
    stages: dict[str, dict[str, str]] = {stage: {} for stage in STAGES}
    datasets = results.iterdir() if results.is_dir() else ()
    for data in sorted(p for p in datasets if (p / "manifest.csv").exists()):
        name = data.name
        source = data / "source"
        for path in sorted(source.rglob("*")) if source.exists() else ():
            if path.is_file() and not path.name.startswith("."):
                rel = path.relative_to(data).as_posix()
                if path.suffix == ".csv":
                    stages["source"][f"{name}/{rel}"] = _csv_digest(path)
                else:
                    stages["source"][f"{name}/{rel}"] = _sha(path.read_bytes())
        stages["manifest"][f"{name}/manifest.csv"] = _csv_digest(
            data / "manifest.csv", MANIFEST_COLUMNS
        )
        for stage in ("features", "frames", "saliency", "pseudo"):
            folder = data / stage
            for path in sorted(folder.rglob("*")) if folder.exists() else ():
                if ".prev" in path.parts or not path.is_file():
                    continue
                key = f"{name}/{path.relative_to(data).as_posix()}"
                if path.suffix == ".h5":
                    stages[stage].update(_h5_digests(path, key))
                elif path.suffix == ".csv":
                    stages[stage][key] = _csv_digest(path)
        for path in sorted((data / "models").rglob("*")) if (data / "models").exists() else ():
            key = f"{name}/{path.relative_to(data).as_posix()}"
            if path.suffix == ".pt":
                stages["models"].update(_model_digests(path, key))
            elif path.name.endswith(".scores.jsonl"):
                stages["scores"][key] = _sha(path.read_bytes())
    for path in sorted((results / "tables").glob("*.csv")):
        stages["tables"][f"tables/{path.name}"] = _sha(path.read_bytes())
    return stages


# Kernels that the stages go through, under the pins; each prints one digest.
KERNELS = r"""
import hashlib, json, sys
from highlight_pipeline.numerics import pin_numerics
pin_numerics(1)
import numpy as np, torch
from torch import nn

def h(*arrays):
    m = hashlib.sha256()
    for a in arrays:
        if isinstance(a, torch.Tensor):
            a = a.detach().contiguous().numpy()
        m.update(np.ascontiguousarray(a).tobytes())
    return m.hexdigest()[:16]

out = {}
g = torch.Generator().manual_seed(0)
x = torch.randn(100_000, generator=g) * 5
out["torch.exp (MKL VML)"] = h(torch.exp(x))
out["torch.log (MKL VML)"] = h(torch.log(x.abs() + 1e-3))
out["torch.tanh"] = h(torch.tanh(x))
out["torch.sqrt (MKL VML)"] = h(torch.sqrt(x.abs()))
from highlight_pipeline.methods.optim import exact_sqrt
out["exact_sqrt (numpy; Adam's)"] = h(exact_sqrt(x.abs()))
out["torch.sigmoid"] = h(torch.sigmoid(x))
a, w = torch.randn(600, 512, generator=g), torch.randn(512, 512, generator=g)
out["sgemm 600x512x512 (MKL)"] = h(a @ w)
out["sgemm 30x64x64 (MKL)"] = h(a[:30, :64] @ w[:64, :64])
torch.manual_seed(0)
layer = nn.MultiheadAttention(64, 4, dropout=0.1, batch_first=True)
q = torch.randn(6, 30, 64, generator=g)
pad = torch.zeros(6, 30, dtype=torch.bool); pad[:, 25:] = True
y, _ = layer(q, q, q, key_padding_mask=pad, need_weights=False)
y.square().mean().backward()
out["multi-head attention fwd+bwd"] = h(y, *[p.grad for p in layer.parameters()])
norm = nn.LayerNorm(64)
out["layer norm"] = h(norm(q))
conv = nn.Conv3d(3, 16, 3, padding=1)
clip = torch.rand(2, 3, 16, 32, 32, generator=g)
c = conv(clip); c.mean().backward()
out["conv3d fwd+bwd (oneDNN)"] = h(c, conv.weight.grad)
up = nn.ConvTranspose3d(16, 8, (1, 4, 4), (1, 2, 2), (0, 1, 1))
out["conv-transpose3d (oneDNN)"] = h(up(c.detach()))
bce = nn.functional.binary_cross_entropy_with_logits(x[:1000], (x[:1000] > 0).float())
out["BCE with logits"] = h(bce)
rng = np.random.default_rng(0)
f = rng.standard_normal((64, 96)).astype(np.float32)
out["numpy fft2 float32"] = h(np.fft.fft2(f))
out["numpy log float32"] = h(np.log(np.abs(f) + 1e-3))
out["numpy log float64"] = h(np.log(np.abs(f.astype(np.float64)) + 1e-3))
m = rng.standard_normal((300, 200))
out["OpenBLAS dgemm"] = h(m @ m.T)
out["OpenBLAS sgemm"] = h(m.astype(np.float32) @ m.T.astype(np.float32))
print(json.dumps(out))
"""


def kernel_digests() -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", KERNELS], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine() -> dict:
    info: dict = {"machine": platform.machine(), "python": platform.python_version()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        lscpu = ""
    for line in lscpu.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("Vendor ID", "Model name", "L1d cache", "L2 cache", "L3 cache"):
            info[name.strip()] = value.strip()
        if name.strip() == "Flags":
            flags = value.split()
            info["simd"] = [f for f in flags if f.startswith(("avx", "sse", "fma", "amx"))]
    versions = {}
    for module in ("numpy", "scipy", "torch", "numba", "sklearn", "umap", "av", "h5py"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            versions[module] = None
    info["versions"] = versions
    # what the numeric libraries read besides the CPU (the pins replace some of them)
    info["environment"] = {
        name: value
        for name, value in sorted(START_ENVIRONMENT.items())
        if re.match(r"(OPENBLAS|MKL|OMP|KMP|GOMP|NUMBA|NPY|ONEDNN|DNNL|ATEN|TORCH|GLIBC|LD_)", name)
    }
    try:
        info["commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
        ).stdout.strip()
    except OSError:
        info["commit"] = None
    return info


def compare(recorded: dict, found: dict) -> int:
    """Print, stage by stage, how many digests agree; return the number that differ."""
    ours, theirs = recorded["machine"], machine()
    print(f"recorded on: {ours.get('Model name')} ({ours.get('commit', '')[:10]})")
    print(f"this machine: {theirs.get('Model name')} ({(theirs.get('commit') or '')[:10]})")
    if ours.get("environment") != theirs.get("environment"):
        print(f"other environment: {ours.get('environment')} against {theirs.get('environment')}")
    if ours.get("versions") != theirs.get("versions"):
        print(f"other library versions: {ours.get('versions')} against {theirs.get('versions')}")
    differ = 0
    for section, names in (("kernels", [None]), ("stages", STAGES)):
        for stage in names:
            want = recorded[section] if stage is None else recorded[section][stage]
            have = found[section] if stage is None else found[section][stage]
            if not want:
                print(f"{stage or 'kernels':>9}: not recorded")
                continue
            keys = sorted(set(want) | set(have))
            bad = [k for k in keys if want.get(k) != have.get(k)]
            differ += len(bad)
            label = stage or "kernels"
            status = "same" if not bad else f"{len(bad)} of {len(keys)} differ"
            print(f"{label:>9}: {len(keys):5d} digests, {status}")
            for key in bad[:6]:
                print(
                    f"           {key}: {want.get(key, 'missing')} here {have.get(key, 'missing')}"
                )
    return differ


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="digests of a results folder and of the kernels")
    rec.add_argument("results", type=Path)
    rec.add_argument("--out", type=Path, required=True)
    cmp_ = sub.add_parser("compare", help="compare a results folder with a recorded file")
    cmp_.add_argument("recorded", type=Path)
    cmp_.add_argument("results", type=Path)
    args = parser.parse_args(argv)
    stages = stage_digests(args.results)
    if not any(stages.values()):
        parser.error(f"{args.results}: no dataset with a manifest.csv (a pipeline's results/)")
    found = {"stages": stages, "kernels": kernel_digests()}
    if args.command == "record":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps({"machine": machine(), **found}, indent=1, sort_keys=True) + "\n"
        )
        counts = {stage: len(v) for stage, v in found["stages"].items()}
        print(f"wrote {args.out}: {counts}, {len(found['kernels'])} kernels")
        return 0
    return 1 if compare(json.loads(args.recorded.read_text()), found) else 0


if __name__ == "__main__":
    sys.exit(main())
