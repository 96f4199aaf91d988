"""Bulk operations: a Mammoth clean-up of N batches and a Waylay resources delete of N ids.

Both run the real operator's ``execute`` in this process (``deferrable=False``: the worker waits,
with a MagicMock task instance as context) against the simulator in its own process; the simulator's
counters give the requests per route, a wall clock the time.

- Mammoth: ``POST /_sim/mammoth/batches`` seeds N batches (400 days old onward, 30 min apart) in a
  fresh dataset, then :class:`MammothBatchCleanupOperator` (default 90-day cut-off,
  ``max_delete=N``) lists every page, deletes them and waits for the jobs.
- Waylay: ``POST /_sim/resources`` seeds N resources, then :class:`ResourcesBatchDeleteOperator`
  deletes them in batches of ``max_batch_size`` (default 1000) and waits for the batches.

    python -m bench.bulk_ops --sim-url http://127.0.0.1:PORT --count 10000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import Any
from unittest.mock import MagicMock

from airflow_provider_batchops.simulator.client import SimulatorClient
from bench.common import waylay_conn_json

#: Credentials of the simulator's Mammoth API (airflow_provider_batchops.simulator.mammoth).
MAMMOTH_WHERE = {"workspace_id": 4, "project_id": 1020, "dataset_id": 9100}


def _counters(url: str) -> dict[str, int]:
    counters = SimulatorClient(url).counters()
    return {route: int(count) for route, count in counters["requests"].items()}


def _context() -> Any:
    """What ``execute`` reads of the task context: a task instance (MagicMock) without a start date."""
    return {"ti": MagicMock(start_date=None)}


def mammoth_cleanup(url: str, count: int, poll_interval: float, job_delay: float) -> dict[str, Any]:
    from airflow_provider_batchops.operators.mammoth import MammothBatchCleanupOperator
    from airflow_provider_batchops.simulator.mammoth import MAMMOTH_API_KEY, MAMMOTH_API_SECRET

    os.environ["AIRFLOW_CONN_MAMMOTH_DEFAULT"] = json.dumps(
        {"conn_type": "mammoth", "host": f"{url}/api/v2", "login": MAMMOTH_API_KEY, "password": MAMMOTH_API_SECRET})
    SimulatorClient(url).configure(mammoth_job_delay=job_delay)
    start = (datetime.now(timezone.utc) - timedelta(days=400)).isoformat()
    SimulatorClient(url, timeout=120).add_mammoth_batches(MAMMOTH_WHERE, count=count, start=start, step_hours=0.5)
    SimulatorClient(url).reset()
    operator = MammothBatchCleanupOperator(task_id="bench_cleanup", workspace_id=MAMMOTH_WHERE["workspace_id"],
                                           project_id=MAMMOTH_WHERE["project_id"],
                                           dataset_id=MAMMOTH_WHERE["dataset_id"], max_delete=count,
                                           deferrable=False, poll_interval=poll_interval, durable=False)
    started = time.perf_counter()
    cpu_started = time.process_time()
    summary = operator.execute(_context())
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    requests_by_route = _counters(url)
    left = SimulatorClient(url, timeout=60).mammoth_dataset(**MAMMOTH_WHERE)
    return {
        "count": count,
        "deleted": int(summary.get("deleted_count") or 0),
        "state": summary.get("state"),
        "jobs": len(summary.get("job_ids") or []),
        "left_in_dataset": len(left.get("batches", left) if isinstance(left, dict) else left),
        "requests": sum(requests_by_route.values()),
        "requests_by_route": requests_by_route,
        "wall_s": wall,
        "cpu_s": cpu,
        "poll_interval_s": poll_interval,
        "job_delay_s": job_delay,
    }


def resources_delete(url: str, count: int, poll_interval: float, batch_delay: float) -> dict[str, Any]:
    from airflow_provider_batchops.core.auth import TOKEN_CACHE
    from airflow_provider_batchops.operators.waylay import ResourcesBatchDeleteOperator

    os.environ["AIRFLOW_CONN_WAYLAY_DEFAULT"] = waylay_conn_json(url)
    TOKEN_CACHE.clear()
    SimulatorClient(url).configure(batch_delay=batch_delay)
    ids = [f"bench-resource-{n:05d}" for n in range(count)]
    SimulatorClient(url, timeout=120).put_resources([{"id": i} for i in ids])
    before = {r["id"] for r in SimulatorClient(url, timeout=60).resources()}
    SimulatorClient(url).reset()
    operator = ResourcesBatchDeleteOperator(task_id="bench_delete", ids=ids, deferrable=False,
                                            poll_interval=poll_interval, durable=False)
    started = time.perf_counter()
    cpu_started = time.process_time()
    summary = operator.execute(_context())
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    requests_by_route = _counters(url)
    after = {r["id"] for r in SimulatorClient(url, timeout=60).resources()}
    return {
        "count": count,
        "deleted": len(set(ids) & before) - len(set(ids) & after),
        "succeeded": summary.get("succeeded"),
        "failed": summary.get("failed"),
        "batches": summary.get("batches", 1),
        "state": summary.get("state"),
        "requests": sum(requests_by_route.values()),
        "requests_by_route": requests_by_route,
        "wall_s": wall,
        "cpu_s": cpu,
        "poll_interval_s": poll_interval,
        "batch_delay_s": batch_delay,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Mammoth clean-up and Waylay resources delete of many items")
    parser.add_argument("--sim-url", required=True)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--poll-interval", type=float, default=1.0, help="operators' poll_interval (default 10 s)")
    parser.add_argument("--job-delay", type=float, default=1.0, help="simulated duration of a job or batch")
    parser.add_argument("--skip-mammoth", action="store_true")
    args = parser.parse_args(argv)
    SimulatorClient(args.sim_url).reset(state=True)
    result: dict[str, Any] = {
        "resources": resources_delete(args.sim_url, args.count, args.poll_interval, args.job_delay)}
    if not args.skip_mammoth:
        result["mammoth"] = mammoth_cleanup(args.sim_url, args.count, args.poll_interval, args.job_delay)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
