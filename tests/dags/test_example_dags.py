"""The example DAGs import cleanly and run green through Airflow (``dag.test()``, SQLite) against the simulator."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
    assert {"waylay_rules_cleanup", "waylay_resources_bulk_delete", "waylay_plug_release",
            "superoffice_nightly_export", "mammoth_batch_cleanup", "waylay_deploy_verification"} <= set(dagbag.dag_ids)


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
    sim_conn.client.reset(state=True)
    sim_conn.client.put_tasks([{"name": t["id"], **t} for t in tasks])
    sim_conn.client.configure(batch_delay=0.5)
    before = {t["id"]: t for t in sim_conn.client.tasks()}

    dag = dagbag.get_dag("waylay_rules_cleanup")
    run = dag.test(run_conf={"poll_interval": 0.2})

    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    counters = sim_conn.client.counters()["requests"]
    assert counters["POST /rules/v1/batch"] == 1  # exactly one batch started per run
    deleted = set(before) - {t["id"] for t in sim_conn.client.tasks()}
    assert {"old-1", "old-2"} <= deleted
    assert not {"recent", "periodic", "running"} & deleted
    cutoff = now_ms - 30 * DAY_MS + 60_000  # the DAG's cutoff, with a minute's slack for the run itself
    for task_id in deleted:  # the simulator's seeded tasks too: only old stopped one-off ones went
        task = before[task_id]
        assert (task["type"], task["status"]) == ("onetime", "stopped")
        assert task["finishedTime"] < cutoff


def _succeeded(run) -> bool:
    return str(run.state) in ("success", "DagRunState.SUCCESS")


def test_resources_bulk_delete_fed_by_an_upstream_task(dagbag, sim_conn):
    ids = [f"site7-sensor-{n:04d}" for n in range(1500)]
    resources = [{"id": i, "name": i, "resourceTypeId": "sensor"} for i in ids]
    resources.append({"id": "site8-gateway", "name": "gw", "resourceTypeId": "sensor", "parentId": ids[0]})
    sim_conn.client.put_resources(resources)
    sim_conn.client.configure(batch_delay=0.3)

    run = dagbag.get_dag("waylay_resources_bulk_delete").test(run_conf={"resource_ids": ids, "poll_interval": 0.2})

    assert _succeeded(run)  # the parent's failure is only a warning in this DAG
    counters = sim_conn.client.counters()["requests"]
    assert counters["POST /resources/v1/batch"] == 2  # 1,500 ids at 1,000 per batch
    left = {r["id"] for r in sim_conn.client.resources()}
    assert left & set(ids) == {ids[0]}  # still the parent of site8-gateway


def test_plug_release_waits_for_the_verify_job_and_its_children(dagbag, sim_conn):
    import threading
    import time

    # The job is held until the deferred sensor has its event stream open, however busy the machine.
    sim_conn.client.configure(job_step_delay=0.3)
    job = sim_conn.client.create_job(type="verify", children=True, hold=True,
                                     function={"functionType": "plugs", "name": "p", "version": "1.0.0"})

    def release_once_followed() -> None:
        for _ in range(600):  # at most 60 s, then released anyway (the run would show it never waited)
            if sim_conn.client.stream_stats()["open"] >= 1:
                break
            time.sleep(0.1)
        sim_conn.client.release_job(job["type"], job["id"])

    releaser = threading.Thread(target=release_once_followed, daemon=True)
    releaser.start()
    run = dagbag.get_dag("waylay_plug_release").test(run_conf={"verify_job_id": job["id"]})
    releaser.join(timeout=65)

    assert _succeeded(run)
    assert sim_conn.client.counters()["requests"]["GET /registry/v2/jobs/events"] >= 1
    assert sim_conn.client.stream_stats()["job_events_sent"] >= 1


def test_plug_release_fails_when_the_verify_job_fails(dagbag, sim_conn):
    sim_conn.client.configure(job_step_delay=0.1)
    job = sim_conn.client.create_job(type="verify", outcome="failed", failed_reason="function not healthy after 3 attempts",
                                     function={"functionType": "plugs", "name": "p", "version": "1.0.1"})

    run = dagbag.get_dag("waylay_plug_release").test(run_conf={"verify_job_id": job["id"]})

    assert not _succeeded(run)


def test_deploy_verification_run_by_hand_verifies_the_job_of_its_conf(dagbag, sim_conn):
    """The asset-scheduled DAG run without an asset event (no triggerer in dag.test) takes the job
    from its conf; tests/e2e/test_e2e_asset_watcher.py runs its watcher in a real deployment."""
    plug = {"functionType": "plugs", "name": "temperatureAlarm", "version": "1.4.0"}
    done = sim_conn.client.create_job(type="deploy", function=plug, step_delay=0.05)
    other = sim_conn.client.create_job(type="deploy", function={**plug, "name": "otherPlug"}, step_delay=0.05)
    for _ in range(100):
        if {j["id"]: j["state"] for j in sim_conn.client.registry_jobs()}.get(other["id"]) == "completed":
            break
        time.sleep(0.05)
    dag = dagbag.get_dag("waylay_deploy_verification")
    assert _succeeded(dag.test(run_conf={"job_id": done["id"]}))
    assert not _succeeded(dag.test(run_conf={"job_id": other["id"]}))  # another plug's deploy


def test_superoffice_nightly_export_hands_the_file_on(dagbag, sim, monkeypatch):
    from airflow_provider_batchops.simulator.superoffice import SO_ACCESS_TOKEN
    from tests.support.helpers import set_connection

    set_connection(monkeypatch, "superoffice_default", conn_type="superoffice", host=f"{sim.url}/Cust12345",
                   password=SO_ACCESS_TOKEN)
    sim.client.configure(so_step_delay=0.1)

    run = dagbag.get_dag("superoffice_nightly_export").test(run_conf={"poll_interval": 0.2})

    assert _succeeded(run)
    counters = sim.client.counters()["requests"]
    assert counters["POST /{tenant}/api/v1/BatchTask"] == 1
    assert sim.app_state.superoffice.running() == []  # nothing left running that the DAG started


def test_mammoth_cleanup_lists_then_deletes_old_batches_keeping_the_newest(dagbag, sim, monkeypatch):
    from datetime import datetime, timedelta, timezone

    from airflow_provider_batchops.simulator import MAMMOTH_API_KEY, MAMMOTH_API_SECRET
    from tests.support.helpers import set_connection

    set_connection(monkeypatch, "mammoth_default", conn_type="mammoth", host=f"{sim.url}/api/v2",
                   login=MAMMOTH_API_KEY, password=MAMMOTH_API_SECRET)
    sim.client.configure(mammoth_job_delay=0.2)
    before = sim.client.mammoth_dataset(4, 1020, 3453)["batches"]
    cutoff = datetime.now(timezone.utc) - timedelta(days=90)
    old = {b["id"] for b in before if datetime.fromisoformat(b["created_at"].replace("Z", "+00:00")) < cutoff}
    assert old and len(before) - len(old) >= 5  # the seed has both, and at least 5 recent ones

    run = dagbag.get_dag("mammoth_batch_cleanup").test(run_conf={"poll_interval": 0.2})

    assert _succeeded(run)
    after = {b["id"] for b in sim.client.mammoth_dataset(4, 1020, 3453)
             ["batches"]}
    assert after == {b["id"] for b in before} - old
    counters = sim.client.counters()["requests"]
    deletes = [v for k, v in counters.items() if k.startswith("DELETE /api/v2/")]
    assert deletes == [1]  # one request for every old batch


def _asset_events(run, task_id: str) -> list[dict]:
    """The ``extra`` of each asset event ``task_id`` of ``run`` emitted."""
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.scalars(select(AssetEvent).where(AssetEvent.source_run_id == run.run_id,
                                                          AssetEvent.source_task_id == task_id)).all()
        return [dict(event.extra or {}) for event in events]


def test_rules_cleanup_previews_then_deletes_and_its_asset_event_carries_the_summary(dagbag, sim_conn):
    import json

    sim_conn.client.reset(state=True)
    old = int(time.time() * 1000) - 45 * DAY_MS
    sim_conn.client.put_tasks([{"id": f"old-{n}", "name": f"old-{n}", "type": "onetime", "status": "stopped",
                                "finishedTime": old} for n in range(3)])
    sim_conn.client.configure(batch_delay=0.3)
    before = {t["id"] for t in sim_conn.client.tasks()}

    run = dagbag.get_dag("waylay_rules_cleanup").test(run_conf={"poll_interval": 0.2})

    assert _succeeded(run)
    deleted = before - {t["id"] for t in sim_conn.client.tasks()}
    counters = sim_conn.client.counters()["requests"]
    assert counters["GET /rules/v1/tasks"] == 2  # the preview, then the count just before the batch
    [extra] = _asset_events(run, "delete_old_one_off_tasks")
    assert extra["action"] == "delete" and extra["state"] == "succeeded"
    assert extra["succeeded"] == len(deleted) >= 3 and extra["failed"] == 0 and extra["batch_id"]
    assert not extra.get("failures") and len(json.dumps(extra)) <= 4096
    assert _asset_events(run, "preview_old_one_off_tasks") == []  # a dry run has no outlets

    report = dagbag.get_dag("waylay_rules_cleanup_report")
    assert [asset.uri for asset in report.timetable.asset_condition.objects] == ["waylay://rules/one-off-tasks-cleaned"]
    assert _succeeded(report.test())  # a manual run: no triggering event, and it says so
