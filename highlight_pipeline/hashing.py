"""Canonical JSON, the slice hash and the dictionary merge: the ground floor of identities.

Every cache key of the pipeline (a feature slice's hash, a pseudo-label id, a run's config
hash) is :func:`slice_hash` of a JSON-able slice, and config files and variant overlays
merge with :func:`deep_merge`. This module imports nothing of the package, so that any
module may use them without importing the config machinery above it.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def slice_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:12]


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, val in override.items():
        if isinstance(val, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], val)
        else:
            merged[key] = copy.deepcopy(val)
    return merged
