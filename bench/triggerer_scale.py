"""Triggerer scale: N concurrent waits on one asyncio event loop, as the triggerer runs them.

One run = one implementation x one number of waits, in this process; the simulator runs in another
process (so its CPU is not counted here). The run:

1. resets the simulator, sets its batch delay and starts N rules batches (plain HTTP, not measured);
2. builds N triggers and runs each ``trigger.run()`` async generator until its first event, all at once
   on one loop, while a probe task sleeps 50 ms again and again and records how late it wakes up;
3. prints one JSON line: loop lag p50/p99, process CPU seconds, status polls counted by the simulator,
   CPU per 1,000 polls, RSS growth per wait, token requests, events and errors.

Implementations (``--impl``):

- ``provider``: :class:`~airflow_provider_batchops.triggers.waylay.WaylayBatchTrigger` (aiohttp, shared
  session per loop, process-wide token cache).
- ``http``: apache-airflow-providers-http's ``HttpSensorTrigger`` on the same status URL. It finishes on
  the first answer that is not a 404, so the simulator answers 404 (a fault rule) for as many polls as
  the batches take; it authenticates with the ``Authorization`` header of a pre-issued token in the
  connection's extras (its hook turns extras into headers, login/password into basic auth).
- ``naive``: :class:`bench.naive_trigger.NaiveWaylayBatchTrigger`, the sync requests-based WaylayHook
  in ``asyncio.to_thread`` per poll.
- ``superoffice``: :class:`~airflow_provider_batchops.triggers.superoffice.SuperOfficeBatchTaskTrigger`
  on SuperOffice batch tasks (bearer token), for a second provider trigger.

    python -m bench.triggerer_scale --impl provider --waits 1000 --sim-url http://127.0.0.1:PORT
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiohttp
import requests

from airflow_provider_batchops.simulator.client import SimulatorClient
from bench.common import (
    RULES_STATUS_ROUTE,
    SIM_API_KEY,
    SIM_API_SECRET,
    SUPEROFFICE_STATUS_ROUTE,
    TOKEN_ROUTE,
    percentile,
    waylay_conn_json,
)

IMPLEMENTATIONS = ("provider", "http", "naive", "floor", "superoffice")
LABELS = {
    "provider": "WaylayBatchTrigger (this provider)",
    "http": "HttpSensorTrigger (providers-http)",
    "naive": "naive: sync hook in to_thread",
    "floor": "floor: bare aiohttp loop (reference)",
    "superoffice": "SuperOfficeBatchTaskTrigger (this provider)",
}
PROBE_INTERVAL = 0.05
HTTP_CONN_ID = "bench_http"
#: The simulator's SuperOffice access token (airflow_provider_batchops.simulator.superoffice).
SO_TOKEN = "8A:Cust12345.simulator-access-token"
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Resident set size of this process now."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except OSError:  # not Linux: the peak so far is the best available
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# -- setting up the remote work (not measured) -----------------------------------------------------------------
async def start_remote_work(url: str, impl: str, count: int, concurrency: int = 32) -> list[str]:
    """Start ``count`` rules batches (or SuperOffice batch tasks) and return their ids."""
    async with aiohttp.ClientSession() as session:
        if impl == "superoffice":
            path = "/api/v1/BatchTask"
            headers = {"Authorization": f"Bearer {SO_TOKEN}"}
            body: dict[str, Any] = {"Name": "ExportContacts"}
        else:
            async with session.post(f"{url}/accounts/v1/tokens", params={"grant_type": "client_credentials"},
                                    json={"clientId": SIM_API_KEY, "clientSecret": SIM_API_SECRET}) as resp:
                token = (await resp.json())["token"]
            headers = {"Authorization": f"Bearer {token}"}
            task_id = (await asyncio.to_thread(SimulatorClient(url).tasks))[0]["id"]
            path = "/rules/v1/batch"
            body = {"entity": "task", "action": "reload", "query": {"ids": [task_id]}}
        ids: list[str] = []
        todo = iter(range(count))

        async def starter() -> None:
            for _ in todo:
                async with session.post(url + path, json=body, headers=headers) as resp:
                    resp.raise_for_status()
                    answer = await resp.json()
                ids.append(str(answer["entity"]["id"]) if impl != "superoffice" else str(_so_task_id(answer)))

        await asyncio.gather(*(starter() for _ in range(concurrency)))
    return ids


def issue_token(url: str) -> str:
    response = requests.post(f"{url}/accounts/v1/tokens", params={"grant_type": "client_credentials"},
                             json={"clientId": SIM_API_KEY, "clientSecret": SIM_API_SECRET}, timeout=30)
    response.raise_for_status()
    return str(response.json()["token"])


def _so_task_id(answer: Any) -> int:
    from airflow_provider_batchops.models.superoffice import task_id_from_start

    return task_id_from_start(answer)


def superoffice_token_check(url: str) -> None:
    """Fail early when the simulator refuses the bench's SuperOffice bearer token."""
    response = requests.get(f"{url}/api/v1/BatchTask/1", headers={"Authorization": f"Bearer {SO_TOKEN}"}, timeout=10)
    if response.status_code == 401:
        raise SystemExit(f"the simulator refuses the SuperOffice token: {response.text}")


# -- the triggers ---------------------------------------------------------------------------------------------
def trigger_factory(impl: str, poll_interval: float) -> Callable[[str], Any]:
    """A function making the trigger of ``impl`` for one remote id (imports happen here, before measuring)."""
    if impl == "provider":
        from airflow_provider_batchops.triggers.waylay import WaylayBatchTrigger

        return lambda batch_id: WaylayBatchTrigger(service="rules", batch_id=batch_id, poll_interval=poll_interval,
                                                   max_poll_interval=poll_interval)
    if impl == "superoffice":
        from airflow_provider_batchops.triggers.superoffice import SuperOfficeBatchTaskTrigger

        return lambda task_id: SuperOfficeBatchTaskTrigger(batch_task_id=int(task_id), poll_interval=poll_interval,
                                                           max_poll_interval=poll_interval)
    if impl == "naive":
        from bench.naive_trigger import NaiveWaylayBatchTrigger

        return lambda batch_id: NaiveWaylayBatchTrigger(service="rules", batch_id=batch_id,
                                                        poll_interval=poll_interval, max_poll_interval=poll_interval)
    if impl == "floor":
        from bench.naive_trigger import BareAiohttpTrigger

        url, token = os.environ["BENCH_SIM_URL"], os.environ["BENCH_TOKEN"]
        return lambda batch_id: BareAiohttpTrigger(f"{url}/rules/v1/batch/{batch_id}", token, poll_interval)
    if impl == "http":
        from airflow.providers.http.triggers.http import HttpSensorTrigger

        return lambda batch_id: HttpSensorTrigger(endpoint=f"rules/v1/batch/{batch_id}", http_conn_id=HTTP_CONN_ID,
                                                  method="GET", poke_interval=poll_interval)
    raise SystemExit(f"unknown implementation {impl!r}; expected one of {', '.join(IMPLEMENTATIONS)}")


def outcome(payload: Any) -> str:
    """``success`` or what else a first event said."""
    if payload is True:  # HttpSensorTrigger
        return "success"
    if isinstance(payload, dict):
        return str(payload.get("status"))
    return repr(payload)


async def first_event(trigger: Any) -> Any:
    """Run ``trigger.run()`` until its first event, as the triggerer does, then close the generator."""
    events = trigger.run()
    try:
        event = await events.__anext__()
        return event.payload
    finally:
        await events.aclose()


async def measure(make: Callable[[str], Any], ids: list[str], timeout: float, closing: bool = False) -> dict[str, Any]:
    """Run every wait concurrently with the lag probe; CPU, RSS and wall time around the waits only."""
    lags: list[float] = []
    lag_times: list[float] = []
    rss_samples: list[int] = []
    stop = asyncio.Event()

    async def probe() -> None:
        for n in range(10**7):  # bounded; stopped by ``stop`` long before
            if stop.is_set():
                return
            before = time.perf_counter()
            await asyncio.sleep(PROBE_INTERVAL)
            after = time.perf_counter()
            lags.append(max(0.0, after - before - PROBE_INTERVAL))
            lag_times.append(after)
            if n % 10 == 0:
                rss_samples.append(rss_bytes())

    pauses: list[tuple[int, float]] = []
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            pauses.append((info["generation"], time.perf_counter() - gc_started[0]))

    spans: list[float] = []

    async def timed(trigger: Any) -> Any:
        """One wait, timed from its start to its event (the poll rate it asked for is worked out from it)."""
        began = time.perf_counter()
        try:
            return await first_event(trigger)
        finally:
            spans.append(time.perf_counter() - began)

    gc.callbacks.append(on_gc)
    probe_task = asyncio.create_task(probe())
    await asyncio.sleep(1.0)  # the idle loop's lag, for reference
    idle_lags = list(lags)
    rss_before = rss_bytes()
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    tasks = []
    for remote_id in ids:  # as the triggerer's create_triggers: build one, start it, let the loop run
        tasks.append(asyncio.create_task(timed(make(remote_id))))
        await asyncio.sleep(0)
    _, pending = await asyncio.wait(tasks, timeout=max(1.0, timeout - (time.perf_counter() - wall_before)))
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    if closing:
        from bench.naive_trigger import BareAiohttpTrigger

        await BareAiohttpTrigger.close_sessions()
    cpu_after, wall_after = time.process_time(), time.perf_counter()
    rss_peak = max([rss_before, *rss_samples])
    stop.set()
    await probe_task
    gc.callbacks.remove(on_gc)
    full = [d for g, d in pauses if g == 2]
    run_lags = [lag for lag, at in zip(lags, lag_times, strict=True) if wall_before <= at <= wall_after]
    outcomes: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for task in tasks:
        if task in pending:
            errors["not finished before the time limit"] += 1
        elif task.exception() is not None:
            errors[type(task.exception()).__name__] += 1
        else:
            result = outcome(task.result())
            outcomes[result] += 1
            if result != "success":
                errors[f"event {result}"] += 1
    return {
        "cpu_s": cpu_after - cpu_before,
        "wall_s": wall_after - wall_before,
        "lag_samples": len(run_lags),
        "lag_p50_ms": percentile(run_lags, 50) * 1000,
        "lag_p99_ms": percentile(run_lags, 99) * 1000,
        "lag_max_ms": max(run_lags, default=math.nan) * 1000,
        "idle_lag_p99_ms": percentile(idle_lags, 99) * 1000,
        "gc_collections": len(pauses),
        "gc_full_collections": len(full),
        "gc_pause_total_s": sum(d for _, d in pauses),
        "gc_full_pause_max_ms": max(full, default=0.0) * 1000,
        "rss_before_mib": rss_before / 2**20,
        "rss_peak_mib": rss_peak / 2**20,
        "wait_spans_s_total": sum(spans),
        "outcomes": dict(outcomes),
        "errors": dict(errors),
        "error_count": sum(errors.values()),
    }


def run(impl: str, waits: int, url: str, poll_interval: float, batch_delay: float, timeout: float,
        gc_freeze: bool = False) -> dict[str, Any]:
    os.environ["AIRFLOW_CONN_WAYLAY_DEFAULT"] = waylay_conn_json(url)
    os.environ["AIRFLOW_CONN_SUPEROFFICE_DEFAULT"] = json.dumps(
        {"conn_type": "superoffice", "host": url, "password": SO_TOKEN})
    SimulatorClient(url).reset(state=True)
    settings = {"so_step_delay": batch_delay / 5} if impl == "superoffice" else {"batch_delay": batch_delay}
    SimulatorClient(url).configure(settings)
    if impl == "superoffice":
        superoffice_token_check(url)
    if impl in ("http", "floor"):  # a token issued before the counters are reset: these do not ask for one
        os.environ["BENCH_SIM_URL"], os.environ["BENCH_TOKEN"] = url, issue_token(url)
        extra = json.dumps({"Authorization": f"Bearer {os.environ['BENCH_TOKEN']}"})
        os.environ[f"AIRFLOW_CONN_{HTTP_CONN_ID.upper()}"] = json.dumps(
            {"conn_type": "http", "host": url, "extra": extra})
    make = trigger_factory(impl, poll_interval)  # imports everything the triggers need, before any timing
    setup_started = time.perf_counter()
    ids = asyncio.run(start_remote_work(url, impl, waits))
    make(ids[0])
    SimulatorClient(url).reset(state=False)  # counters and faults only; the batches stay
    setup_s = time.perf_counter() - setup_started
    if impl == "http":
        # As many 404 rounds as the batches have left to run (the probe idles 1 s first).
        rounds = max(1, round((batch_delay - setup_s - 1.0) / poll_interval))
        SimulatorClient(url).add_fault(route=RULES_STATUS_ROUTE, kind="status", status=404, times=waits * rounds)
    if gc_freeze:  # not a fix: shows what the full collections of the objects imported so far cost
        gc.collect()
        gc.freeze()
    result = asyncio.run(measure(make, ids, timeout, closing=impl == "floor"))
    counters = SimulatorClient(url).counters()
    SimulatorClient(url).clear_faults()
    status_route = SUPEROFFICE_STATUS_ROUTE if impl == "superoffice" else RULES_STATUS_ROUTE
    polls = int(counters["requests"].get(status_route, 0))
    # The schedule asks for one read when a wait starts and one per poll interval after it (the jitter
    # averages out): over waits that lasted S seconds in all, N + S / interval reads.
    requested = waits + result["wait_spans_s_total"] / poll_interval
    result.update(
        impl=impl,
        label=LABELS[impl] + (", gc.freeze() after imports" if gc_freeze else ""),
        gc_freeze=gc_freeze,
        waits=waits,
        poll_interval_s=poll_interval,
        batch_delay_s=batch_delay,
        setup_s=setup_s,
        polls=polls,
        polls_per_wait=polls / waits if waits else math.nan,
        requested_polls=requested,
        poll_rate_pct=polls / requested * 100 if requested else math.nan,
        cpu_ms_per_1000_polls=result["cpu_s"] / polls * 1_000_000 if polls else math.nan,
        cpu_s_per_1000_polls=result["cpu_s"] / polls * 1000 if polls else math.nan,
        mem_kib_per_wait=max(0.0, result["rss_peak_mib"] - result["rss_before_mib"]) * 1024 / waits,
        token_requests=int(counters["requests"].get(TOKEN_ROUTE, 0)),
        requests_total=int(counters["total"]),
        statuses={k: v for k, v in counters["statuses"].items()},
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--impl", choices=IMPLEMENTATIONS, required=True)
    parser.add_argument("--waits", type=int, required=True)
    parser.add_argument("--sim-url", required=True)
    parser.add_argument("--poll-interval", type=float, default=5.0)
    parser.add_argument("--batch-delay", type=float, default=30.0, help="seconds until a started batch finishes")
    parser.add_argument("--timeout", type=float, default=None, help="limit of the waits (default: delay + 90 s)")
    parser.add_argument("--gc-freeze", action="store_true",
                        help="gc.freeze() the objects that exist before the waits (a diagnosis, not a setting)")
    args = parser.parse_args(argv)
    if not args.sim_url.startswith(("http://127.", "http://localhost", "http://[::1]")):
        parser.error("the benchmark only talks to a simulator on loopback")
    timeout = args.timeout if args.timeout is not None else args.batch_delay + 90.0
    result = run(args.impl, args.waits, args.sim_url, args.poll_interval, args.batch_delay, timeout, args.gc_freeze)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
