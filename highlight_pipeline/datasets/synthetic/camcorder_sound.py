"""The camcorder recipe's sound: room tone and hum, the events, the loud non-event sounds.

Every source is rendered dry and mono, set to its planned loudness (the RMS of its loudest
0.4 s, one measure for events and distractors alike), panned (stereo videos) and summed
into one of two buses, events and distractors; each bus goes through the room's
reverberation (an exponentially decaying noise response, per channel). The events'
reverberation is faded out within 0.3 s of its highlight's end, so an event is heard
inside its highlight only. The room tone and the hum never change with the highlights. A
track that would clip is scaled down once, as a whole.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import signal

from highlight_pipeline.datasets.synthetic.camcorder_plan import CamcorderVideo, Cue

TAIL = 0.3  # s: an event's reverberation fades out this long after its highlight's end
LOUDNESS_WINDOW = 0.4  # s: a source's level is the RMS of its loudest 0.4 s


def sound_samples(video: CamcorderVideo) -> int:
    """The track's length: the duration in whole samples."""
    return int(round(video.duration * video.sample_rate))


def render_sound(video: CamcorderVideo) -> np.ndarray:
    """The whole track, float32 ``[channels, samples]`` in [-1, 1]."""
    rate, n, ch = video.sample_rate, sound_samples(video), video.channels
    bed = _room_tone(video, n)
    events = np.zeros((ch, n))
    for cue in video.events:
        _add(events, EVENT_SOUNDS[cue.kind](cue, rate), cue, rate)
    noises = np.zeros((ch, n))
    for cue in video.noises:
        _add(noises, DISTRACTOR_SOUNDS[cue.kind](cue, rate), cue, rate)
    impulse = _room_response(video)
    events = _reverberate(events, impulse, video.room["wet"])
    t = np.arange(n) / rate
    keep = np.zeros(n)
    for s, e in video.highlights:
        inside = (t >= s) & (t < e)
        after = (t >= e) & (t < e + TAIL)
        keep[inside] = 1.0
        keep[after] = 0.5 + 0.5 * np.cos(np.pi * (t[after] - e) / TAIL)
    mix = bed + events * keep + _reverberate(noises, impulse, video.room["wet"])
    peak = float(np.abs(mix).max()) if mix.size else 0.0
    if peak > 0.95:
        mix *= 0.95 / peak
    return mix.astype(np.float32)


def _add(bus: np.ndarray, dry: np.ndarray, cue: Cue, rate: int) -> None:
    """Set ``dry`` (mono, starting at the cue's start) to the cue's level, pan it, add it."""
    start = int(round(cue.start * rate))
    dry = dry[: max(0, min(dry.size, int(round(cue.end * rate)) - start, bus.shape[1] - start))]
    if not dry.size:
        return
    dry = dry * (10 ** (cue.params["level_db"] / 20) / max(_loudness(dry, rate), 1e-9))
    if bus.shape[0] == 1:
        bus[0, start : start + dry.size] += dry
        return
    angle = (cue.params["pan"] + 1) * math.pi / 4
    bus[0, start : start + dry.size] += math.cos(angle) * math.sqrt(2) * dry
    bus[1, start : start + dry.size] += math.sin(angle) * math.sqrt(2) * dry


def _loudness(x: np.ndarray, rate: int) -> float:
    """Short-term loudness: the RMS of the loudest ``LOUDNESS_WINDOW`` of ``x`` (all of it
    if shorter), the same measure for events and distractors."""
    n = int(LOUDNESS_WINDOW * rate)
    power = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) ** 2)])
    if x.size <= n:
        return float(np.sqrt(power[-1] / max(x.size, 1)))
    return float(np.sqrt(np.max(power[n:] - power[:-n]) / n))


# ------------------------------------------------------------------------ building blocks


def _band(x: np.ndarray, low: float | None, high: float | None, rate: int, order: int = 2):
    """Butterworth low-, high- or band-pass (``None`` leaves that side open)."""
    nyquist = rate / 2
    high = None if high is None or high >= 0.95 * nyquist else high
    if low is not None and high is not None:
        sos = signal.butter(order, [low, high], btype="bandpass", fs=rate, output="sos")
    elif low is not None:
        sos = signal.butter(order, low, btype="highpass", fs=rate, output="sos")
    elif high is not None:
        sos = signal.butter(order, high, btype="lowpass", fs=rate, output="sos")
    else:
        return x
    return signal.sosfilt(sos, x)


def _ring(rate: int, hz: float, decay: float, length: float | None = None) -> np.ndarray:
    """A damped sine: ``hz``, amplitude e^(-t / decay), for 6 decays (or ``length`` s)."""
    t = np.arange(int(rate * (length or 6 * decay))) / rate
    hz = min(hz, 0.45 * rate)
    return np.sin(2 * np.pi * hz * t) * np.exp(-t / decay)


def _put(track: np.ndarray, piece: np.ndarray, at: float, rate: int, gain: float = 1.0) -> None:
    i = int(round(at * rate))
    if i >= track.size or i < 0:
        return
    m = min(piece.size, track.size - i)
    track[i : i + m] += gain * piece[:m]


def _unit(x: np.ndarray) -> np.ndarray:
    """``x`` over its standard deviation."""
    return x / max(float(np.std(x)), 1e-12)


def _swell(n: int, rate: int, attack: float, release: float) -> np.ndarray:
    """Raised-cosine attack and release over ``n`` samples."""
    t = np.arange(n) / rate
    total = n / rate
    env = np.ones(n)
    a = t < attack
    env[a] = 0.5 - 0.5 * np.cos(np.pi * t[a] / attack)
    r = t > total - release
    env[r] = np.minimum(env[r], 0.5 - 0.5 * np.cos(np.pi * (total - t[r]) / release))
    return env


# -------------------------------------------------------------------------------- events


def _bowling(cue: Cue, rate: int) -> np.ndarray:
    p, rng = cue.params, np.random.default_rng(cue.params["seed"])
    track = np.zeros(int((cue.end - cue.start) * rate) + 1)
    release, hit = p["release"] - cue.start, p["hit"] - cue.start
    # rolling: a low rumble growing as the ball nears, thumping once a turn
    n = int((hit - release) * rate)
    t = np.arange(n) / rate
    rumble = _band(rng.normal(size=n), 30, p["rumble_hz"], rate, 3)
    rumble *= (0.3 + 0.7 * t / max(t[-1], 1e-6)) * (1 + 0.4 * np.sin(2 * np.pi * p["spin_hz"] * t))
    rumble /= max(np.abs(rumble).max(), 1e-9)
    _put(track, rumble, release, rate, 0.35)
    for k in range(int((hit - release) * p["spin_hz"])):
        _put(track, _ring(rate, 60, 0.03), release + k / p["spin_hz"], rate, 0.15)
    # the hit: a thud, then pins knocking each other and the deck
    _put(track, _ring(rate, 110, 0.06), hit, rate, 0.9)
    _put(track, _band(rng.normal(size=int(0.02 * rate)), 1500, None, rate), hit, rate, 0.5)
    for _ in range(2 * p["knocked"]):
        at = hit + min(float(rng.exponential(0.12)), 0.9)
        gain = rng.uniform(0.3, 1.0) * math.exp(-(at - hit) / 0.6)
        for mode, decay in ((1.0, 0.045), (2.3, 0.025), (3.9, 0.015)):
            hz = p["pin_hz"] * mode * rng.uniform(0.95, 1.05)
            _put(track, _ring(rate, hz, decay), at, rate, gain / mode)
    for _ in range(int(rng.integers(4, 10))):  # pins rattling in the pit
        at = hit + rng.uniform(0.6, max(0.7, cue.end - cue.start - hit - 0.2))
        _put(track, _ring(rate, p["pin_hz"] * rng.uniform(0.5, 0.9), 0.02), at, rate, 0.15)
    return track


def _diving(cue: Cue, rate: int) -> np.ndarray:
    p, rng = cue.params, np.random.default_rng(cue.params["seed"])
    track = np.zeros(int((cue.end - cue.start) * rate) + 1)
    takeoff, entry = p["takeoff"] - cue.start, p["entry"] - cue.start
    # the board: a thud and its wobble at each bounce and at the take-off
    for k in range(3):
        at = takeoff - 0.45 * (2 - k)
        if at >= 0:
            board = _ring(rate, p["board_hz"], 0.12) + 0.3 * _ring(
                rate, 2.7 * p["board_hz"], 0.04, 0.72
            )
            _put(track, board, at, rate, 0.35 + 0.3 * k)
    # the splash: a sharp broadband burst over a low plunge
    n = int(0.9 * rate)
    t = np.arange(n) / rate
    burst = _band(rng.normal(size=n), 250, 6000, rate) * np.exp(-t / rng.uniform(0.12, 0.25))
    burst *= np.minimum(1.0, t / 0.005) * (
        1 + 0.3 * _unit(_band(rng.normal(size=n), None, 30, rate))
    )
    plunge = np.sin(2 * np.pi * np.cumsum(90 - 40 * t / t[-1]) / rate) * np.exp(-t / 0.1)
    _put(track, burst / max(np.abs(burst).max(), 1e-9) + 0.6 * plunge, entry, rate)
    # bubbles rising, drops falling back
    for _ in range(int(rng.integers(20, 50))):
        length = rng.uniform(0.015, 0.04)
        m = int(length * rate)
        f0 = rng.uniform(400, 1400)
        chirp = np.sin(2 * np.pi * np.cumsum(f0 * (1 + 0.3 * np.arange(m) / m)) / rate)
        _put(
            track,
            chirp * np.hanning(m),
            entry + rng.uniform(0.1, 1.2),
            rate,
            rng.uniform(0.05, 0.2),
        )
    drop = _band(rng.normal(size=int(0.004 * rate)), 2500, None, rate)
    for _ in range(int(rng.integers(15, 40))):
        _put(track, drop, entry + rng.uniform(0.3, 1.1), rate, rng.uniform(0.05, 0.25))
    return track


def _flambe(cue: Cue, rate: int) -> np.ndarray:
    p, rng = cue.params, np.random.default_rng(cue.params["seed"])
    length = cue.end - cue.start
    track = np.zeros(int(length * rate) + 1)
    ignite = p["ignite"] - cue.start
    # the pan shaken on the hob: a scraping hiss at the shaking rate
    n = int(ignite * rate)
    t = np.arange(n) / rate
    scrape = _band(rng.normal(size=n), 3000, 8000, rate)
    scrape *= 0.5 + 0.5 * np.abs(np.sin(np.pi * p["shake_hz"] * t))
    _put(track, scrape / max(np.abs(scrape).max(), 1e-9), 0.0, rate, 0.12)
    # ignition: a low whoomp
    n = int(0.8 * rate)
    t = np.arange(n) / rate
    whoomp = _band(rng.normal(size=n), None, 300, rate, 3) * np.minimum(1, t / 0.015)
    whoomp *= np.exp(-t / 0.25)
    _put(track, whoomp / max(np.abs(whoomp).max(), 1e-9), ignite, rate, 1.0)
    # the roar, flickering, following the flame's size; crackle on top
    n = int((length - ignite) * rate)
    t = np.arange(n) / rate
    size = np.minimum(1, t / 0.15) * np.exp(-np.maximum(0, t - 0.4) / max(0.5, 0.5 * t[-1]))
    flicker = 1 + 0.35 * np.sin(2 * np.pi * p["flicker_hz"] * t) * np.sin(2 * np.pi * 1.7 * t)
    roar = _band(rng.normal(size=n), *p["roar_hz"], rate) * size * flicker
    _put(track, roar / max(np.abs(roar).max(), 1e-9), ignite, rate, 0.55)
    click = _band(rng.normal(size=int(0.003 * rate)), 4000, None, rate)
    for at in np.cumsum(rng.exponential(1 / 15, size=int(15 * (length - ignite)))):
        if at < length - ignite:
            _put(track, click, ignite + at, rate, rng.uniform(0.1, 0.5) * size[int(at * rate)])
    return track


EVENT_SOUNDS: dict[str, Callable[[Cue, int], np.ndarray]] = {
    "bowling": _bowling,
    "diving": _diving,
    "flambe": _flambe,
}


# --------------------------------------------------------------------------- distractors


def _crowd(cue: Cue, rate: int) -> np.ndarray:
    """Many voices: broadband noise with a few broad vocal peaks, swelling and ebbing."""
    rng = np.random.default_rng(cue.params["seed"])
    n = int((cue.end - cue.start) * rate)
    noise = rng.normal(size=n)
    voices = _band(noise, rng.uniform(250, 450), rng.uniform(2500, 4000), rate)
    for _ in range(3):
        centre = rng.uniform(400, 2500)
        voices += 0.8 * _band(noise, centre / 1.25, centre * 1.25, rate)
    surge = 1 + 0.35 * _unit(_band(rng.normal(size=n), None, 3, rate))
    env = _swell(n, rate, rng.uniform(0.2, 0.8), rng.uniform(0.4, 1.0)) * np.clip(surge, 0.3, 2)
    return voices * env


VOWELS = (
    (730, 1090, 2440),
    (270, 2290, 3010),
    (300, 870, 2240),
    (530, 1840, 2480),
    (570, 840, 2410),
)


def _babble(cue: Cue, rate: int) -> np.ndarray:
    """Speech-like: a glottal pulse train through vowel formants, syllable by syllable, with
    fricative bursts between some syllables."""
    rng = np.random.default_rng(cue.params["seed"])
    n = int((cue.end - cue.start) * rate)
    out = np.zeros(n)
    f0 = rng.uniform(90, 230)
    scale = 1.0 if f0 < 160 else 1.15  # higher voices, higher formants
    t = 0.0
    while t < n / rate - 0.1:
        length = rng.uniform(0.12, 0.3)
        m = int(length * rate)
        pitch = f0 * (1 + 0.15 * np.sin(np.pi * np.arange(m) / m) * rng.uniform(-1, 1))
        phase = np.cumsum(pitch / rate)
        pulses = np.diff(np.floor(phase), prepend=0.0)
        pulses = signal.lfilter([1.0], [1.0, -0.95], pulses)  # glottal roll-off
        voiced = np.zeros(m)
        for k, formant in enumerate(_pick_vowel(rng)):
            hz = min(formant * scale, 0.45 * rate)
            b, a = signal.iirpeak(hz, hz / (60 + 30 * k), fs=rate)
            voiced += signal.lfilter(b, a, pulses) / (1 + k)
        _put(out, voiced * np.hanning(m), t, rate)
        if rng.random() < 0.4:  # a fricative before the next syllable
            f = _band(rng.normal(size=int(0.05 * rate)), 2500, 7000, rate) * 0.3
            _put(out, f * np.hanning(f.size), t + length, rate)
        t += length + rng.uniform(0.02, 0.12)
    return out


def _pick_vowel(rng: np.random.Generator) -> tuple[int, int, int]:
    return VOWELS[int(rng.integers(len(VOWELS)))]


def _whistle(cue: Cue, rate: int) -> np.ndarray:
    """A pea whistle (trilled blasts) or a person whistling a few notes."""
    rng = np.random.default_rng(cue.params["seed"])
    n = int((cue.end - cue.start) * rate)
    out = np.zeros(n)
    if rng.random() < 0.6:
        hz, trill, depth = rng.uniform(2000, 3800), rng.uniform(18, 35), rng.uniform(0.3, 0.8)
        blasts = int(rng.integers(1, 4))
        for k in range(blasts):
            m = int(n / blasts * 0.8)
            tt = np.arange(m) / rate
            tone = np.sin(2 * np.pi * hz * tt) + 0.2 * np.sin(4 * np.pi * hz * tt)
            tone *= 1 - depth * (0.5 + 0.5 * np.sin(2 * np.pi * trill * tt))
            _put(out, tone * _swell(m, rate, 0.02, 0.05), k * n / blasts / rate, rate)
    else:
        notes = int(rng.integers(2, 5))
        m = n // notes
        for k in range(notes):
            hz = rng.uniform(900, 2000)
            glide = hz * (1 + 0.05 * np.linspace(-1, 1, m))
            tone = np.sin(2 * np.pi * np.cumsum(glide) / rate)
            _put(out, tone * _swell(m, rate, 0.03, 0.05), k * m / rate, rate)
    return out + 0.05 * _band(rng.normal(size=n), 1500, 5000, rate) * (np.abs(out) > 0.05)


def _knock(cue: Cue, rate: int) -> np.ndarray:
    """Knocks on a door or table: a few damped low resonances with a click."""
    rng = np.random.default_rng(cue.params["seed"])
    n = int((cue.end - cue.start) * rate)
    out = np.zeros(n)
    hz, decay = rng.uniform(120, 400), rng.uniform(0.03, 0.08)
    t = 0.0
    while t < n / rate - 0.1:
        knock = _ring(rate, hz * rng.uniform(0.95, 1.05), decay)
        knock[: int(0.003 * rate)] += rng.normal(size=int(0.003 * rate))
        _put(out, knock, t, rate, rng.uniform(0.6, 1.0))
        t += rng.uniform(0.12, 0.3)
    return out


def _clap(cue: Cue, rate: int) -> np.ndarray:
    """One to four people clapping."""
    rng = np.random.default_rng(cue.params["seed"])
    n = int((cue.end - cue.start) * rate)
    out = np.zeros(n)
    for _ in range(int(rng.integers(1, 5))):
        every, centre = 1 / rng.uniform(3, 6), rng.uniform(800, 2500)
        m = int(0.08 * rate)
        t = np.arange(m) / rate
        clap = _band(rng.normal(size=m), centre / 1.6, centre * 1.6, rate)
        clap *= np.minimum(1, t / 0.001) * np.exp(-t / rng.uniform(0.012, 0.025))
        at = rng.uniform(0, every)
        while at < n / rate - 0.05:
            _put(out, clap, at, rate, rng.uniform(0.7, 1.0))
            at += every * rng.uniform(0.93, 1.07)
    return out


DISTRACTOR_SOUNDS: dict[str, Callable[[Cue, int], np.ndarray]] = {
    "crowd": _crowd,
    "babble": _babble,
    "whistle": _whistle,
    "knock": _knock,
    "clap": _clap,
}


# ---------------------------------------------------------------------------------- room


def _room_tone(video: CamcorderVideo, n: int) -> np.ndarray:
    """Air-conditioning-like noise (a tilt between white and rumbling), a camcorder
    microphone's low-pass, and mains hum; partly different per channel."""
    room, rate = video.room, video.sample_rate
    rng = np.random.default_rng([room["seed"], 1])
    common = rng.normal(size=n)
    t = np.arange(n) / rate
    hum = sum(np.sin(2 * np.pi * room["hum_hz"] * k * t) / k**1.5 for k in (1, 2, 3, 5))
    hum *= 10 ** (room["hum_db"] / 20) / np.sqrt(np.mean(hum**2))
    out = np.zeros((video.channels, n))
    for ch in range(video.channels):
        white = 0.7 * common + 0.3 * rng.normal(size=n)
        low = _band(white, None, 250, rate, 1)
        tone = _band(white + room["tone_tilt"] * 8 * low, 40, 8000, rate)
        out[ch] = tone * 10 ** (room["tone_db"] / 20) / np.sqrt(np.mean(tone**2)) + hum
    return out


def _room_response(video: CamcorderVideo) -> np.ndarray:
    """An impulse response per channel: a few early reflections and a noise tail decaying
    60 dB in ``rt60`` seconds; unit energy."""
    room, rate = video.room, video.sample_rate
    rng = np.random.default_rng([room["seed"], 2])
    n = int(room["rt60"] * rate)
    t = np.arange(n) / rate
    out = np.zeros((video.channels, n))
    for ch in range(video.channels):
        tail = rng.normal(size=n) * np.exp(-6.9 * t / room["rt60"])
        tail[: int(0.01 * rate)] = 0
        for _ in range(4):
            tail[int(rng.uniform(0.004, 0.03) * rate)] += rng.uniform(0.3, 0.8) * math.sqrt(n) / 30
        out[ch] = tail / np.sqrt(np.sum(tail**2))
    return out


def _reverberate(bus: np.ndarray, impulse: np.ndarray, wet: float) -> np.ndarray:
    """``bus`` plus ``wet`` times its convolution with the room's response."""
    out = bus.copy()
    for ch in range(bus.shape[0]):
        if np.any(bus[ch]):
            out[ch] += wet * signal.fftconvolve(bus[ch], impulse[ch])[: bus.shape[1]]
    return out
