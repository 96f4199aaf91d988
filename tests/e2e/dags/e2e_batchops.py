"""DAGs of the end-to-end tests (tests/e2e): many deferred waits over every API, retries, timeouts.

Ids of the remote work (Waylay tasks and resources, registry jobs, Mammoth batches) come with the run
conf, which the test prepares in the simulator first; templates render to native lists.

- ``e2e_restarts``: ``PER_API`` deferred waits per API (Waylay rules delete, Waylay resources bulk
  delete, Waylay registry job sensor, Mammoth batch delete, SuperOffice batch task). The last of the
  registry jobs and the last SuperOffice task fail on purpose (``failed`` job, ``FailingExport``).
- ``e2e_two_triggerers``: the same shape with fewer waits, run while two triggerers are up.
- ``e2e_retry_resume``: worker-side (non-deferrable) waits with one retry; every try writes its
  process id to ``$E2E_RUN_DIR/pids`` so that the test can SIGKILL it.
- ``e2e_timeouts``: SuperOffice waits ended by ``timeout`` and by ``execution_timeout`` while deferred,
  and a Waylay batch ended by ``timeout``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG

from airflow_provider_batchops.operators.mammoth import MammothDeleteBatchesOperator
from airflow_provider_batchops.operators.superoffice import SuperOfficeBatchTaskOperator
from airflow_provider_batchops.operators.waylay import ResourcesBatchDeleteOperator, RulesBatchDeleteOperator
from airflow_provider_batchops.sensors.waylay import WaylayRegistryJobSensor

START = pendulum.datetime(2026, 1, 1, tz="UTC")
DATASET = {"workspace_id": 4, "project_id": 1020, "dataset_id": 3453}
#: Fast polling, so a finished wait is seen within seconds.
WAIT = {"poll_interval": 1, "max_poll_interval": 3}
PER_API = {"e2e_restarts": 10, "e2e_two_triggerers": 4}


def deferred_waits(prefix: str, count: int) -> None:
    """``count`` deferred waits per API; the ids come from ``params`` (lists of lists)."""
    for n in range(count):
        RulesBatchDeleteOperator(task_id=f"rules_{n}", ids=f"{{{{ params.rules[{n}] }}}}", deferrable=True, **WAIT)
        ResourcesBatchDeleteOperator(task_id=f"resources_{n}", ids=f"{{{{ params.resources[{n}] }}}}",
                                     deferrable=True, **WAIT)
        WaylayRegistryJobSensor(task_id=f"registry_{n}", job_type="deploy", job_id=f"{{{{ params.registry[{n}] }}}}",
                                deferrable=True, poke_interval=1, max_poll_interval=3, timeout=900)
        MammothDeleteBatchesOperator(task_id=f"mammoth_{n}", **DATASET, batch_ids=f"{{{{ params.mammoth[{n}] }}}}",
                                     deferrable=True, **WAIT)
        SuperOfficeBatchTaskOperator(task_id=f"superoffice_{n}",
                                     name="FailingExport" if n == count - 1 else "ExportContacts",
                                     description=f"{prefix} export {n}", parameters={"n": n},
                                     deferrable=True, **WAIT)


for dag_id, per_api in PER_API.items():
    with DAG(dag_id=dag_id, schedule=None, start_date=START, catchup=False, render_template_as_native_obj=True,
             params={"rules": [], "resources": [], "registry": [], "mammoth": []}, tags=["e2e"]):
        deferred_waits(dag_id, per_api)


def record_pid(context: Any) -> None:
    """on_execute_callback: write this task process's pid where the test finds it."""
    ti = context["ti"]
    folder = Path(os.environ.get("E2E_RUN_DIR", "/nonexistent")) / "pids"
    if folder.is_dir():
        path = folder / f"{ti.dag_id}.{ti.task_id}.{ti.try_number}.pid"
        path.write_text(f"{os.getpid()}\n")


RETRY = {"deferrable": False, "retries": 1, "retry_delay": timedelta(seconds=2), "on_execute_callback": record_pid}

with DAG(dag_id="e2e_retry_resume", schedule=None, start_date=START, catchup=False,
         render_template_as_native_obj=True, params={"rules": [], "mammoth": []}, tags=["e2e"]):
    RulesBatchDeleteOperator(task_id="rules", ids="{{ params.rules }}", **RETRY, **WAIT)
    SuperOfficeBatchTaskOperator(task_id="superoffice", name="ExportContacts", description="retry resume",
                                 **RETRY, **WAIT)
    MammothDeleteBatchesOperator(task_id="mammoth", **DATASET, batch_ids="{{ params.mammoth }}", **RETRY, **WAIT)

with DAG(dag_id="e2e_timeouts", schedule=None, start_date=START, catchup=False,
         render_template_as_native_obj=True, params={"rules": []}, tags=["e2e"]):
    SuperOfficeBatchTaskOperator(task_id="superoffice_timeout", name="ExportContacts", description="timeout",
                                 cancellation_behaviour="CanCancel", deferrable=True, timeout=8, **WAIT)
    SuperOfficeBatchTaskOperator(task_id="superoffice_execution_timeout", name="ExportContacts",
                                 description="execution_timeout", cancellation_behaviour="CanCancel",
                                 deferrable=True, execution_timeout=timedelta(seconds=10), **WAIT)
    RulesBatchDeleteOperator(task_id="waylay_timeout", ids="{{ params.rules }}", deferrable=True, timeout=8, **WAIT)
