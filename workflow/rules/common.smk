# Config validation, config slices per rule, and the list of targets.
# Rules pass only their own slice through params (as canonical JSON), so that
# Snakemake's params rerun trigger reruns exactly the jobs whose slice changed.

from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

from highlight_pipeline import config as hlconfig
from highlight_pipeline.errors import ConfigError
from highlight_pipeline.manifest import dataset_root

min_version("9.0")

try:
    CFG = hlconfig.validate_config(config)
except ConfigError as exc:
    raise WorkflowError(f"config error: {exc}") from None

RESULTS = "results"
DATASETS = CFG["run_datasets"]
VISUAL = CFG["features"]["visual"]
AUDIO = CFG["features"]["audio"]
FEATURE_SET = f"{VISUAL}+{AUDIO}"
SHARDS = list(range(CFG["features"]["shards"]))
SEEDS = CFG["evaluation"]["seeds"]
VARIANTS = {"avph": "av-ph", "random": "uniform"}
SPLIT = "default"  # the dataset's own train/test split


wildcard_constraints:
    dataset="[A-Za-z0-9_-]+",
    seed=r"\d+",
    shard=r"\d+",


def as_json(value):
    return hlconfig.canonical_json(value)


def dataset_spec(wildcards):
    return CFG["datasets"][wildcards.dataset]


def root_of(wildcards):
    return str(dataset_root(wildcards.dataset, dataset_spec(wildcards), RESULTS))


def modality_of(backbone):
    return {VISUAL: "visual", AUDIO: "audio"}[backbone]


def shards_of(dataset, backbone):
    return expand(
        f"{RESULTS}/{dataset}/features/{backbone}/shard-{{k}}.h5",
        k=SHARDS,
    )


def feature_inputs(wildcards):
    return {
        "manifest": f"{RESULTS}/{wildcards.dataset}/manifest.csv",
        "clips": f"{RESULTS}/{wildcards.dataset}/clips.csv",
        "visual": shards_of(wildcards.dataset, VISUAL),
        "audio": shards_of(wildcards.dataset, AUDIO),
    }


def source_inputs(wildcards):
    """The dataset's own tables (and, for folders, its video files: re-probe on change)."""
    spec = dataset_spec(wildcards)
    root = Path(root_of(wildcards))
    if spec["reader"] == "synthetic":
        return [str(root / "videos.csv")]
    inputs = [str(root / "videos.csv")]
    if (root / "videos.csv").is_file():
        import pandas as pd

        table = pd.read_csv(root / "videos.csv", dtype=str, keep_default_na=False)
        inputs += [str(root / p) for p in table.get("path", []) if (root / p).is_file()]
    return inputs


def label_inputs(wildcards):
    root = Path(root_of(wildcards))
    highlights = root / "highlights.csv"
    if dataset_spec(wildcards)["reader"] == "synthetic" or highlights.is_file():
        return [str(highlights)]
    return []


def method_params(wildcards):
    return as_json(hlconfig.method_slice(CFG, wildcards.dataset, wildcards.method))


def metrics_of(dataset):
    return [
        f"{RESULTS}/{dataset}/metrics/{method}/{VARIANTS[method]}/{SPLIT}/seed{seed}.json"
        for method in CFG["evaluation"]["methods"]
        for seed in SEEDS
    ]


def all_targets():
    targets = []
    for dataset in DATASETS:
        targets += [
            f"{RESULTS}/tables/{dataset}.md",
            f"{RESULTS}/tables/{dataset}.csv",
        ]
    return targets
