"""Tests for features.prefetch: the decode-ahead thread between the decoder and the model."""

from __future__ import annotations

import threading
import time

import pytest

from highlight_pipeline.features.prefetch import prefetch


def _new_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t not in before and t.is_alive()]


def _wait_for_no_new_threads(before: set[threading.Thread], seconds: float = 2.0) -> list:
    deadline = time.monotonic() + seconds
    while _new_threads(before) and time.monotonic() < deadline:
        time.sleep(0.01)
    return _new_threads(before)


def test_yields_all_items_in_order():
    items = [object() for _ in range(50)]
    assert list(prefetch(iter(items), depth=3)) == items


def test_empty_input_yields_nothing():
    before = set(threading.enumerate())
    assert list(prefetch(iter([]), depth=2)) == []
    assert _wait_for_no_new_threads(before) == []


@pytest.mark.parametrize("depth", [0, 1, 2, 5])
def test_order_kept_for_any_depth(depth):
    assert list(prefetch(range(30), depth=depth)) == list(range(30))


def test_runs_in_a_background_thread():
    seen: list[str] = []

    def produce():
        for i in range(3):
            seen.append(threading.current_thread().name)
            yield i

    assert list(prefetch(produce(), depth=2)) == [0, 1, 2]
    assert seen and all(name != threading.current_thread().name for name in seen)


def test_producer_exception_is_raised_in_consumer_after_earlier_items():
    class Boom(RuntimeError):
        pass

    def produce():
        yield 1
        yield 2
        raise Boom("decoder failed")

    before = set(threading.enumerate())
    got = []
    with pytest.raises(Boom, match="decoder failed"):
        for item in prefetch(produce(), depth=2):
            got.append(item)
    assert got == [1, 2]
    assert _wait_for_no_new_threads(before) == []


def test_exception_before_first_item():
    def produce():
        raise ValueError("no frames")
        yield  # pragma: no cover - makes this a generator

    with pytest.raises(ValueError, match="no frames"):
        next(prefetch(produce(), depth=2))


def test_breaking_out_early_stops_the_producer_thread():
    produced = 0

    def endless():
        nonlocal produced
        while True:
            produced += 1
            yield produced

    before = set(threading.enumerate())
    for item in prefetch(endless(), depth=2):
        if item == 3:
            break
    assert _wait_for_no_new_threads(before) == []
    # the producer stopped: it no longer pulls items
    stopped_at = produced
    time.sleep(0.3)
    assert produced == stopped_at
    assert produced <= 3 + 2 + 1


def test_closing_the_generator_stops_the_producer_thread():
    def endless():
        i = 0
        while True:
            i += 1
            yield i

    before = set(threading.enumerate())
    gen = prefetch(endless(), depth=4)
    assert next(gen) == 1
    assert next(gen) == 2
    gen.close()
    assert _wait_for_no_new_threads(before) == []


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_producer_never_more_than_depth_plus_one_ahead(depth):
    lock = threading.Lock()
    produced = 0

    def counted():
        nonlocal produced
        for i in range(40):
            with lock:
                produced += 1
            yield i

    leads = []
    consumed = 0
    for item in prefetch(counted(), depth=depth):
        consumed += 1
        assert item == consumed - 1
        time.sleep(0.02)  # a slow model: the producer has all the time to run ahead
        with lock:
            leads.append(produced - consumed)
    assert consumed == 40
    # queue of ``depth`` + the one item the producer holds while waiting for room
    assert max(leads) <= depth + 1
    # ... and it does decode ahead while the consumer works
    assert max(leads) >= depth


def test_exception_objects_as_items_are_yielded_not_raised():
    items = [1, ValueError("an item, not a failure"), 3]
    assert list(prefetch(iter(items), depth=2)) == items
