"""methods.optim: Adam and SGD without torch.optim give, on the CPU, bit for bit the
parameters torch.optim's default path gives (Adam's with its square root made the
correctly rounded one, which is the one difference), and their state survives a save and
load."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from highlight_pipeline.methods.optim import SGD, Adam, exact_sqrt

from .optim_worker import CASES


def _net(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(7, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3), torch.nn.Sigmoid()
    )


def _train(net, optimiser, steps: int, seed: int = 1, frozen: str | None = None) -> list[float]:
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        x = torch.randn(5, 7, generator=generator)
        y = torch.rand(5, 3, generator=generator)
        loss = torch.nn.functional.mse_loss(net(x), y)
        optimiser.zero_grad()
        loss.backward()
        if frozen is not None:  # a parameter without a gradient is left as it is
            dict(net.named_parameters())[frozen].grad = None
        optimiser.step()
        losses.append(float(loss))
    return losses


def _worker(*args: str) -> dict:
    """tests/optim_worker.py in a fresh process (torch picks its kernels when it loads)."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.optim_worker", *args],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "case", range(len(CASES)), ids=[f"{k}{i}" for i, (k, _) in enumerate(CASES)]
)
def test_the_same_parameters_as_torch_optim_bit_for_bit(case):
    """Under the pins of every hlp job (torch's default kernels, no FMA), ours, ours with
    the one-pass Adam step turned off, and torch.optim (its square root made the exact one)
    train the same parameters."""
    runs = _worker("pinned", str(case))
    ours = runs["ours"]
    assert ours["trained"]
    adam = CASES[case][0] == "adam"
    assert ours["one_pass_updates"] == (40 * 3 if adam else 0)  # 3 of 4 get gradients
    for other in ("tensor-ops", "torch"):
        assert runs[other]["one_pass_updates"] == 0
        assert (ours["params"], ours["losses"]) == (
            runs[other]["params"],
            runs[other]["losses"],
        ), other


def test_a_float64_adam_takes_the_tensor_operations_and_matches_torch_optim():
    runs = _worker("pinned", "1", "float64")
    assert runs["ours"]["one_pass_updates"] == 0
    assert runs["ours"]["params"] == runs["torch"]["params"]


def test_the_one_pass_step_gives_the_same_bits_for_any_numba_target():
    """No FMA and no reordering whatever CPU numba compiles for: the pinned x86-64-v2
    target and this host's own (AVX2 or AVX-512 with FMA where it has them)."""
    assert _worker("pinned", "loop") == _worker("native", "loop")


def test_the_one_pass_step_is_adams_arithmetic_in_process():
    """The loop against the same update written in numpy's float32 operations (one
    rounding each, correctly rounded square root), in this unpinned process."""
    from highlight_pipeline.methods.adam_step import adam_step

    generator = torch.Generator().manual_seed(3)
    p, exp_avg, grad = (torch.randn(513, generator=generator) for _ in range(3))
    exp_avg_sq = torch.rand(513, generator=generator)
    expected = p.clone(), exp_avg.clone(), exp_avg_sq.clone()
    adam_step(
        p,
        grad,
        exp_avg,
        exp_avg_sq,
        beta1=0.9,
        beta2=0.999,
        eps=1e-8,
        step_size=0.01,
        bias_correction2_sqrt=0.3,  # not a power of two: a division is not a product here
    )
    f = np.float32
    q, m, v = (t.numpy().copy() for t in expected)
    g = grad.numpy()
    m = f(0.1) * (g - m) + m  # numpy's float32 arithmetic, one rounding per operation
    v = v * f(0.999) + (f(1 - 0.999) * g) * g
    q = q + (f(-0.01) * m) / (np.sqrt(v) / f(0.3) + f(1e-8))
    assert np.array_equal(exp_avg.numpy(), m)
    assert np.array_equal(exp_avg_sq.numpy(), v)
    assert np.array_equal(p.numpy(), q)
    assert not np.array_equal(p.numpy(), expected[0].numpy())


@pytest.mark.parametrize(
    "ours, settings", [(Adam, {"lr": 3e-3}), (SGD, {"lr": 0.1, "momentum": 0.9})]
)
def test_a_saved_state_resumes_to_the_same_parameters(ours, settings):
    straight = _net(0)
    _train(straight, ours(straight.parameters(), **settings), 30)
    first = _net(0)
    optimiser = ours(first.parameters(), **settings)
    _train(first, optimiser, 12)
    saved_net = {k: v.clone() for k, v in first.state_dict().items()}
    saved = copy.deepcopy(optimiser.state_dict())  # as torch.save would keep it
    _train(first, optimiser, 5)  # work after the save is lost, as after a kill
    resumed = _net(3)
    resumed.load_state_dict(saved_net)
    again = ours(resumed.parameters(), **settings)
    again.load_state_dict(saved)
    generator_steps = 12  # replay the data stream from where the save was
    generator = torch.Generator().manual_seed(1)
    for _ in range(generator_steps):
        torch.randn(5, 7, generator=generator), torch.rand(5, 3, generator=generator)
    for _ in range(30 - generator_steps):
        x, y = torch.randn(5, 7, generator=generator), torch.rand(5, 3, generator=generator)
        loss = torch.nn.functional.mse_loss(resumed(x), y)
        again.zero_grad()
        loss.backward()
        again.step()
    for p, q in zip(resumed.parameters(), straight.parameters(), strict=True):
        assert torch.equal(p, q)


def test_a_state_of_other_settings_is_refused():
    net = _net(0)
    optimiser = Adam(net.parameters(), lr=1e-3)
    _train(net, optimiser, 2)
    with pytest.raises(ValueError, match="other settings"):
        Adam(net.parameters(), lr=2e-3).load_state_dict(optimiser.state_dict())
    with pytest.raises(ValueError, match="not a saved sgd state"):
        SGD(net.parameters(), lr=1e-3).load_state_dict(optimiser.state_dict())


def test_training_with_them_does_not_import_torch_dynamo():
    """The reason they exist: torch.optim imports torch._dynamo (1.3-2 s) on first use."""
    code = (
        "import sys, torch\n"
        "from highlight_pipeline.methods.optim import Adam, SGD\n"
        "net = torch.nn.Linear(3, 1)\n"
        "for o in (Adam(net.parameters()), SGD(net.parameters(), lr=0.1, momentum=0.9)):\n"
        "    net(torch.ones(2, 3)).sum().backward(); o.step(); o.zero_grad()\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "False"


def test_adams_square_root_is_the_correctly_rounded_one():
    """exact_sqrt is IEEE's square root (checked in float64, where float32's is exact after
    rounding); torch.sqrt on the CPU (MKL's vsSqrt) is not always, so Adam's updates would
    follow the CPU's last bit with it."""
    values = torch.rand(20000, generator=torch.Generator().manual_seed(0)) * 10
    values = torch.cat([values, values * 1e-30, torch.tensor([0.0, 1.0, 4.0, 1e-45])])
    exact = exact_sqrt(values)
    reference = values.double().numpy() ** 0.5
    assert exact.dtype == torch.float32
    assert torch.equal(exact, torch.from_numpy(reference.astype("float32")))
    assert exact_sqrt(values.double()).equal(torch.from_numpy(reference))
    scalar = exact_sqrt(torch.tensor(2.0))  # a 0-d parameter's state
    assert scalar.shape == () and scalar.item() == float(np.float32(2.0**0.5))


def test_adam_takes_the_one_pass_step_or_the_exact_square_root(monkeypatch):
    """The float32 CPU parameters of a model of MIN_ELEMENTS or more in all go through the
    one-pass loop, others (a smaller model's, float64 ones) through the tensor operations
    with the exact square root; neither ever calls torch.sqrt."""
    from highlight_pipeline.methods import adam_step, optim

    small = _net(0)
    assert sum(p.numel() for p in small.parameters()) < adam_step.MIN_ELEMENTS

    taken, looped = [], []

    def spy(t):
        taken.append(t.shape)
        return exact_sqrt(t)

    real_step = optim.adam_step
    monkeypatch.setattr(optim, "exact_sqrt", spy)
    monkeypatch.setattr(
        optim, "adam_step", lambda p, *a, **k: (looped.append(p.shape), real_step(p, *a, **k))
    )
    monkeypatch.setattr(torch.Tensor, "sqrt", lambda t: pytest.fail("torch.sqrt was called"))
    _train(small, Adam(small.parameters(), lr=1e-2), 2)
    assert len(taken) == 2 * len(list(small.parameters())) and not looped
    taken.clear()
    monkeypatch.setattr(adam_step, "MIN_ELEMENTS", 0)
    net = _net(0)
    _train(net, Adam(net.parameters(), lr=1e-2), 2)
    assert len(looped) == 2 * len(list(net.parameters())) and not taken
    net64 = _net(0).double()
    looped.clear()
    generator = torch.Generator().manual_seed(1)
    optimiser = Adam(net64.parameters(), lr=1e-2)
    for _ in range(2):
        loss = net64(torch.randn(5, 7, generator=generator, dtype=torch.float64)).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert len(taken) == 2 * len(list(net64.parameters())) and not looped


def test_the_one_pass_step_counts_as_an_in_place_change_for_autograd(monkeypatch):
    """As with torch's in-place operations: a graph built before the step, which saved the
    parameter, refuses to backpropagate after it instead of using the new values."""
    from highlight_pipeline.methods import adam_step

    monkeypatch.setattr(adam_step, "MIN_ELEMENTS", 0)
    weight = torch.nn.Parameter(torch.ones(4))
    x = torch.ones(4, requires_grad=True)
    optimiser = Adam([weight], lr=0.1)
    (weight * x).sum().backward()
    stale = (weight * x).sum()  # saves weight for its backward
    optimiser.step()
    assert optimiser.one_pass and not torch.equal(weight.detach(), torch.ones(4))
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        stale.backward()
