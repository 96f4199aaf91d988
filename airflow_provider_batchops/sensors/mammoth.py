"""Sensor that waits for Mammoth Analytics jobs."""

from __future__ import annotations

from typing import Any

from airflow_provider_batchops.core.operator import RemoteId
from airflow_provider_batchops.core.sensor import StatusSensor
from airflow_provider_batchops.hooks.mammoth import MammothHook
from airflow_provider_batchops.triggers.mammoth import MammothJobTrigger, job_id_list


class MammothJobSensor(StatusSensor):
    """Wait for Mammoth jobs started elsewhere; return their summary, fail if one failed.

    :param job_id: the job id (templated), e.g. from an operator's ``job_ids`` XCom; a list waits
        for every job.
    :param mammoth_conn_id: the Airflow connection id (type ``mammoth``).
    """

    template_fields: tuple[str, ...] = (*StatusSensor.template_fields, "job_id", "mammoth_conn_id")
    trigger_class = MammothJobTrigger

    def __init__(
        self,
        *,
        job_id: int | str | list[int],
        mammoth_conn_id: str = MammothHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.mammoth_conn_id = mammoth_conn_id

    def validate(self) -> None:
        job_id_list(job_id=self.job_id)

    def remote_target(self) -> RemoteId:
        return job_id_list(job_id=self.job_id)

    def trigger_identity(self, remote_id: RemoteId) -> dict[str, Any]:
        return MammothJobTrigger.identity_of(remote_id, self.mammoth_conn_id)
