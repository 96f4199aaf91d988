"""Triggers the benchmark compares with: a naive peer, and a bare-aiohttp floor.

:class:`NaiveWaylayBatchTrigger`: the sync, requests-based WaylayHook in a thread per poll.

This is how a trigger is often written when only a sync client exists: each status read is handed to
``asyncio.to_thread``. It waits on the same poll schedule as :class:`WaylayBatchTrigger` (same
interval and jitter), so the only difference measured is how the status is read.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_batchops.core.errors import BatchOpsError
from airflow_provider_batchops.core.waiting import PollSchedule
from airflow_provider_batchops.hooks.waylay import WaylayHook


class NaiveWaylayBatchTrigger(BaseTrigger):
    """Poll one Waylay batch with ``WaylayHook.get_batch_report`` run in the default thread pool.

    :param service: ``rules`` or ``resources``.
    :param batch_id: the batch id.
    :param waylay_conn_id: the Airflow connection id.
    :param poll_interval: first delay between reads, seconds.
    :param max_poll_interval: longest delay between reads, seconds.
    :param max_polls: give up after this many reads (every loop is bounded).
    """

    def __init__(self, service: str, batch_id: str, waylay_conn_id: str = "waylay_default",
                 poll_interval: float = 5.0, max_poll_interval: float | None = None, max_polls: int = 10_000) -> None:
        super().__init__()
        self.service = service
        self.batch_id = batch_id
        self.waylay_conn_id = waylay_conn_id
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.max_polls = max_polls

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"service": self.service, "batch_id": self.batch_id, "waylay_conn_id": self.waylay_conn_id,
             "poll_interval": self.poll_interval, "max_poll_interval": self.max_poll_interval,
             "max_polls": self.max_polls},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = WaylayHook(waylay_conn_id=self.waylay_conn_id)
        schedule = PollSchedule.from_user(self.poll_interval, self.max_poll_interval)
        for poll in range(1, self.max_polls + 1):
            try:
                report = await asyncio.to_thread(hook.get_batch_report, self.service, self.batch_id)
            except BatchOpsError as exc:
                yield TriggerEvent({"status": "error", "remote_id": self.batch_id, "message": str(exc)})
                return
            if report.state.is_terminal:
                status = "success" if report.state.is_success else "failed"
                yield TriggerEvent({"status": status, "remote_id": self.batch_id, "report": report.to_json()})
                return
            await asyncio.sleep(schedule.delay(poll))
        yield TriggerEvent({"status": "timeout", "remote_id": self.batch_id, "message": "too many polls"})


class BareAiohttpTrigger(BaseTrigger):
    """A reference, not a peer: the least a Python trigger can do per poll.

    One ``aiohttp`` session shared by every instance on the loop, a fixed bearer token, one GET, one
    JSON parse, a ``finishedTime`` check, a jittered sleep. No connection look-up, retries, token
    refresh, timeouts or reports: it shows the floor that aiohttp and asyncio set on one core.

    :param url: the full status URL.
    :param token: a bearer token.
    :param poll_interval: seconds between reads (+/- 10 % jitter).
    :param max_polls: give up after this many reads.
    """

    _sessions: ClassVar[dict[int, Any]] = {}

    def __init__(self, url: str, token: str, poll_interval: float = 5.0, max_polls: int = 10_000) -> None:
        super().__init__()
        self.url, self.token, self.poll_interval, self.max_polls = url, token, poll_interval, max_polls

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"url": self.url, "token": self.token, "poll_interval": self.poll_interval,
                 "max_polls": self.max_polls})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import aiohttp

        loop_key = id(asyncio.get_running_loop())
        session = self._sessions.get(loop_key)
        if session is None or session.closed:
            session = self._sessions[loop_key] = aiohttp.ClientSession()
        headers = {"Authorization": f"Bearer {self.token}"}
        for _ in range(self.max_polls):
            async with session.get(self.url, headers=headers) as resp:
                body = await resp.json()
            if resp.status != 200:
                yield TriggerEvent({"status": "error", "message": f"HTTP {resp.status}"})
                return
            if "finishedTime" in body:
                yield TriggerEvent({"status": "success"})
                return
            await asyncio.sleep(self.poll_interval * random.uniform(0.9, 1.1))
        yield TriggerEvent({"status": "timeout"})

    @classmethod
    async def close_sessions(cls) -> None:
        for session in cls._sessions.values():
            await session.close()
        cls._sessions.clear()
