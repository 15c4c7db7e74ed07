"""Score-curve and bar-chart figures (Agg, no display) from tiny generated pipeline files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

import highlight_pipeline.plots as plots
from highlight_pipeline.errors import DatasetError
from highlight_pipeline.predictions import write_predictions
from highlight_pipeline.pseudo.highlights import PseudoHighlight, write_pseudo_highlights
from highlight_pipeline.tables import write_tables

PNG = b"\x89PNG\r\n\x1a\n"


def assert_png(path, min_bytes=5000):
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > min_bytes
    image = imread(path)
    assert image.shape[0] > 200 and image.shape[1] > 500
    assert image[..., :3].std() > 0.01  # not blank


def test_normalise_scores():
    assert plots.normalise_scores([-4.0, 0.0, 12.0]) == pytest.approx([0.0, 0.25, 1.0])
    assert plots.normalise_scores([3.0, 3.0]) == pytest.approx([0.5, 0.5])
    out = plots.normalise_scores([1.0, np.nan, 3.0])
    assert out[0] == 0 and np.isnan(out[1]) and out[2] == 1


def test_plot_score_curve_with_logits_and_pseudo(tmp_path):
    starts = np.arange(0.0, 20.0, 2.0)
    scores = np.array([-9.0, -3.0, 8.0, 11.0, 2.0, -7.0, -8.0, 5.0, 9.0, -1.0])
    labels = np.array([0, 0, 1, 1, 0, 0, 0, 1, 1, 0])
    pseudo = np.array([0, 1, 1, 1, 0, 0, 0, 0, 1, 0])
    out = plots.plot_score_curve(
        starts, starts + 2, scores, labels, tmp_path / "a" / "v.png", "v · AP 1.000", pseudo
    )
    assert out == tmp_path / "a" / "v.png"
    assert_png(out)
    # continuous pseudo scores and unlabelled clips are drawn too
    out2 = plots.plot_score_curve(
        starts, starts + 2, scores, -np.ones(10), tmp_path / "b.png", "v", pseudo=scores / 3
    )
    assert_png(out2)
    with pytest.raises(DatasetError, match="3 labels for 10 clips"):
        plots.plot_score_curve(starts, starts + 2, scores, labels[:3], tmp_path / "c.png", "v")


@pytest.fixture
def run_files(tmp_path):
    """Four videos (three test, one train) with clips, labels, predictions, pseudo-highlights."""
    videos = {
        "a 1": ("cat", "test", [0, 1, 1, 0], [0.1, 0.9, 0.8, 0.2]),  # AP 1
        "b": ("cat", "test", [1, 0, 0], [-2.0, 3.0, 1.0]),  # positive ranked last: AP 1/6
        "c": ("dog", "test", [0, 0, 1, 1, 0], [5.0, 4.0, 3.0, 2.0, 1.0]),
        "d": ("dog", "train", [1, 1, 0], [3.0, 2.0, 1.0]),
    }
    manifest = pd.DataFrame(
        {
            "video_id": list(videos),
            "path": [f"/nowhere/{v}.mp4" for v in videos],
            "category": [c for c, _, _, _ in videos.values()],
            "split": [s for _, s, _, _ in videos.values()],
        }
    )
    clips = pd.DataFrame(
        [
            {"video_id": v, "clip": i, "start": 2.0 * i, "end": 2.0 * i + 2, "label": y}
            for v, (_, _, labels, _) in videos.items()
            for i, y in enumerate(labels)
        ]
    )
    paths = {k: tmp_path / f"{k}.csv" for k in ("manifest", "clips")}
    manifest.to_csv(paths["manifest"], index=False)
    clips.to_csv(paths["clips"], index=False)
    paths["predictions"] = tmp_path / "seed0.predictions.jsonl"
    write_predictions(
        paths["predictions"], list(videos), [np.array(s) for *_, s in videos.values()]
    )
    paths["pseudo"] = tmp_path / "highlights.h5"
    ph = PseudoHighlight(
        visual=np.array([0.3, 0.2, 0.1]),
        audio=np.array([0.3, 0.2, 0.1]),
        av=np.array([0.3, 0.2, 0.1]),
        label=np.array([1, 0, 0]),
        category=0,
    )
    write_pseudo_highlights(paths["pseudo"], {"d": ph}, {"k": 1})
    return paths


def test_plot_video_curves_one_png_per_video(run_files, tmp_path, monkeypatch):
    titles, pseudo_given = {}, {}
    original = plots.plot_score_curve

    def spy(starts, ends, scores, labels, out_png, title, pseudo=None):
        titles[out_png.name] = title
        pseudo_given[out_png.name] = pseudo
        return original(starts, ends, scores, labels, out_png, title, pseudo)

    monkeypatch.setattr(plots, "plot_score_curve", spy)
    args = (run_files["predictions"], run_files["clips"], run_files["manifest"])
    written = plots.plot_video_curves(*args, tmp_path / "test", pseudo_h5=run_files["pseudo"])
    assert [p.name for p in written] == ["a%201.png", "b.png", "c.png"]  # test split, sorted
    assert sorted(p.name for p in (tmp_path / "test").iterdir()) == [p.name for p in written]
    for path in written:
        assert_png(path)
    assert titles["a%201.png"] == "a 1 · cat · test split · AP 1.000"
    assert titles["b.png"].endswith(f"AP {1 / 6:.3f}")
    assert pseudo_given["b.png"] is None  # pseudo-highlights exist for training videos only

    train = plots.plot_video_curves(*args, tmp_path / "train", run_files["pseudo"], "train")
    assert [p.name for p in train] == ["d.png"]
    assert list(pseudo_given["d.png"]) == [1.0, 0.0, 0.0]

    assert len(plots.plot_video_curves(*args, tmp_path / "all", split=None)) == 4
    assert len(plots.plot_video_curves(*args, tmp_path / "two", max_videos=2)) == 2
    with pytest.raises(DatasetError, match="'val'"):
        plots.plot_video_curves(*args, tmp_path / "val", split="val")
    # a split scheme's splits (splits.csv) decide, not the manifest's column
    scheme = {"a 1": "train", "b": "test", "c": "train", "d": "test"}
    chosen = plots.plot_video_curves(*args, tmp_path / "scheme", splits=scheme)
    assert [p.name for p in chosen] == ["b.png", "d.png"]


def test_plot_video_curves_length_mismatch(run_files, tmp_path):
    write_predictions(run_files["predictions"], ["b"], [np.array([0.1, 0.2])])
    manifest, clips = run_files["manifest"], run_files["clips"]
    with pytest.raises(DatasetError, match="b: 2 predicted scores but 3 clips"):
        plots.plot_video_curves(run_files["predictions"], clips, manifest, tmp_path / "x")


def test_plot_map_bars_from_table_csv(tmp_path):
    paths = []
    for method, variant, seed, per_category in [
        ("chd", "full", 0, {"dog": 0.6, "gymnastics": 0.7}),
        ("chd", "full", 1, {"dog": 0.7, "gymnastics": 0.8}),
        ("random", "uniform", 0, {"dog": 0.3, "gymnastics": 0.2}),
    ]:
        path = tmp_path / f"{method}-{seed}.json"
        metrics = {
            "method": method,
            "variant": variant,
            "seed": seed,
            "split": "test",
            "metric": "mAP",
            "protocol": "youtube-map",
            "features": "colormotion+logmel (weight-free)",
            "per_category": per_category,
            "average": float(np.mean(list(per_category.values()))),
        }
        path.write_text(json.dumps(metrics))
        paths.append(path)
    csv = tmp_path / "youtube.csv"
    write_tables(paths, "youtube", tmp_path / "youtube.md", csv)
    out = plots.plot_map_bars(csv, tmp_path / "plots" / "youtube-map.png")
    assert_png(out)
    with pytest.raises(DatasetError, match="not a result table"):
        pd.DataFrame({"x": [1]}).to_csv(tmp_path / "bad.csv", index=False)
        plots.plot_map_bars(tmp_path / "bad.csv", tmp_path / "bad.png")
