"""Waylay triggers on their own: the registry event stream is a fast path, not the only one."""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from airflow_provider_batchops.triggers.waylay import WaylayRegistryJobTrigger


# -- the registry stream is a fast path, not the only one --------------------------------------------
async def test_a_silent_event_stream_does_not_hide_a_finished_job(monkeypatch):
    """The stream sends only keep-alives; the job finishes at 0.4 s and is seen on the poll schedule."""
    finished_at = time.time() + 0.4

    async def job(request: web.Request) -> web.Response:
        state = "completed" if time.time() >= finished_at else "active"
        return web.json_response({"job": {"type": "build", "state": state, "job": {"id": "j1"}}})

    async def events(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"event: ack\ndata: {}\n\n")
        for _ in range(100):  # keep-alives only, for at most 10 s
            await asyncio.sleep(0.1)
            await response.write(b": keep-alive\n\n")
        return response

    from tests.support.helpers import serve_waylay

    async with serve_waylay(monkeypatch, {"/registry/v2/jobs/build/j1": job, "/registry/v2/jobs/events": events}):
        trigger = WaylayRegistryJobTrigger(job_type="build", job_id="j1", poll_interval=0.1, max_poll_interval=0.2,
                                           deadline=time.time() + 8)
        started = time.monotonic()
        event = await asyncio.wait_for(anext(trigger.run()), 10)
    assert event.payload["status"] == "success", json.dumps(event.payload)
    assert time.monotonic() - started < 2.0  # not the 8 s deadline
