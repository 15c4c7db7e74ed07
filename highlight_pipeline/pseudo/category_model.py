"""The fitted pseudo-categories of a dataset's training videos, as data only.

:class:`CategoryModel` scores a video the clustering never saw the way the pseudo job
scored the training videos (AV-PH Table 12): its category (the vote of its nearest clustered
videos, ``pseudo/categories.py``, or its own with ``categories: real``), then per clip the
mean similarity to all training clips of that category.

Everything it holds is arrays, numbers and strings (:func:`to_plain`), so it is written
without pickle: as ``category_model.h5`` beside the pseudo-labels (:func:`write_category_model`)
and as plain tensors inside a model file (``methods/avph.py``). Reading checks the structure
key by key, the dtype and the shape of every array (:func:`from_plain`): a file that is not
what the pipeline writes is refused with a :class:`ModelFileError` naming it, and nothing in
it is executed (HDF5 and ``torch.load(weights_only=True)`` have no way to run code).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from highlight_pipeline.atomic import atomic_output
from highlight_pipeline.errors import DatasetError, ModelFileError
from highlight_pipeline.features.clip_features import with_centre
from highlight_pipeline.pseudo.categories import Clustering
from highlight_pipeline.pseudo.recurrence import combine_modalities, score_against

#: Version of the layout below; a file of another version is refused.
FORMAT = 1
MODALITIES = ("visual", "audio")
SIMILARITIES = ("cosine", "pearson")


@dataclass
class CategoryModel:
    """Pseudo-categories and per-category mean unit clips of the training videos."""

    modalities: list[str]
    similarity: str
    kind: str  # pseudo | real
    clustering: Clustering | None
    names: list[str]  # real categories, by index
    means: dict[str, np.ndarray]  # modality -> [K, d]
    audio_fallback: np.ndarray | None  # imputed video-level audio mean (clustering only)

    def category_of(
        self,
        visual: np.ndarray | None,
        audio: np.ndarray | None,
        name: str,
        centres: dict[str, np.ndarray] | None = None,
    ) -> int:
        """The video's category: ``name`` with real categories, else the clustering's vote on
        its video-level features, made as the pseudo job made them (each modality's mean clip
        feature plus the centre its extractor took off, ``centres``: modality -> [D])."""
        if self.kind == "real":
            if name not in self.names:
                raise DatasetError(f"category {name!r} has no training videos")
            return self.names.index(name)
        centres = centres or {}
        parts = []
        if "visual" in self.modalities:
            parts.append(with_centre(visual.mean(axis=0), centres.get("visual")))
        if "audio" in self.modalities:
            parts.append(
                with_centre(audio.mean(axis=0), centres.get("audio"))
                if audio is not None
                else self.audio_fallback
            )
        assert self.clustering is not None
        return int(self.clustering.assign(np.concatenate(parts)[None])[0])

    def scores(
        self,
        visual: np.ndarray | None,
        audio: np.ndarray | None,
        name: str = "",
        centres: dict[str, np.ndarray] | None = None,
    ) -> np.ndarray:
        """AV recurrence score per clip (the average of the modalities the video has)."""
        c = self.category_of(visual, audio, name, centres)
        v = (
            score_against(visual, self.means["visual"][c], self.similarity)
            if ("visual" in self.modalities)
            else None
        )
        a = (
            score_against(audio, self.means["audio"][c], self.similarity)
            if ("audio" in self.modalities and audio is not None)
            else None
        )
        if v is None:
            if a is None:
                raise DatasetError("the video has none of the modalities of the pseudo-labels")
            return a
        return combine_modalities(v, a)


# ----------------------------------------------------------------------------- plain data

_CLUSTERING_ARRAYS = ("mean", "std", "projection", "projection_shift", "reference")


def to_plain(model: CategoryModel) -> dict:
    """The model as nested dicts of numpy arrays, ints, strings and lists of strings."""
    clustering = None
    c = model.clustering
    if model.kind == "pseudo" and c is not None and c.reference is not None:
        clustering = {
            "k": int(c.k),
            "neighbours": int(c.neighbours),
            "reference_labels": np.asarray(c.reference_labels, dtype=np.int64),
            **{
                name: np.asarray(getattr(c, name))
                for name in _CLUSTERING_ARRAYS
                if getattr(c, name) is not None
            },
        }
    return {
        "format": FORMAT,
        "modalities": list(model.modalities),
        "similarity": model.similarity,
        "kind": model.kind,
        "names": list(model.names),
        "means": {m: np.asarray(x, dtype=np.float64) for m, x in model.means.items()},
        "audio_fallback": (
            None if model.audio_fallback is None else np.asarray(model.audio_fallback)
        ),
        "clustering": clustering,
    }


def from_plain(obj: object, source: str | Path = "") -> CategoryModel:
    """The model from :func:`to_plain`'s structure (arrays or tensors), checked key by key;
    anything else is a :class:`ModelFileError` (naming ``source`` when given)."""
    check = _Checker(source)
    top = check.mapping(
        obj,
        "category model",
        required=("format", "modalities", "similarity", "kind", "names", "means"),
        optional=("audio_fallback", "clustering"),
    )
    if top["format"] != FORMAT:
        check.fail(f"category model of format {top['format']!r}; this version reads {FORMAT}")
    modalities = check.strings(top["modalities"], "modalities", MODALITIES)
    if not modalities:
        check.fail("modalities: empty")
    similarity = check.choice(top["similarity"], "similarity", SIMILARITIES)
    kind = check.choice(top["kind"], "kind", ("pseudo", "real"))
    names = check.strings(top["names"], "names")
    means_in = check.mapping(top["means"], "means", optional=modalities)
    means = {m: check.array(x, f"means/{m}", "f", ndim=2) for m, x in means_in.items()}
    if set(means) != set(modalities):
        check.fail(f"means: has {sorted(means)}, the modalities are {modalities}")
    k_of_means = {x.shape[0] for x in means.values()}
    if len(k_of_means) != 1:
        check.fail("means: the modalities disagree on the number of categories")
    k = k_of_means.pop()
    fallback = top.get("audio_fallback")
    if fallback is not None:
        fallback = check.array(fallback, "audio_fallback", "f", ndim=1)
    clustering = None
    if kind == "real":
        if len(names) != k:
            check.fail(f"names: {len(names)} categories, means: {k}")
    elif top.get("clustering") is not None:
        clustering = _clustering_from_plain(check, top["clustering"], k)
    elif k != 1:
        check.fail(f"pseudo-categories: {k} categories but no clustering to assign a video")
    if kind == "pseudo" and "audio" in modalities and fallback is None and clustering:
        check.fail("audio_fallback: missing (the clustering uses audio)")
    return CategoryModel(modalities, similarity, kind, clustering, names, means, fallback)


def _clustering_from_plain(check: _Checker, obj: object, k: int) -> Clustering:
    c = check.mapping(
        obj,
        "clustering",
        required=("k", "neighbours", "mean", "std", "reference", "reference_labels"),
        optional=("projection", "projection_shift"),
    )
    if check.integer(c["k"], "clustering/k") != k:
        check.fail(f"clustering/k: {c['k']}, means: {k} categories")
    neighbours = check.integer(c["neighbours"], "clustering/neighbours")
    if neighbours < 1:
        check.fail("clustering/neighbours: must be at least 1")
    mean = check.array(c["mean"], "clustering/mean", "f", ndim=1)
    std = check.array(c["std"], "clustering/std", "f", shape=mean.shape)
    reference = check.array(c["reference"], "clustering/reference", "f", ndim=2)
    labels = check.array(c["reference_labels"], "clustering/reference_labels", "i", ndim=1)
    if len(labels) != len(reference) or len(labels) == 0:
        check.fail("clustering/reference_labels: one label per reference row expected")
    if labels.min() < 0 or labels.max() >= k:
        check.fail(f"clustering/reference_labels: outside 0..{k - 1}")
    if (c.get("projection") is None) != (c.get("projection_shift") is None):
        check.fail("clustering: projection and projection_shift go together")
    projection = shift = None
    width = len(mean)
    if c.get("projection") is not None:
        projection = check.array(c["projection"], "clustering/projection", "f", ndim=2)
        if projection.shape[0] != len(mean):
            check.fail("clustering/projection: its rows must match the feature width")
        width = projection.shape[1]
        shift = check.array(
            c["projection_shift"], "clustering/projection_shift", "f", shape=(width,)
        )
    if reference.shape[1] != width:
        check.fail(f"clustering/reference: {reference.shape[1]} columns, expected {width}")
    return Clustering(
        labels=labels.astype(np.int64),
        k=k,
        silhouettes={},
        mean=mean,
        std=std,
        projection=projection,
        projection_shift=shift,
        reference=reference.astype(np.float32),
        reference_labels=labels.astype(np.int64),
        neighbours=neighbours,
    )


class _Checker:
    """Structure checks whose failures name the file."""

    def __init__(self, source: str | Path) -> None:
        self.source = source

    def fail(self, what: str):
        raise ModelFileError(f"{self.source}: refused: {what}" if self.source else what)

    def mapping(self, obj, what, required=(), optional=()) -> dict:
        if not isinstance(obj, dict) or not all(isinstance(key, str) for key in obj):
            self.fail(f"{what}: expected a mapping of names, found {type(obj).__name__}")
        unknown = sorted(set(obj) - set(required) - set(optional))
        if unknown:
            self.fail(f"{what}: unexpected key(s) {unknown}")
        missing = [key for key in required if key not in obj]
        if missing:
            self.fail(f"{what}: missing key(s) {missing}")
        return obj

    def strings(self, obj, what, allowed=None) -> list[str]:
        if not isinstance(obj, list | tuple) or not all(isinstance(x, str) for x in obj):
            self.fail(f"{what}: expected a list of strings")
        if allowed is not None and not set(obj) <= set(allowed):
            self.fail(f"{what}: {list(obj)} (allowed: {list(allowed)})")
        return list(obj)

    def choice(self, obj, what, allowed) -> str:
        if obj not in allowed:
            self.fail(f"{what}: {obj!r} (allowed: {list(allowed)})")
        return obj

    def integer(self, obj, what) -> int:
        if isinstance(obj, bool) or not isinstance(obj, int | np.integer):
            self.fail(f"{what}: expected an integer")
        return int(obj)

    def array(self, obj, what, kind: str, ndim: int | None = None, shape=None) -> np.ndarray:
        """A numeric array of dtype kind ``kind`` ('f' float, 'i' signed integer), finite."""
        if hasattr(obj, "numpy") and hasattr(obj, "dtype") and not isinstance(obj, np.ndarray):
            obj = obj.detach().cpu().numpy()  # a torch tensor
        if not isinstance(obj, np.ndarray):
            self.fail(f"{what}: expected an array, found {type(obj).__name__}")
        if obj.dtype.kind != kind:
            self.fail(f"{what}: dtype {obj.dtype} (expected {'float' if kind == 'f' else 'int'})")
        if ndim is not None and obj.ndim != ndim:
            self.fail(f"{what}: {obj.ndim} dimensions, expected {ndim}")
        if shape is not None and obj.shape != tuple(shape):
            self.fail(f"{what}: shape {obj.shape}, expected {tuple(shape)}")
        if kind == "f" and not np.isfinite(obj).all():
            self.fail(f"{what}: not finite")
        return obj


# ----------------------------------------------------------------------------- HDF5 file


def write_category_model(path: str | Path, model: CategoryModel) -> None:
    """``category_model.h5``: dicts as groups, arrays as datasets, the rest as JSON
    attributes; written atomically."""
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as handle:
        _write_group(handle, to_plain(model))


def read_category_model(path: str | Path) -> CategoryModel:
    """The model of a ``category_model.h5``; anything else is refused (ModelFileError)."""
    path = Path(path)
    if path.suffix == ".pkl":
        raise ModelFileError(
            f"{path}: a pickled category model written by an older version is not read "
            "(pickle can run code); rerun the pseudo job (snakemake reruns it by itself)"
        )
    if not path.is_file():
        raise ModelFileError(f"category model not found: {path}")
    try:
        with h5py.File(path, "r") as handle:
            plain = _read_group(handle, path)
    except OSError as error:
        raise ModelFileError(f"{path}: refused: not an HDF5 category model ({error})") from None
    return from_plain(plain, path)


def _write_group(group: h5py.Group, tree: dict) -> None:
    for key, value in tree.items():
        if value is None:
            continue
        if isinstance(value, dict):
            _write_group(group.create_group(key), value)
        elif isinstance(value, np.ndarray):
            group.create_dataset(key, data=value)
        else:
            group.attrs[key] = json.dumps(value)


def _read_group(group: h5py.Group, path: Path) -> dict:
    out: dict = {}
    for key, value in group.attrs.items():
        try:
            out[key] = json.loads(value)
        except (TypeError, ValueError):
            raise ModelFileError(f"{path}: refused: attribute {key!r} is not JSON") from None
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            out[key] = _read_group(item, path)
        elif item.dtype.kind in "fiu":
            out[key] = item[()]
        else:
            raise ModelFileError(f"{path}: refused: dataset {item.name} has dtype {item.dtype}")
    return out
