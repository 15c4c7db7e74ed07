"""chd: contrastive unsupervised highlight detection (Badamdorj et al., CVPR 2022).

A highlight selector maps a video's clip features to one embedding ``h``: the clips are
linearly projected to ``hidden`` (d = 512 in the paper), self-attended by a generic
attention layer, then a second generic attention layer whose single query is the mean of
the self-attended clips attends to them. Its attention weights over the clips are the
highlight scores (they sum to one over a video). Training is SimCSE-style: two forward
passes of a batch with different dropout masks give each video's positive pair, the other
videos of the batch its negatives, and the loss is the softmax contrastive loss on cosine
similarities with temperature ``temperature`` (Eq. 9 of the paper, one direction). The
variant ``no-dropout`` (Table 7) sets the dropout to zero: both passes are then identical.

Where the paper is silent or inconsistent, the project chose:

* The query of the second layer is the mean of the *self-attended* clips, as Eq. (7)
  writes it (the text says "the average of the features obtained from the feature
  extractor"); padded clips are left out of the mean.
* Query-key products are scaled by 1/sqrt(d) (the paper calls its layer a modification of
  scaled dot-product attention; Eq. (3) shows no scale).
* In the second layer (one query, N keys) only the attention residual is dropped (Fig. 3:
  "residual connections when L = K"); the feed-forward residual, which maps the query to
  itself, is kept.
* Input features are standardised with the training statistics before the projection;
  the model trains on the training split, categories pooled; batches are seeded.
* The selector's key projection starts at zero (the paper gives no initialisation), so
  every seed starts from the same scores, 1/N per clip; the other layers keep PyTorch's
  default initialisation. Why: on the embedded data the contrastive task is solved before
  training starts. Standardised 1040-d features make the twelve training videos' embeddings
  nearly orthogonal (cosine 0.07 between videos, 0.85 between a video's two dropout
  passes), so the loss of the first batch is 0.015 against log 12 = 2.48, the gradient is
  tiny and mostly dropout noise, and Adam turns it into steps of full size. The selector's
  attention stays nearly uniform (entropy 0.96 of its maximum after 50 epochs) and a
  clip's rank is a small logit difference, of which PyTorch's random key projection gave
  each seed its own before any training (AP of the untrained scores 0.33 to 0.43 over
  seeds; random 0.33). Measured with the training videos' labels only, 5 seeds: AP of the
  scores of a model trained on all 12 training videos 0.514 ± 0.076 before, 0.578 ±
  0.069 after, mean rank correlation of two seeds' scores 0.40 before, 0.56 after; four
  folds of the training videos (train on 9, one video per category held out) 0.453 ±
  0.059 before, 0.629 ± 0.090 after (every fold's mean higher). It raises the mean; it
  does **not** narrow the spread over seeds. Nothing else within the paper did (AP on
  the 12 training videos unless said). With PyTorch's default key: one initialisation
  and five dropout seeds ± 0.060 (rank correlation 0.84), one dropout seed and five
  initialisations ± 0.095 (0.43), so both sources count; 200 epochs 0.489 ± 0.069. With
  the zero key: 100 epochs 0.556 ± 0.055, on the folds 0.610 ± 0.079; lr 2e-5 for 250
  epochs 0.515 ± 0.103; lr 1e-3 0.534 ± 0.041 (rank correlation 0.43), on the folds
  0.440 ± 0.098. Making the task hard (inputs not standardised: the first loss is 2.1
  and the attention sharpens to entropy 0.60, seeds agree at 0.68) makes chd pick the
  wrong clips (AP 0.285), as do other input scalings (0.23 to 0.31): a category's event
  recurs in all its videos (the mean highlight clips of two videos of a category have
  cosine 0.37, their other clips 0.21), so telling a category's videos apart favours the
  clips that are *not* highlights. The spread is the method having almost no signal on
  twelve such videos, not a setting.
* The standardised inputs are winsorised to [-3, 3] (``input_clip``; the three-sigma
  rule; ``null`` turns it off). Why (issue 24): ``colormotion``'s histograms are sparse,
  and a colour bin that only a few training clips fill (a passer-by's coat, a ball's
  paint) has a small standard deviation, so those clips stand 5 to 12 deviations out in
  it (holdout-loud seed 1: 0.7 % of all values beyond 5, the clip's largest value 5.5 on
  average). A clip with such a spike is unlike every other video's clips, which is what
  the contrastive task rewards, so the selector learnt to pick passing distractors. Measured
  end to end (``benchmarks/avph_dev.py --reuse ... --forcerun train``, mAP over 5 seeds,
  development sets only, unclipped against clipped at 3): embedded seed 1 0.658 ± 0.097 →
  0.883 ± 0.103, seed 2 0.681 ± 0.183 → 0.928 ± 0.069; holdout 1 0.726 → 0.760, 2 0.687 →
  0.633; holdout-loud 1 0.383 → 0.512, 2 0.481 → 0.512, 3 0.674 → 0.678, 4 0.492 → 0.538
  (mean of the eight 0.598 → 0.681; random 0.287 to 0.488). Clipped at 5: 0.802, 0.859,
  0.730, 0.624, 0.531, 0.481, 0.671, 0.528 (mean 0.653); at 2 and 10 on holdout-loud 1
  0.501 and 0.492; a floor of the whole mean deviation under each dimension's instead of a
  tenth of it (no clip) 0.436 there. The clip keeps the per-dimension scaling, so
  everything within three deviations is as before; it is not in the paper, whose features
  (a pretrained network's) are dense.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from highlight_pipeline.errors import DatasetError, ModelFileError
from highlight_pipeline.methods.batching import Standardiser, pad_batch, seeded_batches
from highlight_pipeline.methods.inputs import MethodInputs, VideoInputs
from highlight_pipeline.methods.optim import Adam
from highlight_pipeline.methods.resume import NoCheckpoint, epoch_bar
from highlight_pipeline.methods.state_files import expect_keys, float_array, load_network_state

log = logging.getLogger(__name__)


class GenericAttention(nn.Module):
    """Attn(X, Y) of the paper: queries from X, keys and values from Y, dropout on both
    inputs and on the attended output, residual + LayerNorm (residual only when X and Y
    have the same length), then a feed-forward layer with residual + LayerNorm."""

    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.feed_forward = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))
        self.norm2 = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.scale = 1.0 / math.sqrt(dim)

    def forward(
        self, x: torch.Tensor, y: torch.Tensor, padding: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` [B, K, d] queries, ``y`` [B, L, d], ``padding`` [B, L] True on padded keys.

        Returns the attention map [B, K, L] (rows sum to one, zero on padding) and the
        attended features [B, K, d]."""
        if x is y:  # self-attention: one sequence, one dropout mask
            x = y = self.dropout(x)
        else:
            x, y = self.dropout(x), self.dropout(y)
        logits = torch.einsum("bkd,bld->bkl", self.query(x), self.key(y)) * self.scale
        logits = logits.masked_fill(padding[:, None, :], float("-inf"))
        alpha = torch.softmax(logits, dim=-1)
        attended = self.dropout(torch.einsum("bkl,bld->bkd", alpha, self.value(y)))
        z = self.norm1(x + attended if x.shape[1] == y.shape[1] else attended)
        return alpha, self.norm2(z + self.feed_forward(z))


class HighlightSelector(nn.Module):
    def __init__(self, input_dim: int, hidden: int = 512, dropout: float = 0.1) -> None:
        super().__init__()
        self.project = nn.Linear(input_dim, hidden)
        self.self_attention = GenericAttention(hidden, dropout)
        self.selector = GenericAttention(hidden, dropout)
        # The selector starts from uniform scores (module docstring): a zero key projection
        # gives every clip the same attention logit, whatever the seed. Its gradient is not
        # zero (it is the query times the clips), so training moves it from there.
        nn.init.zeros_(self.selector.key.weight)
        nn.init.zeros_(self.selector.key.bias)

    def forward(
        self, clips: torch.Tensor, padding: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(scores [B, N], embedding h [B, d], self-attended clips [B, N, d])."""
        v = self.project(clips)
        _, z = self.self_attention(v, v, padding)
        valid = (~padding).float()[..., None]
        query = (z * valid).sum(dim=1, keepdim=True) / valid.sum(dim=1, keepdim=True)
        alpha, h = self.selector(query, z, padding)
        return alpha[:, 0, :], h[:, 0, :], z


def contrastive_loss(h1: torch.Tensor, h2: torch.Tensor, temperature: float) -> torch.Tensor:
    """Eq. (9): mean over videos l of -log softmax_k(sim(h1_l, h2_k) / tau) at k = l."""
    sims = F.normalize(h1, dim=-1) @ F.normalize(h2, dim=-1).T / temperature
    return F.cross_entropy(sims, torch.arange(len(h1), device=h1.device))


class CHDModel:
    def __init__(self, net: HighlightSelector, standardiser: Standardiser, hparams: dict):
        self.net, self.standardiser, self.hparams = net, standardiser, hparams
        self.losses: list[float] = []

    def tensors(self, videos: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        return pad_batch([self.standardiser(x) for x in videos], len(self.standardiser.mean))

    def to(self, device: str) -> CHDModel:
        """The network on ``device`` (scoring on a leased GPU)."""
        self.net.to(device)
        return self

    @torch.no_grad()
    def score(self, video: VideoInputs) -> np.ndarray:
        if video.visual is None:
            raise DatasetError(f"{video.video_id}: chd needs visual features")
        self.net.eval()
        device = next(self.net.parameters()).device
        scores, _, _ = self.net(*(t.to(device) for t in self.tensors([video.visual])))
        return scores[0].cpu().numpy().astype(np.float64)

    def state(self) -> dict:
        return {
            "state_dict": self.net.state_dict(),
            "hparams": self.hparams,
            "mean": torch.from_numpy(self.standardiser.mean),
            "std": torch.from_numpy(self.standardiser.std),
        }


def _network(hparams: dict) -> HighlightSelector:
    return HighlightSelector(hparams["input_dim"], hparams["hidden"], hparams["dropout"])


def load(state: dict) -> CHDModel:
    expect_keys(state, "model", required=("state_dict", "hparams", "mean", "std"))
    net = _network(state["hparams"])
    load_network_state(net, state["state_dict"])
    mean, std = float_array(state["mean"], "mean"), float_array(state["std"], "std")
    standardiser = Standardiser(mean, std, _input_clip(state["hparams"]))
    return CHDModel(net, standardiser, state["hparams"])


def _input_clip(hparams: dict) -> float | None:
    """A model file's ``input_clip``: None when it has none (written before the setting
    existed, so trained without it), else a positive finite number."""
    clip = hparams.get("input_clip")
    if clip is None:
        return None
    if isinstance(clip, bool) or not isinstance(clip, int | float) or not 0 < clip < math.inf:
        raise ModelFileError(f"hparams/input_clip: expected a positive number, found {clip!r}")
    return float(clip)


def fit(inputs: MethodInputs, run: dict, seed: int, device="cpu", progress=True, checkpoint=None):
    checkpoint = checkpoint or NoCheckpoint()
    settings = run["settings"]
    videos = [v.visual for v in inputs.subset("train").videos if v.visual is not None]
    if len(videos) < 2:
        raise DatasetError("chd needs at least two training videos (the others are negatives)")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    hparams = {**settings, "input_dim": videos[0].shape[1]}
    standardiser = Standardiser.fit(videos, settings["input_clip"])
    model = CHDModel(_network(hparams).to(device), standardiser, hparams)
    optimiser = Adam(
        model.net.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"]
    )
    done, model.losses = checkpoint.restore(model.net, optimiser, rng)
    for epoch in epoch_bar(done, settings["epochs"], "chd train", progress):
        model.net.train()
        total, count = 0.0, 0
        for batch in seeded_batches(len(videos), settings["batch_size"], rng):
            if len(batch) < 2:
                continue  # a batch of one video has no negative
            clips, padding = (t.to(device) for t in model.tensors([videos[i] for i in batch]))
            _, h1, _ = model.net(clips, padding)
            _, h2, _ = model.net(clips, padding)  # another dropout mask
            loss = contrastive_loss(h1, h2, settings["temperature"])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(batch)
            count += len(batch)
        model.losses.append(total / max(count, 1))
        checkpoint.save(epoch + 1, model.net, optimiser, rng, model.losses)
    model.net.to("cpu")
    log.info("chd %s: final contrastive loss %.4f", run["variant"], model.losses[-1])
    return model
