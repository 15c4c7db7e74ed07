# Config validation, config slices per rule, and the list of targets.
# Rules pass only their own slice through params (as canonical JSON), so that
# Snakemake's params rerun trigger reruns exactly the jobs whose slice changed.

from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

from highlight_pipeline import config as hlconfig
from highlight_pipeline.errors import ConfigError
from highlight_pipeline.features.backbones import checkpoint_path, get_spec
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
SALIENCY = CFG["features"]["saliency"]
FEATURE_SET = f"{VISUAL}+{AUDIO}"
NEURAL = sorted(hlconfig.NEURAL & {VISUAL, AUDIO, SALIENCY})

# A published checkpoint that is missing stops the run before any job starts.
if CFG["weights"] == "published":
    _missing = [
        f"{checkpoint_path(name, CFG['weights_dir'])} ({get_spec(name).where()})"
        for name in NEURAL
        if not checkpoint_path(name, CFG["weights_dir"]).is_file()
    ]
    if _missing:
        raise WorkflowError(
            "missing checkpoint file(s): "
            + "; ".join(_missing)
            + ". Put them into weights_dir (see `hlp weights`), or set `weights: random`."
        )


def weights_kind(backbone):
    if backbone not in hlconfig.NEURAL:
        return "weight-free"
    return "random-init" if CFG["weights"] == "random" else "published"


FEATURES_LABEL = (
    f"{FEATURE_SET} ({', '.join(sorted({weights_kind(VISUAL), weights_kind(AUDIO)}))})"
)
SHARDS = list(range(CFG["features"]["shards"]))
SEEDS = CFG["evaluation"]["seeds"]
VARIANTS = {"avph": "av-ph", "random": "uniform"}


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
    return {VISUAL: "visual", AUDIO: "audio", SALIENCY: "saliency"}[backbone]


def checkpoint_signature(backbone):
    """Size and mtime of the checkpoint file: a replaced file reruns its extraction."""
    if backbone not in hlconfig.NEURAL or CFG["weights"] == "random":
        return "none"
    stat = checkpoint_path(backbone, CFG["weights_dir"]).stat()
    return f"{stat.st_size}-{int(stat.st_mtime)}"


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
    """The dataset's own tables (and, for folders, its video files: re-probe on change).

    Readers of published datasets list no inputs: their manifest is made once and remade
    when the dataset's config changes (or with `snakemake -R manifest`)."""
    spec = dataset_spec(wildcards)
    root = Path(root_of(wildcards))
    if spec["reader"] == "synthetic":
        return [str(root / "videos.csv")]
    if spec["reader"] != "folder":
        return []
    inputs = [str(root / "videos.csv")]
    if (root / "videos.csv").is_file():
        import pandas as pd

        table = pd.read_csv(root / "videos.csv", dtype=str, keep_default_na=False)
        inputs += [str(root / p) for p in table.get("path", []) if (root / p).is_file()]
    return inputs


def label_inputs(wildcards):
    root = Path(root_of(wildcards))
    highlights = root / "highlights.csv"
    reader = dataset_spec(wildcards)["reader"]
    if reader == "synthetic" or (reader == "folder" and highlights.is_file()):
        return [str(highlights)]
    return []


def schemes_of(dataset):
    return CFG["datasets"][dataset]["split_schemes"]


def split_inputs(wildcards):
    return f"{RESULTS}/{wildcards.dataset}/splits.csv"


def pseudo_of(wildcards):
    return f"{RESULTS}/{wildcards.dataset}/pseudo/{FEATURE_SET}/{wildcards.split}/highlights.h5"


def method_params(wildcards):
    return as_json(hlconfig.method_slice(CFG, wildcards.dataset, wildcards.method))


def metrics_of(dataset):
    return [
        f"{RESULTS}/{dataset}/metrics/{method}/{VARIANTS[method]}/{split}/seed{seed}.json"
        for method in CFG["evaluation"]["methods"]
        for split in schemes_of(dataset)
        for seed in SEEDS
    ]


def first_run(dataset):
    """The predictions shown in plots and the reel: first method, scheme and seed."""
    method = CFG["evaluation"]["methods"][0]
    split = schemes_of(dataset)[0]
    return method, split, SEEDS[0]


def plot_inputs(wildcards):
    method, split, seed = first_run(wildcards.dataset)
    base = f"{RESULTS}/{wildcards.dataset}"
    inputs = {
        "predictions": f"{base}/models/{method}/{VARIANTS[method]}/{split}/seed{seed}.predictions.jsonl",
        "manifest": f"{base}/manifest.csv",
        "clips": f"{base}/clips.csv",
        "table": f"{RESULTS}/tables/{wildcards.dataset}.csv",
    }
    if method == "avph":
        inputs["pseudo"] = f"{base}/pseudo/{FEATURE_SET}/{split}/highlights.h5"
    return inputs


def labelled(dataset):
    """A folder dataset without highlights.csv can be scored but not evaluated."""
    spec = CFG["datasets"][dataset]
    if spec["reader"] != "folder":
        return True
    return (Path(spec["root"]) / "highlights.csv").is_file()


def predictions_of(dataset):
    return [
        f"{RESULTS}/{dataset}/models/{method}/{VARIANTS[method]}/{split}/seed{seed}.predictions.jsonl"
        for method in CFG["evaluation"]["methods"]
        for split in schemes_of(dataset)
        for seed in SEEDS
    ]


def all_targets():
    targets = []
    for dataset in DATASETS:
        targets += expand(
            f"{RESULTS}/{dataset}/saliency/{SALIENCY}/shard-{{k}}.h5",
            k=SHARDS,
        )
        if not labelled(dataset):
            targets += predictions_of(dataset)
            continue
        targets += [
            f"{RESULTS}/tables/{dataset}.md",
            f"{RESULTS}/tables/{dataset}.csv",
            f"{RESULTS}/tables/{dataset}.tex",
            f"{RESULTS}/plots/{dataset}/map_bars.png",
            f"{RESULTS}/plots/{dataset}/curves",
            f"{RESULTS}/plots/{dataset}/reel.mp4",
        ]
    return targets
