"""Tests for highlight_pipeline.metrics: hand-computed cases, slow loop cross-checks, properties."""

from __future__ import annotations

import math

import numpy as np
import pytest

from highlight_pipeline import metrics as M
from highlight_pipeline.metrics import (
    PROTOCOLS,
    ap_trapezoid,
    interpolated_ap,
    qvhighlights_hl,
    tvsum_top5_map,
    youtube_map,
)

# ----------------------------------------------------------------- slow reference loops
# Written independently of the vectorised code: plain Python loops over clips.


def slow_ranking(scores):
    """Descending score; Python's sort is stable, so ties keep their original order."""
    return sorted(range(len(scores)), key=lambda i: -float(scores[i]))


def slow_trapezoid(ranked_labels):
    num_pos = sum(1 for v in ranked_labels if v > 0)
    if num_pos == 0:
        return 0.0
    hits = 0
    ap = 0.0
    rec_prev, prec_prev = 0.0, 1.0
    for j, v in enumerate(ranked_labels):
        hits += 1 if v > 0 else 0
        rec, prec = hits / num_pos, hits / (j + 1)
        ap += (rec - rec_prev) * (prec_prev + prec) / 2
        rec_prev, prec_prev = rec, prec
    return ap


def slow_ap(scores, labels):
    order = slow_ranking(scores)
    return slow_trapezoid([labels[i] for i in order])


def slow_tvsum(items, top_k=5):
    n_annot = np.asarray(items[0][1]).shape[1]
    per_annotator = []
    for u in range(n_annot):
        video_aps = []
        for scores, users in items:
            col = [float(r[u]) for r in users]
            lower_median = sorted(col)[(len(col) - 1) // 2]
            labels = [1 if c > lower_median else 0 for c in col]
            order = slow_ranking(scores)[:top_k]
            video_aps.append(slow_trapezoid([labels[i] for i in order]))
        per_annotator.append(sum(video_aps) / len(video_aps))
    return sum(per_annotator) / len(per_annotator)


def slow_interp_ap(scores, labels):
    """Interpolated AP over distinct thresholds (moment_detr get_ap semantics)."""
    labels = [1 if v > 0 else 0 for v in labels]
    n_pos = sum(labels)
    if n_pos == 0:
        return 0.0
    if n_pos == len(labels):
        return 1.0
    points = []  # (recall, precision) for each distinct threshold
    for t in sorted(set(float(s) for s in scores), reverse=True):
        chosen = [i for i, s in enumerate(scores) if float(s) >= t]
        tp = sum(labels[i] for i in chosen)
        points.append((tp / n_pos, tp / len(chosen)))
    levels = sorted({r for r, _ in points if r > 0})
    vals = [max(p for r, p in points if r >= level) for level in levels]
    return sum(vals) / len(vals)


def slow_qv(items):
    out = {}
    for name, thr in (("Fair", 2), ("Good", 3), ("VeryGood", 4)):
        hits, aps = [], []
        for scores, sal in items:
            top = max(range(len(scores)), key=lambda i: (scores[i], -i))  # first max
            hits.append(1.0 if any(v >= thr for v in sal[top]) else 0.0)
            for a in range(len(sal[0])):
                aps.append(slow_interp_ap(scores, [1 if row[a] >= thr else 0 for row in sal]))
        out[f"mAP-{name}"] = sum(aps) / len(aps)
        out[f"HIT@1-{name}"] = sum(hits) / len(hits)
    return out


# ------------------------------------------------------------------ ap_trapezoid by hand


def test_perfect_ranking_is_one():
    # ranked labels [1, 1, 0]: steps (r, p) = (.5, 1), (1, 1), (1, 2/3)
    # AP = .5*(1+1)/2 + .5*(1+1)/2 + 0 = 1
    assert ap_trapezoid([0.9, 0.8, 0.1], [1, 1, 0]) == pytest.approx(1.0)


def test_reversed_ranking_of_single_positive():
    # labels [1, 0, 0], scores put clip 0 last: ranked labels [0, 0, 1]
    # k=1: r=0, p=0 (no area); k=2: r=0, p=0; k=3: r=1, p=1/3
    # AP = (1 - 0) * (0 + 1/3) / 2 = 1/6
    assert ap_trapezoid([0.1, 0.5, 0.9], [1, 0, 0]) == pytest.approx(1 / 6)


def test_positive_second():
    # ranked [0, 1, 0]: k=2: r=1, p=1/2, previous p=0 -> AP = (0 + 1/2) / 2 = 1/4
    assert ap_trapezoid([3.0, 2.0, 1.0], [0, 1, 0]) == pytest.approx(0.25)


def test_two_positives_split():
    # ranked [1, 0, 1]: k=1: r=.5, p=1 -> .5*(1+1)/2 = .5
    # k=2: r=.5 (no area), p=.5; k=3: r=1, p=2/3 -> .5*(.5+2/3)/2 = 7/24
    # AP = 1/2 + 7/24 = 19/24
    assert ap_trapezoid([3.0, 2.0, 1.0], [1, 0, 1]) == pytest.approx(19 / 24)


def test_no_positive_gives_zero():
    assert ap_trapezoid([0.3, 0.2, 0.1], [0, 0, 0]) == 0.0
    # YouTube Highlights labels: -1 unmatched, 0 borderline, 1 matched; only > 0 counts
    assert ap_trapezoid([0.3, 0.2, 0.1], [-1, 0, -1]) == 0.0


def test_youtube_style_labels():
    # -1/0/1 labels; 0 is negative (UMT: 1 if s > 0 else 0). ranked [0(-1), 1, 0(0)]
    assert ap_trapezoid([3.0, 2.0, 1.0], [-1, 1, 0]) == pytest.approx(0.25)


def test_ties_keep_original_order():
    # all scores tied: the ranking is the clip order (stable sort)
    # labels [0, 0, 1] -> ranked [0, 0, 1] -> 1/6 ; labels [1, 0, 0] -> ranked [1, 0, 0] -> 1
    assert ap_trapezoid([0.5, 0.5, 0.5], [0, 0, 1]) == pytest.approx(1 / 6)
    assert ap_trapezoid([0.5, 0.5, 0.5], [1, 0, 0]) == pytest.approx(1.0)
    # partial tie: scores [.2, .7, .7] -> order 1, 2, 0 ; labels [0, 0, 1] -> ranked [0, 1, 0]
    assert ap_trapezoid([0.2, 0.7, 0.7], [0, 0, 1]) == pytest.approx(0.25)
    assert ap_trapezoid([0.2, 0.7, 0.7], [0, 1, 0]) == pytest.approx(1.0)


def test_single_clip():
    assert ap_trapezoid([0.0], [1]) == pytest.approx(1.0)
    assert ap_trapezoid([0.0], [0]) == 0.0


def test_youtube_map_by_hand():
    # video 1 perfect -> 1 ; video 2 no positive -> 0 ; video 3 reversed [1,0,0] -> 1/6
    # mAP = (1 + 0 + 1/6) / 3 = 7/18
    items = [
        ([0.9, 0.1], [1, 0]),
        ([0.9, 0.1, 0.5], [0, 0, 0]),
        ([0.1, 0.5, 0.9], [1, 0, 0]),
    ]
    assert youtube_map(items) == pytest.approx(7 / 18)
    # generators and mappings are accepted too
    assert youtube_map(iter(items)) == pytest.approx(7 / 18)
    assert youtube_map({"a": items[0], "b": items[1], "c": items[2]}) == pytest.approx(7 / 18)


# --------------------------------------------------------------------------- TVSum by hand


def tvsum_toy():
    # Video A: scores decreasing, so the ranking is clip order; top-5 = clips 0..4
    #   annotator 1 ratings [1,5,4,1,2,3]: sorted [1,1,2,3,4,5], lower median = sorted[2] = 2
    #     positive (> 2): clips 1, 2, 5 -> labels [0,1,1,0,0,1]; top-5 [0,1,1,0,0], 2 positives
    #     k=2: r=.5, p=.5 -> .5*(0+.5)/2 = 1/8 ; k=3: r=1, p=2/3 -> .5*(.5+2/3)/2 = 7/24
    #     AP = 3/24 + 7/24 = 5/12
    #   annotator 2 ratings all 3: lower median 3, nothing > 3 -> AP 0
    # Video B: scores increasing, ranking = clips 4,3,2,1,0
    #   annotator 1 [1,2,3,4,5]: lower median sorted[2] = 3 -> positive clips 3, 4
    #     ranked labels [1,1,0,0,0] -> AP 1
    #   annotator 2 [5,1,1,1,1]: lower median 1 -> positive clip 0, ranked [0,0,0,0,1]
    #     k=5: r=1, p=1/5, previous p=0 -> (0 + 1/5)/2 = 1/10
    # annotator 1: (5/12 + 1)/2 = 17/24 ; annotator 2: (0 + 1/10)/2 = 1/20
    # mean = (17/24 + 1/20)/2 = (85/120 + 6/120)/2 = 91/240
    video_a = (
        [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],
        [[1, 3], [5, 3], [4, 3], [1, 3], [2, 3], [3, 3]],
    )
    video_b = ([0.1, 0.2, 0.3, 0.4, 0.5], [[1, 5], [2, 1], [3, 1], [4, 1], [5, 1]])
    return [video_a, video_b]


def test_tvsum_two_annotators_by_hand():
    assert tvsum_top5_map(tvsum_toy()) == pytest.approx(91 / 240)
    assert slow_tvsum(tvsum_toy()) == pytest.approx(91 / 240)


def test_tvsum_top_k_parameter():
    # top_k=1: A/a1 top clip 0 negative -> 0 ; A/a2 0 ; B/a1 top clip 4 positive -> 1 ;
    # B/a2 top clip 4 negative -> 0. annotator means .5 and 0 -> .25
    assert tvsum_top5_map(tvsum_toy(), top_k=1) == pytest.approx(0.25)


def test_tvsum_counts_positives_within_top_k_only():
    # 7 clips ranked in order; one annotator; ratings give labels [1,0,0,0,0,1,1]
    # (ratings [5,1,1,1,1,5,5]: lower median sorted[3] = 1). Top-5 labels [1,0,0,0,0]
    # hold one positive, so AP = 1 (the two positives outside the top 5 are ignored).
    scores = [7, 6, 5, 4, 3, 2, 1]
    ratings = [[5], [1], [1], [1], [1], [5], [5]]
    assert tvsum_top5_map([(scores, ratings)]) == pytest.approx(1.0)
    # over the full list the same labels give the full-ranking trapezoid AP instead
    assert ap_trapezoid(scores, [1, 0, 0, 0, 0, 1, 1]) < 1.0


def test_tvsum_fewer_clips_than_k():
    # 3 clips, ranking 0,1,2; ratings [1,2,3]: lower median 2 -> positive clip 2 only
    # ranked [0,0,1] -> 1/6
    assert tvsum_top5_map([([3, 2, 1], [[1], [2], [3]])]) == pytest.approx(1 / 6)


def test_lower_median_binarisation_equals_numpy_median():
    # "rating > lower median" and "rating > np.median" give identical labels: no rating lies
    # strictly between the two middle order statistics.
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(1, 40))
        col = rng.integers(1, 6, n).astype(float)
        lower = np.sort(col)[(n - 1) // 2]
        assert np.array_equal(col > lower, col > np.median(col))


# -------------------------------------------------------------------- QVHighlights by hand


def qv_toy():
    # Query 1: scores [.1, .9, .5, .3] -> ranking clips 1, 2, 3, 0 (no ties)
    q1 = ([0.1, 0.9, 0.5, 0.3], [[4, 0, 2], [2, 0, 3], [4, 0, 4], [0, 0, 1]])
    # Query 2: scores [.5, .5, .2]: clips 0 and 1 tie; annotator 0 all 4s; annotator 2 all 0s
    q2 = ([0.5, 0.5, 0.2], [[4, 4, 0], [4, 1, 0], [4, 4, 0]])
    return [q1, q2]


def test_interpolated_ap_by_hand():
    # ranked [0, 1, 0, 1] (distinct scores): points (r, p) = (0,0) (.5,.5) (.5,1/3) (1,.5)
    # interpolated p (max to the right) at recall .5 -> .5, at recall 1 -> .5; AP = .5
    assert interpolated_ap([4, 3, 2, 1], [0, 1, 0, 1]) == pytest.approx(0.5)
    # ranked [1, 1, 0, 1]: levels 1/3 (p 1), 2/3 (p 1), 1 (p 3/4) -> (1 + 1 + 3/4)/3 = 11/12
    assert interpolated_ap([4, 3, 2, 1], [1, 1, 0, 1]) == pytest.approx(11 / 12)
    # all-negative column -> 0, all-positive column -> 1 (reference special cases)
    assert interpolated_ap([1, 2, 3], [0, 0, 0]) == 0.0
    assert interpolated_ap([3, 2, 1], [1, 1, 1]) == 1.0


def test_interpolated_ap_ties_form_one_point():
    # scores [.5, .5, .2], labels [1, 0, 1]: the tie {0, 1} is one operating point
    # thresholds .5 -> tp 1 of 2 predicted (r .5, p .5); .2 -> tp 2 of 3 (r 1, p 2/3)
    # interpolated: r .5 -> max(.5, 2/3) = 2/3 ; r 1 -> 2/3 ; AP = 2/3
    # (breaking the tie in clip order would have given (1 + 2/3)/2 = 5/6)
    assert interpolated_ap([0.5, 0.5, 0.2], [1, 0, 1]) == pytest.approx(2 / 3)
    assert interpolated_ap([0.5, 0.5, 0.2], [0, 1, 1]) == pytest.approx(2 / 3)
    # every score tied: one point with p = 1/3 -> AP 1/3
    assert interpolated_ap([1.0, 1.0, 1.0], [1, 0, 0]) == pytest.approx(1 / 3)


def test_qvhighlights_by_hand():
    # Query 1 (ranking 1, 2, 3, 0; annotator 1 always 0 -> AP 0 at every threshold)
    #  VeryGood (>=4): a0 [1,0,1,0] ranked [0,1,0,1] -> .5 ; a1 0 ;
    #                  a2 [0,0,1,0] ranked [0,1,0,0] -> level 1 at k=2, p .5 -> .5
    #                  HIT: top clip 1 = [2,0,3] has no 4 -> 0
    #  Good (>=3):     a0 .5 ; a1 0 ; a2 [0,1,1,0] ranked [1,1,0,0] -> 1 ; HIT: 3 >= 3 -> 1
    #  Fair (>=2):     a0 [1,1,1,0] ranked [1,1,0,1] -> 11/12 ; a1 0 ; a2 [1,1,1,0] -> 11/12
    #                  HIT 1
    # Query 2 (argmax of [.5,.5,.2] is clip 0 = [4,4,0] -> HIT 1 at every threshold)
    #  every threshold: a0 all positive -> 1 ; a1 [1,0,1] with tie -> 2/3 ; a2 all 0 -> 0
    # VeryGood mAP = (.5 + 0 + .5 + 1 + 2/3 + 0)/6 = (8/3)/6 = 4/9 ; HIT = (0 + 1)/2 = .5
    # Good mAP     = (.5 + 0 + 1 + 1 + 2/3 + 0)/6 = (19/6)/6 = 19/36 ; HIT = 1
    # Fair mAP     = (11/12 + 0 + 11/12 + 1 + 2/3 + 0)/6 = (21/6)/6 = 7/12 ; HIT = 1
    res = qvhighlights_hl(qv_toy())
    expected = {
        "mAP-VeryGood": 4 / 9,
        "HIT@1-VeryGood": 0.5,
        "mAP-Good": 19 / 36,
        "HIT@1-Good": 1.0,
        "mAP-Fair": 7 / 12,
        "HIT@1-Fair": 1.0,
        "mAP": 4 / 9,
        "HIT@1": 0.5,
    }
    assert set(res) == set(expected)
    for key, value in expected.items():
        assert res[key] == pytest.approx(value), key
        assert isinstance(res[key], float)
    slow = slow_qv(qv_toy())
    for key, value in slow.items():
        assert res[key] == pytest.approx(value), key


def test_qvhighlights_all_negative_and_all_positive_columns():
    # one query, 3 clips: annotator 0 all 4 (positive everywhere), 1 and 2 all 0
    # mAP = (1 + 0 + 0)/3 = 1/3 at every threshold; top clip is positive for annotator 0
    res = qvhighlights_hl([([0.1, 0.2, 0.3], [[4, 0, 0], [4, 0, 0], [4, 0, 0]])])
    for name in ("Fair", "Good", "VeryGood"):
        assert res[f"mAP-{name}"] == pytest.approx(1 / 3)
        assert res[f"HIT@1-{name}"] == 1.0


# ------------------------------------------------------------- random cross-checks (slow)


def random_case(rng, n, tie_levels=None):
    if tie_levels is None:
        scores = rng.normal(size=n)
    else:
        scores = rng.integers(0, tie_levels, n).astype(float)
    return scores


def test_ap_trapezoid_matches_slow_loop():
    rng = np.random.default_rng(0)
    for t in range(500):
        n = int(rng.integers(1, 60))
        scores = random_case(rng, n, None if t % 2 else int(rng.integers(1, 6)))
        labels = rng.choice([-1, 0, 1], size=n, p=rng.dirichlet([1, 1, 1]))
        assert ap_trapezoid(scores, labels) == pytest.approx(
            slow_ap(list(scores), list(labels)), abs=1e-12
        )


def test_tvsum_matches_slow_loop():
    rng = np.random.default_rng(2)
    for t in range(60):
        n_annot = int(rng.integers(1, 6))
        items = []
        for _ in range(int(rng.integers(1, 6))):
            n = int(rng.integers(1, 25))
            scores = random_case(rng, n, None if t % 2 else 4)
            items.append((scores, rng.integers(1, 6, (n, n_annot)).astype(float)))
        k = int(rng.integers(1, 8))
        assert tvsum_top5_map(items, top_k=k) == pytest.approx(slow_tvsum(items, k), abs=1e-12)


def test_interpolated_ap_matches_slow_loop():
    rng = np.random.default_rng(3)
    for t in range(500):
        n = int(rng.integers(1, 40))
        scores = random_case(rng, n, None if t % 2 else int(rng.integers(1, 6)))
        labels = (rng.random(n) < rng.random()).astype(int)
        assert interpolated_ap(scores, labels) == pytest.approx(
            slow_interp_ap(list(scores), list(labels)), abs=1e-12
        )


def test_interpolated_ap_matches_sklearn_get_ap_recipe():
    # moment_detr get_ap: sklearn precision_recall_curve, running max along the returned
    # (decreasing-recall) arrays, mean of precision where the float32 recall changes.
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(4)
    for t in range(300):
        n = int(rng.integers(2, 40))
        scores = random_case(rng, n, None if t % 2 else int(rng.integers(1, 6)))
        labels = (rng.random(n) < rng.random()).astype(int)
        if labels.min() == labels.max():
            expected = float(labels[0])
        else:
            precision, recall, _ = skm.precision_recall_curve(labels, scores)
            recall = recall.astype(np.float32)
            precision = np.maximum.accumulate(precision)
            expected = float(np.mean(precision[np.where(np.diff(recall))]))
        assert interpolated_ap(scores, labels) == pytest.approx(expected, abs=1e-12)


def test_qvhighlights_matches_slow_loop():
    rng = np.random.default_rng(5)
    for t in range(20):
        items = []
        for _ in range(int(rng.integers(1, 6))):
            n = int(rng.integers(1, 20))
            scores = random_case(rng, n, None if t % 2 else 3)
            sal = rng.integers(0, 5, (n, 3)) * (rng.random((n, 1)) < 0.6)
            items.append((scores, sal))
        fast = qvhighlights_hl(items)
        for key, value in slow_qv([(list(s), sal.tolist()) for s, sal in items]).items():
            assert fast[key] == pytest.approx(value, abs=1e-12), key


# ---------------------------------------------------------------------------- properties


MONOTONE = [
    lambda x: 3.0 * x - 7.0,
    np.exp,
    np.arctan,
    lambda x: x**3,
]


def test_properties_range_and_monotone_invariance():
    rng = np.random.default_rng(6)
    for _ in range(200):
        n = int(rng.integers(1, 30))
        # distinct, well-separated scores so that no transform creates ties by rounding
        scores = rng.permutation(n).astype(float) / n - 0.5
        labels = (rng.random(n) < 0.4).astype(int)
        users = rng.integers(1, 6, (n, 4)).astype(float)
        sal = rng.integers(0, 5, (n, 3)).astype(float)
        ap = ap_trapezoid(scores, labels)
        iap = interpolated_ap(scores, labels)
        tv = tvsum_top5_map([(scores, users)])
        qv = qvhighlights_hl([(scores, sal)])
        for value in (ap, iap, tv, *qv.values()):
            assert 0.0 <= value <= 1.0 + 1e-12
        for f in MONOTONE:
            g = f(scores)
            assert ap_trapezoid(g, labels) == pytest.approx(ap, abs=1e-12)
            assert interpolated_ap(g, labels) == pytest.approx(iap, abs=1e-12)
            assert tvsum_top5_map([(g, users)]) == pytest.approx(tv, abs=1e-12)
            assert qvhighlights_hl([(g, sal)]) == pytest.approx(qv, abs=1e-12)


def test_perfect_scores_give_one_and_clip_permutation_invariance():
    rng = np.random.default_rng(7)
    for _ in range(100):
        n = int(rng.integers(2, 30))
        labels = (rng.random(n) < 0.5).astype(int)
        if labels.sum() == 0:
            labels[0] = 1
        # scoring by the label itself (ties inside each class do not matter)
        assert ap_trapezoid(labels.astype(float), labels) == pytest.approx(1.0)
        assert interpolated_ap(labels.astype(float), labels) == pytest.approx(1.0)
        # permuting clips together with distinct scores changes nothing
        scores = rng.normal(size=n)
        perm = rng.permutation(n)
        assert ap_trapezoid(scores[perm], labels[perm]) == pytest.approx(
            ap_trapezoid(scores, labels)
        )
        assert interpolated_ap(scores[perm], labels[perm]) == pytest.approx(
            interpolated_ap(scores, labels)
        )


def test_youtube_map_is_mean_and_order_free():
    rng = np.random.default_rng(8)
    items = [(rng.normal(size=10), rng.integers(0, 2, 10)) for _ in range(7)]
    expected = np.mean([ap_trapezoid(s, y) for s, y in items])
    assert youtube_map(items) == pytest.approx(expected)
    assert youtube_map(items[::-1]) == pytest.approx(expected)


# ---------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "call",
    [
        lambda: ap_trapezoid([0.1, 0.2], [1]),
        lambda: ap_trapezoid([], []),
        lambda: ap_trapezoid([0.1, math.nan], [1, 0]),
        lambda: ap_trapezoid([[0.1, 0.2]], [[1, 0]]),
        lambda: ap_trapezoid(["a", "b"], [1, 0]),
        lambda: youtube_map([]),
        lambda: youtube_map([([0.1, 0.2], [1, 0]), ([0.3], [1, 0])]),
        lambda: youtube_map([([0.1, np.nan], [1, 0])]),
        lambda: youtube_map([[0.1, 0.2, 0.3]]),
        lambda: tvsum_top5_map([]),
        lambda: tvsum_top5_map([([0.1, 0.2], [[1, 2]])]),
        lambda: tvsum_top5_map([([0.1, 0.2], [1, 2])]),
        lambda: tvsum_top5_map([([0.1, 0.2], [[1, 2], [3, 4]]), ([0.1], [[1, 2, 3]])]),
        lambda: tvsum_top5_map([([0.1, 0.2], [[1], [2]])], top_k=0),
        lambda: tvsum_top5_map([([np.nan, 0.2], [[1], [2]])]),
        lambda: qvhighlights_hl([]),
        lambda: qvhighlights_hl([([0.1, 0.2, 0.3], [[1, 2, 3], [1, 2, 3]])]),
        lambda: qvhighlights_hl([([0.1, 0.2], [1, 2])]),
        lambda: qvhighlights_hl([([0.1, np.nan], [[1, 2, 3], [1, 2, 3]])]),
        lambda: M.evaluate("no-such-protocol", []),
    ],
)
def test_invalid_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_error_messages_are_specific():
    with pytest.raises(ValueError, match="length mismatch"):
        ap_trapezoid([0.1, 0.2], [1])
    with pytest.raises(ValueError, match="NaN"):
        ap_trapezoid([np.nan], [1])
    with pytest.raises(ValueError, match="empty"):
        youtube_map([])
    with pytest.raises(ValueError, match="video 1"):
        youtube_map([([0.1], [1]), ([0.1, 0.2], [1])])


# ------------------------------------------------------------------------------ registry


def test_protocol_registry():
    assert set(PROTOCOLS) == {
        "youtube-map",
        "tvsum-top5-median",
        "tvsum-top5-top50",
        "qvhighlights-hl",
    }
    assert PROTOCOLS["tvsum-top5-median"].function is tvsum_top5_map
    assert PROTOCOLS["qvhighlights-hl"].function is qvhighlights_hl
    for entry in PROTOCOLS.values():
        assert isinstance(entry.description, str) and entry.description
        assert callable(entry.function)
        assert entry.averaging in ("category", "all")
        assert entry.metric in ("mAP", "top5_mAP")
    # every protocol takes (scores, truth[clips, columns]) pairs
    two = [(np.array([0.9, 0.1, 0.5]), np.array([[1], [0], [0]]))]
    assert M.evaluate("youtube-map", two) == pytest.approx(youtube_map([(two[0][0], [1, 0, 0])]))
    assert M.evaluate("tvsum-top5-median", tvsum_toy()) == pytest.approx(91 / 240)
    assert M.evaluate("tvsum-top5-median", tvsum_toy(), top_k=1) == pytest.approx(0.25)
    with pytest.raises(M.MetricInputError, match="unknown protocol 'nope'; known: qvh"):
        M.evaluate("nope", two)
    with pytest.raises(TypeError):
        PROTOCOLS["new"] = PROTOCOLS["youtube-map"]  # read-only


# ------------------------------------------------------------------ TVSum top 50 % (HPCL)


def test_top5_map_binary_by_hand():
    # ranking by score: clips 3, 0, 4, 1, 2, 5 -> top 5 labels 1, 0, 1, 1, 0
    scores = [0.8, 0.3, 0.1, 0.9, 0.5, 0.0]
    labels = [0, 1, 0, 1, 1, 1]
    # walking the top 5: (r, p) = (1/3, 1), (1/3, 1/2), (2/3, 2/3), (1, 3/4), (1, 3/5)
    expected = (1 / 3) * (1 + 1) / 2 + (1 / 3) * (1 / 2 + 2 / 3) / 2 + (1 / 3) * (2 / 3 + 3 / 4) / 2
    assert M.top5_map_binary([(scores, labels)]) == pytest.approx(expected)
    # the positive past the top 5 does not count; a video without positives in its top 5: 0
    assert M.top5_map_binary([([1, 2, 3, 4, 5, 6], [1, 0, 0, 0, 0, 0])]) == 0.0
    assert M.top5_map_binary([(scores, labels), ([1, 2, 3, 4, 5, 6], [1, 0, 0, 0, 0, 0])]) == (
        pytest.approx(expected / 2)
    )
    # the registry's entry reads the label column
    truth = np.array(labels)[:, None]
    assert M.evaluate("tvsum-top5-top50", [(scores, truth)]) == pytest.approx(expected)


def test_top50_differs_from_per_annotator_median():
    """One ground truth (the mean rating's top half) against twenty annotators' own medians:
    the two protocols disagree where annotators disagree, so a row must name its protocol."""
    rng = np.random.default_rng(2)  # a draw without ties at the median
    ratings = rng.integers(1, 6, size=(30, 20)).astype(float)
    mean = ratings.mean(axis=1)
    label = (mean > np.median(mean)).astype(int)
    scores = mean + rng.normal(0, 0.3, size=30)
    top50 = M.evaluate("tvsum-top5-top50", [(scores, label[:, None])])
    median = M.evaluate("tvsum-top5-median", [(scores, ratings)])
    assert label.sum() == 15  # the higher 50 %
    assert abs(top50 - median) > 0.05
