"""Operator that starts a SuperOffice batch task and watches it to its end."""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar

from airflow_provider_batchops.core.operator import RemoteId, StartAndWaitOperator, WaitSettings
from airflow_provider_batchops.core.state import StatusReport
from airflow_provider_batchops.hooks.superoffice import SuperOfficeHook
from airflow_provider_batchops.models.superoffice import batch_task_info, check_task_id, stop_refusal
from airflow_provider_batchops.triggers.superoffice import SuperOfficeBatchTaskTrigger


def stop_if_allowed(hook: SuperOfficeHook, batch_task_id: Any) -> str:
    """Stop a running task when its ``CancellationBehaviour`` allows; say what happened.

    A state this provider does not know is read once more; never stopped on the strength of it.
    """
    report = hook.get_task_report(batch_task_id)
    if report.unknown_state is not None:
        report = hook.get_task_report(batch_task_id)
    refusal = stop_refusal(report)
    if refusal is not None:
        return refusal
    return "it was stopped" if hook.stop_task(batch_task_id) else "SuperOffice refused to stop it"


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

    @cached_property
    def hook(self) -> SuperOfficeHook:
        return SuperOfficeHook(superoffice_conn_id=self.superoffice_conn_id)

    def validate(self) -> dict[str, Any]:
        return batch_task_info(self.name, self.parameters, self.description, self.cancellation_behaviour)

    def start(self, request: dict[str, Any]) -> int:
        self._started = self.hook.start_task(request)
        return self._started

    def read_status(self, remote_id: RemoteId) -> StatusReport:
        return self.hook.get_task_report(remote_id)

    def make_trigger(self, remote_id: RemoteId, settings: WaitSettings) -> SuperOfficeBatchTaskTrigger:
        return SuperOfficeBatchTaskTrigger(
            batch_task_id=check_task_id(remote_id),
            superoffice_conn_id=self.superoffice_conn_id,
            **settings.trigger_kwargs(),
        )

    def cancel(self, remote_id: RemoteId) -> str | None:
        return stop_if_allowed(self.hook, remote_id)

    def on_kill(self) -> None:
        """Stop the remote task when the task is killed while waiting in the worker."""
        if self._started is not None:
            self.log.info("Killed: %s", self._cancel_quietly(self._started))
