"""The identities the workflow derives from its configs are those of the golden record.

``tests/fixtures/golden_ids.json`` holds, for the default config, every preset and their
combinations (``tests/golden_ids.py`` lists what): every extractor's feature, weights and
execution slice and hash, the pseudo-label ids, each run's slice hash and every output
path the workflow plans. A refactoring keeps all of them byte-identical, so no feature
shard, pseudo-label or model is recomputed, and no result moves, because of it.

The fixture is written from a clean checkout of a commit, never from a working tree (where
someone's unfinished edits would leak in), and only when an identity changes on purpose
(a preset changed deliberately, a new slice key): commit that change first, then::

    git worktree add /tmp/golden_base HEAD
    PYTHONPATH=/tmp/golden_base .venv/bin/python tests/golden_ids.py \\
        --repo /tmp/golden_base --out tests/fixtures/golden_ids.json
    git worktree remove --force /tmp/golden_base

and review the fixture's diff (``git diff tests/fixtures/golden_ids.json``): every changed
line is a recomputation or a moved result.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from highlight_pipeline.config import REPO_ROOT
from tests.golden_ids import record

FIXTURE = Path(__file__).parent / "fixtures" / "golden_ids.json"
SHOWN = 30  # differences listed in a failure


def differences(expected: Any, found: Any, where: str = "") -> list[str]:
    """One line per leaf that differs: ``where: expected -> found``."""
    if isinstance(expected, dict) and isinstance(found, dict):
        lines = []
        for key in sorted(set(expected) | set(found)):
            at = f"{where}.{key}" if where else str(key)
            if key not in found:
                lines.append(f"{at}: missing (expected {_short(expected[key])})")
            elif key not in expected:
                lines.append(f"{at}: unexpected {_short(found[key])}")
            else:
                lines += differences(expected[key], found[key], at)
        return lines
    if isinstance(expected, list) and isinstance(found, list) and expected != found:
        gone = [x for x in expected if x not in found]
        new = [x for x in found if x not in expected]
        if not gone and not new:
            return [f"{where}: same items, other order"]
        return [f"{where}: - {_short(x)}" for x in gone] + [f"{where}: + {_short(x)}" for x in new]
    if expected != found:
        return [f"{where}: {_short(expected)} -> {_short(found)}"]
    return []


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 200 else text[:197] + "..."


def test_identities_match_the_golden_record() -> None:
    expected = json.loads(FIXTURE.read_text())
    found = json.loads(json.dumps(record(REPO_ROOT)))  # as the fixture stores it
    lines = differences(expected, found)
    if lines:
        shown = "\n".join(lines[:SHOWN])
        more = f"\n... and {len(lines) - SHOWN} more" if len(lines) > SHOWN else ""
        raise AssertionError(
            f"{len(lines)} identities differ from {FIXTURE.name} (expected -> found; a "
            f"slice hash is listed under `slices`):\n{shown}{more}\n"
            "If the change is deliberate, regenerate the fixture as the docstring of "
            "tests/test_golden_ids.py says."
        )


def test_differences_name_what_changed() -> None:
    expected = {"a": {"h": "x", "paths": ["p", "q"]}, "b": 1}
    found = {"a": {"h": "y", "paths": ["p", "r"]}, "c": 2}
    assert differences(expected, found) == [
        'a.h: "x" -> "y"',
        'a.paths: - "q"',
        'a.paths: + "r"',
        "b: missing (expected 1)",
        "c: unexpected 2",
    ]
