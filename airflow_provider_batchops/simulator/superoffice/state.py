"""SuperOffice emulation: the WebAPI BatchTask endpoints, under ``[/{tenant}]/api/v1``.

Tasks go New -> Aquired (the API's spelling) -> Started (progress 0..100) -> Succeeded or Failed,
one step every ``so_step_delay`` seconds. Known batch task definitions:

- ``ExportContacts``: succeeds with a ``FileName``;
- ``FailingExport``: fails with Result ``Error`` and Response ``Disk full``;
- ``LockedImport``: ``CancellationBehaviour`` ``CannotCancel``; succeeds slowly.

Auth: ``Bearer <SO_ACCESS_TOKEN>``, ``SOTicket <SO_TICKET>`` with ``SO-AppToken: <SO_APP_TOKEN>``, or
``Basic`` with ``SO_USER``/``SO_PASSWORD``. Errors use SuperOffice's body
(``Error``, ``ErrorType``, ``ErrorMessage``, ``ErrorSource``).
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from fastapi import Request

from ..service import ApiError

SO_ACCESS_TOKEN = "8A:Cust12345.simulator-access-token"
SO_TICKET = "7T:simulator-ticket"
SO_APP_TOKEN = "simulator-app-token"
SO_USER = "simulator"
SO_PASSWORD = "simulator-password"

STATES = ("Unknown", "New", "Aquired", "Started", "Succeeded", "Failed", "SucceededManualCleanup", "All")
CANCELLATION = ("CanCancel", "CancelWithWarning", "CannotCancel")
#: name -> (outcome, steps while Started, default cancellation behaviour)
DEFINITIONS: dict[str, tuple[str, int, str]] = {
    "ExportContacts": ("Succeeded", 3, "CanCancel"),
    "FailingExport": ("Failed", 2, "CanCancel"),
    "LockedImport": ("Succeeded", 6, "CannotCancel"),
    "CleanupExport": ("SucceededManualCleanup", 2, "CancelWithWarning"),
}
_SOURCE = "SuperOffice.Services.Implementation"


class SoError(ApiError):
    """An error of the SuperOffice API: ``{"Error", "ErrorType", "ErrorMessage", "ErrorSource"}``.

    :param kind: the ``ErrorType``, e.g. ``SoNotFoundException``.
    """

    def __init__(self, status: int, message: str, kind: str = "SoException") -> None:
        super().__init__(status, message)
        self.kind = kind

    def body(self) -> dict[str, Any]:
        """SuperOffice's error body."""
        return {"Error": True, "ErrorType": self.kind, "ErrorMessage": self.message, "ErrorSource": _SOURCE}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


@dataclass
class BatchTask:
    id: int
    name: str
    description: str
    parameters: Any
    cancellation: str
    outcome: str
    steps: int
    created: float
    created_text: str = field(default_factory=_now)
    stopped: bool = False
    stopped_at: float | None = None

    def state(self, now: float, step: float) -> tuple[str, int, str]:
        """(State, ProgressPercent, ProgressDescription) at ``now``."""
        if self.stopped:
            return "Failed", 0, "Stopped"
        elapsed = int((now - self.created) / step) if step > 0 else 10**6
        if elapsed < 1:
            return "New", 0, ""
        if elapsed < 2:
            return "Aquired", 0, ""
        started = elapsed - 2
        if started < self.steps:
            return "Started", int(100 * started / self.steps), f"Step {started + 1} of {self.steps}"
        return self.outcome, 100, "Done"

    def info(self, now: float, step: float) -> dict[str, Any]:
        state, percent, description = self.state(now, step)
        result, response, file_name = "", "", ""
        if self.stopped:
            result, response = "Stopped", "Stopped by user"
        elif state == "Failed":
            result, response = "Error", "Disk full"
        elif state in ("Succeeded", "SucceededManualCleanup"):
            result, response = "OK", f"{self.name} done"
            file_name = f"{self.name.lower()}-{self.id}.csv"
        return {
            "Id": self.id, "Name": self.name, "AssociateId": 5, "DetailsTable": 0, "DetailsRecord": 0,
            "IsSystemTask": False, "IsInternalTask": False, "ParameterObject": self.parameters,
            "LastStarted": self.created_text, "Created": self.created_text, "StartCount": 1,
            "DatabaseSerialNumber": "1234567890", "Context": "", "Result": result, "State": state,
            "Description": self.description, "Response": response, "Request": "",
            "ProgressDescription": description, "ProgressPercent": percent, "FileName": file_name,
            "CancellationBehaviour": self.cancellation, "TableRight": None, "FieldProperties": {},
        }


class SuperOfficeState:
    """Batch tasks of the emulated tenant."""

    def __init__(self, step_delay: Callable[[], float]) -> None:
        self._step_delay = step_delay
        self._tasks: dict[int, BatchTask] = {}
        self._next_id = 1000
        self._lock = threading.Lock()

    @property
    def step_delay(self) -> float:
        """Seconds per state step (the simulator's ``so_step_delay`` setting)."""
        return self._step_delay()

    def reset(self) -> None:
        """Forget every task."""
        with self._lock:
            self._tasks.clear()

    def authenticate(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        scheme, value = scheme.lower(), value.strip()
        if scheme == "bearer" and value == SO_ACCESS_TOKEN:
            return
        if scheme == "soticket" and value == SO_TICKET:
            if request.headers.get("so-apptoken") == SO_APP_TOKEN:
                return
            raise SoError(401, "SO-AppToken is missing or wrong", kind="SoAuthenticationException")
        if scheme == "basic":
            try:
                user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, password = "", ""
            if (user, password) == (SO_USER, SO_PASSWORD):
                return
        raise SoError(401, "Not authenticated", kind="SoAuthenticationException")

    def start(self, body: Any) -> int:
        if not isinstance(body, dict):
            raise SoError(400, "Expected a BatchTaskInfo object", kind="ArgumentException")
        name = body.get("Name")
        if name not in DEFINITIONS:
            raise SoError(400, f"Unknown batch task definition '{name}'", kind="ArgumentException")
        outcome, steps, default_cancellation = DEFINITIONS[name]
        cancellation = body.get("CancellationBehaviour") or default_cancellation
        if cancellation not in CANCELLATION:
            raise SoError(400, f"Unknown CancellationBehaviour '{cancellation}'", kind="ArgumentException")
        with self._lock:
            self._next_id += 1
            task = BatchTask(self._next_id, name, str(body.get("Description") or ""), body.get("ParameterObject"),
                             cancellation, outcome, steps, time.time())
            self._tasks[task.id] = task
        return task.id

    def get(self, task_id: int) -> BatchTask:
        task = self._tasks.get(task_id)
        if task is None:
            raise SoError(404, f"BatchTask id {task_id} not found", kind="SoNotFoundException")
        return task

    def info(self, task: BatchTask) -> dict[str, Any]:
        return task.info(time.time(), self.step_delay)

    def by_state(self, state: str) -> list[dict[str, Any]]:
        infos = [self.info(t) for t in list(self._tasks.values())]
        return infos if state == "All" else [i for i in infos if i["State"] == state]

    def stop(self, task_id: int) -> bool:
        task = self.get(task_id)
        state = task.state(time.time(), self.step_delay)[0]
        if task.cancellation == "CannotCancel" or state in ("Succeeded", "Failed", "SucceededManualCleanup"):
            return False
        task.stopped, task.stopped_at = True, time.time()
        return True

    def running(self) -> list[int]:
        """Ids of tasks not yet ended (for tests: nothing should be left running)."""
        now = time.time()
        return [t.id for t in self._tasks.values()
                if t.state(now, self.step_delay)[0] in ("New", "Aquired", "Started")]


