"""WaylayRegistryJobTrigger / WaylayRegistryJobsTrigger and resources batches against the live simulator."""

from __future__ import annotations

import asyncio
import time

import pytest
import requests

from airflow_provider_batchops.hooks.waylay import WaylayHook
from airflow_provider_batchops.models.waylay import resources_delete_bodies
from airflow_provider_batchops.triggers.waylay import (
    WaylayBatchTrigger,
    WaylayRegistryJobsTrigger,
    WaylayRegistryJobTrigger,
)
from tests.support.triggers import run_rebuilt

EVENTS = "GET /registry/v2/jobs/events"
GET_JOB = "GET /registry/v2/jobs/{type}/{id}"
PLUG = {"functionType": "plugs", "name": "myPlug", "version": "1.0.1"}


def create_job(sim, **spec) -> dict:
    return sim.client.create_job({"type": "build", "function": PLUG, **spec})


def job_trigger(job, **kwargs) -> WaylayRegistryJobTrigger:
    return WaylayRegistryJobTrigger(job_type=job["type"], job_id=job["id"], **{"poll_interval": 0.2, **kwargs})


async def test_a_job_is_followed_through_the_event_stream(sim_conn):
    sim_conn.client.configure(job_step_delay=0.3)
    job = create_job(sim_conn)
    event = await run_rebuilt(job_trigger(job, poll_interval=30))
    assert event["status"] == "success"
    assert event["report"]["summary"]["state"] == "completed"
    counters = sim_conn.client.counters()["requests"]
    assert counters[EVENTS] == 1
    # With a 30 s poll interval the job (done in ~0.9 s) was seen through the stream, not by polling.
    assert counters[GET_JOB] <= 3


async def test_a_failed_job_reports_its_reason(sim_conn):
    sim_conn.client.configure(job_step_delay=0.2)
    job = create_job(sim_conn, outcome="failed", failed_reason="function not healthy after 3 attempts")
    event = await run_rebuilt(job_trigger(job))
    assert event["status"] == "failed"
    assert "function not healthy after 3 attempts" in event["message"]


async def test_a_verify_job_with_children_completes_after_them(sim_conn):
    sim_conn.client.configure(job_step_delay=0.2)
    job = create_job(sim_conn, type="verify", children=True)
    event = await run_rebuilt(job_trigger(job, children=True))
    assert event["status"] == "success"
    assert event["report"]["summary"]["job_type"] == "verify"


async def test_an_already_finished_job_needs_no_stream(sim_conn):
    sim_conn.client.configure(job_step_delay=0.05)
    job = create_job(sim_conn)
    await asyncio.sleep(0.5)
    event = await run_rebuilt(job_trigger(job))
    assert event["status"] == "success"
    assert sim_conn.client.counters()["requests"].get(EVENTS, 0) == 0


async def test_a_cut_stream_reconnects_and_misses_nothing(sim_conn):
    sim_conn.client.configure(job_step_delay=0.4)
    sim_conn.client.add_fault(route=EVENTS, kind="cut", after_events=1, times=2)
    job = create_job(sim_conn)
    event = await run_rebuilt(job_trigger(job, poll_interval=0.1))
    assert event["status"] == "success"
    assert sim_conn.client.counters()["requests"][EVENTS] >= 2


async def test_an_unavailable_stream_falls_back_to_polling(sim_conn):
    sim_conn.client.configure(job_step_delay=0.2)
    sim_conn.client.add_fault(route=EVENTS, kind="status", status=503)
    job = create_job(sim_conn)
    event = await run_rebuilt(job_trigger(job, poll_interval=0.1, max_poll_interval=0.2))
    assert event["status"] == "success"


async def test_polling_only_never_opens_the_stream(sim_conn):
    sim_conn.client.configure(job_step_delay=0.1)
    job = create_job(sim_conn)
    event = await run_rebuilt(job_trigger(job, use_events=False, poll_interval=0.1))
    assert event["status"] == "success"
    assert sim_conn.client.counters()["requests"].get(EVENTS, 0) == 0


async def test_an_unknown_state_keeps_waiting_until_the_deadline(sim_conn):
    job = create_job(sim_conn, state_override="unknown")
    event = await run_rebuilt(job_trigger(job, deadline=time.time() + 1.0, poll_interval=0.2))
    assert event["status"] == "timeout"
    assert "unknown" in event["message"]


async def test_an_unknown_job_is_an_error_event(sim_conn):
    event = await run_rebuilt(WaylayRegistryJobTrigger(job_type="build", job_id="no$such/job", poll_interval=0.1))
    assert event["status"] == "error"
    assert "404" in event["message"]


async def test_jobs_list_trigger_waits_for_every_matching_job(sim_conn):
    sim_conn.client.configure(job_step_delay=0.2)
    fn = {"functionType": "plugs", "name": f"plug-{time.time_ns()}", "version": "1.0.0"}
    create_job(sim_conn, function=fn)
    create_job(sim_conn, function=fn, outcome="failed", failed_reason="boom")
    trigger = WaylayRegistryJobsTrigger(job_type=["build"], function_name=fn["name"], created_after="PT1H",
                                        poll_interval=0.2)
    event = await run_rebuilt(trigger)
    assert event["status"] == "failed"
    assert event["report"]["summary"]["jobs"] == 2 and event["report"]["item_failures"] == 1


async def test_a_split_bulk_delete_is_followed_as_one(sim_conn):
    sim_conn.client.configure(batch_delay=0.2)
    ids = [f"bulk-{i}" for i in range(250)]
    sim_conn.client.put_resources([{"id": i, "name": i, "resourceTypeId": "pump"} for i in ids])
    hook = WaylayHook()
    batch_ids = [hook.start_resources_delete(b)["entity"]["id"] for b in resources_delete_bodies(ids, max_batch_size=100)]
    assert len(batch_ids) == 3
    event = await run_rebuilt(WaylayBatchTrigger(service="resources", batch_ids=batch_ids, poll_interval=0.1))
    assert event["status"] == "success"
    assert event["report"]["summary"]["succeeded"] == 250 and event["report"]["summary"]["batches"] == 3
    remaining = {r["id"] for r in sim_conn.client.resources()}
    assert not remaining & set(ids)


def test_the_stream_refuses_requests_without_credentials(sim_conn):
    response = requests.get(f"{sim_conn.url}/registry/v2/jobs/events", timeout=5)
    assert response.status_code == 401


@pytest.mark.parametrize("bad", [{"job_type": "compile"}, {"job_id": ""}])
def test_bad_job_trigger_kwargs(bad):
    from airflow_provider_batchops.core.errors import InputError

    with pytest.raises(InputError):
        WaylayRegistryJobTrigger(**{"job_type": "build", "job_id": "j", **bad})
