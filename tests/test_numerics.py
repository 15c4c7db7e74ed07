"""pin_numerics: which variables it sets, that it keeps the user's, that a simulated CPU
(HLP_SIMULATE_CPU) reaches every library, and that pinning makes a small avph-like torch
training bitwise the same under the four simulated CPUs, whose unpinned results differ."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from highlight_pipeline import numerics
from highlight_pipeline.numerics import (
    PIN_VARIABLES,
    SIMULATED_CPUS,
    THREAD_VARIABLES,
    X86_PINS,
    X86_V3_PINS,
    describe_numerics,
    pin_numerics,
    simulable_cpus,
    simulated_cpu,
    x86_64_pinnable,
)

ALL_VARIABLES = (*PIN_VARIABLES, "HLP_NUMERICS", "HLP_SIMULATE_CPU")
REPO_ROOT = Path(numerics.__file__).resolve().parents[1]


@pytest.fixture
def clean_env(monkeypatch):
    """No pin variable set; everything pin_numerics sets is undone after the test."""
    for name in ALL_VARIABLES:
        monkeypatch.setenv(name, "")  # records the original state, set or not, for undo
        monkeypatch.delenv(name)
    return monkeypatch


def _pin(threads=None):
    with warnings.catch_warnings():  # the test process has numpy imported already
        warnings.simplefilter("ignore", RuntimeWarning)
        return pin_numerics(threads)


def test_pin_sets_x86_pins_and_threads_on_x86_64_v2(clean_env):
    clean_env.setattr(numerics, "x86_64_pinnable", lambda: True)
    set_now = _pin()
    assert set_now == {**X86_PINS, **{name: "1" for name in THREAD_VARIABLES}}
    for name, value in set_now.items():
        assert os.environ[name] == value
    assert X86_PINS["MKL_CBWR"] == "COMPATIBLE"  # the branch MKL honours on AMD too
    assert X86_PINS["NUMBA_CPU_FEATURES"] == ""  # else numba adds the host's features
    # every pin is at or below what the least of the simulated machines picks itself
    assert {X86_PINS[k] for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")} == {
        SIMULATED_CPUS["sse4"].caps[k] for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")
    }


def test_pin_keeps_thread_counts_and_replaces_inherited_kernel_values(clean_env):
    """A thread count already set (Snakemake's, the user's) stays; an inherited kernel
    setting (this development machine exports OPENBLAS_CORETYPE=Haswell to every process)
    is replaced by the pin and recorded, else results would follow the machine's setting."""
    clean_env.setattr(numerics, "x86_64_pinnable", lambda: True)
    clean_env.setattr(numerics, "_REPLACED", {})
    clean_env.setenv("OPENBLAS_CORETYPE", "Haswell")
    clean_env.setenv("MKL_CBWR", "COMPATIBLE")  # already the pin's: nothing to replace
    clean_env.setenv("OMP_NUM_THREADS", "3")
    set_now = _pin()
    assert os.environ["OPENBLAS_CORETYPE"] == X86_PINS["OPENBLAS_CORETYPE"] == "Nehalem"
    assert os.environ["OMP_NUM_THREADS"] == "3" and "OMP_NUM_THREADS" not in set_now
    assert "MKL_CBWR" not in set_now and set_now["MKL_NUM_THREADS"] == "1"
    info = describe_numerics()
    assert info["replaced"] == {"OPENBLAS_CORETYPE": "Haswell"}
    assert info["kernel_pins"] == "x86-64-v2"
    assert _pin() == {}  # a second call has nothing left to set
    # HLP_NUMERICS=native: the user's kernel settings are theirs
    for name in PIN_VARIABLES:
        clean_env.delenv(name, raising=False)
    clean_env.setenv("HLP_NUMERICS", "native")
    clean_env.setenv("OPENBLAS_CORETYPE", "Haswell")
    assert set(_pin()) == set(THREAD_VARIABLES)
    assert os.environ["OPENBLAS_CORETYPE"] == "Haswell"
    assert describe_numerics()["kernel_pins"] is None


def test_x86_64_v3_level_on_an_avx2_cpu_and_the_portable_pins_without(clean_env):
    clean_env.setattr(numerics.platform, "machine", lambda: "x86_64")
    clean_env.setenv("HLP_NUMERICS", "x86-64-v3")
    clean_env.setattr(numerics, "_host_cpu_flags", lambda: SIMULATED_CPUS["avx2-amd"].flags)
    set_now = _pin()
    assert {k: set_now[k] for k in X86_V3_PINS} == X86_V3_PINS
    assert X86_V3_PINS["MKL_CBWR"] == "COMPATIBLE"  # no other MKL branch is vendor-neutral
    assert X86_V3_PINS["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert describe_numerics()["kernel_pins"] == "x86-64-v3"
    # an SSE4.2 machine cannot run them: it gets the portable pins
    for name in PIN_VARIABLES:
        clean_env.delenv(name, raising=False)
    clean_env.setattr(numerics, "_host_cpu_flags", lambda: SIMULATED_CPUS["sse4"].flags)
    set_now = _pin()
    assert {k: set_now[k] for k in X86_PINS} == X86_PINS
    clean_env.setenv("HLP_NUMERICS", "avx2")
    with pytest.raises(ValueError, match="pinned, x86-64-v3, native"):
        _pin()


def test_hlp_refuses_an_unknown_numerics_level_in_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ALL_VARIABLES}
    env["HLP_NUMERICS"] = "fast"
    hlp = str(Path(sys.executable).parent / "hlp")
    done = subprocess.run([hlp, "methods"], capture_output=True, text=True, env=env)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == (
        "hlp methods: error: HLP_NUMERICS='fast' is not one of pinned, x86-64-v3, native"
    )


def test_pin_threads_argument(clean_env):
    clean_env.setattr(numerics, "x86_64_pinnable", lambda: True)
    set_now = _pin(4)
    assert {set_now[name] for name in THREAD_VARIABLES} == {"4"}
    with pytest.raises(ValueError):
        pin_numerics(0)


def test_no_x86_pins_on_aarch64(clean_env):
    clean_env.setattr(numerics.platform, "machine", lambda: "aarch64")
    assert not x86_64_pinnable()
    set_now = _pin()
    assert set(set_now) == set(THREAD_VARIABLES)
    assert not any(name in os.environ for name in X86_PINS)


def test_no_x86_pins_without_sse4_2(clean_env):
    clean_env.setattr(numerics.platform, "machine", lambda: "x86_64")
    clean_env.setattr(numerics, "_host_cpu_flags", lambda: frozenset({"sse2", "sse3", "cx16"}))
    assert not x86_64_pinnable()
    assert set(_pin()) == set(THREAD_VARIABLES)
    clean_env.setattr(numerics, "_host_cpu_flags", lambda: SIMULATED_CPUS["sse4"].flags)
    assert x86_64_pinnable()  # an SSE4.2 machine without AVX runs the pins


def test_simulated_cpu_caps_then_pins_and_replaces_inherited_values(clean_env):
    clean_env.setattr(numerics.platform, "machine", lambda: "x86_64")
    clean_env.setattr(numerics, "_host_cpu_flags", lambda: SIMULATED_CPUS["avx512-intel"].flags)
    clean_env.setenv("HLP_SIMULATE_CPU", "avx2")
    clean_env.setenv("OPENBLAS_CORETYPE", "SkylakeX")  # inherited: the simulation replaces it
    clean_env.setenv("OMP_NUM_THREADS", "3")  # a thread count is kept
    set_now = _pin()
    assert set_now["OPENBLAS_CORETYPE"] == X86_PINS["OPENBLAS_CORETYPE"]
    assert os.environ["MKL_ENABLE_INSTRUCTIONS"] == "AVX2"  # the cap, which no pin sets
    assert os.environ["ATEN_CPU_CAPABILITY"] == X86_PINS["ATEN_CPU_CAPABILITY"]
    assert os.environ["OMP_NUM_THREADS"] == "3"
    assert describe_numerics()["simulated_cpu"] == "avx2"
    for name in PIN_VARIABLES:
        clean_env.delenv(name, raising=False)
    clean_env.setenv("HLP_NUMERICS", "native")  # the caps alone: what avx2 picks itself
    _pin()
    assert os.environ["ATEN_CPU_CAPABILITY"] == "avx2"
    assert os.environ["NUMBA_CPU_NAME"] == "haswell"
    assert os.environ["OPENBLAS_CORETYPE"] == "Haswell"


def test_simulating_a_cpu_this_one_cannot_be_is_refused(clean_env):
    clean_env.setattr(numerics, "_host_cpu_flags", lambda: SIMULATED_CPUS["avx2"].flags)
    clean_env.setenv("HLP_SIMULATE_CPU", "avx512-intel")
    with pytest.raises(ValueError, match="avx512f"):
        simulated_cpu()
    clean_env.setenv("HLP_SIMULATE_CPU", "pentium")
    with pytest.raises(ValueError, match="sse4"):
        simulated_cpu()


def test_warns_when_called_after_numpy(clean_env):
    import numpy  # noqa: F401  (a reader of OPENBLAS_CORETYPE / NPY_ENABLE_CPU_FEATURES)

    with pytest.warns(RuntimeWarning, match="numpy"):
        pin_numerics()


def test_describe_reports_the_environment(clean_env):
    clean_env.setenv("OPENBLAS_CORETYPE", "Haswell")
    info = describe_numerics()
    assert info["environment"]["OPENBLAS_CORETYPE"] == "Haswell"
    assert info["environment"]["MKL_CBWR"] is None
    assert set(info["environment"]) == {"HLP_NUMERICS", *PIN_VARIABLES}
    json.dumps(info)  # goes into a provenance record


# A tiny avph-like training (projection, multi-head self-attention, layer norm, regressor,
# BCE; plain gradient steps, as torch.optim imports torch._dynamo: 1.5 s a process) whose
# losses and final scores are hashed.
CHILD = """
import os, sys
if os.environ.get("HLP_TEST_PIN") == "1":
    from highlight_pipeline.numerics import pin_numerics
    pin_numerics(1)
import hashlib, json
import numpy as np
import torch
from torch import nn
from highlight_pipeline.numerics import describe_numerics

torch.manual_seed(0)
rng = np.random.default_rng(0)
x = torch.from_numpy(rng.standard_normal((12, 30, 20)).astype(np.float32))
y = torch.from_numpy((rng.random((12, 30)) < 0.5).astype(np.float32))
clips = torch.from_numpy(rng.standard_normal((4, 2, 6, 8, 8)).astype(np.float32))
conv = nn.Conv3d(2, 4, 3, padding=1)  # oneDNN's convolutions, as pld and the backbones
proj = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Dropout(0.1))
attention = nn.MultiheadAttention(32, 4, dropout=0.1, batch_first=True)
norm = nn.LayerNorm(32)
head = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
modules = nn.ModuleList([proj, attention, norm, head, conv])

def forward(v):
    h = proj(v)
    a, _ = attention(h, h, h, need_weights=False)
    return head(norm(h + a)).squeeze(-1)

losses = []
for epoch in range(12):
    modules.train()
    for start in range(0, 12, 4):
        loss = nn.functional.binary_cross_entropy_with_logits(
            forward(x[start:start + 4]), y[start:start + 4]) + 0.1 * conv(clips).pow(2).mean()
        modules.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in modules.parameters():
                p -= 0.05 * p.grad
        losses.append(float(loss))
modules.eval()
with torch.no_grad():
    scores = forward(x)
digest = hashlib.sha256(np.asarray(losses).tobytes() + scores.numpy().tobytes()).hexdigest()
import numba.core.config, threadpoolctl  # noqa: E401, F401 (what describe_numerics reads)
from highlight_pipeline.numerics import pin_ffmpeg
pin_ffmpeg()
info = describe_numerics()
info["numba_target"] = numba.core.config.CPU_NAME
print(json.dumps({"digest": digest, "final_loss": losses[-1], "numerics": info}))
"""


def _child_env(pin: bool | str, cpu: str) -> dict[str, str]:
    """The child's environment: pinned (True), native (False) or an HLP_NUMERICS level."""
    env = {k: v for k, v in os.environ.items() if k not in ALL_VARIABLES}
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
        HLP_SIMULATE_CPU=cpu,
        HLP_NUMERICS=pin if isinstance(pin, str) else "pinned" if pin else "native",
        HLP_TEST_PIN="1",
    )
    return env


def _train(pin: bool | str, cpu: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        env=_child_env(pin, cpu),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


needs_avx512 = pytest.mark.skipif(
    simulable_cpus() != list(SIMULATED_CPUS),
    reason="simulating the four CPUs needs an AVX-512 x86_64",
)


@pytest.fixture(scope="module")
def simulated_trainings() -> dict[tuple[bool, str], dict]:
    """The small training, unpinned and pinned, on each simulated CPU (fresh processes)."""
    return {(pin, cpu): _train(pin, cpu) for pin in (False, True) for cpu in SIMULATED_CPUS}


@needs_avx512
def test_pinned_training_is_bitwise_equal_across_simulated_cpus(simulated_trainings):
    unpinned = {cpu: r["digest"] for (pin, cpu), r in simulated_trainings.items() if not pin}
    # torch's avx512, avx2 and default kernels: the simulation does change the results
    assert unpinned["avx512-intel"] != unpinned["sse4"], unpinned
    assert unpinned["avx2"] != unpinned["sse4"], unpinned
    pinned = {cpu: r for (pin, cpu), r in simulated_trainings.items() if pin}
    assert len({r["digest"] for r in pinned.values()}) == 1, pinned
    info = pinned["avx512-intel"]["numerics"]
    assert info["environment"]["MKL_CBWR"] == "COMPATIBLE"
    assert info["torch"]["cpu_capability"] == "DEFAULT"
    assert info["torch"]["num_threads"] == 1
    assert info["numpy"]["dispatch"] == []  # the X86_V2 baseline only


@pytest.fixture(scope="module")
def v3_trainings() -> dict[str, dict]:
    """The small training under HLP_NUMERICS=x86-64-v3 on each simulated CPU."""
    return {cpu: _train("x86-64-v3", cpu) for cpu in SIMULATED_CPUS}


@needs_avx512
def test_x86_64_v3_level_is_bitwise_equal_on_the_avx2_machines(v3_trainings, simulated_trainings):
    """HLP_NUMERICS=x86-64-v3: one result on the AVX-512 Xeon, the Zen and the AVX2 desktop
    (convolution included), other bits than the portable pins; the SSE4.2 machine, which
    cannot run it, gets the portable pins and their result."""
    v3 = {cpu: r["digest"] for cpu, r in v3_trainings.items()}
    assert len({v3[cpu] for cpu in ("avx512-intel", "avx2-amd", "avx2")}) == 1, v3
    portable = simulated_trainings[True, "sse4"]["digest"]
    assert v3["sse4"] == portable and v3["avx2"] != portable
    info = v3_trainings["avx512-intel"]["numerics"]
    assert info["kernel_pins"] == "x86-64-v3" and info["torch"]["cpu_capability"] == "AVX2"
    assert info["environment"]["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert v3_trainings["sse4"]["numerics"]["kernel_pins"] == "x86-64-v2"


OPENBLAS_NAMES = {"Zen": "Haswell"}  # OpenBLAS runs its Haswell kernels on Zen


@needs_avx512
@pytest.mark.parametrize("pin", [False, True], ids=["native", "pinned"])
def test_simulation_reaches_the_libraries(simulated_trainings, pin):
    """Unpinned, each simulated machine's libraries choose what that machine would; pinned,
    they all choose the pins. FFmpeg is forced to the machine's flags, or its C code."""
    for name, cpu in SIMULATED_CPUS.items():
        info = simulated_trainings[pin, name]["numerics"]
        wanted = {**cpu.caps, **X86_PINS} if pin else cpu.caps
        assert info["simulated_cpu"] == name
        assert info["torch"]["cpu_capability"] == wanted["ATEN_CPU_CAPABILITY"].upper()
        level = wanted["NPY_ENABLE_CPU_FEATURES"].split()
        assert info["numpy"]["dispatch"] == [f for f in level if f != "X86_V2"], name
        assert info["numba_target"] == wanted["NUMBA_CPU_NAME"]
        openblas = [p for p in info["threadpools"] if p["internal_api"] == "openblas"]
        core = wanted["OPENBLAS_CORETYPE"]
        assert [p["architecture"] for p in openblas] == [OPENBLAS_NAMES.get(core, core)]
        assert info["environment"]["ONEDNN_MAX_CPU_ISA"] == wanted["ONEDNN_MAX_CPU_ISA"]
        assert info["environment"]["MKL_CBWR"] == (X86_PINS["MKL_CBWR"] if pin else None)
        assert info["environment"]["MKL_ENABLE_INSTRUCTIONS"] == cpu.caps.get(
            "MKL_ENABLE_INSTRUCTIONS"
        )
        flags = 0 if pin else cpu.ffmpeg_flags
        assert info["ffmpeg"] == {"decoding_cpu_flags": flags, "cpu_flags": flags}, name


def test_native_numerics_pin_only_the_threads(monkeypatch):
    import highlight_pipeline.numerics as numerics

    for name in [*numerics.PIN_VARIABLES, "HLP_SIMULATE_CPU"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HLP_NUMERICS", "native")
    monkeypatch.setattr(numerics, "x86_64_pinnable", lambda: True)
    set_now = numerics.pin_numerics(2)
    assert set(set_now) == set(numerics.THREAD_VARIABLES)
    assert all(v == "2" for v in set_now.values())


BLAS_CHILD = """
from highlight_pipeline.numerics import pin_numerics
pin_numerics(1)
import hashlib, numpy as np
rng = np.random.default_rng(0)
a = rng.standard_normal((400, 201)).astype(np.float32)  # as the log-mel's power @ filters
b = rng.random((201, 40)).astype(np.float32)
product = (a @ b).tobytes() + (a.astype(np.float64) @ b.astype(np.float64)).tobytes()
print(hashlib.sha256(product).hexdigest())
"""


def _blas_digest(inherited: str, level: str) -> str:
    env = {**_child_env(level, ""), "OPENBLAS_CORETYPE": inherited}  # "": no simulated CPU
    done = subprocess.run(
        [sys.executable, "-c", BLAS_CHILD], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


@needs_avx512
def test_an_inherited_openblas_core_does_not_change_the_pinned_results():
    """This development machine exports OPENBLAS_CORETYPE=Haswell to every process; another
    machine may export nothing or another core. Natively those cores give other float32
    and float64 products (the log-mel features, the recurrence); pinned, the pin replaces
    the inherited core and the products are the same."""
    native = {core: _blas_digest(core, "native") for core in ("Haswell", "SkylakeX")}
    assert native["Haswell"] != native["SkylakeX"]  # the inherited core matters
    pinned = {core: _blas_digest(core, "pinned") for core in ("Haswell", "SkylakeX")}
    assert pinned["Haswell"] == pinned["SkylakeX"]
