"""CLIP ViT-B/32 image encoder (OpenAI's ``ViT-B-32.pt``), and reading TorchScript archives as data.

The network is ``VisionTransformer`` of openai/CLIP ``clip/model.py`` with the ViT-B/32 sizes
that ``build_model`` reads off the published file: patch 32, width 768, 12 layers of 12
heads, 224x224 input (a 7x7 grid, ``positional_embedding`` of 50 rows), output 512.  Names
equal the published keys after ``visual.``: ``conv1`` (no bias), ``class_embedding``,
``positional_embedding``, ``ln_pre``, ``transformer.resblocks.N`` (``attn`` an
``nn.MultiheadAttention``: ``in_proj_weight``/``in_proj_bias``/``out_proj``; ``ln_1``;
``mlp.c_fc``, QuickGELU ``x * sigmoid(1.702 x)``, ``mlp.c_proj``; ``ln_2``; pre-norm
residuals), ``ln_post`` and ``proj`` (768x512, used as ``x @ proj``).  LayerNorms have eps
1e-5.  ``extract`` returns ``encode_image``: ``ln_post`` of the class token times ``proj``.

``ViT-B-32.pt`` is a TorchScript archive (what ``torch.jit.save`` writes: ``data.pkl``, the
module tree as a pickle; ``data/N``, the tensors' bytes; ``code/``, TorchScript source).
``torch.load(weights_only=True)`` refuses such archives, and ``torch.jit.load`` would compile
and run the code in it.  :func:`read_torchscript_state` instead walks ``data.pkl`` with
``pickletools.genops``, which only parses opcodes: no global is imported, nothing is called.
Module objects become plain records, tensors are built from the ``data/N`` bytes, and the
only calls the walk accepts are the tensor rebuild, an empty ``OrderedDict`` (the tensor's
hooks) and TorchScript's typed-list tags; anything else is refused.  The result is the flat
state (``visual.conv1.weight`` ... and the text encoder's keys), what the archive's
``state_dict()`` would return.
"""

from __future__ import annotations

import pickletools
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

NAME = "clip_vit_b32"

# ---------------------------------------------------------------------------------------------
# The image encoder
# ---------------------------------------------------------------------------------------------


class QuickGELU(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            OrderedDict(
                [
                    ("c_fc", nn.Linear(width, width * 4)),
                    ("gelu", QuickGELU()),
                    ("c_proj", nn.Linear(width * 4, width)),
                ]
            )
        )
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` (L, N, width), sequence first as the reference."""
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.resblocks = nn.Sequential(
            *[ResidualAttentionBlock(width, heads) for _ in range(layers)]
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.resblocks(x)


class CLIPImageEncoder(nn.Module):
    """CLIP's ``VisionTransformer`` (ViT-B/32 by default); ``extract`` gives 512-d embeddings."""

    backbone_name = NAME

    def __init__(
        self,
        input_resolution: int = 224,
        patch_size: int = 32,
        width: int = 768,
        layers: int = 12,
        heads: int = 12,
        output_dim: int = 512,
    ) -> None:
        super().__init__()
        self.input_resolution = input_resolution
        self.output_dim = output_dim
        self.feature_dim = output_dim
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        scale = width**-0.5
        grid = input_resolution // patch_size
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(grid * grid + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def forward(self, x: Tensor) -> Tensor:
        """(N, 3, 224, 224) normalised RGB -> (N, 512), the reference ``forward``."""
        size = self.input_resolution
        if tuple(x.shape[-2:]) != (size, size):
            raise ValueError(
                f"CLIP ViT takes {size}x{size} images (its positional embedding fixes the "
                f"grid), got {tuple(x.shape[-2:])}"
            )
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)  # (N, grid**2, width)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x)
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj

    @torch.no_grad()
    def extract(self, x: Tensor) -> Tensor:
        """Frames -> 512-d image embeddings.

        ``x`` (N, 3, 224, 224): one embedding per image, (N, 512).  ``x`` (B, 3, T, 224, 224),
        a window of T frames as the other visual backbones take it: the mean of its T frames'
        embeddings, (B, 512).
        """
        if x.dim() == 4:
            return self(x)
        if x.dim() != 5:
            raise ValueError(f"expected (N, 3, H, W) or (B, 3, T, H, W), got {tuple(x.shape)}")
        b, c, t, h, w = x.shape
        frames = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
        return self(frames).reshape(b, t, -1).mean(dim=1)


# ---------------------------------------------------------------------------------------------
# TorchScript archives, read as data
# ---------------------------------------------------------------------------------------------

_STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "DoubleStorage": torch.float64,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}
_TYPED_LISTS = {
    "build_intlist",
    "build_floatlist",
    "build_doublelist",
    "build_boollist",
    "build_tensorlist",
}


class _Global:
    """A name the pickle refers to; never imported."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __repr__(self) -> str:
        return f"{self.module}.{self.name}"


class _Record:
    """A TorchScript object (a module): its class name and its attributes."""

    def __init__(self, cls: _Global) -> None:
        self.cls = cls
        self.state: dict[str, Any] = {}


class _StorageRef:
    def __init__(self, dtype: torch.dtype, key: str, numel: int) -> None:
        self.dtype, self.key, self.numel = dtype, key, numel


class _Mark:
    pass


class ArchiveError(ValueError):
    """A file that :func:`read_torchscript_state` cannot read, or refuses."""


class _ArchiveReader:
    """Evaluates ``data.pkl``'s opcodes over plain values (see the module docstring)."""

    def __init__(self, archive: zipfile.ZipFile, root: str) -> None:
        self.archive = archive
        self.root = root
        self.storages: dict[str, Tensor] = {}

    def storage(self, ref: _StorageRef) -> Tensor:
        if ref.key not in self.storages:
            try:
                raw = self.archive.read(f"{self.root}data/{ref.key}")
            except KeyError:
                raise ArchiveError(f"tensor data {ref.key!r} missing from the archive") from None
            size = torch.empty((), dtype=ref.dtype).element_size()
            if len(raw) != ref.numel * size:
                raise ArchiveError(
                    f"tensor data {ref.key!r} has {len(raw)} bytes, expected {ref.numel * size}"
                )
            flat = (
                torch.frombuffer(bytearray(raw), dtype=ref.dtype)
                if raw
                else torch.empty(0, dtype=ref.dtype)
            )
            self.storages[ref.key] = flat
        return self.storages[ref.key]

    def tensor(self, args: tuple) -> Tensor:
        if len(args) < 6 or not isinstance(args[0], _StorageRef):
            raise ArchiveError("a tensor without its storage")
        ref, offset, size, stride = args[:4]
        flat = self.storage(ref)
        if not isinstance(size, tuple) or not isinstance(stride, tuple):
            raise ArchiveError("a tensor with a malformed size or stride")
        if not all(isinstance(v, int) for v in (offset, *size, *stride)):
            raise ArchiveError("a tensor with a non-integer size, stride or offset")
        needed = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) + 1
        if any(n == 0 for n in size):
            needed = 0
        if offset < 0 or needed > flat.numel():
            raise ArchiveError("a tensor reaching outside its storage")
        return flat.as_strided(tuple(size), tuple(stride), offset)

    def call(self, func: Any, args: Any) -> Any:
        if not isinstance(func, _Global) or not isinstance(args, tuple):
            raise ArchiveError("a call of something that is not a named function")
        name = f"{func.module}.{func.name}"
        if name == "torch._utils._rebuild_tensor_v2":
            return self.tensor(args)
        if name == "collections.OrderedDict" and args == ():
            return OrderedDict()
        if func.module == "torch.jit._pickle" and func.name in _TYPED_LISTS and len(args) == 1:
            return list(args[0])
        if name == "torch.jit._pickle.restore_type_tag" and len(args) == 2:
            return args[0]
        raise ArchiveError(f"refused: the archive calls {name}")

    def run(self, data: bytes) -> Any:
        stack: list[Any] = []
        memo: dict[int, Any] = {}

        def pop_mark() -> list[Any]:
            for i in range(len(stack) - 1, -1, -1):
                if isinstance(stack[i], _Mark):
                    items = stack[i + 1 :]
                    del stack[i:]
                    return items
            raise ArchiveError("malformed pickle: no mark")

        for op, arg, _ in pickletools.genops(data):
            code = op.name
            if code in ("PROTO", "FRAME"):
                continue
            if code == "STOP":
                if len(stack) != 1:
                    raise ArchiveError("malformed pickle: stack at STOP")
                return stack[0]
            if code == "MARK":
                stack.append(_Mark())
            elif code == "GLOBAL":
                module, _, name = str(arg).partition(" ")
                stack.append(_Global(module, name))
            elif code == "STACK_GLOBAL":
                name, module = stack.pop(), stack.pop()
                stack.append(_Global(str(module), str(name)))
            elif code in ("BINPUT", "LONG_BINPUT", "PUT"):
                memo[int(arg)] = stack[-1]
            elif code == "MEMOIZE":
                memo[len(memo)] = stack[-1]
            elif code in ("BINGET", "LONG_BINGET", "GET"):
                stack.append(memo[int(arg)])
            elif code in (
                "BININT",
                "BININT1",
                "BININT2",
                "LONG1",
                "LONG4",
                "INT",
                "LONG",
                "BINFLOAT",
                "FLOAT",
                "BINUNICODE",
                "SHORT_BINUNICODE",
                "BINUNICODE8",
                "UNICODE",
                "SHORT_BINSTRING",
                "BINSTRING",
                "STRING",
                "SHORT_BINBYTES",
                "BINBYTES",
                "BINBYTES8",
            ):
                stack.append(arg)
            elif code == "NONE":
                stack.append(None)
            elif code == "NEWTRUE":
                stack.append(True)
            elif code == "NEWFALSE":
                stack.append(False)
            elif code == "EMPTY_TUPLE":
                stack.append(())
            elif code == "TUPLE":
                stack.append(tuple(pop_mark()))
            elif code in ("TUPLE1", "TUPLE2", "TUPLE3"):
                n = int(code[-1])
                items = tuple(stack[-n:])
                del stack[-n:]
                stack.append(items)
            elif code == "EMPTY_LIST":
                stack.append([])
            elif code == "LIST":
                stack.append(pop_mark())
            elif code == "APPEND":
                value = stack.pop()
                stack[-1].append(value)
            elif code == "APPENDS":
                items = pop_mark()
                stack[-1].extend(items)
            elif code == "EMPTY_DICT":
                stack.append({})
            elif code == "DICT":
                items = pop_mark()
                stack.append(dict(zip(items[::2], items[1::2], strict=True)))
            elif code == "SETITEM":
                value, key = stack.pop(), stack.pop()
                stack[-1][key] = value
            elif code == "SETITEMS":
                items = pop_mark()
                target = stack[-1]
                if not isinstance(target, dict):
                    raise ArchiveError("malformed pickle: SETITEMS on a non-dict")
                for key, value in zip(items[::2], items[1::2], strict=True):
                    target[key] = value
            elif code == "BINPERSID":
                stack.append(self.persistent(stack.pop()))
            elif code == "REDUCE":
                args = stack.pop()
                stack.append(self.call(stack.pop(), args))
            elif code == "NEWOBJ":
                args = stack.pop()
                cls = stack.pop()
                if not (isinstance(cls, _Global) and cls.module.startswith("__torch__")):
                    raise ArchiveError(f"refused: the archive builds an object of {cls!r}")
                if args != ():
                    raise ArchiveError(f"refused: {cls!r} built with arguments")
                stack.append(_Record(cls))
            elif code == "BUILD":
                state = stack.pop()
                target = stack[-1]
                if not isinstance(target, _Record) or not isinstance(state, dict):
                    raise ArchiveError("refused: state given to something that is not a module")
                target.state.update(state)
            elif code == "POP":
                stack.pop()
            elif code == "POP_MARK":
                pop_mark()
            elif code == "DUP":
                stack.append(stack[-1])
            else:
                raise ArchiveError(f"refused: pickle opcode {code}")
        raise ArchiveError("malformed pickle: no STOP")

    def persistent(self, pid: Any) -> _StorageRef:
        if (
            not isinstance(pid, tuple)
            or len(pid) != 5
            or pid[0] != "storage"
            or not isinstance(pid[1], _Global)
        ):
            raise ArchiveError(f"refused: persistent id {pid!r}")
        _, kind, key, _location, numel = pid
        dtype = _STORAGE_DTYPES.get(kind.name) if kind.module == "torch" else None
        if dtype is None or not isinstance(key, str) or not isinstance(numel, int):
            raise ArchiveError(f"refused: storage of type {kind!r}")
        return _StorageRef(dtype, key, numel)


def _flatten(record: _Record, prefix: str, out: OrderedDict[str, Tensor], seen: set[int]) -> None:
    if id(record) in seen:
        return
    seen.add(id(record))
    for name, value in record.state.items():
        if isinstance(value, Tensor):
            out[f"{prefix}{name}"] = value
        elif isinstance(value, _Record):
            _flatten(value, f"{prefix}{name}.", out, seen)


def read_torchscript_state(path: str | Path) -> OrderedDict[str, Tensor]:
    """The tensors of a TorchScript archive's modules, keyed like its ``state_dict()``.

    Read as data (see the module docstring): no code in the file is imported, compiled or
    run.  Every tensor attribute of every module is returned (parameters, buffers, and
    tensor attributes that ``state_dict()`` would leave out, such as CLIP's text
    ``attn_mask`` in a scripted model).  A file that is not such an archive, or that asks for
    anything but tensors and plain values, raises :class:`ArchiveError` saying why (the
    loader puts the file's name in front).
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.split("/", 1)[-1] == "data.pkl"]
            if len(pickles) != 1:
                raise ArchiveError("no single data.pkl in the archive")
            root = pickles[0][: -len("data.pkl")]
            if root + "byteorder" in archive.namelist():
                order = archive.read(root + "byteorder").strip()
                if order not in (b"little", b""):
                    raise ArchiveError(f"byte order {order.decode(errors='replace')}")
            reader = _ArchiveReader(archive, root)
            top = reader.run(archive.read(pickles[0]))
    except ArchiveError:
        raise
    except (zipfile.BadZipFile, ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ArchiveError(f"not a readable TorchScript archive ({type(exc).__name__})") from None
    if not isinstance(top, _Record):
        raise ArchiveError("the TorchScript archive holds no module")
    state: OrderedDict[str, Tensor] = OrderedDict()
    _flatten(top, "", state, set())
    return state
