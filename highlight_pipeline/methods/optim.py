"""Adam and SGD with momentum for the methods' training loops, without ``torch.optim``.

``torch.optim.Optimizer`` imports ``torch._dynamo`` the first time an optimiser is built
or stepped (its methods are wrapped by ``torch._disable_dynamo``): about 1.3 to 2 s of
every training job's start-up on a CPU, more than a small model's whole training. These
two classes do the same arithmetic as ``torch.optim.Adam`` and ``torch.optim.SGD`` on
their default (single-tensor) path, operation for operation, so on the CPU a model trained
with them is bit for bit the one ``torch.optim`` gives (``tests/test_optim.py``); on a GPU
``torch.optim`` would pick its multi-tensor path by default, which rounds differently.

Only what the methods use is here: a list of parameters (one group), a constant learning
rate, L2 weight decay added to the gradient, and ``state_dict`` / ``load_state_dict`` for
the resumable checkpoints (``methods.resume``).

One operation differs from ``torch.optim``: Adam's square root. On the CPU ``torch.sqrt``
calls MKL's vector maths (``vsSqrt``, accurate to about an ulp), and its last bit follows
the CPU even under ``MKL_CBWR=COMPATIBLE``: on an Intel Xeon and on QEMU's emulated AMD
EPYC-Milan the same ``exp_avg_sq`` gave other bits, and avph's training parted there at
its fifth epoch (``benchmarks/stage_digests.py``, README "How far these numbers hold").
:func:`exact_sqrt` takes numpy's square root instead, which is IEEE 754's correctly
rounded one (the ``sqrtps``/``sqrtpd`` instructions), the same bits on every CPU.
Otherwise the arithmetic is ``torch.optim``'s, bit for bit (``tests/test_optim.py``).

On the CPU the float32 parameters of a model of ``adam_step.MIN_ELEMENTS`` or more take
Adam's update in one pass over their memory (``methods/adam_step.py``, numba): the same
operations in the same order, so the same bits under the numeric pins, 2.3 to 2.7 times as
fast a step (TASED-Net's 21 million parameters: 0.08 to 0.10 s against 0.22 s on the Intel
Xeon). ``one_pass`` says whether this optimiser takes it.
"""

from __future__ import annotations

import numpy as np
import torch

from .adam_step import adam_step, fusable, worth_it

FORMAT = "highlight_pipeline.optim/1"


def _copy(value, p: torch.Tensor):
    return value.detach().to(p.device, copy=True) if torch.is_tensor(value) else value


def exact_sqrt(t: torch.Tensor) -> torch.Tensor:
    """The correctly rounded square root of a CPU float tensor (numpy's: the same bits on
    every CPU); on another device or dtype ``torch.sqrt``."""
    if t.device.type != "cpu" or t.dtype not in (torch.float32, torch.float64):
        return t.sqrt()
    values = t.detach().numpy()
    return torch.from_numpy(np.sqrt(values, out=np.empty_like(values)))  # 0-d stays an array


class Optimiser:
    kind = ""

    def __init__(self, params, lr: float, weight_decay: float = 0.0) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("an optimiser needs at least one parameter")
        self.lr, self.weight_decay = float(lr), float(weight_decay)
        self.state: list[dict] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        """Gradients to None, as ``torch.optim``'s default (``set_to_none=True``)."""
        for p in self.params:
            p.grad = None

    def _gradient(self, p: torch.Tensor) -> torch.Tensor:
        grad = p.grad
        return grad.add(p, alpha=self.weight_decay) if self.weight_decay != 0 else grad

    @torch.no_grad()
    def step(self) -> None:
        for p, state in zip(self.params, self.state, strict=True):
            if p.grad is not None:
                self._update(p, self._gradient(p), state)

    def _update(self, p: torch.Tensor, grad: torch.Tensor, state: dict) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {
            "format": FORMAT,
            "kind": self.kind,
            "hyper": self._hyper(),
            "state": [dict(s) for s in self.state],
        }

    def load_state_dict(self, saved: dict) -> None:
        if saved.get("format") != FORMAT or saved.get("kind") != self.kind:
            raise ValueError(f"not a saved {self.kind} state: {saved.get('format')!r}")
        if saved["hyper"] != self._hyper() or len(saved["state"]) != len(self.params):
            raise ValueError(f"the saved {self.kind} state belongs to other settings")
        self.state = []
        for p, s in zip(self.params, saved["state"], strict=True):
            self.state.append({k: _copy(v, p) for k, v in s.items()})

    def _hyper(self) -> dict:
        return {"lr": self.lr, "weight_decay": self.weight_decay}


class Adam(Optimiser):
    """``torch.optim.Adam(params, lr, betas, eps, weight_decay)`` (no amsgrad)."""

    kind = "adam"

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        self.betas, self.eps = (float(betas[0]), float(betas[1])), float(eps)
        self.one_pass = worth_it(self.params)  # adam_step.py

    def _hyper(self) -> dict:
        return {**super()._hyper(), "betas": list(self.betas), "eps": self.eps}

    def _update(self, p: torch.Tensor, grad: torch.Tensor, state: dict) -> None:
        beta1, beta2 = self.betas
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["step"] += 1
        step = float(state["step"])
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        step_size = self.lr / (1 - beta1**step)
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        if self.one_pass and fusable(p, grad, exp_avg, exp_avg_sq):  # the same, in one pass
            adam_step(
                p,
                grad,
                exp_avg,
                exp_avg_sq,
                beta1=beta1,
                beta2=beta2,
                eps=self.eps,
                step_size=step_size,
                bias_correction2_sqrt=bias_correction2_sqrt,
            )
            return
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denom = (exact_sqrt(exp_avg_sq) / bias_correction2_sqrt).add_(self.eps)
        p.addcdiv_(exp_avg, denom, value=-step_size)


class SGD(Optimiser):
    """``torch.optim.SGD(params, lr, momentum, weight_decay)`` (no dampening, no Nesterov)."""

    kind = "sgd"

    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        super().__init__(params, lr, weight_decay)
        self.momentum = float(momentum)

    def _hyper(self) -> dict:
        return {**super()._hyper(), "momentum": self.momentum}

    def _update(self, p: torch.Tensor, grad: torch.Tensor, state: dict) -> None:
        if self.momentum != 0:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = grad.detach().clone()
            else:
                state["momentum_buffer"].mul_(self.momentum).add_(grad)
            grad = state["momentum_buffer"]
        p.add_(grad, alpha=-self.lr)
