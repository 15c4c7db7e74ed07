"""avph: audio-visual highlight detection network trained on AV pseudo-highlights.

Architecture (the joint audio-visual network of Badamdorj et al., ICCV 2021, as adopted
by the avph paper): per-modality self-attention over the clips of a video, two bimodal
cross-attention layers (visual attending to audio, audio attending to visual), and a score
regressor that mixes the self- and cross-attended features with learnable weights and
maps them through ``fc_layers`` fully connected layers to one score per clip. Trained with
binary cross-entropy against the AV pseudo-highlights, Adam.

Project choices where the papers are silent: features are standardised with training
statistics and projected to ``hidden`` units; each attention layer is a residual
multi-head attention followed by a residual feed-forward layer, both with LayerNorm; the
four mixing weights are a softmax over learnable logits; a video without an audio track
uses only its self-attended visual features.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from highlight_pipeline.methods.batching import Standardiser, pad_batch, seeded_batches

log = logging.getLogger(__name__)


class AttentionLayer(nn.Module):
    """Residual multi-head attention (queries attend to ``context``) + residual feed-forward."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(dim)
        self.feed_forward = nn.Sequential(
            nn.Linear(dim, 2 * dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(2 * dim, dim)
        )
        self.norm2 = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor, padding: torch.Tensor
    ) -> torch.Tensor:
        attended, _ = self.attention(
            x, context, context, key_padding_mask=padding, need_weights=False
        )
        x = self.norm1(x + self.dropout(attended))
        return self.norm2(x + self.dropout(self.feed_forward(x)))


class AVHighlightNet(nn.Module):
    def __init__(
        self,
        visual_dim: int,
        audio_dim: int,
        hidden: int = 64,
        heads: int = 4,
        dropout: float = 0.1,
        self_attention_layers: int = 1,
        fc_layers: int = 2,
    ) -> None:
        super().__init__()
        self.project_visual = nn.Sequential(
            nn.Linear(visual_dim, hidden), nn.ReLU(), nn.Dropout(dropout)
        )
        self.project_audio = nn.Sequential(
            nn.Linear(audio_dim, hidden), nn.ReLU(), nn.Dropout(dropout)
        )
        self.self_visual = nn.ModuleList(
            AttentionLayer(hidden, heads, dropout) for _ in range(self_attention_layers)
        )
        self.self_audio = nn.ModuleList(
            AttentionLayer(hidden, heads, dropout) for _ in range(self_attention_layers)
        )
        self.visual_to_audio = AttentionLayer(hidden, heads, dropout)
        self.audio_to_visual = AttentionLayer(hidden, heads, dropout)
        self.mix_logits = nn.Parameter(torch.zeros(4))
        layers: list[nn.Module] = []
        for _ in range(fc_layers - 1):
            layers += [nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout)]
        self.regressor = nn.Sequential(*layers, nn.Linear(hidden, 1))

    def forward(
        self,
        visual: torch.Tensor,
        audio: torch.Tensor,
        padding: torch.Tensor,
        has_audio: torch.Tensor,
    ) -> torch.Tensor:
        """Logits ``[B, N]``; ``padding`` is True on padded clips, ``has_audio`` is ``[B]`` bool."""
        v = self.project_visual(visual)
        a = self.project_audio(audio)
        for layer in self.self_visual:
            v = layer(v, v, padding)
        for layer in self.self_audio:
            a = layer(a, a, padding)
        v_a = self.visual_to_audio(v, a, padding)  # visual queries attend to audio
        a_v = self.audio_to_visual(a, v, padding)  # audio queries attend to visual
        w = torch.softmax(self.mix_logits, dim=0)
        mixed = w[0] * v + w[1] * a + w[2] * v_a + w[3] * a_v
        mixed = torch.where(has_audio[:, None, None], mixed, v)
        return self.regressor(mixed).squeeze(-1)


class AVPHModel:
    """The trained network with its feature standardisers: what a checkpoint holds."""

    def __init__(
        self, net: AVHighlightNet, visual: Standardiser, audio: Standardiser, hparams: dict
    ):
        self.net, self.visual, self.audio, self.hparams = net, visual, audio, hparams

    def _inputs(self, visual: list[np.ndarray], audio: list[np.ndarray | None]):
        v, padding = pad_batch([self.visual(x) for x in visual], len(self.visual.mean))
        a_list = [
            self.audio(x)
            if x is not None
            else np.zeros((len(vx), len(self.audio.mean)), np.float32)
            for x, vx in zip(audio, visual, strict=True)
        ]
        a, _ = pad_batch(a_list, len(self.audio.mean))
        has_audio = torch.tensor([x is not None for x in audio])
        return v, a, padding, has_audio

    @torch.no_grad()
    def score(self, visual: list[np.ndarray], audio: list[np.ndarray | None]) -> list[np.ndarray]:
        """Highlight score per clip: the logit (sigmoid of it is the highlight probability)."""
        self.net.eval()
        out = []
        for i in range(len(visual)):  # one video at a time: no padding effects at inference
            logits = self.net(*self._inputs(visual[i : i + 1], audio[i : i + 1]))
            out.append(logits[0].numpy().astype(np.float64))  # logits: no ties from saturation
        return out

    def state(self) -> dict:
        return {
            "state_dict": self.net.state_dict(),
            "hparams": self.hparams,
            "visual_mean": torch.from_numpy(self.visual.mean),
            "visual_std": torch.from_numpy(self.visual.std),
            "audio_mean": torch.from_numpy(self.audio.mean),
            "audio_std": torch.from_numpy(self.audio.std),
        }

    @classmethod
    def from_state(cls, state: dict) -> AVPHModel:
        hp = state["hparams"]
        net = AVHighlightNet(**{k: hp[k] for k in NET_KEYS})
        net.load_state_dict(state["state_dict"])
        return cls(
            net,
            Standardiser(state["visual_mean"].numpy(), state["visual_std"].numpy()),
            Standardiser(state["audio_mean"].numpy(), state["audio_std"].numpy()),
            hp,
        )


NET_KEYS = (
    "visual_dim",
    "audio_dim",
    "hidden",
    "heads",
    "dropout",
    "self_attention_layers",
    "fc_layers",
)


def train_avph(
    visual: list[np.ndarray],
    audio: list[np.ndarray | None],
    targets: list[np.ndarray],
    method_slice: dict,
    seed: int,
    progress: bool = True,
) -> tuple[AVPHModel, list[float]]:
    """Train on videos' clip features against binary pseudo-highlights; returns model and losses."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    present = [x for x in audio if x is not None]
    audio_dim = present[0].shape[1] if present else 1
    hparams = {
        **method_slice,
        "visual_dim": visual[0].shape[1],
        "audio_dim": audio_dim,
    }
    net = AVHighlightNet(**{k: hparams[k] for k in NET_KEYS})
    audio_std = (
        Standardiser.fit(present)
        if present
        else Standardiser(np.zeros(1, np.float32), np.ones(1, np.float32))
    )
    model = AVPHModel(net, Standardiser.fit(visual), audio_std, hparams)
    optimiser = torch.optim.Adam(
        net.parameters(), lr=method_slice["lr"], weight_decay=method_slice["weight_decay"]
    )
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    losses: list[float] = []
    for _ in tqdm(
        range(method_slice["epochs"]), desc="avph train", unit="epoch", disable=not progress
    ):
        net.train()
        total, count = 0.0, 0
        for batch in seeded_batches(len(visual), method_slice["batch_size"], rng):
            v, a, padding, has_audio = model._inputs(
                [visual[i] for i in batch], [audio[i] for i in batch]
            )
            y, _ = pad_batch([targets[i].astype(np.float32)[:, None] for i in batch], 1)
            logits = net(v, a, padding, has_audio)
            valid = (~padding).float()
            loss = (loss_fn(logits, y[..., 0]) * valid).sum() / valid.sum()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(batch)
            count += len(batch)
        losses.append(total / count)
    log.info("avph: final training loss %.4f", losses[-1])
    return model, losses
