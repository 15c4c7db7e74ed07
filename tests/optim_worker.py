"""Trains a small net with one optimiser in a fresh process and prints the digest of its
parameters and losses (tests/test_optim.py): torch's kernels are chosen when torch loads,
so a comparison under the numeric pins needs its own process.

    python -m tests.optim_worker MODE CASE [DTYPE]
    python -m tests.optim_worker MODE loop


MODE: ``pinned`` (``numerics.pin_numerics``, as every hlp job) or ``native`` (no pins);
CASE: an index into CASES, trained with three optimisers in turn: ``ours``
(methods.optim, every parameter allowed the one-pass Adam step), ``tensor-ops`` (ours
with that step turned off) and ``torch`` (torch.optim, its square root made the exact
one); DTYPE: ``float32`` (default) or ``float64``. ``loop`` runs the one-pass Adam
step alone on fixed random tensors (numba compiles it for the pinned target or the host's).
"""

from __future__ import annotations

import hashlib
import json
import sys

CASES = [
    ("adam", {"lr": 3e-3}),
    ("adam", {"lr": 1e-2, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}),
    ("adam", {"lr": 5e-3, "betas": (0.3, 0.9)}),  # lerp's other branch (weight >= 0.5)
    ("sgd", {"lr": 0.1, "momentum": 0.9}),
    ("sgd", {"lr": 0.05, "momentum": 0.0, "weight_decay": 1e-3}),
]


def loop(mode: str) -> None:
    if mode == "pinned":
        from highlight_pipeline.numerics import pin_numerics

        pin_numerics(1)
    import numpy as np
    import torch

    from highlight_pipeline.methods.adam_step import adam_step

    rng = np.random.default_rng(0)
    p, exp_avg, exp_avg_sq = (
        torch.from_numpy(rng.standard_normal(10_001, np.float32)) for _ in range(3)
    )
    exp_avg_sq.abs_()
    digest = hashlib.sha256()
    for step in range(1, 6):
        grad = torch.from_numpy(rng.standard_normal(10_001, np.float32) * np.float32(0.1))
        adam_step(
            p,
            grad,
            exp_avg,
            exp_avg_sq,
            beta1=0.9,
            beta2=0.999,
            eps=1e-8,
            step_size=1e-3 / (1 - 0.9**step),
            bias_correction2_sqrt=(1 - 0.999**step) ** 0.5,
        )
        for t in (p, exp_avg, exp_avg_sq):
            digest.update(t.numpy().tobytes())
    print(json.dumps({"loop": digest.hexdigest()}))


def train(kind: str, settings: dict, optimiser: str) -> dict:
    """The small net trained 40 steps with one optimiser: its digest, losses, and how many
    updates took the one-pass loop."""
    import torch

    from highlight_pipeline.methods import adam_step, optim

    looped = []
    real_step = optim.adam_step
    optim.adam_step = lambda p, *a, **k: (looped.append(1), real_step(p, *a, **k))
    adam_step.MIN_ELEMENTS = 0  # this small net's parameters take the loop where they can
    if optimiser == "torch":
        torch.Tensor.sqrt = optim.exact_sqrt  # torch.optim's one difference (optim.py)
        make = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}[kind]
    else:
        make = {"adam": optim.Adam, "sgd": optim.SGD}[kind]
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(7, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3), torch.nn.Sigmoid()
    )
    before = [p.detach().clone() for p in net.parameters()]
    optimiser_ = make(net.parameters(), **settings)
    if optimiser == "tensor-ops":
        optimiser_.one_pass = False
    generator = torch.Generator().manual_seed(1)
    losses = []
    for _ in range(40):
        x = torch.randn(5, 7, generator=generator)
        y = torch.rand(5, 3, generator=generator)
        loss = torch.nn.functional.mse_loss(net(x), y)
        optimiser_.zero_grad()
        loss.backward()
        net[2].bias.grad = None  # a parameter without a gradient is left as it is
        optimiser_.step()
        losses.append(float(loss.detach()))
    optim.adam_step = real_step
    digest = hashlib.sha256()
    for p in net.parameters():
        digest.update(p.detach().numpy().tobytes())
    return {
        "params": digest.hexdigest(),
        "losses": losses,
        "one_pass_updates": len(looped),
        "trained": not torch.equal(net[0].weight, before[0]),
    }


def main(mode: str, case: int, dtype: str = "float32") -> None:
    if mode == "pinned":
        from highlight_pipeline.numerics import pin_numerics

        pin_numerics(1)
    import torch

    torch.set_default_dtype(getattr(torch, dtype))
    kind, settings = CASES[case]
    # torch.optim last: it replaces Tensor.sqrt for the rest of the process
    runs = {name: train(kind, settings, name) for name in ("ours", "tensor-ops", "torch")}
    print(json.dumps(runs))


if __name__ == "__main__":
    if sys.argv[2] == "loop":
        loop(sys.argv[1])
    else:
        main(sys.argv[1], int(sys.argv[2]), *sys.argv[3:])
