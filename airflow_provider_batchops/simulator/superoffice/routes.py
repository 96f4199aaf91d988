"""SuperOffice's API routes: ``POST /BatchTask``, ``GET /BatchTask/{id|state}``, ``POST /BatchTask/{id}/Stop``.

Each is served under ``/{tenant}/api/v1`` and ``/api/v1``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from ..http import json_body
from ..service import unbound
from .state import STATES, SoError, SuperOfficeState


def superoffice_state() -> SuperOfficeState:
    """Route dependency: the SuperOffice tenant of this application (bound by the application)."""
    return unbound()  # type: ignore[no-any-return]


def authorized(request: Request, so: Annotated[SuperOfficeState, Depends(superoffice_state)]) -> SuperOfficeState:
    """Route dependency: the SuperOffice state, once the request's credentials are accepted (else 401)."""
    so.authenticate(request)
    return so


if TYPE_CHECKING:
    Authorized = Annotated[SuperOfficeState, Depends(authorized)]
else:
    Authorized = Annotated[Any, Depends(authorized)]
router = APIRouter()


def _routes(prefix: str) -> None:
    @router.post(f"{prefix}/api/v1/BatchTask")
    async def start_task(request: Request, so: Authorized) -> Response:
        """Start a batch task; the answer is the new id as a bare integer."""
        return JSONResponse(so.start(await json_body(request)))

    @router.get(f"{prefix}/api/v1/BatchTask/{{key}}")
    async def get_task(key: str, so: Authorized) -> Response:
        """One task by id, or the tasks in a state (``/BatchTask/Started``)."""
        if key.isdigit():
            return JSONResponse(so.info(so.get(int(key))))
        if key in STATES:
            return JSONResponse(so.by_state(key))
        raise SoError(400, f"'{key}' is neither a task id nor a BatchTaskState", kind="ArgumentException")

    @router.post(f"{prefix}/api/v1/BatchTask/{{task_id}}/Stop")
    async def stop_task(task_id: int, so: Authorized) -> Response:
        """Stop a task; a bare boolean says whether it was stopped."""
        return JSONResponse(so.stop(task_id))


_routes("/{tenant}")
_routes("")
