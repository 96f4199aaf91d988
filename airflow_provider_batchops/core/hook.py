"""The base hook: an Airflow connection turned into an :class:`ApiClient`, for workers and triggers."""

from __future__ import annotations

import abc
import asyncio
import json
import weakref
from collections.abc import Callable, Coroutine, Hashable
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from airflow.sdk import BaseHook

from airflow_provider_batchops.core.errors import (
    BatchOpsError,
    ConnectionConfigError,
    InputError,
    MalformedResponseError,
    StartAcceptedError,
    error_text,
)
from airflow_provider_batchops.core.http import ApiClient, Call, Reply, Timeouts
from airflow_provider_batchops.core.reading import Reader, read_async, read_sync
from airflow_provider_batchops.core.secrets import amask, mask
from airflow_provider_batchops.core.waiting import seconds

if TYPE_CHECKING:
    from airflow.sdk import Connection

_SENSITIVE_EXTRA_WORDS = ("token", "secret", "password", "ticket", "key")
#: Bounds of the per-request timeout (``extra.timeout``), in seconds.
MAX_REQUEST_TIMEOUT = 3600.0
T = TypeVar("T")


def check_conn_id(value: Any, field: str, default: str) -> str:
    """A connection id: ``None`` means the default; an empty or blank id is refused, never the default."""
    if value is None:
        return default
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise InputError(field, f"expected a connection id, got {value!r}")
    return value


def problem_text(exc: BaseException) -> str:
    """What a parser found wrong, in one line: a pydantic error's path and message, else the error."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        return f"{where}: {first['msg']} ({exc.error_count()} problem(s))"
    return f"{type(exc).__name__}: {exc}"[:300]


def parse_reply(call: Call, reply: Reply, parse: Callable[[Any], T]) -> T:
    """``parse(reply.json())``; any failure becomes a :class:`MalformedResponseError` naming the call."""
    try:
        return parse(reply.json())
    except Exception as exc:  # a parser meets arbitrary JSON: every failure is the same kind
        raise MalformedResponseError(call.method, call.resolved_path, reply.status, reply.body_for_error(),
                                     reason=problem_text(exc)) from None


def start_each(
    parts: list[Any],
    send: Callable[[Any], list[Any]],
    *,
    key: str,
    accepted: list[Any] | None = None,
    first: int = 0,
    recorded: Callable[[list[Any], int], None] | None = None,
) -> list[Any]:
    """Send several starts in order; return the ids they started (``send`` gives one part's ids).

    ``recorded(ids, n)`` keeps the ids after each accepted part, before the next is sent. A part that
    fails after earlier ones were accepted raises :class:`StartAcceptedError` naming them: the
    accepted work runs remotely, and a resume sends only the rest (``first``, ``accepted``).
    """
    ids = list(accepted or [])
    for index in range(first, len(parts)):
        try:
            started = send(parts[index])
        except BatchOpsError as exc:
            if index == 0:
                raise
            raise StartAcceptedError(
                f"{index} of {len(parts)} starts were accepted ({key}: {ids}), then start {index + 1} failed: "
                f"{exc}. The accepted work runs remotely; clear the task to send only the starts that were "
                "not accepted."
            ) from exc
        ids.extend(started)
        if recorded is not None:
            recorded(ids, index + 1)
    return ids


def read_start(call: Call, reply: Reply, read_id: Callable[[Reply], T]) -> T:
    """The id of work a 2xx answer accepted; unreadable, it fails the task without Airflow's retries."""
    try:
        return read_id(reply)
    except Exception as exc:
        body = reply.body_for_error()
        shown = body if isinstance(body, str) else json.dumps(body, default=str)
        raise StartAcceptedError(
            f"{call.method} {call.resolved_path} was accepted (HTTP {reply.status}), but its answer could not be "
            f"read ({problem_text(exc)}): the work may be running remotely, so it is not started again. "
            f"Answer: {shown[:300]}"
        ) from None


class ApiHook(BaseHook, abc.ABC):
    """Reads the connection once, then sends :class:`Call` objects synchronously or asynchronously.

    :param conn_id: the Airflow connection id; subclasses expose it under their own name.
    """

    conn_name_attr: ClassVar[str]
    default_conn_name: ClassVar[str]
    #: The base URL used when the connection has no host.
    default_host: ClassVar[str] = ""
    #: A path appended to the host, e.g. ``/api/v1``.
    base_path: ClassVar[str] = ""
    #: Where the service puts its error text in an error body, in order of preference.
    error_fields: ClassVar[tuple[str, ...]] = ("error", "message", "detail")

    @classmethod
    def error_message(cls, body: Any) -> str | None:
        """The service's error text in an error body (shown in :class:`ApiError` messages)."""
        return error_text(body, cls.error_fields)

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = check_conn_id(conn_id, self.conn_name_attr, self.default_conn_name)
        self._client: ApiClient | None = None

    @abc.abstractmethod
    def build_client(self, conn: Connection) -> ApiClient:
        """Make the client from the connection; no I/O here (tokens are fetched on first use)."""

    # -- clients ---------------------------------------------------------------------------------
    @property
    def client(self) -> ApiClient:
        """The client, built on first use from the connection (sync look-up: workers only)."""
        if self._client is None:
            conn = self.get_connection(self.conn_id)
            for secret in _secrets_of(conn):
                mask(secret)
            self._client = self.build_client(conn)
        return self._client

    async def aclient(self) -> ApiClient:
        """The client for triggers; the connection is read with Airflow's async API.

        Hooks of one class and connection id that ask for their client while one is being built on
        this loop, or within :data:`LOOKUP_REUSE_SECONDS` after it was built, share it (a triggerer
        starting thousands of triggers reads each connection and builds its client a few times, not
        thousands; clients hold no per-request state); a failed build is not kept.
        """
        if self._client is None:
            self._client = await _shared_lookup((type(self), self.conn_id), self._abuild_client)
        return self._client

    async def _abuild_client(self, key: Any) -> ApiClient:
        conn = await self.aget_connection(self.conn_id)
        for secret in _secrets_of(conn):
            await amask(secret)
        return self.build_client(conn)

    def call(self, call: Call) -> Any:
        return self.client.request(call).json()

    def run(self, reader: Reader[T]) -> T:
        """Run a reader (see :mod:`~airflow_provider_batchops.core.reading`) with blocking requests."""
        return read_sync(self.client, reader)

    def arun(self, reader: Reader[T]) -> Coroutine[Any, Any, T]:
        """Run a reader on the event loop (triggers); the same reader as :meth:`run`. Await the result.

        Once the client is built (every poll after the first) this is :func:`read_async` itself, with
        no coroutine around it.
        """
        if self._client is not None:
            return read_async(self._client, reader)
        return self._arun_first(reader)

    async def _arun_first(self, reader: Reader[T]) -> T:
        return await read_async(await self.aclient(), reader)

    def send_start(self, call: Call, read_id: Callable[[Reply], T]) -> T:
        """Send a start and read the id of the accepted work from the answer (see :func:`read_start`)."""
        return read_start(call, self.client.request(call), read_id)

    # -- connection helpers ----------------------------------------------------------------------
    def base_url(self, conn: Connection) -> str:
        """Scheme + host (+ port) + :attr:`base_path`; ``https`` unless the host or schema says otherwise."""
        host = (conn.host or self.default_host).strip().rstrip("/")
        if not host:
            raise ConnectionConfigError(self.conn_id, "host", "no host is set")
        if "://" not in host:
            scheme = conn.schema if conn.schema in ("http", "https") else "https"
            host = f"{scheme}://{host}"
        if conn.port and host.count(":") < 2:
            host = f"{host}:{conn.port}"
        if not host.startswith(("http://", "https://")):
            raise ConnectionConfigError(self.conn_id, "host", f"expected an http(s) URL, got {host!r}")
        return host + self.base_path

    def extras(self, conn: Connection) -> dict[str, Any]:
        """The connection's extras; one left empty in the form (``null`` or ``""``) is not set."""
        raw = conn.extra
        if not raw:
            return {}
        try:
            value = json.loads(raw) if isinstance(raw, str) else dict(raw)
        except (ValueError, TypeError):
            raise ConnectionConfigError(self.conn_id, "extra", "is not a JSON object") from None
        if not isinstance(value, dict):
            raise ConnectionConfigError(self.conn_id, "extra", "is not a JSON object")
        return {key: item for key, item in value.items() if item is not None and item != ""}

    def timeouts(self, extras: dict[str, Any]) -> Timeouts:
        try:
            total = seconds(extras.get("timeout", Timeouts.total), "extra.timeout", minimum=0.1,
                            maximum=MAX_REQUEST_TIMEOUT)
        except InputError as exc:
            raise ConnectionConfigError(self.conn_id, "extra.timeout", exc.problem) from None
        assert total is not None
        return Timeouts(connect=min(Timeouts.connect, total), total=total)

    def require(self, conn: Connection, field: str, label: str) -> str:
        value = getattr(conn, field, None)
        if not value:
            raise ConnectionConfigError(self.conn_id, field, f"the {label} is missing")
        return str(value)


_lookups: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, asyncio.Task[Any]]] = (
    weakref.WeakKeyDictionary()
)
#: Seconds a client built from a connection is reused by the hooks of the same loop: the triggers that
#: a triggerer starts together (thousands at once after a restart) read each connection a few times,
#: not once each; a connection changed in Airflow is seen by the hooks built after that second.
LOOKUP_REUSE_SECONDS = 1.0

T_co = TypeVar("T_co")


async def _shared_lookup(key: Hashable, lookup: Callable[[Any], Coroutine[Any, Any, T_co]]) -> T_co:
    """``await lookup(key)``, joined by every caller on this loop while it runs and for
    :data:`LOOKUP_REUSE_SECONDS` after it succeeded (a failed look-up is not kept)."""
    loop = asyncio.get_running_loop()
    shared = _lookups.setdefault(loop, {})
    task = shared.get(key)
    if task is None:
        task = shared[key] = loop.create_task(lookup(key))
        task.add_done_callback(partial(_forget_later, shared, key))
    found: T_co = await asyncio.shield(task)  # one waiter's cancellation does not cancel the others'
    return found


def _forget_later(shared: dict[Hashable, asyncio.Task[Any]], conn_id: Hashable, task: asyncio.Task[Any]) -> None:
    if task.cancelled() or task.exception() is not None:
        _forget(shared, conn_id, task)  # the next hook asks again
    else:
        task.get_loop().call_later(LOOKUP_REUSE_SECONDS, _forget, shared, conn_id, task)


def _forget(shared: dict[Hashable, asyncio.Task[Any]], conn_id: Hashable, task: asyncio.Task[Any]) -> None:
    if shared.get(conn_id) is task:
        del shared[conn_id]


def _secrets_of(conn: Connection) -> list[str]:
    found = [conn.password] if conn.password else []
    try:
        extras = json.loads(conn.extra) if isinstance(conn.extra, str) and conn.extra else {}
    except ValueError:
        extras = {}
    if isinstance(extras, dict):
        found.extend(
            value
            for key, value in extras.items()
            if isinstance(value, str) and value and any(w in key.lower() for w in _SENSITIVE_EXTRA_WORDS)
        )
    return found


def ui_field_behaviour(conn_type: str) -> dict[str, Any]:
    """The connection form of ``conn_type`` in the legacy ``get_ui_field_behaviour`` shape."""
    from airflow_provider_batchops.get_provider_info import CONNECTION_FORMS

    form = CONNECTION_FORMS[conn_type]
    return {
        "hidden_fields": list(form["hidden-fields"]),
        "relabeling": dict(form["relabeling"]),
        "placeholders": dict(form["placeholders"]),
    }
