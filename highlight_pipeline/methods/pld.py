"""pld: pixel-level distinctions for video highlight detection (PLD-VHD, Wei et al., CVPR 2022).

An encoder-decoder maps a window of L frames ending at frame t, ``C_t = (I_{t-L+1} .. I_t)``,
to the *distinction map* of frame t: one value in [0, 1] per pixel (Eq. 3). It learns from
pixel-level pseudo-labels made from segment labels: every pixel of a frame in a
non-highlight segment is 0; in a highlight segment a pixel is 1 where the frame's saliency
map exceeds β (Eq. 4; ``spatial: false`` makes every pixel 1, Eq. 1). The loss is the
per-pixel mean squared error (Eq. 2), optimised by SGD. A segment's score is the mean of
all distinctions over its frames (Eq. 6).

Backbones (``backbone``):

* ``tased``: the TASED-Net architecture (S3D encoder, its decoder of transposed
  convolutions and max-unpooling; ``backbones.tased.TASEDv2``), L = 32 frames (the
  architecture's temporal pooling reduces exactly 32 frames to one map). The paper
  trains at 384x224.
* ``c3d``: the C3D encoder (``conv1`` .. ``conv5b`` of ``backbones.c3d.C3D``) and four
  transposed convolutions, L = 16 frames at 112x112 in the paper. The supplement says only
  "four ConvTransposed layers aiming to generate 112x112": the project takes ``conv5b``
  (512 x 2 x 7 x 7 for 16 frames at 112 px, before ``pool5``), a max over its 2 remaining
  time steps, then 4 x (ConvTranspose2d k4 s2 p1 + BatchNorm + ReLU) 512 -> 256 -> 128 -> 64
  -> 1, the last one without BatchNorm and ReLU, followed by a sigmoid: 7 -> 112 pixels. The
  height and width must be multiples of 16 (of 32 for tased).

``pretrained: true`` starts the network from the backbone's published checkpoint file
(``weights_dir``; TASED: ``TASED_updated.pt``, the whole network; C3D: ``c3d.pickle``, the
encoder, whose fully connected layers are not used); a missing file is an error naming
it. ``pretrained: false`` starts from random weights (the embedded default: no weights).
The paper initialises TASED's encoder and decoder "with parameters pretrained on Kinetics"
and uses TASED-Net pretrained on DHF1K as the saliency generator; the pipeline has one
published TASED file, the DHF1K one, and uses it for both.

Choices where the paper is silent (also in docs/architecture.md):

* **Reversed padding** (§3.1): the first L - 1 frames, in reverse order, are put before
  the video, so the window of frame t < L - 1 is ``I_{L-2-t}, .., I_1, I_0, I_0, .., I_t``
  (:func:`window_indices`). A video shorter than L - 1 frames has too few frames to
  reverse; its padding stops at the last frame (indices are clamped). ``temporal: false``
  (the "w/o temporal" ablation) fills the window with the target frame L times.
* **β's scale.** β = 0.0005 is a value of TASED-Net's raw map, the network's sigmoid output
  in (0, 1) at 384x224, before the reference post-processing: that post-processing
  quantises to 1/255 steps, which would make β = 0.0005 and 0.001 (Table S3) the same
  threshold, and β = 0 gives exactly the "w/o spatial" number (0.702 in Tables 4 and S3),
  as a strictly positive sigmoid map does. ``beta_scale: raw`` thresholds the stored map
  as it is (the saliency shards keep TASED's raw output, area-downsampled, which keeps
  its scale). The weight-free spectral-residual maps of the embedded default are
  max-normalised and have another scale: there ``beta_scale: mean`` thresholds at β times
  the frame's mean saliency, with β = 3 (Hou & Zhang's own rule for turning a spectral
  residual map into an object map, chosen before any result was seen).
  ``beta_by_category`` overrides β per category (the supplement's 0.001 for YouTube's dog,
  gymnastics and skiing).
* **Saliency in time and space.** A frame takes the saliency map nearest in time (maps are
  stored at ``saliency.fps``), bilinearly resized to the training resolution. A highlight
  frame without a map (its saliency failed, or the saliency stream ended earlier) is not
  a training target.
* **Sampling** (supplement: "input clips consisting of continuous frames at random"): an
  epoch draws ``windows_per_video`` target frames per training video, uniformly among its
  labelled frames, shuffled into batches of ``batch_size``. The paper's 1500 epochs in six
  hours on two V100s match about one window per video per epoch.
* **Optimiser**: SGD with momentum 0.9 (the paper names SGD only); the learning rate and
  batch size are the project's. The embedded default uses Adam (``optimizer: adam``): in
  its few hundred steps from random weights SGD stayed at chance on a held-out third of
  the training videos, Adam did not (docs/architecture.md). BatchNorm momentum is 0.1
  while training (TASED's reference 0.001 suits fine-tuning, not a few hundred steps
  from random weights).
* **Output bias from random weights** (``prior_bias``; the paper starts from pre-trained
  weights): a randomly initialised network's maps start near 0.5 everywhere, while the
  masked targets ask for 1 on about 1 % of the training pixels; in a budget of a few dozen
  steps the network spends them lowering its level. ``prior_bias: true`` starts the output
  bias at the logit of the mean of the training targets (:func:`target_prior`, up to 512
  frames evenly spaced; clamped to 0.1 %-50 %), the prior initialisation of Lin et al.
  (ICCV 2017), so that training starts at the targets' level. Ignored with
  ``pretrained: true``. The embedded default's CPU setting uses it (docs/architecture.md).
* **Feeding**: the windows (and, in training, their pixel targets) of the next batch are
  read from the frame cache by a reader thread while the network computes
  (``features/frame_feed.py``: the cache stays open in that thread, one batch ahead,
  pinned host memory on CUDA, where the uint8 frames are sent and converted on the
  device); the random draws stay in the training thread, so the batches, the model and
  the scores are byte for byte those of reading each window in the loop.
* **Scoring**: frames are cached at ``fps``; with ``score_fps`` the frames scored are those
  nearest the middle of each period of a grid of that rate (the embedded default, 0.5 per
  second, scores the middle frame of each 2 s clip, whose window lies over the clip as
  the windows of Eq. 6's mean over all its frames do on average; the period's first frame
  would look mostly at the clip before; the paper presets score every cached frame). A
  clip's score is the mean of the maps of its scored frames; a clip with no frame inside
  it takes the frame nearest its middle; a clip past the decoded picture gets no score
  (NaN).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from highlight_pipeline.errors import DatasetError, PipelineError
from highlight_pipeline.features.frame_feed import FrameFeed
from highlight_pipeline.features.frames import FrameFiles
from highlight_pipeline.methods.inputs import MethodInputs, VideoInputs
from highlight_pipeline.methods.optim import SGD, Adam
from highlight_pipeline.methods.resume import NoCheckpoint, epoch_bar
from highlight_pipeline.methods.state_files import expect_keys, load_network_state

log = logging.getLogger(__name__)

WINDOW = {"tased": 32, "c3d": 16}
MULTIPLE = {"tased": 32, "c3d": 16}
INFERENCE_PIXELS = 16 * 32 * 32  # PLDModel.inference_batch
C3D_MEAN = (102.0, 98.0, 90.0)  # the C3D backbone's RGB mean (features.backbones.registry)


# ----------------------------------------------------------------------------- windows


def window_indices(target: int, n_frames: int, length: int, temporal: bool = True) -> np.ndarray:
    """Frame indices of the window that predicts frame ``target`` (module docstring).

    ``temporal``: frames ``target - length + 1 .. target``, the positions before frame 0
    filled with the first ``length - 1`` frames reversed (position -1 is frame 0, -2 is
    frame 1, ...; clamped to the last frame of a very short video). Without: the target
    frame ``length`` times."""
    if not 0 <= target < n_frames:
        raise IndexError(f"target frame {target} outside 0..{n_frames - 1}")
    if not temporal:
        return np.full(length, target, dtype=np.int64)
    positions = np.arange(target - length + 1, target + 1)
    padded = np.minimum(-positions - 1, n_frames - 1)
    return np.where(positions >= 0, positions, padded).astype(np.int64)


def frame_clip_pairs(
    times: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every (frame, clip) with ``start <= t < end`` for ascending frame ``times``, ordered
    by frame, then clip. A frame inside overlapping clips belongs to each of them: YouTube
    Highlights' segments overlap by half, and Eq. 6 averages a segment's score over *all*
    of its frames."""
    lo = np.searchsorted(times, starts, side="left")
    hi = np.searchsorted(times, ends, side="left")
    counts = np.maximum(hi - lo, 0)
    clip = np.repeat(np.arange(len(starts)), counts)
    offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    frame = np.repeat(lo, counts) + offsets
    order = np.lexsort((clip, frame))
    return frame[order], clip[order]


def frame_labels(
    times: np.ndarray, starts: np.ndarray, ends: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """Each frame's label from the labelled clips that hold it (label >= 0): theirs where
    they agree, -1 (not trained on) where none holds it or overlapping clips disagree (a
    frame in the overlap of a highlight and a non-highlight segment is neither; the paper
    is silent, docs/architecture.md)."""
    frame, clip = frame_clip_pairs(times, starts, ends)
    found = np.asarray(labels)[clip]
    known = found >= 0
    frame, found = frame[known], found[known]
    low = np.full(len(times), np.iinfo(np.int64).max)
    high = np.full(len(times), -1)
    np.minimum.at(low, frame, found)
    np.maximum.at(high, frame, found)
    return np.where((high >= 0) & (low == high), high, -1)


# ----------------------------------------------------------------------------- targets


def beta_of(settings: dict, category: str) -> float:
    """β of a category: ``beta_by_category`` (null: none) over ``beta``."""
    return float((settings.get("beta_by_category") or {}).get(category, settings["beta"]))


def pixel_targets(
    saliency: np.ndarray | None,
    highlight: bool,
    spatial: bool,
    beta: float,
    scale: str,
    size: tuple[int, int],
) -> np.ndarray:
    """The pseudo-distinction map of one frame, float32 [H, W] of 0 and 1 (Eqs. 1 and 4).

    A non-highlight frame is all zeros. A highlight frame is all ones without ``spatial``;
    with it a pixel is 1 where the saliency map (resized to ``size`` bilinearly) exceeds
    β (``scale`` raw) or β times the map's mean (``scale`` mean), else 0."""
    if not highlight:
        return np.zeros(size, np.float32)
    if not spatial:
        return np.ones(size, np.float32)
    if saliency is None:
        raise ValueError("a spatial target needs the frame's saliency map")
    smap = torch.from_numpy(np.asarray(saliency, np.float32))[None, None]
    if tuple(smap.shape[-2:]) != tuple(size):
        smap = F.interpolate(smap, size=size, mode="bilinear", align_corners=False)
    smap = smap[0, 0].numpy()
    threshold = beta if scale == "raw" else beta * float(smap.mean())
    return (smap > threshold).astype(np.float32)


# ----------------------------------------------------------------------------- networks


class C3DDistinction(nn.Module):
    """C3D encoder (conv1..conv5b) + four transposed convolutions -> (B, H, W) in (0, 1)."""

    def __init__(self) -> None:
        super().__init__()
        from highlight_pipeline.features.backbones.c3d import C3D

        self.encoder = C3D()
        channels = (512, 256, 128, 64)
        layers: list[nn.Module] = []
        for a, b in zip(channels[:-1], channels[1:], strict=True):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1), nn.BatchNorm2d(b), nn.ReLU()]
        layers += [nn.ConvTranspose2d(channels[-1], 1, 4, 2, 1), nn.Sigmoid()]
        self.decoder = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.encoder
        h = c.pool1(c.relu(c.conv1(x)))
        h = c.pool2(c.relu(c.conv2(h)))
        h = c.pool3(c.relu(c.conv3b(c.relu(c.conv3a(h)))))
        h = c.pool4(c.relu(c.conv4b(c.relu(c.conv4a(h)))))
        h = c.relu(c.conv5b(c.relu(c.conv5a(h))))
        return self.decoder(h.amax(dim=2))[:, 0]


def build_network(backbone: str) -> nn.Module:
    if backbone == "tased":
        from highlight_pipeline.features.backbones.tased import TASEDv2

        return TASEDv2()
    if backbone == "c3d":
        return C3DDistinction()
    raise PipelineError(f"pld: unknown backbone {backbone!r} (tased, c3d)")


def load_published(net: nn.Module, backbone: str, weights_dir: str | Path) -> str:
    """Load the backbone's published file into ``net``; returns its name and sha256."""
    from highlight_pipeline.features.backbones import load_checkpoint
    from highlight_pipeline.features.backbones.registry import checkpoint_path, get_spec, sha256_of

    path = checkpoint_path(backbone, weights_dir)
    load_checkpoint(net if backbone == "tased" else net.encoder, path)  # strict; clear error
    return f"{get_spec(backbone).filename} sha256:{sha256_of(path)}"


#: the prior bias's bounds: a pixel prior of 0.1 % to 50 %
PRIOR_RANGE = (1e-3, 0.5)
#: training frames whose targets estimate the prior (evenly spaced over all of them)
PRIOR_FRAMES = 512


def target_prior(videos: list[TrainingVideo]) -> float:
    """The mean of the pixel targets of up to ``PRIOR_FRAMES`` training frames, evenly
    spaced over all training videos' target frames (no random draw: the seed's stream is
    left as it was)."""
    pairs = [(v, int(t)) for v in videos for t in v.targets]
    picks = np.linspace(0, len(pairs) - 1, min(PRIOR_FRAMES, len(pairs))).round().astype(int)
    return float(np.mean([pairs[k][0].target_map(pairs[k][1]).mean() for k in picks]))


def output_layer(net: nn.Module, backbone: str) -> nn.Module:
    """The layer before the final sigmoid (the one with the output bias)."""
    return net.convtsp4[-2] if backbone == "tased" else net.decoder[-2]


def set_prior_bias(net: nn.Module, backbone: str, prior: float) -> None:
    """Start the output bias at ``logit(prior)`` (Lin et al. 2017's prior initialisation):
    a random network's maps start near the targets' mean level instead of about 0.5."""
    p = min(max(prior, PRIOR_RANGE[0]), PRIOR_RANGE[1])
    with torch.no_grad():
        output_layer(net, backbone).bias.fill_(float(np.log(p / (1 - p))))


def set_bn_momentum(net: nn.Module, momentum: float) -> None:
    for module in net.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = momentum


@torch.no_grad()
def recalibrate_batch_norm(net: nn.Module, batches, within: nn.Module | None = None) -> None:
    """Recompute the running statistics of the BatchNorm layers (of ``within``, default all)
    as the plain average over ``batches`` (input tensors) with the current weights, in
    training mode ("precise BN"). Running averages kept during a short training trail the
    weights, and the eval-mode maps then differ from those the loss saw."""
    layers = [
        m for m in (within or net).modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]
    momenta = [m.momentum for m in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average
    net.eval()
    for layer in layers:
        layer.train()
    for x in batches:
        net(x)
    for layer, momentum in zip(layers, momenta, strict=True):
        layer.momentum = momentum
    net.eval()


def encoder_of(net: nn.Module, backbone: str) -> nn.ModuleList:
    """The encoder's modules (frozen with ``train_encoder: false``)."""
    if backbone == "c3d":
        return nn.ModuleList([net.encoder])
    return nn.ModuleList([net.base1, net.base2, net.base3, net.base4])


def decoder_of(net: nn.Module, backbone: str) -> nn.ModuleList:
    if backbone == "c3d":
        return nn.ModuleList([net.decoder])
    return nn.ModuleList([net.convtsp1, net.convtsp2, net.convtsp3, net.convtsp4])


def to_input(frames: np.ndarray | torch.Tensor, backbone: str) -> torch.Tensor:
    """uint8 [B, L, H, W, 3] -> float [B, 3, L, H, W] as the backbone expects: TASED in
    [-1, 1]; C3D 0..255 minus its mean. On the device the frames are on (a GPU converts
    its own copy of the uint8 frames, a quarter of the float32 bytes to transfer)."""
    x = torch.as_tensor(frames).permute(0, 4, 1, 2, 3).float()
    if backbone == "tased":
        return x.mul_(2.0 / 255.0).sub_(1.0)
    return x - torch.tensor(C3D_MEAN, device=x.device).view(1, 3, 1, 1, 1)


def device_input(frames: np.ndarray | torch.Tensor, backbone: str, device) -> torch.Tensor:
    """A batch of uint8 windows as the network's input on ``device``: on the CPU
    :func:`to_input` as it always was; on CUDA the uint8 frames (pinned by the frame feed)
    are sent first, without waiting, and converted there."""
    if torch.device(device).type == "cpu":
        return to_input(frames, backbone)
    return to_input(torch.as_tensor(frames).to(device, non_blocking=True), backbone)


def place_network(net: nn.Module, device) -> nn.Module:
    """``net`` on ``device`` with the CPU fast paths (TASED-Net's shifted-maxima pool) on
    on the CPU and off on CUDA (``features/backbones/fast_paths.py``)."""
    from highlight_pipeline.features.backbones.fast_paths import fast_paths_for, use_fast_paths

    return use_fast_paths(net.to(device), fast_paths_for(device))


# ----------------------------------------------------------------------------- the model


class PLDModel:
    def __init__(self, net: nn.Module, hparams: dict) -> None:
        self.net, self.hparams = net, hparams
        self.losses: list[float] = []

    @property
    def length(self) -> int:
        return WINDOW[self.hparams["backbone"]]

    def to(self, device: str) -> PLDModel:
        """The network on ``device`` (scoring and explaining on a leased GPU)."""
        place_network(self.net, device)
        return self

    def windows(
        self, video: VideoInputs, targets: np.ndarray, files: FrameFiles | None = None
    ) -> np.ndarray:
        """uint8 [len(targets), L, H, W, 3], read from the frame cache (through ``files``,
        the open files of the frame feed's thread, when given)."""
        source = video.frames
        index = np.stack(
            [
                window_indices(int(t), source.n_frames, self.length, self.hparams["temporal"])
                for t in targets
            ]
        )
        flat = index.ravel()
        frames = source.read(flat) if files is None else files.read(source, flat)
        return frames.reshape(len(targets), self.length, *frames.shape[1:])

    @property
    def inference_batch(self) -> int:
        """Windows per forward pass when scoring: the training batch, or more while the
        batch holds at most ``INFERENCE_PIXELS`` target pixels (at 32x32, 16 windows score
        1.2-1.35x faster than 2 on a CPU core; at the paper's 384x224 it stays the training
        batch, whose memory the job was sized for)."""
        pixels = int(self.hparams["height"]) * int(self.hparams["width"])
        return max(int(self.hparams["batch_size"]), min(16, INFERENCE_PIXELS // pixels))

    @torch.no_grad()
    def distinction_maps(self, video: VideoInputs, targets: np.ndarray) -> np.ndarray:
        """Distinction maps float32 [len(targets), H, W] of the frames ``targets``."""
        self.net.eval()
        device = next(self.net.parameters()).device
        out = []
        batch = self.inference_batch
        chunks = [targets[low : low + batch] for low in range(0, len(targets), batch)]

        def load(files: FrameFiles, chunk: np.ndarray) -> np.ndarray:
            return self.windows(video, chunk, files)

        with FrameFeed(chunks, load, pin_device=device, name="pld-score-reader") as batches:
            for frames in batches:
                x = device_input(frames, self.hparams["backbone"], device)
                out.append(self.net(x).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 1, 1), np.float32)

    def scored_frames(self, video: VideoInputs) -> tuple[np.ndarray, np.ndarray]:
        """``(frame indices, clip of each)``: the frames scored for each clip."""
        source = video.frames
        times = source.times
        step = self.hparams.get("score_fps")
        if step:
            # the middle of each period of the grid: one frame per 2 s clip at 0.5 is the
            # clip's middle frame, whose window lies over the clip as Eq. 6's mean does
            period = 1.0 / float(step)
            grid = np.arange(period / 2, times[-1] + 1e-9, period)
            nearest = np.floor(grid * source.fps + 0.5).astype(int)  # a tie takes the later frame
            chosen = np.unique(np.clip(nearest, 0, len(times) - 1))
        else:
            chosen = np.arange(len(times))
        at, clips = frame_clip_pairs(times[chosen], video.starts, video.ends)
        chosen = chosen[at]  # a frame in two overlapping clips counts for both (Eq. 6)
        # clips without a chosen frame inside them: the frame nearest their middle
        empty = np.setdiff1d(np.arange(video.n_clips), clips)
        middles = (video.starts[empty] + video.ends[empty]) / 2
        inside = middles < source.extent  # past the decoded picture: no score
        extra = np.clip(np.round(middles[inside] * source.fps).astype(int), 0, len(times) - 1)
        frames = np.concatenate([chosen, extra])
        owners = np.concatenate([clips, empty[inside]])
        return frames, owners

    def score(self, video: VideoInputs) -> np.ndarray:
        if video.frames is None:
            raise DatasetError(f"{video.video_id}: pld needs the video's cached frames")
        frames, owners = self.scored_frames(video)
        scores = np.full(video.n_clips, np.nan)
        if len(frames) == 0:
            return scores
        _, first = np.unique(frames, return_index=True)
        distinct = frames[np.sort(first)]  # each frame's map once, in the order scored
        means = self.distinction_maps(video, distinct).mean(axis=(1, 2)).astype(np.float64)
        if len(distinct) < len(frames):  # frames in two overlapping clips
            of_frame = dict(zip(distinct.tolist(), means, strict=True))
            means = np.array([of_frame[f] for f in frames.tolist()])
        sums = np.bincount(owners, weights=means, minlength=video.n_clips)
        counts = np.bincount(owners, minlength=video.n_clips)
        scored = counts > 0
        scores[scored] = sums[scored] / counts[scored]
        return scores

    @property
    def explain_fps(self) -> float:
        return float(self.hparams["fps"])

    def explain(self, video: VideoInputs, n: int) -> list[tuple[float, np.ndarray]]:
        """``n`` frames evenly spread over the video and their distinction maps
        (highlight_pipeline.explain draws them over the pictures)."""
        if video.frames is None or video.frames.n_frames == 0:
            return []
        count = video.frames.n_frames
        targets = np.unique(np.linspace(0, count - 1, min(n, count)).round().astype(int))
        maps = self.distinction_maps(video, targets)
        return [(float(t) / video.frames.fps, m) for t, m in zip(targets, maps, strict=True)]

    def state(self) -> dict:
        return {"hparams": self.hparams, "state_dict": self.net.state_dict()}


def load(state: dict) -> PLDModel:
    expect_keys(state, "model", required=("hparams", "state_dict"))
    net = build_network(state["hparams"]["backbone"])
    load_network_state(net, state["state_dict"])
    return PLDModel(net.eval(), state["hparams"])


# ----------------------------------------------------------------------------- training


class TrainingVideo:
    """A training video's labelled target frames and, per frame, its pseudo-label map."""

    def __init__(self, video: VideoInputs, settings: dict, size: tuple[int, int]) -> None:
        self.video = video
        source = video.frames
        times = source.times
        labels = frame_labels(times, video.starts, video.ends, video.labels)
        self.beta = beta_of(settings, video.category)
        self.settings, self.size = settings, size
        spatial = settings["spatial"]
        usable = labels >= 0
        if spatial:  # a highlight frame needs its saliency map
            has_map = np.array([video.saliency.covers(t) for t in times], dtype=bool)
            usable &= (labels != 1) | has_map
        self.targets = np.flatnonzero(usable)
        self.labels = labels
        self.times = times

    def target_map(self, frame: int) -> np.ndarray:
        s = self.settings
        highlight = bool(self.labels[frame] == 1)
        smap = self.video.saliency.at(self.times[frame]) if s["spatial"] and highlight else None
        return pixel_targets(smap, highlight, s["spatial"], self.beta, s["beta_scale"], self.size)


def training_videos(inputs: MethodInputs, settings: dict, size: tuple[int, int]):
    train = inputs.subset("train").videos
    if not train:
        raise DatasetError("pld: no training videos in this split")
    if any(v.labels is None or np.all(v.labels < 0) for v in train):
        raise DatasetError(
            "pld is supervised by segment labels: this dataset has none for its training "
            "videos (add highlights.csv, or leave pld out of evaluation.runs)"
        )
    found = []
    for video in train:
        if video.frames is None:
            log.warning("pld: %s has no cached frames (decoding failed); left out", video.video_id)
            continue
        if settings["spatial"] and video.saliency is None:
            log.warning("pld: %s has no saliency maps; left out of training", video.video_id)
            continue
        entry = TrainingVideo(video, settings, size)
        if len(entry.targets):
            found.append(entry)
    if not found:
        raise DatasetError("pld: no training video has labelled frames with what it needs")
    return found


def _window_batch(
    model: PLDModel, videos: list[TrainingVideo], chosen, files: FrameFiles | None = None
) -> np.ndarray:
    """uint8 windows [len(chosen), L, H, W, 3] of ``(video index, target frame)`` pairs."""
    return np.concatenate([model.windows(videos[i].video, np.array([t]), files) for i, t in chosen])


def _training_batch(model: PLDModel, videos: list[TrainingVideo], chosen, files: FrameFiles):
    """One SGD step's windows and pixel targets (read in the frame feed's thread)."""
    x = _window_batch(model, videos, chosen, files)
    y = np.stack([videos[i].target_map(t) for i, t in chosen])
    return x, y


def _bn_feed(model: PLDModel, videos: list[TrainingVideo], settings: dict, rng, device):
    """``bn_windows`` random training windows in batches, read ahead (for
    recalibrate_batch_norm): ``with _bn_feed(...) as inputs``. The draws are made here, in
    the calling thread, before any window is read."""
    draws = [(i, int(t)) for i, v in enumerate(videos) for t in rng.choice(v.targets, 4)]
    draws = [draws[k] for k in rng.permutation(len(draws))[: settings["bn_windows"]]]
    batch = settings["batch_size"]
    chunks = [draws[k : k + batch] for k in range(0, len(draws), batch)]

    def load(files: FrameFiles, chosen) -> np.ndarray:
        return _window_batch(model, videos, chosen, files)

    return FrameFeed(chunks, load, pin_device=device, name="pld-bn-reader")


def _recalibrate(model, videos, settings: dict, rng, device, within=None) -> None:
    """Precise BN (:func:`recalibrate_batch_norm`) on ``bn_windows`` training windows."""
    backbone = settings["backbone"]
    with _bn_feed(model, videos, settings, rng, device) as frames:
        inputs = (device_input(x, backbone, device) for x in frames)
        recalibrate_batch_norm(model.net, inputs, within)


def fit(inputs: MethodInputs, run: dict, seed: int, device="cpu", progress=True, checkpoint=None):
    checkpoint = checkpoint or NoCheckpoint()
    settings = run["settings"]
    backbone = settings["backbone"]
    cache = inputs.frame_geometry
    size = (cache["height"], cache["width"])
    if size[0] % MULTIPLE[backbone] or size[1] % MULTIPLE[backbone]:
        raise PipelineError(
            f"pld {backbone}: frame size {size[0]}x{size[1]} must be multiples of "
            f"{MULTIPLE[backbone]} (methods.pld.size.{backbone})"
        )
    videos = training_videos(inputs, settings, size)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = build_network(backbone)
    weights = "random-init"
    if settings["pretrained"] and run.get("weights", "published") == "published":
        weights = load_published(net, backbone, run.get("weights_dir", "weights"))
    if weights == "random-init" and settings["prior_bias"]:
        prior = target_prior(videos)
        set_prior_bias(net, backbone, prior)
        log.info("pld %s: output bias from the targets' mean, %.2f %%", run["variant"], 100 * prior)
    set_bn_momentum(net, 0.1)
    place_network(net, device)
    encoder = encoder_of(net, backbone)
    hparams = {
        **settings,
        "fps": cache["fps"],
        "height": size[0],
        "width": size[1],
        "weights": weights,
    }
    model = PLDModel(net, hparams)
    if not settings["train_encoder"]:
        # a fixed (random) encoder: its BatchNorm statistics from training windows, then
        # frozen; only the decoder learns (a resumed run restores all of it)
        _recalibrate(model, videos, settings, rng, device, encoder)
        for parameter in encoder.parameters():
            parameter.requires_grad_(False)
    trainable = [p for p in net.parameters() if p.requires_grad]
    if settings["optimizer"] == "sgd":
        optimiser = SGD(
            trainable, lr=settings["lr"], momentum=0.9, weight_decay=settings["weight_decay"]
        )
    else:
        optimiser = Adam(trainable, lr=settings["lr"], weight_decay=settings["weight_decay"])
    log.info(
        "pld %s: %s from %s, %d training videos, %d frames at %gx%g, %g fps",
        run["variant"],
        backbone,
        weights,
        len(videos),
        sum(len(v.targets) for v in videos),
        size[1],
        size[0],
        cache["fps"],
    )
    done, model.losses = checkpoint.restore(net, optimiser, rng)

    def load_step(files: FrameFiles, chosen):
        return _training_batch(model, videos, chosen, files)

    for epoch in epoch_bar(done, settings["epochs"], "pld train", progress):
        net.train()
        if not settings["train_encoder"]:
            encoder.eval()
        draws = [
            (i, int(t))
            for i, v in enumerate(videos)
            for t in rng.choice(v.targets, settings["windows_per_video"])
        ]
        order = rng.permutation(len(draws))
        steps = [
            [draws[k] for k in order[low : low + settings["batch_size"]]]
            for low in range(0, len(order), settings["batch_size"])
        ]
        total, batches = 0.0, 0
        with FrameFeed(steps, load_step, pin_device=device, name="pld-train-reader") as feed:
            for x, y in feed:
                prediction = net(device_input(x, backbone, device))
                loss = F.mse_loss(prediction, torch.as_tensor(y).to(device, non_blocking=True))
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += float(loss.detach())
                batches += 1
        model.losses.append(total / max(1, batches))
        checkpoint.save(epoch + 1, net, optimiser, rng, model.losses)
    within = None if settings["train_encoder"] else decoder_of(net, backbone)
    _recalibrate(model, videos, settings, rng, device, within)
    place_network(net, "cpu").eval()
    log.info("pld %s: final loss %.4f", run["variant"], model.losses[-1])
    return model
