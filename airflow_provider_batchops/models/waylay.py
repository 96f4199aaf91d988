"""Waylay request and response models, and the mapping of batch status onto :class:`BatchState`.

Wire names are camelCase; the models take snake_case or camelCase. See ``shared/api/waylay.md``.
"""

from __future__ import annotations

import ast
import json
from datetime import date, datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from airflow_provider_batchops.core.errors import InputError
from airflow_provider_batchops.core.state import BatchState, StatusReport
from airflow_provider_batchops.core.validation import validate_model

RULES_ACTIONS = (
    "delete",
    "start",
    "restart",
    "stop",
    "reload",
    "stopAndDelete",
    "updatePlugins",
    "updateProperties",
)
RulesAction = Literal[
    "delete", "start", "restart", "stop", "reload", "stopAndDelete", "updatePlugins", "updateProperties"
]
ACTIONS_WITH_PARAMETERS = ("updatePlugins", "updateProperties")
TaskType = Literal["scheduled", "periodic", "onetime", "reactive"]
TaskStatus = Literal["running", "pending", "stopped", "failed"]


def _epoch_millis(value: Any) -> Any:
    """Accept epoch milliseconds, a numeric string (a rendered template), a datetime or a date."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return int(moment.timestamp() * 1000)
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=timezone.utc).timestamp() * 1000)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return value


EpochMillis = Annotated[int, BeforeValidator(_epoch_millis), Field(ge=0)]
NonEmptyStr = Annotated[str, Field(min_length=1)]


class _WireModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class RulesQuery(_WireModel):
    """Filter of a rules batch (``BatchQuery``); every field is optional and they combine with AND.

    :param finished_before: epoch milliseconds, or a ``datetime``/``date`` (UTC when naive).
    """

    name: NonEmptyStr | None = None
    resource: NonEmptyStr | None = None
    type: TaskType | None = None
    status: TaskStatus | None = None
    template: NonEmptyStr | None = None
    plugin: NonEmptyStr | None = None
    user: NonEmptyStr | None = None
    finished_before: EpochMillis | None = None
    created_after: EpochMillis | None = None
    created_before: EpochMillis | None = None
    tags: dict[str, Any] | None = None


class PluginUpdate(_WireModel):
    """``actionParameters`` of ``updatePlugins``: move plug ``name`` from a version (or ``any``) to another."""

    name: NonEmptyStr
    from_version: Annotated[str, Field(pattern=r"^(any|\d+\.\d+\.\d+)$")]
    to_version: Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+$")]


class PropertyUpdates(_WireModel):
    """``actionParameters`` of ``updateProperties``; at least one field. A ``None`` value deletes."""

    variables: dict[str, Any] | None = None
    tags: dict[str, Any] | None = None
    gates_need_full_observation: bool | None = None
    reset_observations: bool | None = None
    parallel: bool | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> PropertyUpdates:
        if not self.model_fields_set:
            raise ValueError("give at least one of variables, tags, gatesNeedFullObservation, "
                             "resetObservations, parallel")
        return self

    def wire(self) -> dict[str, Any]:
        # exclude_unset, not exclude_none: {"tags": {"x": None}} must keep its null (it deletes the tag).
        return self.model_dump(by_alias=True, exclude_unset=True, mode="json")


def _ids(value: Any, field: str) -> list[str]:
    if isinstance(value, str) and value.strip().startswith("["):
        value = _parse_list_text(value, field)  # a list rendered by a template
    if isinstance(value, str) or not isinstance(value, (list, tuple, set)):
        raise InputError(field, f"expected a list of ids, got {type(value).__name__}")
    ids = list(value)
    if not ids:
        raise InputError(field, "the list is empty; give at least one id")
    for i, item in enumerate(ids):
        if not isinstance(item, str) or not item.strip():
            raise InputError(f"{field}[{i}]", f"expected a non-empty string id, got {item!r}")
    return ids


def _parse_list_text(text: str, field: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise InputError(field, f"could not read a list of ids from {text[:80]!r}") from None


def rules_batch_body(
    action: Any, query: Any = None, ids: Any = None, action_parameters: Any = None
) -> dict[str, Any]:
    """Validate the parts of a rules batch and return the JSON body of ``POST /rules/v1/batch``."""
    if action not in RULES_ACTIONS:
        raise InputError("action", f"{action!r} is not one of {', '.join(RULES_ACTIONS)}")
    if (query is None) == (ids is None):
        raise InputError("query", "give exactly one of 'query' (a filter) or 'ids' (a list of task ids)")
    if ids is not None:
        wire_query: dict[str, Any] = {"ids": _ids(ids, "ids")}
    else:
        if not isinstance(query, (dict, RulesQuery)):
            raise InputError("query", f"expected a dict or RulesQuery, got {type(query).__name__}")
        wire_query = validate_model(RulesQuery, query, "query").wire()
        if not wire_query:
            raise InputError("query", "an empty filter would select every task; use at least one filter field")
    body: dict[str, Any] = {"entity": "task", "action": action, "query": wire_query}
    if action in ACTIONS_WITH_PARAMETERS:
        if action_parameters is None:
            raise InputError("action_parameters", f"required for action '{action}'")
        model = PluginUpdate if action == "updatePlugins" else PropertyUpdates
        body["actionParameters"] = validate_model(model, action_parameters, "action_parameters").wire()
    elif action_parameters is not None:
        raise InputError("action_parameters", f"action '{action}' takes no parameters")
    return body


# -- responses --------------------------------------------------------------------------------------
class ItemFailure(BaseModel):
    statusCode: int
    error: str = ""


class BatchResults(BaseModel):
    success: dict[str, dict[str, Any]] = Field(default_factory=dict)
    failure: dict[str, ItemFailure] = Field(default_factory=dict)


class BatchOperation(BaseModel):
    """``GET /{rules|resources}/v1/batch/{batchId}``: running (no results yet) or finished."""

    model_config = ConfigDict(extra="allow")

    id: str
    operation: dict[str, Any] = Field(default_factory=dict)
    queueTime: int | str | None = None
    finishedTime: int | str | None = None
    results: BatchResults | None = None

    @property
    def finished(self) -> bool:
        # The API has no state field: a batch is finished once it carries its results.
        return self.finishedTime is not None or self.results is not None


def batch_report(service: str, body: Any) -> StatusReport:
    """Map a Waylay batch status body (rules or resources) onto a :class:`StatusReport`."""
    batch = BatchOperation.model_validate(body)
    action = str(batch.operation.get("action", ""))
    summary: dict[str, Any] = {
        "service": service,
        "batch_id": batch.id,
        "action": action,
        "description": batch.operation.get("description"),
        "queue_time": batch.queueTime,
    }
    label = f"{service} batch {batch.id} ({action})"
    if not batch.finished:
        return StatusReport(BatchState.RUNNING, {**summary, "state": "running"}, f"{label} is running")
    results = batch.results or BatchResults()
    failed = {key: item.model_dump() for key, item in results.failure.items()}
    if not failed:
        state = BatchState.SUCCEEDED
    else:
        state = BatchState.PARTIALLY_FAILED if results.success else BatchState.FAILED
    summary.update(
        state=state.value,
        finished_time=batch.finishedTime,
        succeeded=len(results.success),
        failed=len(failed),
        failures=failed,
    )
    message = f"{label} finished: {len(results.success)} succeeded, {len(failed)} failed"
    if failed:
        first_id, first = next(iter(failed.items()))
        message += f" (e.g. {first_id}: {first['statusCode']} {first['error']})"
    return StatusReport(state, summary, message, item_failures=len(failed))


# -- resources --------------------------------------------------------------------------------------
RESOURCE_ENTITIES = ("resource", "resourcetype")
CASCADE_OPTIONS = ("alarms", "measurements", "tasks")
#: Ids sent in one resources batch; larger lists are split into several batches.
DEFAULT_MAX_BATCH_SIZE = 1000


def resources_delete_bodies(
    ids: Any, entity: Any = "resource", cascade: Any = None, max_batch_size: Any = DEFAULT_MAX_BATCH_SIZE
) -> list[dict[str, Any]]:
    """Validate a bulk delete and return the body of each ``POST /resources/v1/batch`` to send."""
    if entity not in RESOURCE_ENTITIES:
        raise InputError("entity", f"{entity!r} is not one of {', '.join(RESOURCE_ENTITIES)}")
    id_list = list(dict.fromkeys(_ids(ids, "ids")))  # duplicates dropped, order kept
    if not isinstance(max_batch_size, int) or isinstance(max_batch_size, bool) or max_batch_size < 1:
        raise InputError("max_batch_size", f"expected a positive integer, got {max_batch_size!r}")
    parameters: dict[str, Any] | None = None
    if cascade is not None:
        if entity != "resource":
            raise InputError("cascade", "only resources (entity='resource') can cascade")
        options = [cascade] if isinstance(cascade, str) else cascade
        if not isinstance(options, (list, tuple, set)) or not options:
            raise InputError("cascade", f"expected a non-empty list of {', '.join(CASCADE_OPTIONS)}")
        for option in options:
            if option not in CASCADE_OPTIONS:
                raise InputError("cascade", f"{option!r} is not one of {', '.join(CASCADE_OPTIONS)}")
        parameters = {"cascade": list(dict.fromkeys(options))}
    bodies = []
    for start in range(0, len(id_list), max_batch_size):
        body: dict[str, Any] = {
            "entity": entity,
            "action": "delete",
            "query": {"ids": id_list[start : start + max_batch_size]},
        }
        if parameters:
            body["actionParameters"] = parameters
        bodies.append(body)
    return bodies


def combine_batch_reports(service: str, reports: list[StatusReport]) -> StatusReport:
    """One report for several batches of one logical operation (a split bulk delete)."""
    if len(reports) == 1:
        return reports[0]
    batch_ids = [r.summary.get("batch_id") for r in reports]
    unfinished = [r for r in reports if not r.state.is_terminal]
    summary: dict[str, Any] = {
        "service": service,
        "batch_ids": batch_ids,
        "batches": len(reports),
        "action": reports[0].summary.get("action"),
        "split_note": f"sent as {len(reports)} batches",
    }
    if unfinished:
        summary["state"] = "running"
        message = f"{len(reports) - len(unfinished)} of {len(reports)} {service} batches finished"
        return StatusReport(BatchState.RUNNING, summary, message)
    succeeded = sum(int(r.summary.get("succeeded", 0)) for r in reports)
    failures: dict[str, Any] = {}
    for report in reports:
        failures.update(report.summary.get("failures") or {})
    if not failures:
        state = BatchState.SUCCEEDED
    else:
        state = BatchState.PARTIALLY_FAILED if succeeded else BatchState.FAILED
    summary.update(state=state.value, succeeded=succeeded, failed=len(failures), failures=failures)
    message = f"{len(reports)} {service} batches finished: {succeeded} succeeded, {len(failures)} failed"
    if failures:
        first_id, first = next(iter(failures.items()))
        message += f" (e.g. {first_id}: {first['statusCode']} {first['error']})"
    return StatusReport(state, summary, message, item_failures=len(failures))
