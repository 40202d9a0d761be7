"""The explorer's compute-once cache: one computation per key, other keys never wait for it, LRU bound."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from mgn.explore.memo import KeyedCache


def test_one_computation_per_key_under_concurrent_requests() -> None:
    cache: KeyedCache[int] = KeyedCache()
    calls: list[str] = []
    start = threading.Barrier(8)

    def compute() -> int:
        calls.append("x")
        time.sleep(0.05)  # long enough for every request to arrive while it runs
        return 42

    def request(_: int) -> int:
        start.wait()
        return cache.get("x", compute)

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(request, range(8))) == [42] * 8
    assert calls == ["x"]


def test_a_slow_key_does_not_block_another() -> None:
    cache: KeyedCache[str] = KeyedCache()
    slow_started, release = threading.Event(), threading.Event()

    def slow() -> str:
        slow_started.set()
        assert release.wait(10), "never released"
        return "slow"

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(cache.get, "tsne", slow)
        assert slow_started.wait(10)
        assert cache.get("clip", lambda: "fast") == "fast"  # answered while "tsne" is still computing
        assert not pending.done()
        release.set()
        assert pending.result(10) == "slow"


def test_least_recently_used_is_evicted_and_errors_are_not_stored() -> None:
    cache: KeyedCache[int] = KeyedCache(max_entries=2)
    cache.get("a", lambda: 1), cache.get("b", lambda: 2)
    cache.get("a", lambda: pytest.fail("a is cached"))  # a is now the most recently used
    cache.get("c", lambda: 3)  # evicts b
    assert "a" in cache and "b" not in cache and "c" in cache and len(cache) == 2

    def failing() -> int:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        cache.get("d", failing)
    assert "d" not in cache and cache.get("d", lambda: 4) == 4
    with pytest.raises(ValueError, match="max_entries"):
        KeyedCache(max_entries=0)
