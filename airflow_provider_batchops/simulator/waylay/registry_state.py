"""Registry jobs in motion: the time-driven state machine and the event subscriptions.

A job is ``waiting``, ``step_delay`` seconds later ``active``, and another step later ``completed``
or ``failed``. A verify job created with children is ``waiting-children`` while its ``build`` and
then its ``deploy`` child run, then ``active`` and finished. Every transition is planned when the
job is created (or, for a job created with ``hold``, when it is released) and reached once its time
has come: lazily on each request, and by a background task on the server's event loop, so event
streams see transitions without anyone polling. The registry also counts the event streams opened
and the job events sent on them, for demos and tests that want to see a client wait on the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import threading
import time
from typing import TYPE_CHECKING

from ..timeline import DueQueue
from .registry_jobs import FINISHED, VERIFY_CHILDREN, Job, JobEvent, JobSpec, create_job, new_job_id

if TYPE_CHECKING:
    from . import WaylayState

logger = logging.getLogger(__name__)


class Subscription:
    """One event stream's filter and its queue of matching events."""

    def __init__(self, job_type: str | None, job_id: str | None, children: bool) -> None:
        self.job_type = job_type
        self.job_id = job_id
        self.children = children
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[JobEvent] = asyncio.Queue()

    def is_target(self, job: Job) -> bool:
        """Whether ``job`` is the job this stream is filtered on."""
        return job.id == self.job_id and (self.job_type is None or job.type == self.job_type)

    def wants(self, event: JobEvent) -> bool:
        """Whether the stream forwards ``event``."""
        job = event.job
        if self.job_id is None:
            return self.job_type is None or job.type == self.job_type
        if self.is_target(job):
            return True
        parent_matches = job.parent_id == self.job_id and self.job_type in (None, job.parent_type)
        return self.children and parent_matches

    def closes_on(self, event: JobEvent) -> bool:
        """Whether ``event`` ends the stream: the target job has finished."""
        return self.job_id is not None and event.name in FINISHED and self.is_target(event.job)

    def deliver(self, event: JobEvent) -> None:
        """Queue ``event``, from any thread."""
        with contextlib.suppress(RuntimeError):  # the loop has closed: the stream is gone
            self.loop.call_soon_threadsafe(self.queue.put_nowait, event)


class JobRegistry:
    """Every job of the tenant, the planned transitions and the open event streams."""

    def __init__(self, tenant: WaylayState) -> None:
        self._tenant = tenant
        self.lock = threading.RLock()
        self.jobs: dict[tuple[str, str], Job] = {}
        #: Planned transitions: (job, state to reach, previous state for the event).
        self._pending: DueQueue[tuple[Job, str, str | None]] = DueQueue()
        self._seq = itertools.count()
        self._rng = random.Random()
        self._subs: set[Subscription] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._streams_opened = 0
        self._job_events_sent = 0

    def clear(self) -> None:
        """Forget every job."""
        with self.lock:
            self.jobs.clear()
            self._pending.clear()

    # -- creating and moving jobs ------------------------------------------------------------------
    def create(self, spec: JobSpec) -> Job:
        """Create a job (and its children) as ``spec`` says; raise ``ValueError`` if the id is taken."""
        now = time.time()
        delay = self._tenant.config.job_step_delay if spec.step_delay is None else spec.step_delay
        created_by = f"users/{self._tenant.user_id}"
        with self.lock:
            job_id = spec.id or new_job_id(self._rng)
            if (spec.type, job_id) in self.jobs:
                raise ValueError(f"a {spec.type} job with id {job_id} exists already")
            main = create_job(spec, spec.type, job_id, next(self._seq), created_by, now, delay)
            self.jobs[(main.type, main.id)] = main
            for child_type in VERIFY_CHILDREN if spec.children else ():
                child = create_job(spec, child_type, new_job_id(self._rng), next(self._seq), created_by, now, delay)
                child.parent_id, child.parent_type = main.id, main.type
                main.children.append(child)
                self.jobs[(child.type, child.id)] = child
            self._plan(main, now, delay, hold=spec.hold)
        self.settle()
        self._poke()
        return main

    def release(self, job_type: str, job_id: str) -> Job:
        """Let a job created with ``hold`` run: its transitions are planned from now.

        Raise ``LookupError`` if there is no such job and ``ValueError`` if it is not held.
        """
        now = time.time()
        with self.lock:
            job = self.jobs.get((job_type, job_id))
            if job is None:
                raise LookupError(f"no {job_type} job with id {job_id}")
            if not job.held:
                raise ValueError(f"the {job_type} job {job_id} is not held")
            job.held = False
            self._plan_run(job, now, job.step_delay)
        self.settle()
        self._poke()
        return job

    def _push(self, at: float, job: Job, state: str, prev: str | None) -> None:
        self._pending.push(at, (job, state, prev))

    def _plan(self, main: Job, t0: float, d: float, hold: bool = False) -> None:
        """Plan every transition, in causal order (ties at the same instant keep this order).

        With ``hold`` only the queued states are planned; :meth:`release` plans the rest.
        """
        if main.override is not None:
            main.state = main.override
        kids = main.children
        if main.override is None:
            self._push(t0, main, "waiting-children" if kids else "waiting", None if kids else "added")
        for kid in kids:
            self._push(t0, kid, "waiting", "added")
        main.held = hold
        if not hold:
            self._plan_run(main, t0, d)

    def _plan_run(self, main: Job, t0: float, d: float) -> None:
        """Plan the children's and then the job's run, one state step every ``d`` seconds after ``t0``."""
        kids = main.children
        for step, kid in enumerate(kids, start=1):
            self._push(t0 + step * d, kid, "active", "waiting")
            self._push(t0 + (step + 1) * d, kid, kid.outcome, "active")
        if main.override is None:
            first = len(kids) + 1
            self._push(t0 + first * d, main, "active", "waiting-children" if kids else "waiting")
            self._push(t0 + (first + 1) * d, main, main.outcome, "active")

    @staticmethod
    def _reach(job: Job, state: str, prev: str | None, at: float) -> JobEvent:
        job.state = state
        data: dict[str, object] = {} if prev is None else {"prev": prev}
        if state == "active":
            job.processed_at = at
        if state in FINISHED:
            job.finished_at = at
            job.attempts = 1
        if state == "completed":
            data["returnvalue"] = dict(job.result)
        elif state == "failed":
            data["failedReason"] = job.failed_reason
        return JobEvent(name=state, job=job, at=at, data=data)

    def settle(self) -> None:
        """Reach every transition whose time has come and send its event to the matching streams."""
        now = time.time()
        with self.lock:
            for at, (job, state, prev) in self._pending.pop_due(now):
                if self.jobs.get((job.type, job.id)) is not job:
                    continue  # forgotten by a reset
                event = self._reach(job, state, prev, at)
                for sub in self._subs:
                    if sub.wants(event):
                        sub.deliver(event)

    def next_due(self) -> float | None:
        """When the next transition is planned."""
        return self._pending.next_due()

    # -- reading ---------------------------------------------------------------------------------
    def find(self, job_type: str, job_id: str) -> Job | None:
        """The job, settled, or ``None``."""
        self.settle()
        with self.lock:
            return self.jobs.get((job_type, job_id))

    def all_jobs(self) -> list[Job]:
        """Every job, settled, newest first."""
        self.settle()
        with self.lock:
            return sorted(self.jobs.values(), key=lambda job: (job.created_at, job.seq), reverse=True)

    # -- event streams ---------------------------------------------------------------------------
    def subscribe(self, job_type: str | None, job_id: str | None, children: bool) -> tuple[Subscription, str | None]:
        """Open a stream's subscription (on the running loop) and start the background task.

        Also returns the state of the target job if it has finished already, in which case the stream
        has nothing more to wait for.
        """
        self.start_ticker()
        self.settle()
        sub = Subscription(job_type, job_id, children)
        with self.lock:
            self._subs.add(sub)
            self._streams_opened += 1
            finished = None
            if job_id is not None:
                for job in self.jobs.values():
                    if sub.is_target(job) and job.reported_state in FINISHED:
                        finished = job.reported_state
        return sub, finished

    def unsubscribe(self, sub: Subscription) -> None:
        """Close a stream's subscription."""
        with self.lock:
            self._subs.discard(sub)

    def count_sent(self) -> None:
        """Count one job event written to an event stream."""
        with self.lock:
            self._job_events_sent += 1

    def stream_stats(self) -> dict[str, int]:
        """Event streams opened since the last reset, those open now, and the job events sent on them."""
        with self.lock:
            return {"opened": self._streams_opened, "open": len(self._subs), "job_events_sent": self._job_events_sent}

    def clear_stats(self) -> None:
        """Forget the stream counts (the streams stay open)."""
        with self.lock:
            self._streams_opened = self._job_events_sent = 0

    def start_ticker(self) -> None:
        """Run the background task on the running loop, unless it runs already."""
        loop = asyncio.get_running_loop()
        with self.lock:
            if self._ticker is not None and not self._ticker.done() and self._loop is loop:
                return
            self._loop, self._wake = loop, asyncio.Event()
            self._ticker = loop.create_task(self._tick(self._wake), name="batchops-simulator-jobs")

    def _poke(self) -> None:
        """Wake the background task (from any thread): the planned transitions have changed."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)

    async def _tick(self, wake: asyncio.Event) -> None:
        while True:
            wake.clear()
            try:
                self.settle()
            except Exception:  # keep ticking: one bad transition must not stop every stream
                logger.exception("settling registry jobs failed")
            due = self.next_due()
            timeout = None if due is None else max(0.0, due - time.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)
