"""The workflow's plan as plain Python: which runs each dataset does, which files they read
and write, and the targets of a run of the pipeline.

``workflow/rules/common.smk`` only wires this to Snakemake (wildcards in, paths out; the
resources and the rerun triggers); everything here can be tested without Snakemake.

``layout.PATHS`` is the one list of the pipeline's file layout: every rule's outputs and logs
are :meth:`Plan.pattern` of an entry (a template whose ``{fields}`` Snakemake fills as
wildcards), every input a rule names is :meth:`Plan.path` of one. Parsing imports only the
config and the registries (no torch, no PyAV): on a cluster the Snakefile is parsed once
per job.
"""

from __future__ import annotations

import shlex
import sys
from functools import cache
from pathlib import Path
from typing import Any

from highlight_pipeline import config as hlconfig
from highlight_pipeline import paper_settings
from highlight_pipeline import runs as hlruns
from highlight_pipeline.datasets.qvhighlights import release_file
from highlight_pipeline.datasets.registry import dataset_root
from highlight_pipeline.features import extractors
from highlight_pipeline.features.backbones.registry import checkpoint_path, get_spec
from highlight_pipeline.layout import PATHS
from highlight_pipeline.methods.registry import chance_baselines, get_method


class _Keep(dict):
    """``str.format_map`` mapping that leaves the fields it lacks as ``{field}``."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class Plan:
    """What a validated config makes the pipeline do (``results``: the output folder)."""

    def __init__(self, config: dict[str, Any], results: str = "results") -> None:
        self.config = config
        self.results = results
        self.datasets: list[str] = config["run_datasets"]
        self.saliency: str = config["features"]["saliency"]
        self.shards = list(range(config["features"]["shards"]))
        self.seeds: list[int] = config["evaluation"]["seeds"]
        self.runs = hlruns.run_list(config)  # (method, variant) pairs of the tables
        self.resolved = cache(self._resolve)
        self.runs_of = cache(self._runs_of)

    # ------------------------------------------------------------------------ paths

    def pattern(self, name: str) -> str:
        """The template of ``name`` under ``results`` (Snakemake fills its fields)."""
        return f"{self.results}/{PATHS[name]}"

    def path(self, name: str, **fields: Any) -> str:
        """``name``'s path with ``fields`` filled in (the others stay ``{field}``)."""
        return self.pattern(name).format_map(_Keep(fields))

    def run_path(self, name: str, dataset: str, method: str, variant: str, split, seed) -> str:
        return self.path(
            name, dataset=dataset, method=method, variant=variant, split=split, seed=seed
        )

    def shard_paths(self, name: str, dataset: str, **fields: Any) -> list[str]:
        return [self.path(name, dataset=dataset, shard=k, **fields) for k in self.shards]

    def table_paths(self, dataset: str) -> dict[str, str]:
        """The dataset's tables: its manifest, clips and split schemes."""
        return {n: self.path(n, dataset=dataset) for n in ("manifest", "clips", "splits")}

    # ------------------------------------------------------------------------- runs

    def _resolve(self, dataset: str, method: str, variant: str) -> dict[str, Any]:
        return hlruns.resolve_run(self.config, dataset, method, variant)

    @staticmethod
    def kinds_of(run: dict[str, Any]) -> frozenset[str]:
        return hlruns.run_inputs(run)

    def labelled(self, dataset: str) -> bool:
        """A folder dataset without highlights.csv can be scored but not evaluated."""
        spec = self.config["datasets"][dataset]
        if spec["reader"] != "folder":
            return True
        return (Path(spec["root"]) / "highlights.csv").is_file()

    def _runs_of(self, dataset: str) -> list[tuple[str, str]]:
        """The runs a dataset can do: supervised ones need labels (said once, on stderr)."""
        runs, left_out = [], []
        for m, v in self.runs:
            if self.labelled(dataset) or "labels" not in self.kinds_of(
                self.resolved(dataset, m, v)
            ):
                runs.append((m, v))
            else:
                left_out.append(f"{m}/{v}")
        if left_out:
            print(
                f"dataset {dataset} has no labels (highlights.csv): left out the supervised "
                f"run(s) {', '.join(left_out)}",
                file=sys.stderr,
            )
        return runs

    def schemes_of(self, dataset: str, method: str | None = None) -> list[str]:
        """The split schemes ``method`` runs on (its paper's where the dataset names one)."""
        return hlconfig.split_schemes_of(self.config, dataset, method)

    def each_run(self, dataset: str):
        """(method, variant, split, seed) of every run of the dataset's tables."""
        for method, variant in self.runs_of(dataset):
            for split in self.schemes_of(dataset, method):
                for seed in self.seeds:
                    yield method, variant, split, seed

    def protocol_flags(self, dataset: str, method: str, split: str) -> str:
        """``--protocol P``: the protocol of the paper the run's row stands beside (else the
        dataset's); a chance baseline is also scored with every other protocol used on its
        split scheme (``--also-protocols``), so each row has its random baseline."""
        if method in chance_baselines():
            first, *rest = hlconfig.chance_protocols(self.config, dataset, split)
            return f"--protocol {first}" + (f" --also-protocols {','.join(rest)}" if rest else "")
        return f"--protocol {hlconfig.protocol_of(self.config, dataset, method)}"

    def paper_differences(self, dataset: str) -> dict[str, list[str]]:
        """``method/variant`` -> the settings in which the run differs from its paper's on
        the dataset's paper dataset (docs/paper-settings.md's rows against this config)."""
        paper_dataset = self.config["datasets"][dataset].get("paper_dataset")
        if not paper_dataset:
            return {}
        found = {
            f"{method}/{variant}": paper_settings.run_differences(
                self.config, dataset, method, variant, paper_dataset
            )
            for method, variant in self.runs_of(dataset)
        }
        return {k: v for k, v in found.items() if v}

    # --------------------------------------------------------------------- pseudo-labels

    def pseudo_base(self, dataset: str, run: dict[str, Any], seed, split: str) -> str:
        slice_ = hlruns.pseudo_slice(run, int(seed))
        return self.path(
            "pseudo",
            dataset=dataset,
            feature_set=hlruns.pseudo_feature_set(slice_),
            pseudo_id=hlruns.pseudo_id(slice_),
            split=split,
        )

    def pseudo_slices(self) -> dict[str, dict[str, Any]]:
        """pseudo_id -> its slice, for every pseudo job the runs need."""
        found = {}
        for dataset in self.datasets:
            for method, variant in self.runs_of(dataset):
                run = self.resolved(dataset, method, variant)
                if "pseudo" in self.kinds_of(run):
                    for seed in self.seeds:
                        slice_ = hlruns.pseudo_slice(run, seed)
                        found[hlruns.pseudo_id(slice_)] = slice_
        return found

    # ------------------------------------------------------------------- networks

    def backbones_used(self) -> list[str]:
        """Every extractor a run or its pseudo-labels read, and the saliency extractor."""
        used = {self.saliency}
        for dataset in self.datasets:
            for method, variant in self.runs_of(dataset):
                run = self.resolved(dataset, method, variant)
                used |= set(hlruns.feature_backbones(run, self.kinds_of(run)).values())
        for slice_ in self.pseudo_slices().values():
            used |= set(slice_["backbones"].values())
        return sorted(used)

    def saliency_read(self, dataset: str, backbone: str) -> bool:
        """Whether a run of ``dataset`` reads ``backbone``'s saliency maps (pld's targets);
        the maps are a target of every dataset whether or not a run reads them."""
        return any(
            hlruns.feature_backbones(run, self.kinds_of(run)).get("saliency") == backbone
            for run in (self.resolved(dataset, m, v) for m, v in self.runs_of(dataset))
        )

    def pretrained_used(self) -> list[str]:
        """Backbones whose published checkpoint a training job starts from (pld)."""
        return sorted(
            {
                hlruns.pretrained_backbone(self.resolved(dataset, method, variant))
                for dataset in self.datasets
                for method, variant in self.runs_of(dataset)
            }
            - {None}
        )

    def checkpoints_read(self) -> list[str]:
        """The published checkpoints read: the networks of the neural extractors used
        (their registry entries, features/extractors.py) and those a training starts from."""
        return sorted(
            {net for name in self.backbones_used() for net in extractors.networks_of(name)}
            | set(self.pretrained_used())
        )

    def missing_checkpoints(self) -> list[str]:
        """``file (where it is published)`` of every checkpoint read that is not there
        (none with ``weights: random``)."""
        if self.config["weights"] != "published":
            return []
        folder = self.config["weights_dir"]
        return [
            f"{checkpoint_path(name, folder)} ({get_spec(name).where()})"
            for name in self.checkpoints_read()
            if not checkpoint_path(name, folder).is_file()
        ]

    def checkpoint_signature(self, name: str) -> str:
        """Size and mtime of the checkpoint files of extractor ``name``'s networks (or of
        the network of that name a training starts from): a replaced file reruns its job."""
        networks = extractors.networks_of(name)
        if not networks or self.config["weights"] == "random":
            return "none"
        stats = [checkpoint_path(n, self.config["weights_dir"]).stat() for n in networks]
        return ",".join(f"{st.st_size}-{int(st.st_mtime)}" for st in stats)

    def weights_kind(self, backbone: str) -> str:
        if not extractors.is_neural(backbone):
            return "weight-free"
        return "random-init" if self.config["weights"] == "random" else "published"

    def run_weights(self, run: dict[str, Any]) -> str:
        """What a run's features and networks rest on, as one word for the tables:
        ``none`` (it reads nothing: the random baseline), ``random-init`` (any network of
        it randomly initialised), ``weight-free`` (any weight-free features), else
        ``published``."""
        kinds = {
            self.weights_kind(b) for b in hlruns.feature_backbones(run, self.kinds_of(run)).values()
        }
        if "frames" in self.kinds_of(run):
            kinds.add(self._frames_start(run))
        for kind in ("random-init", "weight-free", "published"):
            if kind in kinds:
                return kind
        return "none"

    def features_label(self, run: dict[str, Any]) -> str:
        """A run's features in the tables, e.g. ``colormotion+logmel (weight-free)``; a run
        that learns from frames adds its network's start: ``; tased net (random-init)``."""
        backbones = hlruns.feature_backbones(run, self.kinds_of(run))
        label = "none"
        if backbones:
            kinds = ", ".join(sorted({self.weights_kind(b) for b in backbones.values()}))
            label = f"{'+'.join(backbones.values())} ({kinds})"
        if "frames" in self.kinds_of(run):  # it learns from pixels, with a network of its own
            label += f"; {run['settings']['backbone']} net ({self._frames_start(run)})"
        return label

    def _frames_start(self, run: dict[str, Any]) -> str:
        """How a run that learns from frames starts its network: ``published`` (from a
        checkpoint) or ``random-init``."""
        published = hlruns.pretrained_backbone(run) and self.config["weights"] != "random"
        return "published" if published else "random-init"

    # ------------------------------------------------------------------- job inputs

    def run_inputs(self, dataset: str, run: dict[str, Any]) -> dict[str, Any]:
        """The dataset's tables and the feature, saliency and frame shards the run reads."""
        inputs: dict[str, Any] = self.table_paths(dataset)
        for modality, backbone in hlruns.feature_backbones(run, self.kinds_of(run)).items():
            kind = "saliency" if modality == "saliency" else "features"
            inputs[modality] = self.shard_paths(kind, dataset, backbone=backbone)
        if "frames" in self.kinds_of(run):
            inputs["frames"] = self.shard_paths(
                "frames", dataset, frames_id=hlruns.frames_id_of(run)
            )
        return inputs

    def train_inputs(self, dataset, method, variant, split, seed) -> dict[str, Any]:
        run = self.resolved(dataset, method, variant)
        inputs = self.run_inputs(dataset, run)
        if "pseudo" in self.kinds_of(run):
            base = self.pseudo_base(dataset, run, seed, split)
            inputs["pseudo"] = f"{base}/highlights.h5"
            inputs["pseudo_model"] = f"{base}/category_model.h5"
        return inputs

    def score_inputs(self, dataset, method, variant, split, seed) -> dict[str, Any]:
        """What scoring reads: the run's inputs but its training targets (saliency)."""
        inputs = self.run_inputs(dataset, self.resolved(dataset, method, variant))
        inputs.pop("saliency", None)
        inputs["model"] = self.run_path("model", dataset, method, variant, split, seed)
        return inputs

    def explain_inputs(self, dataset, method, variant, split, seed) -> dict[str, Any]:
        """What an explanation reads: scoring's inputs and the run's scores (its captions)."""
        inputs = self.score_inputs(dataset, method, variant, split, seed)
        inputs["scores"] = self.run_path("scores", dataset, method, variant, split, seed)
        return inputs

    def evaluate_inputs(self, dataset, method, variant, split, seed) -> dict[str, Any]:
        """A run's scores and the dataset's tables; for a run that learns from
        pseudo-labels also those, whose quality on the training videos the metrics record."""
        run = self.resolved(dataset, method, variant)
        inputs: dict[str, Any] = self.table_paths(dataset)
        inputs["predictions"] = self.run_path("scores", dataset, method, variant, split, seed)
        inputs["devices"] = self.run_path("devices", dataset, method, variant, split, seed)
        if "pseudo" in self.kinds_of(run) and self.labelled(dataset):
            inputs["pseudo"] = f"{self.pseudo_base(dataset, run, seed, split)}/highlights.h5"
        return inputs

    def pseudo_inputs(self, dataset: str, pseudo_id: str) -> dict[str, Any]:
        """The tables and feature shards a pseudo job reads; a KeyError listing the known
        ids for an id no run of this config uses."""
        slices = self.pseudo_slices()
        if pseudo_id not in slices:
            raise KeyError(
                f"no run of this config uses the pseudo-labels {pseudo_id!r}; known: "
                + (", ".join(sorted(slices)) or "none")
            )
        inputs: dict[str, Any] = self.table_paths(dataset)
        for modality, backbone in slices[pseudo_id]["backbones"].items():
            inputs[modality] = self.shard_paths("features", dataset, backbone=backbone)
        return inputs

    def pretrained_flags(self, run: dict[str, Any]) -> str:
        """``--weights W --weights-dir D`` for a run that starts from a checkpoint, else ""."""
        if hlruns.pretrained_backbone(run) is None:
            return ""
        folder = shlex.quote(self.config["weights_dir"])
        return f"--weights {self.config['weights']} --weights-dir {folder}"

    # ------------------------------------------------------------------------- targets

    def metrics_of(self, dataset: str) -> list[str]:
        return [self.run_path("metrics", dataset, *run) for run in self.each_run(dataset)]

    def scores_of(self, dataset: str) -> list[str]:
        return [self.run_path("scores", dataset, *run) for run in self.each_run(dataset)]

    def analyses_of(self, dataset: str) -> list[str]:
        """The registry's analyses of each run (first seed, every split scheme), on
        labelled datasets only: they compare a trained model with the ground truth."""
        if not self.labelled(dataset):
            return []
        return [
            self.path(
                "analysis",
                dataset=dataset,
                method=method,
                variant=variant,
                split=split,
                seed=self.seeds[0],
                analysis=a.name,
            )
            for method, variant in self.runs_of(dataset)
            for a in get_method(method).analyses
            if a.applies_to(variant)
            for split in self.schemes_of(dataset, method)
        ]

    def explain_choice(self) -> str:
        """``evaluation.explain_videos`` as the CLI takes it: a count or comma-separated ids."""
        choice = self.config["evaluation"]["explain_videos"]
        return str(choice) if isinstance(choice, int) else ",".join(choice)

    def explanations_of(self, dataset: str) -> list[str]:
        """Per-pixel explanation strips of the runs whose method draws them (first seed and
        split scheme), on labelled datasets (captions show the ground truth)."""
        if not self.labelled(dataset) or self.config["evaluation"]["explain_videos"] in (0, []):
            return []
        return [
            self.run_path(
                "explain",
                dataset,
                method,
                variant,
                self.schemes_of(dataset, method)[0],
                self.seeds[0],
            )
            for method, variant in self.runs_of(dataset)
            if get_method(method).explains
        ]

    def scored_runs(self, dataset: str) -> list[dict[str, Any]]:
        """Per run of an unlabelled dataset: its features label and score files."""
        return [
            {
                "method": method,
                "variant": variant,
                "features": self.features_label(self.resolved(dataset, method, variant)),
                "scores": [
                    self.run_path("scores", dataset, method, variant, split, seed)
                    for split in self.schemes_of(dataset, method)
                    for seed in self.seeds
                ],
            }
            for method, variant in self.runs_of(dataset)
        ]

    def qv_submissions_of(self, dataset: str) -> list[str]:
        """The QVHighlights evaluation server's files (hl_test_submission.jsonl, and
        hl_val_submission.jsonl beside it when the reader reads a val file: the server
        takes both in one zip) of each run's first split scheme and seed; none unless the
        reader is qvhighlights and reads a test file (withheld labels: the server scores
        it)."""
        spec = self.config["datasets"][dataset]
        if spec["reader"] != "qvhighlights":
            return []
        root = dataset_root(dataset, spec, self.results)
        if release_file(root, spec, "test") is None:
            return []
        parts = [p for p in ("val", "test") if release_file(root, spec, p) is not None]
        return [
            self.path(
                "submission",
                dataset=dataset,
                method=method,
                variant=variant,
                split=self.schemes_of(dataset, method)[0],
                seed=self.seeds[0],
                qv_split=part,
            )
            for method, variant in self.runs_of(dataset)
            for part in parts
        ]

    def plotted_run(self, dataset: str) -> tuple[str, str, str, int]:
        """(method, variant, split, seed) whose scores the plots and the reel show: the
        first run, its first split scheme and the first seed."""
        method, variant = self.runs_of(dataset)[0]
        return method, variant, self.schemes_of(dataset, method)[0], self.seeds[0]

    def plot_inputs(self, dataset: str) -> dict[str, Any]:
        method, variant, split, seed = self.plotted_run(dataset)
        run = self.resolved(dataset, method, variant)
        inputs = {
            "predictions": self.run_path("scores", dataset, method, variant, split, seed),
            "manifest": self.path("manifest", dataset=dataset),
            "clips": self.path("clips", dataset=dataset),
            "table": self.path("table_csv", dataset=dataset),
            "splits": self.path("splits", dataset=dataset),
        }
        if "pseudo" in self.kinds_of(run):
            inputs["pseudo"] = f"{self.pseudo_base(dataset, run, seed, split)}/highlights.h5"
        return inputs

    def all_targets(self) -> list[str]:
        targets: list[str] = []
        for dataset in self.datasets:
            targets += self.shard_paths("saliency", dataset, backbone=self.saliency)
            if not self.labelled(dataset):
                targets += [
                    *self.scores_of(dataset),
                    self.path("scores_summary", dataset=dataset),
                ]
                continue
            targets += [
                *(self.path(n, dataset=dataset) for n in ("table_md", "table_csv", "table_tex")),
                *(self.path(n, dataset=dataset) for n in ("map_bars", "curves", "reel")),
                *self.explanations_of(dataset),
                *self.qv_submissions_of(dataset),
            ]
        return targets
