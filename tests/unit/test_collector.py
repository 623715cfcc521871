"""amazon_sync.collector: the cyclic collector paused for a block, and its own setting back afterwards."""

from __future__ import annotations

import gc

import pytest

from amazon_sync.collector import collector_paused


def test_the_collector_is_off_inside_and_on_again_after_even_when_the_block_fails():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(KeyError), collector_paused():
        raise KeyError("x")
    assert gc.isenabled()


def test_a_collector_someone_else_switched_off_stays_off():
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
