"""pin_numerics: which variables it sets, that it keeps the user's, and that pinning makes a
small avph-like torch training bitwise the same under two simulated CPUs whose unpinned
results differ (MKL capped at AVX2 vs SSE4.2 with MKL_ENABLE_INSTRUCTIONS)."""

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
    THREAD_VARIABLES,
    X86_PINS,
    describe_numerics,
    pin_numerics,
    x86_64_with_avx2,
)

ALL_VARIABLES = (*X86_PINS, *THREAD_VARIABLES)
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


def test_pin_sets_x86_pins_and_threads_on_avx2(clean_env):
    clean_env.setattr(numerics, "x86_64_with_avx2", lambda: True)
    set_now = _pin()
    assert set_now == {**X86_PINS, **{name: "1" for name in THREAD_VARIABLES}}
    for name, value in set_now.items():
        assert os.environ[name] == value
    assert X86_PINS["MKL_CBWR"] == "COMPATIBLE"  # the branch MKL honours on AMD too
    assert X86_PINS["NUMBA_CPU_FEATURES"] == ""  # else numba adds the host's features


def test_pin_keeps_the_users_values(clean_env):
    clean_env.setattr(numerics, "x86_64_with_avx2", lambda: True)
    clean_env.setenv("MKL_CBWR", "AVX2")
    clean_env.setenv("OMP_NUM_THREADS", "3")
    set_now = _pin()
    assert os.environ["MKL_CBWR"] == "AVX2" and os.environ["OMP_NUM_THREADS"] == "3"
    assert "MKL_CBWR" not in set_now and "OMP_NUM_THREADS" not in set_now
    assert set_now["MKL_NUM_THREADS"] == "1"
    assert _pin() == {}  # a second call has nothing left to set


def test_pin_threads_argument(clean_env):
    clean_env.setattr(numerics, "x86_64_with_avx2", lambda: True)
    set_now = _pin(4)
    assert {set_now[name] for name in THREAD_VARIABLES} == {"4"}
    with pytest.raises(ValueError):
        pin_numerics(0)


def test_no_x86_pins_on_aarch64(clean_env):
    clean_env.setattr(numerics.platform, "machine", lambda: "aarch64")
    assert not x86_64_with_avx2()
    set_now = _pin()
    assert set(set_now) == set(THREAD_VARIABLES)
    assert not any(name in os.environ for name in X86_PINS)


def test_no_x86_pins_without_avx2(clean_env):
    clean_env.setattr(numerics.platform, "machine", lambda: "x86_64")
    clean_env.setattr(numerics, "_cpu_flags", lambda: frozenset({"sse2", "avx", "fma"}))
    assert not x86_64_with_avx2()
    assert set(_pin()) == set(THREAD_VARIABLES)


def test_warns_when_called_after_numpy(clean_env):
    import numpy  # noqa: F401  (a reader of OPENBLAS_CORETYPE / NPY_ENABLE_CPU_FEATURES)

    with pytest.warns(RuntimeWarning, match="numpy"):
        pin_numerics()


def test_describe_reports_the_environment(clean_env):
    clean_env.setenv("OPENBLAS_CORETYPE", "Haswell")
    info = describe_numerics()
    assert info["environment"]["OPENBLAS_CORETYPE"] == "Haswell"
    assert info["environment"]["MKL_CBWR"] is None
    assert set(info["environment"]) == set(ALL_VARIABLES)
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
proj = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Dropout(0.1))
attention = nn.MultiheadAttention(32, 4, dropout=0.1, batch_first=True)
norm = nn.LayerNorm(32)
head = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
modules = nn.ModuleList([proj, attention, norm, head])

def forward(v):
    h = proj(v)
    a, _ = attention(h, h, h, need_weights=False)
    return head(norm(h + a)).squeeze(-1)

losses = []
for epoch in range(12):
    modules.train()
    for start in range(0, 12, 4):
        loss = nn.functional.binary_cross_entropy_with_logits(
            forward(x[start:start + 4]), y[start:start + 4])
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
print(json.dumps({"digest": digest, "final_loss": losses[-1], "numerics": describe_numerics()}))
"""


def _train(pin: bool, mkl_instructions: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ALL_VARIABLES}
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
        MKL_ENABLE_INSTRUCTIONS=mkl_instructions,  # the simulated CPU
        HLP_TEST_PIN="1" if pin else "0",
    )
    if not pin:
        env["OMP_NUM_THREADS"] = "1"  # same thread count: only the kernels differ
    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _mkl_torch() -> bool:
    import torch

    return bool(torch.backends.mkl.is_available())


@pytest.mark.skipif(not x86_64_with_avx2(), reason="the pins apply to x86_64 with AVX2")
def test_pinned_training_is_bitwise_equal_across_simulated_cpus():
    if not _mkl_torch():
        pytest.skip("this torch build has no MKL to simulate CPUs with")
    unpinned = [_train(False, isa) for isa in ("AVX2", "SSE4_2")]
    if unpinned[0]["digest"] == unpinned[1]["digest"]:
        pytest.skip("MKL gave the same results for AVX2 and SSE4_2 here: nothing to pin")
    pinned = [_train(True, isa) for isa in ("AVX2", "SSE4_2")]
    assert pinned[0]["digest"] == pinned[1]["digest"], (pinned, unpinned)
    info = pinned[0]["numerics"]
    assert info["environment"]["MKL_CBWR"] == "COMPATIBLE"
    assert info["torch"]["cpu_capability"] == "AVX2"
    assert info["torch"]["num_threads"] == 1
    assert "X86_V4" not in info["numpy"]["dispatch"]
    openblas = [
        pool
        for pool in info.get("threadpools", [])
        if isinstance(pool, dict) and pool.get("internal_api") == "openblas"
    ]
    assert all(pool["architecture"] == "Haswell" for pool in openblas)


def test_native_numerics_pin_only_the_threads(monkeypatch):
    import highlight_pipeline.numerics as numerics

    for name in [*numerics.X86_PINS, *numerics.THREAD_VARIABLES]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HLP_NUMERICS", "native")
    monkeypatch.setattr(numerics, "x86_64_with_avx2", lambda: True)
    set_now = numerics.pin_numerics(2)
    assert set(set_now) == set(numerics.THREAD_VARIABLES)
    assert all(v == "2" for v in set_now.values())
