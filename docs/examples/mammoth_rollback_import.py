"""Roll back a bad import into a Mammoth dataset: hide it, bring the previous batches back, delete it.

One ``PATCH`` suspends the bad batches and restores the ones they replaced, and the task waits for
the job. The delete is started without waiting (``wait_for_completion=False`` returns the job ids)
and a sensor waits for those jobs in the triggerer.

``render_template_as_native_obj=True`` makes ``{{ params.bad_batch_ids }}`` render as a list.

Connection: ``mammoth_default`` (type ``mammoth``).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_batchops.operators.mammoth import MammothDeleteBatchesOperator, MammothUpdateBatchesOperator
from airflow_provider_batchops.sensors.mammoth import MammothJobSensor

with DAG(
    dag_id="mammoth_rollback_import",
    description="Suspend and delete the batches of a bad import, restore the previous ones",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,
    params={
        "bad_batch_ids": Param([], type="array", items={"type": "integer"}, minItems=1),
        "previous_batch_ids": Param([], type="array", items={"type": "integer"}),
    },
    tags=["mammoth"],
) as dag:
    orders = {"workspace_id": 4, "project_id": 1020, "dataset_id": 3453}

    swap = MammothUpdateBatchesOperator(
        task_id="suspend_bad_restore_previous",
        **orders,
        suspend="{{ params.bad_batch_ids }}",
        restore="{{ params.previous_batch_ids or None }}",
        deferrable=True,
    )

    delete = MammothDeleteBatchesOperator(
        task_id="delete_bad_batches",
        **orders,
        batch_ids="{{ params.bad_batch_ids }}",
        wait_for_completion=False,  # returns the Mammoth job ids
    )

    deleted = MammothJobSensor(
        task_id="wait_for_delete",
        job_id=delete.output,
        deferrable=True,
        poke_interval=15,
        timeout=3600,
    )

    swap >> delete >> deleted
