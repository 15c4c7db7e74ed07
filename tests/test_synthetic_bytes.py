"""The generators write the bytes they were recorded writing.

``tests/fixtures/synthetic_bytes.json`` holds the SHA-256 of every file that ``hlp synth``
writes for a tiny spec of each recipe (every category of each; the holdout's three
containers, variable and 1000/1001 frame rates, mono, dual mono and stereo, every camera
and distractor), recorded from a clean checkout. A refactoring of the
generators (:mod:`highlight_pipeline.datasets.synthetic`) keeps every file byte-identical;
only a deliberate change of a recipe rewrites the fixture: commit that change first, then::

    git worktree add /tmp/synth_base HEAD
    PYTHONPATH=/tmp/synth_base .venv/bin/python tests/test_synthetic_bytes.py \\
        --out tests/fixtures/synthetic_bytes.json
    git worktree remove --force /tmp/synth_base

The videos' bytes hold for one build (FFmpeg's libraries under PyAV, numpy, scipy: another
build may encode or draw differently) with FFmpeg pinned to its C code; the fixture records
both, and on another build only the tables are compared.

One encoder ignores that pin: libopus (the holdout recipe's WebM sound) picks its own SIMD
code by the CPU, and its packets differ from one CPU to another. Measured: the AMD EPYC
that recorded the fixture, an Intel Xeon (AVX-512, AMX) and QEMU's emulated EPYC-Milan gave
three different files; the Xeon's and the emulated EPYC's differ only in their Opus
streams (their VP9 video streams are the same). So each ``.webm``
file passes with any digest recorded for it (``cpu_dependent``: the recording CPU's digest,
then one per CPU added with ``--add-cpu``). On a CPU that has a record, an unknown digest
fails; on one without, the file is skipped (every other file is still compared) until its
digests are added::

    PYTHONPATH=. .venv/bin/python tests/test_synthetic_bytes.py --add-cpu
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from highlight_pipeline.numerics import host_cpu_info, pin_ffmpeg

FIXTURE = Path(__file__).parent / "fixtures" / "synthetic_bytes.json"
TINY = {
    "categories": 6,
    "videos_per_category": 2,
    "min_seconds": 5,
    "max_seconds": 7,
    "width": 64,
    "height": 48,
    "fps": 6,
    "sample_rate": 8000,
    "test_fraction": 0.5,
    "seed": 6,
}
SPECS = {
    "embedded": TINY,
    "holdout": {**TINY, "recipe": "holdout", "categories": 4, "fps": 8, "sample_rate": 16000},
}
TABLES = ("videos.csv", "highlights.csv", "clip_labels.csv")
# Files whose encoder chooses its SIMD code by the CPU itself (libopus, in WebM).
CPU_DEPENDENT_SUFFIX = ".webm"


def cpu_identity() -> str:
    """This CPU as /proc/cpuinfo names it: vendor, family/model and model name."""
    fields = host_cpu_info()
    if not fields:
        return "unknown"
    return (
        f"{fields.get('vendor_id', '?')} {fields.get('cpu family', '?')}/"
        f"{fields.get('model', '?')} {fields.get('model name', '?')}"
    )


def build() -> dict[str, Any]:
    """What the videos' bytes depend on besides the code. It pins FFmpeg to its C code
    first (:func:`pin_ffmpeg`, as every test process is: tests/conftest.py), so that the
    bytes do not depend on the CPU's SIMD code."""
    import av
    import numpy
    import scipy

    return {
        "ffmpeg_c_code": pin_ffmpeg(),
        "av": av.__version__,
        "ffmpeg": {k: ".".join(map(str, v)) for k, v in sorted(av.library_versions.items())},
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
    }


def generate(recipe: str, out: Path) -> dict[str, str]:
    """Write the tiny dataset of ``recipe`` into ``out``; the SHA-256 of each file."""
    from highlight_pipeline.datasets.synthetic import SynthSpec, synthesize

    synthesize(SynthSpec(**SPECS[recipe]), out, progress=False)
    return {
        path.relative_to(out).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(out.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def fixture() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


@pytest.mark.parametrize("recipe", sorted(SPECS))
def test_generated_files_are_the_recorded_bytes(recipe, fixture, tmp_path):
    expected = fixture["recipes"][recipe]
    assert expected["spec"] == SPECS[recipe], "the spec changed: rewrite the fixture"
    found = generate(recipe, tmp_path)
    assert sorted(found) == sorted(expected["files"])
    tables = {name: found[name] for name in TABLES}
    assert tables == {name: expected["files"][name] for name in TABLES}
    if fixture["build"] != build():
        pytest.skip(f"recorded on another build ({fixture['build']}): only the tables compared")
    by_cpu = expected.get("cpu_dependent", {})
    known_here = cpu_identity() in by_cpu
    differ, unknown = [], []
    for name, digest in sorted(found.items()):
        if not name.endswith(CPU_DEPENDENT_SUFFIX):
            if expected["files"][name] != digest:
                differ.append(name)
        elif digest != expected["files"][name] and digest not in {
            digests.get(name) for digests in by_cpu.values()
        }:
            (differ if known_here else unknown).append(name)
    assert not differ, f"{recipe}: these files are not the recorded bytes: {differ}"
    if unknown:
        pytest.skip(
            f"{recipe}: {unknown} (libopus's own SIMD choice) have no digest for this CPU "
            f"({cpu_identity()}; recorded: {sorted(by_cpu) or 'only the recording CPU'}): "
            "every other file is the recorded bytes"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="write the fixture from the code imported")
    parser.add_argument("--out", type=Path, default=FIXTURE)
    parser.add_argument(
        "--add-cpu",
        action="store_true",
        help="add this CPU's digests of the CPU-dependent files to the fixture, nothing else",
    )
    args = parser.parse_args(argv)
    pinned = build()
    if args.add_cpu:
        record = json.loads(args.out.read_text())
        if record["build"] != pinned:
            raise SystemExit("the fixture was recorded on another build: rewrite it instead")
        for recipe in sorted(SPECS):
            with tempfile.TemporaryDirectory() as tmp:
                found = generate(recipe, Path(tmp))
            entry = record["recipes"][recipe]
            if any(
                digest != entry["files"][name]
                for name, digest in found.items()
                if not name.endswith(CPU_DEPENDENT_SUFFIX)
            ):
                raise SystemExit(f"{recipe}: other files differ too: rewrite the fixture instead")
            cpu = {n: d for n, d in found.items() if n.endswith(CPU_DEPENDENT_SUFFIX)}
            if cpu:
                entry.setdefault("cpu_dependent", {})[cpu_identity()] = cpu
        args.out.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        print(f"added the digests of {cpu_identity()} to {args.out}")
        return
    recipes = {}
    for recipe in sorted(SPECS):
        with tempfile.TemporaryDirectory() as tmp:
            recipes[recipe] = {"spec": SPECS[recipe], "files": generate(recipe, Path(tmp))}
    record = {"build": pinned, "recipes": recipes}
    args.out.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    print(f"wrote {sum(len(r['files']) for r in recipes.values())} hashes to {args.out}")


if __name__ == "__main__":
    sys.exit(main())
