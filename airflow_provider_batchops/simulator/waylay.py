"""Waylay emulation: the token endpoint and the rules tasks batch API."""

from __future__ import annotations

import base64
import binascii
import heapq
import hmac
import itertools
import random
import re
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import jwt
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from .http import error, json_body

if TYPE_CHECKING:
    from .app import SimState

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
TOKEN_DOMAIN = "simulator.local"
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


class SpecError(ValueError):
    """A batch request body that does not follow ``BatchTaskSpec``."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(f"{pointer} <- {message}")


@dataclass(frozen=True)
class BatchSpec:
    """A validated batch request."""

    action: str
    query: JsonDict
    params: JsonDict | None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_query(query: object) -> JsonDict:
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
    """Validate a ``BatchTaskSpec`` body; raise :class:`SpecError` naming the bad field."""
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


def task_matches(task: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    """Tell whether ``task`` satisfies every filter field of ``query``."""
    for key, want in query.items():
        if key == "plugin":
            plugins = task.get("plugins") or []
            if ":" in want:
                found = want in plugins
            else:
                found = any(str(p).split(":", 1)[0] == want for p in plugins)
            if not found:
                return False
        elif key == "tags":
            tags = task.get("tags") or {}
            if any(tags.get(tag) != value for tag, value in want.items()):
                return False
        elif key == "finishedBefore":
            finished = task.get("finishedTime")
            if finished is None or finished >= want:
                return False
        elif key in ("createdAfter", "createdBefore"):
            created = task.get("createdTime")
            if created is None or (created <= want if key == "createdAfter" else created >= want):
                return False
        elif task.get(key) != want:
            return False
    return True


class TokenIssuer:
    """Issues HS256 JWTs and checks them; revoking rotates the signing key."""

    def __init__(self, tenant: str, subject: str) -> None:
        self.tenant = tenant
        self.subject = subject
        self._key = secrets.token_bytes(32)
        self._valid: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self, ttl: float) -> str:
        """A fresh token valid for ``ttl`` seconds."""
        now = time.time()
        claims = {
            "tenant": self.tenant,
            "sub": self.subject,
            "domain": TOKEN_DOMAIN,
            "iat": int(now),
            "exp": int(now + ttl),
            "jti": uuid.uuid4().hex,
        }
        with self._lock:
            return jwt.encode(claims, self._key, algorithm="HS256")

    def revoke_all(self) -> None:
        """Invalidate every token issued so far."""
        with self._lock:
            self._key = secrets.token_bytes(32)
            self._valid.clear()

    def check(self, token: str) -> str | None:
        """Return why ``token`` is refused, or ``None`` when it is valid."""
        with self._lock:
            exp = self._valid.get(token)
            if exp is None:
                try:
                    claims = jwt.decode(
                        token, self._key, algorithms=["HS256"], options={"require": ["exp", "sub"]}
                    )
                except jwt.ExpiredSignatureError:
                    return "Token expired"
                except jwt.InvalidTokenError:
                    return "Invalid token"
                if len(self._valid) > 10_000:
                    self._valid.clear()
                exp = self._valid[token] = float(claims["exp"])
            return None if time.time() < exp else "Token expired"


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


@dataclass
class Batch:
    """One batch operation; ``results`` is set once it has finished."""

    id: str
    user: str
    action: str
    description: str
    queue_time: int
    due: float
    task_ids: list[str]
    params: JsonDict | None
    finished_time: int | None = None
    results: JsonDict | None = None

    def to_json(self) -> JsonDict:
        """``BatchOperation`` while running, ``BatchOperationResult`` once finished."""
        body: JsonDict = {
            "id": self.id,
            "user": self.user,
            "operation": {"entity": "task", "action": self.action, "description": self.description},
            "queueTime": self.queue_time,
        }
        if self.results is not None:
            body["finishedTime"] = self.finished_time
            body["results"] = self.results
        return body


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


class WaylayState:
    """Tokens, tasks and batch operations of the emulated Waylay tenant."""

    def __init__(self, sim: SimState) -> None:
        self._sim = sim
        user_rng = random.Random(f"{sim.config.seed}-user")
        self.user_id = str(uuid.UUID(int=user_rng.getrandbits(128), version=4))
        self.tokens = TokenIssuer(sim.config.tenant, f"users/{self.user_id}")
        self.lock = threading.RLock()
        self.tasks: dict[str, JsonDict] = {}
        self.batches: dict[str, Batch] = {}
        self._pending: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self.reseed()

    def reseed(self) -> None:
        """Regenerate the seeded tasks and forget every batch."""
        cfg = self._sim.config
        with self.lock:
            self.tasks = seed_tasks(cfg.seed, cfg.tasks, cfg.fail_ratio, self._sim.started_ms)
            self.batches.clear()
            self._pending.clear()

    def authenticate(self, header: str | None) -> str | None:
        """Return why an ``Authorization`` header is refused, or ``None`` if accepted."""
        if not header:
            return "Missing Authorization header"
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return self.tokens.check(value.strip())
        if scheme.lower() == "basic":
            try:
                key, _, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return "Malformed basic credentials"
            return None if self.valid_credentials(key, secret) else "Invalid API key or secret"
        return "Unsupported authorization scheme"

    def valid_credentials(self, key: object, secret: object) -> bool:
        """Compare an API key and secret with the configured ones."""
        cfg = self._sim.config
        if not isinstance(key, str) or not isinstance(secret, str):
            return False
        return hmac.compare_digest(key.encode(), cfg.api_key.encode()) & hmac.compare_digest(
            secret.encode(), cfg.api_secret.encode()
        )

    def put_tasks(self, tasks: list[JsonDict], replace: bool = False) -> int:
        """Insert or replace tasks by id (missing fields get defaults)."""
        created = int(time.time() * 1000)
        with self.lock:
            if replace:
                self.tasks.clear()
            for item in tasks:
                task: JsonDict = {"name": item["id"], "type": "onetime", "status": "running"}
                task.update(createdTime=created, plugins=[], tags={})
                task.update(item)
                self.tasks[str(item["id"])] = task
            return len(self.tasks)

    def list_tasks(self) -> list[JsonDict]:
        """Copies of the current tasks."""
        self.settle()
        with self.lock:
            return [dict(task) for task in self.tasks.values()]

    def start_batch(self, spec: BatchSpec) -> Batch:
        """Queue a batch operation; the matching task set is fixed now."""
        self.settle()
        now = time.time()
        with self.lock:
            if "ids" in spec.query:
                task_ids = list(dict.fromkeys(spec.query["ids"]))
            else:
                task_ids = [tid for tid, task in self.tasks.items() if task_matches(task, spec.query)]
            batch = Batch(
                id=str(uuid.uuid4()),
                user=f"user/{self.user_id}",
                action=spec.action,
                description=describe(spec.action, spec.query),
                queue_time=int(now * 1000),
                due=now + self._sim.config.batch_delay,
                task_ids=task_ids,
                params=spec.params,
            )
            self.batches[batch.id] = batch
            heapq.heappush(self._pending, (batch.due, next(self._seq), batch.id))
        return batch

    def get_batch(self, batch_id: str) -> Batch | None:
        """The batch with ``batch_id`` (finished if its delay has passed), or ``None``."""
        self.settle()
        return self.batches.get(batch_id)

    def settle(self) -> None:
        """Finish, in queue order, every batch whose delay has passed."""
        now = time.time()
        with self.lock:
            while self._pending and self._pending[0][0] <= now:
                _, _, batch_id = heapq.heappop(self._pending)
                batch = self.batches.get(batch_id)
                if batch is not None and batch.results is None:
                    self._finish(batch, max(int(now * 1000), batch.queue_time))

    def _finish(self, batch: Batch, at_ms: int) -> None:
        success: JsonDict = {}
        failure: JsonDict = {}
        for task_id in batch.task_ids:
            task = self.tasks.get(task_id)
            if task is None:
                failure[task_id] = {"statusCode": 404, "error": f"No task with id {task_id}"}
            elif isinstance(task.get("fail"), dict):
                fail = task["fail"]
                code, message = int(fail.get("statusCode", 500)), str(fail.get("error", "Task failed"))
                failure[task_id] = {"statusCode": code, "error": message}
            else:
                if batch.action in ("delete", "stopAndDelete"):
                    del self.tasks[task_id]
                else:
                    _apply(task, batch.action, batch.params, at_ms)
                success[task_id] = {"statusCode": 200}
        batch.finished_time = at_ms
        batch.results = {"success": success, "failure": failure}


router = APIRouter()


def _waylay(request: Request) -> WaylayState:
    state: WaylayState = request.app.state.sim.waylay
    return state


def authorized(request: Request) -> WaylayState:
    """Route dependency: the Waylay state, once the request's credentials are accepted (else 401)."""
    waylay = _waylay(request)
    denied = waylay.authenticate(request.headers.get("authorization"))
    if denied:
        raise HTTPException(status_code=401, detail=denied)
    return waylay


Authorized = Annotated["WaylayState", Depends(authorized)]


@router.post("/accounts/v1/tokens")
async def issue_token(request: Request) -> Response:
    """Exchange an API key and secret for a JWT (client credentials grant)."""
    waylay = _waylay(request)
    if request.query_params.get("grant_type") != "client_credentials":
        return error(401, "Unsupported grant_type, expected client_credentials")
    body = await json_body(request)
    if not isinstance(body, dict):
        return error(401, "Expected a JSON body with clientId and clientSecret")
    if not waylay.valid_credentials(body.get("clientId"), body.get("clientSecret")):
        return error(401, "Invalid client credentials")
    return JSONResponse({"token": waylay.tokens.issue(request.app.state.sim.config.token_ttl)})


@router.post("/rules/v1/batch")
async def start_batch(request: Request, waylay: Authorized) -> Response:
    """Start a tasks batch operation."""
    body = await json_body(request)
    if body is None:
        return error(400, "/ <- request body is not a JSON object")
    try:
        spec = parse_batch_spec(body)
    except SpecError as exc:
        return error(400, str(exc))
    batch = waylay.start_batch(spec)
    uri = f"/rules/v1/batch/{batch.id}"
    return JSONResponse(
        {"statusCode": 202, "uri": uri, "entity": batch.to_json()}, status_code=202, headers={"Location": uri}
    )


@router.get("/rules/v1/batch/{batchId:path}")
async def get_batch(request: Request, waylay: Authorized) -> Response:
    """Status, and once finished the results, of a tasks batch operation."""
    batch_id = request.path_params["batchId"]
    batch = waylay.get_batch(batch_id)
    if batch is None:
        return error(404, f"No batch operation with id '{batch_id}'")
    return JSONResponse(batch.to_json())
