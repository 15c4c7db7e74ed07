"""A record of the identities the workflow derives from its configs, for the golden test.

For the default config (``config.yaml``), for every preset of ``workflow/configs`` layered
over it, and for every dataset preset followed by every other preset (as their headers
combine them; ``--configfile`` order), the record holds:

* every extractor's feature slice and its ``slice_hash`` (as the ``features`` and
  ``saliency`` rules pass them), its weights slice and its execution slice;
* the feature slice of each modality's configured extractor;
* per dataset and run (method/variant): the run's slice hash (the ``train`` rule's params),
  the backbones it reads, its frame cache, and its pseudo-label ids per seed;
* every pseudo-label slice by id;
* every output path the workflow plans for those runs (feature, saliency and frame
  shards, pseudo-labels, models, scores, devices, metrics, analyses, explanations), for
  the default, each preset and the documented combinations (``DOCUMENTED``);
* the messages of configs that name an extractor wrongly (``REFUSED``).

Slices are kept once, by hash (``slices``), and pseudo-label slices by id (``pseudo``).

Only public functions that predate the extractor registry are used (``config.*_slice``,
``config.modality_of_backbone``, ``runs.*``), so the same script records the code of
any commit: ``PYTHONPATH`` picks the code, ``--repo`` the configs. The paths follow
``workflow/rules/common.smk``.

Run ``python tests/golden_ids.py --help``; tests/test_golden_ids.py says how the fixture
is regenerated.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

EXTRACTORS = ("r3d34", "c3d", "i3d", "cnn14", "tased", "colormotion", "logmel", "spectral")
MODALITIES = ("visual", "audio", "saliency")
RESULTS = "results"


# The combinations the presets' headers and the docs run: their planned paths are recorded
# (the other combinations record slices and ids, to keep the fixture small).
DOCUMENTED = (
    ("youtube", "avph-ablations"),
    ("tvsum", "avph-ablations"),
    ("qvhighlights", "avph-ablations-qvhighlights"),
    ("youtube", "chd"),
    ("tvsum", "chd"),
    ("youtube", "i3d", "hpcl"),
    ("tvsum", "i3d", "hpcl"),
    ("youtube", "hpcl-backbones"),
    ("tvsum", "hpcl-backbones"),
    ("youtube", "pld"),
    ("tvsum", "pld"),
    ("cosum", "pld"),
    ("youtube", "rehearsal"),
)


# Configs the schema refuses for an extractor name: their messages are recorded.
REFUSED = {
    "unknown visual": {"features": {"visual": "sift"}},
    "audio extractor as visual": {"features": {"visual": "logmel"}},
    "visual extractor as audio": {"features": {"audio": "colormotion"}},
    "unknown saliency": {"features": {"saliency": "itti"}},
    "unknown in a variant": {
        "variants": {"avph": {"mine": {"features": {"visual": "sift"}}}},
        "evaluation": {"runs": {"avph": ["mine"]}},
    },
    "options of a weight-free extractor": {"features": {"backbones": {"colormotion": {}}}},
    "bad option": {"features": {"backbones": {"r3d34": {"crop": 4}}}},
}


def config_sets(repo: Path) -> list[tuple[str, list[Path], bool]]:
    """(label, files, whether its paths are recorded): the default, each preset over it,
    each dataset preset followed by each other preset, and the documented combinations."""
    default = repo / "config.yaml"
    folder = repo / "workflow" / "configs"
    presets = sorted(folder.glob("*.yaml"))
    dataset_presets = [p for p in presets if _sets_run_datasets(p)]
    others = [p for p in presets if p not in dataset_presets]
    sets: list[tuple[str, list[Path], bool]] = [("default", [default], True)]
    sets += [(p.stem, [default, p], True) for p in presets]
    for names in DOCUMENTED:
        sets.append(("+".join(names), [default, *(folder / f"{n}.yaml" for n in names)], True))
    documented = {label for label, _, _ in sets}
    for d in dataset_presets:
        for o in others:
            if f"{d.stem}+{o.stem}" not in documented:
                sets.append((f"{d.stem}+{o.stem}", [default, d, o], False))
    return sets


def _sets_run_datasets(path: Path) -> bool:
    import yaml

    return "run_datasets" in (yaml.safe_load(path.read_text()) or {})


def record(repo: Path) -> dict[str, Any]:
    """``configs``: label -> the record of one config set (a failing one: its error
    message); ``slices``: hash -> the slice (feature, weights, execution) of that hash;
    ``pseudo``: pseudo-label id -> its slice."""
    import yaml

    from highlight_pipeline.config import deep_merge, load_configs, validate_config
    from highlight_pipeline.errors import ConfigError

    found: dict[str, Any] = {"configs": {}, "slices": {}, "pseudo": {}, "refused": {}}
    for label, files, with_paths in config_sets(repo):
        try:
            config = load_configs(files)
        except ConfigError as exc:
            found["configs"][label] = {"error": str(exc)}
            continue
        found["configs"][label] = record_config(config, with_paths, found)
    with open(repo / "config.yaml") as handle:
        default = yaml.safe_load(handle)
    for label, override in REFUSED.items():
        try:
            validate_config(deep_merge(default, override))
        except ConfigError as exc:
            found["refused"][label] = str(exc)
        else:
            found["refused"][label] = "accepted"
    return found


def record_config(
    config: dict[str, Any], with_paths: bool, tables: dict[str, Any]
) -> dict[str, Any]:
    """One config's record; its slices and pseudo-label slices go into ``tables``."""
    from highlight_pipeline import config as hlconfig
    from highlight_pipeline import runs as hlruns

    def keep(slice_: dict[str, Any]) -> str:
        digest = hlconfig.slice_hash(slice_)
        tables["slices"][digest] = slice_
        return digest

    extractors = {}
    for name in EXTRACTORS:
        modality = hlconfig.modality_of_backbone(name)
        extractors[name] = {
            "modality": modality,
            "slice_hash": keep(hlconfig.features_slice(config, modality, name)),
            "weights": keep(hlconfig.weights_slice(config, name)),
            "execution": keep(hlconfig.execution_slice(config, name)),
        }
    configured = {
        modality: [config["features"][modality], keep(hlconfig.features_slice(config, modality))]
        for modality in MODALITIES
    }
    plan = Plan(config, hlruns)
    tables["pseudo"].update(plan.pseudo)
    neural = {b for b in plan.backbones | plan.pretrained if hlconfig.weights_slice(config, b)}
    found = {
        "extractors": extractors,
        "configured": configured,
        "runs": plan.runs,
        "backbones_used": sorted(plan.backbones),
        "neural_used": sorted(neural),
    }
    if with_paths:
        found["paths"] = fold(plan.paths)
    return found


def fold(paths: set[str]) -> list[str]:
    """The paths, sorted, those that differ only in a seed or shard number as one:
    ``.../seed{0,1,2}.pt``."""
    groups: dict[str, list[int]] = {}
    for path in paths:
        match = re.search(r"(?:seed|shard-)(\d+)", path)
        if match is None:
            groups.setdefault(path, [])
            continue
        key = path[: match.start(1)] + "{}" + path[match.end(1) :]
        groups.setdefault(key, []).append(int(match.group(1)))
    return sorted(
        key.replace("{}", "{" + ",".join(map(str, sorted(numbers))) + "}") if numbers else key
        for key, numbers in groups.items()
    )


class Plan:
    """The runs, pseudo-labels and output paths ``workflow/rules/common.smk`` plans."""

    def __init__(self, config: dict[str, Any], hlruns: Any) -> None:
        self.config, self.hlruns = config, hlruns
        self.runs: dict[str, Any] = {}
        self.pseudo: dict[str, Any] = {}
        self.backbones: set[str] = {config["features"]["saliency"]}
        self.paths: set[str] = set()
        self.pretrained: set[str] = set()
        for dataset in config["run_datasets"]:
            self.runs[dataset] = self.dataset(dataset)

    def dataset(self, dataset: str) -> dict[str, Any]:
        from highlight_pipeline import config as hlconfig
        from highlight_pipeline.config import slice_hash
        from highlight_pipeline.methods.registry import get_method

        hlruns, config = self.hlruns, self.config
        spec = config["datasets"][dataset]
        # the split schemes of each method (its paper's, where the code has them)
        per_method = getattr(hlconfig, "split_schemes_of", None)
        seeds = config["evaluation"]["seeds"]
        shards = range(config["features"]["shards"])
        labelled = spec["reader"] != "folder" or (Path(spec["root"]) / "highlights.csv").is_file()
        base = f"{RESULTS}/{dataset}"
        saliency = config["features"]["saliency"]
        self.paths |= {f"{base}/saliency/{saliency}/shard-{k}.h5" for k in shards}
        found: dict[str, Any] = {}
        for method, variant in hlruns.run_list(config):
            run = hlruns.resolve_run(config, dataset, method, variant)
            schemes = spec["split_schemes"]
            if per_method is not None:
                schemes = per_method(config, dataset, method)
            kinds = hlruns.run_inputs(run)
            if not labelled and "labels" in kinds:
                continue
            backbones = hlruns.feature_backbones(run, kinds)
            self.backbones |= set(backbones.values())
            entry: dict[str, Any] = {
                "run_slice_hash": slice_hash(hlruns.run_slice(run)),
                "inputs": sorted(kinds),
                "features": backbones,
            }
            for modality, backbone in backbones.items():
                folder = "saliency" if modality == "saliency" else "features"
                self.paths |= {f"{base}/{folder}/{backbone}/shard-{k}.h5" for k in shards}
            pretrained = hlruns.pretrained_backbone(run)
            if pretrained is not None:
                entry["pretrained"] = pretrained
                self.pretrained.add(pretrained)
            if "frames" in kinds:
                entry["frames_id"] = hlruns.frames_id_of(run)
                self.paths |= {f"{base}/frames/{entry['frames_id']}/shard-{k}.h5" for k in shards}
            if "pseudo" in kinds:
                ids = []
                for seed in seeds:
                    slice_ = hlruns.pseudo_slice(run, seed)
                    pid = hlruns.pseudo_id(slice_)
                    ids.append(pid)
                    self.pseudo[pid] = slice_
                    self.backbones |= set(slice_["backbones"].values())
                    for backbone in slice_["backbones"].values():
                        self.paths |= {f"{base}/features/{backbone}/shard-{k}.h5" for k in shards}
                    folder = f"{base}/pseudo/{hlruns.pseudo_feature_set(slice_)}/{pid}"
                    for split in schemes:
                        self.paths |= {
                            f"{folder}/{split}/{name}"
                            for name in ("highlights.h5", "category_model.h5", "categories.csv")
                        }
                # one id for every seed (all training videos), else one per seed
                entry["pseudo"] = ids[0] if len(set(ids)) == 1 else ids
            found[f"{method}/{variant}"] = entry
            method_spec = get_method(method)
            for split in schemes:
                for seed in seeds:
                    stem = f"{base}/models/{method}/{variant}/{split}/seed{seed}"
                    self.paths |= {f"{stem}.pt", f"{stem}.scores.jsonl", f"{stem}.devices.json"}
                    if labelled:
                        self.paths.add(f"{base}/metrics/{method}/{variant}/{split}/seed{seed}.json")
                if labelled:
                    for analysis in method_spec.analyses:
                        if analysis.applies_to(variant):
                            self.paths.add(
                                f"{base}/analyses/{method}/{variant}/{split}/"
                                f"seed{seeds[0]}.{analysis.name}.json"
                            )
            explain = config["evaluation"]["explain_videos"]
            if labelled and method_spec.explains and explain not in (0, []):
                self.paths.add(
                    f"{RESULTS}/plots/{dataset}/explain/{method}/{variant}/"
                    f"{schemes[0]}/seed{seeds[0]}"
                )
        return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repo",
        type=Path,
        default=Path(__file__).resolve().parents[1],
        help="where config.yaml and workflow/configs are read (default: this checkout)",
    )
    parser.add_argument("--out", type=Path, help="write the record here (default: stdout)")
    args = parser.parse_args(argv)
    import highlight_pipeline

    print(f"code: {Path(highlight_pipeline.__file__).parent}", file=sys.stderr)
    print(f"configs: {args.repo}", file=sys.stderr)
    text = json.dumps(record(args.repo.resolve()), indent=1, sort_keys=True) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
