"""Work that finishes at a time: the one queue every simulated service plans its future changes on.

A service pushes an item with the moment it is due (a batch that finishes, a job state that is
reached); whoever reads the store first pops every item whose moment has passed, in time order
(items due at the same moment keep the order they were pushed in), and applies it. Nothing runs
in the background unless a service asks for it (a service whose event streams must see changes
without a request wakes itself at :meth:`DueQueue.next_due`).
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class DueQueue(Generic[T]):
    """Items ordered by the time they are due; thread-safe."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, T]] = []
        self._order = itertools.count()
        self._lock = threading.Lock()

    def push(self, at: float, item: T) -> None:
        """Plan ``item`` for epoch second ``at``."""
        with self._lock:
            heapq.heappush(self._heap, (at, next(self._order), item))

    def pop_due(self, now: float) -> Iterator[tuple[float, T]]:
        """Take, one at a time and in order, every item due at or before ``now``, with its due time.

        Items pushed while iterating are taken too when they are due by ``now``.
        """
        while True:
            with self._lock:
                if not self._heap or self._heap[0][0] > now:
                    return
                at, _, item = heapq.heappop(self._heap)
            yield at, item

    def next_due(self) -> float | None:
        """When the earliest item is due, or ``None`` when nothing is planned."""
        with self._lock:
            return self._heap[0][0] if self._heap else None

    def clear(self) -> None:
        """Forget every planned item."""
        with self._lock:
            self._heap.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._heap)
