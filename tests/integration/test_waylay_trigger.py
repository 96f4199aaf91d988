"""WaylayBatchTrigger against the live simulator: serialize -> rebuild from the classpath -> run."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from airflow_provider_batchops.core import http as core_http
from airflow_provider_batchops.hooks.waylay import WaylayHook
from airflow_provider_batchops.simulator import SIM_API_SECRET
from airflow_provider_batchops.triggers.waylay import WaylayBatchTrigger
from tests.support.triggers import run_rebuilt

GET_BATCH = "GET /rules/v1/batch/{batchId}"


def seed(sim, *ids: str, **fields):
    sim.client.put_tasks([{"id": i, "name": i, "type": "onetime", "status": "stopped", **fields}
                                         for i in ids])


def start_delete(sim, ids: list[str]) -> str:
    return WaylayHook().start_rules_batch({"entity": "task", "action": "delete", "query": {"ids": ids}})["entity"]["id"]


def trigger_for(batch_id: str, **kwargs) -> WaylayBatchTrigger:
    return WaylayBatchTrigger(service="rules", batch_id=batch_id, **{"poll_interval": 0.1, **kwargs})


async def test_a_batch_is_followed_to_success(sim_conn):
    sim_conn.client.configure(batch_delay=0.3)
    seed(sim_conn, "t-1", "t-2")
    batch_id = start_delete(sim_conn, ["t-1", "t-2", "t-missing"])
    event = await run_rebuilt(trigger_for(batch_id))
    assert event["status"] == "failed"  # t-missing does not exist: a per-item failure
    summary = event["report"]["summary"]
    assert summary["succeeded"] == 2 and summary["failed"] == 1
    assert summary["failures"]["t-missing"]["statusCode"] == 404
    assert event["report"]["item_failures"] == 1


async def test_success_event_when_every_item_succeeds(sim_conn):
    sim_conn.client.configure(batch_delay=0.2)
    seed(sim_conn, "ok-1")
    event = await run_rebuilt(trigger_for(start_delete(sim_conn, ["ok-1"])))
    assert event["status"] == "success"
    assert event["report"]["state"] == "succeeded"


async def test_the_deadline_yields_a_timeout_event_after_a_last_read(sim_conn):
    sim_conn.client.configure(batch_delay=60)
    seed(sim_conn, "slow-1")
    batch_id = start_delete(sim_conn, ["slow-1"])
    started = time.monotonic()
    event = await run_rebuilt(trigger_for(batch_id, poll_interval=5, deadline=time.time() + 0.5))
    assert event["status"] == "timeout"
    assert event["report"]["state"] == "running"
    assert time.monotonic() - started < 3  # the sleep was cut to the deadline
    # One read at the start, one at the deadline itself.
    assert sim_conn.client.counters()["requests"][GET_BATCH] == 2


async def test_transient_faults_are_survived(sim_conn):
    sim_conn.client.configure(batch_delay=0.2)
    seed(sim_conn, "f-1")
    batch_id = start_delete(sim_conn, ["f-1"])
    sim_conn.client.add_fault(route=GET_BATCH, kind="status", status=503, retry_after=0.1, times=2)
    sim_conn.client.add_fault(route=GET_BATCH, kind="drop", times=1)
    sim_conn.client.add_fault(route=GET_BATCH, kind="status", status=429, retry_after=0.1, times=1)
    event = await run_rebuilt(trigger_for(batch_id))
    assert event["status"] == "success"
    counters = sim_conn.client.counters()
    assert counters["statuses"].get(f"{GET_BATCH} 503") == 2
    assert counters["statuses"].get(f"{GET_BATCH} 429") == 1
    assert counters["requests"]["POST /rules/v1/batch"] == 1


async def test_token_expiry_during_the_wait_is_refreshed(sim_conn):
    sim_conn.client.configure(batch_delay=0.6)
    seed(sim_conn, "e-1")
    batch_id = start_delete(sim_conn, ["e-1"])
    sim_conn.client.expire_tokens()
    event = await run_rebuilt(trigger_for(batch_id))
    assert event["status"] == "success"
    assert sim_conn.client.counters()["requests"]["POST /accounts/v1/tokens"] == 2


async def test_an_unknown_batch_yields_an_error_event_naming_the_status(sim_conn):
    event = await run_rebuilt(trigger_for("no/such?batch#$"))
    assert event["status"] == "error"
    assert "404" in event["message"] and "No batch operation" in event["message"]


async def test_kwargs_and_events_carry_no_secret(sim_conn):
    sim_conn.client.configure(batch_delay=0.1)
    seed(sim_conn, "s-1")
    trigger = trigger_for(start_delete(sim_conn, ["s-1"]))
    event = await run_rebuilt(trigger)
    text = json.dumps(trigger.serialize()) + json.dumps(event)
    assert SIM_API_SECRET not in text and "Bearer" not in text and "eyJ" not in text


async def test_the_shared_session_is_closed_when_the_last_trigger_ends(sim_conn):
    sim_conn.client.configure(batch_delay=0.2)
    seed(sim_conn, "p-1", "p-2", "p-3")
    triggers = [trigger_for(start_delete(sim_conn, [i])) for i in ("p-1", "p-2", "p-3")]
    events = await asyncio.gather(*(run_rebuilt(t) for t in triggers))
    assert [e["status"] for e in events] == ["success"] * 3
    assert asyncio.get_running_loop() not in core_http._loop_sessions


@pytest.mark.parametrize("bad", [{"service": "alarms"}, {"batch_id": ""}, {"poll_interval": 0}])
def test_bad_trigger_kwargs_fail_at_construction(bad):
    from airflow_provider_batchops.core.errors import InputError

    with pytest.raises(InputError):
        WaylayBatchTrigger(**{"service": "rules", "batch_id": "b", **bad})
