"""Resumable training: a job's state after each epoch, so that a killed job goes on from
its last finished epoch instead of epoch 1.

``hlp train --out M.pt`` keeps the state in ``M.pt.resume`` (written atomically after an
epoch once ``HLP_CHECKPOINT_SECONDS``, 10 by default, have passed since the job started or
last saved, so a kill loses at most that much work plus one epoch; removed once the model
file is written). Saving after every epoch cost small models more than their training (a
state write is 30 to 70 ms here: 3.4 s of chd's 35 s on the embedded default). A large
state waits longer, so that writing it takes at most ``MAX_SHARE`` of the job: pld's
TASED-Net with Adam's two moments is 255 MB, about 0.5 s a write, so it is saved every
25 s or so instead of every 10 (a kill loses that much more). It holds
the network and optimiser state, the numpy and torch random states, the losses so far,
and a *key*: the resolved run, the seed and the size and modification time of every
input file. A state whose key differs (another config, re-extracted features) is ignored,
with a log line, and training starts afresh. A resumed run gives the same model, bit for
bit, as one that was never stopped: every random draw after the saved epoch comes from
the saved generator states.

Methods opt in by accepting a ``checkpoint`` keyword in ``fit`` (methods from outside the
package that do not keep their old signature and simply restart)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from highlight_pipeline.errors import ModelFileError
from highlight_pipeline.methods.optim import Optimiser
from highlight_pipeline.methods.state_files import (
    expect_keys,
    load_network_state,
    one_line,
    read_torch_file,
)

log = logging.getLogger(__name__)

FORMAT = 2  # 2: the optimiser state is methods.optim's
STATE_KEYS = (
    "format",
    "key",
    "epoch",
    "net",
    "optimiser",
    "numpy_rng",
    "torch_rng",
    "cuda_rng",
    "losses",
)
EVERY_SECONDS = 10.0
MAX_SHARE = 0.02  # of the training's time spent writing its state, at most


def input_key(run: dict, seed: int, files: list[str | Path]) -> str:
    """What a saved state must match: the run, the seed and the input files' identity."""
    stats = []
    for name in sorted(str(f) for f in files):
        st = os.stat(name)
        stats.append([name, st.st_size, st.st_mtime_ns])
    text = json.dumps({"run": run, "seed": int(seed), "files": stats}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class EpochCheckpoint:
    """The per-epoch state of one training job in ``path`` (None: resuming is off)."""

    def __init__(self, path: str | Path, key: str, every_seconds: float | None = None) -> None:
        self.path, self.key = Path(path), key
        if every_seconds is None:
            every_seconds = float(os.environ.get("HLP_CHECKPOINT_SECONDS", EVERY_SECONDS))
        self.every_seconds = every_seconds  # 0: after every epoch
        self._wait = every_seconds
        self._saved_at = time.monotonic()

    def restore(
        self, net: torch.nn.Module, optimiser: Optimiser, rng: np.random.Generator
    ) -> tuple[int, list]:
        """Load the saved state into ``net``, ``optimiser`` and ``rng`` (and torch's global
        generator): ``(epochs done, losses so far)``; ``(0, [])`` when there is none."""
        if not self.path.is_file():
            return 0, []
        try:  # data only (state_files.py): a pickle payload is refused, never run
            state = expect_keys(read_torch_file(self.path), "resume state", required=STATE_KEYS)
        except Exception as error:  # a damaged or foreign file: start afresh, and say so
            log.warning(
                "ignoring %s (unreadable: %s); training from epoch 1", self.path, one_line(error)
            )
            return 0, []
        if state.get("format") != FORMAT or state.get("key") != self.key:
            log.warning(
                "ignoring %s: it belongs to another run or other inputs; training from epoch 1",
                self.path,
            )
            return 0, []
        try:
            load_network_state(net, state["net"], "resume state/net")
        except ModelFileError as error:
            log.warning("ignoring %s (%s); training from epoch 1", self.path, error)
            return 0, []
        optimiser.load_state_dict(state["optimiser"])
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            # one state per device visible when it was saved: restore those still visible
            # (a retry may see fewer devices than the attempt that saved it)
            for device, rng_state in enumerate(state["cuda_rng"][: torch.cuda.device_count()]):
                torch.cuda.set_rng_state(rng_state, device)
        log.info("resuming from %s after epoch %d", self.path, state["epoch"])
        return int(state["epoch"]), list(state["losses"])

    def save(
        self,
        epoch: int,
        net: torch.nn.Module,
        optimiser: Optimiser,
        rng: np.random.Generator,
        losses: list,
    ) -> None:
        """The state after ``epoch`` finished epochs (atomic: a kill leaves the previous),
        when ``every_seconds`` have passed since the last save (or the start), or more
        where the last write took over ``MAX_SHARE`` of that."""
        started = time.monotonic()
        if started - self._saved_at < self._wait:
            return
        state = {
            "format": FORMAT,
            "key": self.key,
            "epoch": int(epoch),
            "net": net.state_dict(),
            "optimiser": optimiser.state_dict(),
            "numpy_rng": rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None,
            "losses": list(losses),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.path)
        self._saved_at = time.monotonic()
        if self.every_seconds > 0:
            self._wait = max(self.every_seconds, (self._saved_at - started) / MAX_SHARE)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


class NoCheckpoint:
    """Resuming off (methods called from Python, benchmarks): nothing saved or restored."""

    def restore(self, net, optimiser, rng) -> tuple[int, list]:
        return 0, []

    def save(self, epoch, net, optimiser, rng, losses) -> None:
        pass

    def remove(self) -> None:
        pass


def epoch_bar(done: int, epochs: int, desc: str, progress: bool):
    """The epochs still to run, ``done`` .. ``epochs`` - 1, with a progress bar that starts
    where the restored state left off."""
    return tqdm(
        range(done, epochs),
        desc=desc,
        unit="epoch",
        initial=done,
        total=epochs,
        disable=not progress,
    )
