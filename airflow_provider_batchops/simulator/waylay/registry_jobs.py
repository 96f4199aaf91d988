"""Registry jobs: the job model, the spec of the control route that creates jobs, and the JSON views.

The views follow ``waylay-registry-jobs.openapi.json``: ``AnyJobStatus`` (with the per-type
``request`` and, once completed, ``result``), ``AnyJobStatusSummary`` and ``IJobEventResponse``.
Links are absolute, built on the base URL of the request that reads them.
"""

from __future__ import annotations

import hashlib
import random
import string
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from ..http import iso_time

JsonDict = dict[str, Any]

#: ``EJobType``: every job type (path parameter, events filter).
JOB_TYPES = ("build", "deploy", "verify", "undeploy", "batch", "scale", "cleanup", "notify")
#: Job types with a status schema (``AnyJobStatus``): the ones the simulator can create.
STATUS_TYPES = ("build", "deploy", "verify", "undeploy", "scale", "batch")
#: ``JobTypeSchema``: the list filter's job types.
LISTABLE_TYPES = ("build", "deploy", "verify", "undeploy", "scale", "batch", "notify")
#: ``JobStateResult``.
JOB_STATES = ("completed", "failed", "active", "delayed", "waiting", "waiting-children", "prioritized", "unknown")
FINISHED = ("completed", "failed")
FUNCTION_TYPES = ("plugs", "webscripts", "kfserving")
OUTCOMES = ("completed", "failed")
DEFAULT_FUNCTION: JsonDict = {"functionType": "plugs", "name": "simPlug", "version": "1.0.0"}
#: Child jobs of a verify job created with ``children``, run one after the other.
VERIFY_CHILDREN = ("build", "deploy")

_LINKS = {"plugs": ("plug", "plugs"), "webscripts": ("webscript", "webscripts"), "kfserving": ("model", "models")}
_RUNTIMES = {"plugs": "node-20", "webscripts": "web-script-node-20", "kfserving": "byoml-sklearn-1"}
_OPERATIONS = {"undeploy": "undeploy", "scale": "scale", "batch": "rebuild"}
_FAILURES = {"verify": "function not healthy after 3 attempts", "build": "build failed: npm install exited with 1"}
_PROGRESS = {"active": 50, "completed": 100, "failed": 50}
_SPEC_FIELDS = (
    "type", "id", "function", "outcome", "children", "step_delay", "failed_reason", "state_override", "hold",
)
_ID_CHARS = string.ascii_letters + string.digits
_SUMMARY_FIELDS = (
    "state", "operation", "createdBy", "createdAt", "processedAt", "finishedAt", "attemptsMade", "function",
)


@dataclass(frozen=True)
class JobSpec:
    """A validated request to create a job (``POST /_sim/registry/jobs``)."""

    type: str
    id: str | None = None
    function: JsonDict = field(default_factory=lambda: dict(DEFAULT_FUNCTION))
    outcome: str = "completed"
    children: bool = False
    step_delay: float | None = None
    failed_reason: str | None = None
    state_override: str | None = None
    #: Stay queued (``waiting``, or ``waiting-children`` with its children ``waiting``) until released.
    hold: bool = False


def _check_function(value: object) -> JsonDict:
    if not isinstance(value, dict):
        raise ValueError("function must be an object with functionType, name and version")
    unknown = set(value) - {"functionType", "name", "version", "runtime", "runtimeVersion"}
    if unknown:
        raise ValueError(f"unknown function field(s): {', '.join(sorted(unknown))}")
    if value.get("functionType") not in FUNCTION_TYPES:
        raise ValueError(f"function.functionType must be one of {', '.join(FUNCTION_TYPES)}")
    if not isinstance(value.get("name"), str) or not value["name"]:
        raise ValueError("function.name must be a non-empty string")
    for key in ("version", "runtime", "runtimeVersion"):
        if key in value and not isinstance(value[key], str):
            raise ValueError(f"function.{key} must be a string")
    return dict(value)


def parse_job_spec(body: object) -> JobSpec:
    """Validate a job creation request; raise ``ValueError`` naming the bad field."""
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object describing the job")
    unknown = set(body) - set(_SPEC_FIELDS)
    if unknown:
        raise ValueError(f"unknown job field(s): {', '.join(sorted(unknown))}")
    job_type = body.get("type")
    if job_type not in STATUS_TYPES:
        raise ValueError(f"type must be one of {', '.join(STATUS_TYPES)}")
    job_id = body.get("id")
    if job_id is not None and (not isinstance(job_id, str) or not job_id):
        raise ValueError("id must be a non-empty string")
    function = _check_function(body["function"]) if body.get("function") is not None else dict(DEFAULT_FUNCTION)
    outcome = body.get("outcome", "completed")
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
    children = body.get("children", False)
    if not isinstance(children, bool):
        raise ValueError("children must be a boolean")
    if children and job_type != "verify":
        raise ValueError("children are only supported for verify jobs")
    delay = body.get("step_delay")
    if delay is not None and (isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0):
        raise ValueError("step_delay must be a number of seconds >= 0")
    reason = body.get("failed_reason")
    if reason is not None and (not isinstance(reason, str) or not reason):
        raise ValueError("failed_reason must be a non-empty string")
    override = body.get("state_override")
    if override is not None and override not in JOB_STATES:
        raise ValueError(f"state_override must be one of {', '.join(JOB_STATES)}")
    hold = body.get("hold", False)
    if not isinstance(hold, bool):
        raise ValueError("hold must be a boolean")
    return JobSpec(
        type=str(job_type),
        id=job_id,
        function=function,
        outcome=str(outcome),
        children=children,
        step_delay=None if delay is None else float(delay),
        failed_reason=reason,
        state_override=override,
        hold=hold,
    )


def new_job_id(rng: random.Random) -> str:
    """A job id in the registry's style: a UUID, ``$`` and a random suffix."""
    return f"{uuid.UUID(int=rng.getrandbits(128), version=4)}${''.join(rng.choices(_ID_CHARS, k=21))}"


def job_request(job_type: str, function: JsonDict) -> JsonDict:
    """The ``request`` of a job (``IBuildArgs``, ``IVerifyArgs``, ...) for ``function``."""
    ftype, name = function["functionType"], function["name"]
    version = function.get("version") or "1.0.0"
    if job_type == "batch":
        return {"plugName": name, "functionType": ftype, "childType": "verify"}
    image = f"registry.simulator.local/{ftype}/{name.lower()}:{version}"
    storage = f"gs://simulator-functions/{ftype}/{name}/{version}"
    target = {"namespace": "openfaas-fn", "endpoint": f"{name}-{version}".lower().replace(".", "-")}
    common = {
        "runtimeName": function.get("runtime") or _RUNTIMES[ftype],
        "runtimeVersion": function.get("runtimeVersion") or "1.2.0",
        "revision": hashlib.sha1(f"{ftype}/{name}@{version}".encode()).hexdigest()[:12],
    }
    if job_type == "build":
        return {"storageLocation": storage, "imageName": image, **common, "args": {}}
    if job_type == "deploy":
        return {**target, "imageName": image, **common, "deploySpecOverrides": {}}
    if job_type == "undeploy":
        flags = {"deleteEntity": True, "resetEntity": False, "deleteImage": True}
        return {"storageLocation": storage, "imageName": image, **target, **common, **flags}
    if job_type == "scale":
        return {**target, **common, "replicas": 1}
    return {**target, **common}


def job_result(job_type: str, request: JsonDict) -> JsonDict:
    """The ``result`` of a completed job (``IBuildResult``, ``IVerifyResult``, ...)."""
    if job_type == "build":
        digest = hashlib.sha256(request["imageName"].encode()).hexdigest()
        return {"digest": f"sha256:{digest}", "log": ["assets fetched", "image built", "image pushed"], "status": "ok"}
    if job_type == "deploy":
        spec = {"service": request["endpoint"], "image": request["imageName"], "namespace": request["namespace"]}
        return {"deploySpec": spec}
    if job_type == "verify":
        return {"healthy": True, "replicas": 1}
    if job_type == "undeploy":
        return {"deployment": True, "assets": True, "registration": True, "image": True}
    if job_type == "batch":
        return {"jobCount": 0}
    return {}


@dataclass(eq=False)
class Job:
    """One job; ``state`` moves along its planned transitions, unless ``override`` pins it."""

    type: str
    id: str
    seq: int
    function: JsonDict | None
    created_by: str
    created_at: float
    step_delay: float
    outcome: str = "completed"
    failed_reason: str = ""
    parent_id: str | None = None
    parent_type: str | None = None
    children: list[Job] = field(default_factory=list)
    override: str | None = None
    #: Created with ``hold``: queued, no transition planned until released.
    held: bool = False
    state: str = "waiting"
    processed_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    request: JsonDict = field(default_factory=dict)
    result: JsonDict = field(default_factory=dict)

    @property
    def reported_state(self) -> str:
        """The state clients see."""
        return self.override or self.state

    @property
    def operation(self) -> str:
        """What the job does to its function."""
        return _OPERATIONS.get(self.type, "create")

    @property
    def function_type(self) -> str:
        """The function type, also for batch jobs (from their request)."""
        return str((self.function or self.request).get("functionType", ""))

    def event_function(self) -> JsonDict:
        """``IFunctionRef`` for events, which require one even for batch jobs."""
        if self.function is not None:
            return dict(self.function)
        return {"functionType": self.request["functionType"], "name": self.request["plugName"]}

    def reference(self) -> JsonDict:
        """``{type, id}`` plus the child references."""
        return {"type": self.type, "id": self.id, "children": [{"type": c.type, "id": c.id} for c in self.children]}


def create_job(spec: JobSpec, job_type: str, job_id: str, seq: int, created_by: str, at: float, delay: float) -> Job:
    """A new waiting job; ``spec`` gives the function, outcome and failure of the main job."""
    function = dict(spec.function)
    request = job_request(job_type, function)
    main = job_type == spec.type
    return Job(
        type=job_type,
        id=job_id,
        seq=seq,
        function=None if job_type == "batch" else function,
        created_by=created_by,
        created_at=at,
        step_delay=delay,
        outcome=spec.outcome if main else "completed",
        failed_reason=(spec.failed_reason or _FAILURES.get(job_type, f"{job_type} job failed")) if main else "",
        override=spec.state_override if main else None,
        request=request,
        result=job_result(job_type, request),
    )


def _function_link(job: Job, base: str) -> JsonDict:
    if job.function is None:
        return {}
    key, plural = _LINKS[job.function["functionType"]]
    href = f"{base}/registry/v2/{plural}/{quote(job.function['name'], safe='')}"
    if job.function.get("version"):
        href += f"/versions/{quote(job.function['version'], safe='')}"
    return {key: {"href": href}}


def job_link(job: Job, base: str) -> JsonDict:
    """``IJobHALLink`` to the job's status."""
    return {"href": f"{base}/registry/v2/jobs/{job.type}/{quote(job.id, safe='')}", "jobType": job.type}


def events_link(job: Job, base: str) -> JsonDict:
    """Link to the event stream of the job and its children."""
    query = urlencode({"type": job.type, "id": job.id, "children": "true"})
    return {"href": f"{base}/registry/v2/jobs/events?{query}"}


def status_view(job: Job) -> JsonDict:
    """``AnyJobStatus``."""
    state = job.reported_state
    progress = _PROGRESS.get(state, 0)
    detail: JsonDict = {"id": job.id, "name": job.type, "progress": progress, "attemptsMade": job.attempts}
    body: JsonDict = {
        "type": job.type,
        "state": state,
        "operation": job.operation,
        "createdBy": job.created_by,
        "createdAt": iso_time(job.created_at),
        "request": dict(job.request),
        "job": detail,
        "attemptsMade": job.attempts,
    }
    if job.processed_at is not None:
        body["processedAt"] = detail["processedOn"] = iso_time(job.processed_at)
    if job.finished_at is not None:
        body["finishedAt"] = detail["finishedOn"] = iso_time(job.finished_at)
    if job.state == "failed":
        detail["failedReason"] = job.failed_reason
    if job.parent_id is not None:
        detail["parent"] = {"id": job.parent_id}
    if state == "delayed":
        detail["delay"] = int(job.step_delay * 1000)
    if state == "completed":
        body["result"] = dict(job.result)
    if job.function is not None:
        body["function"] = dict(job.function)
    return body


def job_response(job: Job, base: str) -> JsonDict:
    """``IJobResponse``: the status and links to the event stream and the function."""
    return {"job": status_view(job), "_links": {"event": events_link(job, base), **_function_link(job, base)}}


def summary_view(job: Job, base: str) -> JsonDict:
    """``AnyJobStatusSummary``, as listed by ``GET /registry/v2/jobs/``."""
    status = status_view(job)
    body: JsonDict = {"type": job.type, "id": job.id}
    for key in _SUMMARY_FIELDS:
        if key in status:
            body[key] = status[key]
    body["_links"] = {"event": events_link(job, base), "job": job_link(job, base), **_function_link(job, base)}
    return body


@dataclass(frozen=True)
class JobEvent:
    """One state change of a job, as sent on the event stream."""

    name: str
    job: Job
    at: float
    data: JsonDict

    def render(self, base: str) -> JsonDict:
        """``IJobEventResponse``."""
        return {
            "job": {"type": self.job.type, "id": self.job.id},
            "timestamp": iso_time(self.at),
            "data": self.data,
            "function": self.job.event_function(),
            "_links": {"job": job_link(self.job, base), **_function_link(self.job, base)},
        }
