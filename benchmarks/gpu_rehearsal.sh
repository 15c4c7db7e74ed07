#!/usr/bin/env bash
# GPU rehearsal: the pipeline on a CUDA machine, measured against a CPU run of the same
# config, in one command of a few minutes (docs/performance.md, "GPU rehearsal").
#
#   bash benchmarks/gpu_rehearsal.sh              # writes $OUT/gpu_rehearsal.md and $OUT/raw/
#   GPU_REHEARSAL_DRY=1 bash benchmarks/gpu_rehearsal.sh   # prerequisites and the plan only
#   bash benchmarks/gpu_rehearsal.sh report       # the report again from the work folder
#
# What it runs, in this order, each phase only while the time budget lasts:
#   probe          windows/s per backbone (random weights) on cuda, features.amp off and on,
#                  peak allocated GPU memory, AMP against FP32 outputs (NaN/inf included);
#   checks         one short run of device checks (GPU_REHEARSAL_CHECKS, each a few seconds;
#                  together at most GPU_REHEARSAL_CHECKS_LIMIT_S, 150): slots, two jobs at
#                  once on two slots (real with two devices, else HLP_FAKE_GPUS=2); amp-loud,
#                  Cnn14 end to end on a full-scale clip, amp off and on; resume, a training
#                  job killed after epoch 2 and resumed with no GPU visible and with all;
#                  pld, trained and scored on cuda (frame feed, pinned batches) against the
#                  CPU's maps; fast-paths, I3D and TASED-Net with the CPU fast paths on and
#                  off on cuda, and the batch bound from the free memory;
#   ci-cpu         the default workflow (workflow/configs/ci.yaml) with device: cpu;
#   ci-gpu1        the same with device: cuda and --resources gpu=1: the jobs that ask for
#                  a GPU (and everything after them) rerun in a copy of ci-cpu's folder;
#   ci-gpu2        the same with --resources gpu=2 on one device: two jobs contend for it;
#   reh-data       hlp rehearsal-data youtube DIR (a miniature of YouTube Highlights);
#   reh-cpu        youtube.yaml + rehearsal.yaml + datasets.youtube.root: DIR, device: cpu;
#   reh-gpu1-amp0  as ci-gpu1, features.amp: false;  reh-gpu1-amp1  features.amp: true;
#   reh-gpu2-amp1  features.amp: true, --resources gpu=2 (contention).
# and reports the device, wall time per rule, windows/s per backbone, peak GPU memory
# (nvidia-smi every 0.5 s, and torch's peak in the probe), the slot each GPU job took (its
# log's gpu_slots line), and each run's result tables against the CPU run's.
#
# Settings (environment): OUT (default results/gpu_rehearsal), GPU_REHEARSAL_WORK (runs,
# venv; default $TMPDIR/hlp-gpu-rehearsal), GPU_REHEARSAL_BUDGET_S (480: no phase starts
# after it, a running one is stopped at it), GPU_REHEARSAL_PHASES (a subset of the list
# above), GPU_REHEARSAL_CORES (nproc), GPU_REHEARSAL_WHEELS (a wheel folder for packages the
# machine lacks; pip's index otherwise), GPU_REHEARSAL_PROBE_SECONDS (10),
# GPU_REHEARSAL_CHECKS (slots,amp-loud,resume,pld,fast-paths), GPU_REHEARSAL_CHECKS_LIMIT_S (150),
# GPU_REHEARSAL_UNSET_CVD=1 (unset CUDA_VISIBLE_DEVICES so that the jobs lease from every
# device; by default a scheduler's choice is kept: the devices it lists are the pool),
# PYTHON (python3: the interpreter whose torch has CUDA).
#
# The venv is made with --system-site-packages so that the machine's CUDA build of torch
# is used; the package is installed into it without dependencies, and only what is missing
# is installed (at envs/pipeline.yaml's pins). Never part of CI.
set -uo pipefail # not -e: a failed phase is reported and the next one runs

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
DRY=${GPU_REHEARSAL_DRY:-0}
PY=${PYTHON:-python3}
OUT=${OUT:-$REPO/results/gpu_rehearsal}
RAW=$OUT/raw
WORK=${GPU_REHEARSAL_WORK:-${TMPDIR:-/tmp}/hlp-gpu-rehearsal}
STATE=$WORK/state
VENV=$WORK/venv
VPY=$VENV/bin/python
HELPER=$WORK/helper.py
BUDGET=${GPU_REHEARSAL_BUDGET_S:-480}
CORES=${GPU_REHEARSAL_CORES:-$(nproc 2>/dev/null || echo 2)}
PROBE_SECONDS=${GPU_REHEARSAL_PROBE_SECONDS:-10}
CHECKS=${GPU_REHEARSAL_CHECKS:-slots,amp-loud,resume,pld,fast-paths}
CHECKS_LIMIT=${GPU_REHEARSAL_CHECKS_LIMIT_S:-150}
ALL_PHASES="probe checks ci-cpu ci-gpu1 ci-gpu2 reh-data reh-cpu reh-gpu1-amp0 reh-gpu1-amp1 reh-gpu2-amp1"
PHASES=${GPU_REHEARSAL_PHASES:-$ALL_PHASES}
START=$(date +%s)
CI_CONFIG=$REPO/workflow/configs/ci.yaml
REH_CONFIGS=("$REPO/workflow/configs/youtube.yaml" "$REPO/workflow/configs/rehearsal.yaml")
REH_DATA=$WORK/data/youtube
SAMPLER=""

say() { printf 'gpu_rehearsal: %s\n' "$*"; }
die() { # stop, and say why in the report (a device call then still brings back a reason)
    say "STOP: $*" >&2
    if [[ $DRY != 1 ]] && mkdir -p "$OUT" 2>/dev/null; then
        printf '# GPU rehearsal\n\nStopped before measuring anything: %s\n' "$*" >"$OUT/gpu_rehearsal.md"
    fi
    exit 2
}
quoted() { printf '%q ' "$@" | sed 's/ $//'; }
left() { echo $((BUDGET - ($(date +%s) - START))); }

# ---------------------------------------------------------------- prerequisites
check_prerequisites() {
    local missing=0
    say "repository $REPO"
    command -v "$PY" >/dev/null || die "no $PY: set PYTHON to a Python 3.11 with pip"
    say "check: $($PY --version 2>&1) at $(command -v "$PY")"
    local torch_version cuda_build cuda
    read -r torch_version cuda_build cuda < <("$PY" -c 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available())' 2>/dev/null)
    if [[ "${cuda:-}" == True ]]; then
        say "check: torch $torch_version (CUDA $cuda_build), a CUDA device is available"
    elif [[ -z "${torch_version:-}" ]]; then
        [[ $DRY == 1 ]] || die "$PY has no torch: this script needs a CUDA build of torch preinstalled ($PY -c 'import torch')"
        say "check: $PY has no torch (a real run stops here)"
    else
        [[ $DRY == 1 ]] || die "torch $torch_version (CUDA build: $cuda_build) sees no CUDA device (torch.cuda.is_available() is False): run this on a CUDA machine"
        say "check: torch $torch_version (CUDA build: $cuda_build), no CUDA device (a real run stops here)"
    fi
    if command -v nvidia-smi >/dev/null; then
        say "check: $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -1)"
    else
        [[ $DRY == 1 ]] || die "no nvidia-smi on PATH"
        say "check: no nvidia-smi (a real run stops here)"
    fi
    for f in "$REPO/Snakefile" "$CI_CONFIG" "${REH_CONFIGS[@]}" "$REPO/envs/pipeline.yaml"; do
        if [[ -f "$f" ]]; then say "check: ${f#"$REPO"/} found"; else
            say "check: ${f#"$REPO"/} missing"
            missing=1
        fi
    done
    [[ -f "${REH_CONFIGS[1]}" ]] || say "check: without workflow/configs/rehearsal.yaml the reh-* phases are skipped"
    [[ -f "$CI_CONFIG" ]] || die "workflow/configs/ci.yaml is missing"
    if [[ -n "${CUDA_VISIBLE_DEVICES+x}" ]]; then
        if [[ "${GPU_REHEARSAL_UNSET_CVD:-0}" == 1 ]]; then
            say "check: CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES is unset for the runs (GPU_REHEARSAL_UNSET_CVD=1)"
        else
            say "check: CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES is set: the jobs lease slots among the devices it lists (gpu_slots.py step 2); GPU_REHEARSAL_UNSET_CVD=1 leases from every device"
        fi
    fi
    say "check: $CORES cores, time budget ${BUDGET} s, phases: $PHASES"
    return $missing
}

# ---------------------------------------------------------------- running things
run_logged() { # run_logged LOGFILE TIMEOUT CMD...: print it, then (not dry) run it
    local log=$1 limit=$2
    shift 2
    printf '+ %s\n' "$(quoted "$@")"
    [[ $DRY == 1 ]] && return 0
    mkdir -p "$(dirname "$log")"
    printf '+ %s\n' "$(quoted "$@")" >>"$log"
    timeout --signal=INT --kill-after=20 "$limit" "$@" >>"$log" 2>&1
}

record_phase() { # name kind base device amp gpus rc start end workdir note
    [[ $DRY == 1 ]] && return 0
    mkdir -p "$STATE"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$STATE/phases.tsv"
}

report() {
    [[ $DRY == 1 ]] && return 0
    "$VPY" "$HELPER" report "$STATE" "$OUT" "$REPO" >>"$RAW/report.log" 2>&1 ||
        say "report failed, see $RAW/report.log"
}

wanted() { [[ " $PHASES " == *" $1 "* ]]; }

budget_allows() { # budget_allows PHASE MIN_SECONDS
    [[ $DRY == 1 ]] && return 0
    local l
    l=$(left)
    if ((l < $2)); then
        say "$1: skipped, $l s of the time budget left (needs about $2 s)"
        record_phase "$1" skipped - - - - - - - - "time budget: $l s left"
        return 1
    fi
}

setup_venv() {
    say "venv with the machine's torch (--system-site-packages) at $VENV"
    local log=$RAW/setup.log
    if [[ $DRY == 1 ]]; then
        run_logged "$log" 300 "$PY" -m venv --system-site-packages "$VENV"
        run_logged "$log" 300 "$VPY" -m pip install --no-deps --no-build-isolation -e "$REPO"
        run_logged "$log" 300 "$VPY" -m pip install '<only the missing runtime packages, at envs/pipeline.yaml pins>'
        return 0
    fi
    # without ensurepip (Debian without python3-venv) the venv uses the system's pip module
    [[ -x "$VPY" ]] || run_logged "$log" 300 "$PY" -m venv --system-site-packages "$VENV" ||
        run_logged "$log" 300 "$PY" -m venv --clear --system-site-packages --without-pip "$VENV" ||
        die "could not make the venv (log: $log)"
    run_logged "$log" 300 "$VPY" -m pip install --no-input --no-deps --no-build-isolation -e "$REPO" ||
        run_logged "$log" 300 "$VPY" -m pip install --no-input --no-deps -e "$REPO" ||
        link_package || die "could not install the package into the venv (log: $log)"
    local missing
    missing=$("$VPY" "$HELPER" missing "$REPO")
    if [[ -n "$missing" ]]; then
        say "installing what the machine lacks: $missing"
        local source=()
        [[ -n "${GPU_REHEARSAL_WHEELS:-}" ]] && source=(--no-index --find-links "$GPU_REHEARSAL_WHEELS")
        "$VPY" -c 'import torch; print("torch==" + torch.__version__)' >"$WORK/constraints.txt"
        # shellcheck disable=SC2086 # one requirement a word
        run_logged "$log" 300 "$VPY" -m pip install --no-input "${source[@]}" -c "$WORK/constraints.txt" $missing
        missing=$("$VPY" "$HELPER" missing "$REPO")
        [[ -z "$missing" ]] || die "still missing: $missing (no network? pass GPU_REHEARSAL_WHEELS=DIR with their wheels; log: $log)"
    fi
    "$VPY" -c 'import highlight_pipeline.cli' || die "the package does not import in the venv"
}

link_package() { # no build backend and no network: the checkout on sys.path and an hlp script
    say "pip could not install the package: linking the checkout into the venv instead"
    local site
    site=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') || return 1
    printf '%s\n' "$REPO" >"$site/hlp-checkout.pth"
    printf '#!%s\nimport sys\nfrom highlight_pipeline.cli import entry\nsys.exit(entry())\n' "$VPY" >"$VENV/bin/hlp"
    chmod +x "$VENV/bin/hlp"
}

start_sampler() {
    [[ $DRY == 1 ]] && {
        printf '+ %s\n' "nvidia-smi --query-gpu=memory.used every 0.5 s > $RAW/gpu_memory.tsv (background)"
        return 0
    }
    (
        while :; do
            t=$(date +%s.%N)
            used=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | paste -sd, -)
            printf '%s\t%s\n' "$t" "$used" >>"$RAW/gpu_memory.tsv"
            nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits 2>/dev/null |
                sed "s/^/$t, /" >>"$RAW/gpu_apps.csv"
            sleep 0.5
        done
    ) &
    SAMPLER=$!
}

stop_sampler() {
    if [[ -n "$SAMPLER" ]]; then
        kill "$SAMPLER" 2>/dev/null
        wait "$SAMPLER" 2>/dev/null
        SAMPLER=""
    fi
}

device_info() {
    if [[ $DRY == 1 ]]; then
        printf '+ %s\n' "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > $RAW/device.csv; nvidia-smi -q > $RAW/nvidia-smi-q.txt"
        return 0
    fi
    nvidia-smi --query-gpu=index,name,memory.total,driver_version,compute_cap --format=csv >"$RAW/device.csv" 2>&1
    nvidia-smi -q >"$RAW/nvidia-smi-q.txt" 2>&1
    nvidia-smi >"$RAW/nvidia-smi.txt" 2>&1
    {
        echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "host: $(hostname)"
        echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo) ($CORES cores used)"
        echo "commit: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
        echo "CUDA_VISIBLE_DEVICES: ${CUDA_VISIBLE_DEVICES-unset}"
        "$VPY" -c 'import sys, torch; print("python:", sys.version.split()[0]); print("torch:", torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version()); print("device:", torch.cuda.get_device_name(0), "x", torch.cuda.device_count())'
    } >"$STATE/machine.txt" 2>&1
}

# ---------------------------------------------------------------- phases
phase_probe() {
    wanted probe || return 0
    budget_allows probe 45 || return 0
    say "probe: windows/s per backbone on cuda, amp off and on"
    local t0 rc limit
    limit=$(($(left) < 150 ? $(left) : 150))
    t0=$(date +%s.%N)
    run_logged "$RAW/probe.log" "$limit" env HLP_GPU_LOCK_DIR="$WORK/locks/probe" \
        "$VPY" "$HELPER" probe "$REPO" "$RAW/probe.json" "$PROBE_SECONDS" r3d34,c3d,i3d,cnn14,tased
    rc=$?
    record_phase probe probe - cuda both 1 "$rc" "$t0" "$(date +%s.%N)" - "$RAW/probe.log"
    report
}

phase_checks() {
    wanted checks || return 0
    budget_allows checks 60 || return 0
    say "checks: $CHECKS (each a few seconds, at most $CHECKS_LIMIT s together)"
    local t0 rc limit
    limit=$(($(left) < CHECKS_LIMIT ? $(left) : CHECKS_LIMIT))
    t0=$(date +%s.%N)
    run_logged "$RAW/checks.log" "$limit" env HLP_GPU_LOCK_DIR="$WORK/locks/checks" \
        "$VPY" "$HELPER" checks "$REPO" "$RAW/checks.json" "$WORK/checks" cuda "$CHECKS"
    rc=$?
    record_phase checks checks - cuda - 1 "$rc" "$t0" "$(date +%s.%N)" - "$RAW/checks.log"
    report
}

write_overlay() { # write_overlay FILE DEVICE AMP
    local text="device: $2
features: {amp: $3}"
    local shown="device: $2; features: {amp: $3}"
    if [[ $DRY == 1 ]]; then
        printf '  (%s: %s)\n' "$1" "$shown"
        return 0
    fi
    mkdir -p "$(dirname "$1")"
    printf '%s\n' "$text" >"$1"
}

run_workflow() { # run_workflow NAME KIND BASE DEVICE AMP GPUS CONFIGS...
    local name=$1 kind=$2 base=$3 device=$4 amp=$5 gpus=$6
    shift 6
    local configs=("$@") wd=$WORK/runs/$name overlay=$WORK/overlays/$name.yaml
    local forced=() t0 rc limit note="" lockdir=$WORK/locks/$name
    wanted "$name" || return 0
    budget_allows "$name" 60 || return 0
    if [[ "$base" != - ]]; then
        if [[ $DRY == 1 ]]; then
            printf '+ %s\n' "cp -a $WORK/runs/$base $wd   # the CPU run's results and .snakemake"
            forced=("<outputs of $base's jobs with gpu=1>")
        else
            if [[ ! -d "$WORK/runs/$base/results" ]]; then
                say "$name: skipped, $base has no results"
                record_phase "$name" skipped "$base" "$device" "$amp" "$gpus" - - - - "no $base run"
                return 0
            fi
            rm -rf "$wd"
            cp -a "$WORK/runs/$base" "$wd"
            rm -rf "$wd/.snakemake/locks" # left by a base run stopped at the budget
            mapfile -t forced < <("$VPY" "$HELPER" gpu-outputs "$RAW/$base/snakemake.log")
            if ((${#forced[@]} == 0)); then
                say "$name: skipped, no job of $base asks for a GPU"
                record_phase "$name" skipped "$base" "$device" "$amp" "$gpus" - - - - "no GPU job"
                return 0
            fi
        fi
    else
        [[ $DRY == 1 ]] || {
            rm -rf "$wd"
            mkdir -p "$wd"
            cp "$REPO/config.yaml" "$wd/config.yaml"
        }
    fi
    write_overlay "$overlay" "$device" "$amp"
    local cmd=("$VPY" -m snakemake -s "$REPO/Snakefile" -d "$wd" --cores "$CORES" --resources "gpu=$gpus"
        --rerun-incomplete --configfile "${configs[@]}" "$overlay")
    ((${#forced[@]})) && cmd+=(--forcerun "${forced[@]}")
    local from=""
    [[ "$base" == - ]] || from=", rerunning the GPU jobs of a copy of $base"
    say "$name: $kind workflow, device $device, features.amp $amp, --resources gpu=$gpus$from"
    limit=$(left)
    [[ $DRY == 1 ]] || mkdir -p "$lockdir"
    t0=$(date +%s.%N)
    run_logged "$RAW/$name/snakemake.log" "$limit" env HLP_GPU_LOCK_DIR="$lockdir" "${cmd[@]}"
    rc=$?
    ((rc == 124 || rc == 130)) && note="stopped at the time budget"
    record_phase "$name" "$kind" "$base" "$device" "$amp" "$gpus" "$rc" "$t0" "$(date +%s.%N)" "$wd" "$note"
    if [[ $DRY != 1 ]]; then
        mkdir -p "$RAW/$name"
        [[ -d "$wd/results/logs" ]] && cp -a "$wd/results/logs" "$RAW/$name/"
        [[ -d "$wd/results/tables" ]] && cp -a "$wd/results/tables" "$RAW/$name/"
        say "$name: exit code $rc after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.0f", b - a}') s"
    fi
    report
}

phase_rehearsal_data() {
    REH_OK=0
    local why="" hlp_cmd=(hlp) t0 rc
    [[ $DRY == 1 ]] || hlp_cmd=("$VENV/bin/hlp")
    if ! wanted reh-data; then # an earlier run's miniature, if any
        [[ -d "$REH_DATA" && -f "$WORK/overlays/reh-root.yaml" ]] && REH_OK=1
        return 0
    fi
    [[ -f "${REH_CONFIGS[1]}" ]] || why="workflow/configs/rehearsal.yaml does not exist (yet)"
    if [[ -z "$why" ]] && ! "${hlp_cmd[@]}" rehearsal-data --help >/dev/null 2>&1; then
        why="hlp has no rehearsal-data command (yet)"
    fi
    if [[ -n "$why" ]]; then
        if [[ $DRY != 1 ]]; then
            say "reh-data: skipped with the rehearsal phases: $why"
            record_phase reh-data skipped - - - - - - - - "$why"
            return 0
        fi
        say "reh-data: a real run would skip the rehearsal phases now ($why); their plan:"
    fi
    budget_allows reh-data 90 || return 0
    t0=$(date +%s.%N)
    [[ $DRY == 1 ]] || rm -rf "$REH_DATA"
    run_logged "$RAW/reh-data.log" "$(left)" "${hlp_cmd[@]}" rehearsal-data youtube "$REH_DATA"
    rc=$?
    record_phase reh-data data - - - - "$rc" "$t0" "$(date +%s.%N)" - "$REH_DATA"
    if [[ $DRY == 1 ]]; then
        printf '  (%s: datasets: {youtube: {root: %s}})\n' "$WORK/overlays/reh-root.yaml" "$REH_DATA"
        REH_OK=1
    elif ((rc == 0)); then
        mkdir -p "$WORK/overlays"
        printf 'datasets:\n  youtube:\n    root: %s\n' "$REH_DATA" >"$WORK/overlays/reh-root.yaml"
        REH_OK=1
    else
        say "reh-data: failed (exit code $rc, log $RAW/reh-data.log); rehearsal phases skipped"
    fi
}

# ---------------------------------------------------------------- the helper (Python)
write_helper() {
    [[ $DRY == 1 ]] && return 0
    mkdir -p "$WORK"
    cat >"$HELPER" <<'PYTHON'
"""gpu_rehearsal.sh's helper: missing packages, GPU jobs of a run, the probe, the report."""
import csv
import datetime as dt
import glob
import json
import os
import re
import sys
import time
from pathlib import Path

MODULES = {"snakemake": "snakemake", "av": "av", "ffmpeg-python": "ffmpeg",
           "imageio-ffmpeg": "imageio_ffmpeg", "h5py": "h5py", "numpy": "numpy",
           "pandas": "pandas", "scikit-learn": "sklearn", "umap-learn": "umap",
           "panns-inference": "panns_inference", "pyyaml": "yaml", "jsonschema": "jsonschema",
           "tqdm": "tqdm", "matplotlib": "matplotlib"}


def missing(repo):
    """Requirements (at envs/pipeline.yaml's pins, else pyproject's) of what is not installed."""
    import importlib.metadata
    import importlib.util
    pins = dict(re.findall(r"^\s*-\s*([A-Za-z0-9_.-]+)==(\S+)", Path(repo, "envs/pipeline.yaml").read_text(), re.M))
    spec = re.search(r'"(snakemake[^"]*)"', Path(repo, "pyproject.toml").read_text()).group(1)
    out = []
    for dist, module in MODULES.items():
        try:
            importlib.metadata.version(dist)
            if importlib.util.find_spec(module) is not None:
                continue
        except importlib.metadata.PackageNotFoundError:
            pass
        out.append(spec if dist == "snakemake" else f"{dist}=={pins[dist]}" if dist in pins else dist)
    print(" ".join(out))


# ------------------------------------------------------------- Snakemake's log
STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")


def jobs_of(log_path):
    """Every job of a Snakemake log: rule, wildcards, outputs, resources, start, end (s)."""
    jobs, when, current = {}, None, None
    if not Path(log_path).exists():
        return []
    for raw in Path(log_path).read_text(errors="replace").splitlines():
        line = raw.rstrip()
        m = STAMP.match(line)
        if m:
            when = dt.datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y")
            current = None
            continue
        m = re.match(r"^(?:local)?rule (\w+):$", line)
        if m:
            current = {"rule": m.group(1), "start": when, "end": None, "outputs": [],
                       "wildcards": "", "resources": {}}
            continue
        m = re.match(r"^Finished jobid: (\d+) \(Rule: (\w+)\)", line) or re.match(
            r"^Finished job (\d+)\.", line)
        if m and m.group(1) in jobs:
            jobs[m.group(1)]["end"] = when
            continue
        if current is None:
            continue
        key, _, value = line.strip().partition(": ")
        if key == "jobid":
            jobs[value] = current
        elif key == "output":
            current["outputs"] = [v.strip() for v in value.split(", ")]
        elif key == "wildcards":
            current["wildcards"] = value
        elif key == "resources":
            current["resources"] = dict(
                kv.split("=", 1) for kv in value.split(", ") if "=" in kv)
    return list(jobs.values())


def gpu_outputs(log_path):
    for job in jobs_of(log_path):
        if int(job["resources"].get("gpu", "0") or 0) > 0:
            for out in job["outputs"]:
                print(out)


# ------------------------------------------------------------- the probe
def probe(repo, out_path, seconds, names):
    import tempfile
    from types import SimpleNamespace

    import numpy as np
    import torch

    sys.path.insert(0, str(Path(repo, "benchmarks")))
    import extract as bx  # benchmarks/extract.py: make_video, feature_slice

    from highlight_pipeline.features.extract import build_extractor
    from highlight_pipeline.features.neural import iter_audio_windows, iter_visual_windows, to_model_input
    from highlight_pipeline.features.windows import window_grid
    from highlight_pipeline.video.probe import probe as probe_video

    torch.set_num_threads(4)
    result = {"torch": torch.__version__, "cuda": torch.version.cuda,
              "device": torch.cuda.get_device_name(0), "seconds": seconds, "rows": [], "notes": []}

    def save():
        Path(out_path).write_text(json.dumps(result, indent=1) + "\n")

    def compare(a, b):
        a, b = np.asarray(a, np.float64).reshape(len(a), -1), np.asarray(b, np.float64).reshape(len(b), -1)
        finite = np.isfinite(a).all(1) & np.isfinite(b).all(1)
        if not finite.any():
            return {"max_abs": None, "rel": None, "min_cosine": None}
        a, b = a[finite], b[finite]
        cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)
        return {"max_abs": float(np.abs(a - b).max()),
                "rel": float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-30)),
                "min_cosine": float(cos.min())}

    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        bx.make_video(clip, seconds, 25)
        info = probe_video(clip)
        row = SimpleNamespace(path=str(clip), **info.as_dict())
        result["video"] = f"{info.width}x{info.height}, {info.fps:.0f} fps, {info.duration:.1f} s"
        for name in names:
            try:
                if name == "tased":
                    fslice = {"extractor": "tased", "fps": 2, "height": 56, "width": 96}
                else:
                    fslice = bx.feature_slice(name)
                outs, ready = {}, None
                for amp in (False, True):
                    torch.cuda.synchronize()
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
                    torch.manual_seed(0)  # the same random weights with and without amp
                    runtime = {"weights_dir": "weights", "weights": "random", "device": "cuda",
                               "amp": amp, "batch_size": 8}
                    ex = build_extractor(fslice, runtime)
                    rec = {"backbone": name, "amp": amp, "batch_size": 8}
                    if name != "tased":
                        if ready is None:
                            if name == "cnn14":
                                grid = window_grid(row.duration, 1.0, 0.5)
                                batches = iter_audio_windows(clip, 32000, grid, 8)
                                ready = [b for _, b in zip(range(4), batches)]
                            else:
                                batches = iter_visual_windows(
                                    clip, ex.spec, row.fps, row.width, row.height, row.duration, 8)
                                ready = [w for _, (w, _, _) in zip(range(4), batches)]

                        if name == "cnn14":
                            xs = [torch.from_numpy(b).to(ex.device) for b in ready]
                        else:
                            xs = [to_model_input(b, ex.spec, ex.device) for b in ready]
                        outs[amp] = ex._run(xs[0])  # also the warm-up
                        n, t0 = 0, time.perf_counter()
                        while n < 2 * len(xs) or time.perf_counter() - t0 < 1.0:
                            for x in xs:
                                ex._run(x)
                                n += len(x)
                        model_s = time.perf_counter() - t0
                        rec["model_windows_per_s"] = n / model_s
                        if name == "cnn14":  # silence and full-scale sound through the front end
                            t = torch.arange(32000, device=ex.device) / 32000
                            silence = torch.zeros(4, 32000, device=ex.device)
                            loud = torch.sin(2 * torch.pi * 440 * t).repeat(4, 1)
                            rec["nonfinite_silence"] = int((~np.isfinite(ex._run(silence))).sum())
                            rec["nonfinite_full_scale"] = int((~np.isfinite(ex._run(loud))).sum())
                    torch.cuda.synchronize()
                    t0 = time.perf_counter()
                    found = ex.extract(clip, row)
                    e2e_s = time.perf_counter() - t0
                    windows = len(found.windows)
                    if name == "tased":
                        outs[amp] = found.windows
                    rec["nonfinite"] = int((~np.isfinite(np.asarray(found.windows, np.float64))).sum())
                    rec["end_to_end_windows_per_s"] = windows / e2e_s
                    rec["end_to_end_video_s_per_s"] = row.duration / e2e_s
                    rec["windows"] = windows
                    rec["peak_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
                    rec["peak_reserved_mib"] = torch.cuda.max_memory_reserved() / 2**20
                    if amp and False in outs:
                        rec["vs_fp32"] = compare(outs[False], outs[True])
                    result["rows"].append(rec)
                    save()
                    del ex
            except Exception as exc:  # one backbone failing does not stop the others
                result["notes"].append(f"{name}: {type(exc).__name__}: {exc}")
                save()
    save()


# ------------------------------------------------------------- the device checks
CHILD_SLOT = r"""
import json, os, sys, time
from highlight_pipeline.gpu_slots import lease_for_process
lease = lease_for_process("auto")
start = time.time()
if lease.device.startswith("cuda"):
    import torch
    x = torch.ones(1024, 1024, device=lease.device)
    for _ in range(20):
        x = (x @ x).clamp_(max=1.0)
    torch.cuda.synchronize(lease.device)
time.sleep(float(sys.argv[1]))
print(json.dumps({**lease.record(), "pid": os.getpid(), "start": start, "end": time.time()}))
"""

CHILD_RESUME = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
import numpy as np, torch
from highlight_pipeline.numerics import pin_numerics
pin_numerics(1)
import train as tx  # benchmarks/train.py: synthetic_inputs
from highlight_pipeline.config import validate_config
from highlight_pipeline.methods.registry import get_method
from highlight_pipeline.methods.resume import EpochCheckpoint
from highlight_pipeline.runs import resolve_run
path, stop_after, device = sys.argv[2], int(sys.argv[3]), sys.argv[4]


class Stopping(EpochCheckpoint):
    def save(self, epoch, net, optimiser, rng, losses):
        super().save(epoch, net, optimiser, rng, losses)
        if stop_after and epoch >= stop_after:
            os._exit(17)  # a kill right after the state was written


config = validate_config({"run_datasets": ["b"], "datasets": {"b": {"reader": "synthetic"}},
                          "evaluation": {"runs": {"avph": ["av-ph"]}}})
run = resolve_run(config, "b", "avph", "av-ph")
run["settings"]["epochs"] = 6
inputs = tx.synthetic_inputs(24, 20, 64, 64)
restored = []
checkpoint = Stopping(path, "rehearsal", every_seconds=0) if path != "-" else None
model = get_method("avph").implementation().fit(inputs, run, 0, device, False, checkpoint=checkpoint)
state = torch.load(path, weights_only=True) if path != "-" and os.path.exists(path) else None
net = getattr(model, "net", None) or getattr(model, "model", None)
weights = b"".join(v.detach().cpu().numpy().tobytes() for v in net.state_dict().values())
import hashlib
print(json.dumps({"device": device, "visible": torch.cuda.device_count() if torch.cuda.is_available() else 0,
                  "losses": [float(x) for x in model.losses], "digest": hashlib.sha256(weights).hexdigest()[:16]}))
"""


def _child(code, args, env=None, timeout=120):
    import subprocess
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})
    last = [l for l in done.stdout.splitlines() if l.startswith("{")]
    return done.returncode, (json.loads(last[-1]) if last else None), done.stderr[-600:]


def check_slots(work, device):
    """Two jobs at once, each on its own slot: real ones with two devices or more, else
    HLP_FAKE_GPUS=2 (the lease protocol on fake slots; the work then runs on the CPU)."""
    import subprocess
    import torch
    real = torch.cuda.is_available() and torch.cuda.device_count() >= 2
    env = {**os.environ, "HLP_GPU_LOCK_DIR": str(Path(work, "locks", "slots"))}
    if not real:
        env["HLP_FAKE_GPUS"] = "2"
    procs = [subprocess.Popen([sys.executable, "-c", CHILD_SLOT, "3"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    found = []
    for p in procs:
        out, err = p.communicate(timeout=90)
        lines = [l for l in out.splitlines() if l.startswith("{")]
        found.append(json.loads(lines[-1]) if lines else {"error": err[-300:]})
    ok = all("slot" in f for f in found)
    slots = [f.get("slot") for f in found]
    overlap = ok and min(f["end"] for f in found) > max(f["start"] for f in found)
    return {"kind": "real" if real else "fake (HLP_FAKE_GPUS=2)", "jobs": found,
            "distinct_slots": ok and len(set(slots)) == 2, "ran_together": bool(overlap),
            "ok": bool(ok and len(set(slots)) == 2 and overlap)}


def loud_clip(path, seconds=6.0):
    """A short video whose sound is full scale: a clipped square wave with noise at 0 dBFS."""
    import av
    import numpy as np
    rng = np.random.default_rng(0)
    rate = 32000
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        audio = container.add_stream("aac", rate=rate, layout="mono")
        for i in range(int(seconds * 25)):
            frame = np.full((240, 320, 3), (i * 9) % 256, np.uint8)
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(video.encode(None))
        t = np.arange(int(seconds * rate)) / rate
        sound = np.sign(np.sin(2 * np.pi * 220 * t)) + rng.normal(0, 0.3, t.size)
        sound = np.clip(sound, -1, 1).astype(np.float32)
        for start in range(0, sound.size, 1024):
            chunk = sound[start:start + 1024]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
            frame.rate = rate
            frame.pts = start
            container.mux(audio.encode(frame))
        container.mux(audio.encode(None))


def check_amp_loud(work, device):
    """Cnn14 end to end (decoding included) on a full-scale clip, amp off and on."""
    from types import SimpleNamespace

    import numpy as np
    import torch

    from highlight_pipeline.features.extract import build_extractor
    from highlight_pipeline.video.probe import probe as probe_video
    clip = Path(work, "loud.mp4")
    loud_clip(clip)
    info = probe_video(clip)
    row = SimpleNamespace(path=str(clip), **info.as_dict())
    out = {}
    for amp in (False, True):
        torch.manual_seed(0)
        ex = build_extractor({"extractor": "cnn14", "window_seconds": 1.0, "stride_seconds": 0.5},
                             {"weights_dir": "weights", "weights": "random", "device": device,
                              "amp": amp, "batch_size": 8})
        try:
            found = ex.extract(clip, row)
            out[amp] = np.asarray(found.windows, np.float64)
        except Exception as exc:  # NumericsError: what this check is for
            out[amp] = f"{type(exc).__name__}: {exc}"
    rec = {"clip": f"{info.duration:.1f} s, full-scale square wave + noise"}
    for amp, value in out.items():
        key = "amp" if amp else "fp32"
        if isinstance(value, str):
            rec[key] = value
        else:
            rec[key] = f"{len(value)} windows, non-finite {int((~np.isfinite(value)).sum())}"
    if all(not isinstance(v, str) for v in out.values()):
        a, b = out[False], out[True]
        cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)
        rec["max_abs"] = float(np.abs(a - b).max())
        rec["min_cosine"] = float(cos.min())
        rec["ok"] = bool(np.isfinite(a).all() and np.isfinite(b).all())
    else:
        rec["ok"] = False
    return rec


def check_resume(repo, work, device):
    """A training job (avph, 6 epochs) killed after epoch 2 on the device with every GPU
    visible, resumed in a process that sees no GPU (CUDA_VISIBLE_DEVICES=""), and one that
    sees them all; against the same job never stopped."""
    bench = str(Path(repo, "benchmarks"))
    state = Path(work, "resume", "m.pt.resume")
    state.parent.mkdir(parents=True, exist_ok=True)
    rec = {}
    rc, whole, err = _child(CHILD_RESUME, [bench, "-", 0, device])
    rec["uninterrupted"] = whole or err
    for name, env, dev in (("resumed_without_gpus", {"CUDA_VISIBLE_DEVICES": ""}, "cpu"),
                           ("resumed_on_the_device", {}, device)):
        state.unlink(missing_ok=True)
        rc, _, err = _child(CHILD_RESUME, [bench, state, 2, device])
        if rc != 17 or not state.exists():
            rec[name] = f"the first attempt did not stop after epoch 2 (exit {rc}): {err}"
            continue
        import torch
        saved = torch.load(state, weights_only=True)
        cuda_states = len(saved["cuda_rng"]) if saved.get("cuda_rng") is not None else 0
        rc, result, err = _child(CHILD_RESUME, [bench, state, 0, dev], env)
        rec[name] = {"exit": rc, "saved_epoch": int(saved["epoch"]), "cuda_states_saved": cuda_states,
                     "result": result or err}
    same = rec.get("resumed_on_the_device", {})
    if isinstance(same, dict) and isinstance(same.get("result"), dict) and isinstance(whole, dict):
        rec["same_device_bitwise"] = same["result"]["digest"] == whole["digest"]
    other = rec.get("resumed_without_gpus", {})
    rec["ok"] = bool(isinstance(other, dict) and other.get("exit") == 0
                     and isinstance(other.get("result"), dict)
                     and len(other["result"]["losses"]) == 6 and rec.get("same_device_bitwise"))
    return rec


def check_pld(repo, work, device):
    """pld trained and scored on the device from a frame cache (the frame feed, pinned
    batches), its scores against the same model's on the CPU."""
    import numpy as np
    import torch
    sys.path.insert(0, str(Path(repo, "benchmarks")))
    import train as tx

    from highlight_pipeline.config import validate_config
    from highlight_pipeline.features.frame_feed import pin_for
    from highlight_pipeline.methods import pld
    from highlight_pipeline.runs import resolve_run
    config = validate_config({"run_datasets": ["b"], "datasets": {"b": {"reader": "synthetic"}},
                              "evaluation": {"runs": {"pld": ["tased-full"]}}})
    run = resolve_run(config, "b", "pld", "tased-full")
    run["settings"].update(pretrained=False, spatial=False, epochs=2, windows_per_video=2,
                           batch_size=4, bn_windows=4)
    rec = {"pinned_batches": pin_for(device)}
    frames = Path(work, "pld-frames.h5")
    inputs = tx.synthetic_frame_inputs(frames, 4, 48, (32, 64))  # the embedded default's size
    t0 = time.perf_counter()
    model = pld.fit(inputs, run, 0, device, False)
    rec["train_s"] = time.perf_counter() - t0
    video = inputs.videos[0]
    targets = np.arange(min(16, video.frames.n_frames))
    found = {}
    for where in (device, "cpu"):
        model.to(where)
        model.distinction_maps(video, targets[:2])  # warm-up
        if where.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        maps = model.distinction_maps(video, targets)
        seconds = time.perf_counter() - t0
        found[where] = maps
        rec[f"score_windows_per_s_{where.split(':')[0]}"] = len(targets) / seconds
    a, b = found[device].astype(np.float64), found["cpu"].astype(np.float64)
    rec["windows"] = int(len(targets))
    rec["max_abs_vs_cpu"] = float(np.abs(a - b).max())
    rec["nonfinite"] = int((~np.isfinite(a)).sum())
    scores = [model.to(device).score(v) for v in inputs.videos]
    rec["scored_clips"] = int(sum(np.isfinite(s).sum() for s in scores))
    rec["ok"] = bool(rec["nonfinite"] == 0 and rec["max_abs_vs_cpu"] < 1e-3)
    return rec


def check_fast_paths(device):
    """I3D and TASED-Net forward windows/s on the device with the CPU fast paths on and off
    (config.cuda.cpu_fast_paths), and how far their outputs lie apart."""
    import torch

    from highlight_pipeline.features.backbones import build
    from highlight_pipeline.features.backbones.fast_paths import use_fast_paths
    from highlight_pipeline.features.neural import visual_batch, visual_input_spec
    rows = []
    shapes = (("i3d", (8, 3, 16, 224, 224)), ("tased", (4, 3, 32, 224, 384)))
    if not device.startswith("cuda"):  # a try of the code on a CPU: small
        shapes = (("i3d", (1, 3, 9, 224, 224)), ("tased", (1, 3, 32, 64, 128)))
    for name, shape in shapes:
        torch.manual_seed(0)
        net = build(name).to(device).eval()
        x = torch.rand(shape, device=device) * 2 - 1
        outs, rates = {}, {}
        for fast in (False, True, False, True):
            use_fast_paths(net, fast)
            with torch.inference_mode():
                out = net.extract(x)
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                n, t0 = 0, time.perf_counter()
                while n < 3 or time.perf_counter() - t0 < 1.0:
                    net.extract(x)
                    n += 1
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
            rates.setdefault(fast, []).append(n * shape[0] / (time.perf_counter() - t0))
            outs[fast] = out.float().cpu()
        rows.append({"backbone": name, "batch": shape[0],
                     "windows_per_s_plain": max(rates[False]), "windows_per_s_fast": max(rates[True]),
                     "max_abs": float((outs[True] - outs[False]).abs().max())})
        del net, x
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    spec = visual_input_spec("i3d")
    bound = {"i3d_batch_8": visual_batch(spec, 8, device), "i3d_batch_64": visual_batch(spec, 64, device)}
    if device.startswith("cuda"):
        free, total = torch.cuda.mem_get_info()
        bound["free_mib"], bound["total_mib"] = free / 2**20, total / 2**20
    return {"rows": rows, "batch_bound": bound, "ok": True}


def checks(repo, out_path, work, device, names):
    """Each named check, its figures or its error, saved after each (a stop keeps the rest)."""
    import traceback
    Path(work).mkdir(parents=True, exist_ok=True)
    result = {"device": device, "checks": {}}
    table = {"slots": lambda: check_slots(work, device),
             "amp-loud": lambda: check_amp_loud(work, device),
             "resume": lambda: check_resume(repo, work, device),
             "pld": lambda: check_pld(repo, work, device),
             "fast-paths": lambda: check_fast_paths(device)}
    for name in names:
        t0 = time.perf_counter()
        try:
            rec = table[name]()
        except Exception as exc:  # one check failing does not stop the others
            rec = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                   "trace": traceback.format_exc()[-800:]}
        rec["seconds"] = time.perf_counter() - t0
        result["checks"][name] = rec
        Path(out_path).write_text(json.dumps(result, indent=1, default=str) + "\n")


# ------------------------------------------------------------- the report
def fnum(x, fmt="{:.1f}"):
    return "–" if x is None else fmt.format(x)


def phases_of(state):
    cols = ["name", "kind", "base", "device", "amp", "gpus", "rc", "start", "end", "wd", "note"]
    path = Path(state, "phases.tsv")
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        p = dict(zip(cols, line.split("\t")))
        for k in ("start", "end"):
            p[k] = float(p[k]) if p.get(k) not in (None, "-", "") else None
        out.append(p)
    return out


def gpu_samples(raw):
    path = Path(raw, "gpu_memory.tsv")
    out = []
    if path.exists():
        for line in path.read_text().splitlines():
            t, _, used = line.partition("\t")
            try:
                out.append((float(t), sum(float(u) for u in used.split(",") if u.strip())))
            except ValueError:
                pass
    return out


def app_samples(raw):
    path = Path(raw, "gpu_apps.csv")
    out = []
    if path.exists():
        for row in csv.reader(path.read_text().splitlines()):
            try:
                out.append((float(row[0]), int(row[1]), float(row[2])))
            except (ValueError, IndexError):
                pass
    return out


def tables_of(wd, since=None):
    """{(file, method, variant, metric, column): mean} of results/tables/*.csv, and whether
    every file was written after ``since``."""
    rows, fresh = {}, True
    for path in sorted(glob.glob(os.path.join(wd, "results", "tables", "*.csv"))):
        if since is not None and os.path.getmtime(path) < since:
            fresh = False
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                if not r.get("mean"):
                    continue
                key = (Path(path).stem, r["method"], r["variant"], r["metric"], r["column"])
                try:
                    rows[key] = float(r["mean"])
                except ValueError:
                    pass
    return rows, fresh


def compare_tables(run, ref):
    mine, fresh = tables_of(run["wd"], run["start"])
    theirs, _ = tables_of(ref["wd"])
    if not mine:
        return None, "no tables"
    if not fresh:
        return None, "tables not rewritten by this run (it failed or stopped first)"
    common = sorted(set(mine) & set(theirs))
    if not common:
        return None, "no common rows"
    diffs = sorted(((abs(mine[k] - theirs[k]), k) for k in common), reverse=True)
    worst, key = diffs[0]
    where = "/".join(key[1:]) + f" ({key[0]})" if worst > 0 else "–"
    return {"rows": len(common), "max": worst, "worst": where,
            "over": sum(1 for d, _ in diffs if d > 5e-4),
            "only_run": len(set(mine) - set(theirs)), "only_ref": len(set(theirs) - set(mine)),
            "top": [(d, "/".join(k[1:]), mine[k], theirs[k]) for d, k in diffs[:8] if d > 0]}, ""


def slot_lines(run):
    out = []
    for path in sorted(glob.glob(os.path.join(run["wd"], "results", "logs", "**", "*.log"), recursive=True)):
        if run["start"] and os.path.getmtime(path) < run["start"]:
            continue
        for line in Path(path).read_text(errors="replace").splitlines():
            if "highlight_pipeline.gpu_slots" in line:
                rel = os.path.relpath(path, os.path.join(run["wd"], "results", "logs"))
                out.append((rel, line.split(" INFO ")[0], line.split(": ", 1)[-1]))
    return out


def pipeline_windows(run, jobs):
    """Windows per job-second of each backbone's features jobs, and device/amp from the shards."""
    try:
        import h5py
    except ImportError:
        return {}
    per = {}
    for job in jobs:
        if job["rule"] not in ("features", "saliency") or not job["end"] or not job["start"]:
            continue
        wc = dict(kv.split("=", 1) for kv in job["wildcards"].split(", ") if "=" in kv)
        name = wc.get("backbone", "?")
        seconds = (job["end"] - job["start"]).total_seconds()
        n, how = 0, ""
        for out in job["outputs"]:
            path = os.path.join(run["wd"], out)
            if not os.path.exists(path):
                continue
            with h5py.File(path, "r") as f:
                array = f.attrs.get("array", "windows")
                for g in f.values():
                    if hasattr(g, "keys") and array in g:
                        n += g[array].shape[0]
                try:
                    d = json.loads(f.attrs.get("preprocessing", "{}"))
                except (TypeError, ValueError):
                    d = {}
                how = f"{d['device']}, amp {d.get('amp')}" if "device" in d else "weight-free, CPU"
        s = per.setdefault(name, {"jobs": 0, "seconds": 0.0, "windows": 0, "how": how})
        s["jobs"] += 1
        s["seconds"] += seconds
        s["windows"] += n
        s["how"] = how or s["how"]
    return per


def check_summary(name, rec):
    """One line of what a device check found (its error, if it failed to run)."""
    if "error" in rec:
        return "error: " + rec["error"].replace("|", "/").replace("\n", " ")[:300]
    if name == "slots":
        jobs = "; ".join(f"{j.get('device')} slot {j.get('slot')}" for j in rec.get("jobs", []))
        return f"{rec.get('kind')}: {jobs}; distinct {rec.get('distinct_slots')}, together {rec.get('ran_together')}"
    if name == "amp-loud":
        return (f"{rec.get('clip')}; fp32: {rec.get('fp32')}; amp: {rec.get('amp')}; max abs "
                f"{fnum(rec.get('max_abs'), '{:.3g}')}, min cosine {fnum(rec.get('min_cosine'), '{:.6f}')}")
    if name == "resume":
        parts = []
        for key in ("resumed_without_gpus", "resumed_on_the_device"):
            r = rec.get(key)
            if isinstance(r, dict):
                res = r.get("result")
                epochs = len(res["losses"]) if isinstance(res, dict) else "?"
                parts.append(f"{key.replace('_', ' ')}: exit {r.get('exit')}, saved after epoch "
                             f"{r.get('saved_epoch')} with {r.get('cuda_states_saved')} CUDA state(s), {epochs} epochs")
            elif r is not None:
                parts.append(f"{key}: {str(r)[:120]}")
        parts.append(f"same device bit for bit: {rec.get('same_device_bitwise')}")
        return "; ".join(parts).replace("|", "/")
    if name == "pld":
        return (f"pinned {rec.get('pinned_batches')}; train {fnum(rec.get('train_s'))} s; scoring "
                f"{fnum(rec.get('score_windows_per_s_cuda'))} windows/s on the device, "
                f"{fnum(rec.get('score_windows_per_s_cpu'))} on the CPU; max abs vs CPU "
                f"{fnum(rec.get('max_abs_vs_cpu'), '{:.3g}')}; non-finite {rec.get('nonfinite')}; "
                f"{rec.get('scored_clips')} clips scored")
    if name == "fast-paths":
        rows = "; ".join(
            f"{r['backbone']} batch {r['batch']}: plain {fnum(r['windows_per_s_plain'])}, fast "
            f"{fnum(r['windows_per_s_fast'])} windows/s (x{r['windows_per_s_fast'] / r['windows_per_s_plain']:.2f}), "
            f"max abs {r['max_abs']:.3g}" for r in rec.get("rows", []))
        b = rec.get("batch_bound", {})
        return (f"{rows}; I3D windows a pass for batch_size 8 / 64: {b.get('i3d_batch_8')} / "
                f"{b.get('i3d_batch_64')} ({fnum(b.get('free_mib'), '{:.0f}')} MiB free)")
    return json.dumps(rec)[:300]


def report(state, out, repo):
    raw = Path(out, "raw")
    phases = phases_of(state)
    samples, apps = gpu_samples(raw), app_samples(raw)
    baseline = min((u for _, u in samples), default=None)
    by_name = {p["name"]: p for p in phases}
    L = ["# GPU rehearsal", "",
         "Written by `benchmarks/gpu_rehearsal.sh` (docs/performance.md, \"GPU rehearsal\"). "
         "Raw logs: `raw/` beside this file.", ""]
    machine = Path(state, "machine.txt")
    L += ["## Machine", "", "```"]
    L += (machine.read_text().splitlines() if machine.exists() else ["(not recorded)"])
    dev = raw / "device.csv"
    L += (dev.read_text().splitlines() if dev.exists() else [])
    L += ["```", ""]

    L += ["## Phases", "",
          "| phase | config | device | features.amp | --resources gpu | exit | wall s | peak GPU memory used, MiB (idle %s) | peak of one process, MiB | note |"
          % fnum(baseline, "{:.0f}"),
          "|---|---|---|---|---|---|---|---|---|---|"]
    for p in phases:
        wall = (p["end"] - p["start"]) if p["start"] and p["end"] else None
        peak = proc = None
        if p["start"] and p["end"]:
            inside = [u for t, u in samples if p["start"] <= t <= p["end"]]
            peak = max(inside, default=None)
            procs = [m for t, _, m in apps if p["start"] <= t <= p["end"]]
            proc = max(procs, default=None)
        L.append(f"| {p['name']} | {p['kind']} | {p['device']} | {p['amp']} | {p['gpus']} | {p['rc']} | "
                 f"{fnum(wall)} | {fnum(peak, '{:.0f}')} | {fnum(proc, '{:.0f}')} | {p['note']} |")
    L.append("")

    probe_path = raw / "probe.json"
    if probe_path.exists():
        pr = json.loads(probe_path.read_text())
        L += ["## Windows per second per backbone (probe)", "",
              f"Random weights, batch 8, {pr.get('video', '')} made by benchmarks/extract.py; "
              f"{pr.get('device')} with torch {pr.get('torch')} (CUDA {pr.get('cuda')}). Model: the network "
              "on ready batches (input already on the GPU, output copied back); end to end: "
              "`extract()` with decoding. Peak: torch.cuda.max_memory_allocated. "
              "AMP vs FP32: the same first batch through the same weights.", "",
              "| backbone | amp | model windows/s | end-to-end windows/s | video-s/s | peak allocated MiB | non-finite values | AMP vs FP32: max abs, relative, min cosine |",
              "|---|---|---|---|---|---|---|---|"]
        for r in pr.get("rows", []):
            vs = r.get("vs_fp32")
            vs_text = (f"{fnum(vs['max_abs'], '{:.3g}')}, {fnum(vs['rel'], '{:.3g}')}, {fnum(vs['min_cosine'], '{:.6f}')}"
                       if vs else "")
            nonfinite = str(r.get("nonfinite", "–"))
            if "nonfinite_silence" in r:
                nonfinite += f" (silence {r['nonfinite_silence']}, full-scale sine {r['nonfinite_full_scale']})"
            L.append(f"| {r['backbone']} | {r['amp']} | {fnum(r.get('model_windows_per_s'))} | "
                     f"{fnum(r.get('end_to_end_windows_per_s'))} | {fnum(r.get('end_to_end_video_s_per_s'), '{:.2f}')} | "
                     f"{fnum(r.get('peak_allocated_mib'), '{:.0f}')} | {nonfinite} | {vs_text} |")
        for note in pr.get("notes", []):
            L.append(f"\nprobe: {note}")
        L.append("")

    checks_path = raw / "checks.json"
    if checks_path.exists():
        found = json.loads(checks_path.read_text()).get("checks", {})
        L += ["## Device checks", "",
              "Each check in a few seconds (the `checks` phase; figures in `raw/checks.json`): two "
              "jobs leasing two slots at once, Cnn14 with AMP on a full-scale clip, a training job "
              "resumed with fewer devices visible, pld trained and scored on the device, and the "
              "CPU fast paths of I3D and TASED-Net on the device.", "",
              "| check | ok | seconds | found |", "|---|---|---|---|"]
        for name, rec in found.items():
            L.append(f"| {name} | {rec.get('ok')} | {fnum(rec.get('seconds'))} | {check_summary(name, rec)} |")
        L.append("")

    runs = [p for p in phases if p["kind"] in ("ci", "rehearsal") and p["wd"] not in ("-", "")]
    all_jobs = {p["name"]: jobs_of(raw / p["name"] / "snakemake.log") for p in runs}
    if runs:
        L += ["## Wall time per rule", "",
              "Seconds per rule in each run (sum over its jobs, jobs in brackets; Snakemake's "
              "log, 1 s resolution). A GPU run reruns only the jobs that ask for a GPU and what "
              "follows them.", ""]
        rules = []
        for p in runs:
            for j in all_jobs[p["name"]]:
                if j["rule"] not in rules:
                    rules.append(j["rule"])
        L += ["| rule | " + " | ".join(p["name"] for p in runs) + " |",
              "|---|" + "---|" * len(runs)]
        for rule in rules:
            cells = []
            for p in runs:
                done = [j for j in all_jobs[p["name"]] if j["rule"] == rule and j["end"] and j["start"]]
                secs = sum((j["end"] - j["start"]).total_seconds() for j in done)
                cells.append(f"{secs:.0f} ({len(done)})" if done else "")
            L.append(f"| {rule} | " + " | ".join(cells) + " |")
        L.append("")

        L += ["## Windows per second per backbone (pipeline jobs)", "",
              "Windows (maps for saliency) written by each backbone's jobs over their summed wall "
              "time (start-up, decoding and writing included); device and amp as the shards record them.", "",
              "| run | backbone | jobs | windows | job-seconds | windows/s | device, amp |",
              "|---|---|---|---|---|---|---|"]
        for p in runs:
            for name, s in pipeline_windows(p, all_jobs[p["name"]]).items():
                rate = s["windows"] / s["seconds"] if s["seconds"] else None
                L.append(f"| {p['name']} | {name} | {s['jobs']} | {s['windows']} | {s['seconds']:.0f} | {fnum(rate)} | {s['how']} |")
        L.append("")

        L += ["## GPU slot of each job", "",
              "The gpu_slots line of every job log this run wrote (`using cuda:i (GPU slot i of N, ...)`, "
              "`all N GPU slots ... are taken; waiting`, or why it ran on the CPU).", ""]
        for p in runs:
            if p["device"] == "cpu":
                continue
            lines = slot_lines(p)
            L.append(f"**{p['name']}** (--resources gpu={p['gpus']}):")
            L.append("")
            L += [f"- `{rel}` {t}: {msg}" for rel, t, msg in lines] or ["- (no gpu_slots line)"]
            L.append("")

        L += ["## Result tables against the CPU run", "",
              "`results/tables/*.csv`, column `mean`, rows matched by method, variant, metric and column.", "",
              "| run | against | rows | max abs difference | rows differing > 0.0005 | largest at | note |",
              "|---|---|---|---|---|---|---|"]
        details = []
        for p in runs:
            refs = []
            if p["base"] not in ("-", "") and p["base"] in by_name:
                refs.append(by_name[p["base"]])
            if p["gpus"] == "2":  # contention: also against the uncontended GPU run
                twin = p["name"].replace("gpu2", "gpu1")
                twin = twin if twin in by_name else twin.replace("-amp1", "-amp0")
                if twin in by_name and by_name[twin]["kind"] != "skipped":
                    refs.append(by_name[twin])
            for ref in refs:
                c, note = compare_tables(p, ref)
                if c is None:
                    L.append(f"| {p['name']} | {ref['name']} | | | | | {note} |")
                    continue
                L.append(f"| {p['name']} | {ref['name']} | {c['rows']} | {c['max']:.4g} | {c['over']} | {c['worst']} | "
                         f"{'rows only in one: %d / %d' % (c['only_run'], c['only_ref']) if c['only_run'] or c['only_ref'] else ''} |")
                if c["top"]:
                    details.append(f"{p['name']} against {ref['name']}: " + "; ".join(
                        f"{k} {a:.4f} vs {b:.4f}" for d, k, a, b in c["top"]))
        L.append("")
        L += [f"- {d}" for d in details]
        L.append("")
    Path(out, "gpu_rehearsal.md").write_text("\n".join(L) + "\n")


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "missing":
        missing(*args)
    elif command == "gpu-outputs":
        gpu_outputs(*args)
    elif command == "probe":
        probe(args[0], args[1], float(args[2]), args[3].split(","))
    elif command == "checks":
        checks(args[0], args[1], args[2], args[3], args[4].split(","))
    elif command == "report":
        report(*args)
    else:
        sys.exit(f"unknown command {command}")
PYTHON
}

# ---------------------------------------------------------------- main
main() {
    if [[ "${1:-}" == report ]]; then
        [[ -x "$VPY" && -f "$HELPER" ]] || die "no earlier run in $WORK"
        mkdir -p "$RAW"
        report
        say "wrote $OUT/gpu_rehearsal.md"
        return 0
    fi
    if [[ $DRY == 1 ]]; then
        say "dry run (GPU_REHEARSAL_DRY=1): the prerequisites, then the commands a run would run"
    fi
    check_prerequisites || say "some files are missing (above)"
    if [[ $DRY != 1 ]]; then
        rm -rf "$STATE" "$RAW"
        mkdir -p "$STATE" "$RAW" "$WORK"
        [[ "${GPU_REHEARSAL_UNSET_CVD:-0}" == 1 ]] && unset CUDA_VISIBLE_DEVICES
    fi
    say "output: $OUT/gpu_rehearsal.md, raw logs under $RAW; work folder $WORK"
    write_helper
    setup_venv
    [[ $DRY == 1 ]] || export PATH="$VENV/bin:$PATH" # the jobs' hlp
    device_info
    start_sampler
    [[ $DRY == 1 ]] || trap stop_sampler EXIT
    phase_probe
    phase_checks
    run_workflow ci-cpu ci - cpu false 99 "$CI_CONFIG"
    run_workflow ci-gpu1 ci ci-cpu cuda false 1 "$CI_CONFIG"
    run_workflow ci-gpu2 ci ci-cpu cuda false 2 "$CI_CONFIG"
    REH_OK=0
    phase_rehearsal_data
    if ((REH_OK)); then
        local reh=("${REH_CONFIGS[@]}" "$WORK/overlays/reh-root.yaml")
        run_workflow reh-cpu rehearsal - cpu false 99 "${reh[@]}"
        run_workflow reh-gpu1-amp0 rehearsal reh-cpu cuda false 1 "${reh[@]}"
        run_workflow reh-gpu1-amp1 rehearsal reh-cpu cuda true 1 "${reh[@]}"
        run_workflow reh-gpu2-amp1 rehearsal reh-cpu cuda true 2 "${reh[@]}"
    else
        say "rehearsal phases skipped (no rehearsal data)"
    fi
    stop_sampler
    report
    if [[ $DRY == 1 ]]; then
        say "dry run: nothing was run"
    else
        say "wrote $OUT/gpu_rehearsal.md ($(($(date +%s) - START)) s)"
    fi
}

main "$@"
