"""`serve` hides start-up objects from the cyclic GC and makes young collections rarer."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from gateway.cli import _GC_YOUNG, _freeze_heap


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restore_gc")
async def test_freeze_heap_moves_startup_objects_to_the_permanent_generation() -> None:
    kept = [{"startup": n} for n in range(1000)]
    await _freeze_heap(object())
    assert gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold()[0] == _GC_YOUNG
    assert not any(obj is kept for obj in gc.get_objects())  # no longer scanned
