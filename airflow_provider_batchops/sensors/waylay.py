"""Sensors that wait for Waylay batch operations."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow_provider_batchops.core.operator import WaitSettings
from airflow_provider_batchops.core.sensor import StatusSensor
from airflow_provider_batchops.core.state import StatusReport
from airflow_provider_batchops.hooks.waylay import WaylayHook, check_id, check_service
from airflow_provider_batchops.triggers.waylay import WaylayBatchTrigger


class WaylayBatchSensor(StatusSensor):
    """Wait for a Waylay rules or resources batch operation to finish; return its summary.

    Succeeds when the batch finished with no failed item. Failed items fail the sensor, or only log a
    warning with ``on_item_failure="warn"``. Deferrable mode uses :class:`WaylayBatchTrigger`, the
    trigger the batch operators use.

    :param service: ``rules`` or ``resources``.
    :param batch_id: the batch operation id (templated), e.g. from an operator's ``batch_id`` XCom.
    :param waylay_conn_id: the Airflow connection id.
    """

    template_fields: tuple[str, ...] = (*StatusSensor.template_fields, "service", "batch_id", "waylay_conn_id")

    def __init__(
        self,
        *,
        service: str = "rules",
        batch_id: str,
        waylay_conn_id: str = WaylayHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.service = service
        self.batch_id = batch_id
        self.waylay_conn_id = waylay_conn_id

    @cached_property
    def hook(self) -> WaylayHook:
        return WaylayHook(waylay_conn_id=self.waylay_conn_id)

    def validate(self) -> None:
        check_service(self.service)
        check_id(self.batch_id, "batch_id")

    def remote_target(self) -> str:
        return self.batch_id

    def read_status(self, remote_id: str) -> StatusReport:
        return self.hook.get_batch_report(self.service, remote_id)

    def make_trigger(self, remote_id: str, settings: WaitSettings) -> WaylayBatchTrigger:
        return WaylayBatchTrigger(
            service=self.service,
            batch_id=remote_id,
            waylay_conn_id=self.waylay_conn_id,
            **settings.trigger_kwargs(),
        )
