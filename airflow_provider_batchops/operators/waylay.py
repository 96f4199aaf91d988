"""Operators that start Waylay batch operations and wait for them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_batchops.core.errors import BatchOpsError, InputError
from airflow_provider_batchops.core.operator import RemoteId, StartAndWaitOperator, check_flag, refuse_dry_run_outlets
from airflow_provider_batchops.core.state import MAX_LISTED
from airflow_provider_batchops.core.validation import check_int
from airflow_provider_batchops.hooks.waylay import WaylayHook
from airflow_provider_batchops.models.waylay import (
    DEFAULT_MAX_BATCH_SIZE,
    IDEMPOTENT_ACTIONS,
    RulesQuery,
    resources_delete_bodies,
    rules_batch_body,
)
from airflow_provider_batchops.triggers.waylay import WaylayBatchTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

#: The most tasks a delete by query may select unless ``max_tasks`` says otherwise.
DEFAULT_MAX_TASKS = 1000
#: ``max_tasks`` default of :class:`RulesBatchOperator`: :data:`DEFAULT_MAX_TASKS` for the actions that
#: delete tasks, no limit for the others.
AUTO = "auto"


def check_max_tasks(value: Any, action: str) -> int | None:
    """The task limit of a batch by query: ``None`` (no count), or a whole number >= 0."""
    if value is None:
        return None
    if value == AUTO:
        return DEFAULT_MAX_TASKS if action in IDEMPOTENT_ACTIONS else None
    return check_int(value, "max_tasks", minimum=0)


class WaylayBatchOperator(StartAndWaitOperator):
    """Base of the Waylay batch operators: start one or several batches, read them, defer on them.

    :param waylay_conn_id: the Airflow connection id (type ``waylay``).
    """

    service: str
    cannot_cancel_note = "Waylay batch operations cannot be cancelled, so it goes on remotely"
    trigger_class = WaylayBatchTrigger

    def __init__(self, *, waylay_conn_id: str = WaylayHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.waylay_conn_id = waylay_conn_id

    def split(self, request: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return request

    def trigger_identity(self, remote_id: RemoteId) -> dict[str, Any]:
        return WaylayBatchTrigger.identity_of(self.service, remote_id, self.waylay_conn_id)

    def start(self, request: dict[str, Any]) -> str:
        """Send one batch body; return the accepted batch id."""
        accepted = self.hook.start_batch(self.service, request)
        batch_id = str(accepted["entity"]["id"])
        operation = accepted["entity"].get("operation")
        self.log.info("Waylay accepted batch %s: %s", batch_id,
                      operation.get("description", "") if isinstance(operation, dict) else "")
        return batch_id

    def start_is_idempotent(self, request: dict[str, Any]) -> bool:
        return request.get("action") in IDEMPOTENT_ACTIONS


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
    :param dry_run: change nothing: count the tasks the query selects (``GET /rules/v1/tasks``) and
        return ``would_affect_count`` and ``would_affect`` (id and name of the first 100); with ``ids``,
        the listed ids, unread. Not templated.
    :param max_tasks: before a batch by ``query`` is started, count the tasks it selects and fail,
        changing nothing, if there are more. ``"auto"`` (default) = 1000 for ``delete`` and
        ``stopAndDelete``, no count for other actions; ``None`` = no count. A batch by ``ids`` is
        bounded by its list and is not counted. A query with ``user`` is counted by reading every task
        the other filters select (the listing has no ``user`` filter), at most 100,000.
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
        "max_tasks",
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
        dry_run: bool = False,
        max_tasks: int | str | None = AUTO,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.action = action
        self.query = query
        self.ids = ids
        self.action_parameters = action_parameters
        # BaseOperator has a dry_run() method; the flag is kept under another name.
        self.list_only = dry_run
        self.max_tasks = max_tasks
        # Which of the two the DAG gave, so a template that renders None is named as written.
        self._given = "ids" if ids is not None else "query" if query is not None else None

    def validate(self) -> list[dict[str, Any]]:
        body = rules_batch_body(self.action, self.query, self.ids, self.action_parameters, self._given)
        self._limit = check_max_tasks(self.max_tasks, body["action"])
        return [body]

    def execute(self, context: Context) -> Any:
        if not check_flag(self.list_only, "dry_run"):
            return super().execute(context)
        body = self.validate()[0]
        refuse_dry_run_outlets(self.outlets)
        return self.preview(body)

    def preview(self, body: dict[str, Any]) -> dict[str, Any]:
        """What the batch ``body`` would touch, changing nothing (the ``dry_run`` summary)."""
        query = body["query"]
        summary: dict[str, Any] = {"action": body["action"], "dry_run": True, "max_tasks": self._limit}
        found: dict[str, Any]
        if "ids" in query:  # bounded by the list, which is not counted against max_tasks
            ids = list(dict.fromkeys(query["ids"]))
            found = {"would_affect_count": len(ids), "would_affect": [{"id": i} for i in ids[:MAX_LISTED]],
                     "listing_requests": 0}
            within = True
        else:
            found = self.hook.preview_rules_tasks(query)
            within = self._limit is None or found["would_affect_count"] <= self._limit
        summary.update(found, within_max_tasks=within)
        self.log.info("Dry run: %s would affect %d task(s); nothing was changed%s", body["action"],
                      found["would_affect_count"], "" if within else f" (more than max_tasks={self._limit})")
        for task in found["would_affect"][:20]:
            self.log.info("would %s task %s%s", body["action"], task["id"],
                          f" ({task['name']})" if task.get("name") else "")
        return summary

    def before_start(self, parts: list[dict[str, Any]]) -> None:
        """Count what a batch by query selects; refuse (nothing sent) above ``max_tasks``."""
        body = parts[0]
        if self._limit is None or "ids" in body["query"]:
            return
        count = self.hook.preview_rules_tasks(body["query"], listed=0)["would_affect_count"]
        self.log.info("The query selects %d task(s) (max_tasks=%d)", count, self._limit)
        if count > self._limit:
            raise BatchOpsError(
                f"{count} tasks match the query, more than max_tasks={self._limit}; nothing was changed "
                f"(no batch was started). Narrow the query, raise max_tasks, or preview it with dry_run=True."
            )


class RulesBatchDeleteOperator(RulesBatchOperator):
    """Delete Waylay tasks matching ``query`` (or listed in ``ids``) and wait for the batch to finish.

    :param query: a task filter (see :class:`RulesBatchOperator`).
    :param ids: explicit task ids instead of a query.
    :param max_tasks: refuse (and delete nothing) when the query selects more tasks than this; default
        1000, ``None`` = no count. Not applied to ``ids``.
    :param dry_run: count and list what would be deleted; delete nothing.
    """

    def __init__(
        self,
        *,
        query: RulesQuery | dict[str, Any] | None = None,
        ids: list[str] | None = None,
        max_tasks: int | str | None = DEFAULT_MAX_TASKS,
        **kwargs: Any,
    ) -> None:
        if "action" in kwargs:
            raise InputError("action", "RulesBatchDeleteOperator always deletes; use RulesBatchOperator for "
                             f"action={kwargs['action']!r}")
        super().__init__(action="delete", query=query, ids=ids, max_tasks=max_tasks, **kwargs)


class ResourcesBatchDeleteOperator(WaylayBatchOperator):
    """Bulk-delete Waylay resources or resource types (``POST /resources/v1/batch``) and wait.

    More ids than ``max_batch_size`` are sent as several batches, followed together; the summary then
    says so (``batches``, ``batch_ids``, ``split_note``). The batch ids are pushed to XCom (key
    ``batch_ids``, a list) as soon as they are accepted. Per-item failures (e.g. a resource that is
    still the parent of others) follow ``on_item_failure``.

    :param ids: resource (or resource type) ids; a list, or an XCom list through templating.
    :param entity: ``resource`` (default) or ``resourcetype``.
    :param cascade: for resources, also delete their ``alarms``, ``measurements`` and/or ``tasks``.
    :param max_batch_size: ids per batch (default 1000).
    """

    service = "resources"
    remote_id_key = "batch_ids"
    many_ids = True
    template_fields: tuple[str, ...] = (
        *StartAndWaitOperator.template_fields,
        "ids",
        "entity",
        "cascade",
        "max_batch_size",
        "waylay_conn_id",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"ids": "json"}
    ui_color = "#c9e4f6"

    def __init__(
        self,
        *,
        ids: list[str] | str,
        entity: str = "resource",
        cascade: list[str] | None = None,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.ids = ids
        self.entity = entity
        self.cascade = cascade
        self.max_batch_size = max_batch_size

    def validate(self) -> list[dict[str, Any]]:
        return resources_delete_bodies(self.ids, self.entity, self.cascade, self.max_batch_size)
