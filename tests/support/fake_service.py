"""A tiny made-up service ("Widgets": start a job, read its status, stop it) built on core alone.

The core unit tests (tests/unit/core) drive the generic flow through it, so they test core and no
vendor. It also measures the architecture's claim that a new sensor + trigger pair for an API with one
status endpoint costs one model mapping, one reader and two short declarations. Counted in this file
(code lines, without docstrings, comments and blank lines):

- model mapping (``STATES``, ``job_report``): 9 lines
- reader (``job_reader``): 3 lines
- hook (``WidgetHook``: connection -> client, how errors are worded): 13 lines
- trigger declaration (``WidgetJobTrigger``): 11 lines
- sensor declaration (``WidgetJobSensor``): 12 lines

48 lines in all; the sensor's poke, the operator's worker-side wait and the trigger run the same
reader. No loop, retry, deadline, sync/async twin or error mapping is written here. The operator (start and
a stop reader for timeouts and kills) and :class:`WidgetApi`, the scripted server, are test extras.

:class:`WidgetApi` serves scripted answers to the sync path (``requests-mock``) and to the async path
(a real aiohttp server on 127.0.0.1), so both drivers read the same bodies.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_batchops.core import hook as hook_module
from airflow_provider_batchops.core.auth import StaticAuth
from airflow_provider_batchops.core.hook import ApiHook
from airflow_provider_batchops.core.http import ApiClient, Call, shared_session
from airflow_provider_batchops.core.operator import RemoteId, StartAndWaitOperator
from airflow_provider_batchops.core.reading import Reader
from airflow_provider_batchops.core.sensor import StatusSensor
from airflow_provider_batchops.core.state import BatchState, StatusReport, map_state
from airflow_provider_batchops.core.trigger import StatusTrigger, still_deferred, through_cancels
from airflow_provider_batchops.core.validation import check_text_id
from tests.support.helpers import set_connection

if TYPE_CHECKING:
    from airflow.sdk import Connection

URL = "https://widgets.test/api"
CONN_ID = "widgets_default"

# -- model mapping ------------------------------------------------------------------------------------
STATES = {"pending": BatchState.QUEUED, "running": BatchState.RUNNING, "done": BatchState.SUCCEEDED,
          "failed": BatchState.FAILED, "stopped": BatchState.CANCELLED}


def job_report(body: dict[str, Any]) -> StatusReport:
    state, unknown = map_state(body.get("status"), STATES)
    failed = int(body.get("failed", 0))
    summary = {"job_id": str(body["id"]), "status": body.get("status"), "failed": failed}
    if "progress" in body:
        summary["progress"] = body["progress"]
    return StatusReport(state, summary, f"job {body['id']} is {body.get('status')}", failed, unknown)


# -- reader -------------------------------------------------------------------------------------------
def job_reader(job_id: str) -> Reader[StatusReport]:
    body = yield Call("GET", "/jobs/{id}", path_params={"id": job_id})
    return job_report(body)


# -- hook ---------------------------------------------------------------------------------------------
class WidgetHook(ApiHook):
    conn_name_attr = "widgets_conn_id"
    default_conn_name = CONN_ID
    conn_type = "widgets"
    hook_name = "Widgets"
    error_fields = ("reason",)

    def __init__(self, widgets_conn_id: str = CONN_ID, **kwargs: Any) -> None:
        super().__init__(conn_id=widgets_conn_id, **kwargs)
        self.widgets_conn_id = self.conn_id

    def build_client(self, conn: Connection) -> ApiClient:
        auth = StaticAuth({"X-Widget-Key": self.require(conn, "password", "API key (password)")})
        return ApiClient(self.base_url(conn), auth, timeouts=self.timeouts(self.extras(conn)),
                         error_message=self.error_message)


# -- trigger and sensor: the two declarations ------------------------------------------------------------
class WidgetJobTrigger(StatusTrigger[WidgetHook]):
    hook_class = WidgetHook
    fields = ("job_id", "widgets_conn_id")

    def __init__(self, *, job_id: str, widgets_conn_id: str = CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job_id, self.widgets_conn_id = check_text_id(job_id, "job_id"), widgets_conn_id

    @property
    def remote_id(self) -> str:
        return self.job_id

    def reader(self) -> Reader[StatusReport]:
        return job_reader(self.job_id)


class WidgetJobSensor(StatusSensor):
    template_fields = (*StatusSensor.template_fields, "job_id", "widgets_conn_id")
    trigger_class = WidgetJobTrigger

    def __init__(self, *, job_id: str, widgets_conn_id: str = CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job_id, self.widgets_conn_id = job_id, widgets_conn_id

    def validate(self) -> None:
        check_text_id(self.job_id, "job_id")

    def remote_target(self) -> RemoteId:
        return check_text_id(self.job_id, "job_id")

    def trigger_identity(self, remote_id: RemoteId) -> dict[str, Any]:
        return {"job_id": remote_id, "widgets_conn_id": self.widgets_conn_id}


# -- extras: an operator that starts a job, and a stop reader (timeouts and kills) --------------------------
def stop_reader(job_id: str) -> Reader[str]:
    """Stop the job unless it has finished; say what was done."""
    report = yield from job_reader(job_id)
    if report.state.is_terminal:
        return f"it had already ended ({report.state.value})"
    yield Call("POST", "/jobs/{id}/stop", path_params={"id": job_id}, idempotent=True)
    return "it was stopped"


class StoppableWidgetJobTrigger(WidgetJobTrigger):
    """The trigger, plus stopping the job when a user kills the deferred task."""

    async def on_kill(self) -> None:
        async def stop() -> None:
            if await still_deferred(self):
                return
            async with shared_session():
                self.stopped = await self.make_hook().arun(stop_reader(self.job_id))

        await through_cancels(stop)


class WidgetJobOperator(StartAndWaitOperator):
    """``POST /jobs`` with ``{"size": size}``, then wait for the job; a timeout stops it."""

    template_fields = (*StartAndWaitOperator.template_fields, "size")
    trigger_class = StoppableWidgetJobTrigger
    remote_id_key = "job_id"

    def __init__(self, *, size: Any, widgets_conn_id: str = CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size, self.widgets_conn_id = size, widgets_conn_id

    def validate(self) -> dict[str, Any]:
        from airflow_provider_batchops.core.validation import check_int

        return {"size": check_int(self.size, "size")}

    def start(self, request: dict[str, Any]) -> RemoteId:
        call = Call("POST", "/jobs", json_body=request)
        return self.hook.send_start(call, lambda reply: check_text_id(reply.json()["id"], "id"))

    def trigger_identity(self, remote_id: RemoteId) -> dict[str, Any]:
        return {"job_id": remote_id, "widgets_conn_id": self.widgets_conn_id}

    def cancel(self, remote_id: RemoteId) -> str | None:
        return self.hook.run(stop_reader(str(remote_id)))  # type: ignore[no-any-return]


# -- the scripted server ------------------------------------------------------------------------------------
def job(job_id: str, status: str, **extra: Any) -> dict[str, Any]:
    """A status body of the Widgets API."""
    return {"id": job_id, "status": status, **extra}


class WidgetApi:
    """Scripted answers of the Widgets API, the same to the sync and the async path.

    Each read of a job's status answers the next entry of its script (the last one repeats): a body
    (HTTP 200), or ``(status, body)`` where ``body`` may be a dict or raw text. Starts answer
    ``{"id": next_id}``; stops are recorded.
    """

    def __init__(self, next_id: str = "w-1") -> None:
        self.scripts: dict[str, list[Any]] = {}
        self.reads: dict[str, int] = {}
        self.started: list[Any] = []
        self.stopped: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.next_id = next_id

    def script(self, job_id: str, *answers: Any) -> WidgetApi:
        self.scripts[job_id] = list(answers)
        return self

    def answer(self, job_id: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        self.headers.append(dict(headers or {}))
        n = self.reads[job_id] = self.reads.get(job_id, 0) + 1
        script = self.scripts.get(job_id)
        if not script:
            return 404, json.dumps({"reason": f"no job {job_id}"})
        entry = script[min(n, len(script)) - 1]
        status, body = entry if isinstance(entry, tuple) else (200, entry)
        return status, body if isinstance(body, str) else json.dumps(body)

    def start(self, body: Any) -> tuple[int, str]:
        self.started.append(body)
        return 201, json.dumps({"id": self.next_id})

    def stop(self, job_id: str) -> tuple[int, str]:
        self.stopped.append(job_id)
        return 200, json.dumps({"id": job_id, "status": "stopped"})

    # -- the sync path: requests-mock ----------------------------------------------------------------------
    def mock(self, requests_mock: Any, monkeypatch: pytest.MonkeyPatch, key: str = "widget-key") -> WidgetApi:
        """Serve this script at :data:`URL` through ``requests_mock``; point the connection at it."""
        import re

        def read(request: Any, context: Any) -> str:
            job_id = request.path.rsplit("/", 1)[1]
            context.status_code, text = self.answer(job_id, dict(request.headers))
            return text

        def start(request: Any, context: Any) -> str:
            context.status_code, text = self.start(request.json())
            return text

        def stop(request: Any, context: Any) -> str:
            context.status_code, text = self.stop(request.path.split("/")[-2])
            return text

        requests_mock.get(re.compile(rf"{re.escape(URL)}/jobs/[^/]+$"), text=read)
        requests_mock.post(f"{URL}/jobs", text=start)
        requests_mock.post(re.compile(rf"{re.escape(URL)}/jobs/[^/]+/stop$"), text=stop)
        set_connection(monkeypatch, CONN_ID, conn_type="widgets", host=URL, password=key)
        return self

    # -- the async path: a loopback aiohttp server ---------------------------------------------------------
    @contextlib.asynccontextmanager
    async def serve(self, monkeypatch: pytest.MonkeyPatch, key: str = "widget-key") -> AsyncIterator[str]:
        """Serve this script on 127.0.0.1 (a free port); point the connection at it; yield its URL."""
        from aiohttp import web

        def respond(status_text: tuple[int, str]) -> web.Response:
            status, text = status_text
            return web.Response(status=status, text=text, content_type="application/json")

        async def read(request: web.Request) -> web.Response:
            return respond(self.answer(request.match_info["id"], dict(request.headers)))

        async def start(request: web.Request) -> web.Response:
            return respond(self.start(await request.json()))

        async def stop(request: web.Request) -> web.Response:
            return respond(self.stop(request.match_info["id"]))

        app = web.Application()
        app.router.add_get("/api/jobs/{id}", read)
        app.router.add_post("/api/jobs", start)
        app.router.add_post("/api/jobs/{id}/stop", stop)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}/api"
        set_connection(monkeypatch, CONN_ID, conn_type="widgets", host=url, password=key)
        # Each serve() moves the connection to a new port at once; in a deployment an edited connection
        # is read by the triggers starting LOOKUP_REUSE_SECONDS later (tests/bench/test_perf_fixes.py).
        monkeypatch.setattr(hook_module, "LOOKUP_REUSE_SECONDS", 0.0)
        try:
            yield url
        finally:
            await runner.cleanup()
