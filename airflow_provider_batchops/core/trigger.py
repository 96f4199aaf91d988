"""The base trigger: waits on the event loop until remote work is finished, then yields one event.

Subclasses are declarative: they say which JSON kwargs identify the work (:meth:`identity`), how to
build their hook (:meth:`make_hook`) and how to read one status (:meth:`read_status`).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from typing import Any, Generic, TypeVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_batchops.core.errors import BatchOpsError
from airflow_provider_batchops.core.http import shared_session
from airflow_provider_batchops.core.state import BatchState, StatusReport
from airflow_provider_batchops.core.waiting import (
    DEFAULT_MAX_TRANSIENT_FAILURES,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_UNKNOWN_STATE_READS,
    Decision,
    PollSchedule,
    WaitLoop,
    check_unknown_reads,
    wait_async,
)

HookT = TypeVar("HookT")


class StatusTrigger(BaseTrigger, Generic[HookT], abc.ABC):
    """Poll a remote batch or job until it is finished or the deadline passes.

    The event is a dict: ``status`` (``success``, ``failed``, ``timeout`` or ``error``), ``remote_id``,
    ``report`` (a :class:`StatusReport` as JSON, or ``None``) and ``message``.

    :param poll_interval: first delay between two status reads, in seconds.
    :param max_poll_interval: the longest delay; the delay grows towards it (adaptive backoff).
    :param deadline: wall-clock epoch seconds after which a ``timeout`` event is yielded.
    :param max_transient_failures: consecutive failed reads tolerated before an ``error`` event.
    :param unknown_state_reads: consecutive reads in a state the provider does not know tolerated
        before an ``error`` event; ``None`` = no limit.
    """

    def __init__(
        self,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | None = None,
        deadline: float | None = None,
        max_transient_failures: int = DEFAULT_MAX_TRANSIENT_FAILURES,
        unknown_state_reads: int | None = DEFAULT_UNKNOWN_STATE_READS,
    ) -> None:
        super().__init__()
        self.schedule = PollSchedule.from_user(poll_interval, max_poll_interval)
        self.deadline = deadline
        self.max_transient_failures = max_transient_failures
        self.unknown_state_reads = check_unknown_reads(unknown_state_reads)

    # -- what subclasses declare -----------------------------------------------------------------
    @abc.abstractmethod
    def identity(self) -> dict[str, Any]:
        """The subclass's own constructor kwargs (ids, connection id): JSON data, never secrets."""

    @property
    @abc.abstractmethod
    def remote_id(self) -> str:
        """The id of the remote work, repeated in every event."""

    @abc.abstractmethod
    async def make_hook(self) -> HookT:
        """Build the hook; runs inside :meth:`run`, so connection look-ups happen in the triggerer."""

    @abc.abstractmethod
    async def read_status(self, hook: HookT) -> StatusReport:
        """Read the status once, without blocking the loop."""

    # -- shared behaviour ------------------------------------------------------------------------
    def serialize(self) -> tuple[str, dict[str, Any]]:
        cls = type(self)
        return (
            f"{cls.__module__}.{cls.__qualname__}",
            {
                **self.identity(),
                "poll_interval": self.schedule.interval,
                "max_poll_interval": self.schedule.max_interval,
                "deadline": self.deadline,
                "max_transient_failures": self.max_transient_failures,
                "unknown_state_reads": self.unknown_state_reads,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            hook = await self.make_hook()
            async with shared_session():
                loop = WaitLoop(self.schedule, self.deadline, self.max_transient_failures, self.unknown_state_reads)
                decision = await wait_async(lambda: self.read_status(hook), loop)
        except BatchOpsError as exc:
            decision = Decision("error", None, error=exc)
        yield TriggerEvent(event_payload(self.remote_id, decision))


def event_payload(remote_id: str, decision: Decision) -> dict[str, Any]:
    """The JSON event for a finished wait (also used by the worker-side wait, for one format)."""
    report = decision.report
    if decision.kind == "done" and report is not None:
        status = "success" if report.state is BatchState.SUCCEEDED else "failed"
        message = report.message
    elif decision.kind == "timeout":
        status = "timeout"
        last = report.state.value if report is not None else "unknown"
        message = f"{remote_id} did not finish before the deadline (last state: {last})"
    else:
        status = "error"
        message = str(decision.error) if decision.error is not None else "the wait failed"
    return {
        "status": status,
        "remote_id": remote_id,
        "report": report.to_json() if report is not None else None,
        "message": message,
    }
