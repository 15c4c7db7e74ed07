"""The holdout recipe's sound: a coloured noise floor with a slow drift, each event's sound
confined to its highlight, and loud distractor sounds (docs/synthetic.md, "The holdout
dataset"). Levels are loudness: RMS over a sound's active part (its samples above 5 % of
its peak).

Event sound only adds to the noise: the noise never ducks. Nothing here is shared with the
embedded recipe's sound (:mod:`.embedded_sound`): the holdout data are made another way on
purpose.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import fft

from highlight_pipeline.datasets.synthetic.holdout_plan import SALT, HoldoutVideo, Occurrence, _u

# start (s), samples, pan (-1 left .. 1 right; a number or per sample), loudness (dBFS RMS
# over the sound's active part: its samples above 5 % of its peak)
Part = tuple[float, np.ndarray, Any, float]


def _spectral(x: np.ndarray, rate: int, gain: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``x`` filtered by the amplitude response ``gain(frequency in Hz)`` (zero phase, FFT)."""
    n = x.shape[-1]
    return fft.irfft(fft.rfft(x) * gain(fft.rfftfreq(n, 1 / rate)), n)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / (np.abs(x).max() + 1e-12)


def _noise_gain(colour: str, rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    if colour == "pink":
        return lambda f: 1 / np.sqrt(np.maximum(f, 20.0))
    if colour == "brown":
        return lambda f: 1 / np.maximum(f, 20.0)
    if colour == "band":
        centre, octaves = math.exp(_u(rng, math.log(200), math.log(5000))), _u(rng, 0.5, 2.0)
        return lambda f: np.exp(-0.5 * (np.log2(np.maximum(f, 1.0) / centre) / octaves) ** 2)
    return np.ones_like


def _background_noise(video: HoldoutVideo, rng: np.random.Generator, n: int) -> np.ndarray:
    """The video's noise floor: one colour and level throughout, with a slow level drift."""
    rate = video.sample_rate
    gain = _noise_gain(video.noise, rng)
    common = _spectral(rng.standard_normal(n), rate, gain)
    if video.channels == 2 and not video.dual_mono:
        corr = _u(rng, 0.3, 0.9)
        sides = [_spectral(rng.standard_normal(n), rate, gain) for _ in range(2)]
        chans = np.stack([math.sqrt(corr) * common + math.sqrt(1 - corr) * s for s in sides])
    else:
        chans = common[None]
    chans /= chans.std(axis=1, keepdims=True) + 1e-12
    t = np.arange(n) / rate
    drift = sum(
        _u(rng, 0.3, 1.0) * np.sin(2 * math.pi * t / _u(rng, 7, 25) + _u(rng, 0, 6.3))
        for _ in range(2)
    )
    return chans * 10 ** ((video.noise_dbfs + drift) / 20)


def _times(seconds: float, rate: int) -> np.ndarray:
    return np.arange(max(1, int(seconds * rate))) / rate


def _saw(phase: np.ndarray, top_hz: float, rate: int, harmonics: int) -> np.ndarray:
    """Band-limited sawtooth-like wave: the first harmonics of ``phase`` below Nyquist."""
    count = max(1, min(harmonics, int(rate / 2.2 / max(top_hz, 1.0))))
    return sum(np.sin(h * phase) / h for h in range(1, count + 1))


def _sound_burst(occ: Occurrence, rate: int, rng: np.random.Generator) -> list[Part]:
    """A rising whistle, then the bang (pitch-gliding boom and crack) and a crackle tail."""
    p = occ.params
    rise = p["burst"] - occ.start
    t = _times(rise, rate)
    whistle = np.sin(2 * math.pi * np.cumsum(900 + 1600 * t / rise) / rate) * (t / rise)
    t = _times(1.8, rate)
    n = t.size
    f = p["boom_hz"] * (1 + 0.6 * np.exp(-t / 0.06))
    boom = np.sin(2 * math.pi * np.cumsum(f) / rate) * np.exp(-t / p["boom_decay"])
    crack = _spectral(rng.standard_normal(n), rate, lambda fr: 1 / (1 + (fr / 2500) ** 2))
    crack = _unit(crack * np.exp(-t / 0.035))
    clicks = int(rng.poisson(p["crackle_rate"] * 1.2))
    at = rng.uniform(0.15, 1.35, clicks)
    impulses = np.zeros(n)
    amp = rng.uniform(0.3, 1, clicks) * np.exp(-(at - 0.15) / 0.7) * rng.choice([-1, 1], clicks)
    np.add.at(impulses, np.minimum((at * rate).astype(int), n - 1), amp)
    k = max(8, int(0.004 * rate))
    kernel = _spectral(rng.standard_normal(k), rate, lambda fr: (fr > 2000).astype(float))
    crackle = np.convolve(impulses, kernel * np.hanning(k))[:n]
    bang = _unit(boom) + 0.8 * crack + p["crackle_level"] * _unit(crackle)
    return [
        (occ.start, _unit(whistle), p["pan"], p["gain_db"] - 14),
        (p["burst"] + p["delay"], _unit(bang), p["pan"], p["gain_db"]),
    ]


def _sound_car(occ: Occurrence, rate: int, rng: np.random.Generator) -> list[Part]:
    """Engine harmonics and combustion rumble rising in pitch, loudest as the car passes."""
    p = occ.params
    pad = 0.3
    length = occ.end - occ.start + 2 * pad
    t = _times(length, rate)
    f = p["f0"] * p["rise"] ** (t / length)
    phase = 2 * math.pi * np.cumsum(f) / rate
    harmonics = _unit(_saw(phase, float(f.max()), rate, 8))
    rumble = _spectral(rng.standard_normal(t.size), rate, lambda fr: 1 / (1 + (fr / 800) ** 2))
    rumble = _unit(rumble) * (0.6 + 0.4 * np.sin(phase))
    wave = np.tanh(1.8 * (harmonics + 0.5 * rumble))
    envelope = np.exp(-(((t - length / 2) / (0.3 * length)) ** 2))
    pan = 0.9 * p["direction"] * np.clip((t - length / 2) / (length / 2), -1, 1)
    return [(occ.start - pad, _unit(wave * envelope), pan, p["gain_db"])]


def _sound_show(occ: Occurrence, rate: int, rng: np.random.Generator) -> list[Part]:
    """The crowd's cheer: broadband voices with vowel-like formants, swelling and waving."""
    p = occ.params
    length = occ.end - occ.start
    t = _times(length, rate)

    def formants(fr: np.ndarray) -> np.ndarray:
        bands = sum(
            np.exp(-0.5 * ((fr - c) / w) ** 2)
            for c, w in ((550, 200), (1100, 300), (2400, 500), (3300, 600))
        )
        return 0.3 * ((fr > 250) & (fr < 6000)) + bands

    cheer = _spectral(rng.standard_normal(t.size), rate, formants)
    wave = 1 + sum(
        0.15 * np.sin(2 * math.pi * _u(rng, 0.5, 3.0) * t + _u(rng, 0, 6.3)) for _ in range(3)
    )
    envelope = np.minimum(1, t / 0.4) * np.minimum(1, (length - t) / 0.3)
    return [(occ.start, _unit(cheer * wave * envelope), 0.0, p["cheer_db"])]


def _sound_chord(occ: Occurrence, rate: int, rng: np.random.Generator) -> list[Part]:
    """A loud, distorted chord struck once (root, third, fifth, octave, slightly detuned)."""
    p = occ.params
    t = _times(min(occ.end - occ.start, 4 * p["decay"]), rate)
    wave = np.zeros(t.size)
    for ratio in (1, p["third"], 1.5, 2):
        for detune in (0.997, 1.003):
            f = p["root"] * ratio * detune
            wave += _saw(2 * math.pi * f * t + _u(rng, 0, 6.3), f, rate, 6)
    envelope = np.minimum(1, t / 0.008) * np.exp(-t / p["decay"])
    return [(occ.start, _unit(np.tanh(2.5 * _unit(wave)) * envelope), p["pan"], p["gain_db"])]


def _sound_goal(occ: Occurrence, rate: int, rng: np.random.Generator) -> list[Part]:
    """Crowd murmur surging to a roar at the goal, the kick, the referee's pea whistle."""
    p = occ.params
    length = occ.end - occ.start
    t = _times(length, rate)
    roar = _spectral(
        rng.standard_normal(t.size),
        rate,
        lambda fr: np.exp(-0.5 * (np.log2(np.maximum(fr, 1.0) / 900) / 1.2) ** 2),
    )
    goal = p["goal_time"] - occ.start
    build = 0.25 + 0.15 * np.clip(t / max(goal, 1e-3), 0, 1)
    surge = np.where(t >= goal, 0.75 * (1 - np.exp(-np.maximum(t - goal, 0) / 0.25)), 0.0)
    sway = 1 + 0.15 * np.sin(2 * math.pi * _u(rng, 0.4, 1.0) * t + _u(rng, 0, 6.3))
    envelope = (build + surge) * sway * np.minimum(1, t / 0.2) * np.minimum(1, (length - t) / 0.3)
    parts: list[Part] = [(occ.start, _unit(roar * envelope), 0.0, p["roar_db"])]
    tk = _times(0.2, rate)
    kick = _spectral(rng.standard_normal(tk.size), rate, lambda fr: 1 / (1 + (fr / 300) ** 2))
    kick = _unit(kick) * np.exp(-tk / 0.03) + np.sin(2 * math.pi * 110 * tk) * np.exp(-tk / 0.06)
    parts.append((p["shot_time"], _unit(kick), 0.0, p["kick_db"]))
    for a, b in p["whistle"]:
        tw = _times(b - a, rate)
        trill = np.sin(2 * math.pi * p["trill_hz"] * tw)
        phase = 2 * math.pi * np.cumsum(p["whistle_hz"] * (1 + 0.035 * trill)) / rate
        tone = (np.sin(phase) + 0.3 * np.sin(2 * phase)) * (0.65 + 0.35 * trill)
        breath = _spectral(rng.standard_normal(tw.size), rate, lambda fr: (fr > 4000) * 1.0)
        fade = np.minimum(1, np.minimum(tw, (b - a) - tw) / 0.015)
        parts.append((a, _unit((tone + 0.1 * _unit(breath)) * fade), 0.2, p["whistle_db"]))
    return parts


def _sound_slam(occ: Occurrence, rate: int, rng: np.random.Generator) -> list[Part]:
    """A door slam: a low thump, the door's resonance and a click."""
    p = occ.params
    t = _times(occ.end - occ.start, rate)
    thump = _spectral(rng.standard_normal(t.size), rate, lambda fr: 1 / (1 + (fr / 250) ** 4))
    body = np.sin(2 * math.pi * p["f0"] / 2 * t) * np.exp(-t / 0.15)
    click = rng.standard_normal(t.size) * np.exp(-t / 0.004)
    wave = _unit(thump) * np.exp(-t / 0.06) + 0.7 * body + 0.5 * _unit(click)
    return [(occ.start, _unit(wave), p["pan"], p["gain_db"])]


def _sound_shout(occ: Occurrence, rate: int, rng: np.random.Generator) -> list[Part]:
    """A shout: a glottal buzz with vibrato through three vowel formants, 1-3 syllables."""
    p = occ.params
    n_syl = p["syllables"]
    seg = (occ.end - occ.start) / n_syl
    t = _times(0.85 * seg, rate)
    contour = 1 + 0.25 * np.sin(math.pi * t / t[-1]) + 0.05 * np.sin(2 * math.pi * 5.5 * t)
    f = p["f0"] * contour
    voiced = _saw(2 * math.pi * np.cumsum(f) / rate, float(f.max()), rate, 25)
    source = voiced + 0.3 * rng.standard_normal(t.size)

    def vowel(fr: np.ndarray) -> np.ndarray:
        return sum(
            np.exp(-0.5 * ((fr - c) / w) ** 2) / (k + 1)
            for k, (c, w) in enumerate(zip(p["formants"], (90, 130, 180), strict=True))
        )

    syllable = (
        _spectral(source, rate, vowel) * np.minimum(1, t / 0.03) * np.minimum(1, (t[-1] - t) / 0.08)
    )
    return [(occ.start + k * seg, _unit(syllable), p["pan"], p["gain_db"]) for k in range(n_syl)]


def _sound_gust(occ: Occurrence, rate: int, rng: np.random.Generator) -> list[Part]:
    """A wind gust: deep rumbling noise swelling and fading, with flutter."""
    p = occ.params
    length = occ.end - occ.start
    t = _times(length, rate)
    wind = _spectral(rng.standard_normal(t.size), rate, lambda fr: 1 / np.maximum(fr, 30) ** 1.2)
    wind *= 1 - (fr := _u(rng, 0.2, 0.4)) + fr * np.sin(2 * math.pi * _u(rng, 1, 3) * t)
    envelope = np.sin(math.pi * t / length) ** 2
    return [(occ.start, _unit(wind * envelope), p["pan"], p["gain_db"])]


def _sound_horn(occ: Occurrence, rate: int, rng: np.random.Generator) -> list[Part]:
    """A horn passing by: two square-ish tones whose pitch drops (Doppler) as it passes."""
    p = occ.params
    length = occ.end - occ.start
    t = _times(length, rate)
    doppler = 1 - 0.04 * np.tanh((t - length / 2) / (0.15 * length))
    wave = sum(
        np.tanh(3 * np.sin(2 * math.pi * np.cumsum(p["horn_hz"] * ratio * doppler) / rate))
        for ratio in (1.0, 1.26)
    )
    envelope = np.exp(-(((t - length / 2) / (0.35 * length)) ** 2))
    envelope *= np.minimum(1, np.minimum(t, length - t) / 0.02)
    pan = np.clip(p["pan"] * (2 * t / length - 1) * 1.5, -1, 1)
    return [(occ.start, _unit(wave * envelope), pan, p["gain_db"])]


EVENT_SOUNDS: dict[str, Callable[[Occurrence, int, np.random.Generator], list[Part]]] = {
    "burst": _sound_burst,
    "car": _sound_car,
    "show": _sound_show,
    "chord": _sound_chord,
    "goal": _sound_goal,
    "slam": _sound_slam,
    "shout": _sound_shout,
    "gust": _sound_gust,
    "horn": _sound_horn,
}


def _mix(buffer: np.ndarray, rate: int, part: Part) -> None:
    """Add one sound at its time, level and (possibly moving) stereo position."""
    t0, wave, pan, gain_db = part
    start = int(round(t0 * rate))
    a, b = max(0, start), min(buffer.shape[1], start + wave.size)
    if b <= a:
        return
    peak = np.abs(wave).max()
    active = wave[np.abs(wave) > 0.05 * peak]
    level = 10 ** (gain_db / 20) / (np.sqrt(np.mean(active**2)) + 1e-12) if peak > 0 else 0.0
    seg = wave[a - start : b - start] * level
    if buffer.shape[0] == 1:
        buffer[0, a:b] += seg
        return
    pan = np.asarray(pan)[a - start : b - start] if np.ndim(pan) else pan
    angle = (np.clip(pan, -1, 1) + 1) * math.pi / 4  # equal power
    buffer[0, a:b] += seg * np.cos(angle)
    buffer[1, a:b] += seg * np.sin(angle)


def _inside(highlights: list[tuple[float, float]], n: int, rate: int) -> np.ndarray:
    """1 inside the highlights (15 ms fades at their edges), 0 elsewhere."""
    window = np.zeros(n)
    fade = max(1, int(0.015 * rate))
    for s, e in highlights:
        a, b = int(round(s * rate)), min(n, int(round(e * rate)))
        k = np.arange(b - a)
        window[a:b] = np.minimum(1, np.minimum(k + 1, b - a - k) / fade)
    return window


def audio_samples(video: HoldoutVideo) -> int:
    """Samples of the sound track: the duration's, except that AAC (which decodes whole
    1024-sample frames) gets the nearest whole number of frames, so that the decoded sound
    is within half an AAC frame of the duration rather than up to a whole frame over it."""
    n = int(round(video.duration * video.sample_rate))
    if video.audio_codec == "aac":
        n = max(1, int(round(n / 1024))) * 1024
    return n


def render_sound(video: HoldoutVideo) -> np.ndarray:
    """The video's sound, ``[channels, samples]`` float32: noise + events + distractors.

    Event sounds are confined to the highlights; nothing about the noise depends on them.
    The whole track is scaled down (once, uniformly) if it would clip.
    """
    rate = video.sample_rate
    rng = np.random.default_rng([video.seed, video.category, video.index, SALT, 3])
    n = audio_samples(video)
    noise = _background_noise(video, rng, n)
    events = np.zeros_like(noise)
    for occ in video.events:
        for part in EVENT_SOUNDS[occ.kind](occ, rate, np.random.default_rng(occ.params["seed"])):
            _mix(events, rate, part)
    events *= _inside(video.highlights, n, rate)
    distractors = np.zeros_like(noise)
    for occ in video.sound_distractors:
        for part in EVENT_SOUNDS[occ.kind](occ, rate, np.random.default_rng(occ.params["seed"])):
            _mix(distractors, rate, part)
    out = noise + events + distractors
    peak = float(np.abs(out).max())
    if peak > 0.98:
        out *= 0.98 / peak
    if video.dual_mono:
        out = np.repeat(out, 2, axis=0)
    return out.astype(np.float32)
