"""The emulated SuperOffice tenant: the WebAPI BatchTask endpoints (see :mod:`.state` for the behaviour).

A task's progress is a function of the time since it started and of the *current* ``so_step_delay``
(not a plan made at the start, as for the other services' work): changing the setting moves the
tasks already running, which tests use to let long tasks end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..service import Service, Setting
from . import routes
from .state import SO_ACCESS_TOKEN, SO_APP_TOKEN, SO_PASSWORD, SO_TICKET, SO_USER, SoError, SuperOfficeState

if TYPE_CHECKING:
    from ..app import SimulatorConfig

__all__ = [
    "SO_ACCESS_TOKEN",
    "SO_APP_TOKEN",
    "SO_PASSWORD",
    "SO_TICKET",
    "SO_USER",
    "SoError",
    "SuperOfficeService",
    "SuperOfficeState",
]


class SuperOfficeService(Service):
    """SuperOffice: batch tasks that step through their states over time."""

    name = "superoffice"
    routers = (routes.router,)
    settings = (Setting("so_step_delay"),)
    malformed_body = b'{"Id": 1001, "Name": "ExportContacts", "State": "Sta<truncated'
    error_type = SoError

    def __init__(self, config: Callable[[], SimulatorConfig]) -> None:
        super().__init__(config)
        self.state: SuperOfficeState = SuperOfficeState(lambda: config().so_step_delay)

    def bindings(self) -> Mapping[Callable[..., Any], Callable[..., Any]]:
        """The SuperOffice routes' state dependency -> this tenant."""
        return {routes.superoffice_state: lambda: self.state}

    def reset(self, state: bool) -> None:
        """With ``state``, forget every task."""
        if state:
            self.state.reset()
