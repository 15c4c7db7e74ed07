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
    python benchmarks/train.py --runs pld/tased-full pld/c3d-full   # pld only
    python benchmarks/train.py --numerics           # pinned against unpinned, per run
    python benchmarks/train.py --numerics native pinned native+MKL_CBWR=COMPATIBLE \
        --runs chd/full --repeats 5                 # the cost of one pin alone
    python benchmarks/train.py --optimiser          # Adam's one-pass step against torch's ops

``--numerics [SETTING ...]`` (default ``native pinned``) trains each run once per setting
and repeat, each in a fresh process, the settings alternating within every repeat, and
prints the median CPU and wall seconds and their ratio to ``native``. A setting is
``pinned`` (what every ``hlp`` job does), ``native`` (``HLP_NUMERICS=native``: only the
thread counts) or either with variables added, ``native+MKL_CBWR=COMPATIBLE`` or
``pinned+MKL_CBWR=AUTO,ATEN_CPU_CAPABILITY=avx2`` (a comma separates variables; a value
may not contain one). The ratio of CPU seconds is the one to read on a shared machine:
other people's work stretches the wall time, much less the CPU time of a 1-thread job.

``--optimiser`` times one Adam step on TASED-Net's parameters (pld) and on a set of
transformer-sized matrices (about hpcl's), pinned as in a job, with the one-pass
loop (``methods/adam_step.py``) and with the tensor operations it replaces, alternating, and
checks that both leave the same bits.

pld learns from frames, not features: each of its runs trains on a synthetic frame cache
(``features/frames.py`` layout, random frames) at the embedded default's resolution and at
the paper's (TASED 224x384, C3D 112x112), and reports training and scoring *windows* per
second and the peak memory. Beside it, the data path it replaces: a window read from the
frame cache against the same window decoded from an H.264 file each time it is drawn
(seek to the keyframe before it, decode, resample, convert), on a generated 640x360 video.
"""

from __future__ import annotations

import argparse
import json
import os
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
    start, cpu_start = time.perf_counter(), time.process_time()
    get_method(method).implementation().fit(inputs, run, 0, args.device, False)
    if args.device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    peak = torch.cuda.max_memory_allocated() / 2**20 if args.device == "cuda" else peak_rss_mib()
    return {
        "run": f"{method}/{variant}",
        "steps": steps,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "steps_per_s": steps / seconds,
        "peak_mib": peak,
        "peak_kind": "cuda allocated" if args.device == "cuda" else "VmHWM",
    }


PLD_SIZES = {"embedded": {"tased": (32, 64), "c3d": (32, 32)}, "paper": None}


def synthetic_frame_inputs(path: Path, videos: int, frames: int, size: tuple[int, int]):
    """A frame shard of random frames (``videos`` x ``frames`` at 4 fps) and its inputs."""
    import h5py
    import numpy as np

    from highlight_pipeline.features.frames import open_frame_cache
    from highlight_pipeline.methods.inputs import MethodInputs, VideoInputs

    rng = np.random.default_rng(0)
    fps = 4.0
    with h5py.File(path, "w") as handle:
        handle.attrs.update(
            backbone="frames",
            preprocessing=json.dumps({"slice": {"fps": fps, "height": size[0], "width": size[1]}}),
            failed="[]",
        )
        for i in range(videos):
            group = handle.create_group(f"v{i}")
            data = rng.integers(0, 256, (frames, *size, 3), dtype=np.uint8)
            group.create_dataset("frames", data=data, chunks=(8, *size, 3), compression="lzf")
            group.attrs.update(video_id=f"v{i}", extent=frames / fps, partial=False)
    cache = open_frame_cache([path])
    clips = frames // 8  # 2 s clips
    out = []
    for i in range(videos):
        labels = (rng.random(clips) < 0.4).astype(np.int64)
        out.append(
            VideoInputs(
                f"v{i}",
                np.arange(clips) * 2.0,
                np.arange(1, clips + 1) * 2.0,
                split="train",
                labels=labels,
                frames=cache.sources[f"v{i}"],
            )
        )
    geometry = {"fps": fps, "height": size[0], "width": size[1]}
    return MethodInputs(out, frozenset({"frames", "labels"}), {}, geometry)


def measure_pld(variant: str, scale: str, args: argparse.Namespace) -> dict:
    """Train (and score) one pld run on random frames in this process."""
    import tempfile

    import numpy as np
    import torch

    from highlight_pipeline.config import validate_config
    from highlight_pipeline.methods import pld
    from highlight_pipeline.runs import resolve_run

    torch.set_num_threads(args.threads)
    config = validate_config(
        {
            "run_datasets": ["bench"],
            "datasets": {"bench": {"reader": "synthetic"}},
            "evaluation": {"runs": {"pld": [variant]}},
        }
    )
    run = resolve_run(config, "bench", "pld", variant)
    settings = run["settings"]
    backbone = settings["backbone"]
    size = tuple(settings["size"][backbone]) if scale == "paper" else PLD_SIZES[scale][backbone]
    paper = scale == "paper"
    videos = 2 if paper else 8
    settings.update(
        pretrained=False,
        spatial=False,  # the targets' cost is not the network's; no saliency needed
        epochs=1 if paper else 2,
        windows_per_video=2,
        batch_size=2,
        bn_windows=2,
    )
    with tempfile.TemporaryDirectory() as tmp:
        inputs = synthetic_frame_inputs(Path(tmp) / "frames.h5", videos, 64, size)
        if args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        model = pld.fit(inputs, run, 0, args.device, False)
        if args.device == "cuda":
            torch.cuda.synchronize()
        train_seconds = time.perf_counter() - start
        windows = settings["epochs"] * videos * settings["windows_per_video"]
        model.net.to(args.device)
        targets = np.arange(4 if paper else 16)
        start = time.perf_counter()
        model.distinction_maps(inputs.videos[0], targets)
        score_seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**20 if args.device == "cuda" else peak_rss_mib()
    return {
        "run": f"pld/{variant}",
        "scale": f"{scale} {size[0]}x{size[1]}",
        "train_windows_per_s": windows / train_seconds,
        "score_windows_per_s": len(targets) / score_seconds,
        "peak_mib": peak,
        "peak_kind": "cuda allocated" if args.device == "cuda" else "VmHWM",
    }


def window_sources(args: argparse.Namespace) -> dict:
    """Windows per second from the frame cache against decoding each from the video."""
    import tempfile

    import av
    import numpy as np
    import pandas as pd

    from highlight_pipeline.features.frames import open_frame_cache, write_frame_shard

    fps, length, size = 4.0, 32, (32, 64)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "v.mp4"
        with av.open(str(video), "w") as container:
            stream = container.add_stream("libx264", rate=30)
            stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
            stream.options = {"preset": "ultrafast", "g": "60"}
            base = rng.integers(0, 256, (360, 640, 3), dtype=np.uint8)
            for i in range(30 * 40):  # 40 s
                frame = av.VideoFrame.from_ndarray(np.roll(base, 4 * i, axis=1), format="rgb24")
                frame.pts = i
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        manifest = pd.DataFrame(
            [{"video_id": "v", "path": str(video), "duration": 40.0, "fingerprint": "f"}]
        )
        shard = Path(tmp) / "frames.h5"
        start = time.perf_counter()
        geometry = {"fps": fps, "height": size[0], "width": size[1]}
        write_frame_shard(manifest, 0, 1, geometry, shard, progress=False, console=print)
        cache_seconds = time.perf_counter() - start
        source = open_frame_cache([shard]).sources["v"]
        targets = rng.integers(length, source.n_frames, 24)
        start = time.perf_counter()
        for t in targets:
            source.read(np.arange(t - length + 1, t + 1))
        cached = len(targets) / (time.perf_counter() - start)
        start = time.perf_counter()
        for t in targets:
            decode_window(video, (t - length + 1) / fps, t / fps, fps, size)
        decoded = len(targets) / (time.perf_counter() - start)
    return {"cached": cached, "decoded": decoded, "cache_write_s": cache_seconds}


def decode_window(path: Path, first: float, last: float, fps: float, size: tuple[int, int]):
    """The frames at first, first + 1/fps, ..., last: seek, decode, nearest earlier frame."""
    import av
    import numpy as np

    wanted = np.arange(round(first * fps), round(last * fps) + 1) / fps
    out = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        container.seek(int(first / stream.time_base), stream=stream, backward=True)
        current = None
        for frame in container.decode(stream):
            while len(out) < len(wanted) and frame.time > wanted[len(out)] + 1e-6 and current:
                out.append(current.to_ndarray(width=size[1], height=size[0], format="rgb24"))
            current = frame
            if len(out) == len(wanted):
                break
        while len(out) < len(wanted) and current is not None:
            out.append(current.to_ndarray(width=size[1], height=size[0], format="rgb24"))
    return np.stack(out)


def tased_inference(args: argparse.Namespace) -> dict:
    """TASED-Net's forward at 224x384 in inference: PyTorch's max_pool3d kernel against the
    shifted maxima the pipeline uses (``backbones.tased.max_pool_333``; identical maps)."""
    import torch
    import torch.nn.functional as F

    from highlight_pipeline.features.backbones import tased

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = tased.TASEDv2().eval()
    x = torch.rand(1, 3, 32, 224, 384) * 2 - 1
    shifted = tased.max_pool_333
    found = {}
    for name, pool in (("kernel", lambda y: F.max_pool3d(y, 3, 1, 1)), ("shifted", shifted)):
        tased.max_pool_333 = pool
        best = float("inf")
        for _ in range(2):
            start = time.perf_counter()
            with torch.no_grad():
                out = net(x)
            best = min(best, time.perf_counter() - start)
        found[name] = (best, out)
    tased.max_pool_333 = shifted
    return {
        "kernel": found["kernel"][0],
        "shifted": found["shifted"][0],
        "identical": bool(torch.equal(found["kernel"][1], found["shifted"][1])),
    }


#: The pinned training's CPU time may be at most this many times the unpinned one's.
PINNED_GOAL = 1.25


def numerics_environment(setting: str) -> dict[str, str]:
    """The environment of a child for one ``--numerics`` setting: this one without any
    pin variable, ``HLP_NUMERICS`` from the setting's mode, then its added variables."""
    from highlight_pipeline.numerics import PIN_VARIABLES

    mode, _, extra = setting.partition("+")
    if mode not in ("pinned", "native"):
        raise SystemExit(f"--numerics: {setting!r} is not pinned[+VAR=VALUE,...] or native[+...]")
    env = {k: v for k, v in os.environ.items() if k not in PIN_VARIABLES}
    env["HLP_NUMERICS"] = mode
    for item in filter(None, extra.split(",")):
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--numerics: {item!r} in {setting!r} is not VAR=VALUE")
        env[name] = value
    return env


def compare_numerics(runs: list[str], settings: list[str], options: list[str], repeats: int):
    """Each run under each setting in fresh processes, alternating; medians and ratios."""
    import statistics

    if "native" not in settings:
        settings = ["native", *settings]
    found: dict[tuple[str, str], list[dict]] = {}
    for run in runs:
        for _ in range(repeats):
            for setting in settings:
                child = [sys.executable, __file__, "--one", run, *options]
                out = subprocess.run(
                    child,
                    capture_output=True,
                    text=True,
                    check=True,
                    env=numerics_environment(setting),
                )
                found.setdefault((run, setting), []).append(
                    json.loads(out.stdout.strip().splitlines()[-1])
                )
    print(
        f"{'run':<22}{'numerics':<44}{'CPU s':>8}{'× native':>10}{'wall s':>8}{'× native':>10}"
        f"  (medians of {repeats}, fresh processes, alternating)"
    )
    rows = []
    for run in runs:
        cpu = {s: statistics.median(r["cpu_seconds"] for r in found[run, s]) for s in settings}
        wall = {s: statistics.median(r["seconds"] for r in found[run, s]) for s in settings}
        for setting in settings:
            rows.append(
                {
                    "run": run,
                    "numerics": setting,
                    "cpu_seconds": cpu[setting],
                    "wall_seconds": wall[setting],
                    "cpu_ratio": cpu[setting] / cpu["native"],
                    "wall_ratio": wall[setting] / wall["native"],
                }
            )
            r = rows[-1]
            goal = ""
            if setting == "pinned":  # issue 22: pinned no slower than 1.25x unpinned
                met = "met" if r["cpu_ratio"] <= PINNED_GOAL else "not met"
                goal = f"  goal <= {PINNED_GOAL}: {met}"
            print(
                f"{run:<22}{setting:<44}{r['cpu_seconds']:>8.2f}{r['cpu_ratio']:>10.2f}"
                f"{r['wall_seconds']:>8.2f}{r['wall_ratio']:>10.2f}{goal}"
            )
    return rows


def measure_optimiser(steps: int = 8) -> list[dict]:
    """Seconds per Adam step, one-pass loop against tensor operations (the median of
    ``steps`` steps after one), on two parameter sets; in a pinned child process."""
    import statistics

    import torch

    from highlight_pipeline.methods import optim
    from highlight_pipeline.methods.pld import build_network

    sets = {
        "TASED-Net (pld)": [tuple(p.shape) for p in build_network("tased").parameters()],
        "12 x 512x512 + 4 x 2048x512 (hpcl-sized)": [(512, 512)] * 12
        + [(2048, 512)] * 4
        + [(512,)] * 24,
    }
    rows = []
    for name, shapes in sets.items():
        timings, finals = {}, {}
        for path in ("tensor-ops", "one-pass", "tensor-ops", "one-pass"):
            generator = torch.Generator().manual_seed(0)
            params = [torch.nn.Parameter(torch.randn(s, generator=generator)) for s in shapes]
            adam = optim.Adam(params, lr=1e-3)
            adam.one_pass = path == "one-pass"
            took = []
            for _ in range(steps + 1):
                for p in params:
                    p.grad = torch.randn(p.shape, generator=generator) * 0.01
                start = time.perf_counter()
                adam.step()
                took.append(time.perf_counter() - start)
            timings.setdefault(path, []).extend(took[1:])
            finals[path] = [p.detach().clone() for p in params]
        rows.append(
            {
                "set": name,
                "elements": sum(int(torch.Size(s).numel()) for s in shapes),
                "tensor_ops_s": statistics.median(timings["tensor-ops"]),
                "one_pass_s": statistics.median(timings["one-pass"]),
                "identical": all(
                    torch.equal(a, b)
                    for a, b in zip(finals["tensor-ops"], finals["one-pass"], strict=True)
                ),
            }
        )
    return rows


def trainable_runs() -> list[str]:
    """Every variant that trains on clip features (avph's pseudo-highlight predictor
    trains nothing; pld trains on frames: its own section)."""
    from highlight_pipeline.methods.registry import get_method, method_names

    found = []
    for name in method_names():
        if "frames" in get_method(name).consumes:
            continue
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
    parser.add_argument("--one-pld", help=argparse.SUPPRESS)  # child: variant:scale
    parser.add_argument("--pld-scales", nargs="*", default=["embedded", "paper"])
    parser.add_argument(
        "--numerics",
        nargs="*",
        metavar="SETTING",
        help="compare numeric settings instead (default: native pinned); see the docstring",
    )
    parser.add_argument("--repeats", type=int, default=3, help="--numerics: runs per setting")
    parser.add_argument("--json", type=Path, help="--numerics: also write the rows here")
    parser.add_argument(
        "--optimiser", action="store_true", help="time Adam's one-pass step instead"
    )
    parser.add_argument("--one-optimiser", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.optimiser:
        child = [sys.executable, __file__, "--one-optimiser", f"--threads={args.threads}"]
        out = subprocess.run(child, capture_output=True, text=True, check=True)
        print(f"Adam, one step, pinned, {args.threads} thread(s): median seconds")
        print(f"{'parameters':<42}{'elements':>12}{'tensor ops':>12}{'one pass':>10}{'ratio':>7}")
        for r in json.loads(out.stdout.strip().splitlines()[-1]):
            print(
                f"{r['set']:<42}{r['elements']:>12,}{r['tensor_ops_s']:>12.4f}"
                f"{r['one_pass_s']:>10.4f}{r['tensor_ops_s'] / r['one_pass_s']:>7.2f}"
                f"  {'same bits' if r['identical'] else 'BITS DIFFER'}"
            )
        return
    if args.one or args.one_pld or args.one_optimiser:
        from highlight_pipeline.numerics import pin_numerics

        pin_numerics(args.threads)  # as every `hlp train` job does
        if args.one_optimiser:
            print(json.dumps(measure_optimiser()))
            return
        if args.one_pld:
            variant, scale = args.one_pld.split(":")
            print(json.dumps(measure_pld(variant, scale, args)))
            return
        method, variant = args.one.split("/")
        print(json.dumps(measure_one(method, variant, args)))
        return
    options = [
        f"--{name.replace('_', '-')}={getattr(args, name)}"
        for name in ("videos", "clips", "visual_dim", "audio_dim", "epochs", "threads", "device")
    ]
    if args.numerics is not None:
        runs = args.runs or ["avph/av-ph", "chd/full", "hpcl/co-av"]
        rows = compare_numerics(runs, args.numerics or ["pinned"], options, args.repeats)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
        return
    runs = args.runs or [*trainable_runs(), "pld/tased-full", "pld/c3d-full"]
    pld_runs = [r for r in runs if r.startswith("pld/")]
    runs = [r for r in runs if not r.startswith("pld/")]
    if "avph/av-ph" not in runs:
        runs = ["avph/av-ph", *runs]
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
    if not pld_runs:
        return
    print()
    sources = window_sources(args)
    print(
        "pld windows (32 frames of 32x64 at 4 fps) from the frame cache "
        f"{sources['cached']:.1f}/s, decoded from the 640x360 H.264 file each time "
        f"{sources['decoded']:.1f}/s: x{sources['cached'] / sources['decoded']:.0f}; "
        f"the cache of the 40 s video took {sources['cache_write_s']:.1f} s to write"
    )
    pool = tased_inference(args)
    print(
        f"TASED-Net forward, 1 window at 224x384: max_pool3d kernel {pool['kernel']:.2f} s, "
        f"shifted maxima {pool['shifted']:.2f} s: x{pool['kernel'] / pool['shifted']:.2f} "
        f"(maps identical: {pool['identical']})"
    )
    print(f"{'pld run':<20}{'frames':>18}{'train win/s':>13}{'score win/s':>13}{'peak MiB':>10}")
    for run in pld_runs:
        for scale in args.pld_scales:
            child = [sys.executable, __file__, "--one-pld", f"{run[4:]}:{scale}", *options]
            out = subprocess.run(child, capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{r['run']:<20}{r['scale']:>18}{r['train_windows_per_s']:>13.2f}"
                f"{r['score_windows_per_s']:>13.2f}{r['peak_mib']:>10.0f}"
            )


if __name__ == "__main__":
    main()
