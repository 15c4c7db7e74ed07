"""Result tables: rows are methods/variants, columns categories and their average,
cells mean ± std over seeds (and splits), each row followed by the paper's number.

Three renderings of one summary, all deterministic (same metrics files, in any order ->
byte-identical files):

* Markdown: our row, then a ``↳ paper`` row with the value the paper reports for the same
  (method, variant, dataset, column, metric) and the difference ours − paper, ``–`` where
  the paper reports nothing;
* CSV (long): one line per (method, variant, features, metric, column) with mean, std,
  runs, and the paper's value, the difference and the paper's table;
* LaTeX: a booktabs ``tabular`` per metric (``\\usepackage{booktabs}``).

The paper numbers come from :mod:`highlight_pipeline.paper_results`; ``paper_dataset``
names the dataset there when it differs from the pipeline's (``qvhighlights`` ->
``qvhighlights-val``). Rows whose features are weight-free or come from randomly
initialised backbones are flagged in the ``weights`` column and in a note: their
difference to the paper is not a reproduction.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from highlight_pipeline.atomic import atomic_output, write_text_atomic
from highlight_pipeline.errors import DatasetError, PipelineError
from highlight_pipeline.paper_results import paper_entry

RUN_KEYS = ("method", "variant", "seed", "split", "metric", "protocol")
PSEUDO_METRIC = "pseudo-highlight quality"  # rows: recurrence scores on the training videos
PSEUDO_COLUMNS = ("visual", "audio", "av", "random", "categories")
# ``scoring``: the protocol (and split schemes) a row is scored with; ``measure``: the
# metric as the tables show it (``metric · scoring`` where a table scores rows two ways).
# ``weights``: what the run's features rest on (``published``, ``weight-free``,
# ``random-init``, ``none``), the metrics file's field (recovered from ``features`` for a
# file written before the field existed).
ROW_KEYS = ["method", "variant", "features", "weights", "metric", "scoring", "measure"]
DASH = "–"  # en dash: "the paper reports no number"
log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------ summary


def collect_metrics(paths: list[str | Path]) -> pd.DataFrame:
    """Long table: one row per (run, column) with the metric value."""
    rows = []
    for path in paths:
        try:
            m = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DatasetError(f"{path}: cannot read metrics ({exc})") from exc
        missing = [k for k in (*RUN_KEYS, "per_category", "average") if k not in m]
        if missing:
            raise DatasetError(f"{path}: metrics file lacks {', '.join(missing)}")
        base = {k: m[k] for k in RUN_KEYS}
        base["features"] = str(m.get("features", ""))
        base["weights"] = str(m.get("weights") or weights_kind(base["features"]))
        for column, value in {**m["per_category"], "average": m["average"]}.items():
            rows.append({**base, "column": str(column), "value": float(value)})
        for metric, extra in m.get("secondary", {}).items():  # e.g. HIT@1 beside mAP
            for column, value in {**extra["per_category"], "average": extra["average"]}.items():
                rows.append(
                    {**base, "metric": metric, "column": str(column), "value": float(value)}
                )
        for other in m.get("also_scored", []):  # a random baseline scored another way too
            also = {**base, "protocol": other["protocol"]}
            scored = {other["metric"]: other, **other.get("secondary", {})}
            for metric, extra in scored.items():
                cells = {**extra["per_category"], "average": extra["average"]}
                for column, value in cells.items():
                    rows.append(
                        {**also, "metric": metric, "column": str(column), "value": float(value)}
                    )
        quality = m.get("pseudo_quality") or {}
        for column in PSEUDO_COLUMNS:
            if quality.get(column) is not None:
                rows.append(
                    {
                        **base,
                        "metric": PSEUDO_METRIC,
                        "column": column,
                        "value": float(quality[column]),
                    }
                )
    if not rows:
        raise DatasetError("no metrics files to tabulate")
    return add_scoring(pd.DataFrame(rows))


def _compact(splits: tuple[str, ...]) -> str:
    """``random80-s0–4`` for ``random80-s0 ... random80-s4``; else the names, comma-joined."""
    stems = {re.sub(r"\d+$", "", s) for s in splits}
    numbers = sorted(int(m.group()) for s in splits if (m := re.search(r"\d+$", s)))
    if len(splits) > 2 and len(stems) == 1 and len(numbers) == len(splits):
        if numbers == list(range(numbers[0], numbers[-1] + 1)):
            return f"{stems.pop()}{numbers[0]}–{numbers[-1]}"
    return ", ".join(splits)


def add_scoring(long: pd.DataFrame) -> pd.DataFrame:
    """Columns ``scoring`` and ``measure`` of the long table (see :data:`ROW_KEYS`).

    A row is scored with its protocol over its split schemes. Where a table holds rows
    scored two ways (a paper's own protocol or split beside the dataset's,
    ``paper_evaluation``), each way becomes its own table, and the chance baseline's runs
    appear in each with the runs of that protocol and those split schemes only, so that
    every row is compared with random on the same test videos and ground truth."""
    from highlight_pipeline.methods.registry import chance_baselines

    long = long.copy()
    chance = long["method"].isin(chance_baselines()) & (long["metric"] != PSEUDO_METRIC)
    keys = ["method", "variant", "features", "protocol"]
    splits_of = {
        key: tuple(sorted(set(group["split"].astype(str))))
        for key, group in long[~chance].groupby(keys, sort=True)
    }
    pairs = sorted({(key[-1], splits) for key, splits in splits_of.items()})
    if not pairs:  # only a chance baseline: its own ways
        pairs = sorted(
            {
                (protocol, tuple(sorted(set(group["split"].astype(str)))))
                for protocol, group in long[chance].groupby("protocol", sort=True)
            }
        )
    by_splits = len({splits for _, splits in pairs}) > 1

    def label(protocol: str, splits: tuple[str, ...]) -> str:
        return f"{protocol} on {_compact(splits)}" if by_splits else protocol

    own = long[~chance].copy()
    own["scoring"] = [
        label(r.protocol, splits_of[(r.method, r.variant, r.features, r.protocol)])
        for r in own.itertuples(index=False)
    ]
    parts = [own]
    for protocol, splits in pairs:
        same = (long["protocol"] == protocol) & long["split"].astype(str).isin(splits)
        rows = long[chance & same]
        parts.append(rows.assign(scoring=label(protocol, splits)))
    out = pd.concat(parts, ignore_index=True)
    several = out.loc[out["metric"] != PSEUDO_METRIC, "scoring"].nunique() > 1
    out["measure"] = [
        f"{metric} · {scoring}" if several and metric != PSEUDO_METRIC else metric
        for metric, scoring in zip(out["metric"], out["scoring"], strict=True)
    ]
    return out


def summarise(long: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample std (0 for a single run) and number of runs per row and column."""
    # Sorting first makes the float sums independent of the order of the metrics files.
    ordered = long.sort_values(
        [*ROW_KEYS, "column", "split", "seed"], kind="stable", ignore_index=True
    )
    grouped = ordered.groupby([*ROW_KEYS, "column"], sort=True)["value"]
    summary = grouped.agg(
        mean="mean", std=lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, runs="count"
    ).reset_index()
    return summary


def weights_kind(features: str) -> str:
    """``random-init``, ``weight-free``, ``none`` (reads no features) or ``published``, read
    from a features label (for metrics files without a ``weights`` field; the workflow
    records it, :meth:`highlight_pipeline.plan.Plan.run_weights`)."""
    text = features.lower()
    if text.strip() == "none":
        return "none"
    if "random-init" in text or "random init" in text:
        return "random-init"
    if "weight-free" in text or "weight free" in text:
        return "weight-free"
    return "published"


FALLBACK_NOTE = (
    "weight-free features are a fallback for when no published weights are at hand: they "
    "describe colour, motion and sound statistics, not what happens, and their ranking is "
    "only as good as the trained model's test mAP against the random baseline on data like "
    "this video (see the result tables); with published weights the papers' backbones are used"
)
RANDOM_INIT_NOTE = (
    "randomly initialised backbones: their features carry no learnt meaning; use them to test "
    "the plumbing, not to rank highlights"
)


def weights_notes(kinds: set[str]) -> list[str]:
    """What a user must know about features of these weight kinds (none for published)."""
    notes = [FALLBACK_NOTE] if "weight-free" in kinds else []
    return notes + ([RANDOM_INIT_NOTE] if "random-init" in kinds else [])


def add_paper_numbers(summary: pd.DataFrame, paper_dataset: str) -> pd.DataFrame:
    """Columns ``weights``, ``paper_dataset``, ``paper``, ``difference``, ``paper_source``.

    A row's ``average`` column falls back to the paper's ``all`` domain when the row has no
    ``all`` column of its own (QVHighlights reports one number over all videos).
    """
    out = summary.copy()
    has_all = {
        key: "all" in set(group["column"].str.lower())
        for key, group in summary.groupby(ROW_KEYS, sort=False)
    }
    paper, source = [], []
    for row in summary.itertuples(index=False):
        entry = paper_entry(row.method, row.variant, paper_dataset, row.column, row.metric)
        key = tuple(getattr(row, k) for k in ROW_KEYS)
        if entry is None and row.column == "average" and not has_all[key]:
            entry = paper_entry(row.method, row.variant, paper_dataset, "all", row.metric)
        paper.append(np.nan if entry is None else entry[0])
        source.append("" if entry is None else entry[1])
    if "weights" not in out.columns:
        out["weights"] = [weights_kind(f) for f in summary["features"]]
    out["paper_dataset"] = paper_dataset
    out["paper"] = paper
    out["difference"] = out["mean"] - out["paper"]
    out["paper_source"] = source
    return out


# ------------------------------------------------------------------------------ cells


def _cell(mean: float, std: float) -> str:
    return f"{mean:.3f} ± {std:.3f}"


def _signed(value: float) -> str:
    text = f"{value:+.3f}"
    return "+0.000" if text == "-0.000" else text


def _columns(summary: pd.DataFrame) -> list[str]:
    return sorted(c for c in summary["column"].unique() if c != "average") + ["average"]


def _rows(summary: pd.DataFrame, metric: str):
    """Per table row: (method, variant, features, runs, {column: summary row})."""
    part = summary[summary["measure"] == metric]
    for (method, variant, features), group in part.groupby(
        ["method", "variant", "features"], sort=True
    ):
        cells = {r.column: r for r in group.itertuples(index=False)}
        yield method, variant, features, int(group["runs"].max()), cells


def _sources(cells: dict) -> list[str]:
    return sorted({r.paper_source for r in cells.values() if r.paper_source})


def _has_paper(row) -> bool:
    return row is not None and not pd.isna(row.paper)


# ------------------------------------------------------------------------------ Markdown


REHEARSAL_NOTE = (
    "**Rehearsal, not a result.** This table comes from a rehearsal "
    "(`workflow/configs/rehearsal.yaml`): randomly initialised networks, shrunk settings "
    "(epochs, frame sizes, seeds, shards) on a miniature of the benchmark. It shows that "
    "the preset runs end to end and where each row will stand beside the paper's number; "
    "its numbers say nothing about the methods."
)


def is_rehearsal(summary: pd.DataFrame) -> bool:
    """Whether the table is a rehearsal's (``build_table(..., rehearsal=True)``)."""
    return bool("rehearsal" in summary.columns and summary["rehearsal"].any())


def render_markdown(summary: pd.DataFrame, dataset: str) -> str:
    """Markdown tables (one per metric); paper rows when ``summary`` has paper numbers; a
    rehearsal (``summary.rehearsal``) says so above the tables and in every row."""
    summary, quality = _split_quality(summary)
    columns = _columns(summary)
    metrics = sorted(summary["measure"].unique())
    with_paper = "paper" in summary.columns
    rehearsal = is_rehearsal(summary)
    differing_runs = _differing(summary)
    title = f"# {dataset}: {', '.join(metrics)} (mean ± std over seeds)"
    lines = [title + (" — REHEARSAL" if rehearsal else ""), ""]
    if rehearsal:
        lines += [REHEARSAL_NOTE, ""]
    for metric in metrics:
        if len(metrics) > 1:
            lines += [f"## {metric}", ""]
        lines += [
            "| method | variant | features | runs | " + " | ".join(columns) + " | vs random |",
            "|" + "---|" * (5 + len(columns)),
        ]
        for method, variant, features, runs, cells in _rows(summary, metric):
            average = cells.get("average")
            mark = _flagged(average.vs_random) if average is not None else DASH
            if rehearsal:
                features = f"{features} · rehearsal"
            lines.append(
                f"| {method} | {variant} | {features} | {runs} | "
                + " | ".join(
                    _cell(cells[c].mean, cells[c].std) if c in cells else "" for c in columns
                )
                + f" | {mark} |"
            )
            if not with_paper:
                continue
            paper_cells = [
                f"{cells[c].paper:.3f} (Δ {_signed(cells[c].difference)})"
                if _has_paper(cells.get(c))
                else DASH
                for c in columns
            ]
            source = "; ".join(_sources(cells)) or DASH
            if (method, variant) in differing_runs:
                source += " · ⚠ not the paper's setting (below)"
            lines.append(
                f"| ↳ paper | {variant} | {source} |  | " + " | ".join(paper_cells) + " | |"
            )
        lines.append("")
    if with_paper:
        paper_dataset = str(summary["paper_dataset"].iloc[0])
        lines.append(
            f"↳ paper: the number the paper reports for the same method, variant, column and "
            f"metric on its dataset `{paper_dataset}` (source table in the features column), "
            f"Δ = ours − paper; {DASH} where the paper reports none."
        )
        flagged: dict[tuple[str, str], list[str]] = {}
        for r in summary.itertuples():
            if r.weights in ("random-init", "weight-free"):
                variants = flagged.setdefault((r.method, r.weights), [])
                if r.variant not in variants:
                    variants.append(r.variant)
        if flagged:
            names = ", ".join(
                f"{m}/{v[0]} ({w})" if len(v) == 1 else f"{m}, {len(v)} variants ({w})"
                for (m, w), v in sorted(flagged.items())
            )
            lines += [
                "",
                f"Without published weights: {names}. "
                "Their features are not the papers', "
                "so their difference to the paper is not a reproduction.",
            ]
    differing = differ_lines(summary)
    if differing:
        lines += [
            "",
            "Rows beside a paper's number that do not run in that paper's setting "
            "(docs/paper-settings.md; compare with care):",
            "",
        ]
        lines += [f"* ⚠ {line}." for line in differing]
    lines += chance_notes(summary)
    lines += render_quality(quality)
    lines += render_paper_tables(summary)
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ chance and ablations


def _split_quality(summary: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the metric rows, the pseudo-highlight quality rows)."""
    is_quality = summary["metric"] == PSEUDO_METRIC
    return summary[~is_quality], summary[is_quality]


NOT_ABOVE = ("≈ chance", "below chance")


def _chance_mark(method: str, row, chance) -> str:
    """A run's ``vs random`` verdict (``(baseline)`` for the chance baseline itself)."""
    from highlight_pipeline.methods.registry import chance_baselines

    return "(baseline)" if method in chance_baselines() else versus_chance(row, chance)


def _flagged(verdict: str) -> str:
    """The Markdown cell: ⚠ before a verdict that is not above random."""
    return f"⚠ {verdict}" if verdict in NOT_ABOVE else verdict


def quality_rows(quality: pd.DataFrame):
    """Per (method, variant, features): runs and {column: summary row} of the quality."""
    for key, group in quality.groupby(["method", "variant", "features"], sort=True):
        yield key, int(group["runs"].max()), {r.column: r for r in group.itertuples(index=False)}


def quality_warnings(quality: pd.DataFrame) -> list[str]:
    """One line per run whose AV pseudo-highlights rank the training clips no better than a
    random ranking does (within 0.02 AP)."""
    out = []
    for (method, variant, _), _, cells in quality_rows(quality):
        av, chance = cells.get("av"), cells.get("random")
        if av is not None and chance is not None and av.mean <= chance.mean + 0.02:
            out.append(
                f"{method}/{variant} learns from pseudo-highlights that are no better than "
                f"random on the training videos (AV {av.mean:.3f} against {chance.mean:.3f})"
            )
    return out


def render_quality(quality: pd.DataFrame) -> list[str]:
    """The section on pseudo-highlight quality (empty without labelled pseudo-label runs)."""
    if quality.empty:
        return []
    out = [
        "",
        "## Pseudo-highlight quality on the training videos",
        "",
        "The recurrence scores the run learnt from, ranked against the ground truth with the "
        "dataset's protocol on the training videos (the AV-PH Table 12 view on the training "
        "side); `random`: the expected value of a random ranking of the same clips; "
        "`categories (ARI)`: the adjusted Rand index of the pseudo-categories against the "
        "dataset's categories (1: the same grouping; about 0: no better than chance).",
        "",
        "| method | variant | features | runs | visual | audio | AV | random | categories (ARI) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (method, variant, features), runs, cells in quality_rows(quality):
        values = [
            _cell(cells[c].mean, cells[c].std) if c in cells else DASH for c in PSEUDO_COLUMNS
        ]
        out.append(f"| {method} | {variant} | {features} | {runs} | " + " | ".join(values) + " |")
    warnings = quality_warnings(quality)
    if warnings:
        out += ["", *[f"* ⚠ {w}." for w in warnings]]
    return out


def versus_chance(row, chance) -> str:
    """``above chance``, ``below chance`` or ``≈ chance``: the difference of the means
    against twice its standard error over runs (Welch); ``–`` without a random row or with
    fewer than two runs on either side."""
    if chance is None or row is None or row.runs < 2 or chance.runs < 2:
        return DASH  # one run has no spread to compare against
    se = np.sqrt(row.std**2 / max(row.runs, 1) + chance.std**2 / max(chance.runs, 1))
    diff = row.mean - chance.mean
    if diff > 2 * se and diff > 0:
        return "above chance"
    if diff < -2 * se and diff < 0:
        return "below chance"
    return "≈ chance"


def _chance_rows(summary: pd.DataFrame) -> dict[tuple[str, str], object]:
    """(metric, column) -> the chance baseline's summary row (the registry's first)."""
    from highlight_pipeline.methods.registry import chance_baselines

    part = summary[summary["method"].isin(chance_baselines())].sort_values(["method"])
    out: dict[tuple[str, str], object] = {}
    for r in part.itertuples(index=False):
        out.setdefault((r.measure, r.column), r)
    return out


def chance_notes(summary: pd.DataFrame) -> list[str]:
    """A line for every run whose average is not above the random baseline's (the
    summary's ``vs_random`` verdicts, :func:`build_table`)."""
    chance = _chance_rows(summary)
    notes = []
    for r in summary[summary["column"] == "average"].itertuples(index=False):
        if r.vs_random in NOT_ABOVE:
            base = chance[(r.measure, "average")]
            notes.append(
                f"* **{r.method}/{r.variant} is no better than random** on {r.measure} "
                f"({_cell(r.mean, r.std)} against {_cell(base.mean, base.std)}; {r.vs_random})."
            )
    return ["", *notes] if notes else []


def render_paper_tables(summary: pd.DataFrame) -> list[str]:
    """One section per ablation table of a paper (the method's registry entry lays them
    out) that has at least two of its rows in ``summary``: each row's average, the paper's
    number, the difference, and how it compares with the random baseline."""
    from highlight_pipeline.methods.registry import get_method

    chance = _chance_rows(summary)
    with_paper = "paper" in summary.columns
    average = summary[summary["column"] == "average"]
    out: list[str] = []
    for method in sorted(average["method"].unique()):
        try:
            spec = get_method(method)
        except PipelineError:
            continue
        ours = average[average["method"] == method]
        for table in spec.paper_tables:
            present = [v for v in table.rows if v in set(ours["variant"])]
            if len(present) < 2:
                continue
            for metric in sorted(ours["measure"].unique()):
                rows = ours[ours["measure"] == metric].set_index("variant")
                out += [
                    "",
                    f"## {table.source}: {table.title} ({method}, {metric}, average)",
                    "",
                    "| row | variant | ours | paper | Δ | vs random |",
                    "|---|---|---|---|---|---|",
                ]
                for variant in table.rows:
                    label = spec.variants[variant].label or variant
                    if variant not in rows.index:
                        out.append(f"| {label} | {variant} | not run | | | |")
                        continue
                    r = rows.loc[variant]
                    paper = r["paper"] if with_paper else np.nan
                    has = not pd.isna(paper)
                    out.append(
                        f"| {label} | {variant} | {_cell(r['mean'], r['std'])} | "
                        + (
                            f"{paper:.3f} | {_signed(r['mean'] - paper)}"
                            if has
                            else f"{DASH} | {DASH}"
                        )
                        + f" | {versus_chance(_Row(r), chance.get((metric, 'average')))} |"
                    )
    return out


class _Row:
    """Attribute access to a summary row given as a pandas Series."""

    def __init__(self, series: pd.Series) -> None:
        self.mean, self.std, self.runs = (
            float(series["mean"]),
            float(series["std"]),
            int(series["runs"]),
        )


# ------------------------------------------------------------------------------ LaTeX

_TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "–": "--",
    "−": "-",
    "±": r"$\pm$",
}


def tex_escape(text: str) -> str:
    """Escape LaTeX's special characters in plain text."""
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in str(text))


def render_latex(summary: pd.DataFrame, dataset: str) -> str:
    """A booktabs ``tabular`` per metric; paper rows when ``summary`` has paper numbers."""
    summary = _split_quality(summary)[0]
    columns = _columns(summary)
    metrics = sorted(summary["measure"].unique())
    with_paper = "paper" in summary.columns
    out = [
        f"% {tex_escape(dataset)}: {tex_escape(', '.join(metrics))}, mean +- std over seeds.",
        "% Paper rows: the value the paper reports (difference ours - paper); -- where none.",
        "% Requires \\usepackage{booktabs}.",
    ]
    if is_rehearsal(summary):
        out.insert(1, "% REHEARSAL, not a result: random weights, shrunk settings, a miniature.")
    for metric in metrics:
        out += [
            f"% metric: {tex_escape(metric)}",
            "\\begin{tabular}{lllr" + "c" * len(columns) + "}",
            "\\toprule",
            " & ".join(
                ["Method", "Variant", "Features", "Runs"]
                + [tex_escape(c if c != "average" else "Average") for c in columns]
            )
            + " \\\\",
            "\\midrule",
        ]
        for i, (method, variant, features, runs, cells) in enumerate(_rows(summary, metric)):
            if i and with_paper:
                out.append("\\addlinespace")
            ours = [
                f"${cells[c].mean:.3f} \\pm {cells[c].std:.3f}$" if c in cells else ""
                for c in columns
            ]
            out.append(
                " & ".join(
                    [tex_escape(method), tex_escape(variant), tex_escape(features), str(runs)]
                    + ours
                )
                + " \\\\"
            )
            if not with_paper:
                continue
            paper_cells = [
                f"${cells[c].paper:.3f}$ (${_signed(cells[c].difference)}$)"
                if _has_paper(cells.get(c))
                else "--"
                for c in columns
            ]
            source = tex_escape("; ".join(_sources(cells))) or "--"
            out.append(
                " & ".join(["\\quad\\textit{paper}", "", source, ""] + paper_cells) + " \\\\"
            )
        out += ["\\bottomrule", "\\end{tabular}", ""]
    return "\n".join(out)


# ------------------------------------------------------------------------------ files


def build_table(
    metrics_paths: list[str | Path],
    dataset: str,
    paper_dataset: str | None = None,
    rehearsal: bool = False,
    differs: dict[str, list[str]] | None = None,
) -> pd.DataFrame:
    """The long summary with paper numbers and the verdict against random (the CSV's rows);
    ``rehearsal`` marks every row (column ``rehearsal``); ``differs`` fills the column
    ``differs_from_paper`` (the settings, ``; ``-joined) of the rows that have a paper
    number."""
    summary = add_paper_numbers(
        summarise(collect_metrics(metrics_paths)),
        dataset if paper_dataset is None else paper_dataset,
    )
    summary.insert(0, "dataset", dataset)
    if rehearsal:
        summary["rehearsal"] = True
    differs = differs or {}
    summary["differs_from_paper"] = [
        "; ".join(differs.get(f"{r.method}/{r.variant}", [])) if _has_paper(r) else ""
        for r in summary.itertuples(index=False)
    ]
    chance = _chance_rows(summary)
    summary["vs_random"] = [
        _chance_mark(r.method, r, chance.get((r.measure, "average")))
        if r.column == "average" and r.metric != PSEUDO_METRIC
        else ""
        for r in summary.itertuples(index=False)
    ]
    return summary


def render_analyses(paths: list[str | Path]) -> str:
    """The sections of `hlp analyse` outputs, in a fixed order (method, variant, name)."""
    records = []
    for path in paths:
        try:
            records.append(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise DatasetError(f"{path}: cannot read the analysis ({exc})") from exc
    out = []
    for r in sorted(records, key=lambda r: (r["method"], r["variant"], r["analysis"])):
        heading = f"## {r['title']} ({r['method']}/{r['variant']}, seed {r['seed']})"
        out += ["", heading, "", *r["markdown"]]
    return "\n".join(out) + "\n" if out else ""


def table_warnings(summary: pd.DataFrame) -> list[str]:
    """What the log warns about: runs not above random, pseudo-labels not above random."""
    lines = [
        f"{r.method}/{r.variant} is {r.vs_random} on {r.measure} "
        f"({_cell(r.mean, r.std)}): do not trust its ranking"
        for r in summary.itertuples(index=False)
        if r.vs_random in NOT_ABOVE
    ]
    return lines + differ_lines(summary) + quality_warnings(_split_quality(summary)[1])


def _differing(summary: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(method, variant) -> what differs from its paper, for the rows with a paper number."""
    if "differs_from_paper" not in summary.columns:
        return {}
    part = summary[summary["differs_from_paper"].fillna("").astype(str) != ""]
    return {(r.method, r.variant): str(r.differs_from_paper) for r in part.itertuples(index=False)}


def differ_lines(summary: pd.DataFrame) -> list[str]:
    """One line per run beside a paper number that runs in another setting than the paper."""
    return [
        f"{method}/{variant} runs in a setting other than its paper's: {what}"
        for (method, variant), what in sorted(_differing(summary).items())
    ]


def write_tables(
    metrics_paths: list[str | Path],
    dataset: str,
    out_md: str | Path,
    out_csv: str | Path,
    out_tex: str | Path | None = None,
    paper_dataset: str | None = None,
    analyses: list[str | Path] | None = None,
    rehearsal: bool = False,
    differs: dict[str, list[str]] | None = None,
) -> pd.DataFrame:
    """Write the Markdown, CSV and (optionally) LaTeX tables; return the long summary.

    ``paper_dataset`` is the dataset's name in the paper numbers (default: ``dataset``);
    ``analyses`` are `hlp analyse` outputs, whose sections follow the Markdown tables;
    ``rehearsal`` marks the tables and every row as a rehearsal's; ``differs`` (``method/
    variant`` -> settings, :func:`highlight_pipeline.paper_settings.run_differences`) says
    which rows run in a setting other than their paper's (column ``differs_from_paper``).
    """
    summary = build_table(metrics_paths, dataset, paper_dataset, rehearsal, differs)
    if rehearsal:
        log.warning("%s: a rehearsal (random weights, shrunk settings): not a result", dataset)
    for line in table_warnings(summary):
        log.warning("%s: %s", dataset, line)
    markdown = render_markdown(summary, dataset) + render_analyses(analyses or [])
    write_text_atomic(out_md, markdown)
    with atomic_output(out_csv) as tmp:
        summary.to_csv(tmp, index=False, float_format="%.4f", lineterminator="\n")
    if out_tex is not None:
        write_text_atomic(out_tex, render_latex(summary, dataset))
    return summary


# ------------------------------------------------------------------ unlabelled datasets


def render_scores_summary(dataset: str, runs: list[dict]) -> str:
    """What an unlabelled dataset's run wrote, and what its scores rest on.

    ``runs``: one entry per (method, variant) with ``features`` (the table's features
    label, e.g. ``colormotion+logmel (weight-free)``) and ``scores`` (its score files). With
    no labels nothing says whether the ranking is any good: the summary says which
    features it rests on and, for weight-free or randomly initialised ones, what that means.
    """
    lines = [
        f"# {dataset}: clip scores (no labels: not evaluated)",
        "",
        "| method | variant | features | score files |",
        "|---|---|---|---|",
    ]
    for run in runs:
        files = ", ".join(f"`{f}`" for f in run["scores"])
        lines.append(f"| {run['method']} | {run['variant']} | {run['features']} | {files} |")
    notes = weights_notes({weights_kind(run["features"]) for run in runs})
    lines += ["", "Without labels these rankings are not checked against anything."]
    lines += [f"* ⚠ {n[0].upper()}{n[1:]}." for n in notes]
    return "\n".join(lines) + "\n"


def write_scores_summary(dataset: str, runs: list[dict], out_md: str | Path) -> str:
    """``hlp scores-summary``: :func:`render_scores_summary` written to ``out_md``; returns
    the text."""
    text = render_scores_summary(dataset, runs)
    write_text_atomic(out_md, text)
    return text
