"""Pin the CPU code paths of the numeric libraries so that results do not depend on the machine.

Call :func:`pin_numerics` at the very start of a process, **before torch, numpy, scipy,
numba, scikit-learn or umap are imported** (directly or through another module). Each
variable below is read once, when its library is loaded or first used; setting it later
does nothing in that process (:func:`pin_numerics` warns when it is too late).
``highlight_pipeline`` imports nothing heavy at package level, so
``from highlight_pipeline.numerics import pin_numerics`` is safe as the first import.
A thread count that is already in the environment (yours, or the ``OMP_NUM_THREADS`` etc.
that Snakemake sets to a job's ``threads``) wins. A kernel pin replaces an inherited value
(recorded as ``replaced`` by :func:`describe_numerics`): a machine-wide setting otherwise
changes the results silently. The development machine exports ``OPENBLAS_CORETYPE=Haswell``
to every process; while the pins yielded to it, the default pipeline there computed other
log-mel features, pseudo-labels and scores than on a machine without it (same tables to
the printed digit on the CI workflow, other bytes). To choose kernels yourself, set
``HLP_NUMERICS=native`` and your variables.

Why: these libraries choose SIMD kernels (AVX-512, AVX2, SSE) by the CPU they find, and
different kernels add in a different order. The float results then differ in the last bits,
and training turns that into different models. The default pipeline, run on the same videos
(the random-baseline row was identical): 0.889 ± 0.114 avph mAP on an Intel Xeon with
AVX-512 (this is the "fresh clone" number), 0.863 ± 0.098 with the kernels of an AVX2-only
Intel machine simulated (the log-mel features differ by up to 1e-6 and the recurrence scores
by 1e-7; pseudo-labels and K are the same). With the pins (then at the AVX2 level) it gave
0.879 ± 0.071 in both, and every output file (features, pseudo-labels, models, predictions,
tables) was byte-identical, also with ``--cores 1``.

How this was measured: each stage ran in fresh processes under two values of a variable on
that Xeon, and the outputs were compared bitwise. "Another CPU" was simulated by capping or
switching the kernel choice. Versions: torch 2.13.0+cpu (MKL 2024.2, oneDNN 3.12),
numpy 2.4 with scipy-openblas 0.3.31, numba 0.68 / llvmlite 0.50, umap-learn 0.5.12,
scikit-learn 1.9, PyAV 18.1 (FFmpeg 8.1).

x86_64 pins. They are set only on x86_64 CPUs that are x86-64-v2 (SSE4.2, SSSE3, POPCNT,
CMPXCHG16B: every x86_64 CPU since Intel Nehalem, 2008, and AMD Bulldozer, 2011), and they
pin each library at that level, so that an Intel Xeon with AVX-512, an AMD Zen, an Intel
AVX2 desktop and an SSE4.2 machine without AVX all run the same kernels (issue 22; until
then the pins named AVX2 kernels, applied only to AVX2 CPUs, and an SSE4.2 machine got
other results). They name x86 kernels: on aarch64 they would do harm (a foreign
``NUMBA_CPU_NAME`` aborts the process with an LLVM error; ``NPY_ENABLE_CPU_FEATURES`` with
a foreign name turns off all of numpy's SIMD), so they are not set there.

Costs below are CPU seconds of ``benchmarks/train.py --numerics`` (64 videos of up to 60
clips, 512-d visual and 2048-d audio features, 3 epochs, 1 thread; median of 3 fresh
processes, alternating with the unpinned run, on the 2-core AMD EPYC, Zen 4 with AVX-512)
as a ratio to ``HLP_NUMERICS=native``, each pin alone: chd/full, avph/av-ph, hpcl/co-av.
All the pins together: 2.06, 1.49, 1.96. docs/performance.md ("Pins and their cost") has
the table.

``ATEN_CPU_CAPABILITY=default``
    torch's own kernels (softmax, layer norm, attention, reductions, elementwise maths)
    exist in default, avx2 and avx512 builds, and each gives other bits. avph training
    (30 epochs, 12 × 30 clips, 1 thread) ends with loss 0.0867787 under avx512 (chosen
    automatically on an AVX-512 CPU), 0.0868502 under avx2 and 0.0868509 under default.
    ``default`` is the only build an SSE4.2 machine can run. Cost: 1.07, 1.14, 1.26 (avx2
    would cost 0.98, 1.01, 0.98, but leave SSE4.2 machines out). A value that torch does
    not know is ignored with a warning.
``MKL_CBWR=COMPATIBLE``
    torch's BLAS is MKL (``torch.__config__.show()``: BLAS_INFO=mkl). Linear layers and
    matmul use MKL sgemm. MKL picks its code by CPU, and on AMD it runs different code.
    Capping MKL at AVX2 with ``MKL_ENABLE_INSTRUCTIONS=AVX2`` (on an Intel CPU) changed the
    final loss from 0.0867787 to 0.0961077. With ``COMPATIBLE`` (SSE2 code without the
    approximate rcpps/rsqrtps) the results were bitwise the same with
    ``MKL_ENABLE_INSTRUCTIONS`` set to AVX512_E1, AVX2 or SSE4_2. On non-Intel CPUs MKL
    honours only AUTO and COMPATIBLE: on the AMD EPYC, a 3840 × 512 by 512 × 512 sgemm
    gave the same bits under ``MKL_CBWR`` unset, AVX2, AVX512, SSE4_2 and AUTO,STRICT, and
    other bits only under COMPATIBLE; ``MKL_ENABLE_INSTRUCTIONS`` changed nothing there.
    MKL documents COMPATIBLE as giving the same results on Intel and compatible CPUs; its
    vector maths do not hold to it: ``torch.sqrt`` (MKL's ``vsSqrt``) gave other last bits
    on an Intel Xeon and on QEMU's emulated AMD EPYC-Milan under COMPATIBLE, and Adam's
    square root made avph's training part there, so the methods' Adam takes numpy's
    correctly rounded square root (``methods/optim.py``). Cost:
    2.00, 1.28, 1.70, the largest of the pins (the sgemm above takes about 3x as long),
    and it is what makes chd's pinned training about 2x slower: no other setting of MKL
    is the same on Intel and AMD, and torch 2.13 sends a float32 matmul on x86 nowhere but
    MKL (oneDNN's matmul only with reduced bf16/tf32 precision).
``ONEDNN_MAX_CPU_ISA=SSE41``
    oneDNN runs torch's convolutions, which only the neural backbones and pld use. It has
    no effect on avph, chd, hpcl or the weight-free default (cost 0.97 to 1.12, noise).
    Conv2d and Conv3d outputs differ between AVX512_CORE (chosen automatically on an
    AVX-512 CPU), AVX2 and SSE41. Not measured: the neural extractors' and pld's cost.
``OPENBLAS_CORETYPE=Nehalem``
    numpy's and scipy's OpenBLAS (DYNAMIC_ARCH builds) pick a kernel by CPU. SkylakeX,
    Cooperlake and SapphireRapids (AVX-512) agree; Haswell and Zen (AVX2) give another
    result; Sandybridge and Prescott give two more. Affected: float32 and float64 matmul,
    and so the log-mel features (``power @ filters``) and the recurrence scores. Nehalem is
    the core OpenBLAS picks itself on an SSE4.2 machine. Training does not use it (0.96 to
    1.06); the extraction and pseudo costs are in docs/performance.md.
``NPY_ENABLE_CPU_FEATURES=X86_V2``
    numpy's ufunc loops are built for X86_V2 (the baseline), X86_V3 (AVX2) and X86_V4
    (AVX-512). float64 ``np.log`` differs between X86_V4 and X86_V3. float32 log and exp,
    and the magnitude of complex numbers (the power spectrum), differ between X86_V3 and
    the X86_V2 baseline. X86_V2 turns the dispatch off: every CPU runs the baseline loops.
``NUMBA_CPU_NAME=x86-64-v2`` and ``NUMBA_CPU_FEATURES=`` (empty)
    UMAP and pynndescent are numba code, compiled with fastmath for the host CPU, so the
    vector width and FMA contraction (and with them the order of additions) follow the CPU.
    The UMAP embedding of 24 fixed vectors is the same for an Intel Xeon and the
    ``haswell``, ``skylake``, ``x86-64-v3`` and ``znver3`` targets. It differs for
    ``znver4`` (AMD AVX-512, 512-bit vectors) and ``generic`` (SSE2): embedding[0, 0] is
    12.957, 7.904 and 4.054, and the K=2 silhouette 0.787, 0.667 and 0.807, so the chosen
    K can change. ``NUMBA_CPU_NAME`` alone is not enough, because numba then still adds the
    host's features (``haswell`` plus an AVX-512 host gave the znver4 result). The empty
    ``NUMBA_CPU_FEATURES`` means the target's own features, and with both set numba never
    consults the host. Numba caches compiled code per target, so changing the target
    means one recompile.

Simulated CPUs (``HLP_SIMULATE_CPU``, for tests and diagnosis; :data:`SIMULATED_CPUS`).
``avx512-intel`` (a Skylake-SP Xeon), ``avx2-amd`` (Zen 3), ``avx2`` (an Intel Haswell) and
``sse4`` (x86-64-v2 without AVX) make :func:`pin_numerics` see that machine's CPU flags
(which decide whether the pins apply) and set every library's own cap to what it would pick
there by itself: ``ATEN_CPU_CAPABILITY`` (avx512, avx2, avx2, default),
``ONEDNN_MAX_CPU_ISA``, ``OPENBLAS_CORETYPE`` (SkylakeX, Zen, Haswell, Nehalem),
``NPY_ENABLE_CPU_FEATURES``, ``NUMBA_CPU_NAME`` (skylake-avx512, znver3, haswell, nehalem),
``MKL_ENABLE_INSTRUCTIONS`` and FFmpeg's CPU flags (forced in :func:`pin_ffmpeg` when
unpinned). The pins then apply on top as on that machine; the simulation replaces values
already in the environment (not the thread counts). A machine needs a host that has its
flags (an AVX-512 host runs all four). What cannot be simulated: MKL ignores
``MKL_ENABLE_INSTRUCTIONS`` on AMD CPUs, so on an AMD host every simulated machine runs
MKL's code for that AMD CPU, and on an Intel host none runs MKL's AMD code
(:func:`simulated_cpu_limits`). ``tests/test_cpu_simulation.py`` runs the pipeline from the
same generated videos to the tables under the four: with the pins every feature and
pseudo-label dataset, model tensor, score file and table is byte-identical; unpinned,
``avx512-intel`` and ``sse4`` differ in 123 of those parts (every log-mel feature dataset,
the pseudo-labels' scores, every tensor of both models, both score files; the colour/motion
features do not).

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
  bring this machine to 0.704. What did: this EPYC exports ``OPENBLAS_CORETYPE=Haswell``
  to every process, which the pins used to leave in place; replacing it (above) gives
  0.704 ± 0.032 here.
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
  flag sets, so on every CPU with AVX2 and FMA3, but not on an SSE4.2 machine (which the
  x86_64 pins now cover): there ``hlp synth`` writes other AAC and MPEG-4 bytes, so the
  pipeline agrees from the same videos (``tests/test_cpu_simulation.py`` generates them
  once, unsimulated), not from videos each machine generated itself. ``HLP_SIMULATE_CPU``
  does not reach the generators (they never call :func:`pin_ffmpeg`). The embedded
  dataset need not store its sound losslessly: with the pin its AAC streams decode to the
  same samples on every CPU. A process that decodes and then encodes (the tests, which
  pin from the start for that reason; benchmarks) encodes with the C code.

What stays machine-dependent:

* Library versions (pinned by the environment, not here), glibc's libm (numba-compiled
  code calls it), GPUs, the encoders of the generated datasets on CPUs without AVX2 and
  FMA3 (above: an SSE4.2 machine generates other videos), x86_64 CPUs without SSE4.2 (no
  pins), and MKL's COMPATIBLE code on Intel
  against AMD CPUs: MKL documents it as the same, the chd and hpcl rows (which go through
  it) matched between an Intel Xeon and the AMD EPYC to the last printed digit, but no
  file was compared bitwise across the two, and one host cannot simulate the other's MKL.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import platform
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "FFMPEG_CPU_FLAGS",
    "NUMERICS_LEVELS",
    "PIN_VARIABLES",
    "REQUIRED_CPU_FLAGS",
    "REQUIRED_V3_CPU_FLAGS",
    "SIMULATED_CPUS",
    "THREAD_VARIABLES",
    "X86_PINS",
    "X86_V3_PINS",
    "SimulatedCpu",
    "describe_numerics",
    "host_cpu_info",
    "ffmpeg_pinned",
    "kernel_pins",
    "numerics_level",
    "pin_ffmpeg",
    "pin_numerics",
    "simulable_cpus",
    "simulated_cpu",
    "simulated_cpu_limits",
    "x86_64_pinnable",
]

#: The CPU features the x86_64 pins need: x86-64-v2 (SSE4.2, SSSE3, POPCNT, CMPXCHG16B),
#: which every x86_64 CPU since Intel Nehalem (2008) and AMD Bulldozer (2011) has.
REQUIRED_CPU_FLAGS = frozenset({"ssse3", "sse4_1", "sse4_2", "popcnt", "cx16"})

#: Variables that pin kernel choices to the x86-64-v2 (SSE4.2) level, the level every CPU
#: that the pins apply to can run, so that they all run the same kernels (MKL's
#: COMPATIBLE branch is SSE2 code and also the one MKL honours on AMD CPUs).
X86_PINS: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "default",
    "MKL_CBWR": "COMPATIBLE",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "OPENBLAS_CORETYPE": "Nehalem",
    "NPY_ENABLE_CPU_FEATURES": "X86_V2",
    "NUMBA_CPU_NAME": "x86-64-v2",
    "NUMBA_CPU_FEATURES": "",
}

#: The CPU features of ``HLP_NUMERICS=x86-64-v3`` (AVX2, FMA3 and the rest of x86-64-v3):
#: Intel since Haswell (2013), AMD since Excavator (2015).
REQUIRED_V3_CPU_FLAGS = frozenset({"avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe"})

#: ``HLP_NUMERICS=x86-64-v3``: the same libraries pinned at the AVX2 level instead, for a
#: user who wants the published networks' convolutions (oneDNN) about 1.5x faster and the
#: same results on every x86-64-v3 machine (an AVX-512 Xeon, a Zen, an AVX2 desktop), not
#: on an SSE4.2 one. MKL stays COMPATIBLE: no other branch is the same on Intel and AMD.
X86_V3_PINS: dict[str, str] = {
    **X86_PINS,
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "OPENBLAS_CORETYPE": "Haswell",
    "NPY_ENABLE_CPU_FEATURES": "X86_V3",
    "NUMBA_CPU_NAME": "x86-64-v3",
}

#: The values of ``HLP_NUMERICS``: ``pinned`` (the default: the x86-64-v2 pins),
#: ``x86-64-v3`` (:data:`X86_V3_PINS`, on an x86-64-v3 CPU; the x86-64-v2 pins on another)
#: and ``native`` (only the thread counts).
NUMERICS_LEVELS = ("pinned", "x86-64-v3", "native")

#: Variables that fix the number of OpenMP / BLAS threads (every platform).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

#: Every variable that the pins or a simulated CPU may set (benchmarks clear them).
PIN_VARIABLES = (
    *X86_PINS,
    *THREAD_VARIABLES,
    "MKL_ENABLE_INSTRUCTIONS",
    "NPY_DISABLE_CPU_FEATURES",
)

#: FFmpeg's CPU flags while decoding: none, its plain C code (``av_force_cpu_flags(0)``).
FFMPEG_CPU_FLAGS = 0

#: Modules that read the variables when they are imported or first used.
_READERS = ("torch", "numpy", "scipy", "numba", "sklearn", "umap")

# FFmpeg's AV_CPU_FLAG_* (libavutil/cpu.h) of the simulated machines' flag sets.
_FF = {
    "MMX": 0x1, "MMXEXT": 0x2, "SSE": 0x8, "SSE2": 0x10, "SSE3": 0x40, "SSSE3": 0x80,
    "SSE4": 0x100, "SSE42": 0x200, "CMOV": 0x1000, "AVX": 0x4000, "AVX2": 0x8000,
    "FMA3": 0x10000, "BMI1": 0x20000, "BMI2": 0x40000, "AESNI": 0x80000, "AVX512": 0x100000,
    "CLMUL": 0x400000, "SLOW_GATHER": 0x2000000,
}  # fmt: skip


def _ff(*names: str) -> int:
    flags = 0
    for name in names:
        flags |= _FF[name]
    return flags


_FF_SSE42 = _ff("MMX", "MMXEXT", "SSE", "SSE2", "SSE3", "SSSE3", "SSE4", "SSE42", "CMOV")
_FF_AVX2 = _FF_SSE42 | _ff("AVX", "AVX2", "FMA3", "BMI1", "BMI2", "AESNI", "CLMUL")
_CPU_V2 = frozenset(
    "fpu cmov mmx fxsr sse sse2 lm pni ssse3 sse4_1 sse4_2 popcnt cx16 lahf_lm".split()
)
_CPU_V3 = _CPU_V2 | frozenset("avx avx2 fma bmi1 bmi2 f16c movbe abm xsave aes".split())
_CPU_V4 = _CPU_V3 | frozenset("avx512f avx512cd avx512bw avx512dq avx512vl".split())


@dataclass(frozen=True)
class SimulatedCpu:
    """A machine that ``HLP_SIMULATE_CPU`` makes this one look like (tests, diagnostics).

    ``flags`` is what its /proc/cpuinfo would list (what decides whether the pins apply);
    ``caps`` are the libraries' own variables set to what each would pick there by itself;
    ``ffmpeg_flags`` is what FFmpeg would detect there. A library can only be capped at
    or below what this CPU runs, and MKL ignores ``MKL_ENABLE_INSTRUCTIONS`` on AMD CPUs.
    """

    name: str
    description: str
    vendor: str
    flags: frozenset[str]
    caps: dict[str, str]
    ffmpeg_flags: int


#: The simulated machines: every x86_64 CPU the pins are meant for is like one of these.
SIMULATED_CPUS: dict[str, SimulatedCpu] = {
    cpu.name: cpu
    for cpu in (
        SimulatedCpu(
            "avx512-intel",
            "Intel Xeon with AVX-512 (Skylake-SP to Cascade Lake)",
            "GenuineIntel",
            _CPU_V4,
            {
                "ATEN_CPU_CAPABILITY": "avx512",
                "MKL_ENABLE_INSTRUCTIONS": "AVX512",
                "ONEDNN_MAX_CPU_ISA": "AVX512_CORE",
                "OPENBLAS_CORETYPE": "SkylakeX",
                "NPY_ENABLE_CPU_FEATURES": "X86_V3 X86_V4",
                "NUMBA_CPU_NAME": "skylake-avx512",
                "NUMBA_CPU_FEATURES": "",
            },
            _FF_AVX2 | _ff("AVX512", "SLOW_GATHER"),
        ),
        SimulatedCpu(
            "avx2-amd",
            "AMD Zen 3 (AVX2, no AVX-512)",
            "AuthenticAMD",
            _CPU_V3,
            {
                "ATEN_CPU_CAPABILITY": "avx2",
                "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                "ONEDNN_MAX_CPU_ISA": "AVX2",
                "OPENBLAS_CORETYPE": "Zen",
                "NPY_ENABLE_CPU_FEATURES": "X86_V3",
                "NUMBA_CPU_NAME": "znver3",
                "NUMBA_CPU_FEATURES": "",
            },
            _FF_AVX2 | _ff("SLOW_GATHER"),
        ),
        SimulatedCpu(
            "avx2",
            "Intel with AVX2 (Haswell to Comet Lake desktops)",
            "GenuineIntel",
            _CPU_V3,
            {
                "ATEN_CPU_CAPABILITY": "avx2",
                "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                "ONEDNN_MAX_CPU_ISA": "AVX2",
                "OPENBLAS_CORETYPE": "Haswell",
                "NPY_ENABLE_CPU_FEATURES": "X86_V3",
                "NUMBA_CPU_NAME": "haswell",
                "NUMBA_CPU_FEATURES": "",
            },
            _FF_AVX2 | _ff("SLOW_GATHER"),
        ),
        SimulatedCpu(
            "sse4",
            "x86-64-v2 without AVX (Intel Nehalem/Westmere, some Atom/Pentium)",
            "GenuineIntel",
            _CPU_V2,
            {
                "ATEN_CPU_CAPABILITY": "default",
                "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
                "ONEDNN_MAX_CPU_ISA": "SSE41",
                "OPENBLAS_CORETYPE": "Nehalem",
                "NPY_ENABLE_CPU_FEATURES": "X86_V2",
                "NUMBA_CPU_NAME": "nehalem",
                "NUMBA_CPU_FEATURES": "",
            },
            _FF_SSE42,
        ),
    )
}


def simulable_cpus() -> list[str]:
    """The simulated machines this CPU can stand in for: those whose flags it has (an
    x86_64 host with AVX-512: all four; none on another architecture)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return []
    host = _host_cpu_flags()
    return [name for name, cpu in SIMULATED_CPUS.items() if cpu.flags <= host]


def simulated_cpu() -> SimulatedCpu | None:
    """The machine ``HLP_SIMULATE_CPU`` names (None when unset or empty)."""
    name = os.environ.get("HLP_SIMULATE_CPU", "")
    if not name:
        return None
    if name not in SIMULATED_CPUS:
        raise ValueError(f"HLP_SIMULATE_CPU={name!r} is not one of {', '.join(SIMULATED_CPUS)}")
    cpu = SIMULATED_CPUS[name]
    if not cpu.flags <= _host_cpu_flags():
        missing = " ".join(sorted(cpu.flags - _host_cpu_flags()))
        raise ValueError(f"HLP_SIMULATE_CPU={name!r} needs CPU features this one lacks: {missing}")
    return cpu


def host_cpu_info() -> dict[str, str]:
    """The first CPU's fields in /proc/cpuinfo (``vendor_id``, ``cpu family``, ``model``,
    ``model name``, ``flags``, ...; empty where there is none)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if not line.strip():
                    break  # the end of the first CPU's block
                name, _, value = line.partition(":")
                fields.setdefault(name.strip(), value.strip())
    except OSError:
        pass
    return fields


def _host_cpu_vendor() -> str:
    """The CPU's vendor_id from /proc/cpuinfo ("" where there is none)."""
    return host_cpu_info().get("vendor_id", "")


def simulated_cpu_limits() -> dict[str, str]:
    """What ``HLP_SIMULATE_CPU`` cannot force on this CPU: a library's cap variable and
    why (empty where every cap works). MKL honours ``MKL_ENABLE_INSTRUCTIONS`` on Intel
    CPUs only, and runs its own code for AMD CPUs only on AMD CPUs."""
    vendor = _host_cpu_vendor()
    if vendor == "GenuineIntel":
        return {
            "mkl-amd-code": "MKL runs its code for AMD CPUs on AMD CPUs only: the simulated "
            "avx2-amd machine runs MKL's Intel AVX2 code here"
        }
    return {
        "MKL_ENABLE_INSTRUCTIONS": f"MKL ignores MKL_ENABLE_INSTRUCTIONS on non-Intel CPUs "
        f"(this one: {vendor or 'unknown'}), so every simulated machine runs MKL's own choice "
        "for this CPU; MKL's AVX-512, AVX2 and SSE4.2 code for Intel CPUs is not exercised"
    }


def _host_cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    return frozenset(host_cpu_info().get("flags", "").split())


def _cpu_flags() -> frozenset[str]:
    """The CPU's feature flags: the simulated machine's, else this one's."""
    cpu = simulated_cpu()
    return cpu.flags if cpu is not None else _host_cpu_flags()


def x86_64_pinnable() -> bool:
    """True on an x86_64 machine (or simulated machine) that can run the pins' kernels."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    return REQUIRED_CPU_FLAGS <= _cpu_flags()


def numerics_level() -> str:
    """``HLP_NUMERICS`` (default ``pinned``), one of :data:`NUMERICS_LEVELS`; ValueError
    for another value."""
    level = os.environ.get("HLP_NUMERICS", "").strip() or "pinned"
    if level not in NUMERICS_LEVELS:
        raise ValueError(f"HLP_NUMERICS={level!r} is not one of {', '.join(NUMERICS_LEVELS)}")
    return level


def _native_mode() -> bool:
    return numerics_level() == "native"


def kernel_pins() -> dict[str, str]:
    """The kernel pins this process gets: :data:`X86_V3_PINS` under ``HLP_NUMERICS=x86-64-v3``
    on an x86-64-v3 CPU (a simulated one included), :data:`X86_PINS` on another x86-64-v2
    CPU, none with ``HLP_NUMERICS=native`` or where :func:`x86_64_pinnable` does not hold."""
    level = numerics_level()
    if level == "native" or not x86_64_pinnable():
        return {}
    if level == "x86-64-v3" and REQUIRED_V3_CPU_FLAGS <= _cpu_flags():
        return dict(X86_V3_PINS)
    return dict(X86_PINS)


#: Inherited values that :func:`pin_numerics` replaced in this process (name -> value).
_REPLACED: dict[str, str] = {}


def pin_numerics(threads: int | None = None) -> dict[str, str]:
    """Set the variables of the module docstring that are not set yet; return those it set.

    ``HLP_NUMERICS=native`` in the environment leaves the kernels to the libraries and
    pins only the thread counts; results are then reproducible on the same machine only.
    ``HLP_NUMERICS=x86-64-v3`` pins at the AVX2 level (:data:`X86_V3_PINS`) where the CPU
    has it: results the same on every such CPU. Another value is a ValueError.
    ``HLP_SIMULATE_CPU`` (one of :data:`SIMULATED_CPUS`) first caps every library at
    what that machine would pick by itself, then the pins apply as they would there.

    A thread count already in the environment is kept; a kernel pin (or a simulated
    machine's cap) replaces an inherited value, which :func:`describe_numerics` records.

    ``threads`` (None means 1, what the pipeline's jobs use) is the number of OpenMP/BLAS
    threads. The x86_64 kernel pins are set only where :func:`x86_64_pinnable` holds;
    elsewhere (aarch64, x86_64 without SSE4.2) only the thread counts are, and results are
    reproducible only on the same kind of CPU. Call it before torch, numpy, scipy, numba,
    scikit-learn or umap are imported; a RuntimeWarning names those that already were.
    """
    if threads is None:
        threads = 1
    if threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    wanted = {name: str(threads) for name in THREAD_VARIABLES}
    cpu = simulated_cpu()
    if cpu is not None:
        wanted.update(cpu.caps)
    wanted.update(kernel_pins())
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
        # a thread count already set is kept; a kernel pin or a simulated machine's cap
        # replaces what the process inherited
        inherited = os.environ.get(name)
        if inherited is None or (name not in THREAD_VARIABLES and inherited != value):
            if inherited is not None:
                _REPLACED.setdefault(name, inherited)
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
    """Whether :func:`pin_ffmpeg` sets FFmpeg's C code here: on x86_64 (any CPU: the C
    code is the same there), unless ``HLP_NUMERICS=native``."""
    if _native_mode():
        return False
    return platform.machine().lower() in ("x86_64", "amd64")


def _ffmpeg_wanted_flags() -> int | None:
    """The flags :func:`pin_ffmpeg` forces: the C code's where pinned, else a simulated
    machine's (``HLP_SIMULATE_CPU``), else None (FFmpeg's own choice)."""
    if ffmpeg_pinned():
        return FFMPEG_CPU_FLAGS
    cpu = simulated_cpu()
    return cpu.ffmpeg_flags if cpu is not None else None


def _ffmpeg_decoding_flags() -> int | str:
    """What :func:`pin_ffmpeg` sets for decoding: the flags, or why nothing."""
    wanted = _ffmpeg_wanted_flags()
    if wanted is None:
        return "native"
    if _libavutil_searched and _libavutil is None:
        return "native (PyAV's libavutil not found)"
    return wanted


def pin_ffmpeg() -> bool:
    """Make FFmpeg decode with its plain C code (``av_force_cpu_flags(0)``); True if set.

    Call it before opening a file to decode (``video/decode.py`` and ``video/probe.py``
    do, every time: it is one store of an integer, and a call that something else undid
    is redone). FFmpeg reads the flags when a decoder, resampler or scaler is set up, so
    decoders opened before the first call keep the native code. The flag is process-wide:
    encoders set up afterwards in the same process use the C code as well. Returns False,
    changing nothing, where :func:`ffmpeg_pinned` does not hold or PyAV's libavutil
    cannot be found. With ``HLP_NUMERICS=native`` and ``HLP_SIMULATE_CPU`` it forces the
    simulated machine's flags instead (and returns False: that is no pin). The module
    docstring says what the C code changes and costs.
    """
    wanted = _ffmpeg_wanted_flags()
    if wanted is None:
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
    lib.av_force_cpu_flags(wanted)
    return wanted == FFMPEG_CPU_FLAGS and ffmpeg_pinned()


def _pin_level() -> str | None:
    """Which kernel pins this process's environment holds: ``x86-64-v2``, ``x86-64-v3``,
    or None (``native``, another architecture, or pins changed by hand)."""
    for level, pins in (("x86-64-v2", X86_PINS), ("x86-64-v3", X86_V3_PINS)):
        if all(os.environ.get(name) == value for name, value in pins.items()):
            return level
    return None


def describe_numerics() -> dict:
    """The effective numeric settings of this process, for the provenance of a result.

    ``HLP_NUMERICS`` and the variables of :data:`PIN_VARIABLES` as they are in the
    environment (None when unset), the kernel pins they amount to (``kernel_pins``:
    ``x86-64-v2``, ``x86-64-v3`` or None), the inherited values the pins replaced
    (``replaced``), the machine, whether the pins apply to it, the simulated machine
    (``HLP_SIMULATE_CPU``; None on real hardware), what the already-imported libraries
    actually chose (torch's kernel level and threads, numpy's dispatch level, the BLAS
    and OpenMP thread pools, numba's target) and FFmpeg's decoding setting: the CPU flags
    every decoding process forces (``decoding_cpu_flags``: 0 for the C code, "native"
    for FFmpeg's own choice) and, where this process has PyAV's libavutil loaded, the
    flags in force now (``cpu_flags``; None where it is not loaded, e.g. in ``hlp
    evaluate``, which decodes nothing). Imports no numeric library itself.
    """
    names = ["HLP_NUMERICS", *PIN_VARIABLES]
    cpu = simulated_cpu()
    info: dict = {
        "machine": platform.machine(),
        "x86_64_pinnable": x86_64_pinnable(),
        "simulated_cpu": cpu.name if cpu is not None else None,
        "environment": {name: os.environ.get(name) for name in names},
        "kernel_pins": _pin_level(),
        "replaced": dict(_REPLACED),
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
