"""highlight_pipeline/slurm_executor.py on the installed snakemake-executor-plugin-slurm:
both changes apply (the Snakefile makes them at parse time), once, and a SLURM job's
command runs its jobs in the job itself, except for array jobs. tests/test_slurm.py runs
them on a real cluster (one Snakemake per SLURM job, finished jobs seen within seconds)."""

from __future__ import annotations

from types import SimpleNamespace

from snakemake_executor_plugin_slurm import Executor

from highlight_pipeline import slurm_executor


def executor_with(**settings) -> SimpleNamespace:
    """What the wrapped method reads of an executor: its workflow's executor settings."""
    defaults = {"array_jobs": None, "pass_command_as_script": False}
    return SimpleNamespace(
        workflow=SimpleNamespace(executor_settings=SimpleNamespace(**{**defaults, **settings}))
    )


def test_both_changes_apply_once() -> None:
    assert slurm_executor.steady_status_checks()
    assert slurm_executor.jobs_run_in_their_allocation()
    wrapped = (Executor.check_active_jobs, Executor.additional_general_args)
    assert slurm_executor.steady_status_checks()  # again: nothing wrapped twice
    assert slurm_executor.jobs_run_in_their_allocation()
    assert (Executor.check_active_jobs, Executor.additional_general_args) == wrapped


def test_a_slurm_job_runs_its_jobs_itself_except_array_jobs() -> None:
    slurm_executor.jobs_run_in_their_allocation()
    # the plugin's own arguments would start the job-step executor: srun + Snakemake per job
    assert Executor.additional_general_args(executor_with()) == ""
    assert Executor.additional_general_args(executor_with(pass_command_as_script=True)) == ""
    # array jobs read their commands in the job-step executor: left as they are
    args = Executor.additional_general_args(executor_with(array_jobs="all"))
    assert args == "--executor slurm-jobstep --jobs 1"
