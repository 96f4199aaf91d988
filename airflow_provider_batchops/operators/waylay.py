"""Operators that start Waylay batch operations and wait for them."""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar

from airflow_provider_batchops.core.operator import StartAndWaitOperator, WaitSettings
from airflow_provider_batchops.core.state import StatusReport
from airflow_provider_batchops.hooks.waylay import WaylayHook
from airflow_provider_batchops.models.waylay import RulesQuery, rules_batch_body
from airflow_provider_batchops.triggers.waylay import WaylayBatchTrigger


class WaylayBatchOperator(StartAndWaitOperator):
    """Base of the Waylay batch operators: the hook, the status read and the trigger.

    :param waylay_conn_id: the Airflow connection id (type ``waylay``).
    """

    service: ClassVar[str]
    cannot_cancel_note = "Waylay batch operations cannot be cancelled, so it goes on remotely"

    def __init__(self, *, waylay_conn_id: str = WaylayHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.waylay_conn_id = waylay_conn_id

    @cached_property
    def hook(self) -> WaylayHook:
        return WaylayHook(waylay_conn_id=self.waylay_conn_id)

    def start(self, request: dict[str, Any]) -> str:
        accepted = self.hook.start_batch(self.service, request)
        self.log.info("Waylay accepted: %s", accepted["entity"].get("operation", {}).get("description", ""))
        return str(accepted["entity"]["id"])

    def read_status(self, remote_id: str) -> StatusReport:
        return self.hook.get_batch_report(self.service, remote_id)

    def make_trigger(self, remote_id: str, settings: WaitSettings) -> WaylayBatchTrigger:
        return WaylayBatchTrigger(
            service=self.service,
            batch_id=remote_id,
            waylay_conn_id=self.waylay_conn_id,
            **settings.trigger_kwargs(),
        )


class RulesBatchOperator(WaylayBatchOperator):
    """Run a Waylay rules tasks batch operation (``POST /rules/v1/batch``) and wait for it.

    The batch id is pushed to XCom (key ``batch_id``) as soon as Waylay accepts the batch. The return
    value is a JSON summary: ``batch_id``, ``action``, ``state``, ``succeeded``, ``failed`` and
    ``failures`` (task id -> ``statusCode``/``error``).

    :param action: one of ``delete``, ``start``, ``restart``, ``stop``, ``reload``, ``stopAndDelete``,
        ``updatePlugins``, ``updateProperties``.
    :param query: a task filter, as a :class:`~airflow_provider_batchops.models.waylay.RulesQuery` or a
        dict (snake_case or camelCase keys: ``name``, ``resource``, ``type``, ``status``, ``template``,
        ``plugin``, ``user``, ``finished_before``, ``created_after``, ``created_before``, ``tags``).
    :param ids: explicit task ids instead of a query (exactly one of the two).
    :param action_parameters: required for ``updatePlugins`` (``name``, ``from_version``,
        ``to_version``) and ``updateProperties`` (``variables``, ``tags``, ...); none otherwise.
    :param kwargs: the wait parameters of
        :class:`~airflow_provider_batchops.core.operator.StartAndWaitOperator` and BaseOperator's.
    """

    service = "rules"
    template_fields: tuple[str, ...] = (
        *StartAndWaitOperator.template_fields,
        "action",
        "query",
        "ids",
        "action_parameters",
        "waylay_conn_id",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "query": "json",
        "ids": "json",
        "action_parameters": "json",
    }
    ui_color = "#c9e4f6"

    def __init__(
        self,
        *,
        action: str,
        query: RulesQuery | dict[str, Any] | None = None,
        ids: list[str] | None = None,
        action_parameters: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.action = action
        self.query = query
        self.ids = ids
        self.action_parameters = action_parameters

    def validate(self) -> dict[str, Any]:
        return rules_batch_body(self.action, self.query, self.ids, self.action_parameters)


class RulesBatchDeleteOperator(RulesBatchOperator):
    """Delete Waylay tasks matching ``query`` (or listed in ``ids``) and wait for the batch to finish.

    :param query: a task filter (see :class:`RulesBatchOperator`).
    :param ids: explicit task ids instead of a query.
    """

    def __init__(
        self,
        *,
        query: RulesQuery | dict[str, Any] | None = None,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("action", None)
        super().__init__(action="delete", query=query, ids=ids, **kwargs)
