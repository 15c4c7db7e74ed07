"""The Makefile's environment for its commands (the README's `make run` and `make test`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")
def test_make_commands_write_bytecode_where_the_machine_turns_it_off():
    """Where PYTHONDONTWRITEBYTECODE is set (CI machines, Docker images), the make targets'
    processes still write the bytecode of what they import: nothing compiles the
    environment's modules at install any more, so without this every job of `make run`
    would compile torch and pandas from source again (Makefile, docs/performance.md)."""
    probe = 'probe: ; @python3 -c "import sys; print(sys.dont_write_bytecode)"'
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    found = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "--eval", probe, "probe"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip() == "False"
    outside = subprocess.run(
        ["python3", "-c", "import sys; print(sys.dont_write_bytecode)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert outside.stdout.strip() == "True"  # the probe would see it without the Makefile
