"""Waylay registry jobs: list filters, and the mapping of job states onto :class:`BatchState`."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

from airflow_provider_batchops.core.errors import BatchOpsError, InputError
from airflow_provider_batchops.core.state import MAX_LISTED, BatchState, StatusReport, bounded, map_state, outcome

JOB_TYPES = ("build", "deploy", "verify", "undeploy", "batch", "scale", "cleanup", "notify")
#: The list endpoint's type filter has no ``cleanup``.
LISTABLE_JOB_TYPES = ("build", "deploy", "verify", "undeploy", "scale", "batch", "notify")
JOB_STATES = ("completed", "failed", "active", "delayed", "waiting", "waiting-children", "prioritized", "unknown")
FUNCTION_TYPES = ("plugs", "webscripts", "kfserving")
TERMINAL_EVENTS = ("completed", "failed")

_STATE_MAP = {
    "completed": BatchState.SUCCEEDED,
    "failed": BatchState.FAILED,
    "active": BatchState.RUNNING,
    "delayed": BatchState.QUEUED,  # waiting for a retry after a failed attempt
    "waiting": BatchState.QUEUED,
    "waiting-children": BatchState.RUNNING,
    "prioritized": BatchState.QUEUED,
}
_AGE = re.compile(r"^(P[0-9YMWDTHS.]+|\d+[ybwdhms]?)$")
_ABSOLUTE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")


def check_job_type(value: Any, field: str = "job_type", allowed: tuple[str, ...] = JOB_TYPES) -> str:
    if value not in allowed:
        raise InputError(field, f"{value!r} is not one of {', '.join(allowed)}")
    return str(value)


def timestamp_spec(value: Any, field: str) -> str | None:
    """A registry ``TimestampSpec``: an age (``timedelta``, ``PT2H``, ``3d``) or a moment (``datetime``, ISO)."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        if value.total_seconds() <= 0:
            raise InputError(field, "an age must be positive")
        return f"{int(value.total_seconds())}s"
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    if _AGE.match(text) or _ABSOLUTE.match(text):
        return text
    raise InputError(field, f"expected an age (timedelta, 'PT2H', '3d') or a date-time, got {value!r}")


def job_report(body: Any) -> StatusReport:
    """Map ``GET /registry/v2/jobs/{type}/{id}`` onto a :class:`StatusReport`."""
    job = body.get("job") if isinstance(body, dict) else None
    if not isinstance(job, dict):
        raise BatchOpsError(f"The registry answered without a job: {str(body)[:300]}")
    inner: dict[str, Any] = job["job"] if isinstance(job.get("job"), dict) else {}
    state, unknown = map_state(job.get("state"), _STATE_MAP)
    wire_state = str(job.get("state"))
    function: dict[str, Any] = job["function"] if isinstance(job.get("function"), dict) else {}
    summary = {
        "service": "registry",
        "job_type": job.get("type"),
        "job_id": inner.get("id"),
        "state": wire_state,
        "operation": job.get("operation"),
        "function": function,
        "created_at": job.get("createdAt"),
        "finished_at": job.get("finishedAt"),
        "attempts": job.get("attemptsMade", inner.get("attemptsMade")),
        "failed_reason": inner.get("failedReason"),
        "result": job.get("result"),
    }
    label = f"{job.get('type')} job {inner.get('id')}"
    if function.get("name"):
        label += f" of {function.get('name')} {function.get('version') or ''}".rstrip()
    message = f"{label} is {wire_state}"
    if state is BatchState.FAILED:
        message += f": {inner.get('failedReason') or 'no reason given'}"
    return StatusReport(state, summary, message, unknown_state=unknown)


def jobs_report(jobs: list[dict[str, Any]], function_name: str | None, limit: int) -> StatusReport:
    """Several listed jobs as one report: finished when every one is; each failed job is a failed item."""
    if not isinstance(jobs, list):
        raise BatchOpsError(f"expected a list of jobs, got {type(jobs).__name__}")
    jobs = [j for j in jobs if isinstance(j, dict)]
    if function_name:
        jobs = [j for j in jobs if (j.get("function") or {}).get("name") == function_name]
    states: dict[str, int] = {}
    mapped = [(job, *map_state(job.get("state"), _STATE_MAP)) for job in jobs]
    for job in jobs:
        states[str(job.get("state"))] = states.get(str(job.get("state")), 0) + 1
    failed = [job for job, state, _ in mapped if state is BatchState.FAILED]
    unfinished = [job for job, state, _ in mapped if not state.is_terminal]
    unknown = sorted({raw for _, _, raw in mapped if raw is not None})
    summary: dict[str, Any] = {
        "service": "registry",
        "jobs": len(jobs),
        "states": states,
        "failed_jobs": [{"type": j.get("type"), "id": j.get("id")} for j in bounded(failed)],
        "unfinished_jobs": [{"type": j.get("type"), "id": j.get("id"), "state": j.get("state")}
                            for j in bounded(unfinished)],
        "jobs_listed_at_most": MAX_LISTED,
        "may_be_truncated": len(jobs) >= limit,
    }
    state = outcome(len(jobs) - len(failed) - len(unfinished), len(failed), len(unfinished))
    if state is BatchState.RUNNING:
        return StatusReport(state, summary, f"{len(unfinished)} of {len(jobs)} job(s) not finished",
                            unknown_state=", ".join(unknown) if unknown else None)
    if state is BatchState.SUCCEEDED:
        return StatusReport(state, summary, f"all {len(jobs)} job(s) completed")
    ids = ", ".join(f"{j.get('type')}/{j.get('id')}" for j in failed[:5])
    return StatusReport(state, summary, f"{len(failed)} of {len(jobs)} job(s) failed: {ids}", len(failed))


def list_body_jobs(body: Any) -> list[dict[str, Any]]:
    """The ``jobs`` of a ``GET /registry/v2/jobs/`` answer."""
    jobs = body.get("jobs", []) if isinstance(body, dict) else None
    if not isinstance(jobs, list):
        raise BatchOpsError(f"expected an object with a 'jobs' list, got {str(body)[:200]}")
    return jobs


def jobs_list_report(body: Any, function_name: str | None, limit: int) -> StatusReport:
    """:func:`jobs_report` of a ``GET /registry/v2/jobs/`` answer."""
    return jobs_report(list_body_jobs(body), function_name, limit)


# -- job events (event-driven scheduling) ------------------------------------------------------------
#: The job states an event announces (``event:`` names of the registry's job event stream).
EVENT_STATES = ("active", "completed", "failed", "delayed", "waiting", "waiting-children")


def moment_of(value: Any) -> float | None:
    """Epoch seconds of a registry date-time (``2026-03-10T09:00:01Z``); ``None`` when unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _function(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    return {k: value[k] for k in ("functionType", "name", "version") if isinstance(value.get(k), str)}


def transition_key(payload: dict[str, Any]) -> tuple[str, str, str]:
    """One job entering one state: a watcher fires for it once."""
    return (str(payload["job_type"]), str(payload["job_id"]), str(payload["state"]))


def job_event_payload(state: str, data: str) -> dict[str, Any] | None:
    """The payload of a job event (``event: <state>``, ``data`` JSON); ``None`` if it names no job."""
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):
        return None
    job = body.get("job") if isinstance(body, dict) else None
    if not isinstance(job, dict) or not isinstance(job.get("id"), str) or not isinstance(job.get("type"), str):
        return None
    details = body.get("data") if isinstance(body.get("data"), dict) else {}
    payload: dict[str, Any] = {
        "job_type": job["type"],
        "job_id": job["id"],
        "state": state,
        "previous_state": details.get("prev") if isinstance(details.get("prev"), str) else None,
        "function": _function(body.get("function")),
        "timestamp": body.get("timestamp") if isinstance(body.get("timestamp"), str) else None,
        "seen_in": "event",
    }
    if state == "failed" and isinstance(details.get("failedReason"), str):
        payload["failed_reason"] = details["failedReason"][:500]
    return payload


def listed_job_payload(job: Any) -> dict[str, Any] | None:
    """The payload for a job found by a catch-up listing (``AnyJobStatusSummary``); ``None`` if unusable.

    Its ``timestamp`` is when the job entered its state as far as the summary tells: ``finishedAt``
    for a finished job, else ``processedAt``, else ``createdAt``.
    """
    if not isinstance(job, dict) or not isinstance(job.get("id"), str) or not isinstance(job.get("type"), str):
        return None
    state = job.get("state")
    if state not in EVENT_STATES:
        return None
    keys = ("finishedAt", "processedAt", "createdAt") if state in TERMINAL_EVENTS else ("processedAt", "createdAt")
    timestamp = next((job[k] for k in keys if isinstance(job.get(k), str)), None)
    return {
        "job_type": job["type"],
        "job_id": job["id"],
        "state": state,
        "previous_state": None,
        "function": _function(job.get("function")),
        "timestamp": timestamp,
        "created_at": job.get("createdAt") if isinstance(job.get("createdAt"), str) else None,
        "finished_at": job.get("finishedAt") if isinstance(job.get("finishedAt"), str) else None,
        "seen_in": "catch-up",
    }
