"""Start a SuperOffice import and watch it from a separate sensor.

The operator only starts the batch task (``wait_for_completion=False`` returns its id); the sensor
waits for it in the triggerer, so other tasks can run in between. The sensor never stops the remote
task: on its timeout the task fails and the import goes on in SuperOffice.

Connection: ``superoffice_default`` (type ``superoffice``).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_batchops.operators.superoffice import SuperOfficeBatchTaskOperator
from airflow_provider_batchops.sensors.superoffice import SuperOfficeBatchTaskSensor

with DAG(
    dag_id="superoffice_import_watch",
    description="Start the weekly SuperOffice import and wait for it",
    schedule="0 3 * * 1",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["superoffice"],
) as dag:
    start_import = SuperOfficeBatchTaskOperator(
        task_id="start_import",
        name="LockedImport",
        description="Weekly import {{ (dag_run.logical_date or dag_run.run_after) | ds }}",
        parameters={"Source": "crm-weekly/{{ (dag_run.logical_date or dag_run.run_after) | ds_nodash }}.csv"},
        wait_for_completion=False,
    )

    import_done = SuperOfficeBatchTaskSensor(
        task_id="wait_for_import",
        batch_task_id=start_import.output,
        deferrable=True,
        poke_interval=60,
        timeout=4 * 3600,
    )

    @task
    def report(summary: dict) -> str:
        return f"{summary['name']} {summary['state']}: {summary['response']}"

    report(import_done.output)
