"""Request economy and detection latency.

1. ``schedule``: how many status reads a batch that runs 30 minutes costs with the operator defaults
   (``poll_interval`` 10 s growing by 1.5x with +/-10 % jitter up to ``max_poll_interval`` 60 s). The
   provider's own :class:`WaitLoop`/:class:`PollSchedule` decide; a fake clock replaces sleeping.
   Deferred: the operator's read right after the start, then the trigger's reads. In the worker: the
   same loop continuing from the first read.
2. ``detection``: on the simulator, batches that finish at known moments; how long after the server
   marks a batch done (its queue time + the batch delay) the trigger's event comes, with short
   constant intervals, and the same as a fraction of the interval.
3. ``registry``: registry jobs followed through the job event stream (bench/registry_detection_latency.py).

    python -m bench.request_economy --sim-url http://127.0.0.1:PORT
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from typing import Any

from airflow_provider_batchops.simulator.client import SimulatorClient
from bench.common import median, percentile, waylay_conn_json

BATCH_SECONDS = 1800.0
BUDGET = 40


def simulate_reads(runs: int, seed: int = 7) -> dict[str, Any]:
    """Status reads of a 30-minute batch with the operator defaults, over ``runs`` jittered schedules."""
    from airflow_provider_batchops.core.state import BatchState, StatusReport
    from airflow_provider_batchops.core.waiting import (
        DEFAULT_MAX_POLL_INTERVAL,
        DEFAULT_POLL_INTERVAL,
        PollSchedule,
        WaitLoop,
    )

    schedule = PollSchedule.from_user(DEFAULT_POLL_INTERVAL, None)
    running = StatusReport(BatchState.RUNNING)
    done = StatusReport(BatchState.SUCCEEDED)
    random.seed(seed)
    deferred: list[int] = []
    worker: list[int] = []
    detection_lag: list[float] = []
    for _ in range(runs):
        # Deferred: the operator reads once at t=0, then the trigger reads at once and follows its schedule.
        now, reads = 0.0, 1
        loop = WaitLoop(schedule, deadline=None)
        for _ in range(10_000):
            reads += 1
            decision = loop.decide(done if now >= BATCH_SECONDS else running)
            if decision.finished:
                break
            now += decision.delay
        deferred.append(reads)
        detection_lag.append(now - BATCH_SECONDS)
        # In the worker: one WaitLoop from the first read on (wait_sync gets the first decision).
        now, reads = 0.0, 0
        loop = WaitLoop(schedule, deadline=None)
        for _ in range(10_000):
            reads += 1
            decision = loop.decide(done if now >= BATCH_SECONDS else running)
            if decision.finished:
                break
            now += decision.delay
        worker.append(reads)
    return {
        "batch_seconds": BATCH_SECONDS,
        "poll_interval_s": schedule.interval,
        "max_poll_interval_s": schedule.max_interval,
        "factor": schedule.factor,
        "jitter": schedule.jitter,
        "default_max_poll_interval_s": DEFAULT_MAX_POLL_INTERVAL,
        "runs": runs,
        "deferred_reads_median": median(deferred),
        "deferred_reads_max": max(deferred),
        "worker_reads_median": median(worker),
        "worker_reads_max": max(worker),
        "seen_after_done_median_s": median(detection_lag),
        "seen_after_done_max_s": max(detection_lag),
        "budget": BUDGET,
        "within_budget": max(max(deferred), max(worker)) <= BUDGET,
    }


async def _detection(url: str, waits: int, interval: float, delays: list[float]) -> list[dict[str, Any]]:
    import aiohttp

    from airflow_provider_batchops.triggers.waylay import WaylayBatchTrigger

    out: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/accounts/v1/tokens", params={"grant_type": "client_credentials"},
                                json={"clientId": "5ca1ab1e0ddba11c0ffee000",
                                      "clientSecret": "c2ltdWxhdG9yLXNlY3JldC0wMTIzNDU2"}) as resp:
            headers = {"Authorization": f"Bearer {(await resp.json())['token']}"}
        sim = SimulatorClient(url)
        task_id = (await asyncio.to_thread(sim.tasks))[0]["id"]

        started: list[tuple[str, float, float]] = []
        for delay in delays[:waits]:  # one after the other: the batch delay is a simulator-wide setting
            await asyncio.to_thread(sim.configure, batch_delay=delay)
            async with session.post(f"{url}/rules/v1/batch", headers=headers,
                                    json={"entity": "task", "action": "reload", "query": {"ids": [task_id]}}) as resp:
                entity = (await resp.json())["entity"]
            started.append((str(entity["id"]), entity["queueTime"] / 1000.0 + delay, delay))

        async def one(batch_id: str, due: float, delay: float) -> None:
            trigger = WaylayBatchTrigger(service="rules", batch_id=batch_id, poll_interval=interval,
                                         max_poll_interval=interval)
            events: Any = trigger.run()
            try:
                event = await asyncio.wait_for(events.__anext__(), timeout=delay + 30 * interval)
            finally:
                await events.aclose()
            seen = time.time()
            out.append({"status": event.payload["status"], "latency_s": seen - due, "batch_delay_s": delay})

        await asyncio.gather(*(one(*item) for item in started))
    return out


def detection(url: str, waits: int, interval: float) -> dict[str, Any]:
    rng = random.Random(11)
    delays = [round(rng.uniform(2.0, 2.0 + 3 * interval), 2) for _ in range(waits)]
    runs = asyncio.run(_detection(url, waits, interval, delays))
    latencies = [r["latency_s"] for r in runs]
    jitter_bound = interval * 1.1  # the longest jittered delay
    return {
        "waits": waits,
        "poll_interval_s": interval,
        "latency_median_s": median(latencies),
        "latency_p90_s": percentile(latencies, 90),
        "latency_max_s": max(latencies),
        "latency_max_intervals": max(latencies) / interval,
        "bound_s": jitter_bound,
        "within_one_interval": max(latencies) <= jitter_bound,
        "errors": sum(1 for r in runs if r["status"] != "success"),
    }


def registry(url: str, runs: int, poll_interval: float, step_delay: float) -> dict[str, Any]:
    from bench.registry_detection_latency import one_run

    SimulatorClient(url).configure(job_step_delay=step_delay)

    async def measure() -> tuple[list[float], list[float]]:
        events, polling = [], []
        for _ in range(runs):
            events.append(await one_run(url, True, poll_interval))
            polling.append(await one_run(url, False, poll_interval))
        return events, polling

    events, polling = asyncio.run(measure())
    return {
        "runs": runs,
        "step_delay_s": step_delay,
        "poll_interval_s": poll_interval,
        "events_median_s": median(events),
        "events_max_s": max(events),
        "polling_median_s": median(polling),
        "polling_max_s": max(polling),
        "budget_s": 0.3,
        "within_budget": max(events) <= 0.3,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Request economy and detection latency")
    parser.add_argument("--sim-url", required=True)
    parser.add_argument("--schedule-runs", type=int, default=1000)
    parser.add_argument("--detection-waits", type=int, default=20)
    parser.add_argument("--detection-interval", type=float, default=1.0)
    parser.add_argument("--registry-runs", type=int, default=5)
    parser.add_argument("--registry-poll-interval", type=float, default=2.0)
    parser.add_argument("--registry-step-delay", type=float, default=0.5)
    args = parser.parse_args(argv)
    os.environ["AIRFLOW_CONN_WAYLAY_DEFAULT"] = waylay_conn_json(args.sim_url)
    SimulatorClient(args.sim_url).reset(state=True)
    result = {
        "schedule": simulate_reads(args.schedule_runs),
        "detection": detection(args.sim_url, args.detection_waits, args.detection_interval),
        "registry": registry(args.sim_url, args.registry_runs, args.registry_poll_interval, args.registry_step_delay),
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
