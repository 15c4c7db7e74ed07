"""Lease a GPU for this job: Snakemake counts ``--resources gpu=N`` but assigns no device.

Protocol (``acquire_device``), in order:

1. ``requested == "cpu"``: run on CPU, take no lock.
2. The pool of devices. ``HLP_FAKE_GPUS=N`` gives N fake slots (tests; the job still runs
   on the CPU, and ``CUDA_VISIBLE_DEVICES`` is ignored). Otherwise the CUDA devices this
   process sees (``torch.cuda.device_count()``): with ``CUDA_VISIBLE_DEVICES`` set, the
   devices it lists, numbered as CUDA numbers them (the i-th listed device is ``cuda:i``;
   one listed device is a pool of one, ``cuda:0``); without it, every device.
3. An empty pool: ``auto`` runs on CPU (one info line); ``cuda`` raises ``ConfigError``.
4. Slot i of the pool is the file ``<lock_dir>/gpu<id>.lock``, where ``<id>`` names the
   device as the machine does: the i-th entry of ``CUDA_VISIBLE_DEVICES`` (an index or a
   UUID), else i. Jobs with different masks that see one device therefore compete for one
   lock (``CUDA_VISIBLE_DEVICES=2,3`` takes ``gpu2.lock`` for ``cuda:0``, as an unmasked
   job does for its ``cuda:2``). A job owns slot i while it holds a non-blocking exclusive
   ``flock`` on it. Slots are tried in pool order; when all are taken the job polls every
   ``poll_seconds`` as long as its own runtime allows (``HLP_RUNTIME_MIN``, the minutes the
   rules pass from their ``runtime`` resource, less the time the process has run; without
   it there is no limit), says every ``log_every`` seconds (a minute) that it still waits
   and who holds the slots, and past that raises ``PipelineError``. The lock file holds
   the owner's pid and hostname, for humans only: the kernel drops the flock when the
   process exits or is killed, so a dead job never leaks a slot. Files are never deleted
   (unlinking a lock file would let two jobs lock different inodes of one slot).
5. ``lock_dir``: ``$HLP_GPU_LOCK_DIR``, else ``<tmpdir>/hlp-gpu-slots-<uid>``, and inside a
   SLURM job ``...-slurm<SLURM_JOB_ID>``: SLURM gives each job devices of its own (and, with
   device cgroups, numbers them from 0 in every job), so jobs of different allocations never
   wait for each other, while the jobs of one allocation (``snakemake`` inside ``salloc``)
   share its pool. Locks are per machine: jobs on one node share that node's slots.

A job calls ``lease_for_process(config["device"], config["cuda"])`` once at start and uses
``.device``. On a CUDA device the lease also pins how torch computes there
(:func:`configure_cuda`: deterministic cuDNN, TF32 off, unless the config allows them); on
the CPU it touches nothing. ``lease.record()`` says what ran a job (models, metrics, shards).
"""

from __future__ import annotations

import atexit
import fcntl
import itertools
import logging
import os
import re
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError, PipelineError

log = logging.getLogger(__name__)

REQUESTS = ("auto", "cpu", "cuda")
#: ``config.cuda``'s defaults: results pinned (deterministic cuDNN, no TF32).
CUDA_DEFAULTS = {"deterministic": True, "tf32": False}
#: cuBLAS's fixed workspace for deterministic results (NVIDIA's documented value).
CUBLAS_WORKSPACE = ":4096:8"


@dataclass
class DeviceLease:
    """A device for this job; while ``index`` is not None, it holds the lock on that slot."""

    device: str  # torch device string: "cpu", "cuda:0", ...
    index: int | None  # GPU slot index (the device's place in the pool), None without a slot
    reason: str  # one line: why this device
    lock_path: Path | None = None
    ident: str | None = None  # the device as the machine names it (CUDA_VISIBLE_DEVICES)
    cuda: dict | None = None  # the CUDA settings applied (configure_cuda), on a CUDA device
    _fd: int | None = field(default=None, repr=False, compare=False)

    def release(self) -> None:
        """Give the slot back (safe to call more than once)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def record(self) -> dict:
        """What ran the job, for model files, metrics and shards: the torch device, its name
        (``provenance.device_name``: the leased GPU's, not the current one's), the slot and
        the device's machine id, and on a CUDA device the settings applied."""
        from highlight_pipeline.provenance import device_name

        found: dict = {"device": self.device, "name": device_name(self.device)}
        if self.index is not None:
            found.update(slot=self.index, id=self.ident)
        if self.cuda is not None:
            found["cuda"] = dict(self.cuda)
        return found

    def __enter__(self) -> DeviceLease:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def default_lock_dir() -> Path:
    """``$HLP_GPU_LOCK_DIR``, else a per-user folder in the system temporary directory, one
    per SLURM job inside one (step 5 of the module docstring)."""
    env = os.environ.get("HLP_GPU_LOCK_DIR")
    if env:
        return Path(env)
    name = f"hlp-gpu-slots-{os.getuid()}"
    slurm = os.environ.get("SLURM_JOB_ID", "").strip()
    if slurm:
        name += f"-slurm{_safe(slurm)}"
    return Path(tempfile.gettempdir()) / name


def visible_devices() -> list[str] | None:
    """The entries of ``CUDA_VISIBLE_DEVICES`` (None: unset). CUDA reads them up to the first
    it cannot use, so only the first ``torch.cuda.device_count()`` of them are devices."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return None
    return [entry.strip() for entry in visible.split(",") if entry.strip()]


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def runtime_wait_seconds() -> float | None:
    """How long this job may wait for a slot: its runtime (``HLP_RUNTIME_MIN``, minutes,
    from the rule's ``runtime`` resource) less the seconds the process has run so far; None
    (no limit) without it, as when ``hlp`` is run by hand."""
    text = os.environ.get("HLP_RUNTIME_MIN", "").strip()
    if not text:
        return None
    try:
        minutes = float(text)
    except ValueError:
        raise ConfigError(f"HLP_RUNTIME_MIN={text!r} is not a number of minutes") from None
    return max(0.0, minutes * 60.0 - _process_age())


def _process_age() -> float:
    """Seconds since this process started (Linux ``/proc``; 0 where it cannot be read)."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return max(0.0, uptime - started)


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


def _holders(paths: list[Path]) -> str:
    """``gpu0.lock: pid 12 on node1; ...``: who holds the slots, from their lock files."""
    found = []
    for path in paths:
        try:
            text = path.read_text().strip() or "?"
        except OSError:
            text = "?"
        found.append(f"{path.name}: {text}")
    return "; ".join(found)


def _pool(requested: str) -> tuple[list[str], bool, str]:
    """(the machine ids of the pool's devices, whether they are fake, where they came from)."""
    fake = os.environ.get("HLP_FAKE_GPUS")
    if fake is not None:
        try:
            return [str(i) for i in range(int(fake))], True, f"HLP_FAKE_GPUS={fake}"
        except ValueError:
            raise ConfigError(f"HLP_FAKE_GPUS={fake!r} is not a whole number") from None
    import torch  # lazily: the module itself imports without torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    listed = visible_devices()
    if listed is None:
        return [str(i) for i in range(count)], False, "every CUDA device of this machine"
    where = f"CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']!r}"
    return listed[:count], False, where


def acquire_device(
    requested: str = "auto",
    *,
    lock_dir: str | Path | None = None,
    wait_seconds: float | None = None,
    poll_seconds: float = 0.2,
    log_every: float = 60.0,
) -> DeviceLease:
    """Choose the device for ``requested`` ("auto", "cpu" or "cuda"); see the module
    docstring. ``wait_seconds``: the longest wait for a slot (default: the job's runtime,
    :func:`runtime_wait_seconds`; None there: no limit)."""
    if requested not in REQUESTS:
        raise ConfigError(f"device: {requested!r} is not one of {', '.join(REQUESTS)}")
    if requested == "cpu":
        return DeviceLease("cpu", None, "device: cpu was requested")
    ids, fake, where = _pool(requested)
    if not ids:
        if requested == "cuda":
            raise ConfigError(
                f"device: cuda was requested but no CUDA device is available ({where})"
            )
        reason = f"no CUDA device is available ({where}), running on CPU"
        log.info(reason)
        return DeviceLease("cpu", None, reason)

    if wait_seconds is None:
        wait_seconds = runtime_wait_seconds()
    folder = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"gpu{_safe(ident)}.lock" for ident in ids]
    start = time.monotonic()
    said = start
    limit = "no limit" if wait_seconds is None else f"up to {wait_seconds:g} s"
    for attempt in itertools.count():
        for i, path in enumerate(paths):
            fd = _try_lock(path)
            if fd is None:
                continue
            device, kind = ("cpu", "fake GPU slot") if fake else (f"cuda:{i}", "GPU slot")
            reason = f"{kind} {i} of {len(paths)} ({where}), lock {path}"
            log.info("using %s (%s)", device, reason)
            return DeviceLease(device, i, reason, path, ids[i], _fd=fd)
        now = time.monotonic()
        remaining = None if wait_seconds is None else start + wait_seconds - now
        if remaining is not None and remaining <= 0:
            raise PipelineError(
                f"all {len(paths)} GPU slots in {folder} stayed taken for {wait_seconds:g} s "
                f"(the job's runtime allows no longer); held by {_holders(paths)}; is "
                "--resources gpu above the GPU count?"
            )
        if attempt == 0:
            log.info(
                "all %d GPU slots in %s are taken (%s); waiting %s",
                len(paths),
                folder,
                _holders(paths),
                limit,
            )
        elif now - said >= log_every:
            said = now
            log.info(
                "still waiting for a GPU slot after %.0f s (%s); held by %s",
                now - start,
                limit,
                _holders(paths),
            )
        time.sleep(poll_seconds if remaining is None else min(poll_seconds, remaining))
    raise AssertionError("unreachable")


def configure_cuda(settings: dict | None = None) -> dict:
    """Pin how torch computes on CUDA in this process, before its first CUDA work; returns
    the settings applied (recorded with the results). ``settings`` is ``config.cuda``:

    * ``deterministic`` (default true): cuDNN picks deterministic algorithms and does not
      autotune (``benchmark`` off), cuBLAS gets a fixed workspace
      (``CUBLAS_WORKSPACE_CONFIG``, unless already set), and torch's deterministic mode is
      on (a warning, not an error, for an operation without a deterministic kernel). False:
      cuDNN autotunes (``benchmark`` on), which can change results from run to run.
    * ``tf32`` (default false): TF32 matmuls and cuDNN convolutions on Ampere and later
      (about 10 bits of mantissa instead of 23); off keeps float32 in float32.

    Called only for a CUDA device: on the CPU nothing is set (and nothing changes)."""
    import torch

    # cpu_fast_paths is read by the networks (features/backbones/fast_paths.py), not torch
    unknown = set(settings or {}) - set(CUDA_DEFAULTS) - {"cpu_fast_paths"}
    if unknown:
        raise ConfigError(f"cuda: unknown setting(s) {sorted(unknown)}")
    chosen = {**CUDA_DEFAULTS, **(settings or {})}
    deterministic, tf32 = bool(chosen["deterministic"]), bool(chosen["tf32"])
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    return {
        "deterministic": deterministic,
        "tf32": tf32,
        "cudnn_benchmark": not deterministic,
        "cublas_workspace": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    }


_process_leases: dict[str, DeviceLease] = {}


def lease_for_process(requested: str, cuda: dict | None = None) -> DeviceLease:
    """Acquire once per process (and request), hold until interpreter exit; later calls with
    the same request return that lease, so a job that asks twice (its feature extractors
    and its model, in ``hlp predict``) keeps one slot. On a CUDA device the first call also
    applies ``cuda`` (:func:`configure_cuda`)."""
    if requested not in _process_leases:
        lease = acquire_device(requested)
        atexit.register(lease.release)
        if lease.device.startswith("cuda"):
            lease.cuda = configure_cuda(cuda)
        _process_leases[requested] = lease
    return _process_leases[requested]


def current_lease() -> DeviceLease | None:
    """The lease this process holds on a GPU slot, if any (for records and tests)."""
    return next((x for x in _process_leases.values() if x.index is not None), None)
