"""How good are the pseudo-highlights? Their recurrence scores against the ground truth.

An unsupervised method that learns from pseudo-highlights can only be as good as they
are, and nothing in an unlabelled run says whether they are any good. Where the dataset
has labels, this module scores the pseudo-label file of a run the way the dataset's
protocol scores predictions, on the videos the pseudo-labels were made for (the training
videos of the split scheme): the visual, audio and audio-visual recurrence scores each
count as a ranking of the clips (the AV-PH Table 12 view, on the training side), beside the
expected value of a random ranking on the same videos. Where the dataset has categories, the
pseudo-categories are compared with them too (``categories``: the adjusted Rand index, 1
for the same grouping, about 0 for one no better than chance), since a recurrence can only
find a category's events in a category that holds them.

The ground truth is read only here, after the pseudo-labels are written: the pseudo job
never sees it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from highlight_pipeline.pseudo.highlights import read_pseudo_highlights
from highlight_pipeline.scoring import clip_truth, protocol_scores

SOURCES = ("visual", "audio", "av")
RANDOM_DRAWS = 20


def pseudo_quality(
    pseudo_path: str,
    clips: pd.DataFrame,
    manifest: pd.DataFrame,
    protocol: str,
    seed: int = 0,
) -> dict | None:
    """``{visual, audio, av, random, categories, n_videos}`` (protocol averages; ``None``
    for a source the file does not hold; ``categories``: :func:`category_agreement`) or
    ``None`` when no pseudo-labelled video has labels.

    ``random`` is the mean over ``RANDOM_DRAWS`` seeded uniform rankings of the same videos.
    """
    pseudo = read_pseudo_highlights(pseudo_path)
    truth = clip_truth(protocol, clips)  # grouped once for every ranking below
    labelled = {
        v for v in pseudo if v in truth and (truth[v] >= 0).all() and (truth[v][:, 0] > 0).any()
    }
    videos = manifest[manifest["video_id"].isin(labelled)]
    if videos.empty:
        return None
    out: dict = {"n_videos": int(len(videos))}
    for source in SOURCES:
        scores = {v: np.asarray(getattr(pseudo[v], source), dtype=np.float64) for v in labelled}
        present = sorted(v for v, s in scores.items() if np.isfinite(s).any())
        if not present:
            out[source] = None  # a modality the pseudo-labels did not use
            continue
        ranked = {v: _missing_last(scores[v]) for v in present}
        subset = videos[videos["video_id"].isin(present)]
        out[source] = protocol_scores(protocol, ranked, clips, subset, truth)[1]
    rng = np.random.default_rng([seed, 104729])
    draws = []
    for _ in range(RANDOM_DRAWS):
        scores = {v: rng.random(len(pseudo[v].av)) for v in sorted(labelled)}
        draws.append(protocol_scores(protocol, scores, clips, videos, truth)[1])
    out["random"] = float(np.mean(draws))
    out["categories"] = category_agreement(pseudo, manifest)
    return out


def category_agreement(pseudo: dict, manifest: pd.DataFrame) -> float | None:
    """The adjusted Rand index of the pseudo-categories of ``pseudo``'s videos against the
    manifest's categories; ``None`` where fewer than two of them have a category."""
    if "category" not in manifest:
        return None
    named = manifest["category"].fillna("").astype(str)
    real = dict(zip(manifest["video_id"], named, strict=True))
    videos = sorted(v for v in pseudo if real.get(v))
    if len(videos) < 2:
        return None
    from sklearn.metrics import adjusted_rand_score  # here: scikit-learn loads in 0.5 s

    found = [int(pseudo[v].category) for v in videos]
    return float(adjusted_rand_score([real[v] for v in videos], found))


def _missing_last(scores: np.ndarray) -> np.ndarray:
    """Clips without a score (a stream that ended early) rank below every scored clip."""
    finite = np.isfinite(scores)
    if finite.all():
        return scores
    return np.where(finite, scores, scores[finite].min() - 1.0)
