"""Feature extraction throughput and memory, per backbone, on this machine.

For each backbone (random weights: speed does not depend on the values):
  * decode-only: frames/s of decoding + resizing + cropping + windowing, no model;
  * model-only: windows/s of the network on ready tensors;
  * end-to-end: video-seconds/s of the real extractor (decode-ahead thread + model);
  * ratio: end-to-end / the slower of the two bounds (both in video-seconds/s). 1.0 means
    decoding is fully hidden behind the model (or the model behind decoding);
  * combined: the combined-work bound 1 / (1/decode + 1/model) in video-seconds/s, what
    decoding and the model reach when they share the same cores with no idle time (on
    2 cores both are CPU-bound, so hiding one behind the other is not possible), and
    vs comb.: end-to-end / that bound (1.0: at the bound; above 1: the two overlapped).
Then peak resident memory (RSS) of extracting a one-hour 1280x720 video in a fresh process
per backbone. Goals on a 2-core CPU: ratio >= 0.85, peak memory < 2 GiB.

Run: python benchmarks/extract.py [--seconds 30] [--hour-fps 5] [--backbones r3d34 c3d ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import torch

from highlight_pipeline.config import REPO_ROOT, features_slice, load_config
from highlight_pipeline.features.extract import build_extractor
from highlight_pipeline.features.extractors import extractor_names, get_extractor
from highlight_pipeline.features.neural import (
    NeuralExtractor,
    iter_audio_windows,
    iter_visual_windows,
    to_model_input,
)
from highlight_pipeline.features.windows import window_grid
from highlight_pipeline.video.probe import probe

# The window extractors of the registry (features/extractors.py), by kind.
SALIENCY = extractor_names("saliency")
VISUAL = [n for n in extractor_names("visual") if get_extractor(n).neural]
AUDIO = [n for n in extractor_names("audio") if get_extractor(n).neural]
WEIGHT_FREE = [n for n in extractor_names() if not get_extractor(n).neural and n not in SALIENCY]


def make_video(path: Path, seconds: float, fps: int, width: int = 1280, height: int = 720) -> None:
    """A drifting colour pattern with noise and a tone: cheap to make, not trivial to encode."""
    rng = np.random.default_rng(0)
    span = width + 1024
    yy, xx = np.mgrid[0:height, 0:span].astype(np.float32)
    base = np.stack(
        [
            128 + 100 * np.sin(xx / 97),
            128 + 100 * np.sin(yy / 61 + xx / 300),
            128 + 100 * np.sin((xx + yy) / 150),
        ],
        axis=-1,
    ).astype(np.uint8)
    base += rng.integers(0, 40, size=base.shape, dtype=np.uint8)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "28"}
        audio = container.add_stream("aac", rate=16000, layout="mono")
        for i in range(int(seconds * fps)):
            offset = (i * 7) % 1024
            frame = np.ascontiguousarray(base[:, offset : offset + width])
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(video.encode(None))
        tone = np.sin(2 * np.pi * 440 * np.arange(16000 * 10) / 16000).astype(np.float32) * 0.3
        for start in range(0, int(seconds * 16000), 1024):
            n = min(1024, int(seconds * 16000) - start)
            chunk = tone[(start % 160000) : (start % 160000) + n]
            if chunk.size < n:
                chunk = np.resize(tone, n)
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, start
            container.mux(audio.encode(frame))
        container.mux(audio.encode(None))


def feature_slice(name: str) -> dict:
    """The extractor's slice in the default config (8 fps at 128x96 and 16 kHz for the
    weight-free ones, 1 s windows every 0.5 s, a network's reference input)."""
    config = load_config(REPO_ROOT / "config.yaml")
    return features_slice(config, get_extractor(name).modality, name)


def runtime() -> dict:
    return {"weights_dir": "weights", "weights": "random", "device": "cpu", "batch_size": 8}


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def bench_neural(name: str, path: Path, row: SimpleNamespace) -> dict:
    extractor = NeuralExtractor(feature_slice(name), **runtime())
    if name in AUDIO:
        grid = window_grid(row.duration, 1.0, 0.5)
        decode_s, batches = timed(lambda: list(iter_audio_windows(path, 32000, grid, 8)))
        units, per_unit_seconds = len(grid), 0.5
        decode_rate = len(grid) / decode_s
        ready = [torch.from_numpy(b) for b in batches[:4]]
    else:
        spec = extractor.spec

        def decode():
            return [
                (w.shape[0], w if i < 4 else None)
                for i, (w, _, _) in enumerate(
                    iter_visual_windows(path, spec, row.fps, row.width, row.height, row.duration, 8)
                )
            ]

        decode_s, batches = timed(decode)
        units = sum(n for n, _ in batches)
        per_unit_seconds = spec.stride / (spec.fps or row.fps)
        decode_rate = row.frames / decode_s  # frames/s
        ready = [to_model_input(w, spec, extractor.device) for _, w in batches[:4] if w is not None]
    extractor._run(ready[0])  # warm-up
    model_s, _ = timed(lambda: [extractor._run(x) for x in ready])
    model_windows = sum(len(x) for x in ready)
    e2e_s, found = timed(lambda: extractor.extract(path, row))
    decode_bound = units * per_unit_seconds / decode_s
    model_bound = model_windows / model_s * per_unit_seconds
    e2e = row.duration / e2e_s
    combined = 1.0 / (1.0 / decode_bound + 1.0 / model_bound)
    return {
        "backbone": name,
        "decode_per_s": decode_rate,
        "decode_unit": "windows/s" if name in AUDIO else "frames/s",
        "model_windows_per_s": model_windows / model_s,
        "decode_bound_video_s_per_s": decode_bound,
        "model_bound_video_s_per_s": model_bound,
        "end_to_end_video_s_per_s": e2e,
        "ratio": e2e / min(decode_bound, model_bound),
        "combined_bound_video_s_per_s": combined,
        "vs_combined": e2e / combined,
        "windows": len(found.windows),
    }


def bench_weight_free(name: str, path: Path, row: SimpleNamespace) -> dict:
    extractor = build_extractor(feature_slice(name))
    e2e_s, found = timed(lambda: extractor.extract(path, row))
    return {
        "backbone": name,
        "end_to_end_video_s_per_s": row.duration / e2e_s,
        "windows": len(found.windows),
    }


def peak_memory(name: str, path: Path) -> float:
    """Peak RSS (MiB) of a fresh process extracting ``path`` with backbone ``name``.

    Read from VmHWM in /proc: ``ru_maxrss`` would include the parent's peak, which Linux
    carries across fork and exec."""
    code = (
        "import json, sys\n"
        "from types import SimpleNamespace\n"
        "from highlight_pipeline.features.extract import build_extractor\n"
        "from highlight_pipeline.video.probe import probe\n"
        "info = probe(sys.argv[1]); row = SimpleNamespace(path=sys.argv[1], **info.as_dict())\n"
        "found = build_extractor(json.loads(sys.argv[2]), json.loads(sys.argv[3]) or None)"
        ".extract(sys.argv[1], row)\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "print(len(found.windows), hwm)\n"
    )
    neural = name not in WEIGHT_FREE
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(path),
            json.dumps(feature_slice(name)),
            json.dumps(runtime() if neural else {}),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return int(out[1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="throughput video length")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--hour-fps", type=int, default=5, help="frame rate of the 1-hour video")
    parser.add_argument("--backbones", nargs="+", default=WEIGHT_FREE + VISUAL + AUDIO)
    parser.add_argument(
        "--memory-backbones", nargs="+", default=["colormotion", "logmel", "r3d34", "cnn14"]
    )
    parser.add_argument("--no-hour", action="store_true", help="skip the one-hour memory test")
    parser.add_argument(
        "--hour-video", type=Path, help="reuse a one-hour video instead of making one"
    )
    parser.add_argument("--no-throughput", action="store_true", help="only the memory test")
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        make_video(clip, args.seconds, args.fps)
        info = probe(clip)
        row = SimpleNamespace(path=str(clip), **info.as_dict())
        print(
            f"throughput video: {info.width}x{info.height}, {info.fps:.0f} fps, "
            f"{info.duration:.0f} s; torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads, CPU"
        )
        header = (
            f"{'backbone':<12}{'decode':>18}{'model win/s':>13}{'decode vs/s':>13}"
            f"{'model vs/s':>12}{'e2e vs/s':>10}{'ratio':>7}{'combined':>10}{'vs comb.':>10}"
        )
        print(header)
        for name in [] if args.no_throughput else args.backbones:
            if name in WEIGHT_FREE:
                r = bench_weight_free(name, clip, row)
                print(
                    f"{name:<12}{'':>18}{'':>13}{'':>13}{'':>12}"
                    f"{r['end_to_end_video_s_per_s']:>10.2f}{'':>7}",
                    flush=True,
                )
                continue
            r = bench_neural(name, clip, row)
            print(
                f"{name:<12}{r['decode_per_s']:>8.1f} {r['decode_unit']:<9}"
                f"{r['model_windows_per_s']:>13.2f}{r['decode_bound_video_s_per_s']:>13.2f}"
                f"{r['model_bound_video_s_per_s']:>12.2f}{r['end_to_end_video_s_per_s']:>10.2f}"
                f"{r['ratio']:>7.2f}{r['combined_bound_video_s_per_s']:>10.2f}"
                f"{r['vs_combined']:>10.2f}",
                flush=True,
            )
        if args.no_hour:
            return
        hour = args.hour_video or Path(tmp) / "hour.mp4"
        start = time.perf_counter()
        if args.hour_video is None:
            make_video(hour, 3600, args.hour_fps)
        info = probe(hour)
        print(
            f"\none-hour video: {info.width}x{info.height} at {info.fps:.0f} fps, "
            f"{info.duration:.0f} s, {hour.stat().st_size / 2**20:.0f} MiB "
            f"(ready in {time.perf_counter() - start:.0f} s)"
        )
        for name in args.memory_backbones:
            seconds, mib = timed(lambda n=name: peak_memory(n, hour))
            print(f"{name:<12} peak RSS {mib:8.0f} MiB  ({seconds:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
