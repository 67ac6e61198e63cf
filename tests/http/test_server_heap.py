"""The serving process settles its heap after startup (http/server.py `settle_heap`): what startup built is
frozen out of the garbage collector's walks, and the young generation is collected less often. Measured
effect (bench): ~30 µs of collections per request under load before, ~5 after."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from unhardcoded.http.server import GC_THRESHOLDS, settle_heap


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_settle_heap_freezes_what_startup_left_and_raises_the_young_threshold(restore_gc: None) -> None:
    gc.unfreeze()
    long_lived = [[i] for i in range(5_000)]  # stands for the catalog and its indexes
    settle_heap()
    assert gc.get_freeze_count() >= len(long_lived)
    assert gc.get_threshold() == GC_THRESHOLDS
    assert GC_THRESHOLDS[0] >= 10 * 700  # far above CPython's default of 700
    # Frozen objects are out of every generation a collection walks.
    tracked = {id(o) for o in gc.get_objects()}
    assert not any(id(o) in tracked for o in long_lived[:100])


def test_garbage_cycles_are_still_collected_after_settling(restore_gc: None) -> None:
    settle_heap()

    class Node:
        def __init__(self) -> None:
            self.me = self

    for _ in range(100):
        Node()
    assert gc.collect() >= 100  # the cycles made after the freeze are found and freed
