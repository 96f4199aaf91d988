"""Watching an event stream for DAG scheduling, knowing no service.

An event-driven watcher (an ``AssetWatcher``'s trigger) runs for as long as its DAG is active. Its
stream must come back after every drop, and what it missed while the stream was down must be
found another way, because events are not replayed. Two parts, written once:

- :func:`reconnecting`: follow a server-sent event stream forever; each time the stream is ready it
  says so (a ``ready`` item, the cue to catch up), then passes on the events; when the stream ends
  or fails it reconnects on a growing delay.
- :class:`Reported`: what a watcher already fired for, bounded, plus its *watermark* (the moment up
  to which it has seen everything), so that a catch-up after a reconnect fires only for what is new.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import AbstractAsyncContextManager
from typing import Any

from airflow_provider_batchops.core.errors import BatchOpsError
from airflow_provider_batchops.core.sse import ServerSentEvent
from airflow_provider_batchops.core.waiting import PollSchedule

log = logging.getLogger(__name__)

#: Reconnect delays: 1 s after the first drop, growing to 60 s while the stream keeps failing.
RECONNECT_SCHEDULE = PollSchedule(interval=1.0, max_interval=60.0)
#: Keys a watcher remembers (the newest); older transitions are behind its watermark anyway.
REPORTED_LIMIT = 10_000

OpenStream = Callable[[], AbstractAsyncContextManager[AsyncIterator[ServerSentEvent]]]


async def reconnecting(
    open_stream: OpenStream,
    *,
    ready_event: str,
    quiet_events: tuple[str, ...] = (),
    schedule: PollSchedule = RECONNECT_SCHEDULE,
    what: str = "event stream",
) -> AsyncIterator[dict[str, Any]]:
    """Follow a stream forever as plain items (shareable between watchers).

    - ``{"kind": "ready", "at": <epoch s>, "connection": n}`` when the stream sends ``ready_event``
      (its first connection is 1): from here on nothing is missed until the next ``ready``;
    - ``{"kind": "quiet"}`` for a keep-alive (one of ``quiet_events``): a chance to retry work;
    - ``{"kind": "event", "event": name, "data": text}`` for every other event.

    The stream ending or failing (an API error, a connection error, silence past the read timeout)
    is logged and followed by a reconnect after ``schedule``'s delay, which grows while attempts
    fail and starts over once a stream is ready. It never returns; cancel it to stop.
    """
    import aiohttp  # here, not at module level: DAG files import this module through the triggers

    failures = 0
    connections = 0
    while True:
        try:
            async with open_stream() as events:
                async for event in events:
                    if event.event == ready_event:
                        failures = 0
                        connections += 1
                        yield {"kind": "ready", "at": time.time(), "connection": connections}
                    elif event.event in quiet_events:
                        yield {"kind": "quiet"}
                    else:
                        yield {"kind": "event", "event": event.event, "data": event.data}
            log.info("The %s ended; reconnecting", what)
        except (BatchOpsError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
            log.warning("The %s failed (%s); reconnecting", what, str(exc) or type(exc).__name__)
        failures += 1
        await asyncio.sleep(schedule.delay(failures))


class Reported:
    """What a watcher fired for, and the moment up to which it has seen everything.

    :param since: epoch seconds the watcher starts from: nothing before it is ever reported (a
        standing state is not a transition).
    :param limit: keys remembered (the newest); a key forgotten is older than the watermark.
    """

    def __init__(self, since: float, limit: int = REPORTED_LIMIT) -> None:
        self.since = since
        self.watermark = since
        self._keys: OrderedDict[Hashable, None] = OrderedDict()
        self._limit = limit

    def add(self, key: Hashable, moment: float | None) -> bool:
        """Record ``key`` (a transition at ``moment``); ``False`` if it was reported already."""
        if key in self._keys:
            return False
        self._keys[key] = None
        if len(self._keys) > self._limit:
            self._keys.popitem(last=False)
        if moment is not None:
            self.watermark = max(self.watermark, moment)
        return True

    def seen_up_to(self, moment: float) -> None:
        """Everything up to ``moment`` was seen (a catch-up to then succeeded)."""
        self.watermark = max(self.watermark, moment)

    def catch_up_from(self, slack: float) -> float:
        """Where a catch-up starts: ``slack`` seconds before the watermark (events may arrive out of
        order), but never before the watcher started."""
        return max(self.since, self.watermark - slack)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)
