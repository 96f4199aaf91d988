"""The wait schedule and the one wait loop, driven either synchronously (worker) or on an event loop.

:class:`WaitLoop` holds every decision (backoff, jitter, wall-clock deadline with a last check at the
deadline, tolerance of transient failures); :func:`wait_sync` and :func:`wait_async` only sleep.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from airflow_provider_batchops.core.errors import InputError, TransientApiError
from airflow_provider_batchops.core.state import StatusReport

log = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL = 10.0
DEFAULT_MAX_POLL_INTERVAL = 60.0
#: Consecutive polls that may fail transiently (after the client's own retries) before the wait fails.
DEFAULT_MAX_TRANSIENT_FAILURES = 5


def seconds(value: Any, field: str, *, allow_none: bool = False, allow_zero: bool = False) -> float | None:
    """Read a duration given as seconds (number or numeric string) or a ``timedelta``."""
    if value is None:
        if allow_none:
            return None
        raise InputError(field, "a duration is required")
    if isinstance(value, timedelta):
        number = value.total_seconds()
    elif isinstance(value, bool):
        raise InputError(field, f"expected seconds or a timedelta, got {value!r}")
    else:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InputError(field, f"expected seconds or a timedelta, got {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise InputError(field, f"expected a finite duration, got {value!r}")
    if number < 0 or (number == 0 and not allow_zero):
        raise InputError(field, f"must be {'>= 0' if allow_zero else '> 0'} seconds, got {number:g}")
    return number


@dataclass(frozen=True)
class PollSchedule:
    """Adaptive polling: start at ``interval``, grow by ``factor`` up to ``max_interval``, with jitter.

    :param interval: the first delay between two status reads, in seconds.
    :param max_interval: the longest delay.
    :param factor: growth per poll.
    :param jitter: +/- fraction applied to each delay so many waits do not poll in lockstep.
    """

    interval: float = DEFAULT_POLL_INTERVAL
    max_interval: float = DEFAULT_MAX_POLL_INTERVAL
    factor: float = 1.5
    jitter: float = 0.1

    @classmethod
    def from_user(cls, poll_interval: Any, max_poll_interval: Any, field: str = "poll_interval") -> PollSchedule:
        """:param field: the user's name for ``poll_interval`` (sensors call it ``poke_interval``)."""
        interval = seconds(poll_interval, field)
        assert interval is not None
        maximum = seconds(max_poll_interval, "max_poll_interval", allow_none=True)
        if maximum is None:
            maximum = max(interval, DEFAULT_MAX_POLL_INTERVAL)
        if maximum < interval:
            raise InputError("max_poll_interval", f"must be >= {field} ({interval:g} s), got {maximum:g}")
        return cls(interval=interval, max_interval=maximum)

    def delay(self, poll_number: int) -> float:
        try:
            grown = self.interval * self.factor ** max(poll_number - 1, 0)
        except OverflowError:  # 1.5 ** n overflows after ~1,750 polls (a day at 60 s): long at the cap
            grown = self.max_interval
        base = min(self.max_interval, grown)
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)


@dataclass(frozen=True)
class Decision:
    """The outcome of one step of the wait: ``done``, ``sleep``, ``timeout`` or ``error``."""

    kind: str
    report: StatusReport | None = None
    delay: float = 0.0
    error: Exception | None = None

    @property
    def finished(self) -> bool:
        return self.kind != "sleep"


class WaitLoop:
    """Decides, after each status read, whether to stop or how long to sleep.

    :param schedule: the poll schedule.
    :param deadline: wall-clock time (``time.time()``) after which the wait ends, or ``None``.
    :param max_transient_failures: consecutive failed reads tolerated before giving up.
    """

    def __init__(
        self,
        schedule: PollSchedule,
        deadline: float | None,
        max_transient_failures: int = DEFAULT_MAX_TRANSIENT_FAILURES,
    ) -> None:
        self.schedule = schedule
        self.deadline = deadline
        self.max_transient_failures = max_transient_failures
        self.polls = 0
        self.failures_in_a_row = 0
        self.last_report: StatusReport | None = None
        self._last_progress: Any = None

    def decide(self, report: StatusReport | None, error: Exception | None = None) -> Decision:
        self.polls += 1
        if error is not None:
            self.failures_in_a_row += 1
            if self.failures_in_a_row > self.max_transient_failures:
                return Decision("error", self.last_report, error=error)
            log.warning("Status read failed (%s); will read again", error)
        else:
            assert report is not None
            self.failures_in_a_row = 0
            self.last_report = report
            progress = report.summary.get("progress")
            if progress is not None and progress != self._last_progress:
                self._last_progress = progress
                log.info("Progress: %s", progress)
            if report.state.is_terminal:
                return Decision("done", report)
        delay = self.schedule.delay(self.polls)
        if self.deadline is not None:
            remaining = self.deadline - time.time()
            if remaining <= 0:
                return Decision("timeout", self.last_report)
            delay = min(delay, remaining)  # the last read happens at the deadline itself
        return Decision("sleep", report, delay=delay)


def wait_sync(read: Callable[[], StatusReport], loop: WaitLoop, first: Decision | None = None) -> Decision:
    """Read the status until ``loop`` says stop, sleeping in this thread.

    :param first: the decision on a status already read, so the loop sleeps before reading again.
    """
    decision = first
    while decision is None or not decision.finished:
        if decision is not None:
            time.sleep(decision.delay)
        try:
            decision = loop.decide(read())
        except TransientApiError as exc:
            decision = loop.decide(None, exc)
    return decision


async def wait_async(
    read: Callable[[], Awaitable[StatusReport]], loop: WaitLoop, first: Decision | None = None
) -> Decision:
    """Read the status until ``loop`` says stop, sleeping on the event loop."""
    decision = first
    while decision is None or not decision.finished:
        if decision is not None:
            await asyncio.sleep(decision.delay)
        try:
            decision = loop.decide(await read())
        except TransientApiError as exc:
            decision = loop.decide(None, exc)
    return decision
