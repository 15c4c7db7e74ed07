"""Tests for features.windows and features.pooling against naive loop implementations."""

from __future__ import annotations

import numpy as np
import pytest

from highlight_pipeline.features.pooling import member_ranges, pool_windows
from highlight_pipeline.features.windows import frame_ranges, range_means, range_stds, window_grid

# ------------------------------------------------------------------------- window grid


def test_window_grid_regular():
    grid = window_grid(3.0, 1.0, 0.5)
    np.testing.assert_allclose(grid, [[0, 1], [0.5, 1.5], [1, 2], [1.5, 2.5], [2, 3]])


def test_window_grid_does_not_run_past_the_end():
    grid = window_grid(3.2, 1.0, 0.5)  # a sixth window would end at 3.5 > 3.2
    assert len(grid) == 5
    assert grid[-1, 1] <= 3.2
    np.testing.assert_allclose(grid[:, 1] - grid[:, 0], 1.0)


@pytest.mark.parametrize("duration", [0.4, 1.0])
def test_window_grid_too_short_gives_one_window(duration):
    np.testing.assert_allclose(window_grid(duration, 1.0, 0.5), [[0.0, duration]])


def test_window_grid_zero_duration_has_positive_length():
    grid = window_grid(0.0, 1.0, 0.5)
    assert grid.shape == (1, 2) and grid[0, 1] > grid[0, 0]


def test_window_grid_count_matches_loop():
    for duration in (1.01, 2.0, 7.3, 10.0):
        for window, stride in ((1.0, 0.5), (2.0, 1.0), (1.5, 0.4)):
            starts = []
            s = 0.0
            while s + window <= duration + 1e-9:
                starts.append(s)
                s = round(s + stride, 9)
            if duration <= window:  # too short: a single window from 0
                starts = [0.0]
            grid = window_grid(duration, window, stride)
            np.testing.assert_allclose(grid[:, 0], starts, atol=1e-9)


def test_frame_ranges_cover_each_window():
    grid = np.array([[0.0, 1.0], [0.5, 1.5], [1.0, 2.0]])
    lo, hi = frame_ranges(grid, rate=8, available=16)
    np.testing.assert_array_equal(lo, [0, 4, 8])
    np.testing.assert_array_equal(hi, [8, 12, 16])
    # fewer rows than the grid needs: ranges are clipped but never empty
    lo, hi = frame_ranges(grid, rate=8, available=10)
    np.testing.assert_array_equal(lo, [0, 4, 8])
    np.testing.assert_array_equal(hi, [8, 10, 10])
    assert np.all(hi > lo)


# ------------------------------------------------------------------ range means / stds


def test_range_means_and_stds_match_loops():
    rng = np.random.default_rng(0)
    rows = rng.normal(0, 1, size=(40, 7)).astype(np.float32)
    lo = rng.integers(0, 39, size=25)
    hi = lo + rng.integers(1, 10, size=25)
    hi = np.minimum(hi, 40)
    means = range_means(rows, lo, hi)
    stds = range_stds(rows, lo, hi)
    for i in range(25):
        block = rows[lo[i] : hi[i]].astype(np.float64)
        np.testing.assert_allclose(means[i], block.mean(axis=0), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(stds[i], block.std(axis=0), rtol=1e-3, atol=2e-3)
    assert means.dtype == np.float32 and stds.dtype == np.float32


def test_range_std_of_constant_block_is_zero():
    rows = np.tile(np.array([5.3, 3.14159, -13.8155], np.float32), (50, 1))
    stds = range_stds(rows, np.array([0, 10]), np.array([50, 13]))  # actual: up to 6e-4
    np.testing.assert_allclose(stds, 0.0, atol=1e-5)


def test_range_std_of_single_row_is_zero():
    rows = np.array([[1.0, 2.0], [3.0, 5.0]])
    stds = range_stds(rows, np.array([0, 1]), np.array([1, 2]))
    np.testing.assert_array_equal(stds, 0.0)


# ----------------------------------------------------------------------------- pooling


def naive_pool(windows, win_start, win_end, clip_start, clip_end):
    """A window belongs to a clip when at least half of the window overlaps the clip;
    a clip with no member takes the window whose centre is nearest the clip's centre."""
    out = []
    for cs, ce in zip(clip_start, clip_end, strict=True):
        members = []
        for j, (ws, we) in enumerate(zip(win_start, win_end, strict=True)):
            overlap = max(0.0, min(we, ce) - max(ws, cs))
            if overlap >= 0.5 * (we - ws) - 1e-9:
                members.append(j)
        if not members:
            centre = 0.5 * (cs + ce)
            distances = [
                abs(0.5 * (ws + we) - centre) for ws, we in zip(win_start, win_end, strict=True)
            ]
            members = [int(np.argmin(distances))]
        out.append(windows[members].astype(np.float64).mean(axis=0))
    return np.array(out)


def clip_table(duration, clip_seconds):
    starts = np.arange(0, duration, clip_seconds)
    return starts, np.minimum(starts + clip_seconds, duration)


def test_pool_windows_hand_example():
    # windows [0,1], [0.5,1.5], [1,2], [1.5,2.5], [2,3]; clips [0,2], [2,3]
    grid = window_grid(3.0, 1.0, 0.5)
    windows = np.arange(5, dtype=np.float32)[:, None]
    pooled = pool_windows(windows, grid[:, 0], grid[:, 1], np.array([0.0, 2.0]), np.array([2, 3.0]))
    # clip 0: windows 0, 1, 2 and window 3 (exactly half inside) -> mean 1.5
    # clip 1: window 3 (half inside), window 4 -> mean 3.5
    np.testing.assert_allclose(pooled[:, 0], [1.5, 3.5])


@pytest.mark.parametrize("seed", range(12))
def test_pool_windows_matches_naive_on_random_grids(seed):
    rng = np.random.default_rng(seed)
    duration = float(rng.uniform(0.5, 20))
    window = float(rng.choice([0.3, 0.5, 1.0, 2.0, 3.0, 5.0]))  # may be longer than clips
    stride = float(rng.uniform(0.1, 1.0)) * window
    clip_seconds = float(rng.choice([0.5, 1.0, 2.0, 2.5]))
    grid = window_grid(duration, window, stride)
    clip_start, clip_end = clip_table(duration, clip_seconds)
    windows = rng.normal(size=(len(grid), 4)).astype(np.float32)
    pooled = pool_windows(windows, grid[:, 0], grid[:, 1], clip_start, clip_end)
    expected = naive_pool(windows, grid[:, 0], grid[:, 1], clip_start, clip_end)
    assert pooled.shape == (len(clip_start), 4)
    np.testing.assert_allclose(pooled, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", range(6))
def test_pool_windows_matches_naive_on_irregular_clips(seed):
    rng = np.random.default_rng(100 + seed)
    starts = np.sort(rng.uniform(0, 12, size=30))
    grid = np.stack([starts, starts + 1.2], axis=1)  # equal lengths, irregular starts
    cuts = np.sort(rng.uniform(0, 13, size=6))
    clip_start, clip_end = cuts[:-1], cuts[1:]
    windows = rng.normal(size=(30, 3)).astype(np.float32)
    pooled = pool_windows(windows, grid[:, 0], grid[:, 1], clip_start, clip_end)
    expected = naive_pool(windows, grid[:, 0], grid[:, 1], clip_start, clip_end)
    np.testing.assert_allclose(pooled, expected, rtol=1e-5, atol=1e-5)


def test_windows_longer_than_clips_take_nearest_window():
    # windows of 4 s can never be half inside a 1 s clip: each clip takes the nearest window
    grid = window_grid(8.0, 4.0, 2.0)  # [0,4], [2,6], [4,8]; centres 2, 4, 6
    clip_start, clip_end = clip_table(8.0, 1.0)  # centres 0.5 .. 7.5
    # nearest centre: 0.5, 1.5, 2.5 -> 2; 3.5, 4.5 -> 4; 5.5, 6.5, 7.5 -> 6
    first, last = member_ranges(grid[:, 0], grid[:, 1], clip_start, clip_end)
    np.testing.assert_array_equal(last - first, 1)
    np.testing.assert_array_equal(first, [0, 0, 0, 1, 1, 2, 2, 2])
    windows = np.array([[10.0], [20.0], [30.0]], np.float32)
    pooled = pool_windows(windows, grid[:, 0], grid[:, 1], clip_start, clip_end)
    np.testing.assert_allclose(pooled[:, 0], [10, 10, 10, 20, 20, 30, 30, 30])


def test_single_short_window_for_every_clip():
    grid = window_grid(0.6, 1.0, 0.5)  # one window [0, 0.6]
    pooled = pool_windows(
        np.array([[7.0, -1.0]], np.float32), grid[:, 0], grid[:, 1], np.zeros(1), np.full(1, 0.6)
    )
    np.testing.assert_allclose(pooled, [[7.0, -1.0]])
