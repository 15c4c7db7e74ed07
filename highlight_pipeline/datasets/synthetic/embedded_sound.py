"""The embedded recipe's sound: an ambience per scene, distractor tones and bangs, and the
category's event sound during highlights, added to the ambience, which goes on unchanged
(docs/synthetic.md, "Generative model").
"""

from __future__ import annotations

import numpy as np

from highlight_pipeline.datasets.synthetic.spec import SynthSpec, VideoPlan


def _band_noise(rng: np.random.Generator, n: int, rate: int, low: float, high: float) -> np.ndarray:
    """White noise shaped to ``[low, high]`` Hz with soft edges, unit variance."""
    spectrum = np.fft.rfft(rng.normal(size=n))
    freqs = np.fft.rfftfreq(n, 1 / rate)
    spectrum *= 1 / (1 + ((freqs - np.clip(freqs, low, high)) / 200.0) ** 2)
    out = np.fft.irfft(spectrum, n)
    return out / (np.std(out) + 1e-9)


def _ambience(rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """One scene's background: band noise with random band, hum or rumble, random level."""
    kind = int(rng.integers(3))
    t = np.arange(n) / rate
    if kind == 0:  # band-limited noise anywhere in the spectrum
        centre = float(np.exp(rng.uniform(np.log(150), np.log(6000))))
        width = float(rng.uniform(0.2, 1.0)) * centre
        sound = _band_noise(rng, n, rate, max(20.0, centre - width), min(rate / 2, centre + width))
    elif kind == 1:  # hum: a low tone with harmonics plus a little broadband noise
        f0 = float(rng.uniform(50, 400))
        sound = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in (1, 2, 3)) + 0.3 * rng.normal(
            size=n
        )
    else:  # amplitude-modulated broadband noise (crowd-like)
        sound = _band_noise(rng, n, rate, 100, rate / 2) * (
            1 + 0.8 * np.sin(2 * np.pi * rng.uniform(0.3, 3) * t)
        )
    return 10 ** (rng.uniform(-30, -18) / 20) * sound / (np.std(sound) + 1e-9)


def event_sound(category: int, n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """The category's characteristic sound, ``n`` samples long."""
    t = np.arange(n) / rate
    if category == 0:  # pulsed 660 Hz tone with its octave, 4 pulses per second
        gate = (np.sin(2 * np.pi * 4 * t) > 0).astype(np.float64)
        return gate * (np.sin(2 * np.pi * 660 * t) + 0.5 * np.sin(2 * np.pi * 1320 * t))
    if category == 1:  # rising chirp 500 -> 2500 Hz every 0.5 s
        phase_t = t % 0.5
        return np.sin(2 * np.pi * (500 * phase_t + 2000 * phase_t**2))
    if category == 2:  # noise bursts band-limited to 3-4 kHz
        burst = _band_noise(rng, n, rate, 3000, 4000)
        return burst * (np.sin(2 * np.pi * 3 * t) > -0.3)
    if category == 3:  # alternating 880 / 1320 Hz
        f = np.where((t % 0.5) < 0.25, 880, 1320)
        return np.sin(2 * np.pi * np.cumsum(f) / rate)
    if category == 4:  # 150 Hz square-wave buzz
        return np.sign(np.sin(2 * np.pi * 150 * t)) * 0.6
    return np.sin(2 * np.pi * 440 * t) * np.sin(2 * np.pi * 6 * t)  # tremolo 440 Hz


def render_audio(spec: SynthSpec, plan: VideoPlan, rng: np.random.Generator) -> np.ndarray:
    rate = plan.sample_rate
    n = int(plan.duration * rate)
    audio = np.zeros(n)
    t = 0.0
    while t < plan.duration:  # background noise scenes
        length = float(rng.uniform(3, 8))
        a, b = int(t * rate), min(n, int((t + length) * rate))
        if b > a:
            audio[a:b] += _ambience(rng, b - a, rate)
        t += length
    for _ in range(int(rng.integers(2, 6))):  # distractor tones, sometimes loud
        start, length = rng.uniform(0, plan.duration), rng.uniform(0.5, 2.0)
        a, b = int(start * rate), min(n, int((start + length) * rate))
        if b > a:
            tt = np.arange(b - a) / rate
            level = 10 ** (rng.uniform(-16, -4) / 20)
            audio[a:b] += level * np.sin(2 * np.pi * rng.uniform(200, 4000) * tt)
    for _ in range(int(rng.integers(1, 4))):  # bangs (a door, a clap): loud, short, broadband
        a = int(rng.uniform(0, plan.duration) * rate)
        b = min(n, a + int(0.4 * rate))
        if b > a:
            decay = np.exp(-np.arange(b - a) / (0.06 * rate))
            audio[a:b] += 10 ** (rng.uniform(-10, -2) / 20) * decay * rng.normal(size=b - a)
    gain = 10 ** (rng.uniform(-10, 6) / 20)  # the recording level differs per video
    for s, e in plan.highlights:  # the event sounds over the ambience, which goes on
        a, b = int(s * rate), min(n, int(e * rate))
        level = 10 ** (rng.uniform(-12, -8) / 20)
        audio[a:b] += level * event_sound(plan.category, b - a, rate, rng)
    return np.clip(gain * audio, -1, 1).astype(np.float32)
