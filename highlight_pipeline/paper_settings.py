"""The four papers' stated settings against the presets: ``docs/paper-settings.md``.

``data/paper_settings.csv`` holds, once, every setting and protocol detail each paper
states (or leaves out where it matters), with where the paper says it, and ``path``: where
the pipeline's value lives. This module resolves every path against the paper's presets
(:data:`PAPERS`: ``config.yaml`` merged with the files of each dataset, validated by
:func:`highlight_pipeline.config.load_configs`; runs resolved by
:func:`highlight_pipeline.runs.resolve_run`), compares the value with the paper's and
writes the page::

    python -m highlight_pipeline.paper_settings docs/paper-settings.md

Columns of the CSV: ``paper`` (avph, chd, hpcl, pld), ``dataset`` (a dataset of that
paper, or ``all``: the row holds for every dataset of the paper and is resolved against
each), ``method`` and ``variant`` (the registry's; the run that is resolved), ``setting``,
``path``, ``stated`` (the paper's value as text; empty when the paper does not state it),
``expected`` (the paper's value in the config's terms, where ``stated`` is prose: ``mAP``
-> ``youtube-map``, ``384×224`` -> ``[224, 384]``), ``source`` (section, table, equation),
``status`` (``equal``, ``our choice``, ``not stated``, ``cannot here``) and ``why``.

Paths:

* ``settings.X``, ``features.X``, ``pseudo.X``, ``training.X``: the resolved run;
* ``dataset.X``: the dataset's config (``dataset.protocol`` and ``dataset.split_schemes``:
  the protocol and split schemes the run's method is evaluated with, its paper's where the
  dataset's ``paper_evaluation`` names them, else the dataset's, else the reader's protocol;
  a key the config leaves out: the reader's ``DEFAULTS``);
* ``config.X``: the merged config;
* ``backbone.MODALITY.FIELD``: the backbone the run reads for a modality: ``name``,
  ``filename`` (its checkpoint), or a field of its input (``fps``, ``window``, ``stride``:
  ``features.backbones.NAME`` over the reference of ``features/neural.py``);
* ``code:optimizer``: the optimiser the method trains with (``settings.optimizer`` where
  the method has one, else the one its module imports from ``methods/optim.py``);
  ``code:training_unit``: ``pooled`` when the train rule makes one model over every
  category, ``per category`` when its output has a category wildcard;
  ``code:clip_pooling``: the smallest share of a feature window that must lie in a clip
  for the window to be pooled into it (``features/pooling.py``, probed);
  ``code:FILE:NAME.key`` a module-level literal of a package file, and
  ``code:FILE:FUNC(arg)`` an argument's literal default in ``def FUNC`` or its literal
  value where FUNC is called (read with :mod:`ast`, nothing imported);
* several paths joined by ``|``: the list of their values.

The status on the page is computed, never copied: ``equal`` when the resolved value equals
the paper's (``expected``, else ``stated``; numbers numerically, text without regard to
case, lists and mappings element by element), else the CSV's status with its reason. A row
that claims ``equal`` where the values differ, one that claims a difference where they are
equal, one that claims ``equal`` with nothing to check, and one whose path does not resolve
stop the generator with an error naming the row (:class:`PaperSettingsError`).
"""

from __future__ import annotations

import ast
import csv
import math
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from highlight_pipeline.config import REPO_ROOT, load_configs, protocol_of, split_schemes_of
from highlight_pipeline.errors import PipelineError

CSV_NAME = "paper_settings.csv"
COLUMNS = (
    "paper",
    "dataset",
    "method",
    "variant",
    "setting",
    "path",
    "stated",
    "expected",
    "source",
    "status",
    "why",
)
STATUSES = ("equal", "our choice", "not stated", "cannot here")
DIFFERENT = ("our choice", "cannot here")
RUN_PARTS = ("settings", "features", "pseudo", "training")
PACKAGE_DIR = Path(__file__).resolve().parent
COMMAND = "python -m highlight_pipeline.paper_settings docs/paper-settings.md"


class PaperSettingsError(PipelineError):
    """A row of paper_settings.csv is malformed, does not resolve, or claims a status the
    resolved value contradicts."""


@dataclass(frozen=True)
class Paper:
    name: str
    title: str
    method: str
    text: tuple[str, ...]  # the paper's file(s) in shared/papers
    presets: dict[str, tuple[str, ...]]  # dataset -> preset files merged over config.yaml


# Which presets each paper's rows resolve against: the dataset's preset, plus the paper's
# method preset where one sets the method's paper setting (pld.yaml: pld's settings over
# config.yaml's CPU setting; i3d.yaml + hpcl.yaml: HPCL's Tables 3-5 run, as hpcl.yaml's
# commands; chd.yaml: its runs, as its commands). avph's paper settings are in the
# dataset presets themselves.
PAPERS: dict[str, Paper] = {
    "avph": Paper(
        "avph",
        "Unsupervised Video Highlight Detection by Learning from Audio and Visual Recurrence "
        "(AV-PH)",
        "avph",
        ("avph.txt",),
        {
            "youtube": ("workflow/configs/youtube.yaml",),
            "tvsum": ("workflow/configs/tvsum.yaml",),
            "qvhighlights": ("workflow/configs/qvhighlights.yaml",),
        },
    ),
    "chd": Paper(
        "chd",
        "Contrastive Learning for Unsupervised Video Highlight Detection (CHD, CVPR 2022)",
        "chd",
        ("chd.txt",),
        {
            "youtube": ("workflow/configs/youtube.yaml", "workflow/configs/chd.yaml"),
            "tvsum": ("workflow/configs/tvsum.yaml", "workflow/configs/chd.yaml"),
            "vtw": ("workflow/configs/vtw.yaml",),
        },
    ),
    "hpcl": Paper(
        "hpcl",
        "Probing Visual-Audio Representation for Video Highlight Detection via Hard-Pairs "
        "Guided Contrastive Learning (HPCL)",
        "hpcl",
        ("hpcl.txt",),
        {
            "youtube": (
                "workflow/configs/youtube.yaml",
                "workflow/configs/i3d.yaml",
                "workflow/configs/hpcl.yaml",
            ),
            "tvsum": (
                "workflow/configs/tvsum.yaml",
                "workflow/configs/i3d.yaml",
                "workflow/configs/hpcl.yaml",
            ),
        },
    ),
    "pld": Paper(
        "pld",
        "Learning Pixel-Level Distinctions for Video Highlight Detection (PLD-VHD, CVPR 2022) "
        "and its supplement",
        "pld",
        ("pld-vhd.txt", "pld-vhd-supplement.txt"),
        {
            "youtube": ("workflow/configs/youtube.yaml", "workflow/configs/pld.yaml"),
            "tvsum": ("workflow/configs/tvsum.yaml", "workflow/configs/pld.yaml"),
            "cosum": ("workflow/configs/cosum.yaml", "workflow/configs/pld.yaml"),
        },
    ),
}


@dataclass(frozen=True)
class Row:
    line: int  # line in the CSV (the header is line 1)
    paper: str
    dataset: str
    method: str
    variant: str
    setting: str
    path: str
    stated: str
    expected: str
    source: str
    status: str
    why: str

    def where(self) -> str:
        return f"{CSV_NAME} line {self.line} ({self.paper}/{self.dataset}, {self.setting!r})"

    def datasets(self) -> tuple[str, ...]:
        paper = PAPERS[self.paper]
        return tuple(paper.presets) if self.dataset == "all" else (self.dataset,)

    def target(self) -> str:
        """The paper's value to compare with: ``expected`` when given, else ``stated``."""
        return self.expected or self.stated


@dataclass(frozen=True)
class Checked:
    row: Row
    resolved: dict[str, Any]  # dataset -> resolved value (empty without a path)
    status: str  # computed


# ----------------------------------------------------------------------------- rows


def load_rows(path: str | Path | None = None) -> list[Row]:
    """The rows of ``paper_settings.csv`` (the package's, or the file at ``path``), checked
    for their columns, papers, datasets, methods, variants and statuses."""
    if path is None:
        source = resources.files("highlight_pipeline") / "data" / CSV_NAME
        with source.open("r", encoding="utf-8", newline="") as handle:
            return _parse(handle, CSV_NAME)
    with open(path, encoding="utf-8", newline="") as handle:
        return _parse(handle, str(path))


def _parse(handle: Iterable[str], name: str) -> list[Row]:
    from highlight_pipeline.runs import variants_of

    reader = csv.DictReader(handle)
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise PaperSettingsError(f"{name} lacks the columns {', '.join(missing)}")
    rows = []
    for line, raw in enumerate(reader, start=2):
        row = Row(line, **{c: (raw[c] or "").strip() for c in COLUMNS})
        where = row.where()
        if row.paper not in PAPERS:
            raise PaperSettingsError(f"{where}: unknown paper; known: {', '.join(PAPERS)}")
        paper = PAPERS[row.paper]
        if row.dataset != "all" and row.dataset not in paper.presets:
            raise PaperSettingsError(
                f"{where}: {row.paper} has no dataset {row.dataset!r}; "
                f"known: all, {', '.join(paper.presets)}"
            )
        if row.method != paper.method:
            raise PaperSettingsError(f"{where}: method {row.method!r}, not {paper.method}")
        if row.variant not in variants_of({}, row.method):
            raise PaperSettingsError(f"{where}: {row.method} has no variant {row.variant!r}")
        if row.status not in STATUSES:
            raise PaperSettingsError(
                f"{where}: status {row.status!r}; allowed: {', '.join(STATUSES)}"
            )
        if not row.setting or not row.source:
            raise PaperSettingsError(f"{where}: `setting` and `source` are required")
        if (row.status == "not stated") != (not row.stated):
            raise PaperSettingsError(
                f"{where}: `not stated` is the status of exactly the rows without `stated`"
            )
        if row.expected and not row.stated:
            raise PaperSettingsError(f"{where}: `expected` without `stated`")
        if row.status != "equal" and not row.why:
            raise PaperSettingsError(f"{where}: status {row.status!r} needs a reason (`why`)")
        if row.status == "equal" and not row.path:
            raise PaperSettingsError(
                f"{where}: claims `equal` without a `path` to check it against"
            )
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- presets


def preset_files(paper: str, dataset: str) -> tuple[str, ...]:
    """The files the rows of (paper, dataset) resolve against, in merge order."""
    return ("config.yaml", *PAPERS[paper].presets[dataset])


@lru_cache(maxsize=32)
def _preset(repo_root: str, files: tuple[str, ...]) -> dict[str, Any]:
    return load_configs([Path(repo_root) / f for f in files])


def preset_config(repo_root: str | Path, paper: str, dataset: str) -> dict[str, Any]:
    """The validated config of (paper, dataset): ``config.yaml`` and the paper's presets."""
    return _preset(str(Path(repo_root).resolve()), preset_files(paper, dataset))


# ----------------------------------------------------------------------------- resolving


class _Missing(KeyError):
    pass


def _walk(value: Any, keys: Sequence[str], where: str) -> Any:
    for key in keys:
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list | tuple) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            raise _Missing(f"{where}: no key {key!r}")
    return value


def resolve_path(
    path: str, config: dict[str, Any], dataset: str, run: dict[str, Any], repo_root: Path
) -> Any:
    """The value ``path`` names (module docstring) in ``config`` and ``run``."""
    if "|" in path:
        return [resolve_path(p.strip(), config, dataset, run, repo_root) for p in path.split("|")]
    if path.startswith("code:"):
        return _code(path.removeprefix("code:"), run, repo_root)
    head, _, rest = path.partition(".")
    keys = rest.split(".") if rest else []
    if head in RUN_PARTS:
        return _walk(run[head], keys, path)
    if head == "config":
        return _walk(config, keys, path)
    if head == "dataset":
        spec = config["datasets"][dataset]
        if keys == ["protocol"]:  # the method's own (paper_evaluation), else the dataset's
            return protocol_of(config, dataset, run.get("method"))
        if keys == ["split_schemes"]:
            return split_schemes_of(config, dataset, run.get("method"))
        if keys and keys[0] not in spec:
            defaults = _reader_defaults(spec["reader"])
            if keys[0] in defaults:
                return _walk(defaults, keys, path)
        return _walk(spec, keys, path)
    if head == "backbone":
        return _backbone(keys, config, run, path)
    raise _Missing(f"{path}: unknown root {head!r}")


def _backbone(keys: list[str], config: dict[str, Any], run: dict[str, Any], path: str) -> Any:
    from highlight_pipeline.features.backbones.registry import BACKBONES
    from highlight_pipeline.features.extractors import backbone_of, networks_of

    if len(keys) != 2:
        raise _Missing(f"{path}: backbone.MODALITY.FIELD")
    modality, field_name = keys
    name = _walk(run["features"], [modality], path)
    if field_name == "name":
        return name
    network = backbone_of(name)  # the extractor's network (slowfast_clip: slowfast_r50)
    if network not in BACKBONES:
        raise _Missing(f"{path}: {name} is weight-free (no published backbone)")
    if field_name == "filename":
        return "+".join(BACKBONES[n].filename for n in networks_of(name))
    override = config["features"].get("backbones", {}).get(name, {})
    if field_name in override:
        return override[field_name]
    reference = _reference_visual().get(network)
    if reference is None or field_name not in reference:
        raise _Missing(f"{path}: {name} has no input field {field_name!r}")
    return reference[field_name]


# --- what the code holds, read without importing it (no torch)


@lru_cache(maxsize=32)
def _module_tree(relative: str) -> ast.Module:
    file = PACKAGE_DIR / relative
    if not file.is_file():
        raise _Missing(f"{relative}: no such file in the package")
    return ast.parse(file.read_text(encoding="utf-8"), filename=str(file))


def _module_file(module: str) -> str:
    prefix = "highlight_pipeline."
    if not module.startswith(prefix):
        raise _Missing(f"{module}: not a module of the package")
    return module.removeprefix(prefix).replace(".", "/") + ".py"


def _literal(relative: str, name: str) -> Any:
    for node in _module_tree(relative).body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign) and node.value is not None
            else []
        )
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            try:
                return ast.literal_eval(node.value)
            except ValueError:
                raise _Missing(f"{relative}: {name} is not a literal") from None
    raise _Missing(f"{relative}: no module-level {name}")


def _argument(relative: str, func: str, arg: str) -> Any:
    """``arg``'s literal default in ``def func``, else its literal value in every call of
    ``func`` (all calls must agree)."""
    tree = _module_tree(relative)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == func:
            args = node.args
            positional = args.posonlyargs + args.args
            for a, default in zip(positional[-len(args.defaults) :], args.defaults, strict=True):
                if a.arg == arg:
                    return ast.literal_eval(default)
            for a, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
                if a.arg == arg and default is not None:
                    return ast.literal_eval(default)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            called = node.func
            name = called.id if isinstance(called, ast.Name) else getattr(called, "attr", None)
            if name == func:
                found += [ast.literal_eval(k.value) for k in node.keywords if k.arg == arg]
    if not found or any(v != found[0] for v in found):
        raise _Missing(f"{relative}: no single literal {arg!r} of {func}")
    return found[0]


@lru_cache(maxsize=1)
def _reference_visual() -> dict[str, dict[str, Any]]:
    """``features/neural.py``'s REFERENCE_VISUAL, field by field (without importing torch)."""
    tree = _module_tree("features/neural.py")
    fields: list[str] = []
    table: dict[str, dict[str, Any]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "VisualInputSpec":
            fields = [
                s.target.id
                for s in node.body
                if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
            ]
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == "REFERENCE_VISUAL" for t in targets):
            for key, call in zip(node.value.keys, node.value.values, strict=True):
                values = [ast.literal_eval(a) for a in call.args]
                values += [ast.literal_eval(k.value) for k in call.keywords]
                names = fields[: len(call.args)] + [k.arg for k in call.keywords]
                table[ast.literal_eval(key)] = dict(zip(names, values, strict=True))
    if not fields or not table:
        raise _Missing("features/neural.py: no VisualInputSpec / REFERENCE_VISUAL")
    return table


def _reader_defaults(reader: str) -> dict[str, Any]:
    from highlight_pipeline.datasets.registry import READERS

    target = READERS.get(reader)
    if not target:
        return {}
    try:
        return _literal(_module_file(target.split(":")[0]), "DEFAULTS")
    except _Missing:
        return {}


def _optimizer(run: dict[str, Any]) -> str:
    from highlight_pipeline.methods.registry import get_method

    if "optimizer" in run["settings"]:
        return str(run["settings"]["optimizer"])
    relative = _module_file(get_method(run["method"]).module)
    names = set()
    for node in ast.walk(_module_tree(relative)):
        if isinstance(node, ast.ImportFrom) and node.module == "highlight_pipeline.methods.optim":
            names |= {a.name for a in node.names}
    found = sorted(names & {"Adam", "SGD"})
    if len(found) != 1:
        raise _Missing(f"{relative}: imports {found or 'no'} optimiser(s) from methods/optim.py")
    return found[0].lower()


def _training_unit(repo_root: Path) -> str:
    """``pooled`` or ``per category``, from the train rule's (first) output, the model: the
    plan's path it names (``PLAN.pattern(NAME)``, ``plan.PATHS``, named ``model=`` or not),
    or a template written in the rule."""
    rules = repo_root / "workflow" / "rules" / "train.smk"
    text = rules.read_text(encoding="utf-8")
    match = re.search(r"^rule train:\n(?:[ \t].*\n|\n)*?\s+output:\s*\n\s*(.+)\n", text, re.M)
    if match is None:
        raise _Missing(f"{rules}: no output of rule train")
    output = match.group(1)
    named = re.fullmatch(r'(?:\w+=)?PLAN\.pattern\("(\w+)"\),?', output.strip())
    if named is not None:
        from highlight_pipeline.layout import PATHS

        wildcards = set(re.findall(r"\{(\w+)\}", PATHS[named.group(1)]))
    else:
        wildcards = set(re.findall(r"\{\{(\w+)\}\}", output))
    if not {"dataset", "split", "seed"} <= wildcards:
        raise _Missing(f"{rules}: rule train's output {output} is not per split and seed")
    return "per category" if wildcards & {"category", "domain"} else "pooled"


def _clip_pooling() -> float:
    """The smallest share (in hundredths) of a window inside a clip that makes it a member."""
    import numpy as np

    from highlight_pipeline.features.pooling import member_ranges

    clip_start, clip_end = np.array([0.0]), np.array([10.0])
    for hundredths in range(1, 101):
        share = hundredths / 100
        starts = np.array([2.0, 10.0 - 2.0 * share])  # a window inside the clip, the probe
        _, last = member_ranges(starts, starts + 2.0, clip_start, clip_end)
        if last[0] == 2:
            return share
    raise _Missing("features/pooling.py: no share of a window makes it a member")


def _code(spec: str, run: dict[str, Any], repo_root: Path) -> Any:
    if spec == "optimizer":
        return _optimizer(run)
    if spec == "training_unit":
        return _training_unit(repo_root)
    if spec == "clip_pooling":
        return _clip_pooling()
    relative, _, name = spec.partition(":")
    if not name:
        raise _Missing(f"code:{spec}: code:FILE:NAME or code:FILE:FUNC(arg)")
    call = re.fullmatch(r"(\w+)\((\w+)\)", name)
    if call:
        return _argument(relative, call.group(1), call.group(2))
    const, *keys = name.split(".")
    return _walk(_literal(relative, const), keys, f"code:{spec}")


# ----------------------------------------------------------------------------- comparing


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def parse_value(text: str) -> Any:
    """The paper's value as data: a number (``1e-5`` too), else YAML (lists, mappings,
    ``null``, ``true``), else the text."""
    number = _number(text)
    if number is not None:
        return number
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def same(resolved: Any, target: Any) -> bool:
    """Numbers numerically, text without regard to case or surrounding space, lists and
    mappings element by element."""
    if isinstance(resolved, bool) or isinstance(target, bool):
        return resolved is target
    a, b = _number(resolved), _number(target)
    if a is not None and b is not None:
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    if resolved is None or target is None:
        return resolved is None and target is None
    if isinstance(resolved, list | tuple) and isinstance(target, list | tuple):
        return len(resolved) == len(target) and all(map(same, resolved, target))
    if isinstance(resolved, dict) and isinstance(target, dict):
        ours = {str(k): v for k, v in resolved.items()}
        theirs = {str(k): v for k, v in target.items()}
        return ours.keys() == theirs.keys() and all(same(ours[k], theirs[k]) for k in ours)
    if isinstance(resolved, str) and isinstance(target, str):
        return " ".join(resolved.split()).casefold() == " ".join(target.split()).casefold()
    return False


def check_rows(rows: Sequence[Row], repo_root: str | Path = REPO_ROOT) -> list[Checked]:
    """Every row resolved against its presets and its status computed; raises
    :class:`PaperSettingsError` naming the first row that does not resolve or whose
    declared status the values contradict."""
    from highlight_pipeline.runs import resolve_run

    repo_root = Path(repo_root)
    checked = []
    for row in rows:
        resolved: dict[str, Any] = {}
        if row.path:
            for dataset in row.datasets():
                config = preset_config(repo_root, row.paper, dataset)
                run = resolve_run(config, dataset, row.method, row.variant)
                try:
                    resolved[dataset] = resolve_path(row.path, config, dataset, run, repo_root)
                except _Missing as exc:
                    raise PaperSettingsError(
                        f"{row.where()}: path {row.path!r} does not resolve on {dataset} "
                        f"({exc.args[0]})"
                    ) from None
        status = row.status
        if row.path and row.stated:
            target = parse_value(row.target())
            equal = all(same(value, target) for value in resolved.values())
            shown = "; ".join(f"{d}: {show(v)}" for d, v in resolved.items())
            if row.status == "equal" and not equal:
                raise PaperSettingsError(
                    f"{row.where()}: claims `equal`, but the presets resolve {row.path} to "
                    f"{shown}, not {row.target()!r}"
                )
            if row.status != "equal" and equal:
                raise PaperSettingsError(
                    f"{row.where()}: claims {row.status!r}, but the presets resolve "
                    f"{row.path} to the paper's value ({shown}): make it `equal`"
                )
            status = "equal" if equal else row.status
        checked.append(Checked(row, resolved, status))
    return checked


# ------------------------------------------------------------------------ one run's row

#: A variant overlay's part -> the path root of the rows it can change.
_OVERLAY_ROOTS = {"method": "settings", "features": "features", "pseudo": "pseudo"}


def _overlay_touches(overlay: dict[str, Any], path: str) -> bool:
    """Whether a variant's overlay sets the value (or a part of it) at ``path``."""
    for part in path.split("|"):
        head, _, rest = part.strip().partition(".")
        for key, root in (*_OVERLAY_ROOTS.items(), ("training", "training")):
            if head == root and rest.split(".")[0] in overlay.get(key, {}):
                return True
    return False


def run_differences(
    config: dict[str, Any],
    dataset: str,
    method: str,
    variant: str,
    paper_dataset: str | None = None,
    rows: Sequence[Row] | None = None,
) -> list[str]:
    """What the run (``method``, ``variant``) on ``dataset`` under ``config`` (the user's
    merged config, not the presets) does otherwise than its paper states for the paper's
    dataset ``paper_dataset`` (``qvhighlights-val`` is the paper's ``qvhighlights``): one
    ``setting: ours (paper: theirs)`` per stated setting of ``paper_settings.csv`` that
    differs. Compared: the settings the paper states and the presets follow (``equal`` in
    the CSV: a difference is the config's), and those the pipeline cannot run here
    (``cannot here``: always a difference); not the rows where the paper is vague and the
    preset's value is our reading of it (``our choice``, ``not stated``). A row of the
    paper's main variant counts for the other variants too, except where a variant changes
    that setting on purpose (an ablation row). Empty when the method has no paper or the
    paper reports nothing on the dataset."""
    from highlight_pipeline.methods.registry import get_method
    from highlight_pipeline.runs import resolve_run

    paper = next((p for p in PAPERS.values() if p.method == method), None)
    where = (paper_dataset or dataset).removesuffix("-val").removesuffix("-test")
    if paper is None or where not in paper.presets:
        return []
    rows = [
        r
        for r in (load_rows() if rows is None else rows)
        if r.paper == paper.name
        and r.dataset in (where, "all")
        and r.path
        and r.stated
        and r.status in ("equal", "cannot here")
    ]
    spec = get_method(method)
    overlay = dict(spec.variants[variant].overlay) if variant in spec.variants else {}
    own = {r.setting for r in rows if r.variant == variant}
    run = resolve_run(config, dataset, method, variant)
    found = []
    for row in rows:
        if row.variant != variant and (
            row.setting in own
            or row.variant != spec.default_variant
            or _overlay_touches(overlay, row.path)
        ):
            continue
        try:
            value = resolve_path(row.path, config, dataset, run, REPO_ROOT)
        except _Missing:
            continue
        if not same(value, parse_value(row.target())):
            found.append(f"{row.setting}: {show(value)} (paper: {' '.join(row.stated.split())})")
    return found


# ----------------------------------------------------------------------------- rendering


def show(value: Any) -> str:
    """A resolved value as the config would write it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    return str(value)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|") or "–"


def _resolved_cell(item: Checked) -> str:
    if not item.row.path:
        return "– (not a setting of the config)"
    values = {d: show(v) for d, v in item.resolved.items()}
    if len(set(values.values())) == 1:
        text = f"`{next(iter(values.values()))}`"
    else:
        text = "; ".join(f"{d}: `{v}`" for d, v in values.items())
    return f"{text} ({item.row.path.replace('|', ', ')})"


def _table(items: Sequence[Checked], main: str) -> list[str]:
    lines = [
        "| setting | paper states | source | preset resolves to | status | why |",
        "|---|---|---|---|---|---|",
    ]
    for item in items:
        row = item.row
        setting = row.setting + (f" (variant `{row.variant}`)" if row.variant != main else "")
        status = f"**{item.status}**" if item.status in DIFFERENT else item.status
        cells = [setting, row.stated, row.source, _resolved_cell(item), status, row.why]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def _counts(items: Sequence[Checked]) -> dict[str, int]:
    return {s: sum(1 for i in items if i.status == s) for s in STATUSES}


def render(checked: Sequence[Checked]) -> str:
    """The Markdown page of checked rows."""
    from highlight_pipeline.methods.registry import get_method

    out = [
        "# The papers' settings against the presets",
        "",
        "<!-- Generated: do not edit. " + COMMAND + " -->",
        "",
        "Every setting and protocol detail that the four papers state (and the unstated ones",
        "that matter), with where the paper says it, the value the pipeline's presets resolve",
        "to, and whether the two agree. The page is written by",
        "",
        "```bash",
        COMMAND,
        "```",
        "",
        "from `highlight_pipeline/data/paper_settings.csv` (the papers' statements, written",
        "once from `shared/papers/`), the presets in `workflow/configs/` merged over",
        "`config.yaml` and the method registry, so it cannot drift from them:",
        "`tests/test_paper_settings.py` fails when this page is not what the command writes",
        "now, and the command refuses a row whose claimed status the resolved value",
        "contradicts.",
        "",
        "Status (computed, not copied):",
        "",
        "* **equal**: the preset resolves to the paper's value (numbers compared as numbers,",
        "  text, lists and mappings as normalised text; where the paper's words are prose, the",
        "  CSV's `expected` column writes its value in the config's terms, e.g. `mAP` on",
        "  YouTube Highlights is `youtube-map`);",
        "* **our choice**: the paper states a value and the preset differs by a choice of the",
        "  project (the reason is given);",
        "* **not stated**: the paper does not give it; the value is the project's;",
        "* **cannot here**: the paper's value cannot be run by the pipeline yet (the reason).",
        "",
        "Rows under *all datasets* hold for every dataset of the paper and are resolved",
        "against each preset; one value is shown when they agree.",
        "",
        "## Summary",
        "",
        "| paper | rows | equal | our choice | cannot here | not stated |",
        "|---|---|---|---|---|---|",
    ]
    by_paper = {p: [c for c in checked if c.row.paper == p] for p in PAPERS}
    for name, items in by_paper.items():
        if not items:
            continue
        n = _counts(items)
        out.append(
            f"| {name} | {len(items)} | {n['equal']} | {n['our choice']} | "
            f"{n['cannot here']} | {n['not stated']} |"
        )
    out += ["", "Where the presets differ from what a paper states:", ""]
    differences = [c for c in checked if c.status in DIFFERENT]
    for item in differences:
        row = item.row
        out.append(
            f"* {row.paper}, {row.dataset}, {row.setting} ({row.source}): **{item.status}**: "
            f"{' '.join(row.why.split())}"
        )
    if not differences:
        out.append("* none")
    for name, items in by_paper.items():
        if not items:
            continue
        paper = PAPERS[name]
        spec = get_method(paper.method)
        variants = sorted({i.row.variant for i in items}, key=lambda v: (v != _main(items), v))
        labels = [
            f"`{v}` ({spec.variants[v].label})" if spec.variants[v].label else f"`{v}`"
            for v in variants
        ]
        about = f"variant {labels[0]}"
        if len(labels) > 1:
            about = f"main variant {labels[0]}; rows about {', '.join(labels[1:])} name it"
        out += [
            "",
            f"## {name}: {paper.title}",
            "",
            f"Method `{paper.method}` ({spec.title}), {about}. Text: "
            + ", ".join(f"`shared/papers/{t}`" for t in paper.text)
            + ". Presets, merged in this order:",
            "",
        ]
        for dataset in paper.presets:
            files = " + ".join(f"`{f}`" for f in preset_files(name, dataset))
            out.append(f"* {dataset}: {files}")
        main = _main(items)
        for dataset in ("all", *paper.presets):
            group = [i for i in items if i.row.dataset == dataset]
            if not group:
                continue
            title = "All datasets" if dataset == "all" else dataset
            out += ["", f"### {title}", ""]
            out += _table(group, main)
    return "\n".join(out) + "\n"


def _main(items: Sequence[Checked]) -> str:
    """The variant most rows concern (the paper's main one)."""
    variants = [i.row.variant for i in items]
    return max(dict.fromkeys(variants), key=variants.count)


def render_paper_settings(
    repo_root: str | Path = REPO_ROOT, csv_path: str | Path | None = None
) -> str:
    """The page ``docs/paper-settings.md``: the rows of ``csv_path`` (default: the
    package's ``data/paper_settings.csv``) checked against the presets under
    ``repo_root``."""
    return render(check_rows(load_rows(csv_path), repo_root))


def write_paper_settings(
    path: str | Path, repo_root: str | Path = REPO_ROOT, csv_path: str | Path | None = None
) -> Path:
    """Write the page to ``path`` (atomically) and return it."""
    from highlight_pipeline.atomic import write_text_atomic

    path = Path(path)
    write_text_atomic(path, render_paper_settings(repo_root, csv_path))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        print(f"usage: {COMMAND}", file=sys.stderr)
        return 2
    target = Path(args[0]) if args else REPO_ROOT / "docs" / "paper-settings.md"
    try:
        written = write_paper_settings(target)
    except PipelineError as exc:
        print(f"paper-settings: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
