"""The `hlp` console script ends with a quick exit (cli.entry): what a command printed and
logged is all there, and the exit codes are those of main()."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HLP = str(Path(sys.executable).with_name("hlp"))


def _hlp(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([HLP, *args], capture_output=True, text=True, cwd=cwd)


def test_a_long_output_into_a_pipe_is_complete():
    """stdout is flushed before os._exit: the last registry line arrives."""
    found = _hlp("methods")
    assert found.returncode == 0
    assert found.stdout.rstrip().endswith("overlay {}")
    assert found.stdout.count("\n") > 20


def test_usage_errors_and_pipeline_errors_keep_their_exit_codes(tmp_path):
    wrong = _hlp("nosuch")
    assert wrong.returncode == 2 and "invalid choice: 'nosuch'" in wrong.stderr
    assert _hlp("--help").returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("decode: {fps: -3}\n")
    refused = _hlp("check-config", str(bad), cwd=Path(__file__).parents[1])
    assert refused.returncode != 0 and "fps" in (refused.stdout + refused.stderr)


def test_a_log_line_written_last_reaches_the_log(tmp_path):
    """logging is shut down (its handlers flushed) before the quick exit."""
    out = tmp_path / "check.txt"
    code = (
        "import logging, sys\n"
        "from highlight_pipeline import cli\n"
        "cli.main = lambda: (logging.getLogger('x').warning('the last line'), 0)[1]\n"
        f"logging.basicConfig(filename={str(out)!r})\n"
        "cli.entry()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert out.read_text().strip().endswith("the last line")


@pytest.mark.parametrize("value, code", [("None", 0), ("5", 5), ("'no good'", 1)])
def test_sys_exit_values_become_exit_codes(value, code):
    script = (
        "import sys\n"
        "from highlight_pipeline import cli\n"
        f"def stop():\n    sys.exit({value})\n"
        "cli.main = stop\n"
        "cli.entry()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == code
    assert ("no good" in done.stderr) == (code == 1)
