#!/usr/bin/env bash
# Post-deploy script of envs/pipeline.yaml: installs this repository's package into the
# conda environment that Snakemake has just created from that file (--sdm conda).
#
# How Snakemake (v9, snakemake/deployment/conda.py) runs it: once, after creating the
# environment, from a COPY at <conda-prefix>/<env hash>.post-deploy.sh (by default
# <working directory>/.snakemake/conda/), as `source activate <env>; /usr/bin/env bash COPY`
# in Snakemake's working directory (--directory), with no variables of its own. The
# script's text is part of the environment's hash: editing it builds a new environment.
#
# So the checkout cannot be found from this file's location alone. It is, in order:
#   1. $HLP_REPO, if set;
#   2. the working directory or a folder above it (snakemake run inside the checkout);
#   3. this file's folder or one above it (the script run by hand: bash envs/pipeline.post-deploy.sh);
#   4. the folder of the Snakefile of the snakemake process that runs this script
#      (`snakemake -s CHECKOUT/Snakefile -d ELSEWHERE`), read from /proc.
# A checkout is a folder with highlight_pipeline/__init__.py and a pyproject.toml naming
# the project highlight-pipeline.
#
# The install is editable (the environment runs the checkout's code, as .venv does; a copy
# would keep running old code after an edit, since Snakemake rebuilds the environment only
# when the env file or this script change), without dependencies (pipeline.yaml pins them)
# and without build isolation (setuptools comes from pipeline.yaml): it downloads nothing.
set -euo pipefail

is_checkout() {
    [[ -f "$1/highlight_pipeline/__init__.py" && -f "$1/pyproject.toml" ]] &&
        grep -q '^name = "highlight-pipeline"' "$1/pyproject.toml"
}

search_up() {  # the first folder from $1 upwards that is a checkout
    local dir
    dir=$(cd "$1" 2>/dev/null && pwd -P) || return 1
    while :; do
        if is_checkout "$dir"; then
            printf '%s\n' "$dir"
            return 0
        fi
        [[ "$dir" == / ]] && return 1
        dir=$(dirname "$dir")
    done
}

from_snakemake_process() {  # the Snakefile's folder of an ancestor snakemake process
    local pid=$PPID args i snakefile cwd
    while [[ -n "$pid" && "$pid" -gt 1 && -r "/proc/$pid/cmdline" ]]; do
        mapfile -d '' -t args <"/proc/$pid/cmdline" || true
        cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null || true)
        for ((i = 0; i < ${#args[@]}; i++)); do
            snakefile=""
            case "${args[i]}" in
                -s | --snakefile) snakefile="${args[i + 1]:-}" ;;
                --snakefile=*) snakefile="${args[i]#--snakefile=}" ;;
            esac
            if [[ -n "$snakefile" ]]; then
                [[ "$snakefile" == /* ]] || snakefile="$cwd/$snakefile"
                search_up "$(dirname "$snakefile")" && return 0
            fi
        done
        pid=$(awk '/^PPid:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    done
    return 1
}

find_checkout() {
    if [[ -n "${HLP_REPO:-}" ]]; then
        is_checkout "$HLP_REPO" && { (cd "$HLP_REPO" && pwd -P); return 0; }
        echo "pipeline.post-deploy.sh: HLP_REPO=$HLP_REPO is not a highlight-pipeline checkout" >&2
        return 1
    fi
    search_up "$PWD" && return 0
    search_up "$(dirname "${BASH_SOURCE[0]}")" && return 0
    from_snakemake_process && return 0
    return 1
}

if ! root=$(find_checkout); then
    echo "pipeline.post-deploy.sh: cannot find the highlight-pipeline checkout from $PWD;" \
        "set HLP_REPO=/path/to/the/checkout and run snakemake again" >&2
    exit 1
fi

echo "pipeline.post-deploy.sh: installing $root into ${CONDA_PREFIX:-the active environment}"
python -m pip install --no-deps --no-build-isolation --no-input -e "$root"
python -c "import highlight_pipeline" # the package imports in the environment
command -v hlp >/dev/null || {
    echo "pipeline.post-deploy.sh: hlp is not on PATH after the install" >&2
    exit 1
}
