"""What every simulated service provides, and the one error type its routes raise.

A service is a package under ``simulator/`` with one :class:`Service` object: its ``name``, the
API routers it serves, its control routers (under ``/_sim``), the run-time settings it reads,
how to reset it, and how its API words an error. Its routes get the service's state through a
dependency of the package (``Depends(state)``), which :meth:`Service.bindings` binds to this
application's state when the application is assembled: no route reads ``app.state``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

JsonDict = dict[str, Any]


class ApiError(Exception):
    """An error answer of a simulated API; each service words its body (override :meth:`body`).

    :param status: HTTP status code.
    :param message: what went wrong, as the API would say it.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message

    def body(self) -> JsonDict:
        """The JSON error body; the generic shape is ``{"statusCode", "error"}``."""
        return {"statusCode": self.status, "error": self.message}

    def response(self) -> JSONResponse:
        """The error as a response."""
        return JSONResponse(self.body(), status_code=self.status)


def unbound() -> Any:
    """Placeholder body of a service's state dependency until the application binds it."""
    raise RuntimeError("the service's state is bound when the simulator application is assembled")


@dataclass(frozen=True)
class Setting:
    """A run-time setting (``POST /_sim/config``) and the service that reads it.

    :param name: the setting's name, also a field of :class:`~.app.SimulatorConfig`.
    :param flag: ``True`` for a boolean, ``False`` for a number ``>= 0``.
    :param check: further check of a number: returns why the value is refused, or ``None``.
    """

    name: str
    flag: bool = False
    check: Callable[[float], str | None] | None = None


class Service:
    """One simulated service. Subclasses set the class attributes and implement :meth:`reset`."""

    #: Short name; the application's state exposes the service's state under it as an attribute.
    name: str = ""
    #: API routers.
    routers: Sequence[APIRouter] = ()
    #: Control routers (their paths start with ``/_sim``).
    control_routers: Sequence[APIRouter] = ()
    #: Run-time settings the service reads.
    settings: Sequence[Setting] = ()
    #: The service's control routes as ``--help`` lists them: (method, path, what it does).
    control_help: Sequence[tuple[str, str, str]] = ()
    #: Route keys (``"GET /path/{param}"``) that answer with an event stream (they take ``cut`` faults).
    streaming_routes: frozenset[str] = frozenset()
    #: The body of an injected ``malformed`` fault: truncated JSON in the API's shape.
    malformed_body: bytes = b'{"statusCode": 200, "<truncated'
    #: The error type of the service's API, whose :meth:`ApiError.body` shapes injected fault bodies.
    error_type: type[ApiError] = ApiError

    def __init__(self, config: Callable[[], Any]) -> None:
        #: The current settings (a :class:`~.app.SimulatorConfig`), read when needed: they change at run time.
        self.config = config
        #: The state the service's routes work on.
        self.state: Any = None

    def bindings(self) -> Mapping[Callable[..., Any], Callable[..., Any]]:
        """Dependencies of the service's routes -> what provides them in this application."""
        return {}

    def reset(self, state: bool) -> None:
        """Forget stream counts and the like; with ``state`` also re-seed the stores."""

    def settings_changed(self, names: set[str]) -> None:
        """React to changed run-time settings (e.g. re-seed what depends on them)."""

    @classmethod
    def fault_body(cls, status: int) -> bytes:
        """The body of an injected ``status`` fault, in the API's error shape."""
        return json.dumps(cls.error_type(status, "simulated fault").body()).encode()
