"""A try lost after its wait ended, run through Airflow (``dag.test()``, SQLite) against the simulator.

The task's try fails *after* the SuperOffice batch task it started has succeeded (as when a worker
dies before Airflow stores the success), and Airflow retries it. On Airflow 3.3+ (task state store)
the retry adopts the finished task and sends no second ``POST /BatchTask``; the Variable fallback
of older releases keeps no finished entries, and the retry starts again (a documented gap). Clearing
the task raises its ``max_tries``, which is what lets a cleared task start afresh.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.helpers import AIRFLOW_VERSION, set_connection

START = "POST /{tenant}/api/v1/BatchTask"


DAGS = Path(__file__).resolve().parent / "retry_dags"


@pytest.fixture(scope="module")
def airflow_db() -> None:
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=os.environ.copy(), check=True,
                   capture_output=True, timeout=600)


@pytest.fixture
def dagbag(airflow_db: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The DAGs of ``retry_dags/``, as the DAGs folder (``dag.test()`` syncs the folder's bundle)."""
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow >= 3.2
    except ImportError:  # pragma: no cover
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    import airflow.settings

    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS))
    monkeypatch.setattr(airflow.settings, "DAGS_FOLDER", str(DAGS))
    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    return bag


def test_a_retry_of_a_try_lost_after_the_work_finished(dagbag: Any, sim: Any, monkeypatch) -> None:
    from airflow_provider_batchops.simulator.superoffice import SO_ACCESS_TOKEN

    set_connection(monkeypatch, "superoffice_default", conn_type="superoffice", host=f"{sim.url}/Cust12345",
                   password=SO_ACCESS_TOKEN)
    sim.client.configure(so_step_delay=0.05)
    before = sim.client.counters()["requests"].get(START, 0)
    run = dagbag.get_dag("batchops_retry_after_finish").test()

    (ti,) = [t for t in run.get_task_instances() if t.task_id == "export"]
    assert ti.state == "success" and ti.try_number == 2, (ti.state, ti.try_number)
    starts = sim.client.counters()["requests"][START] - before
    assert starts == (1 if AIRFLOW_VERSION >= (3, 3) else 2), starts
    assert sim.app_state.superoffice.running() == []


def test_a_clear_raises_max_tries_and_a_retry_keeps_it(dagbag: Any) -> None:
    """What the finished entry relies on, asked of this Airflow's own clear and retry code."""
    from airflow.models.taskinstance import TaskInstance, clear_task_instances
    from airflow.utils.session import create_session

    dag = dagbag.get_dag("batchops_max_tries")
    run = dag.test()

    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id=dag.dag_id, run_id=run.run_id).one()
        assert ti.state == "success" and ti.try_number == 2 and ti.max_tries == 1  # the retry kept it
        clear_task_instances([ti], session)
        session.flush()
        assert ti.max_tries > 1  # a clear starts a new series of tries
