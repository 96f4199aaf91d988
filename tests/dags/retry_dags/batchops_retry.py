"""DAGs for tests/dags/test_retry_after_finish.py: tries that fail after their work has finished."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, BaseOperator

from airflow_provider_batchops.operators.superoffice import SuperOfficeBatchTaskOperator


class LosesItsFirstTry(SuperOfficeBatchTaskOperator):
    """Fails its first try after the batch task has succeeded: the try is lost while finishing."""

    def execute(self, context: Any) -> Any:
        result = super().execute(context)
        if context["ti"].try_number == 1:
            raise RuntimeError("the try is lost after the wait ended")
        return result


class FailsItsFirstTry(BaseOperator):
    def execute(self, context: Any) -> None:
        if context["ti"].try_number == 1:
            raise RuntimeError("the first try fails")


with DAG("batchops_retry_after_finish", schedule=None):
    LosesItsFirstTry(task_id="export", name="ExportContacts", poll_interval=0.2, deferrable=False,
                     retries=1, retry_delay=timedelta(0))

with DAG("batchops_max_tries", schedule=None):
    FailsItsFirstTry(task_id="flaky", retries=1, retry_delay=timedelta(0))
