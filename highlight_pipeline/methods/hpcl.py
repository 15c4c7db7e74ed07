"""hpcl: supervised audio-visual transformer with hard-pairs guided contrastive learning
(Li et al., "Probing Visual-Audio Representation for Video Highlight Detection via
Hard-Pairs Guided Contrastive Learning").

Network (``architecture: co-av``, the paper's final model):

* visual and audio clip features, standardised with the training statistics and linearly
  projected to ``hidden`` (d = 256);
* intra-modality encoding per modality: ``layers`` (n = 2) encoder layers of ``heads`` (8)
  heads with query/key width ``key_dim`` (d_k = 512) and value width ``value_dim``
  (d_v = 512). Eq. (2) adds the attended values to the values themselves
  (``softmax(QK^T / sqrt(d_k)) S + S``); Eq. (3) then applies a feed-forward network;
* global context: a decoder whose single query is ``G_init`` attends to the encoded segments
  F_n; its output G is added to every segment, F^ = F_n + G (``global_context``: ``mean``
  initialises the query with the mean of F_n, ``random`` learns it from a random start,
  ``none`` leaves it out: HPCL Table 5);
* co-occurrence encoding: per modality a decoder whose queries are that modality's encoded
  segments and whose keys and values are the 2T visual and audio segments (Eqs. 4-5);
* three heads (Linear -> ReLU -> Dropout -> Linear) score concat(F~v, F~a), F^v and F^a;
  the clip score is the weighted sum of the three heads' highlight probabilities.

Ablations (HPCL Table 3): ``v-only`` / ``a-only`` keep one stream, its global context and
its head; ``av-concat`` concatenates the clip features, projects them and runs one
intra-modality module and one head; ``cr-av`` replaces the co-occurrence decoders by plain
cross-attention (visual queries attend to the audio segments only, and audio to visual).

Losses (Eq. 11): ``lambda_ce`` x the sum of the heads' binary cross-entropies (Eq. 10),
``lambda_hpcl`` x the dense segment-level contrastive loss (Eq. 8) on
F = concat(F^v + F~v, F^a + F~a) (one stream: its F^), ``lambda_rank`` x the hard-pairs
margin loss (Eq. 9); Table 4's ablations set the last two weights to zero.

Where the paper is silent or inconsistent, the project chose (and says so here and in
docs/architecture.md):

* Eq. (8)'s first exponent lacks the temperature; it is divided by tau like the others.
  The paper does not give tau: ``temperature`` defaults to 0.1. Segment representations
  are L2-normalised before the dot products and the distances (the paper does not say;
  it keeps the margin 0.7 meaningful, distances lie in [0, 2]).
* A query segment without a positive or without a negative in its sequence is left out of
  Eq. (8)'s mean (its term is undefined).
* Hard pairs: a watershed c_j is the *last* segment before a change of label, so that the
  paper's rule "c_j - k is replaced with c_j when it falls before the sequence" keeps the
  pair across the boundary. Pairs are (c_j - k, c_j + k) for k = 1..L (L = ``hard_pairs``,
  3); c_j + k past the end is replaced with c_j + 1 (the symmetric rule, the paper gives
  none). A pair whose two segments have the same label (a run shorter than L) is dropped.
  Eq. (9) sums over the pairs of a sequence; the batch loss is the mean over sequences.
* The encoder's feed-forward network maps d_v back to d and is followed by a LayerNorm;
  the decoders follow Eq. (5) (no residual on the query), with the same feed-forward
  network and LayerNorm; dropout ``dropout`` (0.5) on attention outputs and in the heads.
* The heads' weights in the final score are equal (``head_weights``, the paper gives none).
* Training samples: ``segments`` (T = 20) segments per video in temporal order, with both
  labels and a minority share of at least 1:2: a random window of T consecutive segments;
  when its minority class is short, randomly chosen majority segments of the window are
  swapped for minority segments elsewhere in the video (the paper's "re-sample additional
  samples in the same video"), and the indices are sorted. A video with fewer segments or
  too few of a class gives a shorter sample that still meets the ratio (padded in the
  batch); a video with a single label is not sampled (it has no pair to contrast).
  Each epoch samples every training video ``samples_per_video`` times, in batches of
  ``batch_size`` sequences (the paper gives no batch size).
* Scoring runs the whole video as one sequence (no sampling).
* Videos without audio: training skips them for the audio-visual architectures (logged);
  scoring one scores it with the visual stream's head alone (no audio is invented).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from highlight_pipeline.errors import DatasetError
from highlight_pipeline.methods.batching import Standardiser, pad_batch, seeded_batches
from highlight_pipeline.methods.inputs import MethodInputs, VideoInputs
from highlight_pipeline.methods.optim import Adam
from highlight_pipeline.methods.registry import HPCL_STREAMS, hpcl_modalities
from highlight_pipeline.methods.resume import NoCheckpoint, epoch_bar
from highlight_pipeline.methods.state_files import expect_keys, float_array, load_network_state

log = logging.getLogger(__name__)

# the architectures with a visual and an audio stream (and the co-occurrence head)
TWO_STREAMS = tuple(a for a, streams in HPCL_STREAMS.items() if len(streams) == 2)


# ----------------------------------------------------------------------------- sampling


def sample_segments(labels: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray | None:
    """Sorted segment indices of one training sample, or None when the video has one label.

    At most ``length`` segments, both labels present, the minority class at least half the
    majority (ratio no worse than 1:2)."""
    labels = np.asarray(labels)
    positives, negatives = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    if len(positives) == 0 or len(negatives) == 0:
        return None
    n = len(labels)
    if n <= length:
        chosen = np.arange(n)
    else:
        start = int(rng.integers(0, n - length + 1))
        chosen = np.arange(start, start + length)
    window = labels[chosen]
    minority_label = 1 if (window == 1).sum() <= (window == 0).sum() else 0
    minority_all = positives if minority_label == 1 else negatives
    have = int((window == minority_label).sum())
    need = math.ceil(len(chosen) / 3)  # minority / majority >= 1/2
    if have < need:
        outside = np.setdiff1d(minority_all, chosen)
        swap = min(need - have, len(outside))
        majority_in = chosen[window != minority_label]
        drop = rng.choice(majority_in, size=swap, replace=False)
        add = rng.choice(outside, size=swap, replace=False)
        chosen = np.union1d(np.setdiff1d(chosen, drop), add)
        have += swap
    majority = chosen[labels[chosen] != minority_label]
    if have < math.ceil(len(chosen) / 3):  # too few minority segments anywhere: shorten
        keep = rng.choice(majority, size=min(len(majority), 2 * have), replace=False)
        chosen = np.union1d(chosen[labels[chosen] == minority_label], keep)
    return np.sort(chosen)


# ----------------------------------------------------------------------------- losses


def segment_contrastive_loss(
    features: torch.Tensor, labels: torch.Tensor, padding: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Eq. (8), per sequence and averaged over the batch: for each query segment q, the mean
    over its positives k+ of -log(e^{q.k+/t} / (e^{q.k+/t} + sum_{k-} e^{q.k-/t})).

    ``features`` [B, T, D] (L2-normalised here), ``labels`` [B, T] in {0, 1}, ``padding``
    [B, T] True on padded segments. Queries without a positive or a negative are left out."""
    z = F.normalize(features, dim=-1)
    sims = torch.einsum("btd,bsd->bts", z, z) / temperature  # [B, T, T]
    valid = ~padding
    pair = valid[:, :, None] & valid[:, None, :]
    same = (labels[:, :, None] == labels[:, None, :]) & pair
    eye = torch.eye(z.shape[1], dtype=torch.bool, device=z.device)[None]
    positive = same & ~eye
    negative = pair & ~same
    exp = torch.exp(sims)
    negatives_sum = (exp * negative).sum(dim=-1, keepdim=True)  # [B, T, 1]
    term = -(sims - torch.log(exp + negatives_sum))  # -log(e^s / (e^s + sum e^n))
    per_query = (term * positive).sum(-1) / positive.sum(-1).clamp(min=1)
    used = (positive.sum(-1) > 0) & (negative.sum(-1) > 0)
    per_video = (per_query * used).sum(-1) / used.sum(-1).clamp(min=1)
    has_any = used.any(dim=-1)
    if not bool(has_any.any()):
        return features.sum() * 0.0
    return per_video[has_any].mean()


def hard_pairs(labels: np.ndarray, region: int) -> list[tuple[int, int]]:
    """Index pairs (c - k, c + k), k = 1..region, around each watershed c (the last segment
    before a change of label); indices before the start become c, past the end c + 1;
    pairs whose labels agree are dropped. Sorted, without repeats."""
    labels = np.asarray(labels)
    n = len(labels)
    pairs: set[tuple[int, int]] = set()
    for c in np.flatnonzero(labels[:-1] != labels[1:]):
        c = int(c)
        for k in range(1, region + 1):
            a = c - k if c - k >= 0 else c
            b = c + k if c + k < n else c + 1
            if labels[a] != labels[b]:
                pairs.add((a, b))
    return sorted(pairs)


def margin_loss(
    features: torch.Tensor, pairs: list[tuple[int, int]], margin: float
) -> torch.Tensor:
    """Eq. (9): sum over the pairs of max(margin - ||f_a - f_b||, 0) on L2-normalised
    features of one sequence, ``features`` [T, D]."""
    if not pairs:
        return features.sum() * 0.0
    z = F.normalize(features, dim=-1)
    index = torch.as_tensor(pairs, dtype=torch.long, device=features.device)
    distance = torch.linalg.vector_norm(z[index[:, 0]] - z[index[:, 1]], dim=-1)
    return torch.clamp(margin - distance, min=0.0).sum()


# ----------------------------------------------------------------------------- network


class HeadedAttention(nn.Module):
    """Multi-head dot-product attention with separate query/key width ``key_dim`` and value
    width ``value_dim`` (split over ``heads``): softmax(Q K^T / sqrt(d_k / heads)) S."""

    def __init__(self, query_dim: int, memory_dim: int, key_dim: int, value_dim: int, heads: int):
        super().__init__()
        if key_dim % heads or value_dim % heads:
            raise ValueError(f"key_dim {key_dim} and value_dim {value_dim} must divide by {heads}")
        self.heads = heads
        self.query = nn.Linear(query_dim, key_dim)
        self.key = nn.Linear(memory_dim, key_dim)
        self.value = nn.Linear(memory_dim, value_dim)

    def forward(
        self, x: torch.Tensor, memory: torch.Tensor, padding: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(attended [B, Lq, d_v], values S [B, Lm, d_v]); ``padding`` [B, Lm] True on pads."""
        b, lq, _ = x.shape
        lm = memory.shape[1]
        h = self.heads
        q = self.query(x).view(b, lq, h, -1).transpose(1, 2)
        k = self.key(memory).view(b, lm, h, -1).transpose(1, 2)
        s = self.value(memory)
        v = s.view(b, lm, h, -1).transpose(1, 2)
        logits = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        logits = logits.masked_fill(padding[:, None, None, :], float("-inf"))
        attended = torch.softmax(logits, dim=-1) @ v  # [B, h, Lq, d_v / h]
        return attended.transpose(1, 2).reshape(b, lq, -1), s


class FeedForward(nn.Sequential):
    def __init__(self, in_dim: int, out_dim: int, dropout: float) -> None:
        super().__init__(
            nn.Linear(in_dim, in_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(in_dim, out_dim)
        )


class AttentionLayer(nn.Module):
    """One encoder or decoder layer: queries from ``x`` attend to ``memory``,
    softmax(Q K^T / sqrt(d_k)) S, then FFN (d_v -> d) and LayerNorm. An encoder layer
    (``add_values``, Eqs. 1-3) adds the values S to the attended values; a decoder layer
    (Eqs. 4-5) does not, and has no residual on the query either, as Eq. (5) writes it."""

    def __init__(
        self, dim: int, key_dim: int, value_dim: int, heads: int, dropout: float, add_values: bool
    ):
        super().__init__()
        self.attention = HeadedAttention(dim, dim, key_dim, value_dim, heads)
        self.feed_forward = FeedForward(value_dim, dim, dropout)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)
        self.add_values = add_values

    def forward(self, x: torch.Tensor, memory: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        attended, values = self.attention(x, memory, padding)
        attended = self.dropout(attended)
        return self.norm(self.feed_forward(attended + values if self.add_values else attended))


class Decoder(nn.Module):
    def __init__(self, layers: int, *args) -> None:
        super().__init__()
        self.layers = nn.ModuleList(AttentionLayer(*args, add_values=False) for _ in range(layers))

    def forward(self, x: torch.Tensor, memory: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, memory, padding)
        return x


class IntraModality(nn.Module):
    """Projection, n encoder layers, and the global-context decoder: (F_n, F^ = F_n + G)."""

    def __init__(self, input_dim: int, hp: dict) -> None:
        super().__init__()
        dims = (hp["hidden"], hp["key_dim"], hp["value_dim"], hp["heads"], hp["dropout"])
        self.project = nn.Linear(input_dim, hp["hidden"])
        self.encoders = nn.ModuleList(
            AttentionLayer(*dims, add_values=True) for _ in range(hp["layers"])
        )
        self.global_context = hp["global_context"]
        if self.global_context != "none":
            self.decoder = Decoder(hp["layers"], *dims)
        if self.global_context == "random":
            self.global_query = nn.Parameter(torch.randn(hp["hidden"]) * 0.02)

    def forward(self, x: torch.Tensor, padding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.project(x)
        for encoder in self.encoders:
            f = encoder(f, f, padding)
        if self.global_context == "none":
            return f, f
        if self.global_context == "mean":
            valid = (~padding).float()[..., None]
            query = (f * valid).sum(1, keepdim=True) / valid.sum(1, keepdim=True)
        else:
            query = self.global_query.expand(f.shape[0], 1, -1)
        g = self.decoder(query, f, padding)  # [B, 1, d]
        return f, f + g


class Head(nn.Sequential):
    """Linear -> ReLU -> Dropout -> Linear: one highlight logit per segment."""

    def __init__(self, in_dim: int, hidden: int, dropout: float) -> None:
        super().__init__(
            nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1)
        )


class HPCLNet(nn.Module):
    """Returns, for a batch, each head's logits ``{name: [B, T]}`` and the segment
    representations that the contrastive and margin losses shape, [B, T, D]."""

    def __init__(self, hp: dict) -> None:
        super().__init__()
        self.architecture = hp["architecture"]
        d = hp["hidden"]
        dims = (d, hp["key_dim"], hp["value_dim"], hp["heads"], hp["dropout"])
        input_dims = {
            "visual": hp["visual_dim"],
            "audio": hp["audio_dim"],
            "av": hp["visual_dim"] + hp["audio_dim"],
        }
        streams = HPCL_STREAMS[self.architecture]
        self.intra = nn.ModuleDict({s: IntraModality(input_dims[s], hp) for s in streams})
        self.heads = nn.ModuleDict({s: Head(d, d, hp["dropout"]) for s in streams})
        if self.architecture in TWO_STREAMS:
            self.cross = nn.ModuleDict({s: Decoder(hp["layers"], *dims) for s in streams})
            self.heads["co"] = Head(2 * d, d, hp["dropout"])

    def forward(
        self, inputs: dict[str, torch.Tensor], padding: torch.Tensor, audio_padding: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        encoded = {}
        for stream, module in self.intra.items():
            pad = audio_padding if stream == "audio" else padding
            encoded[stream] = module(inputs[stream], pad)  # (F_n, F^)
        logits = {s: self.heads[s](encoded[s][1])[..., 0] for s in self.intra}
        if self.architecture not in TWO_STREAMS:
            (stream,) = self.intra
            return logits, encoded[stream][1]
        fv, fa = encoded["visual"][0], encoded["audio"][0]
        if self.architecture == "co-av":  # each modality attends to all 2T segments
            memory = torch.cat([fv, fa], dim=1)
            memory_padding = torch.cat([padding, audio_padding], dim=1)
            co_v = self.cross["visual"](fv, memory, memory_padding)
            co_a = self.cross["audio"](fa, memory, memory_padding)
        else:  # cr-av: plain cross-attention, each modality attends to the other
            co_v = self.cross["visual"](fv, fa, audio_padding)
            co_a = self.cross["audio"](fa, fv, padding)
        logits["co"] = self.heads["co"](torch.cat([co_v, co_a], dim=-1))[..., 0]
        representation = torch.cat(
            [encoded["visual"][1] + co_v, encoded["audio"][1] + co_a], dim=-1
        )
        return logits, representation

    @torch.no_grad()
    def visual_logits(self, visual: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """The visual stream's head alone (a video without audio)."""
        return self.heads["visual"](self.intra["visual"](visual, padding)[1])[..., 0]


# ----------------------------------------------------------------------------- model


def head_weights(hp: dict, heads: list[str]) -> dict[str, float]:
    """Weights of the heads in the clip score, normalised over the heads present."""
    co, visual, audio = hp["head_weights"]
    given = {"co": co, "visual": visual, "audio": audio, "av": 1.0}  # av: the only head
    total = sum(given[h] for h in heads)
    return {h: given[h] / total for h in heads}


class HPCLModel:
    def __init__(self, net: HPCLNet, standardisers: dict[str, Standardiser], hparams: dict):
        self.net, self.standardisers, self.hparams = net, standardisers, hparams
        self.losses: list[dict[str, float]] = []

    def stream_arrays(self, video: VideoInputs, index: np.ndarray | None = None) -> dict:
        """Standardised stream inputs of one video (``index``: a sample of its segments)."""
        arrays = {}
        for stream in self.net.intra:
            if stream == "av":
                x = np.concatenate([video.visual, video.audio], axis=1)
            else:
                x = getattr(video, stream)
            x = self.standardisers[stream](x)
            arrays[stream] = x if index is None else x[index]
        return arrays

    def batch(self, samples: list[dict[str, np.ndarray]], device: str):
        tensors, padding = {}, None
        for stream in self.net.intra:
            tensors[stream], padding = pad_batch(
                [s[stream] for s in samples], len(self.standardisers[stream].mean)
            )
        tensors = {k: v.to(device) for k, v in tensors.items()}
        padding = padding.to(device)
        return tensors, padding

    def to(self, device: str) -> HPCLModel:
        """The network on ``device`` (scoring on a leased GPU)."""
        self.net.to(device)
        return self

    @torch.no_grad()
    def score(self, video: VideoInputs) -> np.ndarray:
        self.net.eval()
        device = next(self.net.parameters()).device
        needs = hpcl_modalities(self.hparams["architecture"])
        if "visual" in needs and video.visual is None:
            raise DatasetError(f"{video.video_id}: hpcl needs visual features")
        if needs == {"audio"} and video.audio is None:
            raise DatasetError(f"{video.video_id}: hpcl/a-only needs audio features")
        if "audio" in needs and len(needs) == 2 and video.audio is None:
            log.warning("%s has no audio: scored by hpcl's visual head alone", video.video_id)
            if "visual" not in self.net.heads:
                raise DatasetError(f"{video.video_id}: hpcl/av-concat needs audio features")
            x = torch.from_numpy(self.standardisers["visual"](video.visual).astype(np.float32))
            padding = torch.zeros(1, len(x), dtype=torch.bool, device=device)
            logits = self.net.visual_logits(x[None].to(device), padding)
            return torch.sigmoid(logits)[0].double().cpu().numpy()
        tensors, padding = self.batch([self.stream_arrays(video)], device)
        logits, _ = self.net(tensors, padding, padding)
        weights = head_weights(self.hparams, list(logits))
        total = sum(w * torch.sigmoid(logits[h][0].double()) for h, w in weights.items())
        return total.cpu().numpy()

    def state(self) -> dict:
        return {
            "state_dict": {k: v.cpu() for k, v in self.net.state_dict().items()},
            "hparams": self.hparams,
            "standardisers": {
                s: {"mean": torch.from_numpy(st.mean), "std": torch.from_numpy(st.std)}
                for s, st in self.standardisers.items()
            },
        }


def load(state: dict) -> HPCLModel:
    expect_keys(state, "model", required=("state_dict", "hparams", "standardisers"))
    net = HPCLNet(state["hparams"])
    load_network_state(net, state["state_dict"])
    standardisers = {}
    streams = sorted({s for names in HPCL_STREAMS.values() for s in names})
    for stream, v in expect_keys(state["standardisers"], "standardisers", optional=streams).items():
        expect_keys(v, f"standardisers/{stream}", required=("mean", "std"))
        standardisers[stream] = Standardiser(
            float_array(v["mean"], f"standardisers/{stream}/mean"),
            float_array(v["std"], f"standardisers/{stream}/std"),
        )
    return HPCLModel(net, standardisers, state["hparams"])


# ----------------------------------------------------------------------------- training


def training_videos(inputs: MethodInputs, architecture: str) -> list[VideoInputs]:
    """Labelled training videos with the features the architecture reads."""
    train = inputs.subset("train").videos
    labelled = [v for v in train if v.labels is not None and (v.labels >= 0).all()]
    if not labelled:
        raise DatasetError(
            "hpcl is supervised: it trains on the ground-truth clip labels of the training "
            "split, and this dataset has none (give it a highlights file, or use an "
            "unsupervised method: avph, chd)"
        )
    needs = hpcl_modalities(architecture)
    usable = [v for v in labelled if all(getattr(v, m) is not None for m in needs)]
    if len(usable) < len(labelled):
        log.warning(
            "hpcl/%s: %d labelled training videos lack %s features and are left out",
            architecture,
            len(labelled) - len(usable),
            "/".join(sorted(needs)),
        )
    if not usable:
        raise DatasetError(f"hpcl/{architecture}: no training video has {sorted(needs)} features")
    return usable


def _standardisers(videos: list[VideoInputs], architecture: str) -> dict[str, Standardiser]:
    out = {}
    for stream in HPCL_STREAMS[architecture]:
        if stream == "av":
            arrays = [np.concatenate([v.visual, v.audio], axis=1) for v in videos]
        else:
            arrays = [getattr(v, stream) for v in videos]
        out[stream] = Standardiser.fit(arrays)
    return out


def batch_loss(model: HPCLModel, samples: list, labels: list[np.ndarray], settings: dict, device):
    """(total loss, its three parts) of one batch of sampled sequences."""
    tensors, padding = model.batch(samples, device)
    target, _ = pad_batch([y[:, None].astype(np.float32) for y in labels], 1)
    target = target[..., 0].to(device)
    logits, representation = model.net(tensors, padding, padding)
    valid = (~padding).float()
    ce = sum(
        (F.binary_cross_entropy_with_logits(h, target, reduction="none") * valid).sum()
        / valid.sum()
        for h in logits.values()
    )
    zero = representation.sum() * 0.0
    contrastive = (
        segment_contrastive_loss(representation, target.long(), padding, settings["temperature"])
        if settings["lambda_hpcl"] > 0
        else zero
    )
    rank = zero
    if settings["lambda_rank"] > 0:
        rank = torch.stack(
            [
                margin_loss(
                    representation[i, : len(y)],
                    hard_pairs(y, settings["hard_pairs"]),
                    settings["margin"],
                )
                for i, y in enumerate(labels)
            ]
        ).mean()
    total = (
        settings["lambda_ce"] * ce
        + settings["lambda_hpcl"] * contrastive
        + settings["lambda_rank"] * rank
    )
    parts = {"ce": ce, "hpcl": contrastive, "rank": rank}
    return total, {k: float(v.detach()) for k, v in parts.items()}


def fit(inputs: MethodInputs, run: dict, seed: int, device="cpu", progress=True, checkpoint=None):
    checkpoint = checkpoint or NoCheckpoint()
    settings = run["settings"]
    architecture = settings["architecture"]
    videos = training_videos(inputs, architecture)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    hparams = {
        **settings,
        "visual_dim": 0 if videos[0].visual is None else videos[0].visual.shape[1],
        "audio_dim": 0 if videos[0].audio is None else videos[0].audio.shape[1],
    }
    model = HPCLModel(HPCLNet(hparams).to(device), _standardisers(videos, architecture), hparams)
    arrays = [model.stream_arrays(v) for v in videos]
    optimiser = Adam(
        model.net.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"]
    )
    single = sum(len(np.unique(v.labels)) < 2 for v in videos)
    if single:
        log.info("hpcl: %d training videos have a single label and are not sampled", single)
    log.info("hpcl %s: training on %d videos", run["variant"], len(videos) - single)
    done, model.losses = checkpoint.restore(model.net, optimiser, rng)
    epochs = epoch_bar(done, settings["epochs"], "hpcl train", progress)
    for epoch in epochs:
        model.net.train()
        samples, labels = [], []
        for _ in range(settings["samples_per_video"]):
            for video, stream_arrays in zip(videos, arrays, strict=True):
                index = sample_segments(video.labels, settings["segments"], rng)
                if index is not None:
                    samples.append({s: x[index] for s, x in stream_arrays.items()})
                    labels.append(video.labels[index].astype(np.int64))
        if not samples:
            raise DatasetError("hpcl: no training video has both highlight and other clips")
        sums = {"total": 0.0, "ce": 0.0, "hpcl": 0.0, "rank": 0.0}
        batches = seeded_batches(len(samples), settings["batch_size"], rng)
        for batch in batches:
            loss, parts = batch_loss(
                model, [samples[i] for i in batch], [labels[i] for i in batch], settings, device
            )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            sums["total"] += float(loss.detach())
            for key, value in parts.items():
                sums[key] += value
        model.losses.append({k: v / len(batches) for k, v in sums.items()})
        checkpoint.save(epoch + 1, model.net, optimiser, rng, model.losses)
    model.net.to("cpu").eval()
    last = model.losses[-1]
    log.info(
        "hpcl %s: final loss %.4f (ce %.4f, hpcl %.4f, rank %.4f)",
        run["variant"],
        last["total"],
        last["ce"],
        last["hpcl"],
        last["rank"],
    )
    return model
