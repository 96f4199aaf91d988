"""The example DAGs import cleanly and run green through Airflow (``dag.test()``, SQLite) against the simulator."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"
DAY_MS = 86_400_000


def _dagbag_class():
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow >= 3.2
    except ImportError:  # pragma: no cover
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    return DagBag


@pytest.fixture(scope="session")
def airflow_db():
    """A migrated SQLite metadata database in the suite's throw-away AIRFLOW_HOME."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=os.environ.copy(), check=True, capture_output=True, timeout=600,
    )


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    return _dagbag_class()(dag_folder=str(EXAMPLE_DAGS))


def test_every_example_dag_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "waylay_rules_cleanup" in dagbag.dag_ids


def _control(sim, method, path, body=None):
    response = requests.request(method, f"{sim.url}/_sim/{path}", json=body, timeout=5)
    response.raise_for_status()
    return response.json() if response.content else None


def test_rules_cleanup_deletes_only_old_stopped_one_off_tasks(dagbag, sim_conn):
    now_ms = int(time.time() * 1000)
    old, recent = now_ms - 45 * DAY_MS, now_ms - 5 * DAY_MS
    tasks = [
        {"id": "old-1", "type": "onetime", "status": "stopped", "finishedTime": old},
        {"id": "old-2", "type": "onetime", "status": "stopped", "finishedTime": old},
        {"id": "recent", "type": "onetime", "status": "stopped", "finishedTime": recent},
        {"id": "periodic", "type": "periodic", "status": "stopped", "finishedTime": old},
        {"id": "running", "type": "onetime", "status": "running"},
    ]
    _control(sim_conn, "POST", "reset", {"state": True})
    _control(sim_conn, "POST", "rules/tasks", [{"name": t["id"], **t} for t in tasks])
    _control(sim_conn, "POST", "config", {"batch_delay": 0.5})
    before = {t["id"]: t for t in _control(sim_conn, "GET", "rules/tasks")}

    dag = dagbag.get_dag("waylay_rules_cleanup")
    run = dag.test(run_conf={"poll_interval": 0.2})

    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    counters = _control(sim_conn, "GET", "counters")["requests"]
    assert counters["POST /rules/v1/batch"] == 1  # exactly one batch started per run
    deleted = set(before) - {t["id"] for t in _control(sim_conn, "GET", "rules/tasks")}
    assert {"old-1", "old-2"} <= deleted
    assert not {"recent", "periodic", "running"} & deleted
    cutoff = now_ms - 30 * DAY_MS + 60_000  # the DAG's cutoff, with a minute's slack for the run itself
    for task_id in deleted:  # the simulator's seeded tasks too: only old stopped one-off ones went
        task = before[task_id]
        assert (task["type"], task["status"]) == ("onetime", "stopped")
        assert task["finishedTime"] < cutoff
