"""Reading model and resume files as data: what a file may hold, checked before use.

Every file that ``hlp`` reads back from disk holds data only (docs/architecture.md, "Files
read back"). For torch files that means ``torch.load(weights_only=True)``, whose unpickler
builds tensors, numbers, strings, lists and dicts and refuses any other object (a pickle
payload is refused, never run), and then the checks here:

* :func:`read_torch_file`: the file loads under ``weights_only`` and holds only plain
  containers, numbers, strings and dense tensors of numeric dtypes (:func:`check_plain`);
* :func:`expect_keys`: a mapping has exactly the keys its writer writes;
* :func:`load_network_state`: a network's state has the network's own names, shapes and
  dtypes (``load_state_dict`` alone would cast a wrong dtype silently);
* :func:`float_array`: a standardisation vector is a finite float tensor.

A failed check raises :class:`ModelFileError`; :func:`highlight_pipeline.methods.models.load_model`
puts the file's name in front, so the user sees one line naming the file and what is wrong.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import torch

from highlight_pipeline.errors import ModelFileError

#: Tensor dtypes a model or resume file may hold.
TENSOR_DTYPES = frozenset(
    {
        torch.float16,
        torch.bfloat16,
        torch.float32,
        torch.float64,
        torch.int8,
        torch.uint8,
        torch.int16,
        torch.int32,
        torch.int64,
        torch.bool,
    }
)
_SCALARS = (str, int, float, bool, type(None))


def read_torch_file(path: str | Path) -> object:
    """The content of a ``torch.save`` file, loaded with ``weights_only=True`` and checked
    by :func:`check_plain`; a file that does not load that way, or holds anything else, is
    a :class:`ModelFileError` naming it (nothing in it is run)."""
    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ModelFileError(f"{path}: refused: {_unpickling_reason(error)}") from None
    except (RuntimeError, EOFError, OSError, ValueError, AttributeError) as error:
        raise ModelFileError(
            f"{path}: refused: not a readable torch file ({one_line(error)})"
        ) from None
    try:
        check_plain(obj)
    except ModelFileError as error:
        raise ModelFileError(f"{path}: refused: {error}") from None
    return obj


def _unpickling_reason(error: pickle.UnpicklingError) -> str:
    """What ``weights_only`` refused, in one line (torch's message spans a paragraph)."""
    text = " ".join(str(error).split())
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if found:
        return f"it holds objects other than tensors and plain data (a {found.group(1)})"
    found = re.search(r"WeightsUnpickler error: (.*?)(?:\.? Check the documentation|$)", text)
    reason = found.group(1) if found else text[:120]
    return f"not a model file this package writes ({reason})"


def check_plain(obj: object, where: str = "") -> None:
    """``obj`` is dicts with string keys, lists, tuples, strings, numbers, booleans, None
    and dense tensors of :data:`TENSOR_DTYPES`, nested; anything else is refused."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, str | int):
                raise ModelFileError(f"{where or 'top level'}: a key of type {type(key).__name__}")
            check_plain(value, f"{where}/{key}")
    elif isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            check_plain(value, f"{where}[{i}]")
    elif isinstance(obj, torch.Tensor):
        if type(obj) is not torch.Tensor and type(obj) is not torch.nn.Parameter:
            raise ModelFileError(f"{where}: a tensor of type {type(obj).__name__}")
        if obj.layout != torch.strided or obj.dtype not in TENSOR_DTYPES:
            raise ModelFileError(f"{where}: a tensor of dtype {obj.dtype}, layout {obj.layout}")
    elif not isinstance(obj, _SCALARS):
        raise ModelFileError(f"{where or 'top level'}: an object of type {type(obj).__name__}")


def expect_keys(state: object, what: str, required=(), optional=()) -> dict:
    """``state`` is a dict with every ``required`` key and no key outside ``optional``."""
    if not isinstance(state, dict):
        raise ModelFileError(f"{what}: expected a mapping, found {type(state).__name__}")
    unknown = sorted(str(k) for k in set(state) - set(required) - set(optional))
    if unknown:
        raise ModelFileError(f"{what}: unexpected key(s) {unknown}")
    missing = [k for k in required if k not in state]
    if missing:
        raise ModelFileError(f"{what}: missing key(s) {missing}")
    return state


def load_network_state(net: torch.nn.Module, state_dict: object, what: str = "state_dict"):
    """Load ``state_dict`` into ``net`` after checking that it has exactly the network's
    names, and each tensor the network's shape and dtype."""
    own = net.state_dict()
    given = expect_keys(state_dict, what, required=tuple(own))
    for name, tensor in own.items():
        value = given[name]
        if not isinstance(value, torch.Tensor):
            raise ModelFileError(f"{what}/{name}: not a tensor")
        if value.dtype != tensor.dtype or value.shape != tensor.shape:
            raise ModelFileError(
                f"{what}/{name}: {value.dtype} {tuple(value.shape)}, the network has "
                f"{tensor.dtype} {tuple(tensor.shape)}"
            )
    net.load_state_dict(given)


def float_array(value: object, what: str) -> np.ndarray:
    """A finite float tensor (or array) as a numpy array."""
    if isinstance(value, torch.Tensor):
        value = value.numpy()
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
        raise ModelFileError(f"{what}: expected a float tensor")
    if not np.isfinite(value).all():
        raise ModelFileError(f"{what}: not finite")
    return value


def one_line(error: BaseException) -> str:
    """An exception's message on one line (load_state_dict's span several)."""
    return " ".join(str(error).split()) or type(error).__name__
