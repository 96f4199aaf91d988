"""How long after a registry job finishes does WaylayRegistryJobTrigger report it: events vs polling.

Runs against the simulator on loopback and prints the latency from the job's ``finishedAt`` to the
trigger's event, for the event stream and for polling at a given interval. Figures, not assertions.

    python bench/registry_detection_latency.py [--runs 5] [--poll-interval 5] [--step-delay 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from datetime import datetime
from typing import Any

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="batchops-bench-"))


from airflow_provider_batchops.core.auth import TOKEN_CACHE
from airflow_provider_batchops.simulator import SIM_API_KEY, SIM_API_SECRET, SimulatorServer
from airflow_provider_batchops.simulator.client import SimulatorClient
from airflow_provider_batchops.triggers.waylay import WaylayRegistryJobTrigger


async def one_run(url: str, use_events: bool, poll_interval: float) -> float:
    spec = {"type": "build", "function": {"functionType": "plugs", "name": "bench", "version": "1.0.0"}}
    job = await asyncio.to_thread(SimulatorClient(url, timeout=5).create_job, spec)
    trigger = WaylayRegistryJobTrigger(job_type="build", job_id=job["id"], use_events=use_events,
                                       poll_interval=poll_interval, max_poll_interval=poll_interval)
    events: Any = trigger.run()
    event = await asyncio.wait_for(events.__anext__(), timeout=120)
    seen = time.time()
    await events.aclose()
    finished = event.payload["report"]["summary"]["finished_at"]
    return seen - datetime.fromisoformat(str(finished).replace("Z", "+00:00")).timestamp()


async def measure(url: str, runs: int, poll_interval: float) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"events": [], f"polling every {poll_interval:g} s": []}
    for _ in range(runs):
        results["events"].append(await one_run(url, True, poll_interval))
        results[f"polling every {poll_interval:g} s"].append(await one_run(url, False, poll_interval))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--poll-interval", type=float, default=5.0)
    parser.add_argument("--step-delay", type=float, default=1.0)
    args = parser.parse_args()
    with SimulatorServer() as sim:
        sim.client.configure(job_step_delay=args.step_delay)
        os.environ["AIRFLOW_CONN_WAYLAY_DEFAULT"] = json.dumps(
            {"conn_type": "waylay", "host": sim.url, "login": SIM_API_KEY, "password": SIM_API_SECRET})
        TOKEN_CACHE.clear()
        results = asyncio.run(measure(sim.url, args.runs, args.poll_interval))
    print(f"Completion detection latency, {args.runs} runs each (job finishedAt -> trigger event):")
    for name, values in results.items():
        print(f"  {name:>22}: median {statistics.median(values) * 1000:7.0f} ms, "
              f"max {max(values) * 1000:7.0f} ms")


if __name__ == "__main__":
    main()
