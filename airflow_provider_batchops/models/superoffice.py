"""SuperOffice BatchTask: the start request and the mapping of ``BatchTaskState`` onto :class:`BatchState`."""

from __future__ import annotations

from typing import Any

from airflow_provider_batchops.core.errors import BatchOpsError, InputError
from airflow_provider_batchops.core.state import BatchState, StatusReport, map_state
from airflow_provider_batchops.core.validation import check_int_id, check_json, whole_number_text

#: ``BatchTaskState`` names; ``Aquired`` is the API's own spelling.
TASK_STATES = ("Unknown", "New", "Aquired", "Started", "Succeeded", "Failed", "SucceededManualCleanup")
#: States that ``GET /BatchTask/{state}`` accepts (``All`` is a query wildcard).
LISTABLE_STATES = (*TASK_STATES, "All")
CANCELLATION_BEHAVIOURS = ("CanCancel", "CancelWithWarning", "CannotCancel")
CANCELLABLE = ("CanCancel", "CancelWithWarning")

#: The documented numeric forms of ``BatchTaskState`` (CRMScript and the NS APIs use them).
STATE_NUMBERS = dict(enumerate(TASK_STATES))
_STATE_MAP = {
    "Unknown": BatchState.UNKNOWN,
    "New": BatchState.QUEUED,
    "Aquired": BatchState.QUEUED,
    "Started": BatchState.RUNNING,
    "Succeeded": BatchState.SUCCEEDED,
    "SucceededManualCleanup": BatchState.SUCCEEDED,
    "Failed": BatchState.FAILED,
}


def batch_task_info(
    name: Any,
    parameters: Any = None,
    description: Any = None,
    cancellation_behaviour: Any = None,
    is_system_task: bool = False,
) -> dict[str, Any]:
    """Validate and build the ``BatchTaskInfo`` body of ``POST /api/v1/BatchTask``."""
    if not isinstance(name, str) or not name.strip():
        raise InputError("name", f"expected the name of a batch task definition, got {name!r}")
    if parameters is not None and not isinstance(parameters, dict):
        raise InputError("parameters", f"expected a dict (the ParameterObject), got {type(parameters).__name__}")
    check_json(parameters, "parameters")
    if description is not None and not isinstance(description, str):
        raise InputError("description", f"expected text, got {type(description).__name__}")
    if cancellation_behaviour is not None and cancellation_behaviour not in CANCELLATION_BEHAVIOURS:
        raise InputError(
            "cancellation_behaviour",
            f"{cancellation_behaviour!r} is not one of {', '.join(CANCELLATION_BEHAVIOURS)}",
        )
    body: dict[str, Any] = {"Name": name, "IsSystemTask": bool(is_system_task), "IsInternalTask": False}
    if description is not None:
        body["Description"] = description
    if parameters is not None:
        body["ParameterObject"] = parameters
    if cancellation_behaviour is not None:
        body["CancellationBehaviour"] = cancellation_behaviour
    return body


def check_task_id(value: Any, field: str = "batch_task_id") -> int:
    """Task ids are positive integers (a rendered template gives a numeric string)."""
    return check_int_id(value, field)


def task_id_from_start(body: Any) -> int:
    """``POST /BatchTask`` answers with the new id: a bare integer, or that number as a JSON string."""
    if isinstance(body, str) and whole_number_text(body.strip()):
        body = int(body.strip())
    if isinstance(body, bool) or not isinstance(body, int) or body <= 0:
        raise BatchOpsError(f"SuperOffice accepted the task but answered no task id: {str(body)[:100]!r}")
    return body


def stop_refusal(report: StatusReport) -> str | None:
    """Why a task must not be stopped on this reading, or ``None`` when Stop may be sent."""
    if report.unknown_state is not None:
        return f"its state {report.unknown_state!r} is not known to this provider, so it was not stopped"
    if report.state.is_terminal:
        return f"it had already ended ({report.summary.get('state')})"
    behaviour = report.summary.get("cancellation_behaviour")
    if behaviour not in CANCELLABLE:
        return f"its CancellationBehaviour is {behaviour}, so it goes on in SuperOffice"
    return None


def task_report(body: Any) -> StatusReport:
    """Map a ``BatchTaskInfo`` onto a :class:`StatusReport`."""
    if not isinstance(body, dict) or "State" not in body:
        raise BatchOpsError("SuperOffice answered without a BatchTaskInfo (no State)")
    state, unknown = map_state(body.get("State"), _STATE_MAP, STATE_NUMBERS)
    wire_state = str(body.get("State"))
    summary = {
        "service": "superoffice",
        "batch_task_id": body.get("Id"),
        "name": body.get("Name"),
        "state": wire_state,
        "result": body.get("Result"),
        "response": body.get("Response"),
        "file_name": body.get("FileName"),
        "progress_percent": body.get("ProgressPercent"),
        "progress_description": body.get("ProgressDescription"),
        # One text the wait loop logs whenever it changes.
        "progress": _progress_text(body.get("ProgressPercent"), body.get("ProgressDescription")),
        "cancellation_behaviour": body.get("CancellationBehaviour"),
    }
    message = f"SuperOffice batch task {body.get('Id')} ({body.get('Name')}) is {wire_state}"
    if state is BatchState.FAILED:
        message += f": {body.get('Result') or ''} {body.get('Response') or ''}".rstrip()
    return StatusReport(state, summary, message, unknown_state=unknown)


def _progress_text(percent: Any, description: Any) -> str | None:
    if percent is None and not description:
        return None
    return f"{percent if percent is not None else '?'}% {description or ''}".rstrip()
