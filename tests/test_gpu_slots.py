"""GPU slot leases: real processes contend for flock'd slot files (fake slots, no CUDA needed)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from highlight_pipeline import gpu_slots
from highlight_pipeline.errors import ConfigError, PipelineError
from highlight_pipeline.gpu_slots import acquire_device

ROOT = Path(__file__).resolve().parents[1]
ENV_VARS = (
    "CUDA_VISIBLE_DEVICES",
    "HLP_FAKE_GPUS",
    "HLP_GPU_LOCK_DIR",
    "HLP_RUNTIME_MIN",
    "SLURM_JOB_ID",
)

# A job: lease a slot, print {"index", "start", "acquired"}, hold it, print {"end"}, exit.
HOLDER = textwrap.dedent(
    """
    import json, sys, time
    from highlight_pipeline.gpu_slots import lease_for_process
    start = time.time()
    lease = lease_for_process("auto")
    print(json.dumps({"index": lease.index, "device": lease.device, "start": start,
                      "acquired": time.time(), "pid": __import__("os").getpid()}), flush=True)
    time.sleep(float(sys.argv[1]))
    print(json.dumps({"end": time.time()}), flush=True)
    """
)


def _pythonpath(env: dict[str, str]) -> str:
    return os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


class Holder:
    """A child process that leases a fake slot and holds it ``hold`` seconds."""

    def __init__(self, lock_dir: Path, hold: float, fake_gpus: int = 2):
        env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
        env.update(
            HLP_FAKE_GPUS=str(fake_gpus),
            HLP_GPU_LOCK_DIR=str(lock_dir),
            PYTHONPATH=_pythonpath(env),
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(hold)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def line(self) -> dict:
        text = self.proc.stdout.readline()
        if not text:
            self.proc.wait(timeout=10)
            pytest.fail(f"holder exited early: {self.proc.stderr.read()}")
        return json.loads(text)

    def finish(self) -> dict:
        end = self.line()
        assert self.proc.wait(timeout=10) == 0, self.proc.stderr.read()
        return end

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture
def holders():
    started: list[Holder] = []

    def _start(*args, **kwargs) -> Holder:
        started.append(Holder(*args, **kwargs))
        return started[-1]

    yield _start
    for holder in started:
        holder.kill()


@pytest.fixture
def no_cuda():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this test needs a machine without CUDA")


def test_concurrent_jobs_get_distinct_slots_and_a_third_waits(tmp_path, holders):
    a = holders(tmp_path, hold=1.5)
    a_got = a.line()
    b = holders(tmp_path, hold=2.5)
    b_got = b.line()
    assert {a_got["index"], b_got["index"]} == {0, 1}
    assert a_got["device"] == b_got["device"] == "cpu"  # fake slots run on CPU
    lock_text = (tmp_path / f"gpu{a_got['index']}.lock").read_text()
    assert f"pid {a_got['pid']} on " in lock_text

    c = holders(tmp_path, hold=0)
    c_got = c.line()
    a_end, b_end = a.finish()["end"], b.finish()["end"]
    c.finish()
    # A and B held their (different) slots at the same time.
    assert max(a_got["acquired"], b_got["acquired"]) < min(a_end, b_end)
    # C tried while both were held, and got A's slot only once A had let it go.
    assert c_got["start"] < a_end
    assert c_got["acquired"] > a_end
    assert c_got["acquired"] < b_end + 0.5  # polled: did not wait for B as well
    assert c_got["index"] == a_got["index"]


def test_killed_holder_frees_its_slot_at_once(tmp_path, holders, monkeypatch):
    holder = holders(tmp_path, hold=60, fake_gpus=1)
    assert holder.line()["index"] == 0
    monkeypatch.setenv("HLP_FAKE_GPUS", "1")
    with pytest.raises(PipelineError):
        acquire_device(lock_dir=tmp_path, wait_seconds=0)  # held: taken
    holder.kill()
    with acquire_device(lock_dir=tmp_path, wait_seconds=0) as lease:
        assert (lease.index, lease.device) == (0, "cpu")
        assert "fake GPU slot 0" in lease.reason


def test_timeout_names_the_lock_dir(tmp_path, holders, monkeypatch):
    holder = holders(tmp_path, hold=30, fake_gpus=1)
    holder.line()
    monkeypatch.setenv("HLP_FAKE_GPUS", "1")
    t0 = time.monotonic()
    with pytest.raises(PipelineError, match="GPU slots") as info:
        acquire_device(lock_dir=tmp_path, wait_seconds=0.5, poll_seconds=0.05)
    assert 0.5 <= time.monotonic() - t0 < 3
    assert str(tmp_path) in str(info.value)
    assert "\n" not in str(info.value)


def test_release_is_idempotent_and_frees_the_slot(tmp_path, monkeypatch):
    monkeypatch.setenv("HLP_FAKE_GPUS", "1")
    with acquire_device(lock_dir=tmp_path) as lease:
        assert lease.index == 0 and lease.lock_path == tmp_path / "gpu0.lock"
        with pytest.raises(PipelineError):
            acquire_device(lock_dir=tmp_path, wait_seconds=0)
    lease.release()  # second release: no error
    acquire_device(lock_dir=tmp_path, wait_seconds=0).release()


def test_visible_devices_without_cuda_run_on_cpu_without_a_lock(tmp_path, monkeypatch, no_cuda):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    lease = acquire_device("auto", lock_dir=tmp_path / "locks")
    assert (lease.device, lease.index) == ("cpu", None)  # no CUDA on this machine
    assert "no CUDA device" in lease.reason and "CUDA_VISIBLE_DEVICES='3'" in lease.reason
    assert not (tmp_path / "locks").exists()


def test_fake_slots_ignore_cuda_visible_devices(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    monkeypatch.setenv("HLP_FAKE_GPUS", "1")
    with acquire_device(lock_dir=tmp_path) as lease:
        assert lease.index == 0
        assert (tmp_path / "gpu0.lock").exists()


def test_no_cuda_auto_runs_on_cpu_with_one_log_line(tmp_path, caplog, no_cuda):
    with caplog.at_level(logging.INFO, logger=gpu_slots.__name__):
        lease = acquire_device("auto", lock_dir=tmp_path)
    assert (lease.device, lease.index) == ("cpu", None)
    records = [r for r in caplog.records if r.name == gpu_slots.__name__]
    assert len(records) == 1
    assert "no CUDA device" in records[0].getMessage() and "CPU" in records[0].getMessage()
    assert list(tmp_path.iterdir()) == []


def test_no_cuda_cuda_request_is_a_one_line_error(tmp_path, no_cuda):
    with pytest.raises(ConfigError, match="no CUDA device") as info:
        acquire_device("cuda", lock_dir=tmp_path)
    assert "\n" not in str(info.value)


def test_unknown_request_and_cpu_request(tmp_path):
    with pytest.raises(ConfigError, match="'gpu'"):
        acquire_device("gpu", lock_dir=tmp_path)
    lease = acquire_device("cpu", lock_dir=tmp_path)
    assert (lease.device, lease.index) == ("cpu", None)
    assert list(tmp_path.iterdir()) == []


def test_module_imports_and_leases_without_torch(tmp_path):
    code = textwrap.dedent(
        """
        import os, sys
        sys.modules["torch"] = None  # any "import torch" now fails
        from highlight_pipeline.gpu_slots import acquire_device
        assert acquire_device("cpu").device == "cpu"
        os.environ["HLP_FAKE_GPUS"] = "1"
        assert acquire_device(lock_dir=sys.argv[1]).index == 0
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env["PYTHONPATH"] = _pythonpath(env)
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], env=env, cwd=ROOT, capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode()
