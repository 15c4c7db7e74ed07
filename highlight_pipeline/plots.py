"""Figures: per-video score curves against the ground truth, and mAP bar charts.

Figures are drawn with :class:`matplotlib.figure.Figure` and saved with the Agg renderer:
no pyplot, no display and no global backend switch, so plotting works on a headless node
and inside other programs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from tqdm import tqdm

from highlight_pipeline.atomic import atomic_output
from highlight_pipeline.errors import DatasetError
from highlight_pipeline.features.clip_features import read_clips
from highlight_pipeline.manifest import read_manifest, read_splits
from highlight_pipeline.metrics import ap_trapezoid
from highlight_pipeline.predictions import read_predictions

SCORE_COLOUR = "#1f4e9c"
TRUTH_COLOUR = "#2ca02c"
PSEUDO_COLOUR = "#e07b00"
PAPER_COLOUR = "black"
DPI = 110


# ------------------------------------------------------------------------------ helpers


def normalise_scores(scores: Sequence[float]) -> np.ndarray:
    """Min-max to [0, 1] (ranking kept; logits become comparable); constant -> 0.5."""
    s = np.asarray(scores, dtype=np.float64)
    finite = s[np.isfinite(s)]
    if finite.size == 0:
        return np.full(s.shape, np.nan)
    low, high = float(finite.min()), float(finite.max())
    if high - low <= 1e-12:
        return np.where(np.isfinite(s), 0.5, np.nan)
    return (s - low) / (high - low)


def _runs(starts: np.ndarray, ends: np.ndarray, mask: np.ndarray) -> list[tuple[float, float]]:
    """Time spans covered by the masked clips, adjacent or overlapping clips merged."""
    spans: list[list[float]] = []
    order = np.argsort(starts, kind="stable")
    for i in order:
        if not mask[i]:
            continue
        if spans and starts[i] <= spans[-1][1] + 1e-6:
            spans[-1][1] = max(spans[-1][1], float(ends[i]))
        else:
            spans.append([float(starts[i]), float(ends[i])])
    return [(a, b) for a, b in spans]


def _piecewise(starts: np.ndarray, ends: np.ndarray, values: np.ndarray):
    """x, y of a piecewise-constant curve: each clip's value held from its start to its end."""
    order = np.argsort(starts, kind="stable")
    x = np.column_stack([starts[order], ends[order]]).reshape(-1)
    y = np.repeat(values[order], 2)
    return x, y


def _save(fig: Figure, out_png: str | Path) -> Path:
    out = Path(out_png)
    with atomic_output(out) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png", metadata={"Software": None})
    return out


# ------------------------------------------------------------------------------ score curves


def plot_score_curve(
    times_start: Sequence[float],
    times_end: Sequence[float],
    scores: Sequence[float],
    labels: Sequence[float] | None,
    out_png: str | Path,
    title: str,
    pseudo: Sequence[float] | None = None,
) -> Path:
    """One video's predicted scores over time against its ground truth.

    Scores (possibly logits) are min-max normalised and drawn as a step curve, one step per
    clip. Clips with a positive label are shaded (labels < 0 mean "unlabelled": nothing is
    shaded). ``pseudo`` (one value per clip) is drawn as orange bars above the curve when
    it is binary (pseudo-highlights), else as a dashed normalised curve (pseudo scores).
    """
    starts = np.asarray(times_start, dtype=np.float64)
    ends = np.asarray(times_end, dtype=np.float64)
    values = np.asarray(scores, dtype=np.float64)
    n = len(starts)
    if not (len(ends) == n == len(values)) or n == 0:
        raise DatasetError(
            f"{title}: need the same non-zero number of clip starts, ends and scores "
            f"(got {len(starts)}, {len(ends)}, {len(values)})"
        )
    y_labels = None if labels is None else np.asarray(labels, dtype=np.float64)
    if y_labels is not None and len(y_labels) != n:
        raise DatasetError(f"{title}: {len(y_labels)} labels for {n} clips")

    fig = Figure(figsize=(10, 3.4))
    ax = fig.add_subplot()
    handles = []
    if y_labels is not None and (y_labels >= 0).all():
        for i, (a, b) in enumerate(_runs(starts, ends, y_labels > 0)):
            ax.axvspan(a, b, color=TRUTH_COLOUR, alpha=0.22, lw=0, zorder=0)
            if i == 0:
                handles.append(
                    Patch(color=TRUTH_COLOUR, alpha=0.35, label="ground-truth highlight")
                )
    x, y = _piecewise(starts, ends, normalise_scores(values))
    (line,) = ax.plot(x, y, color=SCORE_COLOUR, lw=1.8, label="predicted score (normalised)")
    handles.insert(0, line)
    if pseudo is not None:
        p = np.asarray(pseudo, dtype=np.float64)
        if len(p) != n:
            raise DatasetError(f"{title}: {len(p)} pseudo values for {n} clips")
        finite = p[np.isfinite(p)]
        if finite.size and np.isin(finite, (0.0, 1.0)).all():
            spans = _runs(starts, ends, np.nan_to_num(p) > 0)
            ax.broken_barh(
                [(a, b - a) for a, b in spans],
                (1.06, 0.07),
                facecolors=PSEUDO_COLOUR,
                edgecolor="none",
            )
            handles.append(Patch(color=PSEUDO_COLOUR, label="pseudo-highlight"))
        else:
            px, py = _piecewise(starts, ends, normalise_scores(p))
            (pl,) = ax.plot(px, py, color=PSEUDO_COLOUR, lw=1.4, ls="--", label="pseudo score")
            handles.append(pl)
    ax.set_xlim(float(starts.min()), float(ends.max()))
    ax.set_ylim(-0.04, 1.17)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("score (min–max)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.2),
        ncol=len(handles),
        frameon=False,
    )
    fig.tight_layout()
    return _save(fig, out_png)


def plot_video_curves(
    predictions_path: str | Path,
    clips_csv: str | Path,
    manifest_csv: str | Path,
    out_dir: str | Path,
    pseudo_h5: str | Path | None = None,
    split: str | None = "test",
    max_videos: int | None = None,
    splits: dict[str, str] | None = None,
) -> list[Path]:
    """One PNG per predicted video of ``split`` (None: every split), named ``{video_id}.png``;
    a video's split is its split scheme's (``splits``, video_id -> split) when given, else
    the manifest's ``split`` column.

    Titles give the video id, its category and split, and its trapezoid AP when the video
    has labels. Pseudo-highlights (``pseudo_h5``) exist for training videos only; other
    videos are drawn without them.
    """
    predictions = read_predictions(predictions_path)
    clips = read_clips(clips_csv)
    manifest = read_manifest(manifest_csv).set_index("video_id")
    pseudo = {}
    if pseudo_h5 is not None:
        from highlight_pipeline.pseudo.highlights import read_pseudo_highlights

        pseudo = read_pseudo_highlights(pseudo_h5)
    split_of = splits if splits is not None else manifest["split"].astype(str).to_dict()
    videos = sorted(
        v
        for v in predictions
        if v in manifest.index and (split is None or str(split_of.get(v, "")) == split)
    )
    if not videos:
        raise DatasetError(f"{predictions_path}: no predicted video in split {split!r}")
    if max_videos is not None:
        videos = videos[: max(0, int(max_videos))]
    by_video = {v: g.sort_values("clip") for v, g in clips.groupby("video_id", sort=False)}
    out_dir = Path(out_dir)
    written = []
    for video_id in tqdm(videos, desc="score curves", unit="video"):
        group = by_video.get(video_id)
        scores = predictions[video_id]
        if group is None or len(group) != len(scores):
            got = 0 if group is None else len(group)
            raise DatasetError(f"{video_id}: {len(scores)} predicted scores but {got} clips")
        labels = group["label"].to_numpy(dtype=np.float64) if "label" in group else None
        parts = [video_id]
        category = str(manifest.at[video_id, "category"])
        if category:
            parts.append(category)
        parts.append(f"{manifest.at[video_id, 'split']} split")
        if labels is not None and (labels >= 0).all() and np.isfinite(scores).all():
            parts.append(f"AP {ap_trapezoid(scores, labels):.3f}")
        ph = pseudo.get(video_id)
        pseudo_labels = None
        if ph is not None and len(ph.label) == len(scores):
            pseudo_labels = ph.label.astype(np.float64)
        written.append(
            plot_score_curve(
                group["start"].to_numpy(),
                group["end"].to_numpy(),
                scores,
                labels,
                out_dir / f"{quote(video_id, safe='')}.png",
                " · ".join(parts),
                pseudo=pseudo_labels,
            )
        )
    return written


# ------------------------------------------------------------------------------ bar charts


def plot_map_bars(table_csv: str | Path, out_png: str | Path) -> Path:
    """Grouped bars per (dataset, metric): columns (categories, average) × method/variant.

    Bars are the mean over runs with the std as error bars; black diamonds mark the value
    the paper reports, where the table has one (``paper`` column of the tables' CSV).
    """
    table = pd.read_csv(table_csv, dtype={"column": str}, keep_default_na=True)
    needed = {"method", "variant", "metric", "column", "mean", "std"}
    if not needed <= set(table.columns):
        raise DatasetError(f"{table_csv}: not a result table (needs {sorted(needed)})")
    if table.empty:
        raise DatasetError(f"{table_csv}: the table is empty")
    if "dataset" not in table.columns:
        table["dataset"] = Path(table_csv).stem
    if "measure" in table.columns:  # one panel per way of scoring (tables.ROW_KEYS)
        table["metric"] = table["measure"]
    panels = sorted(table.groupby(["dataset", "metric"], sort=True).groups)
    row_keys = ["method", "variant"] + (["features"] if "features" in table.columns else [])
    n_rows = max(len(table.groupby(row_keys)), 1)
    width = max(7.5, 0.3 * n_rows * table["column"].nunique() + 2.0)
    fig = Figure(figsize=(min(width, 18.0), 4.2 * len(panels)))
    colours = [f"C{i}" for i in range(10)]
    for p, (dataset, metric) in enumerate(panels):
        ax = fig.add_subplot(len(panels), 1, p + 1)
        part = table[(table["dataset"] == dataset) & (table["metric"] == metric)]
        columns = sorted(c for c in part["column"].unique() if c != "average")
        columns += ["average"] if "average" in set(part["column"]) else []
        groups = list(part.groupby(row_keys, sort=True))
        bar_w = 0.8 / max(len(groups), 1)
        x = np.arange(len(columns))
        paper_drawn = False
        paper_label = "paper"
        if "paper_dataset" in part.columns and part["paper_dataset"].notna().any():
            paper_label = f"paper ({part['paper_dataset'].dropna().iloc[0]})"
        for g, (key, group) in enumerate(groups):
            cells = group.set_index("column")
            mean = np.array([cells["mean"].get(c, np.nan) for c in columns], dtype=float)
            std = np.array([cells["std"].get(c, np.nan) for c in columns], dtype=float)
            offset = (g - (len(groups) - 1) / 2) * bar_w
            key = key if isinstance(key, tuple) else (key,)
            label = f"{key[0]} / {key[1]}" + (
                " (weight-free)" if len(key) > 2 and "weight-free" in str(key[2]) else ""
            )
            label += " (random-init)" if len(key) > 2 and "random-init" in str(key[2]) else ""
            ax.bar(
                x + offset,
                mean,
                bar_w * 0.92,
                yerr=np.nan_to_num(std),
                capsize=3,
                color=colours[g % len(colours)],
                label=label,
                error_kw={"elinewidth": 1, "ecolor": "#333333"},
            )
            if "paper" in cells.columns:
                paper = np.array([cells["paper"].get(c, np.nan) for c in columns], dtype=float)
                has = np.isfinite(paper)
                if has.any():
                    ax.plot(
                        (x + offset)[has],
                        paper[has],
                        "D",
                        color=PAPER_COLOUR,
                        ms=5,
                        label=None if paper_drawn else paper_label,
                    )
                    paper_drawn = True
        ax.set_xticks(x, columns)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel(str(metric))
        ax.set_title(f"{dataset}: {metric} per category (mean ± std over runs)")
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        ax.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, -0.1),
            ncol=min(3, len(groups) + int(paper_drawn)),
            frameon=False,
            fontsize=9,
        )
    fig.tight_layout()
    return _save(fig, out_png)


# ------------------------------------------------------------------------------ a run's plots


def plot_run(
    table_csv: str | Path,
    bars_png: str | Path,
    predictions_path: str | Path,
    clips_csv: str | Path,
    manifest_csv: str | Path,
    curves_dir: str | Path,
    pseudo_h5: str | Path | None = None,
    split: str | None = "test",
    splits_csv: str | Path | None = None,
    split_scheme: str = "default",
) -> list[Path]:
    """``hlp plots``: the bar chart of the dataset's table (:func:`plot_map_bars`) and the
    score curves of the run's videos of ``split`` (:func:`plot_video_curves`; under
    ``split_scheme`` of ``splits_csv`` if given, else the manifest's split column).
    Returns the curves written."""
    plot_map_bars(table_csv, bars_png)
    return plot_video_curves(
        predictions_path,
        clips_csv,
        manifest_csv,
        curves_dir,
        pseudo_h5,
        split,
        splits=read_splits(splits_csv, split_scheme) if splits_csv else None,
    )
