"""End to end: a real ``AssetWatcher`` with ``WaylayRegistryJobEventTrigger`` in a real triggerer.

A throw-away deployment (api-server, scheduler, dag-processor, triggerer; SQLite) runs only the DAGs
of ``tests/e2e/dags_watcher``: one DAG scheduled on a watched asset ("a deploy job of
e2eWatchedPlug completed") and 19 more watchers on the same connection. The simulator cuts the
first event stream after three events, so the first job's ``completed`` event is lost and must be
found by the catch-up. Deploying two jobs must give exactly two DAG runs, each with its job in the
triggering asset event. Bounded: the module takes about a minute and a half.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import airflow
import pytest

from tests.support.e2e_harness import Deployment, wait_until

pytestmark = pytest.mark.e2e

DAGS = Path(__file__).resolve().parent / "dags_watcher"
EVENTS = "GET /registry/v2/jobs/events"
LIST = "GET /registry/v2/jobs/"
WATCHED = "e2e_asset_watched"
PLUG = {"functionType": "plugs", "name": "e2eWatchedPlug", "version": "1.0.0"}
WATCHERS = 20
SHARED_STREAMS = tuple(int(p) for p in airflow.__version__.split(".")[:2]) >= (3, 3)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    dep = Deployment(tmp_path_factory.mktemp("e2e-watcher"), parallelism=4,
                     extra_env={"AIRFLOW__CORE__DAGS_FOLDER": str(DAGS)})
    try:
        dep.start_simulator()
        dep.sim.configure(job_step_delay=0.3, sse_keepalive=30)
        # The first stream of each watcher dies after ack + two job events (every stream carries the
        # tenant's events): the first job's ``completed`` is lost. One stream on 3.3+, one each before.
        dep.sim.add_fault(route=EVENTS, kind="cut", after_events=3, times=1 if SHARED_STREAMS else WATCHERS)
        dep.start()
        dep.wait_dags([WATCHED, "e2e_asset_idle"])
        yield dep
    finally:
        dep.stop()


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def watched_runs(dep: Deployment) -> list[dict[str, Any]]:
    return [dict(r) for r in dep.query("SELECT id, run_id, run_type, queued_at, state FROM dag_run WHERE dag_id=? "
                                       "ORDER BY id", [WATCHED])]


def consumed_payloads(dep: Deployment, dag_run_id: int) -> list[dict[str, Any]]:
    rows = dep.query("SELECT e.extra FROM asset_event e JOIN dagrun_asset_event d ON d.event_id = e.id "
                     "WHERE d.dag_run_id=?", [dag_run_id])
    return [json.loads(r["extra"])["payload"] for r in rows]


def test_a_deployed_job_runs_the_watched_dag_once_per_transition_across_a_stream_cut(deployment):
    dep, sim = deployment, deployment.sim
    wait_until("the watchers' event stream open", lambda: sim.stream_stats()["open"] >= 1, 90,
               on_timeout=dep.describe)
    if SHARED_STREAMS:
        time.sleep(3)  # every watcher has started by now; late ones would open their own stream
        opened_for_watchers = sim.stream_stats()["opened"]
        assert opened_for_watchers == 1, f"{WATCHERS} watchers opened {opened_for_watchers} streams"
    else:
        wait_until(f"{WATCHERS} streams (one per watcher before Airflow 3.3)",
                   lambda: sim.stream_stats()["open"] >= WATCHERS, 60)
        opened_for_watchers = sim.stream_stats()["opened"]

    jobs = []
    for n in range(2):
        jobs.append(sim.create_job(type="deploy", function=PLUG)["id"])
        wait_until(f"a run of {WATCHED} for job {n + 1}", lambda n=n: len(watched_runs(dep)) >= n + 1, 60,
                   on_timeout=lambda: f"streams {sim.stream_stats()}; {dep.describe()}")
    time.sleep(5)  # a duplicate run would be queued by now

    runs = watched_runs(dep)
    assert len(runs) == 2, runs
    assert {r["run_type"] for r in runs} == {"asset_triggered"}
    payloads = [p for r in runs for p in consumed_payloads(dep, r["id"])]
    assert sorted(p["job_id"] for p in payloads) == sorted(jobs), payloads
    assert all(p["state"] == "completed" and p["function"]["name"] == PLUG["name"] for p in payloads)
    by_job = {p["job_id"]: p for p in payloads}
    assert by_job[jobs[0]]["seen_in"] == "catch-up", "the first job's event was cut: the catch-up finds it"
    assert by_job[jobs[1]]["seen_in"] == "event"
    assert sim.stream_stats()["opened"] >= opened_for_watchers + 1  # reconnected after the cut
    assert dep.counters().get(LIST, 0) >= 1

    for run in runs:  # the task sees the job in its triggering asset event
        tis = dep.wait_run(WATCHED, run["run_id"], 60)
        assert tis["record"]["state"] == "success", dep.task_errors(WATCHED, run["run_id"])
        recorded = json.loads((dep.root / f"watched-{run['run_id'].replace(':', '_')}.json").read_text())
        assert [p["job_id"] for p in recorded] == [p["job_id"] for p in consumed_payloads(dep, run["id"])]

    finished = {j["id"]: j.get("finishedAt") for j in sim.registry_jobs()}
    for run in runs:
        job_id = consumed_payloads(dep, run["id"])[0]["job_id"]
        latency = (_utc(str(run["queued_at"])) - _utc(str(finished[job_id]))).total_seconds()
        print(f"\njob {by_job[job_id]['seen_in']}: job finished -> DAG run queued in {latency:.2f} s")
    print(f"streams opened for {WATCHERS} watchers on one connection: {opened_for_watchers} "
          f"(Airflow {airflow.__version__})")
