"""Append another dataset's rows to a Mammoth dataset as a new batch, after checking the mapping.

``check_mapping`` sends the request with ``validate_only=True``: Mammoth answers at once, without a
job, and a bad mapping fails the task before anything is written. ``append`` then sends it for real
and waits for the job in the triggerer.

Connection: ``mammoth_default`` (type ``mammoth``).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_batchops.operators.mammoth import MammothCreateBatchOperator

#: Source column -> destination column, by name, with the type the destination column must have.
MAPPING = [
    {"source_c_name": "order_id", "destination_c_name": "order_id", "expected_destination_c_type": "TEXT"},
    {"source_c_name": "amount", "destination_c_name": "amount", "expected_destination_c_type": "NUMERIC"},
    {"source_c_name": "ordered_on", "destination_c_name": "ordered_on", "expected_destination_c_type": "DATE"},
    {"source_c_name": "region", "destination_c_name": "region", "expected_destination_c_type": "TEXT"},
]

with DAG(
    dag_id="mammoth_append_batch",
    description="Append the staging dataset to the orders dataset as a new batch",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"source_dataset_id": Param(3460, type="integer", minimum=1)},
    tags=["mammoth"],
) as dag:
    orders = {"workspace_id": 4, "project_id": 1020, "dataset_id": 3453}

    check_mapping = MammothCreateBatchOperator(
        task_id="check_mapping",
        **orders,
        source_id="{{ params.source_dataset_id }}",
        mapping=MAPPING,
        validate_only=True,
    )

    append = MammothCreateBatchOperator(
        task_id="append",
        **orders,
        source_id="{{ params.source_dataset_id }}",
        mapping=MAPPING,
        deferrable=True,
        poll_interval=15,
        timeout=3600,
    )

    @task
    def new_batch_id(summary: dict) -> int:
        """The finished job's response names the new batch."""
        return summary["jobs"][0]["response"]["batch_id"]

    check_mapping >> append
    new_batch_id(append.output)
