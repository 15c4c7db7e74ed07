"""avph: audio-visual highlight detection network trained on AV pseudo-highlights, and the
ablations of its paper as settings (variants in :mod:`highlight_pipeline.methods.registry`).

Settings beyond the network size: ``network`` (av, or a unimodal visual/audio network),
``fusion`` (bimodal, sa-early, sa-late), ``target`` (the AV, V or A pseudo-highlights),
``supervision`` (pseudo, or the ground-truth clip labels of the training split) and
``predictor`` (network, or the pseudo-highlight scores themselves: no training).

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
from pathlib import Path

import numpy as np
import torch
from torch import nn

from highlight_pipeline.errors import DatasetError, ModelFileError
from highlight_pipeline.methods.batching import Standardiser, pad_batch, seeded_batches
from highlight_pipeline.methods.inputs import MethodInputs, VideoInputs, training_subset
from highlight_pipeline.methods.optim import Adam
from highlight_pipeline.methods.resume import NoCheckpoint, epoch_bar
from highlight_pipeline.methods.state_files import expect_keys, float_array, load_network_state

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
    """The avph network and its ablations (AV-PH Tables 6 and 8).

    ``network="av"`` with ``fusion="bimodal"`` is the paper's: per-modality self-attention,
    two bimodal cross-attention layers, a score regressor over the four streams mixed with
    learnable weights. ``sa-early`` concatenates the visual and audio features and runs one
    self-attention stream; ``sa-late`` runs one self-attention stream per modality and
    concatenates them. ``network="visual"`` / ``"audio"`` is the unimodal V / A network.
    """

    def __init__(
        self,
        visual_dim: int,
        audio_dim: int,
        hidden: int = 64,
        heads: int = 4,
        dropout: float = 0.1,
        self_attention_layers: int = 1,
        fc_layers: int = 2,
        network: str = "av",
        fusion: str = "bimodal",
    ) -> None:
        super().__init__()
        self.network = network
        self.fusion = fusion if network == "av" else "unimodal"

        def projection(dim: int) -> nn.Module:
            return nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout))

        def stream() -> nn.ModuleList:
            return nn.ModuleList(
                AttentionLayer(hidden, heads, dropout) for _ in range(self_attention_layers)
            )

        width = hidden
        if self.fusion == "sa-early":
            self.project_joint = projection(visual_dim + audio_dim)
            self.self_joint = stream()
        else:
            if network in ("av", "visual"):
                self.project_visual = projection(visual_dim)
                self.self_visual = stream()
            if network in ("av", "audio"):
                self.project_audio = projection(audio_dim)
                self.self_audio = stream()
            if self.fusion == "bimodal":
                self.visual_to_audio = AttentionLayer(hidden, heads, dropout)
                self.audio_to_visual = AttentionLayer(hidden, heads, dropout)
                self.mix_logits = nn.Parameter(torch.zeros(4))
            elif self.fusion == "sa-late":
                width = 2 * hidden
        layers: list[nn.Module] = []
        for i in range(fc_layers - 1):
            layers += [
                nn.Linear(width if i == 0 else hidden, hidden),
                nn.ReLU(),
                nn.Dropout(dropout),
            ]
        self.regressor = nn.Sequential(*layers, nn.Linear(width if fc_layers == 1 else hidden, 1))

    @staticmethod
    def _attend(layers: nn.ModuleList, x: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        for layer in layers:
            x = layer(x, x, padding)
        return x

    def forward(
        self,
        visual: torch.Tensor,
        audio: torch.Tensor,
        padding: torch.Tensor,
        has_audio: torch.Tensor,
    ) -> torch.Tensor:
        """Logits ``[B, N]``; ``padding`` is True on padded clips, ``has_audio`` is ``[B]`` bool.

        A video without audio: the bimodal network uses its self-attended visual stream
        alone; SA-late sets the audio stream to zero; SA-early sees zero (standardised:
        the training mean) audio inputs, the one thing that fusion can do without audio."""
        heard = has_audio[:, None, None]
        if self.fusion == "sa-early":
            joint = torch.cat([visual, torch.where(heard, audio, 0.0)], dim=-1)
            mixed = self._attend(self.self_joint, self.project_joint(joint), padding)
        elif self.fusion == "unimodal":
            if self.network == "visual":
                mixed = self._attend(self.self_visual, self.project_visual(visual), padding)
            else:
                mixed = self._attend(self.self_audio, self.project_audio(audio), padding)
        else:
            v = self._attend(self.self_visual, self.project_visual(visual), padding)
            a = self._attend(self.self_audio, self.project_audio(audio), padding)
            if self.fusion == "sa-late":
                mixed = torch.cat([v, torch.where(heard, a, 0.0)], dim=-1)
            else:
                v_a = self.visual_to_audio(v, a, padding)  # visual queries attend to audio
                a_v = self.audio_to_visual(a, v, padding)  # audio queries attend to visual
                w = torch.softmax(self.mix_logits, dim=0)
                mixed = w[0] * v + w[1] * a + w[2] * v_a + w[3] * a_v
                mixed = torch.where(heard, mixed, v)
        return self.regressor(mixed).squeeze(-1)


class AVPHModel:
    """The trained network with its feature standardisers: what a checkpoint holds."""

    def __init__(
        self,
        net: AVHighlightNet,
        visual: Standardiser,
        audio: Standardiser,
        hparams: dict,
        device: str = "cpu",
    ):
        self.net, self.visual, self.audio, self.hparams = net, visual, audio, hparams
        self.device = device

    def _inputs(self, visual: list[np.ndarray | None], audio: list[np.ndarray | None]):
        """Padded, standardised tensors; a modality the network does not read is zeros."""
        lengths = [len(v) if v is not None else len(a) for v, a in zip(visual, audio, strict=True)]

        def stack(arrays, standardiser):
            dim = len(standardiser.mean)
            return pad_batch(
                [
                    standardiser(x) if x is not None else np.zeros((n, dim), np.float32)
                    for x, n in zip(arrays, lengths, strict=True)
                ],
                dim,
            )

        v, padding = stack(visual, self.visual)
        a, _ = stack(audio, self.audio)
        has_audio = torch.tensor([x is not None for x in audio])
        return [t.to(self.device) for t in (v, a, padding, has_audio)]

    @torch.no_grad()
    def score_clips(
        self, visual: list[np.ndarray | None], audio: list[np.ndarray | None]
    ) -> list[np.ndarray]:
        """Highlight score per clip: the logit (sigmoid of it is the highlight probability)."""
        self.net.eval()
        out = []
        for i in range(len(visual)):  # one video at a time: no padding effects at inference
            logits = self.net(*self._inputs(visual[i : i + 1], audio[i : i + 1]))
            out.append(logits[0].cpu().numpy().astype(np.float64))  # logits: no saturation ties
        return out

    def to(self, device: str) -> AVPHModel:
        """The network on ``device`` (scoring on a leased GPU)."""
        self.net.to(device)
        self.device = str(device)
        return self

    def score(self, video: VideoInputs) -> np.ndarray:
        network = self.hparams.get("network", "av")
        visual = video.visual if network in ("av", "visual") else None
        audio = video.audio if network in ("av", "audio") else None
        if visual is None and audio is None:
            raise DatasetError(f"{video.video_id}: no {network} features for the {network} network")
        return self.score_clips([visual], [audio])[0]

    def state(self) -> dict:
        return {
            "kind": "network",
            "state_dict": {k: v.cpu() for k, v in self.net.state_dict().items()},
            "hparams": self.hparams,
            "visual_mean": torch.from_numpy(self.visual.mean),
            "visual_std": torch.from_numpy(self.visual.std),
            "audio_mean": torch.from_numpy(self.audio.mean),
            "audio_std": torch.from_numpy(self.audio.std),
        }

    @classmethod
    def from_state(cls, state: dict) -> AVPHModel:
        expect_keys(
            state,
            "model",
            required=("state_dict", "hparams", *STANDARDISER_KEYS),
            optional=("kind",),
        )
        hp = state["hparams"]
        net = AVHighlightNet(**{k: hp[k] for k in NET_KEYS if k in hp})
        load_network_state(net, state["state_dict"])
        vm, vs, am, as_ = (float_array(state[k], k) for k in STANDARDISER_KEYS)
        return cls(net, Standardiser(vm, vs), Standardiser(am, as_), hp)


STANDARDISER_KEYS = ("visual_mean", "visual_std", "audio_mean", "audio_std")
NET_KEYS = (
    "visual_dim",
    "audio_dim",
    "hidden",
    "heads",
    "dropout",
    "self_attention_layers",
    "fc_layers",
    "network",
    "fusion",
)


def _standardiser(arrays: list[np.ndarray | None]) -> Standardiser:
    present = [x for x in arrays if x is not None]
    if not present:  # a modality nobody has: a 1-d placeholder the network never reads
        return Standardiser(np.zeros(1, np.float32), np.ones(1, np.float32))
    return Standardiser.fit(present)


def train_avph(
    visual: list[np.ndarray | None],
    audio: list[np.ndarray | None],
    targets: list[np.ndarray],
    method_slice: dict,
    seed: int,
    progress: bool = True,
    device: str = "cpu",
    checkpoint=None,
) -> tuple[AVPHModel, list[float]]:
    """Train on videos' clip features against binary targets; returns model and losses.

    ``visual`` or ``audio`` entries are None where a video lacks the modality (all None
    for the modality a unimodal network does not read)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    visual_std, audio_std = _standardiser(visual), _standardiser(audio)
    hparams = {
        "network": "av",
        "fusion": "bimodal",
        **method_slice,
        "visual_dim": len(visual_std.mean),
        "audio_dim": len(audio_std.mean),
    }
    net = AVHighlightNet(**{k: hparams[k] for k in NET_KEYS}).to(device)
    model = AVPHModel(net, visual_std, audio_std, hparams, device)
    optimiser = Adam(
        net.parameters(), lr=method_slice["lr"], weight_decay=method_slice["weight_decay"]
    )
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    checkpoint = checkpoint or NoCheckpoint()
    done, losses = checkpoint.restore(net, optimiser, rng)
    for epoch in epoch_bar(done, method_slice["epochs"], "avph train", progress):
        net.train()
        total, count = 0.0, 0
        for batch in seeded_batches(len(targets), method_slice["batch_size"], rng):
            v, a, padding, has_audio = model._inputs(
                [visual[i] for i in batch], [audio[i] for i in batch]
            )
            y, _ = pad_batch([targets[i].astype(np.float32)[:, None] for i in batch], 1)
            logits = net(v, a, padding, has_audio)
            valid = (~padding).float()
            loss = (loss_fn(logits, y[..., 0].to(device)) * valid).sum() / valid.sum()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(batch)
            count += len(batch)
        losses.append(total / count)
        checkpoint.save(epoch + 1, net, optimiser, rng, losses)
    log.info("avph: final training loss %.4f", losses[-1])
    model.device = "cpu"
    net.to("cpu")
    return model, losses


# ----------------------------------------------------------------------- method interface


def _training_targets(inputs: MethodInputs, run: dict, seed: int):
    """(videos, targets) of the training split: pseudo-highlights of the run's target, or
    the ground-truth clip labels (``supervision: ground-truth``, AV-PH Table 9)."""
    settings = run["settings"]
    train = inputs.subset("train").videos
    if settings["supervision"] == "ground-truth":
        labelled = [v for v in train if v.labels is not None and (v.labels >= 0).all()]
        if not labelled:
            raise DatasetError(
                "avph with supervision: ground-truth needs clip labels of the training "
                "videos, and this dataset has none"
            )
        keep = set(
            training_subset([v.video_id for v in labelled], run["training"]["fraction"], seed)
        )
        chosen = [v for v in labelled if v.video_id in keep]
        return chosen, [v.labels.astype(np.float32) for v in chosen]
    target = settings["target"]
    chosen = [v for v in train if v.pseudo is not None and (v.pseudo.target(target) >= 0).all()]
    skipped = len([v for v in train if v.pseudo is not None]) - len(chosen)
    if skipped:
        log.warning("avph: %d training videos have no %s pseudo-highlights", skipped, target)
    if not chosen:
        raise DatasetError(f"avph: no training video has {target} pseudo-highlights")
    return chosen, [v.pseudo.target(target).astype(np.float32) for v in chosen]


def fit(inputs: MethodInputs, run: dict, seed: int, device="cpu", progress=True, checkpoint=None):
    settings = run["settings"]
    if settings["predictor"] == "pseudo-highlights":
        return PseudoHighlightPredictor.from_files(inputs.files["pseudo"][0])
    videos, targets = _training_targets(inputs, run, seed)
    network = settings["network"]
    visual = [v.visual if network in ("av", "visual") else None for v in videos]
    audio = [v.audio if network in ("av", "audio") else None for v in videos]
    log.info("avph %s: training on %d videos", run["variant"], len(videos))
    model, losses = train_avph(visual, audio, targets, settings, seed, progress, device, checkpoint)
    model.losses = losses
    return model


class PseudoHighlightPredictor:
    """No network: a clip's score is its AV recurrence against the training clips of the
    video's nearest pseudo-category (AV-PH Table 12)."""

    def __init__(self, category_model) -> None:
        self.category_model = category_model

    @classmethod
    def from_files(cls, highlights_h5: str) -> PseudoHighlightPredictor:
        from highlight_pipeline.pseudo.category_model import read_category_model

        return cls(read_category_model(Path(highlights_h5).with_name("category_model.h5")))

    def score(self, video: VideoInputs) -> np.ndarray:
        return self.category_model.scores(
            video.visual, video.audio, video.category, video.centres
        )

    def state(self) -> dict:
        """The category model as plain tensors, numbers and strings (no pickle)."""
        from highlight_pipeline.pseudo.category_model import to_plain

        plain = _as_tensors(to_plain(self.category_model))
        return {"kind": "pseudo-highlights", "category_model": plain}

    @classmethod
    def from_state(cls, state: dict) -> PseudoHighlightPredictor:
        from highlight_pipeline.pseudo.category_model import from_plain

        expect_keys(state, "model", required=("kind", "category_model"))
        if isinstance(state["category_model"], torch.Tensor):  # pickle bytes in a tensor
            raise ModelFileError(
                "a pseudo-highlight predictor written by an older version (its category "
                "model is a pickle, which is never loaded); retrain with `hlp train`"
            )
        return cls(from_plain(state["category_model"]))


def _as_tensors(tree):
    if isinstance(tree, dict):
        return {key: _as_tensors(value) for key, value in tree.items()}
    if isinstance(tree, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(tree))
    return tree


def load(state: dict):
    if state.get("kind") == "pseudo-highlights":
        return PseudoHighlightPredictor.from_state(state)
    return AVPHModel.from_state(state)
