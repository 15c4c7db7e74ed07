# Wiring only: the config validated, the plan (highlight_pipeline/plan.py: runs, paths,
# inputs and targets, as plain Python) handed to the rules, and the jobs' resources.
# Rules pass only their own slice through params (as canonical JSON), so that
# Snakemake's params rerun trigger reruns exactly the jobs whose slice changed.
# Parsing imports only the config and the registries (no torch, no PyAV): on a cluster
# the Snakefile is parsed once per job.

import re
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

from highlight_pipeline import config as hlconfig
from highlight_pipeline import runs as hlruns
from highlight_pipeline.datasets.folder import listing_signature
from highlight_pipeline.datasets.qvhighlights import release_file
from highlight_pipeline.datasets.registry import dataset_root
from highlight_pipeline.failures import report_failures
from highlight_pipeline.memory_guard import extractor_limits, pseudo_limits, rule_limits
from highlight_pipeline.numerics import THREAD_VARIABLES
from highlight_pipeline.errors import ConfigError
from highlight_pipeline.features import extractors as hlextractors
from highlight_pipeline.methods.registry import FEATURE_INPUTS, get_method, method_names
from highlight_pipeline.plan import Plan
from highlight_pipeline import slurm_executor

min_version("9.0")

# On SLURM: a finished job is seen within the status-check interval, a SLURM job runs its
# jobs itself, with one Snakemake start-up, and jobs are submitted highest priority first
# (highlight_pipeline/slurm_executor.py).
slurm_executor.steady_status_checks()
slurm_executor.jobs_run_in_their_allocation()
slurm_executor.submission_in_priority_order()

try:
    CFG = hlconfig.validate_config(config)
except ConfigError as exc:
    raise WorkflowError(f"config error: {exc}") from None

RESULTS = "results"
PLAN = Plan(CFG, RESULTS)
SHARDS = PLAN.shards
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


def resolved(dataset, method, variant):
    return PLAN.resolved(dataset, method, variant)


def run_of(wildcards):
    return PLAN.resolved(wildcards.dataset, wildcards.method, wildcards.variant)


def run_id(wildcards):
    """(dataset, method, variant, split, seed) of a run job."""
    w = wildcards
    return w.dataset, w.method, w.variant, w.split, w.seed


PSEUDO_SLICES = PLAN.pseudo_slices()

# A published checkpoint that is missing stops the run before any job starts.
_missing = PLAN.missing_checkpoints()
if _missing:
    raise WorkflowError(
        "missing checkpoint file(s): "
        + "; ".join(_missing)
        + ". Put them into weights_dir (see `hlp weights`), or set `weights: random`."
    )


def features_label(run):
    return PLAN.features_label(run)


def checkpoint_signature(name):
    return PLAN.checkpoint_signature(name)


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


def protocol_flags(wildcards):
    return PLAN.protocol_flags(wildcards.dataset, wildcards.method, wildcards.split)


def paper_differences(dataset):
    return PLAN.paper_differences(dataset)


def pseudo_inputs(wildcards):
    try:
        return PLAN.pseudo_inputs(wildcards.dataset, wildcards.pseudo_id)
    except KeyError as exc:
        raise WorkflowError(exc.args[0]) from None


def train_inputs(wildcards):
    return PLAN.train_inputs(*run_id(wildcards))


def score_inputs(wildcards):
    return PLAN.score_inputs(*run_id(wildcards))


def explain_inputs(wildcards):
    return PLAN.explain_inputs(*run_id(wildcards))


def evaluate_inputs(wildcards):
    return PLAN.evaluate_inputs(*run_id(wildcards))


def scores_path(dataset, method, variant, split, seed):
    return PLAN.run_path("scores", dataset, method, variant, split, seed)


def metrics_of(dataset):
    return PLAN.metrics_of(dataset)


def analyses_of(dataset):
    return PLAN.analyses_of(dataset)


def explain_choice():
    return PLAN.explain_choice()


def scores_of(dataset):
    return PLAN.scores_of(dataset)


def scored_runs(dataset):
    return PLAN.scored_runs(dataset)


def qv_release_input(wildcards):
    """The QVHighlights release file whose queries a submission answers (the reader's
    highlight_{qv_split}_release.jsonl; its expected place when there is none)."""
    root = root_of(wildcards)
    found = release_file(root, dataset_spec(wildcards), wildcards.qv_split)
    return str(found or Path(root) / f"highlight_{wildcards.qv_split}_release.jsonl")


def plot_inputs(wildcards):
    """The scores shown in plots and the reel: first run, scheme and seed."""
    return PLAN.plot_inputs(wildcards.dataset)


def plot_scheme(wildcards):
    """The split scheme of the plotted scores (plot_inputs): its eval split gets curves."""
    return PLAN.plotted_run(wildcards.dataset)[2]


def pretrained_flags(wildcards):
    """``--weights W --weights-dir D`` for a run that starts from a checkpoint, else ""."""
    return PLAN.pretrained_flags(run_of(wildcards))


def pretrained_signature(wildcards):
    """The checkpoint a run's training starts from (size, mtime), or none."""
    backbone = hlruns.pretrained_backbone(run_of(wildcards))
    return "none" if backbone is None else checkpoint_signature(backbone)


# --------------------------------------------------------------------------- resources
# Threads of the jobs that decode videos (features, saliency, frames): the CPUs a SLURM job
# asks for (--cpus-per-task) and that a local run counts; FFmpeg's frame threads use the
# same count of threads (HLP_DECODE_THREADS). Snakemake sets OMP_NUM_THREADS etc. to a
# job's threads, and the numeric libraries' thread count changes float sums
# (highlight_pipeline/numerics.py): DECODE_ENV keeps them at one, so the features do not
# depend on this count.
DECODE_THREADS = CFG["features"]["threads"]
DECODE_ENV = (
    " ".join(f"{name}=1" for name in THREAD_VARIABLES) + " HLP_DECODE_THREADS={threads}"
)

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
    """A features or saliency job's memory and runtime (job_resources; the memory is the
    extractor's own where its registry entry names one, memory_guard.extractor_limits), one
    GPU for a published network unless `device: cpu`, and how the network runs (hlp_runtime:
    device, amp, batch size, CUDA settings; not a rerun trigger: params are, and they hold
    what of it changes the numbers, config.precision_slice)."""
    return job_resources(
        rule_name,
        lambda w, attempt: extractor_limits(rule_name, w.backbone, attempt),
        gpu=lambda w: int(
            hlextractors.is_neural(w.backbone) and CFG["device"] != "cpu"
        ),
        hlp_runtime=lambda w: as_json(hlconfig.execution_slice(CFG, w.backbone)),
    )


def pseudo_memory(wildcards, input, attempt):
    """A pseudo job's mem_mb, from its inputs (memory_guard.pseudo_limits): the clips and
    feature widths of the dataset, so a small dataset does not ask for what a million
    clips need. Snakemake evaluates it when the job is about to run, its inputs made."""
    shards = [input[m] for m in FEATURE_INPUTS if m in input.keys()]
    return pseudo_limits(input.clips, shards, attempt)[0]


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


def train_priority(wildcards):
    """A training job's scheduling priority: its method's expected runtime (minutes)."""
    return get_method(wildcards.method).runtime_minutes


# above every training's (train_priority): pseudo-labels gate the trainings that read them
PSEUDO_PRIORITY = 10_000
# feature extraction gates pseudo-labels and trainings alike: first of all, so that on
# SLURM (which starts equal-priority jobs in the order they were submitted) a run that
# needs no features does not take the CPUs the extraction waits for
EXTRACTION_PRIORITY = PSEUDO_PRIORITY


def saliency_priority(wildcards):
    """Saliency maps that a run reads (pld's targets) are extracted first, as features are;
    maps that no run reads, a product of every dataset, wait for a free CPU and so do not
    delay the features that pseudo-labels and trainings wait for."""
    read = PLAN.saliency_read(wildcards.dataset, wildcards.backbone)
    return EXTRACTION_PRIORITY if read else 0


def train_limits(wildcards, attempt):
    """Memory (MB) and runtime (minutes) of a training job, from its method's registry
    entry, and of the scoring that follows in the same job (memory_guard.RULE_LIMITS'
    score), scaled by the attempt."""
    spec = get_method(wildcards.method)
    score_mb, score_minutes = rule_limits("score", attempt)
    return (
        max(spec.mem_mb * attempt, score_mb),
        spec.runtime_minutes * attempt + score_minutes,
    )


def all_targets():
    return PLAN.all_targets()
