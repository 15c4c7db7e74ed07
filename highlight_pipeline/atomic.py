"""Files written atomically: a temporary name next to the target, renamed into place once
complete, so a killed job never leaves a file that looks finished (Snakemake would take a
half-written table or metrics file for a result on the next run)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """A temporary path to write to; it replaces ``path`` when the block ends without error
    and is removed when it does not. The temporary name keeps the suffix (``.png``,
    ``.csv``) so that writers which go by it still work."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
