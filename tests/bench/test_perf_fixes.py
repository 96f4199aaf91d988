"""The performance fixes made for the benchmarks (bench/results.md): behaviour kept, work saved."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap

import pytest

from airflow_provider_batchops.core import hook as hook_module
from airflow_provider_batchops.core.http import Reply, Timeouts, _client_timeout


def test_reply_json_is_parsed_once_and_reused():
    reply = Reply(200, {}, b'{"a": [1, 2]}')
    first = reply.json()
    assert first == {"a": [1, 2]}
    assert reply.json() is first  # the success check and the caller share one parse


def test_reply_json_errors_every_time_and_empty_body_is_none():
    bad = Reply(200, {}, b"{not json")
    for _ in range(2):
        with pytest.raises(ValueError):
            bad.json()
    assert Reply(204, {}, b"").json() is None
    assert Reply(500, {}, b"{oops").body_for_error() == "{oops"


def test_client_timeout_is_built_once_per_timeouts():
    one = _client_timeout(Timeouts(connect=3.0, total=7.0))
    assert one is _client_timeout(Timeouts(connect=3.0, total=7.0))
    assert (one.connect, one.total) == (3.0, 7.0)
    assert _client_timeout(Timeouts(connect=3.0, total=8.0)).total == 8.0


async def test_concurrent_connection_lookups_are_shared_then_forgotten(monkeypatch):
    monkeypatch.setattr(hook_module, "LOOKUP_REUSE_SECONDS", 0.2)
    calls = []
    release = asyncio.Event()

    async def lookup(conn_id):
        calls.append(conn_id)
        await release.wait()
        return f"conn:{conn_id}:{len(calls)}"

    waiters = [asyncio.create_task(hook_module._shared_lookup("a", lookup)) for _ in range(50)]
    other = asyncio.create_task(hook_module._shared_lookup("b", lookup))
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*waiters, other)
    assert calls == ["a", "b"]  # one look-up per connection id while in flight
    assert set(results[:50]) == {"conn:a:1"} and results[50] == "conn:b:2"
    await asyncio.sleep(0)
    assert await hook_module._shared_lookup("a", lookup) == "conn:a:1"  # reused just after it finished
    await asyncio.sleep(0.3)
    assert await hook_module._shared_lookup("a", lookup) == "conn:a:3"  # and forgotten after the window


async def test_hooks_built_together_share_one_client_per_class_and_connection(monkeypatch):
    """Triggers started together read each connection and build its client once, not once each."""
    from airflow_provider_batchops.hooks.mammoth import MammothHook
    from airflow_provider_batchops.hooks.waylay import WaylayHook
    from tests.support.helpers import set_connection

    monkeypatch.setattr(hook_module, "LOOKUP_REUSE_SECONDS", 0.2)
    set_connection(monkeypatch, "waylay_default", host="http://127.0.0.1:1", login="key", password="secret-1")
    set_connection(monkeypatch, "waylay_other", host="http://127.0.0.1:2", login="key", password="secret-2")
    set_connection(monkeypatch, "mammoth_default", conn_type="mammoth", host="http://127.0.0.1:3", login="k",
                   password="secret-3")
    lookups: list[str] = []
    real = WaylayHook.aget_connection

    async def counted(cls, conn_id):
        lookups.append(conn_id)
        return await real(conn_id)

    monkeypatch.setattr(WaylayHook, "aget_connection", classmethod(counted))
    clients = await asyncio.gather(*(WaylayHook().aclient() for _ in range(30)))
    other = await WaylayHook("waylay_other").aclient()
    mammoth = await MammothHook().aclient()
    assert lookups == ["waylay_default", "waylay_other"]
    assert all(c is clients[0] for c in clients) and other is not clients[0]
    assert other.base_url == "http://127.0.0.1:2" and mammoth is not clients[0]  # per class, per connection
    await asyncio.sleep(0.3)
    assert await WaylayHook().aclient() is not clients[0]  # a connection changed since is read again


async def test_a_cancelled_waiter_does_not_cancel_the_shared_lookup():
    release = asyncio.Event()

    async def lookup(conn_id):
        await release.wait()
        return "conn"

    first = asyncio.create_task(hook_module._shared_lookup("c", lookup))
    second = asyncio.create_task(hook_module._shared_lookup("c", lookup))
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert await second == "conn"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_failed_lookup_reaches_every_waiter_and_is_not_kept():
    attempts = []

    async def lookup(conn_id):
        attempts.append(conn_id)
        await asyncio.sleep(0)
        if len(attempts) == 1:
            raise LookupError("no such connection")
        return "conn"

    waiters = [asyncio.create_task(hook_module._shared_lookup("d", lookup)) for _ in range(3)]
    outcomes = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(o, LookupError) for o in outcomes)
    await asyncio.sleep(0)
    assert await hook_module._shared_lookup("d", lookup) == "conn"


def test_operator_and_sensor_imports_leave_aiohttp_and_requests_unloaded():
    code = textwrap.dedent("""
        import json, sys
        import airflow.sdk
        before = {m for m in ("aiohttp", "requests") if m in sys.modules}
        import airflow_provider_batchops.operators.waylay, airflow_provider_batchops.operators.mammoth
        import airflow_provider_batchops.operators.superoffice, airflow_provider_batchops.sensors.waylay
        import airflow_provider_batchops.sensors.mammoth, airflow_provider_batchops.sensors.superoffice
        after = {m for m in ("aiohttp", "requests") if m in sys.modules}
        print(json.dumps(sorted(after - before)))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_poll_delay_stays_at_the_cap_after_thousands_of_polls():
    from airflow_provider_batchops.core.waiting import PollSchedule

    schedule = PollSchedule(interval=10.0, max_interval=60.0, jitter=0.0)
    assert schedule.delay(1) == 10.0 and schedule.delay(2) == 15.0
    # 1.5 ** n overflows a float after ~1,750 polls: a day-long wait at 60 s must not crash the trigger.
    assert [schedule.delay(n) for n in (10, 1_760, 10_000, 10**7)] == [60.0] * 4
