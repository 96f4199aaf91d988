"""Mammoth Analytics dataset batches and jobs: request bodies, list queries and status mapping.

Facts follow the official spec (``mammoth-batches-jobs.openapi.json``): batch states ``active``,
``sync_pending``, ``suspended``, ``deleting``; job statuses ``processing`` (running), ``success``,
``failure`` and ``error`` (both failures); create/patch/delete answer an acknowledgement
``{status_code, job_id, failure_reason}`` whose ``job_id`` may be missing when nothing runs on.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from functools import partial
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from airflow_provider_batchops.core.errors import InputError
from airflow_provider_batchops.core.state import BatchState, ReportSet, StatusReport, map_state, outcome
from airflow_provider_batchops.core.validation import (
    check_choices,
    check_int,
    id_list,
    validate_model,
    whole_number_text,
)

BATCH_STATES = ("active", "sync_pending", "suspended", "deleting")
COLUMN_TYPES = ("TEXT", "NUMERIC", "DATE")
FIELD_PRESETS = ("__min", "__standard", "__full")
SORT_FIELDS = ("id", "name", "state", "created_at", "row_count", "column_count")
_JOB_STATES = {
    "processing": BatchState.RUNNING,
    "success": BatchState.SUCCEEDED,
    "failure": BatchState.FAILED,
    "error": BatchState.FAILED,
}
#: The spec allows 0..100 rows per page; the largest page costs the fewest requests.
MAX_PAGE_SIZE = 100
#: Longest ``ids=`` query value sent in one ``DELETE /batches``; more ids are split into several
#: requests so the URL stays well under the 8 KiB that common servers and proxies accept.
MAX_IDS_QUERY_CHARS = 4000


def check_ids(values: Any, field: str) -> list[int]:
    """A non-empty list of positive integer ids (an XCom list, a rendered list or ``"1,2"`` also works)."""
    if isinstance(values, bool):
        raise InputError(field, f"expected a list of ids, got {values!r}")
    return id_list(values, field, "int")


def dataset_path(workspace_id: Any, project_id: Any, dataset_id: Any) -> dict[str, int]:
    """The validated path parameters of a dataset (workspace and project >= 1, dataset >= 0)."""
    return {
        "workspace_id": check_int(workspace_id, "workspace_id"),
        "project_id": check_int(project_id, "project_id"),
        "dataset_id": check_int(dataset_id, "dataset_id", minimum=0),
    }


# -- create ------------------------------------------------------------------------------------------
class _Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expected_destination_c_type: Literal["TEXT", "NUMERIC", "DATE"]

    @field_validator("expected_destination_c_type", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class ColumnIdMapping(_Mapping):
    """Map a source column onto a destination column by column id."""

    source_c_id: str = Field(min_length=1)
    destination_c_id: str = Field(min_length=1)


class ColumnNameMapping(_Mapping):
    """Map a source column onto a destination column by column name."""

    source_c_name: str = Field(min_length=1)
    destination_c_name: str = Field(min_length=1)


class NewDatasetDetails(BaseModel):
    """``new_ds_details``: the name of a new dataset."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)


def check_mapping(mapping: Any) -> list[dict[str, Any]]:
    """A non-empty list of column mappings, all by id or all by name; types TEXT, NUMERIC or DATE."""
    if not isinstance(mapping, (list, tuple)) or not mapping:
        raise InputError("mapping", "expected a non-empty list of column mappings")
    items = [item.model_dump() if isinstance(item, BaseModel) else item for item in mapping]
    kinds = [_mapping_kind(item) for item in items]
    first = next((kind for kind in kinds if kind), "name")
    for n, kind in enumerate(kinds):
        if kind and kind != first:
            raise InputError(f"mapping[{n}]", f"maps columns by {kind} while mapping[{kinds.index(first)}] maps "
                             f"them by {first}; use one kind in every mapping")
    model: type[_Mapping] = ColumnIdMapping if first == "id" else ColumnNameMapping
    return [validate_model(model, item, f"mapping[{n}]").model_dump() for n, item in enumerate(items)]


def _mapping_kind(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    by_id = "source_c_id" in item or "destination_c_id" in item
    by_name = "source_c_name" in item or "destination_c_name" in item
    if by_id and by_name:
        return "id and name"
    return "id" if by_id else "name" if by_name else None


def create_batch_body(
    source_id: Any,
    mapping: Any,
    validate_only: Any = False,
    delete_source_ds: Any = False,
    new_ds_details: Any = None,
) -> dict[str, Any]:
    """A ``BatchesPostRequest``."""
    for name, flag in (("validate_only", validate_only), ("delete_source_ds", delete_source_ds)):
        if not isinstance(flag, bool):
            raise InputError(name, f"expected true or false, got {flag!r}")
    details = None
    if new_ds_details is not None:
        details = validate_model(NewDatasetDetails, new_ds_details, "new_ds_details").model_dump()
    return {
        "source_id": check_int(source_id, "source_id", minimum=0),
        "mapping": check_mapping(mapping),
        "validate_only": validate_only,
        "delete_source_ds": delete_source_ds,
        "new_ds_details": details,
    }


def patch_body(suspend: Any = None, restore: Any = None) -> dict[str, Any]:
    """A ``BatchesPatchRequest`` that suspends and/or restores batches."""
    if not suspend and not restore:
        raise InputError("suspend", "give batch ids to suspend and/or restore")
    value = {
        "suspend": check_ids(suspend, "suspend") if suspend else None,
        "restore": check_ids(restore, "restore") if restore else None,
    }
    both = set(value["suspend"] or ()) & set(value["restore"] or ())
    if both:
        raise InputError("restore", f"batch ids {sorted(both)} are also in suspend")
    return {"patch": {"op": "replace", "path": "batches", "value": value}}


def id_chunks(ids: list[int], limit: int = MAX_IDS_QUERY_CHARS) -> list[list[int]]:
    """Split ids so that each chunk's comma list stays within ``limit`` characters."""
    chunks: list[list[int]] = [[]]
    size = 0
    for batch_id in ids:
        width = len(str(batch_id)) + 1
        if chunks[-1] and size + width > limit:
            chunks.append([])
            size = 0
        chunks[-1].append(batch_id)
        size += width
    return chunks


# -- list ------------------------------------------------------------------------------------------
def iso_utc(value: Any, field: str) -> str:
    """A moment as ``YYYY-MM-DDTHH:MM:SSZ`` (``datetime``, ``date`` or an ISO string)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InputError(field, f"expected an ISO-8601 date-time, got {value!r}") from None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    if not isinstance(value, datetime):
        raise InputError(field, f"expected a date-time, got {value!r}")
    moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: Any) -> datetime | None:
    """A batch's ``created_at`` as an aware datetime (``None`` when missing or unreadable)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def list_params(
    *,
    fields: Any = None,
    ids: Any = None,
    created_from: Any = None,
    created_to: Any = None,
    states: Any = None,
    row_count: Any = None,
    sort: Any = None,
) -> dict[str, Any]:
    """Query parameters of ``GET /batches`` in the API's syntax (without ``limit``/``offset``).

    ``sort`` is a list of ``(field, "asc" | "desc")`` pairs or the API's own ``(id:asc)`` text.
    """
    params: dict[str, Any] = {}
    if fields is not None:
        names = [fields] if isinstance(fields, str) else list(fields)
        if not names or not all(isinstance(n, str) and n for n in names):
            raise InputError("fields", "expected field names or one of " + ", ".join(FIELD_PRESETS))
        params["fields"] = ",".join(names)
    if ids is not None:
        params["id"] = ",".join(str(i) for i in check_ids(ids, "ids"))
    if created_from is not None or created_to is not None:
        # Both bounds are always sent: whether one may be left out is undocumented.
        start = iso_utc(created_from, "created_from") if created_from is not None else "1970-01-01T00:00:00Z"
        end = iso_utc(created_to, "created_to") if created_to is not None else "9999-12-31T23:59:59Z"
        params["created_at"] = f"(from:'{start}',to:'{end}')"
    chosen = check_choices(states, "states", BATCH_STATES)
    if chosen:
        params["status"] = ",".join(chosen)
    if row_count is not None:
        counts = [row_count] if isinstance(row_count, int) else row_count
        params["row_count"] = ",".join(str(check_int(c, "row_count", minimum=0)) for c in counts)
    if sort is not None:
        params["sort"] = sort_text(sort)
    return params


def sort_text(sort: Any) -> str:
    """``[("created_at", "desc"), ("id", "asc")]`` -> ``(created_at:desc),(id:asc)``."""
    if isinstance(sort, str):
        return sort
    parts = []
    for n, item in enumerate(sort):
        name, direction = (item, "asc") if isinstance(item, str) else tuple(item)
        if name not in SORT_FIELDS:
            raise InputError(f"sort[{n}]", f"{name!r} is not one of {', '.join(SORT_FIELDS)}")
        if direction not in ("asc", "desc"):
            raise InputError(f"sort[{n}]", f"direction {direction!r} is not asc or desc")
        parts.append(f"({name}:{direction})")
    if not parts:
        raise InputError("sort", "expected at least one (field, direction) pair")
    return ",".join(parts)


def cutoff(older_than: Any, created_before: Any, now: datetime) -> datetime:
    """The clean-up's moment: exactly one of ``older_than`` (age) or ``created_before`` (moment)."""
    if (older_than is None) == (created_before is None):
        raise InputError("older_than", "give exactly one of older_than or created_before")
    if created_before is not None:
        return datetime.fromisoformat(iso_utc(created_before, "created_before").replace("Z", "+00:00"))
    if isinstance(older_than, str) and older_than.strip().replace(".", "", 1).isdigit():
        older_than = float(older_than)
    if isinstance(older_than, (int, float)) and not isinstance(older_than, bool):
        if not math.isfinite(older_than) or not 0 < older_than <= 36_500:
            raise InputError("older_than", f"expected a number of days from 0 to 36500, got {older_than!r}")
        older_than = timedelta(days=older_than)
    if not isinstance(older_than, timedelta) or older_than.total_seconds() <= 0:
        raise InputError("older_than", f"expected a positive timedelta (or a number of days), got {older_than!r}")
    return now - older_than


# -- jobs ------------------------------------------------------------------------------------------
def ack_job_id(body: Any) -> int | None:
    """The ``job_id`` of an acknowledgement (an integer or a numeric string); ``None`` when the answer
    is already the final result. Anything else is unreadable and raises."""
    if not isinstance(body, dict):
        raise ValueError(f"expected an acknowledgement object, got {type(body).__name__}")
    job_id = body.get("job_id")
    if job_id is None:
        return None
    if isinstance(job_id, str) and whole_number_text(job_id.strip()):
        job_id = int(job_id.strip())
    if isinstance(job_id, bool) or not isinstance(job_id, int) or job_id <= 0:
        raise ValueError(f"unreadable job_id {job_id!r}")
    return job_id


def failure_text(job: dict[str, Any]) -> str:
    """The reason of a failed job: ``response.error``, ``response.response.detail`` or ``.error``."""
    response = job.get("response")
    if isinstance(response, dict):
        if response.get("error"):
            return str(response["error"])
        inner = response.get("response")
        if isinstance(inner, dict):
            for key in ("detail", "error"):
                if inner.get(key):
                    return str(inner[key])
        if response.get("detail"):
            return str(response["detail"])
    return str(job.get("failure_reason") or response or "no reason given")


def job_report(job: dict[str, Any]) -> StatusReport:
    """One job's reading; statuses match whatever their case. A status this provider does not know
    is not finished: it is read again, within the wait's grace for unknown states."""
    if not isinstance(job, dict):
        raise ValueError(f"expected a job object, got {type(job).__name__}")
    state, unknown = map_state(job.get("status"), _JOB_STATES)
    entry = {"job_id": job.get("id"), "status": str(job.get("status")), "operation": job.get("operation"),
             "response": job.get("response")}
    if state is BatchState.FAILED:
        entry["reason"] = failure_text(job)
    message = f"Mammoth job {job.get('id')} is {job.get('status')}"
    return StatusReport(state, entry, message, unknown_state=unknown)


def combine_job_reports(job_ids: list[int], reports: list[StatusReport]) -> StatusReport:
    """One report for the jobs of one operation."""
    entries = [r.summary for r in reports]
    failed = [r.summary for r in reports if r.state is BatchState.FAILED]
    running = sum(1 for r in reports if not r.state.is_terminal)
    summary: dict[str, Any] = {"service": "mammoth", "job_ids": job_ids, "jobs": entries}
    state = outcome(len(job_ids) - running - len(failed), len(failed), running)
    if state is BatchState.RUNNING:
        message = f"{len(job_ids) - running} of {len(job_ids)} Mammoth job(s) finished"
    elif failed:
        first = failed[0]
        message = (f"{len(failed)} of {len(job_ids)} Mammoth job(s) failed "
                   f"(job {first['job_id']}: {first['status']}: {first['reason']})")
    else:
        message = f"{len(job_ids)} Mammoth job(s) succeeded"
    summary.update(state=state.value, succeeded=len(job_ids) - running - len(failed), failed=len(failed))
    # With several jobs a failed one is an item failure (the policy decides); a single job's
    # failure is the failure of the whole operation.
    item_failures = len(failed) if len(job_ids) > 1 else 0
    return StatusReport(state, summary, message, item_failures=item_failures)


def _unread_job(job_id: Any) -> StatusReport:
    return StatusReport(BatchState.UNKNOWN, {"job_id": job_id, "status": "unknown"})


def job_reports(job_ids: list[int]) -> ReportSet:
    """The latest reading per job of one operation; finished jobs are not read again."""
    return ReportSet(job_ids, partial(combine_job_reports, job_ids), unread=_unread_job)


def jobs_report(jobs: list[dict[str, Any]], job_ids: list[int]) -> StatusReport:
    """One report from raw jobs; ids missing from ``jobs`` count as not finished yet."""
    wanted = set(job_ids)
    return job_reports(job_ids).update({j["id"]: job_report(j) for j in jobs if j.get("id") in wanted})


def finished_report(ack: Any) -> StatusReport:
    """The report of an acknowledgement without a job: the answer is the result."""
    reason = ack.get("failure_reason") if isinstance(ack, dict) else None
    state = BatchState.FAILED if reason else BatchState.SUCCEEDED
    summary = {"service": "mammoth", "job_ids": [], "jobs": [], "state": state.value, "result": ack}
    message = f"Mammoth refused it: {reason}" if reason else "Mammoth answered with a final result (no job)"
    return StatusReport(state, summary, message)
