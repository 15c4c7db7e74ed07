"""Configuration: schema validation with actionable messages, defaults, and per-rule slices.

The JSON schema is package data, ``highlight_pipeline/data/config.schema.yaml`` (read with
:mod:`importlib.resources`, so an installed wheel validates too; Snakemake's
``workflow/schemas/config.schema.yaml`` is a link to it), and is the only description of
the configuration: the Snakefile and the CLI both validate with it.
A *slice* is the part of the config one rule depends on; rules pass it through
``params:`` so that Snakemake reruns a job exactly when its slice changes.
"""

from __future__ import annotations

import copy
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from highlight_pipeline.errors import ConfigError
from highlight_pipeline.features import extractors

# canonical_json, slice_hash and deep_merge live in hashing.py; re-exported here
# (``config.slice_hash``) for the workflow rules and for users.
from highlight_pipeline.hashing import canonical_json as canonical_json
from highlight_pipeline.hashing import deep_merge as deep_merge
from highlight_pipeline.hashing import slice_hash as slice_hash
from highlight_pipeline.runs import resolve_run, run_list

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The schema, a file of the package (``[tool.setuptools.package-data]`` ships it).
SCHEMA_PATH: Traversable = resources.files("highlight_pipeline").joinpath(
    "data", "config.schema.yaml"
)


def load_schema(path: str | Path | Traversable = SCHEMA_PATH) -> dict[str, Any]:
    """The config schema, with the settings of every registered method under ``methods``.

    Built-in methods keep their settings in the file (``$defs/method_NAME``); a method
    registered from outside the package brings its ``settings_schema``."""
    from highlight_pipeline.methods.registry import get_method, method_names

    path = Path(path) if isinstance(path, str) else path
    if not path.is_file():
        raise ConfigError(
            f"config schema not found at {path}: the package's data file is missing "
            "(reinstall the package)"
        )
    schema = yaml.safe_load(path.read_text(encoding="utf-8"))
    extractors.fill_schema(schema)  # the extractor names, from features/extractors.py
    from highlight_pipeline.metrics import PROTOCOLS

    schema["$defs"]["protocol"]["enum"] = list(PROTOCOLS)
    from highlight_pipeline.datasets.registry import reader_names

    schema["$defs"]["dataset"]["properties"]["reader"]["enum"] = reader_names()
    from highlight_pipeline.datasets.synthetic import recipe_names

    schema["$defs"]["synth"]["properties"]["recipe"]["enum"] = recipe_names()
    methods = schema["$defs"]["methods"]["properties"]
    for name in method_names():
        if name in methods:
            continue
        own = get_method(name).settings_schema
        settings = dict(own) if own is not None else {"type": "object"}
        schema["$defs"][f"method_{name}"] = settings
        methods[name] = {"$ref": f"#/$defs/method_{name}", "default": {}}
    return schema


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    merged = {k: v for k, v in schema.items() if k != "$ref"}
    return {**_resolve(node, root), **merged}


def _fill_defaults(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> Any:
    if schema.get("x-no-defaults"):  # overrides: validated, but merged as given
        return value
    schema = _resolve(schema, root)
    if not isinstance(value, dict) or schema.get("type") != "object":
        return value
    properties = schema.get("properties", {})
    for key, sub in properties.items():
        sub_resolved = _resolve(sub, root)
        if key not in value and "default" in sub_resolved:
            value[key] = copy.deepcopy(sub_resolved["default"])
        if key in value:
            value[key] = _fill_defaults(value[key], sub_resolved, root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key in value:
            if key not in properties:
                value[key] = _fill_defaults(value[key], extra, root)
    return value


def _describe(error: jsonschema.ValidationError, root: dict[str, Any]) -> str:
    where = "config" + "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(k for k in error.instance if k not in allowed)
        return f"unknown key {', '.join(map(repr, unknown))} in {where}; allowed keys: " + (
            ", ".join(allowed) or "(none)"
        )
    return f"{where}: {error.message}"


def validate_config(config: dict[str, Any], schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return a validated copy of ``config`` with schema defaults filled in.

    Raises ConfigError naming the offending key and, for unknown keys, the allowed ones.
    """
    schema = schema if schema is not None else load_schema()
    config = _fill_defaults(copy.deepcopy(config), schema, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.path), list(e.path)))
    if errors:
        raise ConfigError(_describe(errors[0], schema))
    for name in config["run_datasets"]:
        if name not in config["datasets"]:
            raise ConfigError(
                f"run_datasets names {name!r}, which is not under config.datasets "
                f"(defined: {', '.join(sorted(config['datasets']))})"
            )
    for name, spec in config["datasets"].items():
        if spec["reader"] != "synthetic" and "root" not in spec:
            raise ConfigError(f"config.datasets.{name}: reader {spec['reader']!r} needs `root`")
    for name, spec in config["datasets"].items():
        for method in spec.get("paper_evaluation", {}):
            _known_method(method, f"config.datasets.{name}.paper_evaluation")
    pseudo = config["pseudo"]
    if pseudo["k_min"] > pseudo["k_max"]:
        raise ConfigError("config.pseudo: k_min must not exceed k_max")
    validate_runs(config, schema)
    return config


def _known_method(method: str, where: str) -> None:
    from highlight_pipeline.methods.registry import get_method

    try:
        get_method(method)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _check_part(value: Any, node: dict[str, Any], root: dict[str, Any], where: str) -> None:
    """Validate ``value`` against the schema node ``node`` (a sub-schema of ``root``)."""
    schema = {"$defs": root["$defs"], **_resolve(node, root)}
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(value),
        key=lambda e: (len(e.path), list(e.path)),
    )
    if errors:
        message = _describe(errors[0], root)
        raise ConfigError(message.replace("config", where, 1))


def validate_runs(config: dict[str, Any], schema: dict[str, Any]) -> None:
    """Every run of ``evaluation.runs`` names a registered method and one of its variants,
    and its resolved settings are valid (a variant overlay is checked like the config)."""
    from highlight_pipeline.methods.registry import get_method

    for method in list(config["evaluation"]["runs"]) + list(config["variants"]):
        get_method(method)  # unknown method: a ConfigError naming the known ones
    defs = schema["$defs"]
    for dataset in config["run_datasets"]:
        for method, variant in run_list(config):
            run = resolve_run(config, dataset, method, variant)
            where = f"variant {method}/{variant} (dataset {dataset})"
            _check_part(
                run["settings"], defs[f"method_{method}"], schema, where + ": methods." + method
            )
            _check_part(run["pseudo"], defs["pseudo"], schema, where + ": pseudo")
            _check_part(run["training"], defs["training"], schema, where + ": training")
            _check_part(run["features"], defs["backbone_choice"], schema, where + ": features")
            if run["pseudo"]["k_min"] > run["pseudo"]["k_max"]:
                raise ConfigError(where + ": pseudo: k_min must not exceed k_max")


def load_config(path: str | Path) -> dict[str, Any]:
    return load_configs([path])


def load_configs(paths: list[str | Path]) -> dict[str, Any]:
    """The files merged in order (later keys win, dictionaries merge), then validated: the
    config as Snakemake sees ``configfile`` followed by ``--configfile`` files."""
    raw: dict[str, Any] = {}
    for path in map(Path, paths):
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        with open(path) as handle:
            try:
                loaded = yaml.safe_load(handle) or {}
            except yaml.YAMLError as exc:
                raise ConfigError(f"{path}: not valid YAML ({exc})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: a config file holds a mapping of keys")
        raw = deep_merge(raw, loaded)
    return validate_config(raw)


# --- slices: what each stage depends on -------------------------------------------------


# Dataset keys that do not change which videos, clips or labels a dataset has.
NOT_READER_KEYS = {
    "methods",
    "synth",
    "split_schemes",
    "eval_split",
    "protocol",
    "paper_dataset",
    "paper_evaluation",
}


def reader_slice(config: dict[str, Any], dataset: str) -> dict[str, Any]:
    """What the manifest and clip tables of a dataset depend on."""
    spec = config["datasets"][dataset]
    return {k: v for k, v in spec.items() if k not in NOT_READER_KEYS}


def protocol_of(config: dict[str, Any], dataset: str, method: str | None = None) -> str:
    """The protocol ``method``'s runs on ``dataset`` are scored with: its paper's
    (``paper_evaluation.<method>.protocol``) where the dataset names one, else the dataset's
    ``protocol``, else the reader's."""
    from highlight_pipeline.datasets.registry import get_reader

    spec = config["datasets"][dataset]
    own = spec.get("paper_evaluation", {}).get(method, {}).get("protocol")
    return own or spec.get("protocol") or get_reader(spec["reader"]).protocol


def split_schemes_of(config: dict[str, Any], dataset: str, method: str | None = None) -> list:
    """The split schemes ``method`` trains and is scored on: its paper's
    (``paper_evaluation.<method>.split_schemes``) or the dataset's ``split_schemes``. A
    chance baseline runs on every scheme any method of the dataset uses, so that each row
    has its random baseline on the same test videos."""
    from highlight_pipeline.methods.registry import chance_baselines

    spec = config["datasets"][dataset]
    overrides = spec.get("paper_evaluation", {})
    if method in chance_baselines():
        schemes = list(spec["split_schemes"])
        for own in overrides.values():
            schemes += [s for s in own.get("split_schemes", []) if s not in schemes]
        return schemes
    return list(overrides.get(method, {}).get("split_schemes") or spec["split_schemes"])


def chance_protocols(config: dict[str, Any], dataset: str, split: str) -> list[str]:
    """The protocols a chance baseline's run on ``split`` is scored with: every protocol
    that a method of the dataset is scored with on that split scheme (the dataset's first)."""
    from highlight_pipeline.methods.registry import chance_baselines

    spec = config["datasets"][dataset]
    found = []
    methods = [None, *spec.get("paper_evaluation", {})]
    for method in methods:
        if method in chance_baselines():
            continue
        if split in split_schemes_of(config, dataset, method):
            protocol = protocol_of(config, dataset, method)
            if protocol not in found:
                found.append(protocol)
    return found or [protocol_of(config, dataset)]


def modality_of_backbone(name: str) -> str:
    """``visual``, ``audio`` or ``saliency``: what an extractor's windows are (its
    registry entry, features/extractors.py)."""
    return extractors.get_extractor(name).modality


def precision_slice(config: dict[str, Any]) -> dict[str, Any]:
    """How a published network's numbers differ from float32 on a GPU: ``{"amp":
    "float16"}`` with ``features.amp``, ``{"tf32": true}`` with ``cuda.tf32``; empty by
    default and with ``device: cpu`` (where neither applies), so that the default slices,
    and their hashes, stay what they were before these keys existed.

    The device itself is not part of it: ``device: auto`` is resolved by each job at run
    time (a free GPU slot, else the CPU), after the DAG is built, and float32 on a GPU
    differs from the CPU only in the last bits (another order of additions), as another
    CPU's kernels would; the shards record the device that ran (``preprocessing``), and a
    shard made on another kind of device is re-extracted, not reused
    (``features.extract.reuse_key``)."""
    if config.get("device") == "cpu":
        return {}
    found: dict[str, Any] = {}
    if config["features"].get("amp"):
        found["amp"] = "float16"
    if config.get("cuda", {}).get("tf32"):
        found["tf32"] = True
    return found


def features_slice(
    config: dict[str, Any], modality: str, name: str | None = None
) -> dict[str, Any]:
    """What a modality's windows depend on (runtime settings such as device excluded; a
    published network's precision included when it is not float32, :func:`precision_slice`).

    ``name`` is the extractor (default: the one ``config.features`` names for the modality;
    a variant may name another)."""
    name = name or config["features"][modality]
    spec = extractors.get_extractor(name)
    found = spec.feature_slice(config)
    precision = precision_slice(config) if spec.neural else {}
    return {**found, "precision": precision} if precision else found


def weights_slice(config: dict[str, Any], backbone: str) -> dict[str, Any]:
    """Which weights a neural extractor uses (part of what it computes)."""
    if not extractors.is_neural(backbone):
        return {}
    return {"weights_dir": config["weights_dir"], "weights": config["weights"]}


def execution_slice(config: dict[str, Any], backbone: str) -> dict[str, Any]:
    """How a neural extractor runs (device, mixed precision, batch size, the CUDA settings);
    what of it changes the numbers is in the features slice too (:func:`precision_slice`)."""
    if not extractors.is_neural(backbone):
        return {}
    feats = config["features"]
    return {
        "device": config["device"],
        "amp": feats["amp"],
        "batch_size": feats["batch_size"],
        "cuda": config.get("cuda", {}),
    }
