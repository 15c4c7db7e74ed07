"""Tests for pseudo-highlights: recurrence scores, top-fraction labels, categories, HDF5 files."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from highlight_pipeline.errors import DatasetError
from highlight_pipeline.features.clip_features import ClipFeatures
from highlight_pipeline.pseudo import recurrence
from highlight_pipeline.pseudo.categories import cache_umap_kernels, choose_categories
from highlight_pipeline.pseudo.highlights import (
    APPROXIMATIONS,
    PseudoHighlight,
    compute_pseudo_highlights,
    read_pseudo_highlights,
    video_level_features,
    write_pseudo_highlights,
)
from highlight_pipeline.pseudo.recurrence import (
    combine_modalities,
    recurrence_of_blocks,
    recurrence_scores,
    recurrence_scores_pairwise,
    recurrence_with_means,
    top_fraction_labels,
)


def loop_recurrence(x, group, similarity):
    """Mean cosine / Pearson similarity of each row to every row of its group (itself included)."""
    out = []
    for i in range(len(x)):
        sims = []
        for j in range(len(x)):
            if group[j] != group[i]:
                continue
            a, b = x[i].astype(np.float64), x[j].astype(np.float64)
            if similarity == "pearson":
                a, b = a - a.mean(), b - b.mean()
            sims.append(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
        out.append(np.mean(sims))
    return np.array(out)


# --------------------------------------------------------------------------- recurrence


@pytest.mark.parametrize("similarity", ["cosine", "pearson"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recurrence_fast_equals_pairwise_and_loop(similarity, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, 6)) + rng.normal(size=6)
    group = rng.integers(0, 4, size=40) * 7 - 3  # arbitrary, non-contiguous group ids
    fast = recurrence_scores(x, group, similarity)
    # float32 arithmetic is allowed: agreement to ~1e-6 on similarities in [-1, 1]
    np.testing.assert_allclose(fast, recurrence_scores_pairwise(x, group, similarity), atol=1e-5)
    np.testing.assert_allclose(fast, loop_recurrence(x, group, similarity), atol=1e-5)


def test_recurrence_prefers_recurring_content():
    # clips 0-2 are the same direction in both videos; clip 3 is unique
    base = np.array([[1.0, 0, 0]] * 3 + [[0, 0, 1.0]])
    x = np.concatenate([base, base * 2])
    x[7] = [0, 1.0, 0]
    scores = recurrence_scores(x, np.zeros(8, int))
    assert scores[:3].min() > scores[3] and scores[4:7].min() > scores[7]
    # cosine is scale-free: same direction, same score
    np.testing.assert_allclose(scores[0], scores[4], atol=1e-6)


def test_unknown_similarity_is_rejected():
    with pytest.raises(ValueError, match="similarity"):
        recurrence_scores(np.ones((2, 2)), np.zeros(2), "euclid")


# --------------------------------------------------------------------------- labels


@pytest.mark.parametrize(
    "n, fraction, k",
    [(10, 0.3, 3), (10, 0.26, 3), (6, 0.45, 3), (10, 0.01, 1), (7, 1.0, 7), (4, 0.6, 2)],
)
def test_top_fraction_picks_round_t_n_highest(n, fraction, k):
    rng = np.random.default_rng(n)
    scores = rng.permutation(n).astype(float)  # distinct
    labels = top_fraction_labels(scores, fraction)
    assert labels.sum() == k
    threshold = np.sort(scores)[::-1][k - 1]
    np.testing.assert_array_equal(labels, (scores >= threshold).astype(np.uint8))


def test_top_fraction_ties_keep_first_clips():
    labels = top_fraction_labels(np.array([0.1, 0.5, 0.5, 0.5, 0.2]), 0.4)
    np.testing.assert_array_equal(labels, [0, 1, 1, 0, 0])


def test_combine_modalities():
    v = np.array([0.2, 0.4, 0.9])
    a = np.array([0.6, 0.0, 0.1])
    np.testing.assert_allclose(combine_modalities(v, a), [0.4, 0.2, 0.5])
    alone = combine_modalities(v, None)
    np.testing.assert_array_equal(alone, v)
    alone[0] = 99  # a copy, not the caller's array
    assert v[0] == 0.2
    np.testing.assert_array_equal(combine_modalities(v, np.full(3, np.nan)), v)


# --------------------------------------------------------------------------- categories


def test_choose_categories_recovers_three_blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[10.0, 0, 0, 0, 0], [0, 10.0, 0, 0, 0], [0, 0, 10.0, 0, 0]])
    truth = np.repeat(np.arange(3), 10)
    x = centres[truth] + rng.normal(0, 0.5, size=(30, 5))
    result = choose_categories(x, umap_dims=2, umap_neighbors=5, k_min=2, k_max=5, seed=0)
    assert result.k == 3
    assert set(result.silhouettes) == {2, 3, 4, 5}
    assert max(result.silhouettes, key=result.silhouettes.get) == 3
    # same partition up to renaming of the labels
    pairs = {(int(t), int(p)) for t, p in zip(truth, result.labels, strict=True)}
    assert len(pairs) == 3 and len({p for _, p in pairs}) == 3


def test_choose_categories_too_few_videos():
    result = choose_categories(np.ones((3, 4)), 2, 5, 2, 5, 0)
    assert result.k == 1
    np.testing.assert_array_equal(result.labels, 0)


# ------------------------------------------------------------------ pseudo-highlights


def features(by_video, dim):
    return ClipFeatures(by_video=by_video, dim=dim, failed=[])


def test_video_level_features_impute_missing_audio():
    visual = features({"a": np.array([[1.0, 3.0], [3.0, 5.0]]), "b": np.array([[0.0, 0.0]])}, 2)
    audio = features({"a": np.array([[4.0], [6.0]]), "b": None}, 1)
    out, imputed = video_level_features(["a", "b"], visual, audio)
    np.testing.assert_allclose(out, [[2.0, 4.0, 5.0], [0.0, 0.0, 5.0]])
    np.testing.assert_allclose(imputed, [5.0])
    visual_only, none = video_level_features(["a", "b"], visual, None)
    np.testing.assert_allclose(visual_only, [[2.0, 4.0], [0.0, 0.0]])
    assert none is None


def test_video_level_features_add_back_the_centre_the_extractor_took_off():
    # colormotion takes each video's median window off its windows; the clustering sees the
    # video's mean before that, so two videos of one look centred alike stay apart from another
    visual = ClipFeatures(
        {"a": np.array([[1.0, -1.0], [-1.0, 1.0]]), "b": np.array([[2.0, 2.0]])},
        2,
        [],
        centres={"a": np.array([10.0, 20.0])},  # "b": its extractor took nothing off
    )
    out, _ = video_level_features(["a", "b"], visual, None)
    np.testing.assert_allclose(out, [[10.0, 20.0], [2.0, 2.0]])
    assert visual.video_mean("a").tolist() == [10.0, 20.0]


def test_the_category_model_assigns_a_training_video_its_own_category_with_its_centre():
    # nine videos in three looks that per-recording centring removes: the windows alone are
    # alike, only the centres tell the looks apart
    rng = np.random.default_rng(5)
    looks = {0: np.full(4, -3.0), 1: np.zeros(4), 2: np.full(4, 3.0)}
    videos = [f"v{i}" for i in range(9)]
    windows = {v: rng.normal(scale=0.1, size=(6, 4)) for v in videos}
    centres = {v: looks[i % 3] + rng.normal(scale=0.05, size=4) for i, v in enumerate(videos)}
    visual = ClipFeatures(windows, 4, [], centres=centres)
    slice_ = {**SLICE, "modalities": ["visual"], "umap_neighbors": 3}
    categories, _, summary, model = compute_pseudo_highlights(videos, {"visual": visual}, slice_)
    found = dict(zip(categories["video_id"], categories["pseudo_category"], strict=True))
    assert summary["k"] == 3 and len({found[v] for v in videos[:3]}) == 3
    for i, v in enumerate(videos):
        assert found[v] == found[videos[i % 3]]  # the looks, found
        assert model.category_of(windows[v], None, "", {"visual": centres[v]}) == found[v]


def test_compute_pseudo_highlights_without_clustering():
    # three videos: too few for UMAP, so everything is one pseudo-category
    rng = np.random.default_rng(3)
    visual = {v: rng.normal(size=(n, 4)) for v, n in (("a", 5), ("b", 4), ("c", 6))}
    audio = {"a": rng.normal(size=(5, 3)), "b": None, "c": rng.normal(size=(6, 3))}
    categories, result, summary, model = compute_pseudo_highlights(
        ["a", "b", "c"], {"visual": features(visual, 4), "audio": features(audio, 3)}, SLICE
    )
    assert list(categories["video_id"]) == ["a", "b", "c"]
    assert list(categories["pseudo_category"]) == [0, 0, 0] and summary["k"] == 1
    all_visual = np.concatenate([visual[v] for v in "abc"])
    v_scores = loop_recurrence(all_visual, np.zeros(15), "cosine")
    audio_ac = np.concatenate([audio["a"], audio["c"]])
    a_scores = loop_recurrence(audio_ac, np.zeros(11), "cosine")
    np.testing.assert_allclose(result["a"].visual, v_scores[:5], atol=1e-5)
    np.testing.assert_allclose(result["b"].visual, v_scores[5:9], atol=1e-5)
    np.testing.assert_allclose(result["c"].audio, a_scores[5:], atol=1e-5)
    np.testing.assert_allclose(result["a"].av, 0.5 * (v_scores[:5] + a_scores[:5]), atol=1e-5)
    assert np.isnan(result["b"].audio).all() and len(result["b"].audio) == 4
    np.testing.assert_allclose(result["b"].av, v_scores[5:9], atol=1e-5)
    for v, n in (("a", 5), ("b", 4), ("c", 6)):
        assert result[v].label.sum() == max(1, round(0.5 * n))
        top = np.argsort(-result[v].av)[: result[v].label.sum()]
        assert set(np.flatnonzero(result[v].label)) == set(top)
        # V-PH labels are the top half of the visual scores, A-PH of the audio scores
        top_visual = np.argsort(-result[v].visual)[: result[v].label.sum()]
        assert set(np.flatnonzero(result[v].target("visual") == 1)) == set(top_visual)
    assert (result["b"].target("audio") == -1).all()  # no audio: no A-PH labels
    top_audio = np.argsort(-result["c"].audio)[:3]
    assert set(np.flatnonzero(result["c"].target("audio") == 1)) == set(top_audio)
    # the category model scores a training video exactly as the pseudo job did
    np.testing.assert_allclose(model.scores(visual["a"], audio["a"]), result["a"].av, atol=1e-5)
    np.testing.assert_allclose(model.scores(visual["b"], None), result["b"].av, atol=1e-5)


SLICE = {
    "modalities": ["visual", "audio"],
    "categories": "pseudo",
    "umap_dims": 2,
    "umap_neighbors": 2,
    "k_min": 2,
    "k_max": 3,
    "similarity": "cosine",
    "top_fraction": 0.5,
    "seed": 0,
}


def test_pseudo_highlights_with_real_categories_and_one_modality():
    rng = np.random.default_rng(4)
    visual = {v: rng.normal(size=(4, 3)) for v in "abcd"}
    audio = {"a": rng.normal(size=(4, 2)), "b": None, "c": rng.normal(size=(4, 2)), "d": None}
    real = {"a": "dog", "b": "dog", "c": "ski", "d": "ski"}
    feats = {"visual": features(visual, 3), "audio": features(audio, 2)}
    _, result, summary, model = compute_pseudo_highlights(
        list("abcd"), feats, {**SLICE, "categories": "real", "modalities": ["visual"]}, real
    )
    assert summary["k"] == 2 and summary["names"] == ["dog", "ski"]
    assert [result[v].category for v in "abcd"] == [0, 0, 1, 1]
    dogs = np.concatenate([visual["a"], visual["b"]])
    np.testing.assert_allclose(
        result["a"].visual, loop_recurrence(dogs, np.zeros(8), "cosine")[:4], atol=1e-5
    )
    assert np.isnan(result["a"].audio).all()  # audio is not used by a visual-only run
    np.testing.assert_allclose(result["a"].av, result["a"].visual)
    # a new video of category "ski" is scored against the ski training clips
    new = rng.normal(size=(3, 3))
    skis = np.concatenate([visual["c"], visual["d"]])
    expected = [
        loop_recurrence(np.concatenate([skis, new[i : i + 1]]), np.zeros(9), "cosine")[-1]
        for i in range(3)
    ]
    # mean similarity to the 8 training clips (the loop includes the clip itself: remove it)
    expected = [(9 * e - 1.0) / 8 for e in expected]
    np.testing.assert_allclose(model.scores(new, None, "ski"), expected, atol=1e-5)
    with pytest.raises(DatasetError, match="no training videos"):
        model.scores(new, None, "surf")
    # audio only: videos without audio are left out
    _, audio_only, _, _ = compute_pseudo_highlights(
        list("abcd"), feats, {**SLICE, "categories": "real", "modalities": ["audio"]}, real
    )
    assert set(audio_only) == {"a", "c"}
    with pytest.raises(DatasetError, match="categories"):
        compute_pseudo_highlights(list("abcd"), feats, {**SLICE, "categories": "real"}, {})


def test_pseudo_highlights_h5_round_trip(tmp_path):
    pseudo = {
        "cat/1": PseudoHighlight(
            np.array([0.1, 0.2]),
            np.array([0.3, 0.4]),
            np.array([0.2, 0.3]),
            np.array([0, 1], np.uint8),
            2,
        ),
        "x y": PseudoHighlight(
            np.array([0.5]), np.array([np.nan]), np.array([0.5]), np.array([1], np.uint8), 0
        ),
    }
    path = tmp_path / "p" / "highlights.h5"
    write_pseudo_highlights(path, pseudo, {"k": 2, "silhouette": {"2": 0.5}})
    assert not list(path.parent.glob("*.tmp"))
    back = read_pseudo_highlights(path)
    assert set(back) == set(pseudo)
    for v, ph in pseudo.items():
        got = back[v]
        assert got.category == ph.category
        for name in ("visual", "audio", "av", "label"):
            np.testing.assert_array_equal(getattr(got, name), getattr(ph, name))


# ------------------------------------------------------------------ chunked recurrence


def float64_recurrence(x, group, similarity):
    """The mean similarity of each row to its group, all in float64."""
    x = x.astype(np.float64)
    if similarity == "pearson":
        x = x - x.mean(axis=1, keepdims=True)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    ids, inverse = np.unique(group, return_inverse=True)
    means = np.stack([unit[inverse == k].mean(axis=0) for k in range(len(ids))])
    return (unit * means[inverse]).sum(axis=1), means


@pytest.mark.parametrize("similarity", ["cosine", "pearson"])
@pytest.mark.parametrize("dim", [6, 300])
def test_chunked_recurrence_equals_exact(similarity, dim, monkeypatch):
    """The chunked scores are within 1e-6 of a float64 computation, and within 2e-6 of the
    exact (one-matrix, float32) ones, which are the less accurate of the two here."""
    # small chunks, so that every code path (views, packed small blocks, gathered rows)
    # runs on many chunks
    monkeypatch.setattr(recurrence, "CHUNK_BYTES", 4 * dim * 37)
    rng = np.random.default_rng(dim)
    offset = rng.normal(size=dim).astype(np.float32) * 3  # features far from their mean
    lengths = np.concatenate([rng.integers(0, 16, size=30), rng.integers(16, 120, size=30)])
    rng.shuffle(lengths)
    blocks = [rng.normal(size=(n, dim)).astype(np.float32) + offset for n in lengths]
    video_group = rng.integers(0, 4, size=len(blocks)) * 5 + 2
    stacked = np.concatenate(blocks)
    group = np.repeat(video_group, lengths)
    truth, true_means = float64_recurrence(stacked, group, similarity)
    exact, exact_ids, exact_means = recurrence_with_means(stacked, group, similarity, "exact")
    per_block, ids, means = recurrence_of_blocks(blocks, video_group, similarity)
    np.testing.assert_array_equal(ids, exact_ids)
    assert [len(s) for s in per_block] == list(lengths)
    chunked = np.concatenate(per_block)
    np.testing.assert_allclose(chunked, truth, rtol=0, atol=1e-6)
    np.testing.assert_allclose(means, true_means, rtol=0, atol=1e-6)
    np.testing.assert_allclose(chunked, exact, rtol=0, atol=2e-6)
    np.testing.assert_allclose(means, exact_means, rtol=0, atol=2e-6)
    # one array: contiguous runs of a group (read in place) and shuffled rows (gathered)
    for order in (np.arange(len(group)), rng.permutation(len(group))):
        scores, ids, means = recurrence_with_means(stacked[order], group[order], similarity)
        np.testing.assert_allclose(scores, truth[order], rtol=0, atol=1e-6)
        np.testing.assert_allclose(means, true_means, rtol=0, atol=1e-6)


def test_recurrence_method_is_checked():
    with pytest.raises(ValueError, match="recurrence method"):
        recurrence_scores(np.ones((2, 2)), np.zeros(2), "cosine", "approximate")


@pytest.mark.parametrize("categories", ["pseudo", "real"])
def test_pseudo_highlights_chunked_equal_exact(categories):
    rng = np.random.default_rng(5)
    visual = {v: rng.normal(size=(int(rng.integers(3, 40)), 8)) for v in "abcdefgh"}
    audio = {v: rng.normal(size=(len(visual[v]), 3)) for v in "abcdefgh"}
    audio["c"] = None
    feats = {"visual": features(visual, 8), "audio": features(audio, 3)}
    real = {v: "xy"[i % 2] for i, v in enumerate("abcdefgh")}
    slice_ = {**SLICE, "categories": categories, "umap_neighbors": 4}
    out = {
        method: compute_pseudo_highlights(
            list("abcdefgh"), feats, {**slice_, "recurrence": method}, real
        )
        for method in ("exact", "chunked")
    }
    assert out["exact"][0].equals(out["chunked"][0])  # the same categories
    for v in "abcdefgh":
        exact, chunked = out["exact"][1][v], out["chunked"][1][v]
        for name in ("visual", "audio", "av"):
            np.testing.assert_allclose(getattr(chunked, name), getattr(exact, name), atol=1e-6)
        for target in ("av", "visual", "audio"):
            np.testing.assert_array_equal(chunked.target(target), exact.target(target))
    for modality in ("visual", "audio"):
        np.testing.assert_allclose(
            out["chunked"][3].means[modality], out["exact"][3].means[modality], atol=1e-6
        )


# ------------------------------------------------------------------ sampled clustering


def blobs(n, dim=40, k=4, seed=0):
    """``n`` videos in ``k`` blobs of unequal size (40/30/20/10 %) and their blob."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(k, size=n, p=np.array([4, 3, 2, 1][:k]) / sum([4, 3, 2, 1][:k]))
    centres = rng.normal(size=(k, dim)) * 4
    return (centres[truth] + rng.normal(size=(n, dim))).astype(np.float32), truth


def same_partition(a, b):
    pairs = {(int(x), int(y)) for x, y in zip(a, b, strict=True)}
    return len(pairs) == len(set(a)) == len(set(b))


def test_sampled_clustering_chooses_the_exact_k():
    x, truth = blobs(700)
    exact = choose_categories(x, 2, 15, 2, 6, 0)
    sampled = choose_categories(
        x, 2, 15, 2, 6, 0, cluster_sample=250, sample_pca_dims=10, sample_umap_epochs=200
    )
    assert exact.k == sampled.k == 4 and not exact.approximation
    assert same_partition(exact.labels, sampled.labels) and same_partition(truth, sampled.labels)
    assert sampled.approximation["clustered_videos"] == 250
    assert sampled.approximation["of"] == 700 and sampled.approximation["pca_dims"] == 10
    # a new video takes the category of its nearest sampled videos, as the others did
    np.testing.assert_array_equal(sampled.assign(x[:50]), sampled.labels[:50])
    assert sampled.projection.shape == (40, 10)
    # without PCA the vote is in the standardised space
    plain = choose_categories(x, 2, 15, 2, 6, 0, cluster_sample=250)
    assert plain.k == 4 and plain.projection is None and same_partition(truth, plain.labels)


def test_sampled_silhouette_chooses_the_exact_k():
    x, _ = blobs(500, seed=1)
    exact = choose_categories(x, 2, 15, 2, 6, 0)
    sampled = choose_categories(x, 2, 15, 2, 6, 0, silhouette_sample=200)
    assert sampled.k == exact.k == 4
    np.testing.assert_array_equal(sampled.labels, exact.labels)  # the same embedding
    assert sampled.silhouettes != exact.silhouettes
    assert sampled.approximation == {"silhouette_videos": 200, "silhouette_of": 500}


def test_default_settings_are_exact_below_the_sample():
    """The schema's defaults leave a dataset of up to cluster_sample videos (the embedded
    default has 12 training videos) to the exact computation: the same result, bit for bit."""
    from highlight_pipeline.config import validate_config

    config = {"run_datasets": ["syn"], "datasets": {"syn": {"reader": "synthetic"}}}
    pseudo = validate_config(config)["pseudo"]
    assert pseudo["cluster_sample"] == 2000 and pseudo["recurrence"] == "chunked"
    x, _ = blobs(60, seed=2)
    exact = choose_categories(x, 2, 15, 2, 6, 0)
    default = choose_categories(
        x,
        2,
        15,
        2,
        6,
        0,
        **{key: pseudo[key] for key in APPROXIMATIONS},
    )
    np.testing.assert_array_equal(default.labels, exact.labels)
    assert default.silhouettes == exact.silhouettes and not default.approximation


def test_pseudo_highlights_record_the_sample():
    x, _ = blobs(60, dim=6, seed=3)
    rng = np.random.default_rng(3)
    visual = {f"v{i}": row + rng.normal(0, 0.1, size=(5, 6)) for i, row in enumerate(x)}
    slice_ = {**SLICE, "modalities": ["visual"], "umap_neighbors": 5, "k_max": 5}
    _, _, summary, model = compute_pseudo_highlights(
        list(visual), {"visual": features(visual, 6)}, {**slice_, "cluster_sample": 30}
    )
    assert summary["approximation"]["clustered_videos"] == 30
    assert summary["approximation"]["of"] == 60
    assert summary["k"] == model.clustering.k
    # the category model of a sampled clustering pickles and assigns new videos
    back = pickle.loads(pickle.dumps(model))
    new = x[:5] + 0.01
    np.testing.assert_array_equal(back.clustering.assign(new), model.clustering.assign(new))
    assert back.category_of(visual["v0"], None, "") == model.clustering.labels[0]
    _, _, exact_summary, _ = compute_pseudo_highlights(
        list(visual), {"visual": features(visual, 6)}, slice_
    )
    assert "approximation" not in exact_summary and exact_summary["k"] == summary["k"]


def test_umap_kernels_are_cached_on_disk():
    from numba.core.caching import NullCache

    assert cache_umap_kernels()
    import umap.layouts
    import umap.umap_

    assert not isinstance(umap.umap_.smooth_knn_dist._cache, NullCache)
    # one cache file per Python function: of the two layouts, the serial one (n_jobs=1)
    assert not isinstance(umap.layouts._nb_optimize_layout_euclidean_single_epoch._cache, NullCache)
    parallel = umap.layouts._nb_optimize_layout_euclidean_single_epoch_parallel
    assert isinstance(parallel._cache, NullCache)
