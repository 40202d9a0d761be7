"""A thread-safe compute-once cache for the explorer's views, optionally bounded (least recently used out).

Concurrent requests for the same key wait for one computation; requests for other keys are not blocked by it (one
lock per key being computed, plus a short lock around the table). Imports neither gradio nor torch.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["KeyedCache"]

Value = TypeVar("Value")


class KeyedCache(Generic[Value]):
    """``get(key, compute)``: the value stored for ``key``, computed by ``compute()`` on a miss.

    Args:
        max_entries: keep at most this many values, evicting the least recently used; None: unbounded (for a
            fixed, small set of keys).

    A ``compute`` that raises stores nothing: the exception reaches the caller, and the next request for that key
    tries again.
    """

    def __init__(self, max_entries: int | None = None) -> None:
        if max_entries is not None and max_entries < 1:
            raise ValueError(f"max_entries must be None or >= 1, got {max_entries}")
        self.max_entries = max_entries
        self._table_lock = threading.Lock()  # guards _values and _computing; never held while computing
        self._values: OrderedDict[Hashable, Value] = OrderedDict()
        self._computing: dict[Hashable, threading.Lock] = {}  # key -> the lock of its computation in progress

    def __len__(self) -> int:
        with self._table_lock:
            return len(self._values)

    def __contains__(self, key: Hashable) -> bool:
        with self._table_lock:
            return key in self._values

    def _lookup(self, key: Hashable) -> tuple[bool, Value | None]:
        """``(True, value)`` on a hit (marking the key recently used), ``(False, None)`` otherwise; call under the
        table lock."""
        if key in self._values:
            self._values.move_to_end(key)
            return True, self._values[key]
        return False, None

    def get(self, key: Hashable, compute: Callable[[], Value]) -> Value:
        with self._table_lock:
            hit, value = self._lookup(key)
            if hit:
                return value  # type: ignore[return-value]
            key_lock = self._computing.setdefault(key, threading.Lock())
        with key_lock:  # one computation per key; others wait here, then find the value
            with self._table_lock:
                hit, value = self._lookup(key)
                if hit:
                    return value  # type: ignore[return-value]
            try:
                value = compute()
                with self._table_lock:
                    self._values[key] = value
                    if self.max_entries is not None and len(self._values) > self.max_entries:
                        self._values.popitem(last=False)
            finally:
                with self._table_lock:
                    if self._computing.get(key) is key_lock:
                        del self._computing[key]
        return value
