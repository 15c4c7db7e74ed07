"""The numbers the four papers report, shipped as package data (``data/paper_results.csv``).

One row per (method, variant, dataset, domain, metric) with the value as a fraction and the
paper's table as ``source``. ``variant`` names are the pipeline's; ``domain`` is a
category (YouTube domain, TVSum/CoSum category code), ``average`` or ``all``.

Lookups match method, variant and dataset exactly, and domain and metric without regard to
case; metric names also ignore punctuation (``top5_mAP`` = ``top5-mAP``, ``HIT@1`` =
``hit1``), so a protocol that spells its metric differently still finds the paper's number.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import pandas as pd

from highlight_pipeline.errors import DatasetError

COLUMNS = ("method", "variant", "dataset", "domain", "metric", "value", "source")
KEY = ("method", "variant", "dataset", "domain", "metric")


def normalise_metric(name: str) -> str:
    """``"top5_mAP"`` -> ``"top5map"``: lower case, letters and digits only."""
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


@lru_cache(maxsize=1)
def _table() -> pd.DataFrame:
    source = resources.files("highlight_pipeline") / "data" / "paper_results.csv"
    with source.open("r", encoding="utf-8") as handle:
        table = pd.read_csv(handle, dtype={c: str for c in COLUMNS if c != "value"})
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise DatasetError(f"paper_results.csv lacks the columns {missing}")
    table["value"] = table["value"].astype(float)
    lookup = table.assign(
        domain=table["domain"].str.lower(), metric=table["metric"].map(normalise_metric)
    )
    duplicated = lookup.duplicated(list(KEY), keep=False)
    if duplicated.any():
        first = lookup[duplicated].iloc[0]
        raise DatasetError(
            "paper_results.csv has several values for " + ", ".join(f"{k}={first[k]}" for k in KEY)
        )
    return table


@lru_cache(maxsize=1)
def _index() -> dict[tuple[str, str, str, str, str], tuple[float, str]]:
    table = _table()
    return {
        (r.method, r.variant, r.dataset, r.domain.lower(), normalise_metric(r.metric)): (
            float(r.value),
            str(r.source),
        )
        for r in table.itertuples(index=False)
    }


def load_paper_results() -> pd.DataFrame:
    """All reported numbers: columns method, variant, dataset, domain, metric, value, source."""
    return _table().copy()


def paper_entry(
    method: str, variant: str, dataset: str, domain: str, metric: str
) -> tuple[float, str] | None:
    """``(value, source)`` that the paper reports, or None where it reports nothing."""
    key = (method, variant, dataset, str(domain).lower(), normalise_metric(metric))
    return _index().get(key)


def paper_value(method: str, variant: str, dataset: str, domain: str, metric: str) -> float | None:
    """The value the paper reports for this (method, variant, dataset, domain, metric)."""
    entry = paper_entry(method, variant, dataset, domain, metric)
    return None if entry is None else entry[0]
