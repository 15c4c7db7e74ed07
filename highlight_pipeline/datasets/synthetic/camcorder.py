"""The camcorder recipe (``synth: {recipe: camcorder}``): a third dataset, only for measuring.

The weight-free features were developed on the embedded dataset and measured on the holdout
one; this recipe makes a dataset that neither was designed around, with a generator that
shares no drawing, sound or planning code with them (only the mechanics: the spec and plan
types, the split rule, :class:`~.encoding.VideoFile` and the tables). It imitates home
camcorder footage in the formats cameras and PCs wrote before H.264, with loud non-event
sound and fast non-event motion. Generative model (docs/synthetic.md, "The camcorder
dataset"):

* 3 categories (``spec.categories`` takes the first N): ``bowling`` (a ball rolls down the
  lane and the pins scatter; a rolling rumble, then the pins' clatter), ``diving`` (a diver
  bounces on the board, somersaults and enters the water in a splash; board thuds, the
  splash, bubbles) and ``flambe`` (a cook shakes a pan that catches fire, the flame flares
  and dies down; a scraping hiss, the ignition's whoomp, a flickering roar, crackle). Each
  category's event looks and sounds alike across its videos; placement, colour, timing,
  size and level are drawn per video and per occurrence.
* 1-3 highlights of 2.5-6.5 s (on 0.01 s), about 12-28 % of the video, none in the grid's
  last clip; the event happens exactly inside them. Event loudness (the RMS of a sound's
  loudest 0.4 s) -32 to -18 dBFS per video, +-3 dB per occurrence, and 1 occurrence in 4
  is 5-10 dB quieter.
* Distractors (4 in 5 clear of the highlights, the rest anywhere), recurring in every
  video: about one loud sound per 3-4.5 s (a crowd's roar, speech-like babble, a whistle,
  knocks, claps) at the video's event level -8 to +8 dB (at most -14 dBFS), so about half
  are louder than the events and most are louder than the quiet ones;
  about one motion or light change per 3.5-5.5 s (a whip pan, a zoom in and out, a
  passer-by close to the lens, a child running across, lights dimming, brightening,
  flickering, others' camera flashes). A hand-held camera shakes throughout.
* Format per video: height 0.75-1.3 x nominal (a multiple of 4), aspect 4:3, 16:9 or 3:2;
  a camera frame rate within 0.6-1.25 x nominal, a third of the videos an NTSC one
  (k x 1000/1001); 16, 22.05, 32, 44.1 or 48 kHz near the nominal rate; mono or stereo.
* Container and codecs cycle with 2 x category + video (mod 4): MPEG-2 video and MP2 in an
  MPEG program stream (.mpg), Motion JPEG (full range) and 16-bit PCM in .avi, MPEG-4
  Part 2 and big-endian PCM in QuickTime (.mov), WMV 8 and WMA 2 in ASF (.wmv).

Frames are converted to YUV 4:2:0 here (limited range; full range for Motion JPEG) and
encoded with one codec thread and bit-exact flags: a seed gives the same bytes on the same
FFmpeg build. Its parts: :mod:`.camcorder_plan`, :mod:`.camcorder_pictures`,
:mod:`.camcorder_sound`; this module times, converts and encodes each video.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np

from highlight_pipeline.datasets.synthetic.camcorder_pictures import CamcorderPicture
from highlight_pipeline.datasets.synthetic.camcorder_plan import CamcorderVideo, plan_camcorder
from highlight_pipeline.datasets.synthetic.camcorder_sound import render_sound
from highlight_pipeline.datasets.synthetic.encoding import VideoFile, write_each
from highlight_pipeline.datasets.synthetic.spec import SynthSpec, VideoPlan

JPEG_RANGE = 2  # FFmpeg's AVCOL_RANGE_JPEG: full-range YUV, as Motion JPEG stores it
QSCALE = {"mpeg2video": (2, 6), "mjpeg": (3, 8), "mpeg4": (3, 7), "wmv2": (3, 7)}  # base, span
PACKED_S16 = ("mp2", "pcm_s16le", "pcm_s16be")  # encoders taking interleaved 16-bit samples


def frame_times(video: CamcorderVideo) -> tuple[np.ndarray, np.ndarray, Fraction]:
    """Presentation times (s), timestamps and time base: frame i at i / fps, round(duration
    x fps) frames."""
    pts = np.arange(max(1, int(round(video.duration * float(video.fps)))))
    return pts / float(video.fps), pts, 1 / video.fps


def yuv420p(rgb: np.ndarray, full_range: bool) -> np.ndarray:
    """Float RGB ``[H, W, 3]`` (0-255) -> planar YUV 4:2:0 uint8 ``[H * 3 / 2, W]`` with
    BT.601 weights: limited range (16-235, chroma 16-240) or full range (JPEG); chroma
    from the mean of each 2x2 block."""
    h, w = rgb.shape[:2]
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    block = rgb.reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))
    br, bg, bb = block[..., 0], block[..., 1], block[..., 2]
    if full_range:
        y = 0.299 * r + 0.587 * g + 0.114 * b
        cb = 128 - 0.168736 * br - 0.331264 * bg + 0.5 * bb
        cr = 128 + 0.5 * br - 0.418688 * bg - 0.081312 * bb
    else:
        y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
        cb = 128 + (-37.797 * br - 74.203 * bg + 112.0 * bb) / 255
        cr = 128 + (112.0 * br - 93.786 * bg - 18.214 * bb) / 255
    planes = np.concatenate([y, cb.reshape(h // 4, w), cr.reshape(h // 4, w)])
    return np.clip(np.rint(planes), 0, 255).astype(np.uint8)


def _picture_options(video: CamcorderVideo) -> dict[str, str]:
    base, span = QSCALE[video.video_codec]
    options = {
        "flags": "+qscale+bitexact",
        "global_quality": str(int(round((base + span * video.quality) * 118))),  # QP2LAMBDA
    }
    if video.video_codec == "mpeg2video":  # as DVD camcorders: IBBP
        options["bf"] = "2"
    return options


def _sound_options(video: CamcorderVideo) -> dict[str, str]:
    options = {"flags": "+bitexact"}
    if video.audio_codec == "mp2":
        options["b"] = f"{64 * video.channels}k"
    elif video.audio_codec == "wmav2":
        options["b"] = f"{48 * video.channels}k"
    return options


def _samples(block: np.ndarray, codec: str) -> tuple[np.ndarray, str]:
    """A block ``[channels, n]`` in the encoder's own sample format (no resampler between)."""
    if codec in PACKED_S16:
        ints = np.clip(np.rint(block * 32767), -32768, 32767).astype(np.int16)
        return np.ascontiguousarray(ints.T.reshape(1, -1)), "s16"
    return np.ascontiguousarray(block, dtype=np.float32), "fltp"


def write_camcorder_video(path: Path, video: CamcorderVideo) -> None:
    """Render and encode one video; sound is muxed up to a frame ahead of the picture."""
    picture = CamcorderPicture(video)
    sound = render_sound(video)
    times, stamps, time_base = frame_times(video)
    rate = video.sample_rate
    full = video.video_codec == "mjpeg"
    with VideoFile(path, video.muxer) as out:
        out.add_picture(
            video.video_codec,
            video.fps,
            video.width,
            video.height,
            _picture_options(video),
            gop_size=video.gop,
        )
        if full:
            out.picture.codec_context.color_range = JPEG_RANGE
        out.add_sound(
            video.audio_codec,
            rate,
            "stereo" if video.channels == 2 else "mono",
            _sound_options(video),
        )
        step = 1152 if video.audio_codec == "mp2" else 2048
        done = 0

        def sound_until(seconds: float) -> None:
            nonlocal done
            stop = min(sound.shape[1], int(math.ceil(seconds * rate)))
            while done < stop:
                block, fmt = _samples(sound[:, done : done + step], video.audio_codec)
                out.put_sound(block, done, sample_format=fmt, time_base=Fraction(1, rate))
                done += min(step, sound.shape[1] - done)

        lead = 1 / float(video.fps)
        for index, (t, stamp) in enumerate(zip(times, stamps, strict=True)):
            sound_until(float(t) + lead)
            frame = yuv420p(picture.frame(float(t), index), full)
            out.put_picture(frame, int(stamp), time_base)
        out.end_picture()
        sound_until(video.duration + 1)
        out.end_sound()


def write_camcorder_videos(
    spec: SynthSpec, videos_dir: Path, progress: bool = True, jobs: int = 1
) -> list[VideoPlan]:
    """Write every video of the camcorder dataset into ``videos_dir``; return their plans."""
    return write_each(
        plan_camcorder(spec), videos_dir, write_camcorder_video, "synth camcorder", progress
    )
