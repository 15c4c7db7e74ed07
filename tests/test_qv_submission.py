"""QVHighlights evaluation-server submission files (highlight_pipeline.qvhighlights_submission,
`hlp qv-submission`, the workflow's qv_submission rule)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from highlight_pipeline.datasets.qvhighlights import n_clips
from highlight_pipeline.errors import PipelineError, SubmissionError
from highlight_pipeline.qvhighlights_submission import validate_submission, write_submission
from tests.workflow_helpers import (
    REPO,
    new_workdir,
    planned_jobs,
    planned_outputs,
    snakemake,
    venv_env,
)

#: three unlabelled test queries; 7 and 8 ask about the same video
QUERIES = [
    {"qid": 7, "query": "a dog jumps", "duration": 10, "vid": "abcdefghijk_0.0_10.0"},
    {"qid": 8, "query": "a dog barks", "duration": 10, "vid": "abcdefghijk_0.0_10.0"},
    {"qid": 12, "query": "a cat sleeps", "duration": 7.5, "vid": "lmnopqrstuv_30.0_37.5"},
]
SCORES = {
    "qid7": [0.1, 0.9, 0.3, 0.2, 0.5],
    "qid8": [0.4, 0.4, 0.8, 0.1, 0.0],
    "qid12": [-1.5, 2.0, 0.25],  # int(7.5 / 2) = 3 clips
    "qid99": [0.5, 0.5],  # a video of another split: not in the submission
}


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    annotations = write_jsonl(tmp_path / "highlight_test_release.jsonl", QUERIES)
    scores = write_jsonl(
        tmp_path / "seed0.scores.jsonl",
        [{"video_id": v, "scores": s} for v, s in SCORES.items()],
    )
    return {"annotations": annotations, "scores": scores, "out": tmp_path / "sub.jsonl"}


def submission(files: dict[str, Path], rows: list) -> Path:
    return write_jsonl(files["out"], rows)


def good_rows() -> list[dict]:
    return [
        {"qid": q["qid"], "vid": q["vid"], "pred_saliency_scores": list(SCORES[f"qid{q['qid']}"])}
        for q in QUERIES
    ]


def test_clip_grid_is_moment_detrs():
    assert [n_clips(d) for d in (2, 3.9, 10, 11, 150)] == [1, 1, 5, 5, 75]


def test_write_then_validate(files):
    assert write_submission(files["scores"], files["annotations"], files["out"]) == 3
    lines = [json.loads(x) for x in files["out"].read_text().splitlines()]
    assert [x["qid"] for x in lines] == [7, 8, 12]  # the release file's order, each once
    assert lines[0] == {
        "qid": 7,
        "query": "a dog jumps",
        "vid": "abcdefghijk_0.0_10.0",
        "pred_saliency_scores": SCORES["qid7"],
    }
    # queries that share a vid keep their own scores
    assert lines[1]["vid"] == lines[0]["vid"]
    assert lines[1]["pred_saliency_scores"] == SCORES["qid8"]
    assert lines[2]["pred_saliency_scores"] == SCORES["qid12"]
    assert all("pred_relevant_windows" not in x for x in lines)
    assert validate_submission(files["out"], files["annotations"]) == 3


def hlp(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "highlight_pipeline.cli", "qv-submission", *args]
    return subprocess.run(command, capture_output=True, text=True, env=venv_env())


def test_cli_writes_and_checks(files):
    annotations = ("--annotations", str(files["annotations"]))
    written = hlp("--scores", str(files["scores"]), "--out", str(files["out"]), *annotations)
    assert written.returncode == 0, written.stderr
    assert "wrote" in written.stderr and "3 queries (2 videos)" in written.stderr  # the log
    checked = hlp("--check", str(files["out"]), *annotations)
    assert checked.returncode == 0, checked.stderr
    assert "a valid submission for the 3 queries" in checked.stdout
    neither = hlp(*annotations)
    assert neither.returncode == 2 and "give --scores and --out" in neither.stderr
    submission(files, good_rows()[:2])
    refused = hlp("--check", str(files["out"]), *annotations)
    assert refused.returncode == 2
    assert refused.stderr.startswith("hlp qv-submission: error: ")
    assert "missing (qid 12)" in refused.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("no line", r"seed0.scores.jsonl: qid 8: no scores \(no line for video qid8"),
        ("null", r"seed0.scores.jsonl: qid 8: 1 of its 5 clips have no score .*clip 3, 6-8 s"),
        ("short", r"seed0.scores.jsonl: qid 8: 4 scores for 5 clips"),
    ],
)
def test_write_refuses_what_it_would_make_up(files, change, message):
    scores = dict(SCORES)
    if change == "no line":
        del scores["qid8"]
    elif change == "null":
        scores["qid8"] = [0.4, 0.4, 0.8, None, 0.0]
    else:
        scores["qid8"] = scores["qid8"][:4]
    write_jsonl(files["scores"], [{"video_id": v, "scores": s} for v, s in scores.items()])
    with pytest.raises(SubmissionError, match=message):
        write_submission(files["scores"], files["annotations"], files["out"])
    assert not files["out"].exists()


def _drop_query(rows):
    return rows[:2]


def _duplicate(rows):
    return [*rows, rows[0]]


def _wrong_count(rows):
    rows[2]["pred_saliency_scores"] = [0.1, 0.2, 0.3, 0.4]
    return rows


def _nan(rows):
    rows[1]["pred_saliency_scores"][2] = float("nan")  # json.dumps writes NaN
    return rows


def _null(rows):
    rows[1]["pred_saliency_scores"][2] = None
    return rows


def _unknown(rows):
    rows[2]["qid"] = 13
    return rows


def _vid(rows):
    rows[1]["vid"] = "lmnopqrstuv_30.0_37.5"
    return rows


def _windows(rows):
    rows[0]["pred_relevant_windows"] = [[0, 4, 0.9]]
    return rows


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_drop_query, r"sub.jsonl: 1 of the 3 queries missing \(qid 12\)"),
        (_duplicate, r"sub.jsonl:4: qid 7 again \(first on line 1\)"),
        (_wrong_count, r"sub.jsonl:3: qid 12: 4 scores for 3 clips"),
        (_nan, r"sub.jsonl:2: qid 8: clip 2's score nan is not a finite number"),
        (_null, r"sub.jsonl:2: qid 8: clip 2's score None is not a finite number"),
        (_unknown, r"sub.jsonl:3: qid 13 is not a query of the release file"),
        (_vid, r"sub.jsonl:2: qid 8: vid 'lmnopqrstuv_30.0_37.5', the release file says"),
        (_windows, r"sub.jsonl:2: pred_relevant_windows in some lines only"),
    ],
)
def test_validate_refuses(files, change, message):
    submission(files, change(good_rows()))
    with pytest.raises(SubmissionError, match=message) as refused:
        validate_submission(files["out"], files["annotations"])
    assert isinstance(refused.value, PipelineError)
    assert "\n" not in str(refused.value)


def test_validate_refuses_malformed_lines(files):
    files["out"].write_text(json.dumps(good_rows()[0]) + "\n\n")
    with pytest.raises(SubmissionError, match=r"sub.jsonl:2: empty line"):
        validate_submission(files["out"], files["annotations"])
    files["out"].write_text('{"qid": 7,\n')
    with pytest.raises(SubmissionError, match=r"sub.jsonl:1: malformed JSON"):
        validate_submission(files["out"], files["annotations"])
    rows = good_rows()
    rows[0]["pred_saliency_scores"][0] = True
    submission(files, rows)
    with pytest.raises(SubmissionError, match=r"qid 7: clip 0's score True"):
        validate_submission(files["out"], files["annotations"])


def test_annotations_with_a_qid_twice_are_refused(files):
    write_jsonl(files["annotations"], [*QUERIES, QUERIES[0]])
    with pytest.raises(SubmissionError, match=r"release.jsonl:4: duplicate qid 7"):
        write_submission(files["scores"], files["annotations"], files["out"])


def test_a_val_submission_scores_as_the_pipelines_evaluation(tmp_path: Path):
    """Scored the way standalone_eval does (mk_gt_scores from the release file, qid ->
    pred_saliency_scores), a val submission gives what the pipeline's protocol gives on the
    same scores and the reader's clip table: the same queries, clips and order."""
    import numpy as np
    import pandas as pd

    from highlight_pipeline.datasets.qvhighlights import QVHighlightsReader
    from highlight_pipeline.metrics import qvhighlights_hl

    rng = np.random.default_rng(0)
    labelled = [
        {**q, "relevant_clip_ids": [1, 2], "saliency_scores": [[4, 2, 3], [1, 4, 0]]}
        for q in QUERIES
    ]
    write_jsonl(tmp_path / "highlight_val_release.jsonl", labelled)
    scores = {
        f"qid{q['qid']}": rng.random(n_clips(q["duration"])).round(6).tolist() for q in QUERIES
    }
    write_jsonl(tmp_path / "s.jsonl", [{"video_id": v, "scores": s} for v, s in scores.items()])
    out = tmp_path / "hl_val_submission.jsonl"
    write_submission(tmp_path / "s.jsonl", tmp_path / "highlight_val_release.jsonl", out)

    def mk_gt_scores(line):  # moment_detr standalone_eval/eval.py
        full = np.zeros((int(line["duration"] / 2), 3))
        full[line["relevant_clip_ids"]] = line["saliency_scores"]
        return full

    gt = {line["qid"]: mk_gt_scores(line) for line in labelled}
    server = [
        (np.array(r["pred_saliency_scores"]), gt[r["qid"]])
        for r in map(json.loads, out.read_text().splitlines())
    ]
    manifest = pd.DataFrame({"video_id": list(scores)})
    clips = QVHighlightsReader().make_clips(manifest, tmp_path, {"splits": ["val"]})
    ours = [
        (np.array(scores[v]), group[["s0", "s1", "s2"]].to_numpy())
        for v, group in clips.groupby("video_id", sort=False)
    ]
    assert qvhighlights_hl(server) == qvhighlights_hl(ours)


# --------------------------------------------------------------------------- workflow


def miniature(workdir: Path) -> tuple[Path, Path]:
    root, overlay = workdir / "qvhighlights_mini", workdir / "mini.yaml"
    made = subprocess.run(
        [sys.executable, "-m", "highlight_pipeline.cli", "rehearsal-data", "qvhighlights"]
        + [str(root), "--config", str(overlay)],
        capture_output=True,
        text=True,
        env=venv_env(),
    )
    assert made.returncode == 0, made.stderr
    return root, overlay


def plan(workdir: Path, *configs: Path) -> str:
    presets = [
        REPO / "workflow/configs/qvhighlights.yaml",
        REPO / "workflow/configs/rehearsal.yaml",
    ]
    files = [str(p) for p in (*presets, *configs)]
    return snakemake(workdir, "-n", "--configfile", *files).stdout


@pytest.mark.integration
def test_a_qvhighlights_dataset_with_a_test_file_plans_its_submissions(tmp_path: Path):
    workdir = new_workdir(tmp_path / "run")
    root, overlay = miniature(workdir)
    dry = plan(workdir, overlay)
    runs = planned_jobs(dry)["train"]  # one seed, one split scheme: one per run
    assert planned_jobs(dry)["qv_submission"] == 2 * runs  # val and test per run
    outputs = planned_outputs(dry, "qv_submission")
    expected = "results/submissions/qvhighlights/avph/av-ph/default/seed0/hl_test_submission.jsonl"
    assert expected in outputs
    assert expected.replace("hl_test", "hl_val") in outputs
    assert str(root / "highlight_test_release.jsonl") in dry

    # without the test file (the reader told to leave it out) there is nothing to submit
    no_test = tmp_path / "no_test.yaml"
    no_test.write_text("datasets:\n  qvhighlights:\n    splits: [train, val]\n")
    assert "qv_submission" not in planned_jobs(plan(workdir, overlay, no_test))


@pytest.mark.integration
def test_the_default_config_plans_no_submission(tmp_path: Path):
    dry = snakemake(new_workdir(tmp_path / "run"), "-n").stdout
    assert "qv_submission" not in planned_jobs(dry)
