"""Pick a free GPU for this job: Snakemake counts ``--resources gpu=N`` but assigns no device.

Protocol (``acquire_device``), in order:

1. ``requested == "cpu"``: run on CPU, take no lock.
2. ``CUDA_VISIBLE_DEVICES`` set (a scheduler such as SLURM chose the devices): stand aside, take
   no lock, use ``cuda:0`` (the first visible device); without CUDA, ``auto`` runs on CPU and
   ``cuda`` raises ``ConfigError``.
3. Slots: ``HLP_FAKE_GPUS=N`` gives N fake slots (tests; the job still runs on CPU, and step 2
   is skipped); otherwise one slot per CUDA device (``torch.cuda.device_count()``).
4. No slots: ``auto`` runs on CPU (one info line); ``cuda`` raises ``ConfigError``.
5. Slot i is the file ``<lock_dir>/gpu<i>.lock``; a job owns slot i while it holds a
   non-blocking exclusive ``flock`` on it. Slots are tried 0..N-1; when all are taken the job
   polls every ``poll_seconds`` for up to ``wait_seconds``, then raises ``PipelineError``.
   The lock file holds the owner's pid and hostname, for humans only: the kernel drops the flock
   when the process exits or is killed, so a dead job never leaks a slot. Files are never
   deleted (unlinking a lock file would let two jobs lock different inodes of one slot).
6. ``lock_dir``: ``$HLP_GPU_LOCK_DIR``, else ``<tmpdir>/hlp-gpu-slots-<uid>``. Locks are per
   machine: jobs on one cluster node share that node's slots.

A job calls ``lease_for_process(config["device"])`` once at start and uses ``.device``.
"""

from __future__ import annotations

import atexit
import fcntl
import itertools
import logging
import os
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError, PipelineError

log = logging.getLogger(__name__)

REQUESTS = ("auto", "cpu", "cuda")


@dataclass
class DeviceLease:
    """A device for this job; while ``index`` is not None, it holds the lock on that slot."""

    device: str  # torch device string: "cpu", "cuda:0", ...
    index: int | None  # GPU slot index, None without a slot
    reason: str  # one line: why this device
    lock_path: Path | None = None
    _fd: int | None = field(default=None, repr=False, compare=False)

    def release(self) -> None:
        """Give the slot back (safe to call more than once)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> DeviceLease:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def default_lock_dir() -> Path:
    """``$HLP_GPU_LOCK_DIR``, else a per-user folder in the system temporary directory."""
    env = os.environ.get("HLP_GPU_LOCK_DIR")
    return Path(env) if env else Path(tempfile.gettempdir()) / f"hlp-gpu-slots-{os.getuid()}"


def _try_lock(path: Path) -> int | None:
    """An open descriptor holding the exclusive flock on ``path``, or None if another has it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
    return fd


def acquire_device(
    requested: str = "auto",
    *,
    lock_dir: str | Path | None = None,
    wait_seconds: float = 600.0,
    poll_seconds: float = 0.2,
) -> DeviceLease:
    """Choose the device for ``requested`` ("auto", "cpu" or "cuda"); see the module docstring."""
    if requested not in REQUESTS:
        raise ConfigError(f"device: {requested!r} is not one of {', '.join(REQUESTS)}")
    if requested == "cpu":
        return DeviceLease("cpu", None, "device: cpu was requested")
    fake = os.environ.get("HLP_FAKE_GPUS")
    if fake is None:
        import torch  # lazily: the module itself imports without torch

        cuda = torch.cuda.is_available()
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is not None:
            if requested == "cuda" and not cuda:
                raise ConfigError(
                    f"device: cuda was requested but CUDA_VISIBLE_DEVICES={visible!r} "
                    "gives no usable CUDA device"
                )
            where = "using cuda:0" if cuda else "but CUDA is unavailable; running on CPU"
            reason = f"the scheduler assigned CUDA_VISIBLE_DEVICES={visible!r}, {where}"
            log.info(reason)
            return DeviceLease("cuda:0" if cuda else "cpu", None, reason)
        slots = torch.cuda.device_count() if cuda else 0
    else:
        try:
            slots = int(fake)
        except ValueError:
            raise ConfigError(f"HLP_FAKE_GPUS={fake!r} is not a whole number") from None
    if slots <= 0:
        if requested == "cuda":
            raise ConfigError("device: cuda was requested but no CUDA device is available")
        reason = "no CUDA device is available, running on CPU"
        log.info(reason)
        return DeviceLease("cpu", None, reason)

    folder = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    for attempt in itertools.count():
        for i in range(slots):
            path = folder / f"gpu{i}.lock"
            fd = _try_lock(path)
            if fd is None:
                continue
            device, kind = ("cpu", "fake GPU slot") if fake else (f"cuda:{i}", "GPU slot")
            reason = f"{kind} {i} of {slots}, lock {path}"
            log.info("using %s (%s)", device, reason)
            return DeviceLease(device, i, reason, path, fd)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise PipelineError(
                f"all {slots} GPU slots in {folder} stayed taken for {wait_seconds:g} s; "
                "each lock file names its holder; is --resources gpu above the GPU count?"
            )
        if attempt == 0:
            log.info(
                "all %d GPU slots in %s are taken; waiting up to %g s", slots, folder, wait_seconds
            )
        time.sleep(min(poll_seconds, remaining))


_process_leases: dict[str, DeviceLease] = {}


def lease_for_process(requested: str) -> DeviceLease:
    """Acquire once per process (and request), hold until interpreter exit; later calls with
    the same request return that lease, so a job that asks twice keeps one slot."""
    if requested not in _process_leases:
        lease = acquire_device(requested)
        atexit.register(lease.release)
        _process_leases[requested] = lease
    return _process_leases[requested]


def current_lease() -> DeviceLease | None:
    """The lease this process holds on a GPU slot, if any (for records and tests)."""
    return next((x for x in _process_leases.values() if x.index is not None), None)
