"""Each row scored as the paper beside it scores it (``paper_evaluation``): the TVSum preset
scores hpcl and pld with the top-50 % ground truth, hpcl on its longest-two split, and the
random baseline beside each way with the runs of that protocol and split only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from highlight_pipeline import config as hlconfig
from highlight_pipeline.errors import ConfigError
from highlight_pipeline.evaluate import evaluate_run, write_metrics
from highlight_pipeline.metrics import PROTOCOLS
from highlight_pipeline.tables import build_table, render_markdown

ROOT = Path(__file__).resolve().parent.parent
TVSUM = [ROOT / "config.yaml", ROOT / "workflow" / "configs" / "tvsum.yaml"]


def test_tvsum_preset_scores_each_method_as_its_paper():
    config = hlconfig.load_configs(TVSUM)
    random80 = [f"random80-s{k}" for k in range(5)]
    expected = {  # method -> (protocol, split schemes): HPCL §4.1, PLD-VHD §4.1.1, AV-PH, CHD
        "hpcl": ("tvsum-top5-top50", ["longest2"]),
        "pld": ("tvsum-top5-top50", random80),
        "avph": ("tvsum-top5-median", random80),
        "chd": ("tvsum-top5-median", random80),
    }
    for method, (protocol, schemes) in expected.items():
        assert hlconfig.protocol_of(config, "tvsum", method) == protocol, method
        assert hlconfig.split_schemes_of(config, "tvsum", method) == schemes, method
    # the random baseline runs on every scheme in use, scored every way used there
    assert hlconfig.split_schemes_of(config, "tvsum", "random") == [*random80, "longest2"]
    assert hlconfig.chance_protocols(config, "tvsum", "random80-s2") == [
        "tvsum-top5-median",
        "tvsum-top5-top50",
    ]
    assert hlconfig.chance_protocols(config, "tvsum", "longest2") == ["tvsum-top5-top50"]
    # the shared protocol stays the dataset's
    assert hlconfig.protocol_of(config, "tvsum") == "tvsum-top5-median"


def test_paper_evaluation_does_not_change_the_reader_slice():
    config = hlconfig.load_configs(TVSUM)
    plain = json.loads(json.dumps(config))
    del plain["datasets"]["tvsum"]["paper_evaluation"]
    assert hlconfig.reader_slice(config, "tvsum") == hlconfig.reader_slice(plain, "tvsum")


def test_protocol_names_come_from_the_registry():
    config = hlconfig.load_configs(TVSUM)
    schema = hlconfig.load_schema()
    assert schema["$defs"]["protocol"]["enum"] == list(PROTOCOLS)
    bad = json.loads(json.dumps(config))
    bad["datasets"]["tvsum"]["paper_evaluation"]["hpcl"]["protocol"] = "tvsum-top50"
    with pytest.raises(ConfigError, match="tvsum-top50"):
        hlconfig.validate_config(bad)
    bad = json.loads(json.dumps(config))
    bad["datasets"]["tvsum"]["paper_evaluation"]["hcpl"] = {"protocol": "tvsum-top5-top50"}
    with pytest.raises(ConfigError, match=r"paper_evaluation: unknown method 'hcpl'"):
        hlconfig.validate_config(bad)
    bad = json.loads(json.dumps(config))
    bad["datasets"]["tvsum"]["paper_evaluation"]["hpcl"]["splits"] = ["longest2"]
    with pytest.raises(ConfigError, match="unknown key 'splits'"):
        hlconfig.validate_config(bad)


# ------------------------------------------------------------------- metrics and tables

RATINGS = {  # video -> per clip, 3 annotators' ratings
    "a": [[5, 4, 5], [1, 2, 1], [3, 3, 4], [2, 1, 1], [4, 5, 4], [1, 1, 2]],
    "b": [[1, 1, 1], [2, 3, 2], [5, 5, 4], [4, 4, 5], [1, 2, 1], [3, 1, 2]],
    "c": [[2, 2, 2], [5, 4, 4], [1, 1, 1], [3, 3, 3], [4, 4, 5], [1, 2, 1]],
}


def tvsum_like() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = []
    for v, ratings in RATINGS.items():
        r = np.array(ratings, dtype=float)
        mean = r.mean(axis=1)
        for i in range(len(r)):
            rows.append(
                {
                    "video_id": v,
                    "clip": i,
                    "start": 2.0 * i,
                    "end": 2.0 * i + 2,
                    "label": int(mean[i] > np.median(mean)),
                    "score": mean[i],
                    **{f"u{k}": r[i, k] for k in range(3)},
                }
            )
    manifest = pd.DataFrame({"video_id": list(RATINGS), "category": ["X", "X", "Y"]})
    return pd.DataFrame(rows), manifest


def run_metrics(tmp_path, method, split, seed, predictions, protocol, also=()):
    clips, manifest = tvsum_like()
    clips.to_csv(tmp_path / "clips.csv", index=False)
    manifest.to_csv(tmp_path / "manifest.csv", index=False)
    run = {"split": split, "dataset": "t", "method": method, "variant": "v", "seed": seed}
    run["features"] = "none" if method == "random" else "r3d34+cnn14"
    metrics = evaluate_run(
        predictions,
        tmp_path / "clips.csv",
        tmp_path / "manifest.csv",
        protocol,
        {v: "test" for v in RATINGS},
        "test",
        run,
        {},
        also=list(also),
    )
    path = tmp_path / f"{method}-{split}-{seed}.json"
    write_metrics(path, metrics)
    return path, metrics


def test_also_scored_is_the_same_predictions_under_the_other_protocol(tmp_path):
    rng = np.random.default_rng(0)
    predictions = {v: rng.random(len(r)) for v, r in RATINGS.items()}
    _, both = run_metrics(
        tmp_path, "random", "s0", 0, predictions, "tvsum-top5-median", ["tvsum-top5-top50"]
    )
    _, top50 = run_metrics(tmp_path, "random", "s0", 0, predictions, "tvsum-top5-top50")
    assert [a["protocol"] for a in both["also_scored"]] == ["tvsum-top5-top50"]
    assert both["also_scored"][0]["average"] == pytest.approx(top50["average"])
    assert both["also_scored"][0]["per_category"] == pytest.approx(top50["per_category"])
    assert both["average"] != pytest.approx(top50["average"])  # two ground truths
    assert top50["also_scored"] == []


def test_table_compares_each_row_with_random_on_its_protocol_and_split(tmp_path):
    paths = []
    truth = {v: np.array(r, dtype=float).mean(axis=1) for v, r in RATINGS.items()}
    for seed in (0, 1):
        noise = np.random.default_rng(seed)
        good = {v: t + noise.normal(0, 0.01, len(t)) for v, t in truth.items()}
        paths.append(run_metrics(tmp_path, "hpcl", "longest2", seed, good, "tvsum-top5-top50")[0])
        paths.append(run_metrics(tmp_path, "avph", "r-s0", seed, good, "tvsum-top5-median")[0])
    for seed in (0, 1):
        draw = np.random.default_rng(100 + seed)
        chance = {v: draw.random(len(t)) for v, t in truth.items()}
        # random on the shared split: scored both ways; on hpcl's split: top-50 % only
        paths.append(
            run_metrics(
                tmp_path,
                "random",
                "r-s0",
                seed,
                chance,
                "tvsum-top5-median",
                ["tvsum-top5-top50"],
            )[0]
        )
        flipped = {v: -s for v, s in chance.items()}  # another draw on the other split
        paths.append(
            run_metrics(tmp_path, "random", "longest2", seed, flipped, "tvsum-top5-top50")[0]
        )
    summary = build_table(paths, "t", paper_dataset="tvsum")
    average = summary[summary["column"] == "average"]
    scorings = set(average["scoring"])
    assert scorings == {"tvsum-top5-top50 on longest2", "tvsum-top5-median on r-s0"}
    random_rows = average[average["method"] == "random"].set_index("scoring")
    # the random row beside hpcl holds only its longest2 runs (scored top-50 %), ...
    long_runs = [json.loads(p.read_text()) for p in paths if "random-longest2" in p.name]
    assert random_rows.loc["tvsum-top5-top50 on longest2", "runs"] == 2
    assert random_rows.loc["tvsum-top5-top50 on longest2", "mean"] == pytest.approx(
        np.mean([m["average"] for m in long_runs])
    )
    # ... the one beside avph only its shared-split runs scored with the annotators' medians
    shared = [json.loads(p.read_text()) for p in paths if "random-r-s0" in p.name]
    assert random_rows.loc["tvsum-top5-median on r-s0", "mean"] == pytest.approx(
        np.mean([m["average"] for m in shared])
    )
    # no random row for a way no other row is scored (top-50 % on the shared split)
    assert len(random_rows) == 2
    markdown = render_markdown(summary, "t")
    assert "## top5_mAP · tvsum-top5-top50 on longest2" in markdown
    assert "## top5_mAP · tvsum-top5-median on r-s0" in markdown
    hpcl = average[average["method"] == "hpcl"].iloc[0]
    assert hpcl["measure"] == "top5_mAP · tvsum-top5-top50 on longest2"
    assert hpcl["vs_random"] == "above chance"


def test_one_way_of_scoring_keeps_the_plain_metric(tmp_path):
    truth = {v: np.array(r, dtype=float).mean(axis=1) for v, r in RATINGS.items()}
    paths = [
        run_metrics(tmp_path, "avph", "s0", 0, truth, "tvsum-top5-median")[0],
        run_metrics(tmp_path, "random", "s0", 0, truth, "tvsum-top5-median")[0],
    ]
    summary = build_table(paths, "t")
    assert set(summary["measure"]) == {"top5_mAP"}
    assert set(summary["scoring"]) == {"tvsum-top5-median"}
    assert "·" not in render_markdown(summary, "t")


def test_a_row_in_another_setting_says_which(tmp_path, caplog):
    from highlight_pipeline.tables import write_tables

    truth = {v: np.array(r, dtype=float).mean(axis=1) for v, r in RATINGS.items()}
    paths = [
        run_metrics(tmp_path, "avph", "s0", 0, truth, "tvsum-top5-median")[0],
        run_metrics(tmp_path, "chd", "s0", 0, truth, "tvsum-top5-median")[0],
    ]
    for path, variant in zip(paths, ("av-ph", "full"), strict=True):
        metrics = json.loads(path.read_text())
        metrics["variant"] = variant
        path.write_text(json.dumps(metrics))
    differs = {"avph/av-ph": ["epochs: 3 (paper: 20)"], "random/default": ["ignored"]}
    with caplog.at_level("WARNING"):
        summary = write_tables(
            paths,
            "t",
            tmp_path / "t.md",
            tmp_path / "t.csv",
            paper_dataset="tvsum",
            differs=differs,
        )
    markdown = (tmp_path / "t.md").read_text()
    assert "* ⚠ avph/av-ph runs in a setting other than its paper's: epochs: 3 (paper: 20)." in (
        markdown
    )
    assert "not the paper's setting" in markdown
    assert "chd/full runs in a setting" not in markdown
    assert "runs in a setting other than its paper's: epochs: 3" in caplog.text
    table = pd.read_csv(tmp_path / "t.csv", keep_default_na=False)
    avph = table[(table["method"] == "avph") & (table["column"] == "average")]
    assert avph["differs_from_paper"].tolist() == ["epochs: 3 (paper: 20)"]
    assert set(summary.loc[summary["method"] == "chd", "differs_from_paper"]) == {""}
