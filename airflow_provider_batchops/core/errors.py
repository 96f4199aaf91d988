"""Exceptions raised by the provider.

Every message is safe to log: none of them ever carries request headers, credentials or tokens.
"""

from __future__ import annotations

import json
from typing import Any

from airflow.sdk.exceptions import AirflowException

from airflow_provider_batchops.core.compat import AirflowFailException

#: How much of an unreadable (non-JSON) error body is kept in an exception.
_MAX_TEXT_BODY = 500


class BatchOpsError(AirflowException):
    """Base class of every error raised by this provider."""


class InputError(BatchOpsError, ValueError):
    """A user-supplied value is invalid; raised before any request is sent.

    :param field: the name of the parameter or field at fault, as the user wrote it.
    :param problem: what is wrong, ideally with the allowed values.
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"Invalid value for '{field}': {problem}")


class ConnectionConfigError(InputError):
    """An Airflow connection lacks a field or holds a malformed one."""

    def __init__(self, conn_id: str, field: str, problem: str) -> None:
        super().__init__(field, problem)
        self.conn_id = conn_id
        self.args = (f"Connection '{conn_id}': invalid '{field}': {problem}",)


class ApiError(BatchOpsError):
    """The remote API answered with an error status (or not at all).

    :param method: HTTP method of the failed request.
    :param path: request path (no host, no query string).
    :param status: HTTP status, or ``None`` when no response arrived.
    :param body: the parsed JSON error body, or the start of the text body.
    :param reason: what happened, when there is no response (connection reset, timeout, ...).
    :param api_message: the error text the service put in its body, as its hook reads it
        (:meth:`~airflow_provider_batchops.core.hook.ApiHook.error_message`).
    """

    def __init__(
        self,
        method: str,
        path: str,
        status: int | None,
        body: Any = None,
        reason: str | None = None,
        api_message: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.body = body
        self.reason = reason
        self.api_message = api_message if api_message is not None else error_text(body)
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f"{self.method} {self.path}"
        if self.status is None:
            return f"{where} failed: {self.reason or 'no response'}"
        text = f"{where} returned HTTP {self.status}"
        if self.api_message:
            text += f": {self.api_message}"
        if self.body not in (None, "", {}):
            body = self.body if isinstance(self.body, str) else json.dumps(self.body, default=str)
            text += f" (body: {body[:_MAX_TEXT_BODY]})"
        elif self.reason:
            text += f": {self.reason}"
        return text


def error_text(body: Any, fields: tuple[str, ...] = ("error", "message", "detail")) -> str | None:
    """The first non-empty text among ``fields`` of an error body (a service's hook names its fields)."""
    if isinstance(body, dict):
        for key in fields:
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
    return None


class TransientApiError(ApiError):
    """A retryable failure (429, 5xx, connection error, timeout) that outlived every retry."""


class NotSentError(TransientApiError):
    """The connection failed before the request was sent (refused, DNS, TLS handshake): nothing reached the API.

    A start that fails this way did not start anything, so a retry of the task is safe.
    """


class MalformedResponseError(TransientApiError):
    """The API answered 2xx with a body the provider cannot read (wrong shape, not JSON, empty).

    While waiting, such a reading counts as a failed read (tolerated a few times in a row).
    """

    def _describe(self) -> str:
        text = f"{self.method} {self.path} answered HTTP {self.status} with a body this provider cannot read"
        if self.reason:
            text += f": {self.reason}"
        if self.body is not None:
            body = self.body if isinstance(self.body, str) else json.dumps(self.body, default=str)
            text += f" (body: {body[:_MAX_TEXT_BODY]})"
        return text


class UnknownStateError(BatchOpsError):
    """The remote work stayed in a state the provider does not know for longer than the grace allows."""


class StartOutcomeUnknownError(ApiError, AirflowFailException):
    """A start request may have been accepted, but its answer was lost.

    It is deliberately not re-sent, and the task fails without Airflow's retries: a second start
    could launch a second batch. Check the remote system, then clear the task if nothing started.
    """


class StartAcceptedError(BatchOpsError, AirflowFailException):
    """The API accepted a start (2xx), then something failed: the work may be running remotely.

    The task fails without Airflow's retries, since a retry would start the work a second time. The
    message says what is known of the accepted work (ids, the answer).
    """


class RemoteWorkFailedError(BatchOpsError):
    """The remote batch or job ended in failure (or partial failure under the ``fail`` policy).

    :param summary: the JSON summary of the remote work, also shown in the message.
    """

    def __init__(self, message: str, summary: dict[str, Any] | None = None) -> None:
        self.summary = summary or {}
        super().__init__(message)


class WaitTimeoutError(BatchOpsError):
    """The wait reached its deadline before the remote work finished."""
