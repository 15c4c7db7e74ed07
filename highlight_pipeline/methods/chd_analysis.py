"""Why chd picks highlights (CHD §4.3, Table 6): how well highlight and non-highlight clips
cluster per video under dropout.

For each labelled video, the same number of highlight and non-highlight clips is sampled
(the smaller of the two counts, seeded). The trained selector's first attention layer runs
``masks`` times over the whole video with dropout active; each sampled clip's output
``z_i`` under each mask is one point of its video's cluster. With the cosine distance
``dist(a, b) = 1 - cos(a, b)`` and a cluster's centroid its mean point:

* intra-cluster distance of video k: mean distance of its points to its centroid;
* inter-cluster distance of video k: ``1/M * sum_{j != k} dist(centroid_k, centroid_j)``
  over the M videos (the paper's formula, M in the denominator);

both averaged over videos, once for highlight clips and once for non-highlight clips. The
paper finds highlight clips tighter (smaller intra) and better separated (larger inter).
"""

from __future__ import annotations

import numpy as np
import torch

from highlight_pipeline.errors import DatasetError
from highlight_pipeline.methods.chd import CHDModel
from highlight_pipeline.methods.inputs import VideoInputs

# CHD Table 6: (dataset, highlight clips?) -> (intra, inter)
PAPER_TABLE6 = {
    ("youtube", False): (0.0954, 0.2325),
    ("youtube", True): (0.0888, 0.2597),
    ("tvsum", False): (0.1297, 0.0905),
    ("tvsum", True): (0.1225, 0.0981),
    ("vtw", False): (0.1010, 0.8241),
    ("vtw", True): (0.0901, 0.8284),
}


def _cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return 1.0 - (a * b).sum(axis=-1)


def cluster_statistics(clusters: list[np.ndarray]) -> tuple[float, float]:
    """(intra, inter) of §4.3 for video clusters, each ``[points, d]``."""
    centroids = np.stack([c.mean(axis=0) for c in clusters])
    intra = np.mean([_cosine_distance(c, centroids[k]).mean() for k, c in enumerate(clusters)])
    m = len(clusters)
    pairwise = _cosine_distance(centroids[:, None, :], centroids[None, :, :])
    inter = np.mean([(pairwise[k].sum() - pairwise[k, k]) / m for k in range(m)])
    return float(intra), float(inter)


@torch.no_grad()
def dropout_clusters(
    model: CHDModel, videos: list[VideoInputs], masks: int = 20, seed: int = 0
) -> dict[bool, list[np.ndarray]]:
    """Per video with both kinds of clips: its highlight (True) and non-highlight (False)
    clusters of first-layer outputs under ``masks`` dropout masks."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    clusters: dict[bool, list[np.ndarray]] = {True: [], False: []}
    model.net.train()  # dropout on: that is the point
    for video in videos:
        if video.visual is None or video.labels is None or (video.labels < 0).any():
            continue
        positive = np.flatnonzero(video.labels > 0)
        negative = np.flatnonzero(video.labels == 0)
        n = min(len(positive), len(negative))
        if n == 0:
            continue
        chosen = {
            True: rng.choice(positive, n, replace=False),
            False: rng.choice(negative, n, replace=False),
        }
        clips, padding = model.tensors([video.visual])
        v = model.net.project(clips)
        outputs = np.stack(
            [model.net.self_attention(v, v, padding)[1][0].numpy() for _ in range(masks)]
        )
        for kind in (True, False):
            clusters[kind].append(outputs[:, chosen[kind], :].reshape(-1, outputs.shape[-1]))
    model.net.eval()
    if len(clusters[True]) < 2:
        raise DatasetError("the §4.3 analysis needs two labelled videos with both kinds of clips")
    return clusters


def table6(model: CHDModel, videos: list[VideoInputs], masks: int = 20, seed: int = 0) -> dict:
    """``{"highlight": {"intra", "inter"}, "non-highlight": {...}, "videos": M}``."""
    clusters = dropout_clusters(model, videos, masks, seed)
    out: dict = {"videos": len(clusters[True]), "masks": masks}
    for kind, name in ((True, "highlight"), (False, "non-highlight")):
        intra, inter = cluster_statistics(clusters[kind])
        out[name] = {"intra": intra, "inter": inter}
    return out


def analyse(
    model: CHDModel, videos: list[VideoInputs], run: dict, seed: int, paper_dataset: str
) -> dict:
    """The registry's §4.3 analysis: Table 6 on ``videos``, as a table section beside the
    paper's numbers for ``paper_dataset`` (when the paper reports that dataset)."""
    found = table6(model, [v for v in videos if v.labels is not None], seed=seed)
    lines = [
        f"Cosine distances of the first attention layer's clip outputs under {found['masks']} "
        f"dropout masks, on {found['videos']} labelled videos with both kinds of clips (as "
        "many highlight as non-highlight clips per video). The paper finds highlight clips "
        "tighter (smaller intra) and better separated (larger inter).",
        "",
        "| clips | intra (ours) | inter (ours) | intra (paper) | inter (paper) |",
        "|---|---|---|---|---|",
    ]
    for name, is_highlight in (("highlight", True), ("non-highlight", False)):
        ours = found[name]
        paper = PAPER_TABLE6.get((paper_dataset, is_highlight))
        cells = [f"{ours['intra']:.4f}", f"{ours['inter']:.4f}"]
        cells += [f"{paper[0]:.4f}", f"{paper[1]:.4f}"] if paper else ["–", "–"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    tighter = found["highlight"]["intra"] < found["non-highlight"]["intra"]
    apart = found["highlight"]["inter"] > found["non-highlight"]["inter"]
    lines += [
        "",
        f"Here highlight clips are {'tighter' if tighter else 'not tighter'} and "
        f"{'better' if apart else 'not better'} separated than non-highlight clips"
        + (" (as in the paper)." if tighter and apart else "."),
    ]
    return {"markdown": lines, "values": found}
