"""Small video files in the containers and codecs people have, and damaged ones.

:func:`write_real_world_folder` writes one short file per format of :data:`FORMATS` with
the ffmpeg the project uses (``video.ffmpeg.ffmpeg_binary``: ``HLP_FFMPEG``, a system
ffmpeg, or imageio-ffmpeg's; the latter is also tried where the first lacks an encoder),
and damaged copies of the MPEG-4 Part 2 + AC3 AVI (:data:`DAMAGED`). A format whose
encoder no ffmpeg here has is skipped, and its entry says which encoders were missing.

Picture: ffmpeg's moving ``testsrc2`` pattern, 96x72. Sound (stereo): a 440 Hz tone that
is on for the first half of every second (``TONE_ON``), so a tone's onset shows where a
second starts on the sound's own clock.

Damage overwrites the payload of packets in the file, in place, and keeps the container's
structure (chunk headers, index) intact: a packet's bytes are found from PyAV's
``packet.pos`` and checked against the packet's data before they are overwritten.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import time
from pathlib import Path

import av

from highlight_pipeline.video.ffmpeg import ffmpeg_binary

SIZE = "96x72"
SECONDS = 4.0
DAMAGED_SECONDS = 6.0
TONE_HZ = 440.0
TONE_ON = 0.5  # the tone sounds for [k, k + TONE_ON) of every second k
WINDOW = 1.0  # the default feature window (features.window_seconds)

# name -> (file name, encoder names, ffmpeg output options, seconds, sample rate or None)
FORMATS: dict[str, tuple[str, list[str], list[str], float, int | None]] = {
    "avi_mpeg4_ac3": (
        "mpeg4_ac3.avi",
        ["mpeg4", "ac3"],
        ["-c:v", "mpeg4", "-g", "10", "-c:a", "ac3"],
        SECONDS,
        48000,
    ),
    "mov_mjpeg_mp2": (
        "mjpeg_mp2.mov",
        ["mjpeg", "mp2"],
        ["-c:v", "mjpeg", "-c:a", "mp2"],
        SECONDS,
        48000,
    ),
    "ogg_theora_vorbis": (
        "theora_vorbis.ogg",
        ["libtheora", "libvorbis"],
        ["-c:v", "libtheora", "-g", "10", "-c:a", "libvorbis"],
        SECONDS,
        44100,
    ),
    "webm_vp8_vorbis": (
        "vp8_vorbis.webm",
        ["libvpx", "libvorbis"],
        ["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libvorbis"],
        SECONDS,
        44100,
    ),
    "avi_vp9_mp3": (
        "vp9_mp3.avi",
        ["libvpx-vp9", "libmp3lame"],
        ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libmp3lame"],
        SECONDS,
        44100,
    ),
    "mpg_mpeg2_mp2": (  # MPEG-2 program stream (DVD-style), at a rate MPEG-2 allows
        "mpeg2_ps.mpg",
        ["mpeg2video", "mp2"],
        ["-r", "25", "-c:v", "mpeg2video", "-c:a", "mp2", "-f", "vob"],
        SECONDS,
        48000,
    ),
    "avi_msmpeg4v3_mp3": (  # "DivX 3"
        "msmpeg4v3_mp3.avi",
        ["msmpeg4", "libmp3lame"],
        ["-c:v", "msmpeg4", "-c:a", "libmp3lame"],
        SECONDS,
        44100,
    ),
    "mp4_h264_aac_short": (  # a 0.3 s clip: shorter than one window
        "short_h264_aac.mp4",
        ["libx264", "aac"],
        ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"],
        0.3,
        44100,
    ),
}

# name -> (stream, where): damaged copies of a DAMAGED_SECONDS MPEG-4 Part 2 + AC3 AVI.
# "end": the last packet; "middle": the packet at 2.2 s; "gap": every packet from 2.2 s
# to 3.8 s, a hole longer than one window. An AC3 packet is 32 ms of sound.
DAMAGED: dict[str, tuple[str, str]] = {
    "avi_mpeg4_ac3_damaged_audio_end": ("audio", "end"),
    "avi_mpeg4_ac3_damaged_audio_middle": ("audio", "middle"),
    "avi_mpeg4_ac3_damaged_video_middle": ("video", "middle"),
    "avi_mpeg4_ac3_damaged_audio_gap": ("audio", "gap"),
}
MIDDLE = 2.2
GAP_END = 3.8


def _binaries() -> list[str]:
    found = [ffmpeg_binary()]
    try:
        import imageio_ffmpeg

        found.append(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):  # pragma: no cover - a dependency of the package
        pass
    return list(dict.fromkeys(found))


@functools.cache
def _encoders(binary: str) -> frozenset[str]:
    out = subprocess.run(
        [binary, "-hide_banner", "-encoders"], capture_output=True, text=True, check=False
    ).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0][0] in "VAS":
            names.add(parts[1])
    return frozenset(names)


def ffmpeg_with(encoders: list[str]) -> tuple[str | None, list[str]]:
    """An ffmpeg that has every encoder in ``encoders`` (``None`` if none has), and the
    encoders that the project's own ffmpeg lacks where none has them all."""
    binaries = _binaries()
    for binary in binaries:
        if set(encoders) <= _encoders(binary):
            return binary, []
    return None, [e for e in encoders if e not in _encoders(binaries[0])]


def _write(binary: str, path: Path, options: list[str], seconds: float, rate: int | None):
    tone = f"aevalsrc=exprs=0.4*sin(2*PI*{TONE_HZ}*t)*lt(mod(t\\,1)\\,{TONE_ON}):s={rate}:c=stereo"
    command = [binary, "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={SIZE}:rate=10"]
    if rate is not None:
        command += ["-f", "lavfi", "-i", tone]
    command += ["-t", str(seconds), *options, str(path)]
    subprocess.run(command, check=True, capture_output=True)


def packets(path: Path, kind: str) -> list[dict]:
    """The packets of a file's first ``kind`` stream with data: pos, size, time, duration
    (seconds), keyframe flag and their bytes."""
    found = []
    with av.open(str(path)) as container:
        stream = getattr(container.streams, kind)[0]
        for packet in container.demux(stream):
            if not packet.size or packet.pts is None:
                continue
            found.append(
                {
                    "pos": packet.pos,
                    "size": packet.size,
                    "time": float(packet.pts * packet.time_base),
                    "duration": float((packet.duration or 0) * packet.time_base),
                    "key": packet.is_keyframe,
                    "data": bytes(packet),
                }
            )
    return found


def damage_packets(path: Path, chosen: list[dict], kind: str) -> None:
    """Overwrite the payload of each chosen packet in ``path`` with zeros: all of a
    picture packet; an AC3 packet after its sync word and first CRC (4 bytes), so that its
    header says an invalid frame. Nothing else of the file changes."""
    data = bytearray(path.read_bytes())
    for packet in chosen:
        payload, pos = packet["data"], packet["pos"]
        if data[pos : pos + len(payload)] != payload:  # pos may point at a chunk header
            pos = data.find(payload, max(pos - 64, 0))
        assert pos >= 0 and data[pos : pos + len(payload)] == payload, "packet not found"
        keep = 0 if kind == "video" else 4
        data[pos + keep : pos + len(payload)] = bytes(len(payload) - keep)
    path.write_bytes(bytes(data))


def _damage(path: Path, kind: str, where: str) -> dict:
    found = packets(path, kind)
    if where == "end":
        chosen = [found[-1]]
    elif where == "gap":
        chosen = [p for p in found if MIDDLE - 1e-6 <= p["time"] < GAP_END - 1e-6]
    elif kind == "video":  # a picture packet that is not a keyframe, at 2.2 s or after
        chosen = [next(p for p in found if p["time"] >= MIDDLE - 1e-6 and not p["key"])]
    else:
        chosen = [next(p for p in found if p["time"] >= MIDDLE - 1e-6)]
    damage_packets(path, chosen, kind)
    return {
        "stream": kind,
        "packets": len(chosen),
        "start": chosen[0]["time"],
        "end": chosen[-1]["time"] + chosen[-1]["duration"],
        "last_packet": found[-1]["time"] + found[-1]["duration"],
    }


def write_real_world_folder(root: Path) -> list[dict]:
    """Write one small file per format of :data:`FORMATS` and the damaged files of
    :data:`DAMAGED` under ``root``; one entry per format and damaged file, in that order:
    ``video_id``, ``path`` (relative to ``root``; ``None`` where it was skipped),
    ``format``, ``skipped`` (the encoders it lacked: ``[]`` where written), ``seconds``,
    ``audio`` (whether it has a sound track) and, for a damaged file, ``damage``: the
    stream, the number of packets damaged, the first one's time and the last one's end
    (``start``, ``end``) and where the stream's last packet ends (``last_packet``)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    entries: list[dict] = []
    for name, (filename, encoders, options, seconds, rate) in FORMATS.items():
        binary, missing = ffmpeg_with(encoders)
        entry = {"video_id": name, "path": None, "format": name, "skipped": missing}
        entry.update(seconds=seconds, audio=rate is not None)
        if binary is not None:
            _write(binary, root / filename, options, seconds, rate)
            entry["path"] = filename
        entries.append(entry)
    filename, encoders, options, _, rate = FORMATS["avi_mpeg4_ac3"]
    binary, missing = ffmpeg_with(encoders)
    base = root / "damaged-base.avi"
    if binary is not None:
        _write(binary, base, options, DAMAGED_SECONDS, rate)
    for name, (kind, where) in DAMAGED.items():
        entry = {"video_id": name, "path": None, "format": "avi_mpeg4_ac3", "skipped": missing}
        entry.update(seconds=DAMAGED_SECONDS, audio=True)
        if binary is not None:
            target = root / f"{name}.avi"
            shutil.copyfile(base, target)
            entry["damage"] = _damage(target, kind, where)
            entry["path"] = target.name
        entries.append(entry)
    base.unlink(missing_ok=True)
    return entries


if __name__ == "__main__":  # pragma: no cover - a manual check: python -m tests.real_world_files
    import sys
    import tempfile

    began = time.perf_counter()
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    for written in write_real_world_folder(folder):
        print(written["video_id"], written["path"], written["skipped"], written.get("damage"))
    print(f"{time.perf_counter() - began:.1f} s -> {folder}")
