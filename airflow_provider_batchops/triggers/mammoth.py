"""Trigger that waits for Mammoth Analytics jobs."""

from __future__ import annotations

from typing import Any

from airflow_provider_batchops.core.errors import InputError
from airflow_provider_batchops.core.reading import Reader
from airflow_provider_batchops.core.state import StatusReport
from airflow_provider_batchops.core.trigger import StatusTrigger
from airflow_provider_batchops.hooks.mammoth import MammothHook, jobs_report_reader
from airflow_provider_batchops.models.mammoth import check_ids, job_reports


def job_id_list(job_id: Any = None, job_ids: Any = None) -> list[int]:
    """One id or a list of ids (exactly one of the two; a rendered list or ``"1,2"`` works), each a
    positive integer."""
    if (job_id is None) == (job_ids is None):
        raise InputError("job_id", "give exactly one of job_id or job_ids")
    return check_ids(job_id, "job_id") if job_id is not None else check_ids(job_ids, "job_ids")


class MammothJobTrigger(StatusTrigger[MammothHook]):
    """Wait until one or several Mammoth jobs are finished (``success``, ``failure`` or ``error``).

    Unfinished jobs are read together (``GET /jobs?job_ids=``, 100 per request); finished ones are
    not read again. Every job ``success`` -> success; any ``failure``/``error`` -> failed, with the
    reason from the job's response.

    :param job_id: the job id.
    :param job_ids: several job ids instead of ``job_id``.
    :param mammoth_conn_id: the Airflow connection id.
    """

    hook_class = MammothHook
    fields = ("job_ids", "mammoth_conn_id")

    def __init__(
        self,
        *,
        job_id: int | None = None,
        job_ids: list[int] | None = None,
        mammoth_conn_id: str = MammothHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_ids = job_id_list(job_id, job_ids)
        self.mammoth_conn_id = mammoth_conn_id
        self._jobs = job_reports(self.job_ids)

    @staticmethod
    def identity_of(remote_id: Any, mammoth_conn_id: str) -> dict[str, Any]:
        """The kwargs of the trigger that waits for ``remote_id`` (one job id, or a list)."""
        return {"job_ids": job_id_list(job_id=remote_id), "mammoth_conn_id": mammoth_conn_id}

    @property
    def remote_id(self) -> str:
        return ", ".join(map(str, self.job_ids))

    def reader(self) -> Reader[StatusReport]:
        return jobs_report_reader(self._jobs)
