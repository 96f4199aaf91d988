"""Triggers that wait for Waylay batch operations and registry jobs."""

from __future__ import annotations

import asyncio
import json
import time
from functools import partial
from typing import Any

from airflow_provider_batchops.core.errors import BatchOpsError, InputError
from airflow_provider_batchops.core.http import Call
from airflow_provider_batchops.core.reading import Reader
from airflow_provider_batchops.core.state import ReportSet, StatusReport
from airflow_provider_batchops.core.trigger import StatusTrigger
from airflow_provider_batchops.core.validation import id_list
from airflow_provider_batchops.hooks.waylay import (
    BATCH_SERVICES,
    WaylayHook,
    batches_reader,
    check_id,
    check_service,
    job_reader,
    jobs_list_reader,
)
from airflow_provider_batchops.models.waylay import combine_batch_reports
from airflow_provider_batchops.models.waylay_registry import (
    TERMINAL_EVENTS,
    check_job_type,
)


def batch_id_list(batch_id: Any = None, batch_ids: Any = None) -> list[str]:
    """One id or a list of ids (exactly one of the two; a rendered list works), each a string id."""
    if (batch_id is None) == (batch_ids is None):
        raise InputError("batch_id", "give exactly one of batch_id or batch_ids")
    return id_list(batch_id, "batch_id") if batch_id is not None else id_list(batch_ids, "batch_ids")


#: How the reports of several batches of one service combine (one function per service, shared by every wait).
_COMBINE = {service: partial(combine_batch_reports, service) for service in BATCH_SERVICES}


class WaylayBatchTrigger(StatusTrigger[WaylayHook]):
    """Wait until one or several rules or resources batch operations have finished.

    A batch is finished once it carries ``finishedTime``/``results``. Several ids (a bulk delete
    split into batches) finish together; finished ones are not read again.

    :param service: ``rules`` or ``resources``.
    :param batch_id: the batch operation id.
    :param batch_ids: several batch ids instead of ``batch_id``.
    :param waylay_conn_id: the Airflow connection id.
    :param kwargs: the wait settings of :class:`~airflow_provider_batchops.core.trigger.StatusTrigger`.
    """

    hook_class = WaylayHook
    fields = ("service", "batch_ids", "waylay_conn_id")

    def __init__(
        self,
        *,
        service: str,
        batch_id: str | None = None,
        batch_ids: list[str] | None = None,
        waylay_conn_id: str = WaylayHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.service = check_service(service)
        self.batch_ids = batch_id_list(batch_id, batch_ids)
        self.waylay_conn_id = waylay_conn_id
        self._reports = ReportSet(self.batch_ids, _COMBINE[self.service])
        self._calls: dict[str, Call] = {}

    @staticmethod
    def identity_of(service: str, remote_id: Any, waylay_conn_id: str) -> dict[str, Any]:
        """The kwargs of the trigger that waits for ``remote_id`` (one batch id, or a list)."""
        ids = {"batch_ids": remote_id} if isinstance(remote_id, list) else {"batch_id": remote_id}
        return {"service": service, **ids, "waylay_conn_id": waylay_conn_id}

    def identity(self) -> dict[str, Any]:
        remote_id = self.batch_ids if len(self.batch_ids) > 1 else self.batch_ids[0]
        return self.identity_of(self.service, remote_id, self.waylay_conn_id)

    @property
    def remote_id(self) -> str:
        return ", ".join(self.batch_ids)

    def reader(self) -> Reader[StatusReport]:
        return batches_reader(self.service, self._reports, self._calls)


class WaylayRegistryJobTrigger(StatusTrigger[WaylayHook]):
    """Wait for a registry job to complete or fail, listening to the job event stream.

    It reads the job first (it may be finished already). Then it follows
    ``GET /registry/v2/jobs/events`` filtered on the job, and reads the job again once the stream is
    ready, so a transition before the subscription is not missed (events are not replayable). A
    terminal event or ``close`` is confirmed by one more read. When the stream drops or is
    unavailable it reconnects after the poll schedule's delay, reading the job on every reconnect;
    with ``use_events=False`` it only polls.

    :param job_type: the job type (``build``, ``deploy``, ``verify``, ...).
    :param job_id: the job id (may contain ``$``).
    :param children: also listen to the events of the job's child jobs.
    :param use_events: follow the event stream (default) or only poll.
    :param waylay_conn_id: the Airflow connection id.
    """

    #: Longest silence on the stream before it is taken as dropped (the server sends keep-alives).
    stream_read_timeout = 60.0
    hook_class = WaylayHook
    fields = ("job_type", "job_id", "children", "use_events", "waylay_conn_id")

    def __init__(
        self,
        *,
        job_type: str,
        job_id: str,
        children: bool = False,
        use_events: bool = True,
        waylay_conn_id: str = WaylayHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_type = check_job_type(job_type)
        self.job_id = check_id(job_id, "job_id")
        self.children = bool(children)
        self.use_events = bool(use_events)
        self.waylay_conn_id = waylay_conn_id

    @property
    def remote_id(self) -> str:
        return f"{self.job_type} job {self.job_id}"

    def reader(self) -> Reader[StatusReport]:
        return job_reader(self.job_type, self.job_id)

    async def read_status(self, hook: WaylayHook) -> StatusReport:
        """Read the job; unless it is finished, follow the event stream (the fast path), then read again."""
        report = await hook.arun(self.reader())
        if report.state.is_terminal or not self.use_events:
            return report
        heard = await self._listen(hook)
        if heard is not None:
            return heard
        return await hook.arun(self.reader())

    async def _listen(self, hook: WaylayHook) -> StatusReport | None:
        """Follow the stream until it announces the end, the deadline passes or the stream fails.

        Returns a terminal report read after the stream became ready, or ``None`` when the caller
        should read the job to learn where it stands.
        """
        import aiohttp  # here, not at module level: DAG files import this module through the operators

        remaining = None if self.deadline is None else max(self.deadline - time.time(), 0.0)
        try:
            return await asyncio.wait_for(self._follow(hook), remaining)
        except asyncio.TimeoutError:
            return None
        except (BatchOpsError, aiohttp.ClientError) as exc:
            self.log.warning("Job event stream unavailable (%s); reading the job instead", exc)
            return None

    async def _follow(self, hook: WaylayHook) -> StatusReport | None:
        """Read events; while the stream stays silent (keep-alives only), re-read the job on the poll
        schedule, so a lost or never-sent event costs at most one poll interval."""
        reads = 0
        async with hook.job_events(self.job_type, self.job_id, self.children, self.stream_read_timeout) as events:
            upcoming: asyncio.Future[Any] | None = None
            try:
                while True:
                    if upcoming is None:
                        upcoming = asyncio.ensure_future(anext(events, None))
                    reads += 1
                    done, _ = await asyncio.wait({upcoming}, timeout=self.schedule.delay(reads))
                    if not done:
                        report = await hook.arun(self.reader())
                        if report.state.is_terminal:
                            return report
                        continue
                    event, upcoming = upcoming.result(), None
                    if event is None:
                        break
                    if event.event == "ack":
                        report = await hook.arun(self.reader())
                        if report.state.is_terminal:
                            return report
                    elif event.event == "close" or (
                        event.event in TERMINAL_EVENTS and self._about_this_job(event.data)
                    ):
                        return None
            finally:
                if upcoming is not None and not upcoming.done():
                    upcoming.cancel()
        self.log.info("Job event stream ended; reading the job")
        return None

    def _about_this_job(self, data: str) -> bool:
        """Whether an event's data names this job; data of any other shape is not about it."""
        try:
            body = json.loads(data)
        except (ValueError, RecursionError):
            return False
        job = body.get("job") if isinstance(body, dict) else None
        if not isinstance(job, dict):
            return False
        return job.get("id") == self.job_id and job.get("type", self.job_type) == self.job_type


class WaylayRegistryJobsTrigger(StatusTrigger[WaylayHook]):
    """Wait until every registry job matching a list query has finished (polling).

    :param job_type: job types to list, or ``None`` for all.
    :param function_name: keep only jobs of this plug/webscript/model name.
    :param function_type: function types to list (``plugs``, ``webscripts``, ``kfserving``).
    :param created_after: a registry ``TimestampSpec`` (age such as ``PT2H`` or an ISO date-time).
    :param created_before: likewise.
    :param states: job states to list.
    :param limit: how many jobs to list (the API has no paging: narrow with the time filters).
    :param waylay_conn_id: the Airflow connection id.
    """

    hook_class = WaylayHook
    #: The list query's filters, sent as they are.
    filter_fields = ("job_type", "function_type", "created_after", "created_before", "states", "limit")
    fields = (*filter_fields, "function_name", "waylay_conn_id")

    def __init__(
        self,
        *,
        job_type: list[str] | None = None,
        function_name: str | None = None,
        function_type: list[str] | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        states: list[str] | None = None,
        limit: int = 1000,
        waylay_conn_id: str = WaylayHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_type, self.function_type, self.states = job_type, function_type, states
        self.created_after, self.created_before, self.limit = created_after, created_before, limit
        WaylayHook.list_jobs_call(**self.filters)  # validates, so a bad filter fails before deferring
        self.function_name = function_name
        self.waylay_conn_id = waylay_conn_id

    @property
    def filters(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.filter_fields}

    @property
    def remote_id(self) -> str:
        parts = [f"{k}={v}" for k, v in self.identity().items() if v is not None and k != "waylay_conn_id"]
        return "registry jobs " + " ".join(parts)

    def reader(self) -> Reader[StatusReport]:
        return jobs_list_reader(self.filters, self.function_name)
