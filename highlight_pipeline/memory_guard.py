"""Each job's memory, bounded by the job itself when no scheduler does it.

A rule's job runs ``HLP_MEM_MB={resources.mem_mb} HLP_ATTEMPT={resources.hlp_attempt} hlp
...``. On SLURM the job's cgroup enforces the same ``mem_mb`` (``--mem``), and the guard
stays aside (``SLURM_JOB_ID`` is set), so SLURM's own accounting records the kill. On a
workstation Snakemake's local executor only uses ``mem_mb`` to schedule jobs under
``--resources mem_mb=N``; there the guard bounds the job: a daemon thread reads the
resident memory of the ``hlp`` process and its child processes every
:data:`POLL_SECONDS`, and once it exceeds the limit it writes one line to stderr (the job's
log), raises :class:`OutOfMemory` in the main thread so that open outputs are removed as
for any error (``atomic_output``: nothing that looks finished stays), and ends the process
with :data:`EXIT_OUT_OF_MEMORY`. The profiles retry a failed job once with twice the
memory.

The per-rule figures live here, read by the rules (``workflow/rules/common.smk``
``job_resources``) under both profiles, and by the tests.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from highlight_pipeline.errors import PipelineError

# Memory (MB) and runtime (minutes) of a job's first attempt; each attempt multiplies both.
# Training jobs take theirs from their method's registry entry (MethodSpec.mem_mb,
# runtime_minutes) instead.
DEFAULT_LIMITS = (8000, 60)
RULE_LIMITS = {
    "features": (16000, 480),
    "saliency": (16000, 720),
    "score": (8000, 30),  # the scoring inside a train job (`hlp train --scores`), added to it
    # where its inputs cannot be read yet (a dry run); a job asks for pseudo_limits' figure
    "pseudo": (16000, 60),  # 9.9 GiB at 1,000,000 clips (docs/performance.md)
}
#: The pseudo job's memory besides the clip features it holds (its process, libraries,
#: the clustering; 0.3 GB on small datasets, 0.4 GB at 1,000,000 clips), in MB, and the
#: margin on the features: at 1,000,000 clips x 2560 float32 it holds 9.54 GiB of features
#: and peaks at 9.92 GiB (docs/performance.md)
PSEUDO_BASE_MB = 1000
PSEUDO_FEATURE_MARGIN = 1.25

EXIT_OUT_OF_MEMORY = 3  # 2 is a PipelineError, 1 an unexpected exception
POLL_SECONDS = 0.25
GRACE_SECONDS = 2.0  # for the main thread to unwind before the process is ended
MB = 1024 * 1024  # as SLURM reads --mem (MiB)
_PAGE = os.sysconf("SC_PAGE_SIZE")

_tripped = threading.Event()
_started = False


class OutOfMemory(BaseException):
    """Raised in the main thread when the guard stopped the command (a BaseException, so
    that ``except Exception`` in library code does not swallow it)."""


def rule_limits(rule: str, attempt: int = 1) -> tuple[int, int]:
    """(mem_mb, runtime in minutes) of a job of ``rule`` at ``attempt``."""
    mem_mb, minutes = RULE_LIMITS.get(rule, DEFAULT_LIMITS)
    return mem_mb * attempt, minutes * attempt


def extractor_limits(rule: str, extractor: str, attempt: int = 1) -> tuple[int, int]:
    """(mem_mb, runtime in minutes) of a features or saliency job of ``extractor`` at
    ``attempt``: the rule's, with the extractor's own memory where its registry entry names
    one (``ExtractorSpec.mem_mb``: the weight-free extractors need far less than a
    published network)."""
    from highlight_pipeline.features.extractors import get_extractor

    mem_mb, minutes = rule_limits(rule, attempt)
    own = get_extractor(extractor).mem_mb
    return (mem_mb if own is None else own * attempt), minutes


def pseudo_mem_mb(n_clips: int, dims: Sequence[int]) -> int:
    """First attempt's memory (MB) of a pseudo job over ``n_clips`` clips whose features
    have ``dims`` values per modality: it holds every clip's features in float32."""
    features = n_clips * sum(dims) * 4 / MB
    return int(PSEUDO_BASE_MB + PSEUDO_FEATURE_MARGIN * features + 0.5)


def pseudo_limits(
    clips: str | Path, shards: Sequence[Sequence[str | Path]], attempt: int = 1
) -> tuple[int, int]:
    """(mem_mb, runtime in minutes) of a pseudo job at ``attempt``, sized from its inputs:
    the rows of ``clips`` (clips.csv) and the width of each modality's features (the first
    entry of its first shard, ``shards``: one list of shard paths per modality). Before the
    inputs exist (a dry run plans the job) the rule's figure, ``RULE_LIMITS``."""
    _, minutes = rule_limits("pseudo", attempt)
    try:
        with open(clips, "rb") as table:
            n_clips = max(0, sum(1 for _ in table) - 1)  # the header
        dims = [_feature_width(paths) for paths in shards]
    except OSError:
        return rule_limits("pseudo", attempt)
    return pseudo_mem_mb(n_clips, dims) * attempt, minutes


def _feature_width(shard_paths: Sequence[str | Path]) -> int:
    """Values per window of a modality's shards (0 where no shard holds a video)."""
    import h5py

    for path in shard_paths:
        with h5py.File(path, "r") as shard:
            array = shard.attrs.get("array", "windows")
            for name in shard:
                entry = shard[name]
                if isinstance(entry, h5py.Group) and array in entry and entry[array].ndim == 2:
                    if entry[array].shape[1]:
                        return int(entry[array].shape[1])
    return 0


def _statm(pid: int | str) -> tuple[int, int]:
    """(resident, shared) pages of a process; (0, 0) once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/statm").read_text().split()
    except OSError:
        return 0, 0
    return int(fields[1]), int(fields[2])


def descendants(pid: int | str = "self") -> list[int]:
    """The live child processes of ``pid``, their children, and so on."""
    found: list[int] = []
    todo = [str(pid)]
    while todo:
        current = todo.pop()
        try:
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            found += [int(c) for c in children]
            todo += children
    return found


def resident_mb() -> float:
    """Resident memory of this process and its descendants, in MB. A child counts only its
    pages that are not file-backed (its copy of the parent's libraries is shared)."""
    pages = _statm("self")[0]
    for child in descendants():
        resident, shared = _statm(child)
        pages += resident - shared
    return pages * _PAGE / MB


def tripped() -> bool:
    """Whether the guard has stopped this process's command."""
    return _tripped.is_set()


def _limit_from_environment() -> float | None:
    text = os.environ.get("HLP_MEM_MB", "").strip()
    if not text or os.environ.get("SLURM_JOB_ID"):
        return None
    try:
        limit = float(text)
    except ValueError:
        limit = 0.0
    if not limit > 0:
        raise PipelineError(f"HLP_MEM_MB must be a positive number of MB, not {text!r}")
    return limit


def _kill_descendants() -> None:
    for child in descendants():
        try:
            os.kill(child, signal.SIGKILL)
        except OSError:
            pass


def _raise_out_of_memory(signum, frame) -> None:
    raise OutOfMemory("the job's memory limit was exceeded")


class _Guard:
    def __init__(self, command: str, limit_mb: float, attempt: str) -> None:
        self.command = command
        self.limit_mb = limit_mb
        self.attempt = attempt
        self.main_thread = threading.main_thread().ident

    def over(self) -> float | None:
        used = resident_mb()
        return used if used > self.limit_mb else None

    def message(self, used: float) -> str:
        return (
            f"hlp {self.command}: out of memory: {used:.0f} MB resident > the job's mem_mb "
            f"{self.limit_mb:g} (attempt {self.attempt}); Snakemake retries it with more "
            "while retries are left\n"
        )

    def trip(self, used: float) -> None:
        _tripped.set()
        os.write(2, self.message(used).encode())  # no lock the main thread might hold

    def watch(self, interrupt: bool) -> None:
        while (used := self.over()) is None:
            time.sleep(POLL_SECONDS)
        self.trip(used)
        if interrupt:
            signal.pthread_kill(self.main_thread, signal.SIGUSR1)
        _kill_descendants()  # a process pool the main thread waits on fails too
        time.sleep(GRACE_SECONDS)
        os._exit(EXIT_OUT_OF_MEMORY)  # still running: stuck in native code


def _own_peak_kib() -> int:
    """This process's high-water mark of resident memory (``VmHWM``, KiB). Not
    ``ru_maxrss``: Linux carries that across fork and exec, so a process started from a
    large one (pytest, a notebook) would report its parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_mb() -> float:
    """The most resident memory this process (``VmHWM``), or any one child it waited for
    (``getrusage``), has used, in MB."""
    import resource

    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return max(_own_peak_kib(), child) * 1024 / MB


def peak_line(command: str) -> str | None:
    """A job's last log line, ``hlp COMMAND: peak memory N MB of the job's mem_mb M``, when
    it runs as a pipeline job (``$HLP_MEM_MB`` set, also under SLURM); None otherwise. It
    tells what to give a rule with ``--set-resources RULE:mem_mb=...``."""
    text = os.environ.get("HLP_MEM_MB", "").strip()
    if not text:
        return None
    return f"hlp {command}: peak memory {peak_mb():.0f} MB of the job's mem_mb {text}"


def start(command: str) -> None:
    """Bound this process by ``$HLP_MEM_MB`` (no-op without it, under SLURM, or when
    started already). Raises :class:`OutOfMemory` when the process is over it already."""
    global _started
    limit = _limit_from_environment()
    if limit is None or _started:
        return
    _started = True
    guard = _Guard(command, limit, os.environ.get("HLP_ATTEMPT", "?").strip() or "?")
    used = guard.over()
    if used is not None:
        guard.trip(used)
        raise OutOfMemory("the job's memory limit was exceeded")
    interrupt = threading.current_thread() is threading.main_thread()
    if interrupt:
        signal.signal(signal.SIGUSR1, _raise_out_of_memory)
    threading.Thread(
        target=guard.watch, args=(interrupt,), name="hlp-memory-guard", daemon=True
    ).start()
