"""SuperOffice WebAPI: start, read, list and stop batch tasks.

Connection ``superoffice``: host = the tenant's WebAPI base URL (e.g.
``https://sod.superoffice.com/Cust12345`` or an onsite site URL; ``/api/v1`` is appended).
Extra ``auth``: ``bearer`` (default; password = access token), ``soticket`` (password = ticket; extra
``app_token`` is sent as ``SO-AppToken``) or ``basic`` (login/password, onsite only). Optional extras
``accept_language``, ``so_language``, ``so_culture``, ``so_timezone`` become the matching headers;
``timeout`` sets the per-request timeout in seconds.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from airflow_provider_batchops.core.auth import StaticAuth
from airflow_provider_batchops.core.errors import (
    ApiError,
    BatchOpsError,
    ConnectionConfigError,
    InputError,
    error_text,
)
from airflow_provider_batchops.core.hook import ApiHook, ui_field_behaviour
from airflow_provider_batchops.core.http import ApiClient, Call
from airflow_provider_batchops.core.reading import Reader
from airflow_provider_batchops.core.state import StatusReport
from airflow_provider_batchops.models.superoffice import (
    LISTABLE_STATES,
    check_task_id,
    stop_refusal,
    task_id_from_start,
    task_report,
)

if TYPE_CHECKING:
    from airflow.sdk import Connection

AUTH_SCHEMES = ("bearer", "soticket", "basic")
_HEADER_EXTRAS = {
    "accept_language": "Accept-Language",
    "so_language": "SO-Language",
    "so_culture": "SO-Culture",
    "so_timezone": "SO-TimeZone",
}


class SuperOfficeHook(ApiHook):
    """Talk to the SuperOffice WebAPI BatchTask endpoints.

    :param superoffice_conn_id: the Airflow connection id (type ``superoffice``).
    """

    conn_name_attr = "superoffice_conn_id"
    default_conn_name = "superoffice_default"
    conn_type = "superoffice"
    hook_name = "SuperOffice"
    base_path = "/api/v1"
    error_fields = ("ErrorMessage", "Message")

    @classmethod
    def error_message(cls, body: Any) -> str | None:
        """``ErrorMessage``, preceded by ``ErrorType`` (the server's exception type) when there is one."""
        text = error_text(body, cls.error_fields)
        kind = body.get("ErrorType") if isinstance(body, dict) else None
        return f"{kind}: {text}" if text and isinstance(kind, str) and kind else text

    def __init__(self, superoffice_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(conn_id=superoffice_conn_id, **kwargs)
        self.superoffice_conn_id = self.conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return ui_field_behaviour("superoffice")

    def build_client(self, conn: Connection) -> ApiClient:
        extras = self.extras(conn)
        if not conn.host:
            raise ConnectionConfigError(self.conn_id, "host", "the WebAPI base URL is missing")
        scheme = extras.get("auth", "bearer")
        if scheme not in AUTH_SCHEMES:
            raise ConnectionConfigError(self.conn_id, "extra.auth", f"{scheme!r} is not one of bearer, soticket, basic")
        secret = self.require(conn, "password", "access token, ticket or password (password)")
        headers = {header: str(extras[key]) for key, header in _HEADER_EXTRAS.items() if extras.get(key)}
        if scheme == "bearer":
            auth = {"Authorization": f"Bearer {secret}"}
        elif scheme == "soticket":
            auth = {"Authorization": f"SOTicket {secret}"}
            if extras.get("app_token"):
                auth["SO-AppToken"] = str(extras["app_token"])
        else:
            user = self.require(conn, "login", "user name (login)")
            auth = {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}
        timeouts = self.timeouts(extras)
        return ApiClient(self.base_url(conn), StaticAuth(auth), timeouts=timeouts, headers=headers,
                         error_message=self.error_message)

    # -- calls -----------------------------------------------------------------------------------
    @staticmethod
    def get_task_call(batch_task_id: Any) -> Call:
        return Call("GET", "/BatchTask/{id}", path_params={"id": check_task_id(batch_task_id)})

    @staticmethod
    def stop_task_call(batch_task_id: Any) -> Call:
        # Stopping twice is harmless, so a lost answer may be re-sent.
        return Call("POST", "/BatchTask/{id}/Stop", path_params={"id": check_task_id(batch_task_id)},
                    idempotent=True)

    def start_task(self, info: dict[str, Any]) -> int:
        """``POST /BatchTask`` with a ``BatchTaskInfo``; returns the new task id (never re-sent)."""
        call = Call("POST", "/BatchTask", json_body=info)
        return self.send_start(call, lambda reply: task_id_from_start(reply.json()))

    def get_task(self, batch_task_id: Any) -> dict[str, Any]:
        """``GET /BatchTask/{id}``: the ``BatchTaskInfo``."""
        return self.call(self.get_task_call(batch_task_id))

    def get_task_report(self, batch_task_id: Any) -> StatusReport:
        return self.run(task_reader(batch_task_id))

    def list_tasks(self, state: str) -> list[dict[str, Any]]:
        """``GET /BatchTask/{state}``: the user's tasks in a ``BatchTaskState`` (or ``All``)."""
        if state not in LISTABLE_STATES:
            raise InputError("state", f"{state!r} is not one of {', '.join(LISTABLE_STATES)}")
        return self.call(Call("GET", "/BatchTask/{state}", path_params={"state": state}))

    def stop_task(self, batch_task_id: Any) -> bool:
        """``POST /BatchTask/{id}/Stop``; True when SuperOffice stopped the task."""
        return self.call(self.stop_task_call(batch_task_id)) is True

    def stop_if_allowed(self, batch_task_id: Any) -> str:
        """Stop a running task where its ``CancellationBehaviour`` allows (see :func:`stop_reader`)."""
        return self.run(stop_reader(batch_task_id))

    def test_connection(self) -> tuple[bool, str]:
        """List failed tasks: cheap, and proves the credentials are accepted."""
        try:
            self.list_tasks("Failed")
        except (ApiError, BatchOpsError) as exc:
            return False, str(exc)
        return True, f"Connected to {self.client.base_url}"


# -- readers: each read written once, run sync (hook.run) or async (hook.arun) -----------------------
def task_reader(batch_task_id: Any) -> Reader[StatusReport]:
    """Read one batch task."""
    body = yield SuperOfficeHook.get_task_call(batch_task_id)
    return task_report(body)


def stop_reader(batch_task_id: Any) -> Reader[str]:
    """Stop a running task when its ``CancellationBehaviour`` allows; say what happened.

    A state this provider does not know is read once more; nothing is stopped on the strength of it.
    """
    report = yield from task_reader(batch_task_id)
    if report.unknown_state is not None:
        report = yield from task_reader(batch_task_id)
    refusal = stop_refusal(report)
    if refusal is not None:
        return refusal
    stopped = yield SuperOfficeHook.stop_task_call(batch_task_id)
    return "it was stopped" if stopped is True else "SuperOffice refused to stop it"
