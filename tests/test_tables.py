"""Tests for evaluation (YouTube mAP by category) and result tables (mean ± std over seeds)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from highlight_pipeline.errors import DatasetError
from highlight_pipeline.evaluate import evaluate_run, protocol_scores, write_metrics
from highlight_pipeline.tables import write_tables


def clips_table(labels: dict[str, list[int]]) -> pd.DataFrame:
    rows = [
        {"video_id": v, "clip": i, "start": 2.0 * i, "end": 2.0 * i + 2, "label": y}
        for v, ys in labels.items()
        for i, y in enumerate(ys)
    ]
    return pd.DataFrame(rows)


LABELS = {
    "v1": [1, 0, 0],
    "v2": [0, 0, 1],
    "v3": [0, 1, 1, 0],
    "v4": [1, 0],
    "v5": [1, 0],
    "v6": [0, 1],
}
PREDICTIONS = {
    "v1": np.array([0.9, 0.1, 0.5]),  # positive first: AP 1
    "v2": np.array([0.9, 0.5, 0.1]),  # positive last of 3: AP (0 + 1/3) / 2 = 1/6
    "v3": np.array([0.8, 0.6, 0.4, 0.2]),  # N P P N: 0.5*(0+1/2)/2 + 0.5*(1/2+2/3)/2 = 5/12
    "v4": np.array([1.0, 0.0]),  # train split (AP 1): ignored on test
    "v5": np.array([0.2, 0.8]),  # N P: (0 + 1/2) / 2 = 1/4
}  # v6 has no prediction: not evaluated
MANIFEST = pd.DataFrame(
    {
        "video_id": ["v1", "v2", "v3", "v4", "v5", "v6"],
        "category": ["A", "A", "B", "B", "", "A"],
        "split": ["test", "test", "test", "train", "test", "test"],
    }
)


def youtube_by_category(predictions, clips, manifest, split):
    videos = manifest[(manifest["split"] == split) & manifest["video_id"].isin(predictions)]
    per_category, average, secondary = protocol_scores("youtube-map", predictions, clips, videos)
    assert secondary == {}
    return per_category, average, len(videos)


def test_youtube_map_by_category_hand_example():
    per_category, average, n = youtube_by_category(
        PREDICTIONS, clips_table(LABELS), MANIFEST, "test"
    )
    assert n == 4
    assert set(per_category) == {"A", "B", "all"}  # no category -> "all"
    assert per_category["A"] == pytest.approx((1 + 1 / 6) / 2)
    assert per_category["B"] == pytest.approx(5 / 12)
    assert per_category["all"] == pytest.approx(1 / 4)
    # average over categories, not over videos
    assert average == pytest.approx((7 / 12 + 5 / 12 + 1 / 4) / 3)


def test_train_split_uses_only_train_videos():
    per_category, average, n = youtube_by_category(
        PREDICTIONS, clips_table(LABELS), MANIFEST, "train"
    )
    assert n == 1 and per_category == {"B": 1.0} and average == 1.0


def test_unlabelled_dataset_cannot_be_evaluated():
    unlabelled = clips_table({v: [-1] * len(y) for v, y in LABELS.items()})
    with pytest.raises(DatasetError, match="no highlight labels"):
        youtube_by_category(PREDICTIONS, unlabelled, MANIFEST, "test")


def test_score_count_must_match_clip_count():
    wrong = {**PREDICTIONS, "v1": np.array([0.5, 0.4])}
    with pytest.raises(DatasetError, match="v1: 2 predicted scores for 3 clips"):
        youtube_by_category(wrong, clips_table(LABELS), MANIFEST, "test")


def test_tvsum_protocol_per_category():
    # Two annotators; per video the top-5 cut keeps everything (<= 3 clips).
    clips = clips_table({"v1": [0, 0, 0], "v2": [0, 0, 0]})
    clips["u0"] = [3, 1, 1, 1, 1, 3]  # positives: v1 clip 0, v2 clip 2
    clips["u1"] = [1, 3, 1, 1, 3, 1]  # positives: v1 clip 1, v2 clip 1
    videos = pd.DataFrame({"video_id": ["v1", "v2"], "category": ["A", "A"]})
    preds = {"v1": np.array([0.9, 0.5, 0.1]), "v2": np.array([0.9, 0.5, 0.1])}
    per_category, average, _ = protocol_scores("tvsum-top5-median", preds, clips, videos)
    # u0: v1 AP 1, v2 positive 3rd: 1 * (0 + 1/3) / 2 = 1/6.
    # u1: positive 2nd in both: after a negative p = 0, then 1 * (0 + 1/2) / 2 = 1/4.
    expected = ((1 + 1 / 6) / 2 + (1 / 4 + 1 / 4) / 2) / 2
    assert per_category == {"A": pytest.approx(expected)} and average == pytest.approx(expected)


def test_qvhighlights_protocol_reports_hit_at_1_as_secondary():
    clips = clips_table({"q1": [0, 0], "q2": [0, 0]})
    clips[["s0", "s1", "s2"]] = [[4, 4, 4], [0, 0, 0], [1, 1, 1], [4, 4, 4]]
    videos = pd.DataFrame({"video_id": ["q1", "q2"], "category": ["", ""]})
    preds = {"q1": np.array([0.9, 0.1]), "q2": np.array([0.9, 0.1])}
    per_category, average, secondary = protocol_scores("qvhighlights-hl", preds, clips, videos)
    # VeryGood: q1 top clip positive (AP 1, HIT 1); q2 positive ranked 2nd (AP 1/2, HIT 0).
    assert per_category == {"all": pytest.approx(0.75)} and average == pytest.approx(0.75)
    assert secondary["HIT@1"]["average"] == pytest.approx(0.5)


def test_evaluate_run_from_files(tmp_path):
    clips_path, manifest_path = tmp_path / "clips.csv", tmp_path / "manifest.csv"
    clips_table(LABELS).to_csv(clips_path, index=False)
    MANIFEST.to_csv(manifest_path, index=False)
    splits = dict(zip(MANIFEST["video_id"], MANIFEST["split"], strict=True))
    run = {
        "dataset": "d",
        "method": "avph",
        "variant": "full",
        "seed": 0,
        "features": "wf",
        "split": "default",
    }
    method_slice = {"lr": 0.01}
    metrics = evaluate_run(
        PREDICTIONS, clips_path, manifest_path, "youtube-map", splits, "test", run, method_slice
    )
    assert metrics["average"] == pytest.approx((7 / 12 + 5 / 12 + 1 / 4) / 3)
    assert metrics["metric"] == "mAP" and metrics["n_videos"] == 4
    assert metrics["method"] == "avph" and metrics["config_slice"] == method_slice
    out = tmp_path / "m" / "metrics.json"
    write_metrics(out, metrics)
    assert json.loads(out.read_text())["per_category"] == metrics["per_category"]
    with pytest.raises(DatasetError, match="tvsum"):
        evaluate_run(PREDICTIONS, clips_path, manifest_path, "tvsum", splits, "test", run, {})
    with pytest.raises(DatasetError, match="'val'"):
        evaluate_run(PREDICTIONS, clips_path, manifest_path, "youtube-map", splits, "val", run, {})


# ------------------------------------------------------------------------------ tables


def write_run(directory, method, seed, per_category):
    path = directory / f"{method}-{seed}.json"
    metrics = {
        "method": method,
        "variant": "full",
        "seed": seed,
        "split": "test",
        "metric": "mAP",
        "protocol": "youtube-map",
        "features": "wf",
        "per_category": per_category,
        "average": float(np.mean(list(per_category.values()))),
    }
    path.write_text(json.dumps(metrics))
    return path


def test_write_tables_mean_and_std_over_seeds(tmp_path, caplog):
    paths = [
        write_run(tmp_path, "avph", 0, {"A": 0.5, "B": 0.2}),
        write_run(tmp_path, "avph", 1, {"A": 0.6, "B": 0.2}),
        write_run(tmp_path, "avph", 2, {"A": 0.7, "B": 0.2}),
        write_run(tmp_path, "random", 0, {"A": 0.1, "B": 0.4}),
        write_run(tmp_path, "random", 1, {"A": 0.3, "B": 0.4}),
    ]
    md, csv = tmp_path / "t" / "table.md", tmp_path / "t" / "table.csv"
    write_tables(paths, "syn", md, csv)
    lines = md.read_text().splitlines()
    assert lines[0] == "# syn: mAP (mean ± std over seeds)"
    assert lines[2] == "| method | variant | features | runs | A | B | average | vs random |"
    # avph: A 0.6 ± 0.1 (sample std), B 0.2 ± 0, average (0.35, 0.40, 0.45) -> 0.4 ± 0.05;
    # against random 0.3 ± 0.0707 (2 runs) the difference 0.1 is under 2 SE = 0.115
    assert (
        "| avph | full | wf | 3 | 0.600 ± 0.100 | 0.200 ± 0.000 | 0.400 ± 0.050 | ⚠ ≈ chance |"
        in lines
    )
    # random: A (0.1, 0.3) -> 0.2 ± 0.1414; average (0.25, 0.35) -> 0.3 ± 0.0707
    assert (
        "| random | full | wf | 2 | 0.200 ± 0.141 | 0.400 ± 0.000 | 0.300 ± 0.071 | (baseline) |"
        in lines
    )
    assert any("avph/full is ≈ chance on mAP" in r.message for r in caplog.records)
    table = pd.read_csv(csv)
    assert set(table["dataset"]) == {"syn"}
    cell = table.set_index(["method", "column"])
    assert cell.at[("avph", "A"), "mean"] == pytest.approx(0.6)
    assert cell.at[("avph", "A"), "std"] == pytest.approx(0.1)
    assert cell.at[("avph", "average"), "std"] == pytest.approx(0.05)
    assert cell.at[("random", "A"), "std"] == pytest.approx(0.1414, abs=1e-4)
    assert cell.at[("random", "B"), "runs"] == 2
    assert cell.at[("avph", "average"), "vs_random"] == "≈ chance"
    assert pd.isna(cell.at[("avph", "A"), "vs_random"])


def test_single_run_has_zero_std(tmp_path):
    paths = [write_run(tmp_path, "avph", 0, {"A": 0.25})]
    md = tmp_path / "t.md"
    summary = write_tables(paths, "syn", md, tmp_path / "t.csv")
    assert (summary["std"] == 0).all()
    assert "| avph | full | wf | 1 | 0.250 ± 0.000 | 0.250 ± 0.000 | – |" in md.read_text()


def test_scores_summary_says_what_unlabelled_scores_rest_on():
    from highlight_pipeline.tables import render_scores_summary

    runs = [
        {
            "method": "avph",
            "variant": "av-ph",
            "features": "colormotion+logmel (weight-free)",
            "scores": ["a.jsonl"],
        },
        {"method": "random", "variant": "uniform", "features": "none", "scores": ["r.jsonl"]},
    ]
    text = render_scores_summary("mine", runs)
    assert "| avph | av-ph | colormotion+logmel (weight-free) | `a.jsonl` |" in text
    assert "not evaluated" in text and "⚠ Weight-free features are a fallback" in text
    published = [{**runs[0], "features": "r3d34+cnn14 (published)"}]
    assert "⚠" not in render_scores_summary("mine", published)


def test_video_without_a_highlight_counts_zero_with_a_warning(caplog):
    labels = {**LABELS, "v5": [0, 0]}  # v5: no positive clip
    per_category, average, _ = youtube_by_category(
        PREDICTIONS, clips_table(labels), MANIFEST, "test"
    )
    assert per_category["all"] == 0.0  # v5 alone in its (empty) category, AP 0
    assert any(
        "1 evaluated video(s) without a highlight clip (v5)" in r.message for r in caplog.records
    )
