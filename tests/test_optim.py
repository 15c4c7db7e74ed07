"""methods.optim: Adam and SGD without torch.optim give, on the CPU, bit for bit the
parameters torch.optim's default path gives (Adam's with its square root made the
correctly rounded one, which is the one difference), and their state survives a save and
load."""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pytest
import torch

from highlight_pipeline.methods.optim import SGD, Adam, exact_sqrt


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


CASES = [
    (Adam, torch.optim.Adam, {"lr": 3e-3}),
    (Adam, torch.optim.Adam, {"lr": 1e-2, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}),
    (SGD, torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
    (SGD, torch.optim.SGD, {"lr": 0.05, "momentum": 0.0, "weight_decay": 1e-3}),
]


@pytest.mark.parametrize("ours, theirs, settings", CASES)
def test_the_same_parameters_as_torch_optim_bit_for_bit(ours, theirs, settings, monkeypatch):
    # torch.optim.Adam takes exp_avg_sq.sqrt(): MKL's, which follows the CPU in its last bit
    monkeypatch.setattr(torch.Tensor, "sqrt", exact_sqrt)
    a, b = _net(0), _net(0)
    losses_a = _train(a, ours(a.parameters(), **settings), 40, frozen="2.bias")
    losses_b = _train(b, theirs(b.parameters(), **settings), 40, frozen="2.bias")
    assert losses_a == losses_b
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q), name
    assert not torch.equal(a[2].weight, _net(0)[2].weight)  # it did train


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


def test_adam_takes_the_exact_square_root(monkeypatch):
    from highlight_pipeline.methods import optim

    taken = []

    def spy(t):
        taken.append(t.shape)
        return exact_sqrt(t)

    monkeypatch.setattr(optim, "exact_sqrt", spy)
    monkeypatch.setattr(torch.Tensor, "sqrt", lambda t: pytest.fail("torch.sqrt was called"))
    net = _net(0)
    _train(net, Adam(net.parameters(), lr=1e-2), 2)
    assert len(taken) == 2 * len(list(net.parameters()))
