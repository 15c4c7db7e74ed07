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


def test_jobs_handed_at_once_are_submitted_highest_priority_first() -> None:
    """The plugin submits group jobs first, then the others by rule; wrapped, the jobs
    Snakemake hands it at once go to sbatch in the order of their priority (extraction
    before a run that needs none, ties in Snakemake's order), so that SLURM, which starts
    equal-priority jobs in submission order, starts them as a local run would."""
    assert slurm_executor.submission_in_priority_order()
    assert slurm_executor.submission_in_priority_order()  # again: nothing wrapped twice
    submitted: list[str] = []

    def job(name: str, priority: int, group: bool = False) -> SimpleNamespace:
        return SimpleNamespace(
            name=name,
            priority=priority,
            rule=SimpleNamespace(name=name.split(":")[0]),
            is_group=lambda: group,
        )

    executor = executor_with()
    executor.__dict__.update(
        _main_event_loop=None,
        array_jobs=[],
        logger=SimpleNamespace(debug=lambda *a: None),
        _submit_job=lambda job: submitted.append(job.name),
    )
    jobs = [
        job("run:random", 5, group=True),
        job("saliency:0", 10_000),
        job("features:logmel", 10_000),
        job("run:avph", 60, group=True),
        job("features:colormotion", 10_000),
    ]
    Executor.run_jobs(executor, jobs)
    assert submitted == [
        "saliency:0",
        "features:logmel",
        "features:colormotion",
        "run:avph",
        "run:random",
    ]
    # with array jobs the plugin's order stays (group jobs first, then one array per rule;
    # here no rule's jobs are arrays)
    submitted.clear()
    executor.workflow.executor_settings.array_jobs = "extract"
    Executor.run_jobs(executor, jobs)
    assert submitted == [
        "run:random",
        "run:avph",
        "saliency:0",
        "features:logmel",
        "features:colormotion",
    ]
