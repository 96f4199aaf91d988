"""Sensor that waits for a SuperOffice batch task."""

from __future__ import annotations

from typing import Any

from airflow_provider_batchops.core.operator import RemoteId
from airflow_provider_batchops.core.sensor import StatusSensor
from airflow_provider_batchops.hooks.superoffice import SuperOfficeHook
from airflow_provider_batchops.models.superoffice import check_task_id
from airflow_provider_batchops.triggers.superoffice import SuperOfficeBatchTaskTrigger


class SuperOfficeBatchTaskSensor(StatusSensor):
    """Wait for a SuperOffice batch task started elsewhere; return its summary, fail if it failed.

    :param batch_task_id: the task id (templated), e.g. from the operator's ``batch_task_id`` XCom.
    :param superoffice_conn_id: the Airflow connection id.
    """

    template_fields: tuple[str, ...] = (*StatusSensor.template_fields, "batch_task_id", "superoffice_conn_id")
    trigger_class = SuperOfficeBatchTaskTrigger
    cannot_cancel_note = ("the sensor leaves a task it did not start running in SuperOffice (the operator's "
                          "timeout stops the tasks it starts, where their CancellationBehaviour allows)")

    def __init__(
        self,
        *,
        batch_task_id: int | str,
        superoffice_conn_id: str = SuperOfficeHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.batch_task_id = batch_task_id
        self.superoffice_conn_id = superoffice_conn_id

    def validate(self) -> None:
        check_task_id(self.batch_task_id)

    def remote_target(self) -> RemoteId:
        return check_task_id(self.batch_task_id)

    def trigger_identity(self, remote_id: RemoteId) -> dict[str, Any]:
        return SuperOfficeBatchTaskTrigger.identity_of(remote_id, self.superoffice_conn_id)
