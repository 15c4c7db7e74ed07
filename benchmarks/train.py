"""Training speed and memory per method and variant, through the method interface.

Each (method, variant) trains in a fresh process on the same synthetic clip features
(``--videos`` videos of ``--clips`` clips, visual and audio feature sizes of the paper's
backbones by default: 3D-ResNet-34 512-d, PANN Cnn14 2048-d), with its registry entry's
``fit``; the process reports optimiser steps per second (batches of ``batch_size`` videos),
wall time, and its peak resident memory (VmHWM) or, on CUDA, the peak allocated memory.
Ratios are against avph/av-ph, the method's main variant, measured in the same run. The
numerics are pinned as in the pipeline's jobs (``highlight_pipeline.numerics``).

    python benchmarks/train.py                      # CPU, every trainable variant
    python benchmarks/train.py --device cuda        # a GPU when there is one
    python benchmarks/train.py --runs avph/av-ph avph/sa-early --epochs 5
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def synthetic_inputs(videos: int, clips: int, visual_dim: int, audio_dim: int, seed: int = 0):
    import numpy as np

    from highlight_pipeline.methods.inputs import MethodInputs, VideoInputs
    from highlight_pipeline.pseudo.highlights import PseudoHighlight

    rng = np.random.default_rng(seed)
    out = []
    for i in range(videos):
        n = int(rng.integers(clips // 2, clips + 1))
        labels = (rng.random(n) < 0.5).astype(np.int8)
        pseudo = PseudoHighlight(
            visual=rng.random(n),
            audio=rng.random(n),
            av=rng.random(n),
            label=labels.astype(np.uint8),
            category=0,
            labels={"av": labels, "visual": labels[::-1].copy(), "audio": labels},
        )
        out.append(
            VideoInputs(
                f"v{i:04d}",
                np.arange(n, dtype=float),
                np.arange(1, n + 1.0),
                split="train",
                labels=labels.astype(np.int64),
                visual=rng.normal(size=(n, visual_dim)).astype(np.float32),
                audio=rng.normal(size=(n, audio_dim)).astype(np.float32),
                pseudo=pseudo,
            )
        )
    return MethodInputs(out)


def measure_one(method: str, variant: str, args: argparse.Namespace) -> dict:
    """Train one run in this process; return its figures."""
    import torch

    from highlight_pipeline.config import validate_config
    from highlight_pipeline.methods.registry import get_method
    from highlight_pipeline.runs import resolve_run

    torch.set_num_threads(args.threads)
    config = validate_config(
        {
            "run_datasets": ["bench"],
            "datasets": {"bench": {"reader": "synthetic"}},
            "evaluation": {"runs": {method: [variant]}},
        }
    )
    run = resolve_run(config, "bench", method, variant)
    if "epochs" in run["settings"]:
        run["settings"]["epochs"] = args.epochs
    inputs = synthetic_inputs(args.videos, args.clips, args.visual_dim, args.audio_dim)
    batch = run["settings"].get("batch_size", args.videos)
    per_epoch = args.videos * run["settings"].get("samples_per_video", 1)  # hpcl's samples
    steps = args.epochs * -(-per_epoch // batch)
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    get_method(method).implementation().fit(inputs, run, 0, args.device, False)
    if args.device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**20 if args.device == "cuda" else peak_rss_mib()
    return {
        "run": f"{method}/{variant}",
        "steps": steps,
        "seconds": seconds,
        "steps_per_s": steps / seconds,
        "peak_mib": peak,
        "peak_kind": "cuda allocated" if args.device == "cuda" else "VmHWM",
    }


def trainable_runs() -> list[str]:
    """Every variant that trains something (avph's pseudo-highlight predictor does not)."""
    from highlight_pipeline.methods.registry import get_method, method_names

    found = []
    for name in method_names():
        for variant, v in get_method(name).variants.items():
            if v.overlay.get("method", {}).get("predictor") == "pseudo-highlights":
                continue
            found.append(f"{name}/{variant}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="*", help="method/variant pairs (default: all)")
    parser.add_argument("--videos", type=int, default=64)
    parser.add_argument("--clips", type=int, default=60, help="clips of the longest video")
    parser.add_argument("--visual-dim", type=int, default=512)
    parser.add_argument("--audio-dim", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child process: one run
    args = parser.parse_args()
    if args.one:
        from highlight_pipeline.numerics import pin_numerics

        pin_numerics(args.threads)  # as every `hlp train` job does
        method, variant = args.one.split("/")
        print(json.dumps(measure_one(method, variant, args)))
        return
    runs = args.runs or trainable_runs()
    if "avph/av-ph" not in runs:
        runs = ["avph/av-ph", *runs]
    options = [
        f"--{name.replace('_', '-')}={getattr(args, name)}"
        for name in ("videos", "clips", "visual_dim", "audio_dim", "epochs", "threads", "device")
    ]
    results = []
    for run in runs:
        child = [sys.executable, __file__, "--one", run, *options]
        out = subprocess.run(child, capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = next(r for r in results if r["run"] == "avph/av-ph")
    print(
        f"device {args.device}, {args.threads} thread(s); {args.videos} videos of up to "
        f"{args.clips} clips, visual {args.visual_dim}-d, audio {args.audio_dim}-d, "
        f"{args.epochs} epochs"
    )
    print(
        f"{'run':<26}{'steps/s':>10}{'× av-ph':>9}{'seconds':>9}{'peak MiB':>10}"
        f"  ({base['peak_kind']})"
    )
    for r in results:
        print(
            f"{r['run']:<26}{r['steps_per_s']:>10.2f}{r['steps_per_s'] / base['steps_per_s']:>9.2f}"
            f"{r['seconds']:>9.2f}{r['peak_mib']:>10.0f}"
        )


if __name__ == "__main__":
    main()
