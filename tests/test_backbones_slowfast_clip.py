"""SlowFast R50 (PyTorchVideo ``SLOWFAST_8x8_R50.pyth``) and CLIP ViT-B/32 (OpenAI
``ViT-B-32.pt``, a TorchScript archive): published layouts load strictly, features match
independent functional forwards written here from the reference architectures, and a
TorchScript archive is read as data (a crafted one is refused, nothing in it runs)."""

from __future__ import annotations

import builtins
import math
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from highlight_pipeline.errors import WeightsError
from highlight_pipeline.features.backbones import (
    BACKBONES,
    build,
    get_spec,
    load_checkpoint,
    read_state_dict,
)
from highlight_pipeline.features.backbones.clip_vit import (
    ArchiveError,
    CLIPImageEncoder,
    read_torchscript_state,
)
from highlight_pipeline.features.backbones.preprocess import (
    PREPROCESSORS,
    clip_input,
    slowfast_input,
)
from highlight_pipeline.features.backbones.slowfast import SlowFastR50, slow_indices

# Small CLIP encoder for archive round trips: 64x64 input, patch 32 (a 2x2 grid), 2 layers.
SMALL_CLIP = {
    "input_resolution": 64,
    "patch_size": 32,
    "width": 64,
    "layers": 2,
    "heads": 4,
    "output_dim": 32,
}


def randomize_(model: nn.Module, seed: int) -> nn.Module:
    """Deterministic weights with O(1) activations; norms and biases away from 1 and 0."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            if key.endswith("num_batches_tracked"):
                tensor.fill_(7)
            elif key.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            elif key.endswith("running_mean"):
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.1)
            elif tensor.dim() >= 2:
                fan_in = tensor[0].numel()
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * (1.0 / fan_in) ** 0.5)
            elif key.endswith("weight"):  # BatchNorm / LayerNorm scales
                tensor.copy_(torch.rand(tensor.shape, generator=gen) * 0.4 + 0.8)
            else:
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.05)
    return model


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


_CACHE: dict[str, nn.Module] = {}


def slowfast() -> nn.Module:
    if "slowfast" not in _CACHE:
        torch.manual_seed(0)
        _CACHE["slowfast"] = randomize_(build("slowfast_r50"), seed=1).eval()
    return _CACHE["slowfast"]


def clip_full() -> nn.Module:
    if "clip" not in _CACHE:
        torch.manual_seed(0)
        _CACHE["clip"] = randomize_(build("clip_vit_b32"), seed=2).eval()
    return _CACHE["clip"]


def clip_small(seed: int = 3) -> CLIPImageEncoder:
    torch.manual_seed(seed)
    return randomize_(CLIPImageEncoder(**SMALL_CLIP), seed=seed).eval()  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------


def test_registry_entries() -> None:
    sf, cl = get_spec("slowfast_r50"), get_spec("clip_vit_b32")
    assert (sf.feature_dim, cl.feature_dim) == (2304, 512)
    assert sf.modality == cl.modality == "visual"
    assert sf.filename == "SLOWFAST_8x8_R50.pyth" and sf.container == "model_state"
    assert cl.filename == "ViT-B-32.pt" and cl.container == "torchscript"
    assert cl.key_prefix == "visual."
    assert "pytorchvideo/model_zoo/kinetics/SLOWFAST_8x8_R50.pyth" in sf.source
    assert "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af" in cl.source
    assert sf.preprocessing.frames_per_window == 32
    assert sf.preprocessing.mean == (0.45 * 255,) * 3 and sf.preprocessing.std == (0.225 * 255,) * 3
    assert cl.preprocessing.frame_size == (224, 224)
    assert cl.preprocessing.mean == pytest.approx((122.7709383, 116.7460125, 104.09373615))
    assert cl.preprocessing.std == pytest.approx((68.5005327, 66.6321579, 70.32316305))
    assert {"slowfast_r50", "clip_vit_b32"} <= set(PREPROCESSORS)
    assert build("slowfast_r50").feature_dim == 2304
    assert build("clip_vit_b32").feature_dim == 512


# ---------------------------------------------------------------------------------------------
# SlowFast R50
# ---------------------------------------------------------------------------------------------

# A few published keys and shapes (pytorchvideo create_slowfast(model_depth=50,
# slowfast_fusion_conv_kernel_size=(7, 1, 1)); the whole list, 662 keys in the same order,
# was compared once against pytorchvideo's own model).
SLOWFAST_KEYS = {
    "blocks.0.multipathway_blocks.0.conv.weight": (64, 3, 1, 7, 7),
    "blocks.0.multipathway_blocks.1.conv.weight": (8, 3, 5, 7, 7),
    "blocks.0.multipathway_fusion.conv_fast_to_slow.weight": (16, 8, 7, 1, 1),
    "blocks.0.multipathway_fusion.norm.running_var": (16,),
    "blocks.1.multipathway_blocks.0.res_blocks.0.branch1_conv.weight": (256, 80, 1, 1, 1),
    "blocks.1.multipathway_blocks.0.res_blocks.0.branch2.conv_a.weight": (64, 80, 1, 1, 1),
    "blocks.1.multipathway_blocks.1.res_blocks.2.branch2.conv_a.weight": (8, 32, 3, 1, 1),
    "blocks.3.multipathway_blocks.0.res_blocks.0.branch2.conv_a.weight": (256, 640, 3, 1, 1),
    "blocks.3.multipathway_blocks.0.res_blocks.5.branch2.norm_c.num_batches_tracked": (),
    "blocks.3.multipathway_fusion.conv_fast_to_slow.weight": (256, 128, 7, 1, 1),
    "blocks.4.multipathway_blocks.0.res_blocks.2.branch2.conv_c.weight": (2048, 512, 1, 1, 1),
    "blocks.4.multipathway_blocks.1.res_blocks.0.branch1_norm.weight": (256,),
    "blocks.6.proj.weight": (400, 2304),
    "blocks.6.proj.bias": (400,),
}


def test_slowfast_published_keys() -> None:
    state = build("slowfast_r50").state_dict()
    assert len(state) == 662
    for key, shape in SLOWFAST_KEYS.items():
        assert tuple(state[key].shape) == shape, key
    assert not [k for k in state if k.startswith("blocks.4.multipathway_fusion")]
    assert not [k for k in state if k.startswith("blocks.5.")]  # the pools: no parameters
    assert sum(v.numel() for k, v in state.items() if "running" not in k and "num_b" not in k) > (
        34_000_000
    )


def test_slow_pathway_frames_follow_pack_pathway_output() -> None:
    assert slow_indices(32).tolist() == [0, 4, 8, 13, 17, 22, 26, 31]
    assert slow_indices(8).tolist() == [0, 7]
    with pytest.raises(ValueError):
        slow_indices(3)


def slowfast_functional(sd: dict[str, Tensor], x: Tensor) -> Tensor:
    """SlowFast R50 8x8 (Feichtenhofer et al.; PySlowFast SLOWFAST_8x8_R50 /
    pytorchvideo create_slowfast) in torch.nn.functional on the state_dict: the 2304-d
    pooled slow + fast res5 outputs."""
    temporal = {0: (1, 1, 3, 3), 1: (3, 3, 3, 3)}  # conv_a time kernels, res2..res5

    def bn(h: Tensor, p: str) -> Tensor:
        return F.batch_norm(
            h,
            sd[f"{p}.running_mean"],
            sd[f"{p}.running_var"],
            sd[f"{p}.weight"],
            sd[f"{p}.bias"],
            training=False,
            eps=1e-5,
        )

    def stem(h: Tensor, p: str, kt: int) -> Tensor:
        w = sd[f"{p}.conv.weight"]
        assert w.shape[2:] == (kt, 7, 7)
        h = F.relu(bn(F.conv3d(h, w, stride=(1, 2, 2), padding=(kt // 2, 3, 3)), f"{p}.norm"))
        return F.max_pool3d(h, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))

    def fuse(s: Tensor, f: Tensor, p: str) -> Tensor:
        w = sd[f"{p}.conv_fast_to_slow.weight"]
        assert w.shape[1:] == (f.shape[1], 7, 1, 1) and w.shape[0] == 2 * f.shape[1]
        g = F.relu(bn(F.conv3d(f, w, stride=(4, 1, 1), padding=(3, 0, 0)), f"{p}.norm"))
        return torch.cat([s, g], dim=1)

    def stage(h: Tensor, p: str, kt: int, spatial: int, depth: int) -> Tensor:
        for i in range(depth):
            q = f"{p}.res_blocks.{i}"
            stride = spatial if i == 0 else 1
            wa = sd[f"{q}.branch2.conv_a.weight"]
            assert wa.shape[2:] == (kt, 1, 1)
            a = F.relu(bn(F.conv3d(h, wa, padding=(kt // 2, 0, 0)), f"{q}.branch2.norm_a"))
            wb = sd[f"{q}.branch2.conv_b.weight"]
            b = F.conv3d(a, wb, stride=(1, stride, stride), padding=(0, 1, 1))
            b = F.relu(bn(b, f"{q}.branch2.norm_b"))
            c = bn(F.conv3d(b, sd[f"{q}.branch2.conv_c.weight"]), f"{q}.branch2.norm_c")
            if f"{q}.branch1_conv.weight" in sd:
                w1 = sd[f"{q}.branch1_conv.weight"]
                h = bn(F.conv3d(h, w1, stride=(1, stride, stride)), f"{q}.branch1_norm")
            h = F.relu(h + c)
        return h

    t = x.shape[2]
    slow = x[:, :, torch.linspace(0, t - 1, t // 4).long()]
    s = stem(slow, "blocks.0.multipathway_blocks.0", 1)
    f = stem(x, "blocks.0.multipathway_blocks.1", 5)
    s = fuse(s, f, "blocks.0.multipathway_fusion")
    for n, (depth, spatial) in enumerate(zip((3, 4, 6, 3), (1, 2, 2, 2), strict=True)):
        p = f"blocks.{n + 1}"
        s = stage(s, f"{p}.multipathway_blocks.0", temporal[0][n], spatial, depth)
        f = stage(f, f"{p}.multipathway_blocks.1", temporal[1][n], spatial, depth)
        if n < 3:
            s = fuse(s, f, f"{p}.multipathway_fusion")
    assert s.shape[1] == 2048 and f.shape[1] == 256
    return torch.cat([s.mean(dim=(2, 3, 4)), f.mean(dim=(2, 3, 4))], dim=1)


def small_window(batch: int = 2, frames: int = 8, size: int = 64, seed: int = 5) -> Tensor:
    return torch.randn(
        (batch, 3, frames, size, size), generator=torch.Generator().manual_seed(seed)
    )


def test_slowfast_matches_functional_forward() -> None:
    model = slowfast()
    x = small_window()
    with torch.no_grad():
        reference = slowfast_functional(model.state_dict(), x)
    got = model.extract(x)
    assert got.shape == (2, 2304) and torch.isfinite(got).all()
    assert float(got[:, :2048].abs().max()) > 0 and float(got[:, 2048:].abs().max()) > 0
    torch.testing.assert_close(got, reference, rtol=1e-4, atol=1e-5)
    # An explicit [slow, fast] pair is the same input.
    pair = [x.index_select(2, slow_indices(8)), x]
    torch.testing.assert_close(model.extract(pair), got, rtol=0, atol=0)


def test_slowfast_reference_size_head() -> None:
    """At 32x224x224 ``extract`` is the reference head's pooled input: logits = proj(it)."""
    model = slowfast()
    x = small_window(batch=1, frames=32, size=224, seed=6)
    with torch.no_grad():
        logits = model(x)
        features = model.extract(x)
        pooled = model.blocks[5](model.pathway_features(x)).flatten(1)
    assert logits.shape == (1, 400)
    torch.testing.assert_close(features, pooled, rtol=1e-5, atol=1e-6)
    sd = model.state_dict()
    expected = F.linear(features, sd["blocks.6.proj.weight"], sd["blocks.6.proj.bias"])
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-5)


def pyth_payload(model: nn.Module) -> dict:
    """What PySlowFast's ``save_checkpoint`` writes (the model zoo's ``.pyth`` files)."""
    return {
        "epoch": 196,
        "model_state": model.state_dict(),
        "optimizer_state": {"state": {}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]},
        "cfg": "MODEL:\n  ARCH: slowfast\n",
    }


def test_slowfast_published_file_round_trip(tmp_path: Path) -> None:
    model = slowfast()
    path = tmp_path / "SLOWFAST_8x8_R50.pyth"
    torch.save(pyth_payload(model), path)
    torch.manual_seed(9)
    target = build("slowfast_r50")
    assert load_checkpoint(target, tmp_path) is target  # the directory holding it works too
    target.eval()
    assert_same_weights(model, target)
    x = small_window(batch=1)
    torch.testing.assert_close(target.extract(x), model.extract(x), rtol=0, atol=0)


def test_slowfast_mismatches_are_named(tmp_path: Path) -> None:
    model = slowfast()
    payload = pyth_payload(model)
    state = payload["model_state"]
    del state["blocks.2.multipathway_blocks.1.res_blocks.3.branch2.norm_b.bias"]
    state["blocks.7.proj.weight"] = torch.zeros(3)
    path = tmp_path / "SLOWFAST_8x8_R50.pyth"
    torch.save(payload, path)
    target = build("slowfast_r50")
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(WeightsError) as info:
        load_checkpoint(target, path)
    message = str(info.value)
    assert "\n" not in message
    assert "missing keys: blocks.2.multipathway_blocks.1.res_blocks.3.branch2.norm_b.bias" in (
        message
    )
    assert "unexpected keys: blocks.7.proj.weight" in message
    assert "SLOWFAST_8x8_R50.pyth" in message and get_spec("slowfast_r50").source in message
    for key, value in target.state_dict().items():
        assert torch.equal(value, before[key]), key


@pytest.mark.parametrize("name", ["slowfast_r50", "clip_vit_b32"])
def test_missing_file_names_file_and_source(name: str, tmp_path: Path) -> None:
    spec = BACKBONES[name]
    path = tmp_path / "weights" / spec.filename
    with pytest.raises(WeightsError) as info:
        read_state_dict(path, name)
    message = str(info.value)
    assert str(path) in message and spec.source in message and "\n" not in message


class Payload:
    """Unpickling this calls ``open(marker, "w")``: a file appears if a loader runs it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (builtins.open, (str(self.marker), "w"))


def test_a_pyth_with_a_payload_is_refused_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    payload = pyth_payload(build("slowfast_r50"))
    payload["optimizer_state"] = Payload(marker)
    path = tmp_path / "SLOWFAST_8x8_R50.pyth"
    torch.save(payload, path)
    with pytest.raises(WeightsError, match="cannot read checkpoint"):
        load_checkpoint(build("slowfast_r50"), path)
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------
# CLIP ViT-B/32
# ---------------------------------------------------------------------------------------------


def clip_visual_keys(layers: int) -> set[str]:
    """The ``visual.*`` keys of openai/CLIP's VisionTransformer, prefix removed."""
    keys = {"conv1.weight", "class_embedding", "positional_embedding", "proj"}
    keys |= {f"{n}.{p}" for n in ("ln_pre", "ln_post") for p in ("weight", "bias")}
    block = [
        "attn.in_proj_weight",
        "attn.in_proj_bias",
        "attn.out_proj.weight",
        "attn.out_proj.bias",
        "ln_1.weight",
        "ln_1.bias",
        "mlp.c_fc.weight",
        "mlp.c_fc.bias",
        "mlp.c_proj.weight",
        "mlp.c_proj.bias",
        "ln_2.weight",
        "ln_2.bias",
    ]
    keys |= {f"transformer.resblocks.{i}.{k}" for i in range(layers) for k in block}
    return keys


def test_clip_published_keys_and_shapes() -> None:
    state = build("clip_vit_b32").state_dict()
    assert set(state) == clip_visual_keys(12) and len(state) == 152
    shapes = {
        "conv1.weight": (768, 3, 32, 32),
        "class_embedding": (768,),
        "positional_embedding": (50, 768),
        "proj": (768, 512),
        "transformer.resblocks.11.attn.in_proj_weight": (2304, 768),
        "transformer.resblocks.0.attn.out_proj.weight": (768, 768),
        "transformer.resblocks.5.mlp.c_fc.weight": (3072, 768),
        "transformer.resblocks.5.mlp.c_proj.weight": (768, 3072),
        "ln_post.bias": (768,),
    }
    for key, shape in shapes.items():
        assert tuple(state[key].shape) == shape, key


def clip_functional(sd: dict[str, Tensor], x: Tensor, heads: int) -> Tensor:
    """openai/CLIP VisionTransformer.forward in torch.nn.functional (batch first)."""
    width = sd["class_embedding"].shape[0]
    patch = sd["conv1.weight"].shape[-1]

    def ln(h: Tensor, p: str) -> Tensor:
        return F.layer_norm(h, (width,), sd[f"{p}.weight"], sd[f"{p}.bias"], eps=1e-5)

    h = F.conv2d(x, sd["conv1.weight"], stride=patch).flatten(2).transpose(1, 2)
    n = h.shape[0]
    h = torch.cat([sd["class_embedding"].expand(n, 1, width), h], dim=1)
    h = ln(h + sd["positional_embedding"], "ln_pre")
    layers = len({k.split(".")[2] for k in sd if k.startswith("transformer.resblocks.")})
    d = width // heads
    for i in range(layers):
        p = f"transformer.resblocks.{i}"
        y = ln(h, f"{p}.ln_1")
        q, k, v = F.linear(y, sd[f"{p}.attn.in_proj_weight"], sd[f"{p}.attn.in_proj_bias"]).chunk(
            3, dim=-1
        )
        q, k, v = (z.reshape(n, -1, heads, d).transpose(1, 2) for z in (q, k, v))
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d), dim=-1)
        att = (weights @ v).transpose(1, 2).reshape(n, -1, width)
        h = h + F.linear(att, sd[f"{p}.attn.out_proj.weight"], sd[f"{p}.attn.out_proj.bias"])
        y = F.linear(ln(h, f"{p}.ln_2"), sd[f"{p}.mlp.c_fc.weight"], sd[f"{p}.mlp.c_fc.bias"])
        y = y * torch.sigmoid(1.702 * y)
        h = h + F.linear(y, sd[f"{p}.mlp.c_proj.weight"], sd[f"{p}.mlp.c_proj.bias"])
    return ln(h[:, 0, :], "ln_post") @ sd["proj"]


def test_clip_matches_functional_forward_at_full_size() -> None:
    model = clip_full()
    x = torch.randn((1, 3, 224, 224), generator=torch.Generator().manual_seed(11))
    with torch.no_grad():
        reference = clip_functional(model.state_dict(), x, heads=12)
    got = model.extract(x)
    assert got.shape == (1, 512) and torch.isfinite(got).all()
    torch.testing.assert_close(got, reference, rtol=1e-4, atol=1e-4)


def test_clip_window_is_the_mean_of_its_frames() -> None:
    model = clip_small()
    frames = torch.randn((2, 3, 3, 64, 64), generator=torch.Generator().manual_seed(12))
    with torch.no_grad():
        reference = clip_functional(model.state_dict(), frames[1].transpose(0, 1), heads=4)
    window = model.extract(frames)
    assert window.shape == (2, 32)
    torch.testing.assert_close(window[1], reference.mean(dim=0), rtol=1e-4, atol=1e-5)
    one = model.extract(frames[:, :, 0])
    torch.testing.assert_close(model.extract(frames[:, :, :1]), one, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="64x64"):
        model.extract(torch.zeros(1, 3, 96, 96))


class _Block(nn.Module):
    def __init__(self, width: int, heads: int, attn_mask: Tensor | None = None) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            OrderedDict(
                [("c_fc", nn.Linear(width, 4 * width)), ("c_proj", nn.Linear(4 * width, width))]
            )
        )
        self.ln_2 = nn.LayerNorm(width)
        self.attn_mask = attn_mask

    def forward(self, x: Tensor) -> Tensor:
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=self.attn_mask)[0]
        y = self.mlp.c_fc(self.ln_2(x))
        return x + self.mlp.c_proj(y * torch.sigmoid(1.702 * y))


class _Tower(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, mask: Tensor | None = None) -> None:
        super().__init__()
        self.resblocks = nn.Sequential(*[_Block(width, heads, mask) for _ in range(layers)])

    def forward(self, x: Tensor) -> Tensor:
        return self.resblocks(x)


class _Visual(nn.Module):
    def __init__(self, resolution: int, patch: int, width: int, layers: int, heads: int, out: int):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(width))
        self.positional_embedding = nn.Parameter(torch.randn((resolution // patch) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = _Tower(width, layers, heads)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.randn(width, out))

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x).flatten(2).permute(0, 2, 1)
        cls = self.class_embedding.expand(x.shape[0], 1, x.shape[-1])
        x = self.ln_pre(torch.cat([cls, x], dim=1) + self.positional_embedding)
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


class _CLIP(nn.Module):
    """openai/CLIP's CLIP layout (small): ``visual`` and the text encoder, plus the scalar
    buffers and the text blocks' ``attn_mask`` tensor attribute of the released archives."""

    def __init__(self) -> None:
        super().__init__()
        c = SMALL_CLIP
        self.visual = _Visual(
            c["input_resolution"], c["patch_size"], c["width"], c["layers"], c["heads"], 32
        )
        ctx, text_width = 5, 16
        mask = torch.full((ctx, ctx), float("-inf")).triu_(1)
        self.transformer = _Tower(text_width, 2, 2, mask)
        self.token_embedding = nn.Embedding(11, text_width)
        self.positional_embedding = nn.Parameter(torch.randn(ctx, text_width))
        self.ln_final = nn.LayerNorm(text_width)
        self.text_projection = nn.Parameter(torch.randn(text_width, 32))
        self.logit_scale = nn.Parameter(torch.ones([]))
        self.register_buffer("input_resolution", torch.tensor(c["input_resolution"]))
        self.register_buffer("context_length", torch.tensor(ctx))
        self.register_buffer("vocab_size", torch.tensor(11))

    def forward(self, image: Tensor) -> Tensor:
        return self.visual(image)


def published_clip(seed: int = 4) -> _CLIP:
    torch.manual_seed(seed)
    return randomize_(_CLIP(), seed=seed).eval()  # type: ignore[return-value]


def image(seed: int = 13) -> Tensor:
    return torch.randn((2, 3, 64, 64), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("how", ["trace", "script", "trace-fp16"])
def test_clip_torchscript_archive_round_trip(how: str, tmp_path: Path) -> None:
    """The release is a ``torch.jit.save`` archive of the whole CLIP model (fp16 weights);
    it is read as data and the image encoder loads strictly from its ``visual.*`` tensors."""
    reference = published_clip()
    if how == "script":
        archive = torch.jit.script(reference)
    else:
        archive = torch.jit.trace(reference, image())
    if how == "trace-fp16":
        archive = archive.half()
    path = tmp_path / "ViT-B-32.pt"
    torch.jit.save(archive, str(path))
    assert "constants.pkl" in {n.split("/", 1)[-1] for n in zipfile.ZipFile(path).namelist()}

    state = read_torchscript_state(path)
    expected = dict(reference.state_dict())
    if how == "script":  # a scripted module keeps the plain tensor attribute too
        assert {"transformer.resblocks.0.attn_mask", "transformer.resblocks.1.attn_mask"} <= set(
            state
        )
        state = OrderedDict((k, v) for k, v in state.items() if not k.endswith("attn_mask"))
    assert list(state) == list(expected)
    for key, value in expected.items():
        want = value.half() if how == "trace-fp16" and value.is_floating_point() else value
        assert torch.equal(state[key], want), key

    target = CLIPImageEncoder(**SMALL_CLIP)
    assert load_checkpoint(target, path) is target
    target.eval()
    visual = {k.removeprefix("visual."): v for k, v in expected.items() if k.startswith("visual.")}
    loaded = target.state_dict()
    assert set(loaded) == set(visual)
    for key, value in visual.items():
        want = value.half().float() if how == "trace-fp16" else value
        assert torch.equal(loaded[key], want), key
    x = image(14)
    with torch.no_grad():
        want = clip_functional(loaded, x, heads=SMALL_CLIP["heads"])
        if how != "trace-fp16":
            torch.testing.assert_close(reference(x), want, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(target.extract(x), want, rtol=1e-4, atol=1e-5)


def test_clip_state_dict_re_saved_as_a_plain_file(tmp_path: Path) -> None:
    """``torch.save(model.state_dict())`` of the whole model (what ``clip.load(jit=False)``
    gives) or of the image encoder alone loads as well."""
    reference = published_clip()
    visual = reference.visual.state_dict()
    for name, content in {"whole": reference.state_dict(), "visual": visual}.items():
        path = tmp_path / f"{name}.pt"
        torch.save(content, path)
        target = load_checkpoint(CLIPImageEncoder(**SMALL_CLIP), path)
        for key, value in visual.items():
            assert torch.equal(target.state_dict()[key], value), (name, key)


def test_clip_mismatches_are_named(tmp_path: Path) -> None:
    reference = published_clip()
    state = reference.state_dict()
    del state["visual.transformer.resblocks.1.ln_2.bias"]
    state["visual.extra_head.weight"] = torch.zeros(3)
    state["stray"] = torch.zeros(1)  # neither the image encoder nor CLIP's text encoder
    path = tmp_path / "ViT-B-32.pt"
    torch.save(state, path)
    with pytest.raises(WeightsError) as info:
        load_checkpoint(CLIPImageEncoder(**SMALL_CLIP), path)
    message = str(info.value)
    assert "\n" not in message
    assert "missing keys: transformer.resblocks.1.ln_2.bias" in message
    assert "extra_head.weight" in message and "stray" in message
    assert "token_embedding" not in message  # the text encoder's keys are left aside
    with pytest.raises(WeightsError, match="shape mismatches: positional_embedding"):
        load_checkpoint(CLIPImageEncoder(**{**SMALL_CLIP, "input_resolution": 96}), path)


def crafted_archive(path: Path, data_pkl: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ViT-B-32/data.pkl", data_pkl)
        archive.writestr("ViT-B-32/constants.pkl", pickle.dumps((), protocol=2))
        archive.writestr("ViT-B-32/version", b"3\n")
    return path


class _Plain:
    pass


def test_a_crafted_torchscript_archive_is_refused_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    cases = {
        "calls": (Payload(marker), "refused: the archive calls"),
        "object": ({"w": _Plain()}, "refused: the archive builds an object"),
        "set": ({1, 2}, "refused: the archive calls __builtin__.set"),
        "not a module": (OrderedDict([("a", 1)]), "holds no module"),
    }
    for name, (content, reason) in cases.items():
        path = crafted_archive(tmp_path / f"{name}.pt", pickle.dumps(content, protocol=2))
        with pytest.raises(ArchiveError, match=reason):
            read_torchscript_state(path)
        with pytest.raises(WeightsError) as info:
            load_checkpoint(CLIPImageEncoder(**SMALL_CLIP), path)
        message = str(info.value)
        assert "cannot read checkpoint" in message and str(path) in message, message
        assert "\n" not in message
        assert not marker.exists(), name
    truncated = crafted_archive(tmp_path / "short.pt", b"\x80\x02}q\x00(")
    with pytest.raises(ArchiveError):
        read_torchscript_state(truncated)


def test_an_archive_tensor_outside_its_storage_is_refused(tmp_path: Path) -> None:
    archive = torch.jit.trace(nn.Linear(2, 2).eval(), torch.zeros(1, 2))
    path = tmp_path / "linear.pt"
    torch.jit.save(archive, str(path))
    with zipfile.ZipFile(path) as source:
        records = {n: source.read(n) for n in source.namelist()}
    data_name = next(n for n in records if n.endswith("data/0"))
    records[data_name] = records[data_name][:4]  # storage shorter than its tensor
    broken = tmp_path / "broken.pt"
    with zipfile.ZipFile(broken, "w") as target:
        for name, raw in records.items():
            target.writestr(name, raw)
    with pytest.raises(ArchiveError, match="bytes"):
        read_torchscript_state(broken)
    assert set(read_torchscript_state(path)) == {"weight", "bias"}


# ---------------------------------------------------------------------------------------------
# Preprocessing
# ---------------------------------------------------------------------------------------------


def frames(t: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(t, h, w, 3), dtype=np.uint8)


def test_slowfast_input() -> None:
    x = slowfast_input(frames(32, 240, 320))
    assert x.shape == (1, 3, 32, 224, 224) and x.dtype == torch.float32
    grey = slowfast_input(np.full((32, 100, 180, 3), 120, dtype=np.uint8))
    torch.testing.assert_close(
        grey[0, :, 0, 0, 0], torch.full((3,), (120 / 255 - 0.45) / 0.225), rtol=1e-6, atol=1e-6
    )


def test_clip_input() -> None:
    x = clip_input(frames(4, 360, 640))
    assert x.shape == (1, 3, 4, 224, 224)
    one = clip_input(np.full((300, 200, 3), 200, dtype=np.uint8))
    assert one.shape == (1, 3, 1, 224, 224)
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073])
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711])
    torch.testing.assert_close(one[0, :, 0, 0, 0], (200 / 255 - mean) / std, rtol=1e-5, atol=1e-5)


def test_models_take_their_preprocessed_input() -> None:
    model = clip_full()
    y = model.extract(clip_input(frames(2, 240, 320)))
    assert y.shape == (1, 512) and torch.isfinite(y).all()
    assert isinstance(build("slowfast_r50"), SlowFastR50)
