"""One line per failed job at the end of a failed run."""

from __future__ import annotations

import io

from highlight_pipeline.failures import failed_jobs, first_error_line, report_failures

# The shape of Snakemake 9's error block (taken from a real run, paths shortened).
SNAKEMAKE_LOG = """\
[Tue Dec  1 15:53:40 2026]
Error in rule clips:
    message: None
    jobid: 6
    input: results/mine/manifest.csv, data/highlights.csv
    output: results/mine/clips.csv
    log: {clips_log} (check log file(s) for error details)
    shell:
        hlp clips --reader folder --out results/mine/clips.csv 2> {clips_log}
        (command exited with non-zero exit code)
Logfile {clips_log}:
================================================================================
Execute 1 jobs...
Error in rule train:
    jobid: 9
    wildcards: dataset=mine, method=avph, variant=av-ph, split=default, seed=0
    log: {train_log}, other.log (check log file(s) for error details)
Exiting because a job execution failed. Look above for error messages
"""


def test_failed_jobs_and_their_first_error_lines(tmp_path):
    clips_log, train_log = tmp_path / "clips.log", tmp_path / "train.log"
    clips_log.write_text("progress 10%\nhlp clips: error: highlights.csv: line 4 (video 'x')\n")
    train_log.write_text("Traceback (most recent call last):\n  ...\nRuntimeError: out of memory\n")
    text = SNAKEMAKE_LOG.format(clips_log=clips_log, train_log=train_log)
    jobs = failed_jobs(text)
    assert [(j.rule, j.log) for j in jobs] == [("clips", str(clips_log)), ("train", str(train_log))]
    assert jobs[1].wildcards.startswith("dataset=mine, method=avph")
    assert first_error_line(clips_log) == "hlp clips: error: highlights.csv: line 4 (video 'x')"
    assert first_error_line(train_log) == "RuntimeError: out of memory"  # no CLI line: the last
    log = tmp_path / "snakemake.log"
    log.write_text(text)
    out = io.StringIO()
    lines = report_failures([str(log)], out)
    assert len(lines) == 2 and "2 job(s) failed:" in out.getvalue()
    assert lines[0].startswith("failed: clips: hlp clips: error: highlights.csv: line 4")
    assert lines[1].startswith("failed: train (dataset=mine, method=avph")
    assert report_failures(tmp_path / "missing.log", io.StringIO()) == []
