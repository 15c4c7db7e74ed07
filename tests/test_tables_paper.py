"""Paper numbers (package data) and result tables that print them next to ours."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from highlight_pipeline.errors import DatasetError
from highlight_pipeline.paper_results import load_paper_results, paper_entry, paper_value
from highlight_pipeline.tables import tex_escape, write_tables

# ------------------------------------------------------------------------------ paper data


def test_paper_results_shipped_as_package_data():
    table = load_paper_results()
    assert list(table.columns) == [
        "method",
        "variant",
        "dataset",
        "domain",
        "metric",
        "value",
        "source",
    ]
    assert set(table["method"]) == {"pld", "chd", "hpcl", "avph"}
    assert not table.duplicated(["method", "variant", "dataset", "domain", "metric"]).any()
    assert table["value"].between(0, 1).all()  # fractions, not percentages


def test_paper_value_lookups():
    assert paper_value("avph", "av-ph", "youtube", "average", "mAP") == pytest.approx(0.683)
    assert paper_value("chd", "full", "youtube", "dog", "mAP") == pytest.approx(0.6057)
    # domain and metric spelling: case and punctuation do not matter
    assert paper_value("chd", "full", "youtube", "Dog", "map") == pytest.approx(0.6057)
    assert paper_value("pld", "tased-full", "tvsum", "bk", "top5-mAP") == pytest.approx(0.845)
    assert paper_value("avph", "av-ph", "qvhighlights-val", "all", "hit@1") == pytest.approx(0.2626)
    assert paper_entry("hpcl", "co-av", "tvsum", "average", "top5_mAP") == (0.801, "HPCL Table 3")
    # nothing reported
    assert paper_value("avph", "av-ph", "youtube", "dog", "mAP") is None
    assert paper_value("random", "uniform", "youtube", "average", "mAP") is None
    assert paper_value("avph", "av-ph", "qvhighlights", "all", "mAP") is None  # name differs


def test_loaded_table_is_a_copy():
    table = load_paper_results()
    table.loc[0, "value"] = 99.0
    assert load_paper_results().loc[0, "value"] != 99.0


# ------------------------------------------------------------------------------ tables


def write_run(directory, method, variant, seed, per_category, features="wf", metric="mAP"):
    path = directory / f"{method}-{variant}-{metric.replace('@', '')}-{seed}.json"
    path.write_text(
        json.dumps(
            {
                "method": method,
                "variant": variant,
                "seed": seed,
                "split": "test",
                "metric": metric,
                "protocol": "youtube-map",
                "features": features,
                "per_category": per_category,
                "average": float(np.mean(list(per_category.values()))),
            }
        )
    )
    return path


@pytest.fixture
def runs(tmp_path):
    """chd/full (paper numbers on YouTube) and random/uniform (none), two seeds each."""
    d = tmp_path / "metrics"
    d.mkdir()
    feats = "r3d_34 (random-init) 50%"
    return [
        write_run(d, "chd", "full", 0, {"dog": 0.60, "gymnastics": 0.70}, feats),
        write_run(d, "chd", "full", 1, {"dog": 0.70, "gymnastics": 0.80}, feats),
        write_run(d, "random", "uniform", 0, {"dog": 0.30, "gymnastics": 0.20}),
        write_run(d, "random", "uniform", 1, {"dog": 0.50, "gymnastics": 0.20}),
    ]


def outputs(tmp_path, name="yt"):
    base = tmp_path / "tables" / name
    return base.with_suffix(".md"), base.with_suffix(".csv"), base.with_suffix(".tex")


def test_markdown_has_paper_rows_with_difference(runs, tmp_path):
    md, csv, tex = outputs(tmp_path)
    write_tables(runs, "yt", md, csv, tex, paper_dataset="youtube")
    lines = md.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# yt: mAP (mean ± std over seeds)"
    assert lines[2] == (
        "| method | variant | features | runs | dog | gymnastics | average | vs random |"
    )
    # chd: dog (0.6, 0.7) -> 0.650 ± 0.071; gymnastics 0.750 ± 0.071; average (0.65, 0.75)
    ours = (
        "| chd | full | r3d_34 (random-init) 50% | 2 "
        "| 0.650 ± 0.071 | 0.750 ± 0.071 | 0.700 ± 0.071 | above chance |"
    )
    i = lines.index(ours)
    # paper (CHD Table 1): dog 0.6057, gymnastics 0.7109, average 0.6539
    assert lines[i + 1] == (
        "| ↳ paper | full | CHD Table 1 |  | 0.606 (Δ +0.044) | 0.711 (Δ +0.039) "
        "| 0.654 (Δ +0.046) | |"
    )
    j = lines.index(
        "| random | uniform | wf | 2 | 0.400 ± 0.141 | 0.200 ± 0.000 | 0.300 ± 0.071 | (baseline) |"
    )
    assert lines[j + 1] == "| ↳ paper | uniform | – |  | – | – | – | |"
    text = md.read_text(encoding="utf-8")
    assert "`youtube`" in text
    assert "chd/full (random-init)" in text  # flagged: not a reproduction


def test_csv_is_long_with_paper_value_and_difference(runs, tmp_path):
    md, csv, tex = outputs(tmp_path)
    returned = write_tables(runs, "yt", md, csv, tex, paper_dataset="youtube")
    table = pd.read_csv(csv, keep_default_na=True)
    assert len(table) == len(returned) == 2 * 3
    assert set(table["dataset"]) == {"yt"} and set(table["paper_dataset"]) == {"youtube"}
    cell = table.set_index(["method", "column"])
    assert cell.at[("chd", "dog"), "paper"] == pytest.approx(0.6057)
    assert cell.at[("chd", "dog"), "difference"] == pytest.approx(0.65 - 0.6057, abs=1e-4)
    assert cell.at[("chd", "average"), "paper"] == pytest.approx(0.6539)
    assert cell.at[("chd", "average"), "difference"] == pytest.approx(0.7 - 0.6539, abs=1e-4)
    assert cell.at[("chd", "gymnastics"), "paper_source"] == "CHD Table 1"
    assert cell.at[("chd", "dog"), "weights"] == "random-init"
    assert cell.at[("random", "dog"), "weights"] == "published"
    assert table[table["method"] == "random"][["paper", "difference"]].isna().all().all()
    assert cell.at[("random", "dog"), "std"] == pytest.approx(0.1414, abs=1e-4)


def test_latex_is_escaped_and_balanced(runs, tmp_path):
    md, csv, tex = outputs(tmp_path)
    write_tables(runs, "yt_1", md, csv, tex, paper_dataset="youtube")
    text = tex.read_text(encoding="utf-8")
    assert text.count("\\begin{tabular}") == text.count("\\end{tabular}") == 1
    for rule in ("\\toprule", "\\midrule", "\\bottomrule"):
        assert text.count(rule) == 1
    body = [ln for ln in text.splitlines() if ln and not ln.startswith("%")]
    unescaped = re.sub(r"\\[{}]", "", "\n".join(body))
    depth = 0
    for ch in unescaped:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0
    assert depth == 0
    assert not re.search(r"(?<!\\)[_%#]", "\n".join(body))  # escaped underscores, percent
    assert "r3d\\_34 (random-init) 50\\%" in text
    rows = [ln for ln in body if ln.endswith("\\\\")]
    assert len(rows) == 1 + 2 * 2  # header, then our row and the paper row per method
    assert all(ln.count("&") == 6 for ln in rows)  # 4 + 3 columns
    assert "$0.650 \\pm 0.071$" in text
    assert "$0.606$ ($+0.044$)" in text and "$0.654$ ($+0.046$)" in text
    paper_random = [ln for ln in rows if ln.startswith("\\quad")][1]
    assert paper_random.split(" & ")[4:] == ["--", "--", "-- \\\\"]
    assert "–" not in text and "±" not in text  # ASCII-safe for any LaTeX engine


def test_tex_escape():
    assert tex_escape("a_b & 5% #1 {x} ~ ^ \\") == (
        "a\\_b \\& 5\\% \\#1 \\{x\\} \\textasciitilde{} \\textasciicircum{} \\textbackslash{}"
    )


def test_outputs_are_deterministic(runs, tmp_path):
    first = outputs(tmp_path, "a")
    second = outputs(tmp_path, "b")
    write_tables(runs, "yt", *first, paper_dataset="youtube")
    write_tables(list(reversed(runs)), "yt", *second, paper_dataset="youtube")
    for x, y in zip(first, second, strict=True):
        assert x.read_bytes() == y.read_bytes()


def test_paper_dataset_defaults_to_dataset_name(runs, tmp_path):
    md, csv, _ = outputs(tmp_path, "youtube")
    summary = write_tables(runs, "youtube", md, csv)  # .tex optional
    assert not (tmp_path / "tables" / "youtube.tex").exists()
    chd = summary[(summary["method"] == "chd") & (summary["column"] == "dog")]
    assert chd["paper"].iloc[0] == pytest.approx(0.6057)
    md2, csv2, _ = outputs(tmp_path, "synthetic")
    summary = write_tables(runs, "synthetic", md2, csv2)  # no paper numbers at all
    assert summary["paper"].isna().all()
    assert "| ↳ paper | full | – |  | – | – | – |" in md2.read_text(encoding="utf-8")


def test_average_falls_back_to_the_papers_all_domain(tmp_path):
    paths = [
        write_run(tmp_path, "avph", "av-ph", 0, {"x": 0.2}, metric="mAP"),
        write_run(tmp_path, "avph", "av-ph", 0, {"all": 0.3}, metric="HIT@1"),
    ]
    md, csv, tex = outputs(tmp_path, "qv")
    summary = write_tables(paths, "qv", md, csv, tex, paper_dataset="qvhighlights-val")
    cell = summary.set_index(["metric", "column"])
    # mAP: no "all" column, so "average" shows the paper's "all" number
    assert cell.at[("mAP", "average"), "paper"] == pytest.approx(0.1841)
    assert np.isnan(cell.at[("mAP", "x"), "paper"])
    # HIT@1 has its own "all" column: the number appears there, not twice
    assert cell.at[("HIT@1", "all"), "paper"] == pytest.approx(0.2626)
    assert np.isnan(cell.at[("HIT@1", "average"), "paper"])
    text = md.read_text(encoding="utf-8")
    assert text.startswith("# qv: HIT@1, mAP (mean ± std over seeds)")
    assert "## HIT@1" in text and "## mAP" in text
    assert tex.read_text().count("\\begin{tabular}") == 2


def test_bad_metrics_files_raise(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(DatasetError, match="broken.json"):
        write_tables([broken], "d", tmp_path / "t.md", tmp_path / "t.csv")
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"method": "avph"}))
    with pytest.raises(DatasetError, match="lacks"):
        write_tables([partial], "d", tmp_path / "t.md", tmp_path / "t.csv")
    with pytest.raises(DatasetError, match="no metrics"):
        write_tables([], "d", tmp_path / "t.md", tmp_path / "t.csv")


def test_ablation_sections_follow_the_paper_and_compare_with_chance(tmp_path):
    """AV-PH Table 5 rows in the paper's order with its numbers; Table 7 has one row only
    (pcc is not run) and no section; a run at chance level is said to be so."""
    paths = []
    for seed, (avph, vph, aph) in enumerate([(0.80, 0.30, 0.70), (0.84, 0.36, 0.74)]):
        paths += [
            write_run(tmp_path, "avph", "av-ph", seed, {"dog": avph}),
            write_run(tmp_path, "avph", "v-ph", seed, {"dog": vph}),
            write_run(tmp_path, "avph", "a-ph", seed, {"dog": aph}),
            write_run(tmp_path, "random", "uniform", seed, {"dog": 0.30 + 0.04 * seed}),
        ]
    md = tmp_path / "t.md"
    write_tables(paths, "youtube", md, tmp_path / "t.csv")
    text = md.read_text()
    section = text[text.index("## AV-PH Table 5") :].split("\n## ")[0].splitlines()
    rows = [line for line in section if line.startswith("| AV(")]
    assert [r.split(" | ")[1] for r in rows] == ["v-ph", "a-ph", "av-ph"]  # the paper's order
    assert "| AV(V-PH) | v-ph | 0.330 ± 0.042 | 0.628 | -0.298 | ≈ chance |" in rows
    assert rows[2].endswith("| 0.683 | +0.137 | above chance |")
    assert "AV-PH Table 7" not in text  # only av-ph of its two rows is present
    assert "avph/v-ph is no better than random" in text
    assert "avph/av-ph is no better" not in text and "avph/a-ph is no better" not in text


def test_single_runs_are_not_compared_with_chance(tmp_path):
    paths = [
        write_run(tmp_path, "avph", "av-ph", 0, {"dog": 0.31}),
        write_run(tmp_path, "avph", "v-ph", 0, {"dog": 0.9}),
        write_run(tmp_path, "random", "uniform", 0, {"dog": 0.30}),
    ]
    md = tmp_path / "t.md"
    write_tables(paths, "youtube", md, tmp_path / "t.csv")
    text = md.read_text()
    assert "no better than random" not in text  # one run: no spread, no verdict
    assert "| AV(V-PH) | v-ph | 0.900 ± 0.000 | 0.628 | +0.272 | – |" in text
