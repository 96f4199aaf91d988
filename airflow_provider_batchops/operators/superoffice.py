"""Operator that starts a SuperOffice batch task and watches it to its end."""

from __future__ import annotations

from typing import Any, ClassVar

from airflow_provider_batchops.core.operator import RemoteId, StartAndWaitOperator
from airflow_provider_batchops.hooks.superoffice import SuperOfficeHook
from airflow_provider_batchops.models.superoffice import batch_task_info
from airflow_provider_batchops.triggers.superoffice import SuperOfficeBatchTaskTrigger


class SuperOfficeBatchTaskOperator(StartAndWaitOperator):
    """Start a SuperOffice batch task (``POST /api/v1/BatchTask``) and watch it to its end.

    The task id is pushed to XCom (key ``batch_task_id``) as soon as SuperOffice returns it. Progress
    is logged when it changes. ``Succeeded`` and ``SucceededManualCleanup`` return a summary (id,
    state, result, response, file_name, ...); ``Failed`` fails the task with SuperOffice's Result and
    Response. On timeout, and when the task is killed, the remote task is stopped where its
    ``CancellationBehaviour`` allows (best effort, logged).

    :param name: the name of a batch task definition known to the SuperOffice server.
    :param parameters: the task's ``ParameterObject``.
    :param description: a description shown in SuperOffice.
    :param cancellation_behaviour: ``CanCancel``, ``CancelWithWarning`` or ``CannotCancel``.
    :param superoffice_conn_id: the Airflow connection id (type ``superoffice``).
    """

    remote_id_key = "batch_task_id"
    trigger_class = SuperOfficeBatchTaskTrigger
    template_fields: tuple[str, ...] = (
        *StartAndWaitOperator.template_fields,
        "name",
        "parameters",
        "description",
        "cancellation_behaviour",
        "superoffice_conn_id",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"parameters": "json"}
    ui_color = "#f2d7b6"

    def __init__(
        self,
        *,
        name: str,
        parameters: dict[str, Any] | None = None,
        description: str | None = None,
        cancellation_behaviour: str | None = None,
        superoffice_conn_id: str = SuperOfficeHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.parameters = parameters
        self.description = description
        self.cancellation_behaviour = cancellation_behaviour
        self.superoffice_conn_id = superoffice_conn_id
        self._started: int | None = None

    def validate(self) -> dict[str, Any]:
        return batch_task_info(self.name, self.parameters, self.description, self.cancellation_behaviour)

    def start(self, request: dict[str, Any]) -> int:
        self._started = self.hook.start_task(request)
        return self._started

    def trigger_identity(self, remote_id: RemoteId) -> dict[str, Any]:
        return SuperOfficeBatchTaskTrigger.identity_of(remote_id, self.superoffice_conn_id)

    def cancel(self, remote_id: RemoteId) -> str | None:
        return self.hook.stop_if_allowed(remote_id)

    def on_kill(self) -> None:
        """Stop the remote task when the task is killed while waiting in the worker."""
        if self._started is not None:
            self.log.info("Killed: %s", self._cancel_quietly(self._started))
