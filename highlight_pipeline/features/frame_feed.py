"""pld's frames read ahead: one background thread reads and decompresses the next batches of
windows from the frame cache while the network computes, and hands them over through a
bounded queue.

Why a thread of its own: pld reads every window from the HDF5 frame cache
(``features/frames.py``, LZF chunks), and before this reader it opened the file and
decompressed the chunks in the training loop, one window at a time, while the network
waited. Here the reader thread owns the open files (:class:`~.frames.FrameFiles`: h5py is
not safe for concurrent access to one file from several threads, so no other thread
touches them) and runs ``load(files, job)`` for each job in order: pld's loads read the
windows of a batch and make its targets (its saliency maps are read there too). HDF5's
LZF decompression and numpy's copies release the GIL only in part, but the network's
kernels do, so reading overlaps the forward and backward passes.

For a CUDA device (``pin_device``; only when ``torch.cuda.is_available()``) each array of
a batch is copied into pinned (page-locked) host memory in the reader thread, with that
device current in the thread (so that no CUDA context is made on another job's GPU), and
the consumer's ``.to(device, non_blocking=True)`` is a DMA transfer that does not wait.

The batches come out exactly as a plain loop over the jobs would make them: the same
jobs, in the same order, the same bytes (``tests/test_frame_feed.py``). An exception in
the reader is raised in the consumer with its message (after the batches before it); an
exception in the consumer, or leaving the ``with`` block early, stops the reader and
joins its thread before the ``with`` block is left, so no thread outlives the feed.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

import numpy as np

from highlight_pipeline.features.frames import FrameFiles

J = TypeVar("J")

#: Batches read ahead of the one the network works on (the queue's size). One is enough
#: to hide the reading behind a training step; each costs a batch of uint8 windows of
#: host memory (at the paper's 384x224, 8 windows of 32 frames: 66 MB).
DEPTH = 1
_DONE = object()


class _Failure:
    """The reader's exception, wrapped so that it is told apart from a batch."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def pinned(batch: Any) -> Any:
    """``batch`` (an array or a tuple of arrays) as tensors in pinned host memory."""
    import torch

    if isinstance(batch, tuple):
        return tuple(pinned(part) for part in batch)
    if isinstance(batch, np.ndarray):
        return torch.from_numpy(batch).pin_memory()
    return batch


def pin_for(device: Any) -> bool:
    """Whether batches for ``device`` go through pinned memory: a CUDA device, and CUDA
    available in this process."""
    import torch

    return torch.device(device).type == "cuda" and torch.cuda.is_available()


class FrameFeed(Generic[J]):
    """``with FrameFeed(jobs, load) as batches: for batch in batches: ...``: the batches
    ``load(files, job)`` of ``jobs``, read by a background thread up to ``depth`` ahead
    (``files``: the :class:`~.frames.FrameFiles` the thread owns), in pinned memory for
    ``pin_device`` when it is a CUDA device (:func:`pin_for`)."""

    def __init__(
        self,
        jobs: Iterable[J],
        load: Callable[[FrameFiles, J], Any],
        depth: int = DEPTH,
        pin_device: Any = None,
        name: str = "frame-reader",
    ) -> None:
        self._jobs, self._load = jobs, load
        self._pin = pin_device if pin_device is not None and pin_for(pin_device) else None
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name=name, daemon=True)

    def _put(self, item: Any) -> bool:
        """Queue ``item`` unless the consumer has stopped; whether it was queued.

        The put blocks without a timeout: a reader that woke up every few milliseconds to
        look at ``_stop`` would take the GIL from the training thread each time, and on a
        loaded machine wait to be scheduled while holding it (pld's training ran 0.7 times
        as fast so). :meth:`close` makes room in the queue instead, so a blocked put
        returns and the reader sees ``_stop``."""
        if self._stop.is_set():
            return False
        self._queue.put(item)
        return not self._stop.is_set()

    def _read(self) -> None:
        files = FrameFiles()
        try:
            if self._pin is not None:
                import torch

                torch.cuda.set_device(torch.device(self._pin))  # this thread's current device
            for job in self._jobs:
                if self._stop.is_set():
                    return
                batch = self._load(files, job)
                if self._pin is not None:
                    batch = pinned(batch)
                if not self._put(batch):
                    return
            self._put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - raised again in the consumer
            self._put(_Failure(exc))
        finally:
            files.close()  # in the thread that opened them

    def _batches(self) -> Iterator[Any]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item

    def __enter__(self) -> Iterator[Any]:
        self._thread.start()
        return self._batches()

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop the reader and wait for its thread (it closes its files on the way out)."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get_nowait()  # make room for a reader blocked on a full queue
            except queue.Empty:
                self._thread.join(timeout=0.01)
