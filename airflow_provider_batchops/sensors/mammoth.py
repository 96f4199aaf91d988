"""Sensor that waits for Mammoth Analytics jobs."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow_provider_batchops.core.operator import RemoteId, WaitSettings
from airflow_provider_batchops.core.sensor import StatusSensor
from airflow_provider_batchops.core.state import ReportSet, StatusReport
from airflow_provider_batchops.hooks.mammoth import MammothHook
from airflow_provider_batchops.models.mammoth import job_report, job_reports
from airflow_provider_batchops.triggers.mammoth import MammothJobTrigger, job_id_list


class MammothJobsWait:
    """Reading and deferring on Mammoth jobs, shared by the sensor and the operators."""

    mammoth_conn_id: str
    _jobs: ReportSet | None = None

    @cached_property
    def hook(self) -> MammothHook:
        return MammothHook(mammoth_conn_id=self.mammoth_conn_id)

    def read_status(self, remote_id: RemoteId) -> StatusReport:
        ids = job_id_list(job_id=remote_id)
        if self._jobs is None or self._jobs.ids != ids:
            self._jobs = job_reports(ids)
        return self._jobs.update({job["id"]: job_report(job) for job in self.hook.get_jobs(self._jobs.pending())})

    def make_trigger(self, remote_id: RemoteId, settings: WaitSettings) -> MammothJobTrigger:
        return MammothJobTrigger(job_ids=job_id_list(job_id=remote_id), mammoth_conn_id=self.mammoth_conn_id,
                                 **settings.trigger_kwargs())


class MammothJobSensor(MammothJobsWait, StatusSensor):
    """Wait for Mammoth jobs started elsewhere; return their summary, fail if one failed.

    :param job_id: the job id (templated), e.g. from an operator's ``job_ids`` XCom; a list waits
        for every job.
    :param mammoth_conn_id: the Airflow connection id (type ``mammoth``).
    """

    template_fields: tuple[str, ...] = (*StatusSensor.template_fields, "job_id", "mammoth_conn_id")

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
