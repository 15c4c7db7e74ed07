# Config validation, runs, config slices per rule, and the list of targets.
# Rules pass only their own slice through params (as canonical JSON), so that
# Snakemake's params rerun trigger reruns exactly the jobs whose slice changed.
# Parsing imports only the config and the registries (no torch, no PyAV): on a cluster
# the Snakefile is parsed once per job.

import re
import shlex
import sys
from functools import cache
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

from highlight_pipeline import config as hlconfig
from highlight_pipeline import paper_settings as hlpaper
from highlight_pipeline import runs as hlruns
from highlight_pipeline.datasets.folder import listing_signature
from highlight_pipeline.datasets.qvhighlights import release_file
from highlight_pipeline.datasets.registry import dataset_root
from highlight_pipeline.failures import report_failures
from highlight_pipeline.memory_guard import rule_limits
from highlight_pipeline.errors import ConfigError
from highlight_pipeline.features import extractors as hlextractors
from highlight_pipeline.features.backbones.registry import checkpoint_path, get_spec
from highlight_pipeline.methods.registry import (
    FEATURE_INPUTS,
    chance_baselines,
    get_method,
    method_names,
)

min_version("9.0")

try:
    CFG = hlconfig.validate_config(config)
except ConfigError as exc:
    raise WorkflowError(f"config error: {exc}") from None

RESULTS = "results"
DATASETS = CFG["run_datasets"]
SALIENCY = CFG["features"]["saliency"]
SHARDS = list(range(CFG["features"]["shards"]))
SEEDS = CFG["evaluation"]["seeds"]
RUNS = hlruns.run_list(CFG)  # (method, variant) pairs of the tables
VARIANT_NAMES = sorted({v for m in method_names() for v in hlruns.variants_of(CFG, m)})


wildcard_constraints:
    dataset="[A-Za-z0-9_-]+",
    seed=r"\d+",
    shard=r"\d+",
    method="|".join(method_names()),
    variant="|".join(re.escape(v) for v in VARIANT_NAMES),
    feature_set=r"[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*",
    pseudo_id="[A-Za-z0-9_.-]+",
    analysis="[a-z0-9-]+",
    frames_id=r"[0-9p]+fps-\d+x\d+",
    qv_split="val|test",


def as_json(value):
    return hlconfig.canonical_json(value)


def dataset_spec(wildcards):
    return CFG["datasets"][wildcards.dataset]


def root_of(wildcards):
    return str(dataset_root(wildcards.dataset, dataset_spec(wildcards), RESULTS))


# --------------------------------------------------------------------------- runs


@cache
def resolved(dataset, method, variant):
    return hlruns.resolve_run(CFG, dataset, method, variant)


def run_of(wildcards):
    return resolved(wildcards.dataset, wildcards.method, wildcards.variant)


def kinds_of(run):
    return hlruns.run_inputs(run)


def labelled(dataset):
    """A folder dataset without highlights.csv can be scored but not evaluated."""
    spec = CFG["datasets"][dataset]
    if spec["reader"] != "folder":
        return True
    return (Path(spec["root"]) / "highlights.csv").is_file()


@cache
def runs_of(dataset):
    """The runs a dataset can do: supervised ones need labels (said once, on stderr)."""
    runs, left_out = [], []
    for m, v in RUNS:
        if labelled(dataset) or "labels" not in kinds_of(resolved(dataset, m, v)):
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


def pseudo_base(dataset, run, seed, split):
    slice_ = hlruns.pseudo_slice(run, int(seed))
    feature_set = hlruns.pseudo_feature_set(slice_)
    return (
        f"{RESULTS}/{dataset}/pseudo/{feature_set}/{hlruns.pseudo_id(slice_)}/{split}"
    )


def pseudo_slices():
    """pseudo_id -> its slice, for every pseudo job the runs need."""
    found = {}
    for dataset in DATASETS:
        for method, variant in runs_of(dataset):
            run = resolved(dataset, method, variant)
            if "pseudo" in kinds_of(run):
                for seed in SEEDS:
                    slice_ = hlruns.pseudo_slice(run, seed)
                    found[hlruns.pseudo_id(slice_)] = slice_
    return found


PSEUDO_SLICES = pseudo_slices()


# --------------------------------------------------------------------------- backbones


def backbones_used():
    """Every extractor a run or its pseudo-labels read, and the saliency extractor."""
    used = {SALIENCY}
    for dataset in DATASETS:
        for method, variant in runs_of(dataset):
            run = resolved(dataset, method, variant)
            used |= set(hlruns.feature_backbones(run, kinds_of(run)).values())
    for slice_ in PSEUDO_SLICES.values():
        used |= set(slice_["backbones"].values())
    return sorted(used)


def pretrained_used():
    """Backbones whose published checkpoint a training job starts from (pld)."""
    return sorted(
        {
            hlruns.pretrained_backbone(resolved(dataset, method, variant))
            for dataset in DATASETS
            for method, variant in runs_of(dataset)
        }
        - {None}
    )


BACKBONES = backbones_used()
# The published checkpoints read: the backbones of the neural extractors used (their
# registry entries, features/extractors.py) and the networks a training starts from.
NEURAL = sorted(
    {net for name in BACKBONES for net in hlextractors.networks_of(name)}
    | set(pretrained_used())
)

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
    if not hlextractors.is_neural(backbone):
        return "weight-free"
    return "random-init" if CFG["weights"] == "random" else "published"


def features_label(run):
    """A run's features in the tables, e.g. ``colormotion+logmel (weight-free)``; a run
    that learns from frames adds its network's start: ``; tased net (random-init)``."""
    backbones = hlruns.feature_backbones(run, kinds_of(run))
    label = "none"
    if backbones:
        kinds = ", ".join(sorted({weights_kind(b) for b in backbones.values()}))
        label = f"{'+'.join(backbones.values())} ({kinds})"
    if "frames" in kinds_of(run):  # it learns from pixels, with a network of its own
        published = hlruns.pretrained_backbone(run) and CFG["weights"] != "random"
        init = "published" if published else "random-init"
        label += f"; {run['settings']['backbone']} net ({init})"
    return label


def checkpoint_signature(name):
    """Size and mtime of the checkpoint file of extractor ``name``'s network (or of the
    network of that name a training starts from): a replaced file reruns its job."""
    networks = hlextractors.networks_of(name)
    if not networks or CFG["weights"] == "random":
        return "none"
    stats = [checkpoint_path(n, CFG["weights_dir"]).stat() for n in networks]
    return ",".join(f"{st.st_size}-{int(st.st_mtime)}" for st in stats)


def shards_of(dataset, backbone):
    return expand(
        f"{RESULTS}/{dataset}/features/{backbone}/shard-{{k}}.h5",
        k=SHARDS,
    )


def saliency_shards_of(dataset, backbone):
    return expand(
        f"{RESULTS}/{dataset}/saliency/{backbone}/shard-{{k}}.h5",
        k=SHARDS,
    )


def frame_shards_of(dataset, run):
    """The frame cache a run reads (pld): results/{dataset}/frames/{frames_id}/."""
    name = hlruns.frames_id_of(run)
    return expand(f"{RESULTS}/{dataset}/frames/{name}/shard-{{k}}.h5", k=SHARDS)


def feature_flags(input):
    """``--visual a.h5 b.h5 --audio ... --frames ...`` for the inputs a job has."""
    return " ".join(
        f"--{m} " + " ".join(input[m])
        for m in (*FEATURE_INPUTS, "frames")
        if m in input.keys()
    )


# --------------------------------------------------------------------------- inputs


def source_inputs(wildcards):
    """The dataset's own table: videos.csv of a folder (or of `hlp synth`'s output).

    A folder's video files are not inputs: `source_signature` stands for them (Snakemake's
    bookkeeping of one input per video made `snakemake -n` grow by about 0.2 ms a video).
    Readers of published datasets list no inputs: their manifest is made once and remade
    when the dataset's config changes (or with `snakemake -R manifest`)."""
    if dataset_spec(wildcards)["reader"] not in ("synthetic", "folder"):
        return []
    return [str(Path(root_of(wildcards)) / "videos.csv")]


def source_signature(wildcards):
    """For a folder, size and mtime of every video its videos.csv lists, as one digest:
    a video rewritten in place, or a listed one that appears or goes, reruns the manifest
    (params trigger). Other readers: the reader's name, a value the manifest's params
    already hold, so that the params Snakemake recorded for their manifests stay the same
    (the synthetic videos are made by a job; published ones are probed once)."""
    reader = dataset_spec(wildcards)["reader"]
    if reader != "folder":
        return reader
    return listing_signature(root_of(wildcards))


def label_inputs(wildcards):
    root = Path(root_of(wildcards))
    highlights = root / "highlights.csv"
    reader = dataset_spec(wildcards)["reader"]
    if reader == "synthetic" or (reader == "folder" and highlights.is_file()):
        return [str(highlights)]
    return []


def schemes_of(dataset, method=None):
    """The split schemes ``method`` runs on (its paper's where the dataset names one)."""
    return hlconfig.split_schemes_of(CFG, dataset, method)


def protocol_flags(wildcards):
    """``--protocol P``: the protocol of the paper the run's row stands beside (else the
    dataset's); a chance baseline is also scored with every other protocol used on its
    split scheme (``--also-protocols``), so each row has its random baseline."""
    dataset, method = wildcards.dataset, wildcards.method
    if method in chance_baselines():
        first, *rest = hlconfig.chance_protocols(CFG, dataset, wildcards.split)
        return f"--protocol {first}" + (
            f" --also-protocols {','.join(rest)}" if rest else ""
        )
    return f"--protocol {hlconfig.protocol_of(CFG, dataset, method)}"


def paper_differences(dataset):
    """``method/variant`` -> the settings in which the run differs from its paper's on the
    dataset's paper dataset (docs/paper-settings.md's rows against this config)."""
    paper_dataset = CFG["datasets"][dataset].get("paper_dataset")
    if not paper_dataset:
        return {}
    found = {
        f"{method}/{variant}": hlpaper.run_differences(
            CFG, dataset, method, variant, paper_dataset
        )
        for method, variant in runs_of(dataset)
    }
    return {k: v for k, v in found.items() if v}


def split_inputs(wildcards):
    return f"{RESULTS}/{wildcards.dataset}/splits.csv"


def table_inputs(dataset):
    return {
        "manifest": f"{RESULTS}/{dataset}/manifest.csv",
        "clips": f"{RESULTS}/{dataset}/clips.csv",
        "splits": f"{RESULTS}/{dataset}/splits.csv",
    }


def pseudo_inputs(wildcards):
    if wildcards.pseudo_id not in PSEUDO_SLICES:
        raise WorkflowError(
            f"no run of this config uses the pseudo-labels {wildcards.pseudo_id!r}; known: "
            + (", ".join(sorted(PSEUDO_SLICES)) or "none")
        )
    slice_ = PSEUDO_SLICES[wildcards.pseudo_id]
    inputs = table_inputs(wildcards.dataset)
    for modality, backbone in slice_["backbones"].items():
        inputs[modality] = shards_of(wildcards.dataset, backbone)
    return inputs


def run_inputs(wildcards, run):
    """The dataset's tables and the feature, saliency and frame shards the run reads."""
    inputs = table_inputs(wildcards.dataset)
    for modality, backbone in hlruns.feature_backbones(run, kinds_of(run)).items():
        if modality == "saliency":
            inputs[modality] = saliency_shards_of(wildcards.dataset, backbone)
        else:
            inputs[modality] = shards_of(wildcards.dataset, backbone)
    if "frames" in kinds_of(run):
        inputs["frames"] = frame_shards_of(wildcards.dataset, run)
    return inputs


def train_inputs(wildcards):
    run = run_of(wildcards)
    inputs = run_inputs(wildcards, run)
    if "pseudo" in kinds_of(run):
        base = pseudo_base(wildcards.dataset, run, wildcards.seed, wildcards.split)
        inputs["pseudo"] = f"{base}/highlights.h5"
        inputs["pseudo_model"] = f"{base}/category_model.h5"
    return inputs


def score_inputs(wildcards):
    """What scoring reads: the run's inputs but its training targets (saliency)."""
    inputs = run_inputs(wildcards, run_of(wildcards))
    inputs.pop("saliency", None)
    inputs["model"] = model_path(
        wildcards.dataset,
        wildcards.method,
        wildcards.variant,
        wildcards.split,
        wildcards.seed,
    )
    return inputs


def evaluate_inputs(wildcards):
    """A run's scores and the dataset's tables; for a run that learns from pseudo-labels
    also those, whose quality on the training videos the metrics record."""
    run = run_of(wildcards)
    inputs = table_inputs(wildcards.dataset)
    run_id = (
        wildcards.dataset,
        wildcards.method,
        wildcards.variant,
        wildcards.split,
        wildcards.seed,
    )
    inputs["predictions"] = scores_path(*run_id)
    inputs["devices"] = devices_path(*run_id)
    inputs["splits"] = split_inputs(wildcards)
    if "pseudo" in kinds_of(run) and labelled(wildcards.dataset):
        base = pseudo_base(wildcards.dataset, run, wildcards.seed, wildcards.split)
        inputs["pseudo"] = f"{base}/highlights.h5"
    return inputs


def model_path(dataset, method, variant, split, seed):
    return f"{RESULTS}/{dataset}/models/{method}/{variant}/{split}/seed{seed}.pt"


def scores_path(dataset, method, variant, split, seed):
    return (
        f"{RESULTS}/{dataset}/models/{method}/{variant}/{split}/seed{seed}.scores.jsonl"
    )


def devices_path(dataset, method, variant, split, seed):
    """What trained and scored a run (hlp score --devices), recorded in its metrics."""
    return (
        f"{RESULTS}/{dataset}/models/{method}/{variant}/{split}/seed{seed}.devices.json"
    )


def metrics_of(dataset):
    return [
        f"{RESULTS}/{dataset}/metrics/{method}/{variant}/{split}/seed{seed}.json"
        for method, variant in runs_of(dataset)
        for split in schemes_of(dataset, method)
        for seed in SEEDS
    ]


def analyses_of(dataset):
    """The registry's analyses of each run (first seed, every split scheme), on labelled
    datasets only: they compare a trained model with the ground truth."""
    if not labelled(dataset):
        return []
    return [
        f"{RESULTS}/{dataset}/analyses/{method}/{variant}/{split}/seed{SEEDS[0]}.{a.name}.json"
        for method, variant in runs_of(dataset)
        for a in get_method(method).analyses
        if a.applies_to(variant)
        for split in schemes_of(dataset, method)
    ]


def explain_choice():
    """``evaluation.explain_videos`` as the CLI takes it: a count or comma-separated ids."""
    choice = CFG["evaluation"]["explain_videos"]
    return str(choice) if isinstance(choice, int) else ",".join(choice)


def explanations_of(dataset):
    """Per-pixel explanation strips of the runs whose method draws them (first seed and
    split scheme), on labelled datasets (captions show the ground truth)."""
    if not labelled(dataset) or CFG["evaluation"]["explain_videos"] in (0, []):
        return []
    seed = SEEDS[0]
    return [
        f"{RESULTS}/plots/{dataset}/explain/{method}/{variant}/"
        f"{schemes_of(dataset, method)[0]}/seed{seed}"
        for method, variant in runs_of(dataset)
        if get_method(method).explains
    ]


def scores_of(dataset):
    return [
        scores_path(dataset, method, variant, split, seed)
        for method, variant in runs_of(dataset)
        for split in schemes_of(dataset, method)
        for seed in SEEDS
    ]


def scored_runs(dataset):
    """Per run of an unlabelled dataset: its features label and score files."""
    return [
        {
            "method": method,
            "variant": variant,
            "features": features_label(resolved(dataset, method, variant)),
            "scores": [
                scores_path(dataset, method, variant, split, seed)
                for split in schemes_of(dataset, method)
                for seed in SEEDS
            ],
        }
        for method, variant in runs_of(dataset)
    ]


def qv_release_input(wildcards):
    """The QVHighlights release file whose queries a submission answers (the reader's
    highlight_{qv_split}_release.jsonl; its expected place when there is none)."""
    root = root_of(wildcards)
    found = release_file(root, dataset_spec(wildcards), wildcards.qv_split)
    return str(found or Path(root) / f"highlight_{wildcards.qv_split}_release.jsonl")


def qv_submissions_of(dataset):
    """The QVHighlights evaluation server's files (hl_test_submission.jsonl, and
    hl_val_submission.jsonl beside it when the reader reads a val file: the server takes
    both in one zip) of each run's first split scheme and seed; none unless the reader
    is qvhighlights and reads a test file (withheld labels: the server scores it)."""
    spec = CFG["datasets"][dataset]
    if spec["reader"] != "qvhighlights":
        return []
    root = dataset_root(dataset, spec, RESULTS)
    if release_file(root, spec, "test") is None:
        return []
    parts = [p for p in ("val", "test") if release_file(root, spec, p) is not None]
    seed = SEEDS[0]
    return [
        qv_submission_path(
            dataset, method, variant, schemes_of(dataset, method)[0], seed, part
        )
        for method, variant in runs_of(dataset)
        for part in parts
    ]


def qv_submission_path(dataset, method, variant, split, seed, part):
    name = f"hl_{part}_submission.jsonl"  # the server's name in the zip
    return (
        f"{RESULTS}/submissions/{dataset}/{method}/{variant}/{split}/seed{seed}/{name}"
    )


def plot_inputs(wildcards):
    """The scores shown in plots and the reel: first run, scheme and seed."""
    dataset = wildcards.dataset
    method, variant = runs_of(dataset)[0]
    split, seed = schemes_of(dataset, method)[0], SEEDS[0]
    run = resolved(dataset, method, variant)
    inputs = {
        "predictions": scores_path(dataset, method, variant, split, seed),
        "manifest": f"{RESULTS}/{dataset}/manifest.csv",
        "clips": f"{RESULTS}/{dataset}/clips.csv",
        "table": f"{RESULTS}/tables/{dataset}.csv",
        "splits": f"{RESULTS}/{dataset}/splits.csv",
    }
    if "pseudo" in kinds_of(run):
        inputs["pseudo"] = f"{pseudo_base(dataset, run, seed, split)}/highlights.h5"
    return inputs


def plot_scheme(wildcards):
    """The split scheme of the plotted scores (plot_inputs): its eval split gets curves."""
    dataset = wildcards.dataset
    return schemes_of(dataset, runs_of(dataset)[0][0])[0]


def pretrained_flags(wildcards):
    """``--weights W --weights-dir D`` for a run that starts from a checkpoint, else ""."""
    if hlruns.pretrained_backbone(run_of(wildcards)) is None:
        return ""
    return f"--weights {CFG['weights']} --weights-dir {shlex.quote(CFG['weights_dir'])}"


def pretrained_signature(wildcards):
    """The checkpoint a run's training starts from (size, mtime), or none."""
    backbone = hlruns.pretrained_backbone(run_of(wildcards))
    return "none" if backbone is None else checkpoint_signature(backbone)


# --------------------------------------------------------------------------- resources
# Every job declares its memory (mem_mb) and runtime, scaled by the attempt, so that both
# profiles read one declaration: SLURM submits with them, locally the job's own memory
# guard enforces mem_mb (HLP_MEM_MB in its shell line, highlight_pipeline/memory_guard.py),
# and both retry a failed job once with twice as much. hlp_attempt tells the guard's
# message which attempt it stopped.


def job_attempt(wildcards, attempt):
    return str(attempt)


def job_resources(rule_name, limits=None, **extra):
    """A rule's resources: its mem_mb and runtime at the attempt (``limits(wildcards,
    attempt)``, by default memory_guard.RULE_LIMITS), hlp_attempt, and the rule's own
    ``extra`` ones."""
    if limits is None:
        limits = lambda wildcards, attempt: rule_limits(rule_name, attempt)
    return {
        "mem_mb": lambda wildcards, attempt: limits(wildcards, attempt)[0],
        "runtime": lambda wildcards, attempt: limits(wildcards, attempt)[1],
        "hlp_attempt": job_attempt,
        **extra,
    }


# GPUs: a job that may run a network on a GPU asks for one `gpu` (so that `--resources
# gpu=N` runs at most N of them at once) and leases a free device itself (gpu_slots.py);
# with `device: cpu` none asks, so the gpu count never holds back a CPU-only run. Such a
# job's shell line also passes its runtime (HLP_RUNTIME_MIN): how long it may wait for a
# free slot.


def extractor_resources(rule_name):
    """A features or saliency job's memory and runtime (job_resources), one GPU for a
    published network unless `device: cpu`, and how the network runs (hlp_runtime: device,
    amp, batch size, CUDA settings; not a rerun trigger: params are, and they hold what of
    it changes the numbers, config.precision_slice)."""
    return job_resources(
        rule_name,
        gpu=lambda w: int(
            hlextractors.is_neural(w.backbone) and CFG["device"] != "cpu"
        ),
        hlp_runtime=lambda w: as_json(hlconfig.execution_slice(CFG, w.backbone)),
    )


def run_gpu(wildcards):
    """1 when a train, score or explain job of this run takes a GPU: its method runs a
    network for this run (MethodSpec.gpu: not the random baseline, not avph's
    pseudo-highlight predictor) and `device` is not cpu; else 0."""
    return int(
        get_method(wildcards.method).gpu(run_of(wildcards)) and CFG["device"] != "cpu"
    )


def run_resources(rule_name, limits=None):
    """A train, score or explain job's resources (job_resources), its gpu (run_gpu), and how,
    not what, it computes (not rerun triggers; params are): hlp_device, the config's device
    for a run with a network and cpu otherwise, and hlp_cuda, config.cuda."""
    return job_resources(
        rule_name,
        limits,
        gpu=run_gpu,
        hlp_device=lambda w: CFG["device"] if run_gpu(w) else "cpu",
        hlp_cuda=as_json(CFG["cuda"]),
    )


def train_limits(wildcards, attempt):
    """Memory (MB) and runtime (minutes) of a training job, from its method's registry
    entry, scaled by the attempt."""
    spec = get_method(wildcards.method)
    return spec.mem_mb * attempt, spec.runtime_minutes * attempt


def all_targets():
    targets = []
    for dataset in DATASETS:
        targets += expand(
            f"{RESULTS}/{dataset}/saliency/{SALIENCY}/shard-{{k}}.h5",
            k=SHARDS,
        )
        if not labelled(dataset):
            targets += [*scores_of(dataset), f"{RESULTS}/tables/{dataset}.scores.md"]
            continue
        targets += [
            f"{RESULTS}/tables/{dataset}.md",
            f"{RESULTS}/tables/{dataset}.csv",
            f"{RESULTS}/tables/{dataset}.tex",
            f"{RESULTS}/plots/{dataset}/map_bars.png",
            f"{RESULTS}/plots/{dataset}/curves",
            f"{RESULTS}/plots/{dataset}/reel.mp4",
            *explanations_of(dataset),
            *qv_submissions_of(dataset),
        ]
    return targets
