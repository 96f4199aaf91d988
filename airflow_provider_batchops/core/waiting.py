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

from airflow_provider_batchops.core.errors import InputError, TransientApiError, UnknownStateError
from airflow_provider_batchops.core.state import StatusReport

log = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL = 10.0
DEFAULT_MAX_POLL_INTERVAL = 60.0
#: Consecutive polls that may fail transiently (after the client's own retries) before the wait fails.
DEFAULT_MAX_TRANSIENT_FAILURES = 5
#: Consecutive reads in a state the provider does not know before the wait fails (``None`` = no limit).
DEFAULT_UNKNOWN_STATE_READS = 5
#: Bounds of a poll interval: faster polling only loads the API; slower is better said as a timeout.
MIN_POLL_INTERVAL = 0.05
MAX_POLL_INTERVAL = 86_400.0
#: The longest wait a ``timeout`` may ask for (366 days).
MAX_WAIT = 366 * 86_400.0


def seconds(
    value: Any,
    field: str,
    *,
    allow_none: bool = False,
    allow_zero: bool = False,
    minimum: float | None = None,
    maximum: float = MAX_WAIT,
) -> float | None:
    """Read a duration given as seconds (number or numeric string) or a ``timedelta``, within bounds."""
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
        except (TypeError, ValueError, OverflowError):
            raise InputError(field, f"expected seconds or a timedelta, got {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise InputError(field, f"expected a finite duration, got {value!r}")
    if number < 0 or (number == 0 and not allow_zero):
        raise InputError(field, f"must be {'>= 0' if allow_zero else '> 0'} seconds, got {number:g}")
    if minimum is not None and number < minimum:
        raise InputError(field, f"must be at least {minimum:g} seconds, got {number:g}")
    if number > maximum:
        raise InputError(field, f"must be at most {maximum:g} seconds ({maximum / 86_400:g} days), got {number:g}")
    return number


def check_unknown_reads(value: Any, field: str = "unknown_state_reads") -> int | None:
    """How many reads in a state the provider does not know are tolerated: a whole number >= 1, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
        raise InputError(field, f"expected a whole number from 1 to 1000000, or None (no limit), got {value!r}")
    return value


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
        interval = seconds(poll_interval, field, minimum=MIN_POLL_INTERVAL, maximum=MAX_POLL_INTERVAL)
        assert interval is not None
        maximum = seconds(max_poll_interval, "max_poll_interval", allow_none=True, maximum=MAX_POLL_INTERVAL)
        if maximum is None:
            maximum = max(interval, DEFAULT_MAX_POLL_INTERVAL)
        if maximum < interval:
            raise InputError("max_poll_interval", f"must be >= {field} ({interval:g} s), got {maximum:g}")
        return cls(interval=interval, max_interval=maximum)

    def delay(self, poll_number: int) -> float:
        if self.factor >= 1 and self.interval >= self.max_interval:
            base = self.max_interval  # no room to grow (the triggerer's common case): no power to work out
        else:
            try:
                grown = self.interval * self.factor ** max(poll_number - 1, 0)
            except OverflowError:  # 1.5 ** n overflows after ~1,750 polls (a day at 60 s): long at the cap
                grown = self.max_interval
            base = min(self.max_interval, grown)
        low, high = 1 - self.jitter, 1 + self.jitter
        return base * (low + (high - low) * random.random())  # random.uniform(low, high), without the call


@dataclass(frozen=True, init=False)
class Decision:
    """The outcome of one step of the wait: ``done``, ``sleep``, ``timeout`` or ``error``."""

    kind: str
    report: StatusReport | None = None
    delay: float = 0.0
    error: Exception | None = None

    def __init__(
        self, kind: str, report: StatusReport | None = None, delay: float = 0.0, error: Exception | None = None
    ) -> None:
        # One decision per poll: filled in directly, not through object.__setattr__ per field.
        fields = self.__dict__
        fields["kind"], fields["report"], fields["delay"], fields["error"] = kind, report, delay, error

    @property
    def finished(self) -> bool:
        return self.kind != "sleep"


class WaitLoop:
    """Decides, after each status read, whether to stop or how long to sleep.

    :param schedule: the poll schedule.
    :param deadline: wall-clock time (``time.time()``) after which the wait ends, or ``None``.
    :param max_transient_failures: consecutive failed reads tolerated before giving up.
    :param unknown_state_reads: consecutive reads in a state the provider does not know tolerated
        before giving up (each new such state is logged once as a warning); ``None`` = no limit.
    """

    def __init__(
        self,
        schedule: PollSchedule,
        deadline: float | None,
        max_transient_failures: int = DEFAULT_MAX_TRANSIENT_FAILURES,
        unknown_state_reads: int | None = DEFAULT_UNKNOWN_STATE_READS,
    ) -> None:
        self.schedule = schedule
        self.deadline = deadline
        self.max_transient_failures = max_transient_failures
        self.unknown_state_reads = unknown_state_reads
        self.polls = 0
        self.failures_in_a_row = 0
        self.unknown_in_a_row = 0
        self.last_report: StatusReport | None = None
        self._last_progress: Any = None
        self._unknown_seen: set[str] | None = None  # made on the first unknown state (rare): none per wait

    def _unknown(self, report: StatusReport) -> Decision | None:
        """Count a reading in a state the provider does not know; fail once the grace is spent."""
        raw = report.unknown_state
        if raw is None or report.state.is_terminal:
            self.unknown_in_a_row = 0
            return None
        self.unknown_in_a_row += 1
        if self._unknown_seen is None:
            self._unknown_seen = set()
        if raw not in self._unknown_seen:
            self._unknown_seen.add(raw)
            log.warning("The service reports a state this provider does not know: %r (%s); reading again",
                        raw, report.message or "no message")
        limit = self.unknown_state_reads
        if limit is not None and self.unknown_in_a_row >= limit:
            error = UnknownStateError(
                f"The remote work stayed in a state this provider does not know, {raw!r}, for "
                f"{self.unknown_in_a_row} reads in a row; stopped waiting (the remote work was not stopped). "
                "Widen the grace with unknown_state_reads (None = no limit) if the state is expected."
            )
            return Decision("error", report, error=error)
        return None

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
            if report.unknown_state is not None:
                gave_up = self._unknown(report)
                if gave_up is not None:
                    return gave_up
            else:  # what _unknown does for a state that was understood, without the call
                self.unknown_in_a_row = 0
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
    while decision is None or decision.kind == "sleep":  # not decision.finished, without the property call
        if decision is not None:
            delay, decision = decision.delay, None  # the decision dies young, not kept over the sleep
            await asyncio.sleep(delay)
        try:
            decision = loop.decide(await read())
        except TransientApiError as exc:
            decision = loop.decide(None, exc)
    return decision
