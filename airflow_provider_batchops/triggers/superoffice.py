"""Trigger that watches a SuperOffice batch task to its end."""

from __future__ import annotations

from typing import Any

from airflow_provider_batchops.core.http import shared_session
from airflow_provider_batchops.core.reading import Reader
from airflow_provider_batchops.core.state import StatusReport
from airflow_provider_batchops.core.trigger import StatusTrigger, still_deferred, through_cancels
from airflow_provider_batchops.hooks.superoffice import SuperOfficeHook, stop_reader, task_reader
from airflow_provider_batchops.models.superoffice import check_task_id


class SuperOfficeBatchTaskTrigger(StatusTrigger[SuperOfficeHook]):
    """Wait until a batch task is ``Succeeded``, ``SucceededManualCleanup`` or ``Failed``.

    Progress (``ProgressPercent``, ``ProgressDescription``) is logged when it changes. When a user
    kills the deferred task (Airflow 3.3+), the remote task is stopped where its
    ``CancellationBehaviour`` allows.

    :param batch_task_id: the task id returned by ``POST /api/v1/BatchTask``.
    :param superoffice_conn_id: the Airflow connection id.
    """

    hook_class = SuperOfficeHook
    fields = ("batch_task_id", "superoffice_conn_id")

    def __init__(
        self, *, batch_task_id: int, superoffice_conn_id: str = SuperOfficeHook.default_conn_name, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.batch_task_id = check_task_id(batch_task_id)
        self.superoffice_conn_id = superoffice_conn_id

    @staticmethod
    def identity_of(remote_id: Any, superoffice_conn_id: str) -> dict[str, Any]:
        """The kwargs of the trigger that waits for the task ``remote_id``."""
        return {"batch_task_id": check_task_id(remote_id), "superoffice_conn_id": superoffice_conn_id}

    @property
    def remote_id(self) -> str:
        return str(self.batch_task_id)

    def reader(self) -> Reader[StatusReport]:
        return task_reader(self.batch_task_id)

    async def on_kill(self) -> None:
        """Stop the remote task on a user's kill; never when the trigger only moved to another
        triggerer (the task instance is still deferred), nor on a state not understood."""
        await through_cancels(self._stop_on_kill)

    async def _stop_on_kill(self) -> None:
        if await still_deferred(self):
            self.log.info("Not a kill: the trigger moved to another triggerer; SuperOffice batch task %s goes on",
                          self.batch_task_id)
            return
        try:
            async with shared_session():
                outcome = await self.make_hook().arun(stop_reader(self.batch_task_id))
            self.log.info("Killed: SuperOffice batch task %s: %s", self.batch_task_id, outcome)
        except Exception as exc:  # best effort: the kill itself must go through
            self.log.warning("Could not stop SuperOffice batch task %s: %s", self.batch_task_id, exc)
