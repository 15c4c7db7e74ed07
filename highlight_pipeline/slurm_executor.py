"""Three changes to snakemake-executor-plugin-slurm's executor that make a SLURM run of the
workflow cost close to its work (docs/slurm.md, "What a SLURM job costs").

``steady_status_checks``: the plugin checks its jobs' states, waits, checks again. After a
check that found a job finished it waits ``init_seconds_before_status_checks``
(``--slurm-init-seconds-before-status-checks``); after one that found none, 10 s more than
the last wait (up to 180 s). With jobs of seconds to minutes each step of the workflow then
waits for a check long after its job ended: the checks come 1, 12, 33, 64 s after the last
finish with the CI setting of 1 s. Wrapped, the wait after every check is
``init_seconds_before_status_checks``: a finished job is seen within that many seconds (one
``squeue`` or ``sacct`` call per wait for the whole run, not per job; profiles/slurm sets 5).

``jobs_run_in_their_allocation``: the plugin's SLURM job runs ``snakemake --executor
slurm-jobstep --jobs 1``, which starts every job of it with ``srun ... snakemake`` once
more: two Snakemake start-ups (imports, parsing the Snakefile, the plan) per rule job, and
the jobs of a group job one after the other. Wrapped, the SLURM job's Snakemake runs its
jobs itself, as the inner one would (Snakemake's local executor in remote mode, inside the
allocation's cgroup, with its CPUs, memory and GPUs): one start-up per SLURM job, and a
group's jobs side by side as far as its resources (which Snakemake computed for that) allow.
Array jobs (``--slurm-array-jobs``) keep the job-step executor, which reads their commands.

``submission_in_priority_order``: the plugin submits the jobs Snakemake hands it at once in
its own order (group jobs first, then the others by rule), and SLURM starts jobs of equal
priority in the order they were submitted. Wrapped, they are submitted in the order of
their Snakemake ``priority`` (highest first; ties in Snakemake's order): feature extraction,
then pseudo-labels, then the longest trainings (workflow/rules/common.smk), as a local run
starts them (the plugin runs two ``sbatch`` at a time, so neighbours in that order may
swap). Array jobs keep the plugin's order (one array per rule).

All three are called from the Snakefile (workflow/rules/common.smk), so the login node's
Snakemake makes them before it submits anything. They change nothing where the plugin is
not installed, or where its executor no longer has the methods and attributes they wrap (a
newer plugin that changed them keeps its own behaviour).
"""

from __future__ import annotations

import inspect
from itertools import groupby

_WRAPPED = "_hlp_wrapped"


def _executor():
    """The plugin's executor class, or None where the plugin is not installed."""
    try:
        from snakemake_executor_plugin_slurm import Executor
    except ImportError:
        return None
    return Executor


def _wrap(name: str, wrapper_of, fits=lambda original: True) -> bool:
    """Replaces the plugin executor's method ``name`` by ``wrapper_of(original)``, once, where
    the plugin is installed, has that method and ``fits(original)``. Returns whether the
    method is (now) wrapped."""
    executor = _executor()
    original = getattr(executor, name, None)
    if original is None:
        return False
    if getattr(original, _WRAPPED, False):
        return True
    if not fits(original):
        return False
    wrapper = wrapper_of(original)
    setattr(wrapper, _WRAPPED, True)
    wrapper.__doc__ = original.__doc__
    setattr(executor, name, wrapper)
    return True


def steady_status_checks() -> bool:
    """Makes the SLURM executor wait its initial interval after every status check.
    Returns whether the plugin's executor is (now) wrapped."""

    def wrapper_of(original):
        async def check_active_jobs(self, active_jobs):
            async for job in original(self, active_jobs):
                yield job
            settings = self.workflow.executor_settings
            steady = getattr(settings, "init_seconds_before_status_checks", None)
            if isinstance(steady, int) and steady > 0:
                self.next_seconds_between_status_checks = steady

        return check_active_jobs

    return _wrap("check_active_jobs", wrapper_of, inspect.isasyncgenfunction)


def jobs_run_in_their_allocation() -> bool:
    """Makes a SLURM job's Snakemake run its jobs itself instead of through the job-step
    executor (``srun`` and one more Snakemake per job). Returns whether it is (now) so."""

    def wrapper_of(original):
        def additional_general_args(self):
            args = original(self)
            settings = self.workflow.executor_settings
            if getattr(settings, "array_jobs", None) or not args.startswith(
                "--executor slurm-jobstep --jobs 1"
            ):
                return args  # array jobs, or a plugin whose arguments are not known here
            return ""  # what follows is the job-step executor's own settings

        return additional_general_args

    return _wrap("additional_general_args", wrapper_of)


def submission_in_priority_order() -> bool:
    """Makes the SLURM executor submit the jobs it is handed at once highest Snakemake
    priority first. Returns whether it is (now) so."""

    def wrapper_of(original):
        def run_jobs(self, jobs):
            if getattr(self.workflow.executor_settings, "array_jobs", None):
                return original(self, jobs)  # one array per rule: the plugin's own order
            ordered = sorted(jobs, key=lambda job: -job.priority)  # stable: ties keep order
            for _, batch in groupby(ordered, key=lambda job: job.priority):
                original(self, list(batch))

        return run_jobs

    return _wrap("run_jobs", wrapper_of)
