"""The base trigger: waits on the event loop until remote work is finished, then yields one event.

Subclasses are declarative: their hook class, the constructor kwargs that identify the work
(:attr:`StatusTrigger.fields`) and the reader of one status (:meth:`StatusTrigger.reader`, the same
generator the sensors and operators run in the worker). Only a wait with a faster path than polling
(the registry's event stream) overrides :meth:`StatusTrigger.read_status`.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any, ClassVar, Generic, TypeVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_batchops.core.errors import BatchOpsError
from airflow_provider_batchops.core.hook import ApiHook
from airflow_provider_batchops.core.http import shared_session
from airflow_provider_batchops.core.reading import Reader
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

HookT = TypeVar("HookT", bound="ApiHook")
log = logging.getLogger(__name__)
#: How long ``on_kill`` work may take; under the triggerer's ``[triggerer] on_kill_timeout`` (30 s).
ON_KILL_BOUND = 25.0


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
    #: The hook of the service; it is built from the attribute named by its ``conn_name_attr``.
    hook_class: ClassVar[type[ApiHook]]
    #: The constructor kwargs that identify the work (ids, connection id): JSON data, never secrets.
    fields: ClassVar[tuple[str, ...]]

    @abc.abstractmethod
    def reader(self) -> Reader[StatusReport]:
        """The reader of one status (see :mod:`~airflow_provider_batchops.core.reading`)."""

    @property
    @abc.abstractmethod
    def remote_id(self) -> str:
        """The id of the remote work, repeated in every event."""

    # -- derived from the declarations -----------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.fields}

    def make_hook(self) -> HookT:
        """The hook; its connection is read on first use (in the triggerer: with the async API)."""
        conn_attr = self.hook_class.conn_name_attr
        return self.hook_class(**{conn_attr: getattr(self, conn_attr)})  # type: ignore[return-value]

    def read_status(self, hook: HookT) -> Awaitable[StatusReport]:
        """Read the status once, without blocking the loop (an override may be ``async def``)."""
        return hook.arun(self.reader())

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
            hook = self.make_hook()
            async with shared_session():
                loop = WaitLoop(self.schedule, self.deadline, self.max_transient_failures, self.unknown_state_reads)
                decision = await wait_async(partial(self.read_status, hook), loop)
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


async def still_deferred(trigger: BaseTrigger) -> bool | None:
    """Whether the trigger's task instance is still ``deferred``, asked of the triggerer's supervisor.

    Airflow 3.3 also calls a trigger's ``on_kill`` when the trigger moves to another triggerer
    (apache/airflow#73454); a task instance that is still deferred was not killed by a user.
    ``None`` when it cannot be told (no task instance, or no supervisor, as in a direct call).
    """
    ti = getattr(trigger, "task_instance", None)
    try:
        from airflow.sdk.execution_time import task_runner
        from airflow.sdk.execution_time.comms import GetTaskStates

        comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
        if ti is None or comms is None:
            return None
        answer = await comms.asend(GetTaskStates(dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id],
                                                 map_index=ti.map_index))
    except Exception as exc:  # the answer only refines the decision; it must not break the kill
        log.warning("Could not read the task instance's state (%s)", exc)
        return None
    map_index = getattr(ti, "map_index", -1)
    key = ti.task_id if map_index is None or map_index < 0 else f"{ti.task_id}_{map_index}"
    state = answer.task_states.get(ti.run_id, {}).get(key)
    return str(getattr(state, "value", state)) == "deferred"


async def through_cancels(work: Callable[[], Awaitable[None]], bound: float = ON_KILL_BOUND) -> None:
    """Run ``work`` to its end within ``bound`` seconds, although the triggerer cancels ``on_kill``
    again about every second until it returns (Airflow 3.3)."""
    future = asyncio.ensure_future(work())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    while not future.done() and loop.time() < deadline:
        try:
            await asyncio.wait({future}, timeout=deadline - loop.time())  # does not cancel ``future``
        except asyncio.CancelledError:
            continue
    if not future.done():
        future.cancel()
    elif not future.cancelled():
        future.result()
