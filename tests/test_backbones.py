"""Backbones load their published checkpoint layouts strictly and reproduce the saved model.

Each test writes a small-effort checkpoint in the *published* layout (wrapping, ``module.``
prefix) from a model with deterministic random weights, loads it through the public contract
and compares outputs.  Inputs are batch 1 and as small as each network allows.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import highlight_pipeline
from highlight_pipeline.errors import WeightsError
from highlight_pipeline.features.backbones import (
    BACKBONES,
    build,
    format_weights_table,
    load_checkpoint,
    weights_status,
)

# name -> (input shape for the equivalence check, feature shape)
INPUTS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "r3d34": ((1, 3, 16, 112, 112), (1, 512)),
    "c3d": ((1, 3, 16, 112, 112), (1, 4096)),
    "i3d": ((1, 3, 9, 224, 224), (1, 1024)),
    "tased": ((1, 3, 32, 64, 64), (1, 64, 64)),  # full 224x384 run once below
    "cnn14": ((1, 16000), (1, 2048)),
}
MISSING_KEY = {
    "r3d34": "layer3.2.conv1.weight",
    "c3d": "conv4b.bias",
    "i3d": "Mixed_4e.b2b.bn.running_var",
    "tased": "convtsp4.13.bias",
    "cnn14": "logmel_extractor.melW",
}
NAMES = list(INPUTS)


def randomize_(model: nn.Module, seed: int) -> nn.Module:
    """Deterministic weights that keep activations O(1) (unlike tiny default inits)."""
    gen = torch.Generator().manual_seed(seed)
    modules = dict(model.named_modules())
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            owner = modules[key.rpartition(".")[0]]
            leaf = key.rpartition(".")[2]
            if key.startswith(("spectrogram_extractor.", "logmel_extractor.")):
                continue  # fixed DFT / mel matrices; kept as built (they are still saved)
            if isinstance(owner, nn.modules.batchnorm._BatchNorm):
                if leaf == "num_batches_tracked":
                    tensor.fill_(int(torch.randint(1, 1000, (1,), generator=gen)))
                elif leaf == "running_var":
                    tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
                elif leaf == "weight":
                    tensor.copy_(torch.rand(tensor.shape, generator=gen) * 0.4 + 0.8)
                else:
                    tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.1)
            elif tensor.dim() >= 2:
                fan_in = (
                    tensor[0].numel()
                    if not isinstance(owner, nn.ConvTranspose3d)
                    else (tensor.shape[0] * tensor[0, 0].numel())
                )
                std = (2.0 / fan_in) ** 0.5
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * std)
            elif tensor.is_floating_point():
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.05)
    return model


def published_payload(model: nn.Module, name: str) -> object:
    """The object the authors saved, rebuilt from ``model``'s weights."""
    if name == "r3d34":  # main.py of 3D-ResNets-PyTorch: DataParallel model, training state
        state = nn.DataParallel(model).state_dict()
        return {
            "epoch": 200,
            "arch": "resnet-34",
            "state_dict": state,
            "optimizer": {
                "state": {},
                "param_groups": [{"lr": 0.1, "momentum": 0.9, "params": list(range(5))}],
            },
        }
    if name == "tased":  # plain DataParallel state_dict
        return nn.DataParallel(model).state_dict()
    if name == "cnn14":  # audioset_tagging_cnn checkpoint dict
        return {"iteration": 660000, "model": model.state_dict()}
    return model.state_dict()  # c3d.pickle, rgb_imagenet.pt: plain state_dict


def state_of(payload: object, name: str) -> OrderedDict[str, torch.Tensor]:
    if name == "r3d34":
        return payload["state_dict"]  # type: ignore[index]
    if name == "cnn14":
        return payload["model"]  # type: ignore[index]
    return payload  # type: ignore[return-value]


def prefix_of(name: str) -> str:
    return BACKBONES[name].key_prefix


def make_input(name: str) -> torch.Tensor:
    gen = torch.Generator().manual_seed(123)
    shape = INPUTS[name][0]
    if name == "cnn14":
        return (torch.rand(shape, generator=gen) * 2 - 1) * 0.5
    return torch.rand(shape, generator=gen) * 2 - 1


_ORIGINALS: dict[str, nn.Module] = {}
_TARGETS: dict[str, nn.Module] = {}
_OUTPUTS: dict[str, torch.Tensor] = {}


@pytest.fixture(scope="module")
def originals() -> dict[str, nn.Module]:
    return _ORIGINALS


def original(cache: dict[str, nn.Module], name: str) -> nn.Module:
    """The model whose weights get saved: built once per backbone, deterministic weights."""
    if name not in cache:
        torch.manual_seed(0)
        cache[name] = randomize_(build(name), seed=1).eval()
    return cache[name]


def original_output(name: str) -> torch.Tensor:
    if name not in _OUTPUTS:
        _OUTPUTS[name] = original(_ORIGINALS, name).extract(make_input(name))
    return _OUTPUTS[name]


def fresh(name: str) -> nn.Module:
    """A second instance (different random init) that checkpoints are loaded into; reused,
    since every successful load overwrites all of its parameters and buffers."""
    if name not in _TARGETS:
        torch.manual_seed(99)
        _TARGETS[name] = build(name)
    return _TARGETS[name]


def write(tmp_path: Path, name: str, payload: object) -> Path:
    path = tmp_path / BACKBONES[name].filename
    torch.save(payload, path)
    return path


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


@pytest.mark.parametrize("name", NAMES)
def test_published_layout_roundtrip(name: str, tmp_path: Path, originals: dict) -> None:
    model = original(originals, name)
    path = write(tmp_path, name, published_payload(model, name))
    loaded = load_checkpoint(fresh(name), path)
    loaded.eval()
    assert_same_weights(model, loaded)

    expected = original_output(name)
    got = loaded.extract(make_input(name))
    assert got.shape == INPUTS[name][1]
    assert got.dtype == torch.float32
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    if name == "tased":
        assert float(got.min()) >= 0.0 and float(got.max()) <= 1.0
        assert float(got.std()) > 0  # not a saturated/constant map
    else:
        assert float(got.min()) >= 0.0  # post-ReLU features
        assert float(got.abs().max()) > 0

    # A directory holding the file under its published name works too.
    assert load_checkpoint(loaded, tmp_path) is loaded


def test_tased_full_size_output(tmp_path: Path, originals: dict) -> None:
    model = original(originals, "tased")
    path = write(tmp_path, "tased", published_payload(model, "tased"))
    loaded = load_checkpoint(fresh("tased"), path).eval()
    x = torch.rand((1, 3, 32, 224, 384), generator=torch.Generator().manual_seed(5)) * 2 - 1
    y = loaded.extract(x)
    assert y.shape == (1, 224, 384)
    assert float(y.min()) > 0.0 and float(y.max()) < 1.0
    assert float(y.std()) > 0


@pytest.mark.parametrize("name", ["r3d34", "i3d"])
def test_pre_1_0_files_without_bn_counters_load(name: str, tmp_path: Path, originals: dict) -> None:
    """resnet-34-kinetics.pth and rgb_imagenet.pt were saved by PyTorch 0.2/0.3: no
    ``num_batches_tracked`` entries and no ``_metadata``."""
    model = original(originals, name)
    state = state_of(published_payload(model, name), name)
    old = OrderedDict((k, v) for k, v in state.items() if not k.endswith("num_batches_tracked"))
    payload = {"epoch": 1, "arch": "resnet-34", "state_dict": old} if name == "r3d34" else old
    loaded = load_checkpoint(fresh(name), write(tmp_path, name, payload))
    for key, value in model.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(value, loaded.state_dict()[key]), key


@pytest.mark.parametrize("name", NAMES)
def test_missing_key_is_named(name: str, tmp_path: Path, originals: dict) -> None:
    model = original(originals, name)
    payload = published_payload(model, name)
    state = state_of(payload, name)
    del state[prefix_of(name) + MISSING_KEY[name]]
    target = fresh(name)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(WeightsError) as info:
        load_checkpoint(target, write(tmp_path, name, payload))
    message = str(info.value)
    assert MISSING_KEY[name] in message
    assert "missing" in message
    assert "\n" not in message
    for key, value in target.state_dict().items():  # left untouched
        assert torch.equal(value, before[key]), key


@pytest.mark.parametrize("name", NAMES)
def test_extra_key_is_named(name: str, tmp_path: Path, originals: dict) -> None:
    model = original(originals, name)
    payload = published_payload(model, name)
    state = state_of(payload, name)
    state[prefix_of(name) + "extra_head.weight"] = torch.zeros(3)
    state["stray"] = torch.zeros(1)  # without the published prefix
    with pytest.raises(WeightsError) as info:
        load_checkpoint(fresh(name), write(tmp_path, name, payload))
    message = str(info.value)
    assert "unexpected" in message
    assert "extra_head.weight" in message
    assert "stray" in message
    assert "missing keys: none" in message


def test_shape_mismatch_is_reported(tmp_path: Path, originals: dict) -> None:
    model = original(originals, "i3d")
    state = model.state_dict()
    state["logits.conv3d.bias"] = torch.zeros(7)
    with pytest.raises(WeightsError, match="logits.conv3d.bias"):
        load_checkpoint(fresh("i3d"), write(tmp_path, "i3d", state))


def test_long_key_lists_are_truncated(tmp_path: Path) -> None:
    junk = OrderedDict((f"junk{i}", torch.zeros(1)) for i in range(50))
    with pytest.raises(WeightsError) as info:
        load_checkpoint(fresh("c3d"), write(tmp_path, "c3d", junk))
    message = str(info.value)
    assert "more)" in message
    assert len(message) < 1500


@pytest.mark.parametrize("name", NAMES)
def test_missing_file_names_file_and_source(name: str, tmp_path: Path, originals: dict) -> None:
    spec = BACKBONES[name]
    path = tmp_path / "weights" / spec.filename
    with pytest.raises(WeightsError) as info:
        load_checkpoint(original(originals, name), path)
    message = str(info.value)
    assert str(path) in message
    assert spec.filename in message
    assert spec.source in message
    assert "\n" not in message


def test_unreadable_or_foreign_file(tmp_path: Path) -> None:
    bad = tmp_path / "c3d.pickle"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read checkpoint"):
        load_checkpoint(fresh("c3d"), bad)
    torch.save({"epoch": 3, "notes": "no weights"}, bad)
    with pytest.raises(WeightsError, match="no state_dict"):
        load_checkpoint(fresh("c3d"), bad)


def test_unknown_backbone() -> None:
    with pytest.raises(KeyError, match="r3d34"):
        build("resnet-1000")
    with pytest.raises(WeightsError):
        load_checkpoint(nn.Linear(2, 2), "whatever.pth")


def test_weights_status_and_table(tmp_path: Path) -> None:
    (tmp_path / "c3d.pickle").write_bytes(b"abc")
    rows = weights_status(tmp_path)
    assert [row["name"] for row in rows] == list(BACKBONES)
    by_name = {row["name"]: row for row in rows}
    assert by_name["c3d"]["present"] is True
    assert by_name["c3d"]["sha256"] == hashlib.sha256(b"abc").hexdigest()
    assert by_name["i3d"]["present"] is False and by_name["i3d"]["sha256"] is None
    for row in rows:
        assert set(row) >= {"name", "file", "source", "present", "sha256"}
    table = format_weights_table(rows)
    assert "MISSING" in table and "present" in table
    assert BACKBONES["tased"].source in table
    assert hashlib.sha256(b"abc").hexdigest() in table


def test_cnn14_import_and_build_write_nothing_to_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "MPLCONFIGDIR"))}
    env["HOME"] = str(home)
    root = Path(highlight_pipeline.__file__).resolve().parent.parent
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")])
    code = (
        "import sys, torch\n"
        "from highlight_pipeline.features.backbones import build\n"
        "m = build('cnn14').eval()\n"
        "y = m.extract(torch.zeros(1, 32000))\n"
        "assert y.shape == (1, 2048), y.shape\n"
        "bad = [k for k in sys.modules if k.split('.')[0] in ('panns_inference', 'matplotlib')]\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")
    assert list(home.rglob("*")) == []


# ---------------------------------------------------------------------------------------------
# Independent functional forwards (torch.nn.functional on the state_dict tensors) to catch
# wiring mistakes that a save/load round trip cannot see.
# ---------------------------------------------------------------------------------------------


def _bn(x: torch.Tensor, sd: dict[str, torch.Tensor], prefix: str) -> torch.Tensor:
    return F.batch_norm(
        x,
        sd[f"{prefix}.running_mean"],
        sd[f"{prefix}.running_var"],
        sd[f"{prefix}.weight"],
        sd[f"{prefix}.bias"],
        training=False,
        eps=1e-5,
    )


def r3d34_functional(sd: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    x = F.relu(_bn(F.conv3d(x, sd["conv1.weight"], stride=(1, 2, 2), padding=3), sd, "bn1"))
    x = F.max_pool3d(x, kernel_size=3, stride=2, padding=1)
    for stage, (blocks, planes) in enumerate(
        zip((3, 4, 6, 3), (64, 128, 256, 512), strict=True), start=1
    ):
        for block in range(blocks):
            p = f"layer{stage}.{block}"
            stride = 2 if (block == 0 and stage > 1) else 1
            out = F.conv3d(x, sd[f"{p}.conv1.weight"], stride=stride, padding=1)
            out = F.relu(_bn(out, sd, f"{p}.bn1"))
            out = _bn(F.conv3d(out, sd[f"{p}.conv2.weight"], padding=1), sd, f"{p}.bn2")
            shortcut = x[:, :, ::stride, ::stride, ::stride]  # type A: strided identity ...
            if shortcut.shape[1] < planes:  # ... plus zero channels
                zeros = shortcut.new_zeros(
                    (shortcut.shape[0], planes - shortcut.shape[1], *shortcut.shape[2:])
                )
                shortcut = torch.cat([shortcut, zeros], dim=1)
            x = F.relu(out + shortcut)
    assert x.shape[2:] == (1, 4, 4)
    return x.mean(dim=(2, 3, 4))


def c3d_functional(sd: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    def conv(h: torch.Tensor, name: str) -> torch.Tensor:
        return F.relu(F.conv3d(h, sd[f"{name}.weight"], sd[f"{name}.bias"], padding=1))

    h = F.max_pool3d(conv(x, "conv1"), (1, 2, 2))
    h = F.max_pool3d(conv(h, "conv2"), 2)
    h = F.max_pool3d(conv(conv(h, "conv3a"), "conv3b"), 2)
    h = F.max_pool3d(conv(conv(h, "conv4a"), "conv4b"), 2)
    h = F.max_pool3d(conv(conv(h, "conv5a"), "conv5b"), 2, padding=(0, 1, 1))
    assert h.shape[1:] == (512, 1, 4, 4)  # 8192 values per clip, channel-major
    return F.relu(F.linear(h.reshape(h.shape[0], -1), sd["fc6.weight"], sd["fc6.bias"]))


@pytest.mark.parametrize(
    ("name", "functional"), [("r3d34", r3d34_functional), ("c3d", c3d_functional)]
)
def test_matches_independent_functional_forward(name: str, functional, originals: dict) -> None:
    model = original(originals, name)
    with torch.no_grad():
        reference = functional(model.state_dict(), make_input(name))
    torch.testing.assert_close(original_output(name), reference, rtol=1e-4, atol=1e-4)


def _same(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "same" padding as pytorch_i3d.py's compute_pad, for one dimension."""
    total = max(kernel - (stride if size % stride == 0 else size % stride), 0)
    return total // 2, total - total // 2


def _tf_pad(x: torch.Tensor, kernel: tuple[int, ...], stride: tuple[int, ...]) -> torch.Tensor:
    (t0, t1), (h0, h1), (w0, w1) = (
        _same(n, k, s) for n, k, s in zip(x.shape[2:], kernel, stride, strict=True)
    )
    return F.pad(x, (w0, w1, h0, h1, t0, t1))  # zeros, also before the max-pools


def i3d_functional(sd: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """pytorch_i3d.py's extract_features (then the mean over time) in plain functional ops."""

    def unit(h: torch.Tensor, name: str, kernel=(1, 1, 1), stride=(1, 1, 1)) -> torch.Tensor:
        h = F.conv3d(_tf_pad(h, kernel, stride), sd[f"{name}.conv3d.weight"], stride=stride)
        bn = {k: sd[f"{name}.bn.{k}"] for k in ("running_mean", "running_var", "weight", "bias")}
        return F.relu(F.batch_norm(h, **bn, training=False, eps=1e-3))

    def pool(h: torch.Tensor, kernel, stride) -> torch.Tensor:
        return F.max_pool3d(_tf_pad(h, kernel, stride), kernel, stride)

    def mixed(h: torch.Tensor, name: str) -> torch.Tensor:
        b1 = unit(unit(h, f"{name}.b1a"), f"{name}.b1b", (3, 3, 3))
        b2 = unit(unit(h, f"{name}.b2a"), f"{name}.b2b", (3, 3, 3))
        b3 = unit(pool(h, (3, 3, 3), (1, 1, 1)), f"{name}.b3b")
        return torch.cat([unit(h, f"{name}.b0"), b1, b2, b3], dim=1)

    h = unit(x, "Conv3d_1a_7x7", (7, 7, 7), (2, 2, 2))
    h = pool(h, (1, 3, 3), (1, 2, 2))
    h = unit(unit(h, "Conv3d_2b_1x1"), "Conv3d_2c_3x3", (3, 3, 3))
    h = pool(h, (1, 3, 3), (1, 2, 2))
    h = mixed(mixed(h, "Mixed_3b"), "Mixed_3c")
    h = pool(h, (3, 3, 3), (2, 2, 2))
    for block in ("4b", "4c", "4d", "4e", "4f"):
        h = mixed(h, f"Mixed_{block}")
    h = pool(h, (2, 2, 2), (2, 2, 2))
    h = mixed(mixed(h, "Mixed_5b"), "Mixed_5c")
    return F.avg_pool3d(h, (2, 7, 7), stride=1).flatten(2).mean(dim=2)


@pytest.mark.parametrize(
    "shape",
    [
        (1, 3, 9, 224, 224),  # odd T: symmetric padding of the first convolution in time
        (2, 3, 16, 231, 226),  # a batch, odd H (odd sizes at every pool), wider than high
    ],
)
def test_i3d_fast_inference_matches_functional_forward(shape, originals: dict) -> None:
    """The inference path (BatchNorm folded, fused padding, shifted-maxima pools, fused 1x1
    convolutions, channels-last) against plain PyTorch ops, and the plain path against them."""
    model = original(originals, "i3d")
    x = torch.rand(shape, generator=torch.Generator().manual_seed(7)) * 2 - 1
    with torch.no_grad():
        reference = i3d_functional(model.state_dict(), x)
        fast = model.extract(x)
        plain = model.use_fast_inference(False).extract(x)
    model.use_fast_inference(True)
    assert float(reference.abs().max()) > 0
    torch.testing.assert_close(plain, reference, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fast, reference, rtol=1e-4, atol=1e-4)
    assert not torch.equal(fast, torch.zeros_like(fast))


def test_i3d_training_path_keeps_autograd(originals: dict) -> None:
    """With gradients the plain operations run (the in-place shifted maxima have none)."""
    model = original(originals, "i3d")
    x = (torch.rand((1, 3, 9, 224, 224)) * 2 - 1).requires_grad_()
    model.extract_features(x).sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    model.zero_grad(set_to_none=True)
