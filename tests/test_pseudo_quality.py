"""Pseudo-highlight quality against the ground truth, and how the tables show it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from highlight_pipeline.metrics import ap_trapezoid
from highlight_pipeline.pseudo.highlights import PseudoHighlight, write_pseudo_highlights
from highlight_pipeline.pseudo.quality import pseudo_quality
from highlight_pipeline.tables import write_tables

LABELS = {
    "a": np.array([0, 1, 1, 0, 0, 0]),
    "b": np.array([1, 0, 0, 0, 1, 0, 0, 0]),
    "c": np.array([0, 0, 0, 0]),  # no positive clip: left out
}


def tables(labels=LABELS):
    rows = [
        {"video_id": v, "clip": i, "start": 2.0 * i, "end": 2.0 * i + 2, "label": int(y)}
        for v, ys in labels.items()
        for i, y in enumerate(ys)
    ]
    clips = pd.DataFrame(rows)
    manifest = pd.DataFrame(
        {"video_id": list(labels), "category": ["x", "x", "y"], "split": "train"}
    )
    return clips, manifest


def write(tmp_path, visual, audio, categories=None):
    pseudo = {}
    for v in LABELS:
        av = np.nanmean(np.stack([visual[v], audio[v]]), axis=0) if v in audio else visual[v]
        pseudo[v] = PseudoHighlight(
            visual=visual[v],
            audio=audio.get(v, np.full(len(LABELS[v]), np.nan)),
            av=av,
            label=(av > np.median(av)).astype(np.uint8),
            category=(categories or {}).get(v, 0),
        )
    path = tmp_path / "highlights.h5"
    write_pseudo_highlights(path, pseudo, {})
    return str(path)


def test_quality_compares_the_pseudo_categories_with_the_real_ones(tmp_path):
    visual = {v: y.astype(float) for v, y in LABELS.items()}
    clips, manifest = tables()  # categories x, x, y
    found = pseudo_quality(write(tmp_path, visual, {}, {"c": 1}), clips, manifest, "youtube-map")
    assert found["categories"] == pytest.approx(1.0)  # the same grouping, other names
    found = pseudo_quality(write(tmp_path, visual, {}), clips, manifest, "youtube-map")
    assert found["categories"] == pytest.approx(0.0)  # one category for all: chance
    found = pseudo_quality(
        write(tmp_path, visual, {}, {"b": 1}), clips, manifest, "youtube-map"
    )  # a and b apart, b with c: worse than chance
    assert found["categories"] < 0
    # a dataset without categories (an empty column in the CSV): nothing to compare with
    unnamed = manifest.assign(category=np.nan)
    assert pseudo_quality(write(tmp_path, visual, {}), clips, unnamed, "youtube-map")[
        "categories"
    ] is None


def test_quality_scores_each_modality_against_the_labels(tmp_path):
    visual = {v: y.astype(float) + 0.01 * np.arange(len(y)) for v, y in LABELS.items()}
    audio = {v: -y.astype(float) for v, y in LABELS.items()}  # upside down
    clips, manifest = tables()
    quality = pseudo_quality(write(tmp_path, visual, audio), clips, manifest, "youtube-map")
    assert quality["n_videos"] == 2  # c has no positive clip
    assert quality["visual"] == pytest.approx(1.0)
    expected_audio = np.mean([ap_trapezoid(audio[v], LABELS[v]) for v in ("a", "b")])
    assert quality["audio"] == pytest.approx(expected_audio)
    assert quality["audio"] < 0.5
    # expected AP of a random ranking lies near the share of positives, well below 1
    assert 0.2 < quality["random"] < 0.6


def test_quality_without_audio_and_without_labels(tmp_path):
    visual = {v: y.astype(float) for v, y in LABELS.items()}
    clips, manifest = tables()
    quality = pseudo_quality(write(tmp_path, visual, {}), clips, manifest, "youtube-map")
    assert quality["audio"] is None and quality["visual"] == pytest.approx(1.0)
    unlabelled, _ = tables({v: np.full(len(y), -1) for v, y in LABELS.items()})
    assert pseudo_quality(write(tmp_path, visual, {}), unlabelled, manifest, "youtube-map") is None


def metrics_file(tmp_path, method, seed, average, quality):
    path = tmp_path / f"{method}-{seed}.json"
    path.write_text(
        json.dumps(
            {
                "method": method,
                "variant": "v",
                "seed": seed,
                "split": "default",
                "metric": "mAP",
                "protocol": "youtube-map",
                "features": "wf (weight-free)",
                "per_category": {"x": average},
                "average": average,
                "pseudo_quality": quality,
            }
        )
    )
    return path


def test_tables_show_quality_and_warn_when_pseudo_labels_are_at_chance(tmp_path, caplog):
    poor = {"visual": 0.6, "audio": 0.25, "av": 0.26, "random": 0.25, "n_videos": 4}
    paths = [
        metrics_file(tmp_path, "avph", s, 0.5 + 0.01 * s, {**poor, "av": 0.26 + 0.002 * s})
        for s in range(3)
    ] + [metrics_file(tmp_path, "random", s, 0.3 + 0.01 * s, None) for s in range(3)]
    md, csv = tmp_path / "t.md", tmp_path / "t.csv"
    write_tables(paths, "d", md, csv)
    text = md.read_text(encoding="utf-8")
    assert "## Pseudo-highlight quality on the training videos" in text
    assert "| avph | v | wf (weight-free) | 3 | 0.600 ± 0.000 | 0.250 ± 0.000 | 0.262 ± 0.002 " in (
        text
    )
    assert "no better than random on the training videos (AV 0.262 against 0.250)" in text
    assert any("no better than random on the training videos" in r.message for r in caplog.records)
    # the quality rows stay out of the main table and its columns
    assert "| avph | v | wf (weight-free) | 3 | 0.510 ± 0.010 | 0.510 ± 0.010 | above chance |" in (
        text
    )
    table = pd.read_csv(csv)
    quality = table[table["metric"] == "pseudo-highlight quality"].set_index("column")
    assert quality.at["visual", "mean"] == pytest.approx(0.6)
    assert set(quality.index) == {"visual", "audio", "av", "random"}


def test_good_pseudo_labels_get_no_warning(tmp_path):
    good = {"visual": 0.8, "audio": 0.7, "av": 0.85, "random": 0.3, "n_videos": 4}
    paths = [metrics_file(tmp_path, "avph", s, 0.6, good) for s in range(2)]
    md = tmp_path / "t.md"
    write_tables(paths, "d", md, tmp_path / "t.csv")
    assert "⚠" not in md.read_text(encoding="utf-8")
