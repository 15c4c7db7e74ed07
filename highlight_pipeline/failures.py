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
FIELD = re.compile(r"^\s+(?P<key>wildcards|log): (?P<value>.*)$")


@dataclass(frozen=True)
class FailedJob:
    rule: str
    wildcards: str
    log: str  # "" when the rule has no log


def failed_jobs(snakemake_log: str) -> list[FailedJob]:
    """The failed jobs of a Snakemake log's text, in the order they failed."""
    jobs: list[FailedJob] = []
    current: dict[str, str] | None = None
    for line in snakemake_log.splitlines():
        start = ERROR_BLOCK.match(line)
        if start:
            if current is not None:
                jobs.append(FailedJob(**current))
            current = {"rule": start["rule"], "wildcards": "", "log": ""}
            continue
        if current is None:
            continue
        field = FIELD.match(line)
        if field:
            value = field["value"].split(" (check log file")[0].strip()
            current[field["key"]] = value.split(",")[0] if field["key"] == "log" else value
        elif line and not line.startswith(" "):  # the block ended
            jobs.append(FailedJob(**current))
            current = None
    if current is not None:
        jobs.append(FailedJob(**current))
    return jobs


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
