"""Explanations a person can look at: a method's per-pixel maps over the video's frames.

A method whose model has ``explain(video, n) -> [(time in s, map float [h, w] in [0, 1])]``
(pld: its distinction maps; the registry entry says ``explains=True``) gets, for chosen
test videos, one strip per video: frames evenly spread over the video, each shown twice,
as the picture and with the map laid over it as a heat map, captioned with the time, the
clip's score and its ground truth (read from the model's scores file when given, as the
pipeline does, else scored again). Pictures are decoded again from the video file at the
strip's size (the maps are upsampled to it), so they look like the video, not like the
small training frames. ``hlp explain`` writes ``{video_id}.png`` per video into a folder
that ``snakemake --report`` shows.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from highlight_pipeline.atomic import atomic_output
from highlight_pipeline.errors import PipelineError
from highlight_pipeline.methods.inputs import InputFiles, VideoInputs
from highlight_pipeline.methods.registry import get_method
from highlight_pipeline.methods.steps import model_and_inputs, placed
from highlight_pipeline.predictions import read_predictions

log = logging.getLogger(__name__)

PANEL_WIDTH = 192


def chosen_videos(videos: list[VideoInputs], choice: int | list[str]) -> list[VideoInputs]:
    """The first ``choice`` videos by id, or the listed ids (unknown ones are an error)."""
    by_id = {v.video_id: v for v in videos}
    if isinstance(choice, int):
        return [by_id[v] for v in sorted(by_id)[:choice]]
    missing = [v for v in choice if v not in by_id]
    if missing:
        raise ValueError(f"explain: no video {', '.join(missing)} in the evaluation split")
    return [by_id[v] for v in choice]


def pictures_at(path: str, times: np.ndarray, fps: float, width: int, height: int):
    """RGB frames [len(times), height, width, 3] of the video at ``times`` (seconds), decoded
    at ``fps`` and taken at the nearest decoded frame; streamed, nothing else kept."""
    from highlight_pipeline.video.decode import iter_frame_batches

    wanted = {int(round(t * fps)): k for k, t in enumerate(times)}
    out = np.zeros((len(times), height, width, 3), np.uint8)
    index = 0
    for _, frames in iter_frame_batches(path, fps, width, height, 32):
        for frame in frames:
            if index in wanted:
                out[wanted[index]] = frame
            index += 1
        if index > max(wanted):
            break
    return out


def render_strip(
    video: VideoInputs,
    panels: list[tuple[float, np.ndarray]],
    scores: np.ndarray,
    fps: float,
    out: str | Path,
    title: str,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = np.array([t for t, _ in panels])
    aspect = panels[0][1].shape[0] / panels[0][1].shape[1]
    width = PANEL_WIDTH
    height = max(16, int(round(width * aspect / 2)) * 2)
    pictures = pictures_at(video.path, times, fps, width, height)
    size = (2.2 * len(panels), 2.2 * aspect * 2 + 1.4)
    fig, axes = plt.subplots(2, len(panels), figsize=size, gridspec_kw={"hspace": 0.45})
    axes = np.asarray(axes).reshape(2, len(panels))
    for k, (t, smap) in enumerate(panels):
        clip = int(np.searchsorted(video.starts, t, side="right") - 1)
        label = int(video.labels[clip]) if video.labels is not None and clip >= 0 else -1
        score = scores[clip] if 0 <= clip < len(scores) else np.nan
        truth = {1: "highlight", 0: "not highlight"}.get(label, "unlabelled")
        axes[0, k].imshow(pictures[k])
        axes[0, k].set_title(f"{t:.1f} s", fontsize=8)
        axes[1, k].imshow(pictures[k])
        axes[1, k].imshow(
            smap,
            cmap="inferno",
            alpha=0.55,
            vmin=0.0,
            vmax=1.0,
            extent=(-0.5, width - 0.5, height - 0.5, -0.5),
            interpolation="bilinear",
        )
        axes[1, k].set_title(f"score {score:.2f}\n{truth}", fontsize=8)
        for ax in axes[:, k]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.82)
    with atomic_output(out) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)


def explain_videos(
    model,
    videos: list[VideoInputs],
    out_dir: str | Path,
    panels: int,
    title: str,
    scored: dict[str, np.ndarray] | None = None,
) -> list[str]:
    """One strip per video into ``out_dir``; returns the files written. ``scored``: the
    model's clip scores by video (its scores file); a video not in it is scored here."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scored = scored or {}
    written = []
    for video in videos:
        found = model.explain(video, panels)
        if not found:
            log.warning("explain: %s has no frame to show", video.video_id)
            continue
        scores = scored[video.video_id] if video.video_id in scored else model.score(video)
        out = out_dir / f"{video.video_id}.png"
        render_strip(video, found, scores, model.explain_fps, out, f"{title}: {video.video_id}")
        written.append(str(out))
    return written


def explain_model(
    model_path: str | Path,
    files: InputFiles,
    choice: int | list[str],
    out_dir: str | Path,
    panels: int = 6,
    eval_split: str = "test",
    device: str = "auto",
    cuda: dict | None = None,
    scores: str | Path | None = None,
) -> list[str]:
    """``hlp explain``: strips of the trained model of ``model_path`` for the chosen videos
    (``choice``: how many, the first by id, or a list of ids) of ``eval_split`` of the
    dataset files ``files``; returns the files written. ``scores``: the model's scores file
    (the captions' clip scores; without it the videos are scored again). A method without
    per-pixel maps is refused."""
    model, checkpoint, inputs = model_and_inputs(
        model_path, files, "explain", frozenset({"labels"})
    )
    if not get_method(checkpoint["method"]).explains:
        raise PipelineError(f"{checkpoint['method']} has no per-pixel maps to explain with")
    model, _ = placed(model, checkpoint, device, cuda)
    videos = chosen_videos(inputs.subset(eval_split).videos, choice)
    title = f"{checkpoint['method']}/{checkpoint['variant']} seed {checkpoint['seed']}"
    scored = read_predictions(scores) if scores else None
    return explain_videos(model, videos, out_dir, panels, title, scored)
