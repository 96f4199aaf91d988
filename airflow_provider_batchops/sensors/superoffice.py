"""Sensor that waits for a SuperOffice batch task."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow_provider_batchops.core.operator import RemoteId, WaitSettings
from airflow_provider_batchops.core.sensor import StatusSensor
from airflow_provider_batchops.core.state import StatusReport
from airflow_provider_batchops.hooks.superoffice import SuperOfficeHook
from airflow_provider_batchops.models.superoffice import check_task_id
from airflow_provider_batchops.triggers.superoffice import SuperOfficeBatchTaskTrigger


class SuperOfficeBatchTaskSensor(StatusSensor):
    """Wait for a SuperOffice batch task started elsewhere; return its summary, fail if it failed.

    :param batch_task_id: the task id (templated), e.g. from the operator's ``batch_task_id`` XCom.
    :param superoffice_conn_id: the Airflow connection id.
    """

    template_fields: tuple[str, ...] = (*StatusSensor.template_fields, "batch_task_id", "superoffice_conn_id")
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

    @cached_property
    def hook(self) -> SuperOfficeHook:
        return SuperOfficeHook(superoffice_conn_id=self.superoffice_conn_id)

    def validate(self) -> None:
        check_task_id(self.batch_task_id)

    def remote_target(self) -> RemoteId:
        return check_task_id(self.batch_task_id)

    def read_status(self, remote_id: RemoteId) -> StatusReport:
        return self.hook.get_task_report(remote_id)

    def make_trigger(self, remote_id: RemoteId, settings: WaitSettings) -> SuperOfficeBatchTaskTrigger:
        return SuperOfficeBatchTaskTrigger(
            batch_task_id=check_task_id(remote_id),
            superoffice_conn_id=self.superoffice_conn_id,
            **settings.trigger_kwargs(),
        )
