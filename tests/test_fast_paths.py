"""The CPU fast paths of the published networks (features/backbones/fast_paths.py) and the
batch bound per device (features/neural.visual_batch): on and unchanged on the CPU, off on
CUDA unless config.cuda asks; both settings compute the same function."""

from __future__ import annotations

import pytest
import torch

from highlight_pipeline.config import validate_config
from highlight_pipeline.features import neural
from highlight_pipeline.features.backbones import build
from highlight_pipeline.features.backbones.fast_paths import (
    fast_paths_for,
    fast_paths_on,
    use_fast_paths,
)
from highlight_pipeline.features.neural import visual_batch, visual_input_spec
from highlight_pipeline.methods import pld


def test_the_device_picks_the_default_and_config_cuda_can_turn_them_on_for_cuda():
    assert fast_paths_for("cpu") is True
    assert fast_paths_for(torch.device("cpu"), {"cpu_fast_paths": False}) is True  # CPU: on
    assert fast_paths_for("cuda") is False
    assert fast_paths_for("cuda:1", {"deterministic": True, "tf32": False}) is False
    assert fast_paths_for(torch.device("cuda:0"), {"cpu_fast_paths": True}) is True
    assert fast_paths_for("cuda:0", {"cpu_fast_paths": False}) is False


def test_config_cuda_takes_the_setting_and_leaves_the_default_slices_alone():
    base = {"run_datasets": ["s"], "datasets": {"s": {"reader": "synthetic"}}}
    default = validate_config(base)
    assert "cpu_fast_paths" not in default["cuda"]  # unset: the execution slices unchanged
    on = validate_config({**base, "cuda": {"cpu_fast_paths": True}})
    assert on["cuda"]["cpu_fast_paths"] is True
    with pytest.raises(Exception, match="cpu_fast_paths"):
        validate_config({**base, "cuda": {"cpu_fast_paths": "yes"}})


def _random_batch_norm(model: torch.nn.Module, seed: int = 0) -> None:
    """Running statistics and affine parameters away from 0 and 1, so that a folding error
    shows."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)


@pytest.mark.usefixtures("one_torch_thread")
def test_i3d_gives_the_same_features_with_its_fast_paths_on_and_off():
    torch.manual_seed(0)
    model = build("i3d").eval()
    _random_batch_norm(model)
    x = torch.rand((1, 3, 9, 224, 224), generator=torch.Generator().manual_seed(1)) * 2 - 1
    assert fast_paths_on(model) is True  # the default: what the CPU ran before the switch
    with torch.no_grad():
        fast = model.extract(x)
        plain = use_fast_paths(model, False).extract(x)
    assert fast_paths_on(model) is False
    assert not any(m.fast for m in model.modules() if hasattr(m, "fast"))
    assert float(plain.abs().max()) > 0
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-4)
    assert not torch.equal(fast, plain)  # two computations (folded BN), one function


@pytest.mark.usefixtures("one_torch_thread")
def test_tased_gives_the_same_maps_with_its_fast_paths_on_and_off():
    torch.manual_seed(0)
    net = build("tased").eval()
    _random_batch_norm(net)
    x = torch.rand((1, 3, 32, 32, 64), generator=torch.Generator().manual_seed(2)) * 2 - 1
    calls = []
    original = torch.nn.MaxPool3d.forward

    def counted(self, y):
        calls.append(self)
        return original(self, y)

    with torch.no_grad(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.nn.MaxPool3d, "forward", counted)
        fast = net.extract(x)
        on_calls = len(calls)
        plain = use_fast_paths(net, False).extract(x)
        off_calls = len(calls) - on_calls
    # off: the nine inception blocks pool with PyTorch's kernel instead of shifted maxima
    assert off_calls == on_calls + 9
    torch.testing.assert_close(fast, plain, rtol=1e-6, atol=1e-7)


def test_pld_places_its_network_with_the_devices_default():
    net = use_fast_paths(pld.build_network("tased"), False)
    assert fast_paths_on(pld.place_network(net, "cpu")) is True
    model = pld.PLDModel(use_fast_paths(pld.build_network("tased"), False), {"backbone": "tased"})
    assert fast_paths_on(model.to("cpu").net) is True
    assert fast_paths_on(pld.build_network("c3d")) is None  # C3D has none


@pytest.mark.usefixtures("one_torch_thread")
def test_a_cpu_extractor_runs_with_its_fast_paths_and_describes_itself_as_before():
    extractor = neural.NeuralExtractor(
        {"extractor": "i3d"}, weights="random", device="cpu", cuda={"cpu_fast_paths": False}
    )
    assert extractor.fast_paths is True and fast_paths_on(extractor.model) is True
    assert "fast_paths" not in extractor.describe()  # the CPU's record unchanged


# ----------------------------------------------------------------------------- batch bound


def test_cpu_batches_keep_the_byte_bound():
    i3d, r3d = visual_input_spec("i3d"), visual_input_spec("r3d34")
    for device in (None, "cpu", torch.device("cpu")):
        assert visual_batch(i3d, 8, device) == neural.BATCH_BYTES // (3 * 16 * 224 * 224 * 4)
        assert visual_batch(i3d, 8, device) == 2
        assert visual_batch(r3d, 8, device) == 8


def test_cuda_batches_are_bounded_by_the_devices_free_memory(monkeypatch):
    """No GPU here: torch.cuda.mem_get_info answers as a device with ``free`` bytes would."""
    free = {"bytes": 80 * 2**30}
    asked = []

    def mem_get_info(device=None):
        asked.append(device)
        return free["bytes"], 80 * 2**30

    monkeypatch.setattr(torch.cuda, "mem_get_info", mem_get_info)
    i3d = visual_input_spec("i3d")
    window = 3 * 16 * 224 * 224 * 4
    # plenty free: batch_size decides, however large (never more than batch_size)
    assert visual_batch(i3d, 8, "cuda:1") == 8
    assert visual_batch(i3d, 64, torch.device("cuda:0")) == 64
    assert asked[0] == torch.device("cuda:1")
    # little free: the share of it, at CUDA_WINDOW_COST times each window's input
    free["bytes"] = 2 * 2**30
    expected = int(free["bytes"] * neural.CUDA_FREE_FRACTION) // neural.CUDA_WINDOW_COST // window
    assert 1 < expected < 8
    assert visual_batch(i3d, 8, "cuda") == expected
    free["bytes"] = 10 * 2**20
    assert visual_batch(i3d, 8, "cuda") == 1  # at least one window
    # the CPU's bound plays no part on CUDA
    free["bytes"] = 80 * 2**30
    monkeypatch.setattr(neural, "BATCH_BYTES", 1)
    assert visual_batch(i3d, 8, "cuda") == 8
    assert visual_batch(i3d, 8, "cpu") == 1
