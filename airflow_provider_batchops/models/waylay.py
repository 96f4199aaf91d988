"""Waylay request and response models, and the mapping of batch status onto :class:`BatchState`.

Wire names are camelCase; the models take snake_case or camelCase. See ``shared/api/waylay.md``.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from airflow_provider_batchops.core.errors import InputError
from airflow_provider_batchops.core.state import MAX_LISTED, BatchState, StatusReport, bounded, outcome
from airflow_provider_batchops.core.validation import (
    check_json,
    check_text_id,
    id_list,
    validate_model,
    whole_number_text,
)

if TYPE_CHECKING:
    from airflow_provider_batchops.core.http import Reply

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
#: Actions that are harmless to send twice: a start whose answer was lost is sent again.
IDEMPOTENT_ACTIONS = ("delete", "stopAndDelete")
#: Epoch milliseconds below this (1973-03-03) are refused: such a number is most likely epoch seconds.
MIN_EPOCH_MILLIS = 100_000_000_000
TaskType = Literal["scheduled", "periodic", "onetime", "reactive"]
TaskStatus = Literal["running", "pending", "stopped", "failed"]


def _epoch_millis(value: Any) -> Any:
    """Accept epoch milliseconds, a numeric or ISO-8601 string (a rendered template), a datetime or a date."""
    if isinstance(value, bool):
        raise ValueError("expected epoch milliseconds, a datetime or an ISO date-time, not true/false")
    if isinstance(value, str):
        text = value.strip()
        if whole_number_text(text):
            value = int(text)
        else:
            try:
                value = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"expected epoch milliseconds or an ISO date-time, got {value!r}") from None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return int(moment.timestamp() * 1000)
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=timezone.utc).timestamp() * 1000)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 0 <= value < MIN_EPOCH_MILLIS:
        raise ValueError(f"{value} is before 1973 in epoch milliseconds; it looks like epoch seconds: "
                         f"give milliseconds (e.g. {max(value, 1_700_000_000) * 1000})")
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

    @model_validator(mode="after")
    def _order(self) -> RulesQuery:
        if self.created_after is not None and self.created_before is not None:
            if self.created_after > self.created_before:
                raise ValueError("created_after is later than created_before: the filter selects nothing")
        return self


def check_constraints(query: dict[str, Any]) -> dict[str, Any]:
    """Refuse a wire filter with a field that constrains nothing, or with no field that constrains.

    A field constrains nothing when it is null, a blank string or an empty object (``tags: {}``); a
    tag constrains nothing with a blank key or a null/blank/empty value. Such a field is refused
    rather than dropped: Waylay might read it as "any", and a batch on every task is never meant.
    """
    for key, value in query.items():
        if _empty(value):
            raise InputError(f"query.{key}", f"{value!r} constrains nothing; remove the field or give a value")
        if key == "tags":
            for tag, tag_value in value.items():
                if not str(tag).strip():
                    raise InputError("query.tags", f"tag name {tag!r} is blank")
                if _empty(tag_value):
                    raise InputError(f"query.tags.{tag}", f"{tag_value!r} constrains nothing; give the tag's value")
    if not query:
        raise InputError("query", "an empty filter would select every task; use at least one filter field")
    return query


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, (dict, list)) and not value)


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
    return id_list(value, field, "text", single=False)


def rules_batch_body(
    action: Any, query: Any = None, ids: Any = None, action_parameters: Any = None, given: str | None = None
) -> dict[str, Any]:
    """Validate the parts of a rules batch and return the JSON body of ``POST /rules/v1/batch``.

    :param given: which of ``query`` or ``ids`` the user wrote, so that a template that rendered
        ``None`` is named as the user wrote it.
    """
    if action not in RULES_ACTIONS:
        raise InputError("action", f"{action!r} is not one of {', '.join(RULES_ACTIONS)}")
    if query is None and ids is None:
        if given in ("query", "ids"):
            raise InputError(given, "is None (did a template or an upstream task give nothing?)")
        raise InputError("query", "give exactly one of 'query' (a filter) or 'ids' (a list of task ids)")
    if query is not None and ids is not None:
        raise InputError("query", "give exactly one of 'query' (a filter) or 'ids' (a list of task ids)")
    if ids is not None:
        wire_query: dict[str, Any] = {"ids": _ids(ids, "ids")}
    else:
        if not isinstance(query, (dict, RulesQuery)):
            raise InputError("query", f"expected a dict or RulesQuery, got {type(query).__name__}")
        raw = query.model_dump(by_alias=True, exclude_unset=True) if isinstance(query, RulesQuery) else query
        check_json(raw.get("tags"), "query.tags")
        check_constraints({key: value for key, value in raw.items() if value is not None})
        wire_query = check_constraints(validate_model(RulesQuery, query, "query").wire())
    body: dict[str, Any] = {"entity": "task", "action": action, "query": wire_query}
    if action in ACTIONS_WITH_PARAMETERS:
        if action_parameters is None:
            raise InputError("action_parameters", f"required for action '{action}'")
        check_json(action_parameters if isinstance(action_parameters, dict) else {}, "action_parameters")
        model = PluginUpdate if action == "updatePlugins" else PropertyUpdates
        body["actionParameters"] = validate_model(model, action_parameters, "action_parameters").wire()
    elif action_parameters is not None:
        raise InputError("action_parameters", f"action '{action}' takes no parameters")
    return body


#: ``BatchQuery`` fields that ``GET /rules/v1/tasks`` takes under the same name (``tags`` and ``user`` differ).
LISTING_FILTERS = ("name", "resource", "type", "status", "template", "plugin", "finishedBefore", "createdAfter",
                   "createdBefore")


def listing_params(query: dict[str, Any]) -> dict[str, Any]:
    """The ``GET /rules/v1/tasks`` query parameters that select what the batch filter ``query`` selects.

    ``query`` is the wire filter of :func:`rules_batch_body`. Each tag becomes ``tags.<key>=<value>``; a
    tag whose value is a list or an object has no listing equivalent and is refused (naming it).
    ``user`` has no listing parameter: it is left out here, and the caller filters on each listed
    task's ``user`` (see :func:`~airflow_provider_batchops.hooks.waylay.tasks_preview_reader`).
    """
    params: dict[str, Any] = {key: query[key] for key in LISTING_FILTERS if key in query}
    for tag, value in (query.get("tags") or {}).items():
        if isinstance(value, (dict, list)):
            raise InputError(f"query.tags.{tag}", "a list or object tag value cannot be counted by the task "
                             "listing (GET /rules/v1/tasks); give a text, number or true/false value, or set "
                             "max_tasks=None to start the batch without counting")
        params[f"tags.{tag}"] = value
    unknown = sorted(set(query) - {*LISTING_FILTERS, "tags", "user"})
    if unknown:
        raise InputError(f"query.{unknown[0]}", "has no task listing equivalent; the tasks cannot be counted")
    return params


def listed_task(task: Any) -> dict[str, Any]:
    """The id and name of one task of the listing (``TaskEntity``: ``ID``, ``name``)."""
    if not isinstance(task, dict) or not isinstance(task.get("ID"), str):
        raise ValueError(f"a listed task without an 'ID': {str(task)[:200]}")
    return {"id": task["ID"], "name": task.get("name")}


def batch_id_from_start(reply: Reply) -> str:
    """The id of an accepted batch: ``entity.id``, else the last segment of ``uri`` or ``Location``."""
    body = reply.json()
    entity = body.get("entity") if isinstance(body, dict) else None
    if isinstance(entity, dict) and isinstance(entity.get("id"), str) and entity["id"].strip():
        return check_text_id(entity["id"], "entity.id")
    for name, link in (("uri", body.get("uri") if isinstance(body, dict) else None),
                       ("Location", reply.headers.get("Location"))):
        if isinstance(link, str) and "/batch/" in link:
            try:
                path = urlsplit(link).path
            except ValueError:  # a malformed URL: try the next place
                continue
            return check_text_id(path.rstrip("/").rsplit("/", 1)[-1], name)
    raise ValueError("no batch id in entity.id, uri or the Location header")


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


def epoch_ms(value: Any) -> int | None:
    """A batch time as epoch milliseconds: rules answer numbers, resources ISO-8601 strings."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip()
    if whole_number_text(text):
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp() * 1000)


def failure_entries(failed: dict[str, Any], count: int) -> dict[str, Any]:
    """The failed items of a summary: every count, but at most :data:`MAX_LISTED` items listed."""
    listed = bounded(failed)
    return {"failed": count, "failures": listed, "failures_listed": len(listed),
            "failures_truncated": len(listed) < count}


def _running(body: Any) -> tuple[str, dict[str, Any], int | str | None] | None:
    """``(id, operation, queueTime)`` of a body that is plainly a running batch, else ``None``.

    Plainly: a JSON object with a string ``id``, an ``operation`` object (or none), a ``queueTime``
    that is a whole number, a string or null (or none), and no ``finishedTime``/``results`` (or null).
    :class:`BatchOperation` would accept such a body unchanged; every other body goes through it, so
    its errors stay the same. This is the poll of every still-running batch, the triggerer's hot path.
    """
    if type(body) is not dict or body.get("finishedTime") is not None or body.get("results") is not None:
        return None
    batch_id = body.get("id")
    operation = body.get("operation", _NO_OPERATION)
    queue_time = body.get("queueTime")
    if type(batch_id) is not str or type(operation) is not dict:
        return None
    if queue_time is not None and type(queue_time) is not int and type(queue_time) is not str:
        return None
    return batch_id, operation, queue_time


_NO_OPERATION: dict[str, Any] = {}


def batch_report(service: str, body: Any) -> StatusReport:
    """Map a Waylay batch status body (rules or resources) onto a :class:`StatusReport`."""
    running = _running(body)
    if running is not None:
        batch_id, operation, queue_time = running
        action = str(operation.get("action", ""))
        facts = {
            "service": service,
            "batch_id": batch_id,
            "action": action,
            "description": operation.get("description"),
            "queue_time": queue_time if type(queue_time) is int else epoch_ms(queue_time),  # an int is itself
            "state": "running",
        }
        return StatusReport(BatchState.RUNNING, facts, f"{service} batch {batch_id} ({action}) is running")
    batch = BatchOperation.model_validate(body)
    action = str(batch.operation.get("action", ""))
    summary: dict[str, Any] = {
        "service": service,
        "batch_id": batch.id,
        "action": action,
        "description": batch.operation.get("description"),
        "queue_time": epoch_ms(batch.queueTime),
    }
    label = f"{service} batch {batch.id} ({action})"
    if not batch.finished:
        return StatusReport(BatchState.RUNNING, {**summary, "state": "running"}, f"{label} is running")
    results = batch.results or BatchResults()
    failed = {key: item.model_dump() for key, item in bounded(results.failure).items()}
    state = outcome(len(results.success), len(results.failure))
    summary.update(state=state.value, finished_time=epoch_ms(batch.finishedTime), succeeded=len(results.success),
                   **failure_entries(failed, len(results.failure)))
    message = f"{label} finished: {len(results.success)} succeeded, {len(results.failure)} failed"
    return StatusReport(state, summary, message + _example(failed), item_failures=len(results.failure))


def _example(failed: dict[str, Any]) -> str:
    if not failed:
        return ""
    first_id, first = next(iter(failed.items()))
    return f" (e.g. {first_id}: {first.get('statusCode')} {first.get('error')})"


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
    wanted = _ids(ids, "ids")  # duplicates dropped, order kept
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
    for start in range(0, len(wanted), max_batch_size):
        body: dict[str, Any] = {
            "entity": entity,
            "action": "delete",
            "query": {"ids": wanted[start : start + max_batch_size]},
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
    failed_count = sum(int(r.summary.get("failed", 0)) for r in reports)
    failures: dict[str, Any] = {}
    for report in reports:
        failures.update(bounded(report.summary.get("failures") or {}, MAX_LISTED - len(failures)))
    state = outcome(succeeded, failed_count)
    summary.update(state=state.value, succeeded=succeeded, **failure_entries(failures, failed_count))
    message = f"{len(reports)} {service} batches finished: {succeeded} succeeded, {failed_count} failed"
    return StatusReport(state, summary, message + _example(failures), item_failures=failed_count)
