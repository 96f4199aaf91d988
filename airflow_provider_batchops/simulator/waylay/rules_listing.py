"""Waylay rules task listing: ``GET /rules/v1/tasks`` with the batch filter's fields, ``tags``, ``ids``,
paging (``hits``, ``startIndex``) and the total in ``X-Count``. Selects with the batches' own filter
(:func:`~.rules_filter.task_matches`), through :meth:`~.rules.RulesService.listing`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from .auth import Authorized, WaylayError
from .batch import SpecError
from .rules import TASK_STATUSES, TASK_TYPES, TIME_FILTERS
from .rules_filter import TagTexts

JsonDict = dict[str, Any]

LISTING_STRINGS = ("name", "resource", "template", "plugin")
LISTING_IGNORED = ("format", "includeHealth")


def _listing_int(name: str, text: str, minimum: int = 0) -> int:
    if not text.strip().isdigit() or int(text) < minimum:
        raise SpecError(f"/{name}", f"expected an integer >= {minimum}, got {text!r}")
    return int(text)


def parse_listing(params: list[tuple[str, str]]) -> tuple[JsonDict, int, int]:
    """The filter (as :func:`task_matches` reads it), ``hits`` and ``startIndex`` of a task listing."""
    query: JsonDict = {}
    hits, start = 10, 0
    for name, value in params:
        if name == "hits":
            hits = _listing_int(name, value)
        elif name == "startIndex":
            start = _listing_int(name, value)
        elif name in LISTING_STRINGS:
            query[name] = value
        elif name == "type" or name == "status":
            allowed = TASK_TYPES if name == "type" else TASK_STATUSES
            if value not in allowed:
                raise SpecError(f"/{name}", f"unknown {name} {value}, we support {', '.join(allowed)}")
            query[name] = value
        elif name in TIME_FILTERS:
            query[name] = _listing_int(name, value, 1)
        elif name.startswith("tags.") and len(name) > 5:
            tags = query.setdefault("tags", {})
            texts = tags.get(name[5:], TagTexts())
            tags[name[5:]] = TagTexts(texts | {value}) if value else texts
        elif name == "tags":
            query.setdefault("anyTag", []).extend(v for v in value.split(",") if v)
        elif name in ("ids", "id"):
            query.setdefault("ids", []).extend(v for v in value.split(",") if v)
        elif name not in LISTING_IGNORED:
            raise SpecError(f"/{name}", "unknown query parameter (the simulator serves the batch filter's fields, "
                            "tags, ids, id, hits and startIndex)")
    return query, hits, start


def listed_task(task: Mapping[str, Any]) -> JsonDict:
    """A stored task as the listing shows it (``TaskWithRuntimeInfo``)."""
    entry: JsonDict = {"ID": task["id"], "name": task.get("name", task["id"]), "status": task.get("status"),
                       "user": task.get("user", "system"), "createTime": task.get("createdTime"), "network": {}}
    if task.get("template") is not None:
        entry["template"] = task["template"]
    if task.get("resource") is not None:
        entry["resourceIds"] = [task["resource"]]
    entry["tags"] = dict(task.get("tags") or {})
    for key in ("type", "finishedTime"):
        if task.get(key) is not None:
            entry[key] = task[key]
    return entry


async def list_tasks(request: Request, waylay: Authorized) -> Response:
    """Query multiple tasks: one page (``hits``, ``startIndex``) and the total in ``X-Count``."""
    try:
        query, hits, start = parse_listing(list(request.query_params.multi_items()))
    except SpecError as exc:
        raise WaylayError(400, str(exc)) from None
    total, page = waylay.rules.listing(query, hits, start)
    return JSONResponse([listed_task(task) for task in page], headers={"X-Count": str(total)})


router = APIRouter()
router.add_api_route("/rules/v1/tasks", list_tasks, methods=["GET"])
