"""Triggers that wait for Waylay batch operations."""

from __future__ import annotations

from typing import Any

from airflow_provider_batchops.core.state import StatusReport
from airflow_provider_batchops.core.trigger import StatusTrigger
from airflow_provider_batchops.hooks.waylay import WaylayHook, check_id, check_service


class WaylayBatchTrigger(StatusTrigger[WaylayHook]):
    """Wait until a rules or resources batch operation has finished (it carries ``finishedTime``).

    :param service: ``rules`` or ``resources``.
    :param batch_id: the batch operation id.
    :param waylay_conn_id: the Airflow connection id.
    :param kwargs: the wait settings of :class:`~airflow_provider_batchops.core.trigger.StatusTrigger`.
    """

    def __init__(
        self,
        *,
        service: str,
        batch_id: str,
        waylay_conn_id: str = WaylayHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.service = check_service(service)
        self.batch_id = check_id(batch_id, "batch_id")
        self.waylay_conn_id = waylay_conn_id

    def identity(self) -> dict[str, Any]:
        return {"service": self.service, "batch_id": self.batch_id, "waylay_conn_id": self.waylay_conn_id}

    @property
    def remote_id(self) -> str:
        return self.batch_id

    async def make_hook(self) -> WaylayHook:
        return WaylayHook(waylay_conn_id=self.waylay_conn_id)

    async def read_status(self, hook: WaylayHook) -> StatusReport:
        return await hook.aget_batch_report(self.service, self.batch_id)
