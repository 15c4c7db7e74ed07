"""Result tables: rows are methods/variants, columns categories and their average,
cells mean ± std over seeds (and splits)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd


def collect_metrics(paths: list[str | Path]) -> pd.DataFrame:
    """Long table: one row per (run, column) with the metric value."""
    rows = []
    for path in paths:
        m = json.loads(Path(path).read_text())
        base = {
            k: m[k]
            for k in ("method", "variant", "seed", "split", "metric", "protocol", "features")
        }
        for column, value in {**m["per_category"], "average": m["average"]}.items():
            rows.append({**base, "column": column, "value": value})
    return pd.DataFrame(rows)


def summarise(long: pd.DataFrame) -> pd.DataFrame:
    grouped = long.groupby(["method", "variant", "features", "metric", "column"], sort=True)[
        "value"
    ]
    summary = grouped.agg(
        mean="mean", std=lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, runs="count"
    ).reset_index()
    return summary


def _cell(mean: float, std: float) -> str:
    return f"{mean:.3f} ± {std:.3f}"


def render_markdown(summary: pd.DataFrame, dataset: str) -> str:
    columns = sorted(c for c in summary["column"].unique() if c != "average") + ["average"]
    metric = ", ".join(sorted(summary["metric"].unique()))
    lines = [
        f"# {dataset}: {metric} (mean ± std over seeds)",
        "",
        "| method | variant | features | runs | " + " | ".join(columns) + " |",
        "|" + "---|" * (4 + len(columns)),
    ]
    order = summary.groupby(["method", "variant", "features"])
    for (method, variant, features), group in order:
        cells = {r.column: _cell(r.mean, r.std) for r in group.itertuples()}
        runs = int(group["runs"].max())
        lines.append(
            f"| {method} | {variant} | {features} | {runs} | "
            + " | ".join(cells.get(c, "") for c in columns)
            + " |"
        )
    return "\n".join(lines) + "\n"


def write_tables(
    metrics_paths: list[str | Path], dataset: str, out_md: str | Path, out_csv: str | Path
) -> pd.DataFrame:
    summary = summarise(collect_metrics(metrics_paths))
    summary.insert(0, "dataset", dataset)
    Path(out_md).parent.mkdir(parents=True, exist_ok=True)
    Path(out_md).write_text(render_markdown(summary, dataset))
    summary.to_csv(out_csv, index=False, float_format="%.4f")
    return summary
