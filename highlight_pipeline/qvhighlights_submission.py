"""QVHighlights evaluation-server submission files (highlight detection).

The test labels of QVHighlights are withheld: test numbers (AV-PH Table 4) come from the
CodaLab server of jayleicn/moment_detr, which reads JSON Lines in the format of its
``standalone_eval`` (``standalone_eval/README.md``, ``eval.py``: ``eval_submission``,
``eval_highlight``). One line per query of the split's release file::

    {"qid": 2579, "query": "...", "vid": "NUsG9BgSes0_210.0_360.0",
     "pred_saliency_scores": [-0.2452, -0.3779, ...]}

* ``qid`` (int) and ``vid`` (str) as in ``highlight_{split}_release.jsonl``; ``query`` is
  copied from it (the server does not use it).
* ``pred_saliency_scores``: one finite number per 2-second clip of the query's clip grid,
  in clip order; the higher, the more of a highlight. The grid is the one the server
  builds the ground truth on (``mk_gt_scores``): ``int(duration / 2)`` clips, the same as
  the pipeline's clips.csv (:func:`highlight_pipeline.datasets.qvhighlights.n_clips`).
* ``pred_relevant_windows`` (moment retrieval) is left out: ``eval_submission`` evaluates
  moment retrieval only when the first line has it, and highlight detection when it has
  ``pred_saliency_scores``.
* Every query of the release file exactly once (``eval_submission`` asserts that the
  submission's qids equal the ground truth's).

The server wants one ``.zip`` (no enclosing folder) holding ``hl_val_submission.jsonl``
and ``hl_test_submission.jsonl`` (``zip -j``).

The pipeline's scores are per query already: the QVHighlights reader makes one "video"
per query, ``video_id = "qid{qid}"``, whose clips are the query's grid; queries that share
a ``vid`` have their own score lines.

Never made up: a clip without a score (null in the scores file: a feature stream of the
run ended before it, or the method left the video unscored) or a query without a score
line (its video rejected by the manifest) is refused, with the qid and the clips. The
reference evaluator would pad a short list with zeros (``compute_ap_from_tuple``), but
that is its repair of a malformed file, not a documented convention for missing
predictions, and zero is not "no score" on every method's scale.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

from highlight_pipeline.atomic import write_text_atomic
from highlight_pipeline.datasets.qvhighlights import Query, json_lines, n_clips, read_jsonl
from highlight_pipeline.errors import SubmissionError
from highlight_pipeline.predictions import read_prediction_lists

log = logging.getLogger(__name__)

SCORES_KEY = "pred_saliency_scores"
WINDOWS_KEY = "pred_relevant_windows"
#: the server's file name per split (inside the submission zip)
SERVER_NAMES = {"val": "hl_val_submission.jsonl", "test": "hl_test_submission.jsonl"}


def video_id_of(qid: int) -> str:
    """The pipeline's video_id of a query (the QVHighlights reader's ``Query.video_id``)."""
    return f"qid{qid}"


def read_annotations(path: str | Path) -> list[Query]:
    """The queries of a release file (``highlight_{split}_release.jsonl``), in file order;
    a qid twice is an error."""
    path = Path(path)
    queries = read_jsonl(path, path.stem)
    if not queries:
        raise SubmissionError(f"{path}: no queries")
    seen: dict[int, str] = {}
    for q in queries:
        if q.qid in seen:
            raise SubmissionError(f"{q.where}: duplicate qid {q.qid} (first at {seen[q.qid]})")
        seen[q.qid] = q.where
    return queries


def _is_score(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def submission_lines(
    scores_jsonl: str | Path, annotation_jsonl: str | Path, queries: list[Query] | None = None
) -> list[dict]:
    """One submission record per query of the release file, in its order, from a
    pipeline scores file (``hlp score``). Refuses a query without a score line, a score
    list of another length than the query's clip grid, and a clip without a finite score.
    ``queries``: the release file's, when already read."""
    scores_path = Path(scores_jsonl)
    if queries is None:
        queries = read_annotations(annotation_jsonl)
    scores = read_prediction_lists(scores_path, SubmissionError)
    records = []
    for q in queries:
        video_id = video_id_of(q.qid)
        if video_id not in scores:
            raise SubmissionError(
                f"{scores_path}: qid {q.qid}: no scores (no line for video {video_id}: was "
                "its video rejected by the manifest, or are these scores of another dataset?)"
            )
        values = scores[video_id]
        n = n_clips(q.duration)
        if len(values) != n:
            raise SubmissionError(
                f"{scores_path}: qid {q.qid}: {len(values)} scores for {n} clips "
                f"(int(duration / 2), duration {q.duration:g} s)"
            )
        bad = [j for j, x in enumerate(values) if not _is_score(x)]
        if bad:
            raise SubmissionError(
                f"{scores_path}: qid {q.qid}: {len(bad)} of its {n} clips have no score "
                f"(null or not finite; first: clip {bad[0]}, {2 * bad[0]}-{2 * bad[0] + 2} s); "
                "the server needs one per clip and none is made up (see the score job's log: "
                "a feature stream that ended early, or a video the method left unscored)"
            )
        records.append(
            {"qid": q.qid, "query": q.query, "vid": q.vid, SCORES_KEY: [float(x) for x in values]}
        )
    return records


def check_records(records: list, queries: list[Query], where: str) -> None:
    """The server's format rules, for parsed lines (``where``: the file, for messages):
    every query of the release file exactly once, no other qid, its vid, one finite number
    per clip of its grid; ``pred_relevant_windows`` in every line or none."""
    by_qid = {q.qid: q for q in queries}
    seen: dict[int, int] = {}
    with_windows = []
    for lineno, obj in enumerate(records, start=1):
        at = f"{where}:{lineno}"
        if not isinstance(obj, dict):
            raise SubmissionError(f"{at}: expected a JSON object")
        qid = obj.get("qid")
        if not isinstance(qid, int) or isinstance(qid, bool):
            raise SubmissionError(f"{at}: qid {qid!r} is not an integer")
        if qid not in by_qid:
            raise SubmissionError(f"{at}: qid {qid} is not a query of the release file")
        if qid in seen:
            raise SubmissionError(f"{at}: qid {qid} again (first on line {seen[qid]})")
        seen[qid] = lineno
        q = by_qid[qid]
        vid = obj.get("vid")
        if vid != q.vid:
            raise SubmissionError(f"{at}: qid {qid}: vid {vid!r}, the release file says {q.vid!r}")
        values = obj.get(SCORES_KEY)
        if not isinstance(values, list):
            raise SubmissionError(f"{at}: qid {qid}: no {SCORES_KEY} list")
        n = n_clips(q.duration)
        if len(values) != n:
            raise SubmissionError(
                f"{at}: qid {qid}: {len(values)} scores for {n} clips "
                f"(int(duration / 2), duration {q.duration:g} s)"
            )
        bad = [j for j, x in enumerate(values) if not _is_score(x)]
        if bad:
            raise SubmissionError(
                f"{at}: qid {qid}: clip {bad[0]}'s score {values[bad[0]]!r} is not a finite "
                f"number ({len(bad)} such clips)"
            )
        if WINDOWS_KEY in obj:
            windows = obj[WINDOWS_KEY]
            if not isinstance(windows, list) or not all(
                isinstance(w, list) and len(w) == 3 and all(_is_score(x) for x in w)
                for w in windows
            ):
                raise SubmissionError(
                    f"{at}: qid {qid}: {WINDOWS_KEY} is not a list of [start, end, score]"
                )
        with_windows.append(WINDOWS_KEY in obj)
    missing = [q.qid for q in queries if q.qid not in seen]
    if missing:
        shown = ", ".join(str(x) for x in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise SubmissionError(
            f"{where}: {len(missing)} of the {len(queries)} queries missing (qid {shown})"
        )
    if any(with_windows) and not all(with_windows):
        lineno = with_windows.index(not with_windows[0]) + 1
        raise SubmissionError(
            f"{where}:{lineno}: {WINDOWS_KEY} in some lines only (the server decides by the "
            "first line)"
        )


def validate_submission(path: str | Path, annotation_jsonl: str | Path) -> int:
    """Check a submission file against its release file (:func:`check_records`); the
    number of queries. Raises :class:`SubmissionError` naming the file, line and qid."""
    path = Path(path)
    queries = read_annotations(annotation_jsonl)
    records = [obj for _, obj in json_lines(path, SubmissionError, blank_ok=False)]
    check_records(records, queries, str(path))
    return len(records)


def write_submission(
    scores_jsonl: str | Path, annotation_jsonl: str | Path, out: str | Path
) -> int:
    """Write the submission of a scores file for the queries of a release file (one JSON
    line per query, in the release file's order), checked against the format's rules
    before it is written (atomically). The number of queries."""
    queries = read_annotations(annotation_jsonl)
    records = submission_lines(scores_jsonl, annotation_jsonl, queries)
    check_records(records, queries, str(out))
    text = "".join(json.dumps(r, allow_nan=False) + "\n" for r in records)
    write_text_atomic(out, text)
    clips = sum(len(r[SCORES_KEY]) for r in records)
    vids = len({r["vid"] for r in records})
    log.info(
        "wrote %s: %d queries (%d videos), %d clip scores, from %s",
        out,
        len(records),
        vids,
        clips,
        scores_jsonl,
    )
    return len(records)
