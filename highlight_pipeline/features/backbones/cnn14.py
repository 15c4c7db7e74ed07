"""PANNs Cnn14 (``Cnn14_mAP=0.431.pth``) using the ``Cnn14`` class of the panns_inference package.

``import panns_inference`` runs ``panns_inference/__init__.py`` -> ``config.py``, which calls
``wget`` to fetch a labels CSV into ``~/panns_data`` (offline: a crash or an empty file), and
``panns_inference/models.py`` imports ``matplotlib.pyplot`` (which writes a font cache under the
home directory) without using it.  So the package is never imported here: its ``models.py`` and
``pytorch_utils.py`` are located with ``importlib.util.find_spec`` (which does not execute the
package) and executed as private modules whose imports go through a small hook that

* resolves ``from .pytorch_utils import ...`` to the privately loaded ``pytorch_utils.py``;
* returns an inert placeholder for ``matplotlib.pyplot`` (``plt`` is unused by the models).

Nothing is written to the home directory and nothing is downloaded.  The resulting ``Cnn14``
class is the package's own (same code, same parameter names), subclassed only to add
``extract`` and the backbone name, and to keep its front end in float32 under autocast.

Mixed precision (``features.amp`` on CUDA).  The front end squares STFT amplitudes and
takes their logarithm: in float16 the power of a loud sound passes 65504 (a full-scale tone
reaches about 2.6e5 in one bin) and becomes infinite, and silence's power falls below
float16's smallest value (``amin`` 1e-10 is 0 there, and log10(0) is -inf), so the features
come out NaN.  The ``spectrogram_extractor`` and ``logmel_extractor`` modules therefore run
with autocast off, on float32 input (their class is swapped for a subclass whose
``forward`` does that; parameters, names and state dict are unchanged); the convolutions
after them take float16 as usual.  Without autocast this changes nothing: float32 input is
used as it is.
"""

from __future__ import annotations

import builtins
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

NAME = "cnn14"
SAMPLE_RATE = 32000
WINDOW_SIZE = 1024
HOP_SIZE = 320
MEL_BINS = 64
FMIN = 50
FMAX = 14000
CLASSES_NUM = 527

_PRIVATE_PREFIX = "highlight_pipeline.features.backbones._panns"
_cache: dict[str, types.ModuleType] = {}


def _package_dir() -> Path:
    spec = importlib.util.find_spec("panns_inference")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the 'panns_inference' package (panns-inference==0.1.1) is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _placeholder(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__doc__ = "placeholder: not imported by highlight_pipeline (unused by the models)"
    return module


def _exec_private(filename: str, siblings: dict[str, types.ModuleType]) -> types.ModuleType:
    """Execute ``panns_inference/<filename>`` as a private module with a guarded ``import``."""
    path = _package_dir() / filename
    name = f"{_PRIVATE_PREFIX}.{path.stem}"
    real_import = builtins.__import__
    matplotlib_stub = _placeholder("matplotlib")
    matplotlib_stub.pyplot = _placeholder("matplotlib.pyplot")  # type: ignore[attr-defined]

    def guarded_import(
        mod: str,
        globals_: dict[str, Any] | None = None,
        locals_: dict[str, Any] | None = None,
        fromlist: tuple[str, ...] | list[str] | None = (),
        level: int = 0,
    ) -> types.ModuleType:
        if level > 0:
            if level == 1 and mod in siblings:
                return siblings[mod]
            raise ImportError(f"panns_inference/{filename}: unexpected relative import {mod!r}")
        if mod == "matplotlib" or mod.startswith("matplotlib."):
            return matplotlib_stub
        return real_import(mod, globals_, locals_, fromlist or (), level)

    module = types.ModuleType(name)
    module.__file__ = str(path)
    module.__dict__["__builtins__"] = {**builtins.__dict__, "__import__": guarded_import}
    code = compile(path.read_text(encoding="utf-8"), str(path), "exec")
    sys.modules[name] = module  # classes pickle/repr under this private name
    try:
        exec(code, module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def panns_models() -> types.ModuleType:
    """``panns_inference/models.py`` loaded without the package ``__init__``/``config.py``."""
    if "models" not in _cache:
        utils = _exec_private("pytorch_utils.py", {})
        _cache["models"] = _exec_private("models.py", {"pytorch_utils": utils})
    return _cache["models"]


_float32_classes: dict[type, type] = {}


def _float32_class(cls: type[torch.nn.Module]) -> type[torch.nn.Module]:
    """A subclass of ``cls`` whose ``forward`` runs in float32 with autocast off."""
    if cls not in _float32_classes:

        def forward(self: torch.nn.Module, x: Tensor) -> Tensor:
            with torch.autocast(x.device.type, enabled=False):
                return cls.forward(self, x.float())

        _float32_classes[cls] = type(
            f"Float32{cls.__name__}",
            (cls,),
            {
                "__doc__": f"``{cls.__name__}`` run in float32, also under autocast.",
                "__module__": __name__,
                "forward": forward,
            },
        )
    return _float32_classes[cls]


FRONT_END = ("spectrogram_extractor", "logmel_extractor")


def _backbone_class() -> type[torch.nn.Module]:
    if "class" in _cache:
        return _cache["class"]  # type: ignore[return-value]
    base = panns_models().Cnn14

    def __init__(self: torch.nn.Module, *args: Any, **kwargs: Any) -> None:
        base.__init__(self, *args, **kwargs)
        for name in FRONT_END:  # float32 under autocast (module docstring)
            module = getattr(self, name)
            module.__class__ = _float32_class(type(module))

    def extract(self: torch.nn.Module, x: Tensor) -> Tensor:
        """(B, samples) mono 32 kHz waveform in [-1, 1] -> (B, 2048) ``embedding``.

        A 1-D waveform is treated as a batch of one.  In eval mode the embedding is
        relu(fc1(.)) (its dropout is inactive).
        """
        if x.dim() == 1:
            x = x.unsqueeze(0)
        with torch.no_grad():
            return self(x, None)["embedding"]

    cls = type(
        "Cnn14Backbone",
        (base,),
        {
            "__doc__": "panns_inference ``Cnn14`` (unchanged) with ``extract``.",
            "__module__": __name__,
            "backbone_name": NAME,
            "feature_dim": 2048,
            "__init__": __init__,
            "extract": extract,
        },
    )
    _cache["class"] = cls  # type: ignore[assignment]
    return cls


def build_cnn14() -> torch.nn.Module:
    """panns_inference ``Cnn14`` with the published configuration (32 kHz, 1024/320, 64 mel,
    50-14000 Hz, 527 classes), random weights."""
    cls = _backbone_class()
    return cls(
        sample_rate=SAMPLE_RATE,
        window_size=WINDOW_SIZE,
        hop_size=HOP_SIZE,
        mel_bins=MEL_BINS,
        fmin=FMIN,
        fmax=FMAX,
        classes_num=CLASSES_NUM,
    )


def __getattr__(name: str) -> Any:
    # ``Cnn14Backbone`` is created on first use (loading panns_inference lazily).
    if name == "Cnn14Backbone":
        return _backbone_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
