"""I3D RGB extraction of a 720p H.264 video: ours against video_features, or our plain path.

Every run is a fresh process, timed from its start to its end (interpreter, imports, model
construction, decoding, the network, writing the features), with its peak resident memory
read from its own ``VmHWM`` (``ru_maxrss`` of a child would include the benchmark's own
peak, which Linux carries across fork and exec). The runs alternate, ``--repeats`` rounds:

* ``ours``: ``hlp features`` on a one-video manifest (the pipeline's extractor, random
  weights, one shard written), window = stride = ``--windows`` frames, short side 256,
  centre crop 224, [-1, 1];
* ``plain``: the same command with I3D's inference path turned off
  (``InceptionI3d.use_fast_inference(False)``: PyTorch's ``max_pool3d`` kernel on ``F.pad``
  copies, BatchNorm after each convolution, no fused 1x1x1 convolutions, channels-first)
  and the batch of ``batch_size`` windows whatever their length (no byte bound);
* ``theirs`` (with ``--peer DIR``): v-iashin/video_features' ``main.py feature_type=i3d
  streams=rgb`` with ``stack_size`` = ``step_size`` = the window, ``device=cpu``,
  ``on_extraction=save_numpy``, random weights (a random state_dict of its own I3D is saved
  as its ``models/i3d/checkpoints/i3d_rgb.pt`` when that file is missing; nothing is
  downloaded). Its dependencies: torch, torchvision (transforms), opencv-python-headless,
  Pillow, omegaconf, scipy; ``--peer-python`` names an interpreter that has them.

Every process gets ``--threads`` OpenMP/MKL/OpenBLAS threads. Ours runs with the kernel pins
of ``highlight_pipeline.numerics`` (what ``hlp`` sets itself: its users' default;
``--ours-numerics x86-64-v3`` or ``native`` for the other levels of ``HLP_NUMERICS``); the peer
runs in its own default settings, without them (``--pin-peer`` gives it our pins too).
Printed: wall seconds, video-seconds per second, peak RSS, windows made, and per window
size the median ratios (ours against each other run). ``--model`` adds the network alone on
ready tensors in this process (ours batched, theirs one window per call, as its extractor
runs it), with the time in Conv3d from torch's profiler: the floor that the rest of the
work sits on.

Run: python benchmarks/extract_peer.py [--seconds 40] [--windows 16 64] [--repeats 2]
       [--peer /tmp/video_features --peer-python /tmp/vf-venv/bin/python] [--model]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from highlight_pipeline.manifest import MANIFEST_COLUMNS
from highlight_pipeline.numerics import (
    NUMERICS_LEVELS,
    THREAD_VARIABLES,
    X86_PINS,
    x86_64_pinnable,
)
from highlight_pipeline.video.probe import probe

sys.path.insert(0, str(Path(__file__).resolve().parent))
from extract import make_video  # noqa: E402  (the other benchmark's test video)

REPO = Path(__file__).resolve().parent.parent

PEAK = (
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
    "print('VMHWM_KIB', hwm, flush=True)\n"
)

OURS = (
    "import sys, warnings\n"
    "if sys.argv[1] == 'plain':\n"
    "    warnings.filterwarnings('ignore', message='pin_numerics')\n"
    "    from highlight_pipeline.features import neural\n"
    "    from highlight_pipeline.features.backbones import i3d\n"
    "    for cls in (i3d.InceptionI3d, i3d.InceptionModule, i3d.Unit3D,\n"
    "                i3d.MaxPool3dSamePadding):\n"
    "        cls.fast = False\n"
    "    neural.BATCH_BYTES = None\n"
    "from highlight_pipeline.cli import main\n"
    "rc = main(sys.argv[2:])\n" + PEAK + "sys.exit(rc)\n"
)

# PyPI's torchvision is a CUDA build: with a CPU torch its C extension does not load and its
# unguarded fake registrations of nms and qnms then fail at import. Defining those two
# schemas (I3D never calls them) lets its Python transforms, all that the peer uses, import.
THEIRS = (
    "import os, runpy, sys\n"
    "import torch\n"
    "try:\n"
    "    import torchvision\n"
    "except RuntimeError:\n"
    "    for name in [m for m in sys.modules if m.split('.')[0] == 'torchvision']:\n"
    "        del sys.modules[name]\n"
    "    lib = torch.library.Library('torchvision', 'DEF')\n"
    "    for op in ('nms', 'qnms'):\n"
    "        lib.define(op + '(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')\n"
    "    import torchvision\n"
    "os.chdir(sys.argv[1]); sys.path.insert(0, sys.argv[1])\n"
    "sys.argv = ['main.py'] + sys.argv[2:]\n"
    "runpy.run_path('main.py', run_name='__main__')\n" + PEAK
)

RANDOM_CHECKPOINT = (
    "import sys, torch\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "from models.i3d.i3d_src.i3d_net import I3D\n"
    "torch.manual_seed(0)\n"
    "torch.save(I3D(num_classes=400, modality='rgb').state_dict(), sys.argv[2])\n"
)


def environment(threads: int, pinned: bool) -> dict[str, str]:
    """The environment of a run: ``threads`` OpenMP/MKL/OpenBLAS threads for both sides;
    with ``pinned`` also our kernel pins (what ``hlp`` sets in its own process anyway), and
    without, none of them: the peer runs in its own default settings, as its users run it,
    and our side is ``hlp`` as ours run it (its pins are its own default)."""
    env = {k: v for k, v in os.environ.items() if k not in X86_PINS and k not in THREAD_VARIABLES}
    env.update({name: str(threads) for name in THREAD_VARIABLES})
    if pinned and x86_64_pinnable():
        env.update(X86_PINS)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


def timed_run(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS in GiB) of one fresh process; fails loudly on an error."""
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    marks = [line.split() for line in done.stdout.splitlines() if line.startswith("VMHWM_KIB")]
    if done.returncode != 0 or not marks:
        raise RuntimeError(f"{command[:3]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return wall, int(marks[-1][1]) / 2**20


def write_manifest(clip: Path, path: Path) -> None:
    info = probe(clip).as_dict()
    row = {"video_id": "clip", "path": str(clip), **info, "category": "", "split": ""}
    pd.DataFrame([row], columns=MANIFEST_COLUMNS).to_csv(path, index=False)


def ours_command(mode: str, manifest: Path, out: Path, window: int, batch: int) -> list[str]:
    feature_slice = {"extractor": "i3d", "options": {"window": window, "stride": window}}
    return [
        sys.executable,
        "-c",
        OURS,
        mode,
        "--quiet",
        "features",
        "--manifest",
        str(manifest),
        "--shard",
        "0",
        "--shards",
        "1",
        "--slice",
        json.dumps(feature_slice),
        "--runtime",
        json.dumps({"weights_dir": str(out.parent / "weights"), "weights": "random"}),
        "--execution",
        json.dumps({"device": "cpu", "batch_size": batch}),
        "--out",
        str(out),
    ]


def theirs_command(python: str, peer: Path, clip: Path, out: Path, window: int) -> list[str]:
    return [
        python,
        "-c",
        THEIRS,
        str(peer),
        "feature_type=i3d",
        "streams=rgb",
        "device=cpu",
        f"stack_size={window}",
        f"step_size={window}",
        f"video_paths=[{clip}]",
        "on_extraction=save_numpy",
        f"output_path={out}",
        f"tmp_path={out}_tmp",
    ]


def count_windows(name: str, out: Path) -> int:
    if name == "theirs":
        return int(np.load(next(out.rglob("*_rgb.npy"))).shape[0])
    import h5py

    with h5py.File(out) as handle:
        return int(handle["clip"]["windows"].shape[0])


def ensure_peer_checkpoint(python: str, peer: Path, env: dict[str, str]) -> str:
    path = peer / "models" / "i3d" / "checkpoints" / "i3d_rgb.pt"
    if path.exists():
        return f"{path} (present)"
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([python, "-c", RANDOM_CHECKPOINT, str(peer), str(path)], env=env, check=True)
    return f"{path} (random state_dict written)"


def model_only(peer: Path | None, window: int, batch: int, threads: int) -> None:
    """The network alone: seconds per window and the Conv3d share (torch profiler)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from highlight_pipeline.features.backbones import build

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = torch.rand(batch, 3, window, 224, 224) * 2 - 1
    nets = {"ours": build("i3d").eval(), "plain": build("i3d").eval().use_fast_inference(False)}
    if peer is not None:
        sys.path.insert(0, str(peer))
        from models.i3d.i3d_src.i3d_net import I3D

        nets["theirs"] = I3D(num_classes=400, modality="rgb").eval()

    def forward(name: str) -> None:
        if name == "theirs":  # one window per call, as its extractor runs it
            for i in range(batch):
                nets[name](x[i : i + 1], features=True)
        else:
            nets[name].extract(x)

    with torch.inference_mode():
        forward("ours")  # warm-up (oneDNN primitive creation)
        for name in nets:
            start = time.perf_counter()
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                forward(name)
            seconds = time.perf_counter() - start
            conv = sum(
                e.self_cpu_time_total for e in prof.key_averages() if "conv" in e.key.lower()
            )
            total = sum(e.self_cpu_time_total for e in prof.key_averages())
            print(
                f"  model only {name:<7} {window:>3}-frame windows: {seconds / batch:6.2f} s per "
                f"window (profiled), convolutions {100 * conv / total:4.1f} % of op time "
                f"= {seconds * conv / total / batch:5.2f} s per window",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--windows", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8, help="ours: windows per pass")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--peer", type=Path, help="a checkout of v-iashin/video_features")
    parser.add_argument("--peer-python", default=sys.executable)
    parser.add_argument("--no-plain", action="store_true", help="skip our plain path")
    parser.add_argument("--model", action="store_true", help="also time the networks alone")
    parser.add_argument(
        "--pin-peer",
        action="store_true",
        help="give the peer our kernel pins too (default: each side in its own settings)",
    )
    parser.add_argument(
        "--ours-numerics",
        choices=NUMERICS_LEVELS,
        default="pinned",
        help="HLP_NUMERICS of our runs (default: pinned, what hlp does unless told)",
    )
    args = parser.parse_args()
    env = environment(args.threads, pinned=args.ours_numerics == "pinned")
    env["HLP_NUMERICS"] = args.ours_numerics
    peer_env = environment(args.threads, pinned=args.pin_peer)
    names = ["ours"] + ([] if args.no_plain else ["plain"]) + (["theirs"] if args.peer else [])
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        clip = tmp / "clip.mp4"
        make_video(clip, args.seconds, args.fps)
        write_manifest(clip, tmp / "manifest.csv")
        info = probe(clip)
        print(
            f"video: {info.width}x{info.height} H.264, {info.fps:.0f} fps, {info.duration:.1f} s;"
            f" {args.threads} threads, {platform.machine()}, {os.cpu_count()} CPUs"
        )
        if args.peer:
            print("peer checkpoint:", ensure_peer_checkpoint(args.peer_python, args.peer, peer_env))
        for window in args.windows:
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
            for repeat in range(args.repeats):
                order = names if repeat % 2 == 0 else names[::-1]
                for name in order:
                    out = tmp / f"{name}-{window}-{repeat}"
                    if name == "theirs":
                        command = theirs_command(args.peer_python, args.peer, clip, out, window)
                        cwd = args.peer
                    else:
                        out = out.with_suffix(".h5")
                        manifest = tmp / "manifest.csv"
                        command = ours_command(name, manifest, out, window, args.batch_size)
                        cwd = REPO
                    wall, peak = timed_run(command, peer_env if name == "theirs" else env, cwd)
                    results[name].append((wall, peak))
                    print(
                        f"{window:>3}-frame windows  {name:<7} wall {wall:7.1f} s  "
                        f"{info.duration / wall:5.2f} video-s/s  peak RSS {peak:5.2f} GiB  "
                        f"{count_windows(name, out)} windows",
                        flush=True,
                    )
            ours = statistics.median(w for w, _ in results["ours"])
            ours_peak = max(p for _, p in results["ours"])
            for name in names[1:]:
                other = statistics.median(w for w, _ in results[name])
                peak = max(p for _, p in results[name])
                print(
                    f"{window:>3}-frame windows: throughput ours / {name} = {other / ours:.2f}x "
                    f"(median wall {ours:.1f} s vs {other:.1f} s); peak RSS "
                    f"{ours_peak:.2f} vs {peak:.2f} GiB",
                    flush=True,
                )
            if args.model:
                model_only(args.peer, window, max(1, 128 // window), args.threads)


if __name__ == "__main__":
    main()
