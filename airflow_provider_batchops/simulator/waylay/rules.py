"""Waylay rules service: the tasks store, the task listing (``GET /rules/v1/tasks``) and the tasks
batch API (``/rules/v1/batch``).

The listing (``rules_listing``) and the batches select tasks with the same function
(:func:`~.rules_filter.task_matches`), so a count taken with the listing is what a batch with the
same filter touches.

A filter query (``BatchQuery``) must constrain the tasks: a field whose value is null, a blank string
or ``{}``, and a tag with an empty key or a null value, constrain nothing. A query left with no
constraint at all (``{}`` included) is refused with 400 ("query selects every task"), and so is a
query that carries such a field beside real ones (400 naming the field): nothing is started.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..http import epoch_ms
from .batch import Batch, BatchKind, ItemResult, SpecError, batch_routes
from .rules_filter import task_matches

if TYPE_CHECKING:
    from . import WaylayState

__all__ = ["SpecError", "parse_batch_spec", "require_constraint", "router", "seed_tasks", "task_matches"]

JsonDict = dict[str, Any]

ACTIONS = (
    "updatePlugins", "delete", "start", "restart", "stop", "reload", "stopAndDelete", "updateProperties",
)
TASK_TYPES = ("scheduled", "periodic", "onetime", "reactive")
TASK_STATUSES = ("running", "pending", "stopped", "failed")
STRING_FILTERS = ("name", "resource", "template", "plugin", "user")
TIME_FILTERS = ("finishedBefore", "createdAfter", "createdBefore")
FILTERS = ("name", "resource", "type", "status", "template", "plugin", "user", *TIME_FILTERS, "tags")
PROPERTY_KEYS = ("variables", "tags", "gatesNeedFullObservation", "resetObservations", "parallel")
DAY_MS = 86_400_000
_VERSION = re.compile(r"\d+\.\d+\.\d+")
_VERBS = {
    "delete": "Remove",
    "stopAndDelete": "Stop and remove",
    "start": "Start",
    "restart": "Restart",
    "stop": "Stop",
    "reload": "Reload",
    "updatePlugins": "Update plugins of",
    "updateProperties": "Update properties of",
}
_KINDS = ("pump", "meter", "door", "boiler", "chiller")
_TEMPLATES = ("temperatureAlarm.json", "pumpHealth.json", "batteryCheck.json", "doorMonitor.json")
_PLUGS = ("mySensor", "myActuator", "thresholdSensor", "mailNotifier", "smsNotifier")
_USERS = ("alice@example.com", "bob@example.com", "carol@example.com", "system")


@dataclass(frozen=True)
class BatchSpec:
    """A validated batch request."""

    action: str
    query: JsonDict
    params: JsonDict | None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_query(query: object) -> JsonDict:
    """Check the shape of ``query``; values that constrain nothing are left to :func:`require_constraint`."""
    if not isinstance(query, dict):
        raise SpecError("/query", "expected an object with ids or filter fields")
    if "ids" in query:
        if len(query) > 1:
            raise SpecError("/query", "ids cannot be combined with filter fields")
        ids = query["ids"]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise SpecError("/query/ids", "expected an array of task ids")
        return query
    for key, value in query.items():
        where = f"/query/{key}"
        if key not in FILTERS:
            raise SpecError(where, f"unknown filter {key}, we support ids, {', '.join(FILTERS)}")
        if no_constraint(value) is not None:
            continue
        if key == "type" and value not in TASK_TYPES:
            raise SpecError(where, f"unknown type {value}, we support {', '.join(TASK_TYPES)}")
        if key == "status" and value not in TASK_STATUSES:
            raise SpecError(where, f"unknown status {value}, we support {', '.join(TASK_STATUSES)}")
        if key in STRING_FILTERS and not isinstance(value, str):
            raise SpecError(where, "expected a string")
        if key in TIME_FILTERS and not _is_int(value):
            raise SpecError(where, "expected an integer (Unix epoch milliseconds)")
        if key == "tags" and not isinstance(value, dict):
            raise SpecError(where, "expected an object of tag values")
    return query


def no_constraint(value: object) -> str | None:
    """What makes a filter value constrain nothing (null, a blank string, ``{}``), or ``None`` if it constrains."""
    if value is None:
        return "null"
    if isinstance(value, str) and not value.strip():
        return "a blank string" if value else "an empty string"
    if isinstance(value, dict) and not value:
        return "an empty object"
    return None


def _tag_gaps(tags: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(pointer, why) of every tag that constrains nothing: an empty key or a null value."""
    gaps: list[tuple[str, str]] = []
    for tag, value in tags.items():
        if not tag.strip():
            gaps.append((f"/query/tags/{tag}", f"tags has an empty key ({tag!r})"))
        elif value is None:
            gaps.append((f"/query/tags/{tag}", f"tags.{tag} is null"))
    return gaps


def constraint_gaps(query: Mapping[str, Any]) -> tuple[list[str], list[tuple[str, str]]]:
    """The filter fields that constrain, and (pointer, why) of every part of ``query`` that does not."""
    constraining: list[str] = []
    gaps: list[tuple[str, str]] = []
    for key, value in query.items():
        why = no_constraint(value)
        if why is not None:
            gaps.append((f"/query/{key}", f"{key} is {why}"))
            continue
        tag_gaps = _tag_gaps(value) if key == "tags" else []
        gaps.extend(tag_gaps)
        if key != "tags" or len(tag_gaps) < len(value):
            constraining.append(key)
    return constraining, gaps


def require_constraint(query: Mapping[str, Any]) -> None:
    """Refuse a filter query that selects every task, or that carries a field constraining nothing.

    Waylay documents every ``BatchQuery`` field as a constraint on the tasks; it documents no meaning
    for a null, blank or empty value. Reading such a value as "no constraint" would turn a client's
    bug (an empty template, ``tags: {}``) into a batch on every task, so it is refused instead.
    """
    if "ids" in query:
        return
    constraining, gaps = constraint_gaps(query)
    if not constraining:
        found = "; ".join(why for _, why in gaps) if gaps else "no filter field is given"
        raise SpecError("/query", f"query selects every task: {found}. Give at least one filter value, or ids")
    if gaps:
        pointer, why = gaps[0]
        others = f" (also {', '.join(p for p, _ in gaps[1:])})" if len(gaps) > 1 else ""
        raise SpecError(pointer, f"{why}, which constrains nothing; leave it out or give it a value{others}")


def _check_plugin_update(update: object, where: str) -> JsonDict:
    if not isinstance(update, dict):
        raise SpecError(where, "expected an object with name, fromVersion and toVersion")
    for key in ("name", "fromVersion", "toVersion"):
        if not isinstance(update.get(key), str) or not update[key]:
            raise SpecError(f"{where}/{key}", "required string")
    if update["fromVersion"] != "any" and not _VERSION.search(update["fromVersion"]):
        raise SpecError(f"{where}/fromVersion", "expected a version like 1.2.3 or any")
    if not _VERSION.search(update["toVersion"]):
        raise SpecError(f"{where}/toVersion", "expected a version like 1.2.3")
    return {key: update[key] for key in ("name", "fromVersion", "toVersion")}


def _check_params(action: str, params: object) -> JsonDict | None:
    where = "/actionParameters"
    if action not in ("updatePlugins", "updateProperties"):
        return None
    if not isinstance(params, dict):
        raise SpecError(where, f"an object is required for action {action}")
    if action == "updatePlugins":
        # The schema says {name, fromVersion, toVersion}; the spec's example uses {updates: [...]}.
        listed = params.get("updates")
        if isinstance(listed, list) and listed:
            updates = [_check_plugin_update(u, f"{where}/updates/{i}") for i, u in enumerate(listed)]
        else:
            updates = [_check_plugin_update(params, where)]
        return {"updates": updates}
    if not any(key in params for key in PROPERTY_KEYS):
        raise SpecError(where, f"expected at least one of {', '.join(PROPERTY_KEYS)}")
    for key, value in params.items():
        if key not in PROPERTY_KEYS:
            raise SpecError(f"{where}/{key}", f"unknown property, we support {', '.join(PROPERTY_KEYS)}")
        if key in ("variables", "tags") and not isinstance(value, dict):
            raise SpecError(f"{where}/{key}", "expected an object")
        if key not in ("variables", "tags") and not isinstance(value, bool):
            raise SpecError(f"{where}/{key}", "expected a boolean")
    return dict(params)


def parse_batch_spec(body: object) -> BatchSpec:
    """Validate a ``BatchTaskSpec`` body; raise :class:`SpecError` naming the bad field.

    The order of the checks decides which error a body with several gets: entity, action, the query's
    shape, ``actionParameters``, then whether the query constrains anything (:func:`require_constraint`).
    """
    if not isinstance(body, dict):
        raise SpecError("/", "expected a JSON object with entity, action and query")
    if body.get("entity") != "task":
        raise SpecError("/entity", f"unknown entity {body.get('entity')}, we support task")
    action = body.get("action")
    if action not in ACTIONS:
        raise SpecError("/action", f"unknown action {action}, we support {', '.join(ACTIONS)}")
    if "query" not in body:
        raise SpecError("/query", "missing required field")
    query = _check_query(body["query"])
    params = _check_params(str(action), body.get("actionParameters"))
    require_constraint(query)
    return BatchSpec(action=str(action), query=query, params=params)


def describe(action: str, query: Mapping[str, Any]) -> str:
    """Human description in the style of the Waylay examples."""
    verb = _VERBS[action]
    if "ids" in query:
        ids = query["ids"]
        shown = ",".join(ids[:10]) + (f",... ({len(ids) - 10} more)" if len(ids) > 10 else "")
        return f"{verb} tasks filtered by ids={shown}"
    parts: list[str] = []
    for key, value in query.items():
        if key == "tags":
            parts.extend(f"tags.{tag}={tag_value}" for tag, tag_value in value.items())
        else:
            parts.append(f"{key}={value}")
    return f"{verb} tasks filtered by {' AND '.join(parts)}" if parts else f"{verb} all tasks"


def seed_tasks(seed: int, count: int, fail_ratio: float, start_ms: int) -> dict[str, JsonDict]:
    """Deterministic task set: same seed, count, ratio and start time give the same tasks."""
    rng = random.Random(seed)
    tasks: dict[str, JsonDict] = {}
    for index in range(count):
        task_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        kind, task_type, status = rng.choice(_KINDS), rng.choice(TASK_TYPES), rng.choice(TASK_STATUSES)
        created = start_ms - rng.randrange(120 * DAY_MS)
        plugs = rng.sample(_PLUGS, rng.randint(1, 3))
        task: JsonDict = {
            "id": task_id,
            "name": f"{kind}-{task_type}-{index:05d}",
            "type": task_type,
            "status": status,
            "createdTime": created,
            "resource": f"{kind}-{rng.randrange(1, 100):04d}",
            "template": rng.choice(_TEMPLATES),
            "user": rng.choice(_USERS),
            "plugins": sorted(f"{p}:1.{rng.randrange(4)}.{rng.randrange(10)}" for p in plugs),
            "tags": {"site": f"plant-{rng.randrange(1, 10)}", "env": rng.choice(("prod", "staging"))},
        }
        if status in ("stopped", "failed"):
            task["finishedTime"] = created + rng.randrange(start_ms - created + 1)
        if rng.random() < fail_ratio:
            task["fail"] = {"statusCode": 409, "error": f"Task {task_id} is locked"}
        tasks[task_id] = task
    return tasks


def _apply(task: JsonDict, action: str, params: JsonDict | None, at_ms: int) -> None:
    if action == "stop":
        task["status"], task["finishedTime"] = "stopped", at_ms
    elif action in ("start", "restart"):
        task["status"] = "running"
        task.pop("finishedTime", None)
    elif action == "updatePlugins" and params:
        for update in params["updates"]:
            name, old, new = update["name"], update["fromVersion"], update["toVersion"]
            plugins = [str(p).partition(":") for p in task.get("plugins") or []]
            task["plugins"] = [
                f"{name}:{new}" if plug == name and old in ("any", version) else f"{plug}{sep}{version}"
                for plug, sep, version in plugins
            ]
    elif action == "updateProperties" and params:
        for key, value in params.items():
            if key in ("variables", "tags"):
                merged = {**(task.get(key) or {}), **value}
                task[key] = {k: v for k, v in merged.items() if v is not None}
            else:
                task[key] = value


class RulesService:
    """The tasks of the emulated tenant and their batch operations."""

    def __init__(self, tenant: WaylayState) -> None:
        self._tenant = tenant
        self.tasks: dict[str, JsonDict] = {}
        self.kind = BatchKind(service="rules", stamp=epoch_ms, apply=self._apply_item)

    def reseed(self) -> None:
        """Regenerate the seeded tasks and forget the rules batches."""
        tenant = self._tenant
        cfg = tenant.config
        with tenant.lock:
            self.tasks = seed_tasks(cfg.seed, cfg.tasks, cfg.fail_ratio, tenant.started_ms)
            tenant.batches.clear(self.kind.service)

    def put_tasks(self, tasks: list[JsonDict], replace: bool = False) -> int:
        """Insert or replace tasks by id (missing fields get defaults)."""
        created = int(time.time() * 1000)
        with self._tenant.lock:
            if replace:
                self.tasks.clear()
            for item in tasks:
                task: JsonDict = {"name": item["id"], "type": "onetime", "status": "running", "user": "system"}
                task.update(createdTime=created, plugins=[], tags={})
                task.update(item)
                self.tasks[str(item["id"])] = task
            return len(self.tasks)

    def list_tasks(self) -> list[JsonDict]:
        """Copies of the current tasks."""
        self._tenant.batches.settle()
        with self._tenant.lock:
            return [dict(task) for task in self.tasks.values()]

    def listing(self, query: JsonDict, hits: int, start: int) -> tuple[int, list[JsonDict]]:
        """The number of tasks ``query`` selects and copies of the page ``start:start+hits`` of them."""
        self._tenant.batches.settle()
        with self._tenant.lock:
            found = [task for task in self.tasks.values() if task_matches(task, query)]
            return len(found), [dict(task) for task in found[start:start + hits]]

    def tasks_by_resource(self) -> dict[str, list[str]]:
        """Task ids per ``resource`` field."""
        index: dict[str, list[str]] = {}
        with self._tenant.lock:
            for task_id, task in self.tasks.items():
                resource = task.get("resource")
                if isinstance(resource, str):
                    index.setdefault(resource, []).append(task_id)
        return index

    def start_batch(self, spec: BatchSpec) -> Batch:
        """Queue a batch operation; the matching task set is fixed now."""
        tenant = self._tenant
        tenant.batches.settle()
        with tenant.lock:
            if "ids" in spec.query:
                task_ids = list(dict.fromkeys(spec.query["ids"]))
            else:
                task_ids = [tid for tid, task in self.tasks.items() if task_matches(task, spec.query)]
            return tenant.batches.start(
                self.kind,
                user=f"user/{tenant.user_id}",
                entity="task",
                action=spec.action,
                description=describe(spec.action, spec.query),
                item_ids=task_ids,
                params=spec.params,
            )

    def get_batch(self, batch_id: str) -> Batch | None:
        """The batch with ``batch_id`` (finished if its delay has passed), or ``None``."""
        return self._tenant.batches.get(self.kind, batch_id)

    def _apply_item(self, batch: Batch, task_id: str, at: float) -> ItemResult:
        task = self.tasks.get(task_id)
        if task is None:
            return 404, f"No task with id {task_id}"
        fail = task.get("fail")
        if isinstance(fail, dict):
            return int(fail.get("statusCode", 500)), str(fail.get("error", "Task failed"))
        if batch.action in ("delete", "stopAndDelete"):
            del self.tasks[task_id]
        else:
            _apply(task, batch.action, batch.params, epoch_ms(at))
        return 200, None


router = batch_routes(
    "/rules/v1/batch",
    lambda waylay: waylay.rules,
    parse_batch_spec,
    "No batch operation with id '{batch_id}'",
    "tasks batch operation",
)
