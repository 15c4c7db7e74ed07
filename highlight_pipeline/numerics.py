"""Pin the CPU code paths of the numeric libraries so that results do not depend on the machine.

Call :func:`pin_numerics` at the very start of a process, **before torch, numpy, scipy,
numba, scikit-learn or umap are imported** (directly or through another module). Each
variable below is read once, when its library is loaded or first used; setting it later
does nothing in that process (:func:`pin_numerics` warns when it is too late).
``highlight_pipeline`` imports nothing heavy at package level, so
``from highlight_pipeline.numerics import pin_numerics`` is safe as the first import.
Values are set with ``os.environ.setdefault``: a value that is already in the environment
(yours, or the ``OMP_NUM_THREADS`` etc. that Snakemake sets to a job's ``threads``) wins.

Why: these libraries choose SIMD kernels (AVX-512, AVX2, SSE) by the CPU they find, and
different kernels add in a different order. The float results then differ in the last bits,
and training turns that into different models. The default pipeline, run on the same videos
(the random-baseline row was identical): 0.889 ± 0.114 avph mAP on an Intel Xeon with
AVX-512 (this is the "fresh clone" number), 0.863 ± 0.098 with the kernels of an AVX2-only
Intel machine simulated (the log-mel features differ by up to 1e-6 and the recurrence scores
by 1e-7; pseudo-labels and K are the same). With the pins it gives 0.879 ± 0.071 in both,
and every output file (features, pseudo-labels, models, predictions, tables) is
byte-identical, also with ``--cores 1``.

How this was measured: each stage ran in fresh processes under two values of a variable on
that Xeon, and the outputs were compared bitwise. "Another CPU" was simulated by capping or
switching the kernel choice. Versions: torch 2.13.0+cpu (MKL 2024.2, oneDNN 3.12),
numpy 2.4 with scipy-openblas 0.3.31, numba 0.68 / llvmlite 0.50, umap-learn 0.5.12,
scikit-learn 1.9, PyAV 18.1 (FFmpeg 8.1).

x86_64 pins. They are set only on x86_64 CPUs that have AVX2, FMA, BMI1/2, F16C and MOVBE
(every AVX2 CPU since Intel Haswell and AMD Excavator/Zen). They name x86 kernels: on
aarch64 they would do harm (a foreign ``NUMBA_CPU_NAME`` aborts the process with an LLVM
error; ``NPY_ENABLE_CPU_FEATURES`` with a foreign name turns off all of numpy's SIMD), so
they are not set there.

``ATEN_CPU_CAPABILITY=avx2``
    torch's own kernels (softmax, layer norm, attention, reductions) exist in default, avx2
    and avx512 builds. avph training (30 epochs, 12 × 30 clips, 1 thread) ends with loss
    0.0867787 under avx512 (chosen automatically here), 0.0868502 under avx2 and 0.0868509
    under default, and all scores differ. A value that torch does not know is ignored with a
    warning.
``MKL_CBWR=COMPATIBLE``
    torch's BLAS is MKL (``torch.__config__.show()``: BLAS_INFO=mkl). Linear layers and
    matmul use MKL sgemm, and ``torch.exp`` uses MKL VML. MKL picks its code by CPU, and on
    AMD it runs different code. Capping MKL at AVX2 with ``MKL_ENABLE_INSTRUCTIONS=AVX2``
    changed the final loss from 0.0867787 to 0.0961077. With ``COMPATIBLE`` (SSE2 code
    without the approximate rcpps/rsqrtps) the results were bitwise the same with
    ``MKL_ENABLE_INSTRUCTIONS`` set to AVX512_E1, AVX2 or SSE4_2. On non-Intel CPUs MKL
    honours only AUTO and COMPATIBLE, and MKL documents COMPATIBLE as giving the same
    results on Intel and compatible CPUs. ``AVX2`` is Intel-only: on AMD it falls back to
    AUTO without a warning. Cost: avph training (100 epochs, 528 + 80 features) takes
    about 6.4 s instead of 4.2 s (median of 5; the AVX2 branch takes 5.0 s).
``ONEDNN_MAX_CPU_ISA=AVX2``
    oneDNN runs torch's convolutions, which only the neural backbones use. It has no effect
    on avph or on the weight-free default. Conv2d and Conv3d outputs differ between
    AVX512_CORE (chosen automatically here), AVX2 and SSE41.
``OPENBLAS_CORETYPE=Haswell``
    numpy's and scipy's OpenBLAS (DYNAMIC_ARCH builds) pick a kernel by CPU. SkylakeX,
    Cooperlake and SapphireRapids (AVX-512; SkylakeX is chosen automatically here) agree;
    Haswell and Zen (AVX2) give another result; Sandybridge and Prescott give two more.
    Affected: float32 and float64 matmul, and so the log-mel features (``power @ filters``)
    and the recurrence scores. Haswell is the AVX2 kernel, the one an AMD Zen CPU gets
    anyway. Cost: log-mel extraction is about 0.06 s slower per 4 videos; not measurable
    elsewhere.
``NPY_ENABLE_CPU_FEATURES=X86_V3``
    numpy's ufunc loops are built for X86_V2, X86_V3 (AVX2) and X86_V4 (AVX-512). float64
    ``np.log`` differs between X86_V4 and X86_V3. float32 log and exp, and the magnitude
    of complex numbers (the power spectrum), differ between X86_V3 and the X86_V2
    baseline. The pipeline's log-mel features happened not to change between X86_V3 and
    X86_V4. No measurable cost.
``NUMBA_CPU_NAME=haswell`` and ``NUMBA_CPU_FEATURES=`` (empty)
    UMAP and pynndescent are numba code, compiled with fastmath for the host CPU, so the
    vector width and FMA contraction (and with them the order of additions) follow the CPU.
    The UMAP embedding of 24 fixed vectors is the same for this Xeon and the ``haswell``,
    ``skylake``, ``x86-64-v3`` and ``znver3`` targets. It differs for ``znver4`` (AMD
    AVX-512, 512-bit vectors) and ``generic`` (SSE2): embedding[0, 0] is 12.957, 7.904 and
    4.054, and the K=2 silhouette 0.787, 0.667 and 0.807, so the chosen K can change. In
    the default pipeline, ``znver4`` moved the silhouettes (K=3: 0.3285 vs 0.3274) but not
    K. ``NUMBA_CPU_NAME`` alone is not enough, because numba then still adds the host's
    features (``haswell`` plus this host's AVX-512 gave the znver4 result). The empty
    ``NUMBA_CPU_FEATURES`` means the target's own features, and with both set numba never
    consults the host. No measurable cost (UMAP of 600 points: 1.4 to 1.9 s either way).
    Numba caches compiled code per target, so changing the target means one recompile.

Thread counts. These are set on every machine, from the ``threads`` argument (default 1).

``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``
    torch's intra-op threads split reductions. avph training differs between 1, 2 and 4
    threads (final loss 0.0867787 with 1 thread, 0.0867976 with 2). So does scoring a
    trained model, and without these variables the default is the number of cores.
    OpenBLAS with 1 vs 2 threads changes float64 matmul and the recurrence scores.
    scikit-learn's K-means (OpenMP) changes its centres and inertia with 1, 2 or 4 threads
    (the labels stayed the same; ``n_init`` keeps the run with the lowest inertia, so a
    close call could go the other way). Results match only between runs with the same
    count.

Checked and found to have no effect: ``ONEDNN_MAX_CPU_ISA`` on avph;
``OPENBLAS_CORETYPE``, OpenBLAS threads and numba threads on UMAP and K-means (UMAP runs
with ``n_jobs=1``); numpy's dispatch on the colour/motion features, ``np.fft``, sums and
means.

FFmpeg's decoders (:func:`pin_ffmpeg`). FFmpeg picks SIMD code by the CPU flags it detects
and offers no environment variable for them. Every process that decodes calls
``av_force_cpu_flags(0)`` (FFmpeg's plain C code) on PyAV's bundled libavutil, through
``ctypes``, before it opens a file to decode (``video/decode.py`` and ``video/probe.py``
call :func:`pin_ffmpeg`: the feature, frame and saliency jobs, ``hlp manifest``, ``hlp
predict``). It is set on every x86_64 CPU (the C code is the same machine code on all of
them), not elsewhere, and not with ``HLP_NUMERICS=native``; the metrics record it
(``numerics.ffmpeg``). Measured on a 2-core AMD EPYC (Zen 4, with AVX-512) with the
embedded dataset's 18 videos, FFmpeg's flags forced before anything decoded:

* The float audio decoders and the resampler follow the flags. AAC's decoded samples, and
  the 16 kHz mono sound the extractors read, differ between the native flags and SSE2 or
  C (the three give three results); FLAC's decoded samples do not (integer code), but the
  resampled sound does. The log-mel window features of 17 of the 18 videos changed by up
  to 3.4e-5 with the pin, and avph's default average with them (5 seeds: 0.589 -> 0.618;
  seed 0 0.5933 -> 0.5949; no other row of the table moved). With the pin, native, SSE2
  and no flags give the same samples for AAC, MP3, AC3, Vorbis and Opus
  (``tests/test_audio_decoding_pin.py``); without it all five differ between native and C.
* The flag sets of AVX2 CPUs decode alike: this CPU's own flags, the same without
  AVX512ICL, without AVX-512 or without SLOW_GATHER (an Intel Xeon's sets) gave the same
  sound for all 18 videos; taking FMA3 away changed it. (The Intel Xeon measured the same
  for AAC: its AVX-512 and AVX2 flags decoded alike.) So FFmpeg's SIMD does not explain the
  avph difference between that Xeon (0.704) and this EPYC (0.589), and the pin did not
  bring this machine to 0.704; what does is not known.
* Video: H.264 and MPEG-4 part 2 frames, and the RGB frames after libswscale's scaling,
  were identical under native, SSE2 and C flags (so were the colormotion features), so
  the pin only costs there. CPU seconds, medians of 3 on the shared machine: decoding the
  18 videos' frames at 8 fps, 128x96, 6.2 s natively against 9.3 s; their sound 0.8 s
  against 1.1 s; the two colormotion feature jobs 12.5 s against 16.0 s, the two logmel
  jobs 2.8 s against 3.5 s (about 0.4 s of each job is start-up). The flag is
  process-wide, so it is not kept to the audio: a decoder opened while another thread had
  switched the flags would depend on timing. Of libswscale, the *scaled* bilinear
  yuv420p -> rgb24 conversion was the same with AVX-512, AVX2, SSE2 and plain C; the
  *unscaled* one (a source already at the decode size) differs between AVX2 and SSE2/C
  (mean grey level 125.86 vs 125.51) unless ``interpolation`` includes
  ``Interpolation.ACCURATE_RND | Interpolation.BITEXACT`` (``video/decode.py``), which
  makes it the same everywhere and leaves the scaled output unchanged.
* Encoders follow the flags too: ``hlp synth``'s AAC stream differs between AVX2+FMA3 and
  AVX, SSE2 or C, its MPEG-4 stream (the .mkv files) between SSE2 and C, and so do the
  holdout recipe's AAC, Vorbis and MPEG-4 streams (libopus and libvpx detect the CPU
  themselves). The generators never decode, so they keep FFmpeg's own choice and the
  generated datasets' bytes did not change; they are the same with the AVX2 and AVX-512
  flag sets, so on every CPU the x86_64 pins apply to. For the same reason the embedded
  dataset need not store its sound losslessly: with the pin its AAC streams decode to the
  same samples on those CPUs. A process that decodes and then encodes (the tests, which
  pin from the start for that reason; benchmarks) encodes with the C code.

What stays machine-dependent:

* Library versions (pinned by the environment, not here), glibc's libm (numba-compiled
  code calls it), GPUs, the encoders of the generated datasets on CPUs without AVX2 and
  FMA3 (above), and MKL's behaviour on AMD CPUs (documented, not measured).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import platform
import sys
import threading
from pathlib import Path

__all__ = [
    "FFMPEG_CPU_FLAGS",
    "REQUIRED_CPU_FLAGS",
    "THREAD_VARIABLES",
    "X86_PINS",
    "describe_numerics",
    "ffmpeg_pinned",
    "pin_ffmpeg",
    "pin_numerics",
    "x86_64_with_avx2",
]

#: The CPU features the x86_64 pins need (ATen's avx2 kernels, numba's haswell target).
REQUIRED_CPU_FLAGS = frozenset({"avx2", "fma", "bmi1", "bmi2", "f16c", "movbe"})

#: Variables that pin kernel choices to the AVX2 level (x86_64 with AVX2 only).
X86_PINS: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "COMPATIBLE",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "OPENBLAS_CORETYPE": "Haswell",
    "NPY_ENABLE_CPU_FEATURES": "X86_V3",
    "NUMBA_CPU_NAME": "haswell",
    "NUMBA_CPU_FEATURES": "",
}

#: Variables that fix the number of OpenMP / BLAS threads (every platform).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

#: FFmpeg's CPU flags while decoding: none, its plain C code (``av_force_cpu_flags(0)``).
FFMPEG_CPU_FLAGS = 0

#: Modules that read the variables when they are imported or first used.
_READERS = ("torch", "numpy", "scipy", "numba", "sklearn", "umap")


def _cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def x86_64_with_avx2() -> bool:
    """True on an x86_64 machine whose CPU can run the AVX2-level pins."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    return REQUIRED_CPU_FLAGS <= _cpu_flags()


def pin_numerics(threads: int | None = None) -> dict[str, str]:
    """Set the variables of the module docstring that are not set yet; return those it set.

    ``HLP_NUMERICS=native`` in the environment leaves the kernels to the libraries (faster
    on big models: chd at d = 512 trains about 5x faster on our CPU) and pins only the
    thread counts; results are then reproducible on the same machine only.

    ``threads`` (None means 1, what the pipeline's jobs use) is the number of OpenMP/BLAS
    threads. The x86_64 kernel pins are set only where :func:`x86_64_with_avx2` holds;
    elsewhere (aarch64, x86_64 without AVX2) only the thread counts are, and results are
    reproducible only on the same kind of CPU. Call it before torch, numpy, scipy, numba,
    scikit-learn or umap are imported; a RuntimeWarning names those that already were.
    """
    if threads is None:
        threads = 1
    if threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    wanted = {name: str(threads) for name in THREAD_VARIABLES}
    if x86_64_with_avx2() and os.environ.get("HLP_NUMERICS", "pinned") != "native":
        wanted.update(X86_PINS)
    loaded = [name for name in _READERS if name in sys.modules]
    if loaded:
        import warnings

        warnings.warn(
            f"pin_numerics() after importing {', '.join(loaded)}: their numeric settings "
            "were read at import and are not pinned in this process",
            RuntimeWarning,
            stacklevel=2,
        )
    set_now: dict[str, str] = {}
    for name, value in wanted.items():
        if name not in os.environ:
            os.environ[name] = value
            set_now[name] = value
    return set_now


_FFMPEG_LOCK = threading.Lock()
_libavutil: ctypes.CDLL | None = None
_libavutil_searched = False


def _find_libavutil() -> str | None:
    """The file of the libavutil that PyAV uses: the wheel's own copy (``av.libs/`` on
    Linux, ``av/.dylibs/`` on macOS), found without importing ``av``; else, for a PyAV
    linked to a system FFmpeg, the libavutil that importing ``av`` maps (Linux)."""
    spec = importlib.util.find_spec("av")
    if spec is None or not spec.submodule_search_locations:
        return None
    package = Path(next(iter(spec.submodule_search_locations)))
    for folder in (package.parent / "av.libs", package / ".dylibs", package):
        found = sorted(folder.glob("libavutil*.so*")) + sorted(folder.glob("libavutil*.dylib"))
        if found:
            return str(found[0])
    import av  # noqa: F401  (loads its libavutil, wherever the linker found it)

    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.split(maxsplit=5)[-1].strip()
                if "/libavutil" in path and ".so" in path:
                    return path
    except OSError:
        pass
    return None


def _load_libavutil() -> ctypes.CDLL | None:
    """PyAV's libavutil (loaded once; None where it cannot be found). Loading it by its
    path gives the same library that PyAV's modules link to (the loader matches it by
    its name), so flags set here are the flags PyAV's decoders read."""
    global _libavutil, _libavutil_searched
    with _FFMPEG_LOCK:
        if not _libavutil_searched:
            _libavutil_searched = True
            path = _find_libavutil()
            if path is not None:
                try:
                    lib = ctypes.CDLL(path)
                    lib.av_force_cpu_flags.argtypes = [ctypes.c_int]
                    lib.av_force_cpu_flags.restype = None
                    lib.av_get_cpu_flags.argtypes = []
                    lib.av_get_cpu_flags.restype = ctypes.c_int
                    _libavutil = lib
                except (OSError, AttributeError):
                    _libavutil = None
        return _libavutil


def ffmpeg_pinned() -> bool:
    """Whether :func:`pin_ffmpeg` sets FFmpeg's CPU flags here: on x86_64 (any CPU: the C
    code is the same there), unless ``HLP_NUMERICS=native``."""
    if os.environ.get("HLP_NUMERICS", "pinned") == "native":
        return False
    return platform.machine().lower() in ("x86_64", "amd64")


def _ffmpeg_decoding_flags() -> int | str:
    """What :func:`pin_ffmpeg` sets for decoding: the flags, or why nothing."""
    if not ffmpeg_pinned():
        return "native"
    if _libavutil_searched and _libavutil is None:
        return "native (PyAV's libavutil not found)"
    return FFMPEG_CPU_FLAGS


def pin_ffmpeg() -> bool:
    """Make FFmpeg decode with its plain C code (``av_force_cpu_flags(0)``); True if set.

    Call it before opening a file to decode (``video/decode.py`` and ``video/probe.py``
    do, every time: it is one store of an integer, and a call that something else undid
    is redone). FFmpeg reads the flags when a decoder, resampler or scaler is set up, so
    decoders opened before the first call keep the native code. The flag is process-wide:
    encoders set up afterwards in the same process use the C code as well. Returns False,
    changing nothing, where :func:`ffmpeg_pinned` does not hold or PyAV's libavutil
    cannot be found. The module docstring says what the C code changes and costs.
    """
    if not ffmpeg_pinned():
        return False
    searched = _libavutil_searched
    lib = _load_libavutil()
    if lib is None:
        if not searched:  # once per process
            import warnings

            warnings.warn(
                "PyAV's libavutil was not found: FFmpeg decodes with the SIMD code this CPU "
                "selects, and decoded sound may differ on other CPUs",
                RuntimeWarning,
                stacklevel=2,
            )
        return False
    lib.av_force_cpu_flags(FFMPEG_CPU_FLAGS)
    return True


def describe_numerics() -> dict:
    """The effective numeric settings of this process, for the provenance of a result.

    The variables of :data:`X86_PINS` and :data:`THREAD_VARIABLES` as they are in the
    environment (None when unset), the machine, what the already-imported libraries
    actually chose (torch's kernel level and threads, numpy's dispatch level, the BLAS
    and OpenMP thread pools, numba's target) and FFmpeg's decoding setting: the CPU flags
    every decoding process forces (``decoding_cpu_flags``: 0 for the C code, "native"
    for FFmpeg's own choice) and, where this process has PyAV's libavutil loaded, the
    flags in force now (``cpu_flags``; None where it is not loaded, e.g. in ``hlp
    evaluate``, which decodes nothing). Imports no numeric library itself.
    """
    names = [*X86_PINS, *THREAD_VARIABLES]
    info: dict = {
        "machine": platform.machine(),
        "x86_64_with_avx2": x86_64_with_avx2(),
        "environment": {name: os.environ.get(name) for name in names},
        "ffmpeg": {
            "decoding_cpu_flags": _ffmpeg_decoding_flags(),
            "cpu_flags": _libavutil.av_get_cpu_flags() if _libavutil is not None else None,
        },
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            info["torch"] = {
                "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                "num_threads": torch.get_num_threads(),
                "mkl": bool(torch.backends.mkl.is_available()),
            }
        except Exception as exc:  # provenance must never fail a result
            info["torch"] = {"error": repr(exc)}
    if "numpy" in sys.modules:
        try:
            from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

            info["numpy"] = {
                "dispatch": [f for f in __cpu_dispatch__ if __cpu_features__.get(f)],
            }
        except Exception as exc:
            info["numpy"] = {"error": repr(exc)}
        try:
            from threadpoolctl import threadpool_info

            keys = ("internal_api", "prefix", "version", "num_threads", "architecture")
            info["threadpools"] = [{k: pool.get(k) for k in keys} for pool in threadpool_info()]
        except Exception as exc:
            info["threadpools"] = {"error": repr(exc)}
    numba_config = sys.modules.get("numba.core.config")
    if numba_config is not None:
        info["numba"] = {
            "cpu_name": getattr(numba_config, "CPU_NAME", None),
            "cpu_features": getattr(numba_config, "CPU_FEATURES", None),
        }
    return info
