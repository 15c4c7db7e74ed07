"""`hlp predict`: score one video with a trained model; write scores, a plot and a reel.

The checkpoint carries its *recipe*: the feature extractors' config slices and the clip
length it was trained with, so a new video is featurised exactly like the training data.
Any registered method's model works: the checkpoint names its method.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from highlight_pipeline.atomic import write_text_atomic
from highlight_pipeline.datasets.folder import clip_grid
from highlight_pipeline.errors import PipelineError, VideoError
from highlight_pipeline.features.extract import build_extractor
from highlight_pipeline.features.pooling import decoded_clips, pool_windows, present_clips
from highlight_pipeline.methods.inputs import VideoInputs
from highlight_pipeline.methods.models import load_model, place_model, runs_network
from highlight_pipeline.methods.recipe import recipe_features
from highlight_pipeline.plots import plot_score_curve
from highlight_pipeline.reel import make_reel, select_reel_clips
from highlight_pipeline.runs import frames_id
from highlight_pipeline.tables import weights_notes
from highlight_pipeline.video.probe import probe

log = logging.getLogger(__name__)


def _frame_source(video: str | Path, row, frames_slice: dict, tmp: Path):
    """The one video decoded into a temporary frame cache at the model's fps and size."""
    import pandas as pd

    from highlight_pipeline.features.frames import open_frame_cache, write_frame_shard

    manifest = pd.DataFrame(
        [{"video_id": "video", "path": str(video), "duration": row.duration, "fingerprint": "-"}]
    )
    summary = write_frame_shard(manifest, 0, 1, frames_slice, tmp / "frames.h5", progress=False)
    if summary["failed"]:
        raise VideoError(f"{video}: {summary['failed'][0]['reason']}")
    return open_frame_cache([tmp / "frames.h5"]).sources["video"]


def predict_video(
    video: str | Path,
    model_path: str | Path,
    out_dir: str | Path,
    reel_seconds: float = 20.0,
    runtime: dict | None = None,
) -> dict:
    from highlight_pipeline.gpu_slots import lease_for_process

    model, checkpoint = load_model(model_path)
    recipe = checkpoint.get("recipe")
    if not recipe:
        raise PipelineError(
            f"{model_path}: no feature recipe in the checkpoint (retrain it with hlp train)"
        )
    runtime = dict(runtime or {})
    # The model on the device the extractors lease (one lease per process and request: the
    # same slot), or the CPU for a model without a network.
    device = runtime.get("device", "auto") if runs_network(checkpoint) else "cpu"
    lease = lease_for_process(device, runtime.get("cuda"))
    model = place_model(model, lease.device)
    info = probe(video)
    row = SimpleNamespace(path=str(video), **info.as_dict())
    starts, ends = clip_grid(info.duration, recipe["clip_seconds"])

    used: dict[str, dict] = {}
    centres: dict[str, np.ndarray] = {}  # modality -> the centre its extractor took off

    def clip_features(feature_slice: dict) -> np.ndarray:
        """The clips' features of one modality; a stream that ended early has them only for
        the leading clips inside its decoded extent (no window is held to fill the rest)."""
        # a network whose training features ran under autocast runs under it here too
        amp = feature_slice.get("precision", {}).get("amp") == "float16"
        extractor = build_extractor(feature_slice, {**runtime, "amp": amp})
        found = extractor.extract(video, row)
        used[extractor.modality] = {"extractor": feature_slice["extractor"], **extractor.describe()}
        if found.centre is not None:
            centres[extractor.modality] = found.centre
        n = len(starts)
        if found.partial:
            n = decoded_clips(starts, ends, found.extent)
            log.warning(
                "%s: the %s stream ends at %.2f s of %.2f s; the clips after it get no score",
                video,
                extractor.modality,
                found.extent,
                info.duration,
            )
        pooled = pool_windows(
            found.windows, found.grid[:, 0], found.grid[:, 1], starts[:n], ends[:n]
        )
        return pooled[: present_clips(pooled)]  # up to a hole damaged packets left, as the pipeline

    features = recipe_features(recipe)
    visual = clip_features(features["visual"]) if "visual" in features else None
    audio = None
    if "audio" in features and info.has_audio:
        try:
            audio = clip_features(features["audio"])
        except (VideoError, ValueError) as exc:
            log.warning("%s: audio unusable (%s); scoring without it", video, exc)
    elif "audio" in features:
        log.warning("%s: no audio track; scoring without it", video)
    keep = min([len(x) for x in (visual, audio) if x is not None] + [len(starts)])
    inputs = VideoInputs(
        video_id=Path(video).stem,
        starts=starts[:keep],
        ends=ends[:keep],
        visual=None if visual is None else visual[:keep],
        audio=None if audio is None else audio[:keep],
        total_clips=len(starts),
        centres=centres,
    )
    scores = np.full(len(starts), np.nan)
    with tempfile.TemporaryDirectory(prefix="hlp-predict-") as tmp:
        if "frames" in recipe:  # a pixel-level model (pld): the video's own frame cache
            inputs.frames = _frame_source(video, row, recipe["frames"], Path(tmp))
            name = frames_id(recipe["frames"])
            weights = getattr(model, "hparams", {}).get("weights", "published")  # the network's
            used["frames"] = {"extractor": name, "weights": weights, **recipe["frames"]}
        scores[:keep] = model.score(inputs)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = {
        "video": str(video),
        "model": str(model_path),
        "features": used,
        "device": lease.record(),
        "note": "; ".join(weights_notes({str(d.get("weights", "")) for d in used.values()})),
        "clips": [
            {"start": float(s), "end": float(e), "score": float(v) if np.isfinite(v) else None}
            for s, e, v in zip(starts, ends, scores, strict=True)
        ],
    }
    write_text_atomic(out / "scores.json", json.dumps(result, indent=2) + "\n")
    plot_score_curve(starts, ends, scores, None, out / "scores.png", f"{Path(video).name}")
    segments = select_reel_clips(starts, ends, scores, reel_seconds)
    if segments:
        make_reel(video, segments, out / "reel.mp4")
    result["reel"] = [list(s) for s in segments]
    return result


def result_lines(result: dict, out_dir: str | Path) -> list[str]:
    """What ``hlp predict`` says of a :func:`predict_video` result: the clips scored, with
    which features, the files written to ``out_dir``, and its note, if any."""
    used = ", ".join(
        f"{modality} {d['extractor']} ({d.get('weights', '?')})"
        for modality, d in sorted(result["features"].items())
    )
    lines = [
        f"{len(result['clips'])} clips scored with {used or 'no features'}; wrote "
        f"{out_dir}/scores.json, scores.png" + (", reel.mp4" if result["reel"] else "")
    ]
    if result["note"]:
        lines.append(f"note: {result['note']}")
    return lines
