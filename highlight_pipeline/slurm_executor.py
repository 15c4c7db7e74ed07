"""Two changes to snakemake-executor-plugin-slurm's executor that make a SLURM run of the
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

Both are called from the Snakefile (workflow/rules/common.smk), so the login node's
Snakemake makes them before it submits anything. They change nothing where the plugin is
not installed, or where its executor no longer has the methods and attributes they wrap (a
newer plugin that changed them keeps its own behaviour).
"""

from __future__ import annotations

import inspect

_WRAPPED = "_hlp_wrapped"


def _executor():
    """The plugin's executor class, or None where the plugin is not installed."""
    try:
        from snakemake_executor_plugin_slurm import Executor
    except ImportError:
        return None
    return Executor


def steady_status_checks() -> bool:
    """Makes the SLURM executor wait its initial interval after every status check.
    Returns whether the plugin's executor is (now) wrapped."""
    executor = _executor()
    original = getattr(executor, "check_active_jobs", None)
    if original is None:
        return False
    if getattr(original, _WRAPPED, False):
        return True
    if not inspect.isasyncgenfunction(original):
        return False

    async def check_active_jobs(self, active_jobs):
        async for job in original(self, active_jobs):
            yield job
        settings = self.workflow.executor_settings
        steady = getattr(settings, "init_seconds_before_status_checks", None)
        if isinstance(steady, int) and steady > 0:
            self.next_seconds_between_status_checks = steady

    setattr(check_active_jobs, _WRAPPED, True)
    check_active_jobs.__doc__ = original.__doc__
    executor.check_active_jobs = check_active_jobs
    return True


def jobs_run_in_their_allocation() -> bool:
    """Makes a SLURM job's Snakemake run its jobs itself instead of through the job-step
    executor (``srun`` and one more Snakemake per job). Returns whether it is (now) so."""
    executor = _executor()
    original = getattr(executor, "additional_general_args", None)
    if original is None:
        return False
    if getattr(original, _WRAPPED, False):
        return True

    def additional_general_args(self):
        args = original(self)
        settings = self.workflow.executor_settings
        if getattr(settings, "array_jobs", None) or not args.startswith(
            "--executor slurm-jobstep --jobs 1"
        ):
            return args  # array jobs, or a plugin whose arguments are not known here
        return ""  # what follows is the job-step executor's own settings

    setattr(additional_general_args, _WRAPPED, True)
    executor.additional_general_args = additional_general_args
    return True
