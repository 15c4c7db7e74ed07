"""After a failed Snakemake run: one line per failed job, at the end of the console.

With ``keep-going`` a failing job's message scrolls away under the jobs that go on, and
Snakemake ends with "Look above for error messages". The Snakefile's ``onerror`` handler
calls :func:`report_failures` with Snakemake's own log: for every ``Error in rule ...``
block there it names the rule, its wildcards and the first error line of the job's log
(the CLI writes one ``hlp STEP: error: ...`` line; for anything else, the log's last line).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

ERROR_BLOCK = re.compile(r"^Error in rule (?P<rule>\S+):\s*$")
FIELD = re.compile(r"^\s+(?P<key>wildcards|log|jobid): (?P<value>.*)$")
RESTART = re.compile(r"^Trying to restart job (?P<jobid>\d+)\.")


@dataclass(frozen=True)
class FailedJob:
    rule: str
    wildcards: str
    log: str  # "" when the rule has no log


def failed_jobs(snakemake_log: str) -> list[FailedJob]:
    """The failed jobs of a Snakemake log's text, in the order they failed. An attempt that
    Snakemake retried (``Trying to restart job N.``, the profiles' ``retries``) is left
    out: the job is listed once if its last attempt failed too, else not at all."""
    jobs: list[tuple[str, FailedJob]] = []  # (jobid, job)
    current: dict[str, str] | None = None
    jobid = ""
    for line in snakemake_log.splitlines():
        start = ERROR_BLOCK.match(line)
        if current is not None and (start or (line and not line.startswith(" "))):
            jobs.append((jobid, FailedJob(**current)))  # the block ended
            current = None
        restart = RESTART.match(line)
        if restart:
            retried = [i for i, (n, _) in enumerate(jobs) if n == restart["jobid"]]
            if retried:
                del jobs[retried[-1]]
        if start:
            current, jobid = {"rule": start["rule"], "wildcards": "", "log": ""}, ""
            continue
        if current is None:
            continue
        field = FIELD.match(line)
        if field and field["key"] == "jobid":
            jobid = field["value"].strip()
        elif field:
            value = field["value"].split(" (check log file")[0].strip()
            current[field["key"]] = value.split(",")[0] if field["key"] == "log" else value
    if current is not None:
        jobs.append((jobid, FailedJob(**current)))
    return [job for _, job in jobs]


def first_error_line(log: str | Path) -> str:
    """The job log's first ``... error: ...`` line, else its last non-empty line."""
    try:
        lines = [x.strip() for x in Path(log).read_text(errors="replace").splitlines()]
    except OSError:
        return "(no log file)"
    lines = [x for x in lines if x]
    for line in lines:
        if ": error: " in line:
            return line
    return lines[-1] if lines else "(empty log)"


def report_failures(
    snakemake_log: str | Path | list[str | Path], out: TextIO = sys.stderr
) -> list[str]:
    """Print (and return) one line per failed job of the run whose log is given (the
    ``log`` of ``onerror``: one path, or a list of them, depending on Snakemake's version)."""
    paths = snakemake_log if isinstance(snakemake_log, list | tuple) else [snakemake_log]
    text = ""
    for path in paths:
        try:
            text += Path(path).read_text(errors="replace") + "\n"
        except OSError:
            continue
    lines = []
    for job in failed_jobs(text):
        where = f"{job.rule} ({job.wildcards})" if job.wildcards else job.rule
        message = first_error_line(job.log) if job.log else "(the rule has no log)"
        lines.append(f"failed: {where}: {message}" + (f"  [{job.log}]" if job.log else ""))
    if lines:
        print(f"\n{len(lines)} job(s) failed:", file=out)
        for line in lines:
            print(f"  {line}", file=out)
    return lines
