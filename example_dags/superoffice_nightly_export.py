"""Nightly SuperOffice export: run the export batch task, then hand its file to the next task.

The operator starts the ``ExportContacts`` batch task, defers while SuperOffice works (progress is
logged as it changes) and returns the task's summary; the next task picks up ``file_name``. A
``Failed`` task fails the DAG with SuperOffice's Result and Response. If the export runs past
``timeout``, the remote task is stopped (its CancellationBehaviour allows it).

Connection: ``superoffice_default`` (type ``superoffice``). Run offline with ``make demo``.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_batchops.operators.superoffice import SuperOfficeBatchTaskOperator

with DAG(
    dag_id="superoffice_nightly_export",
    description="Export SuperOffice contacts every night and pass the file on",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={"poll_interval": Param(30, type="number", exclusiveMinimum=0)},
    tags=["superoffice", "export"],
) as dag:
    export = SuperOfficeBatchTaskOperator(
        task_id="export_contacts",
        name="ExportContacts",
        # The run's date; a manual run may have no logical date (``ds`` is then undefined): use when it was triggered.
        description="Nightly export for {{ (dag_run.logical_date or dag_run.run_after) | ds }}",
        parameters={"FromDate": "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"},
        cancellation_behaviour="CanCancel",
        deferrable=True,
        poll_interval="{{ params.poll_interval }}",
        timeout=2 * 3600,
    )

    @task
    def publish(summary: dict) -> str:
        """Hand the export file to whatever comes next (here: report where it is)."""
        return f"export ready: {summary['file_name']} (task {summary['batch_task_id']}: {summary['response']})"

    publish(export.output)
