"""One description of an HTTP exchange, sent by a sync (requests) or async (aiohttp) client.

A :class:`Call` says what to send; :class:`ApiClient` sends it with retries, authentication and a
timeout, either with :meth:`ApiClient.request` (workers) or :meth:`ApiClient.arequest` (triggers).
Both paths share :class:`RetryPolicy` and the same response handling, so they cannot drift apart.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import time
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow_provider_batchops.core.errors import (
    ApiError,
    MalformedResponseError,
    NotSentError,
    StartOutcomeUnknownError,
    TransientApiError,
    error_text,
)

if TYPE_CHECKING:
    # Imported where used: a DAG file that imports an operator pays for neither (about 0.3 s of CPU).
    import aiohttp
    import requests

    from airflow_provider_batchops.core.auth import Auth

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclass(frozen=True)
class Call:
    """What to send: method, path template, path parameters, query and JSON body.

    :param method: HTTP method.
    :param path: path template such as ``/rules/v1/batch/{batch_id}``.
    :param path_params: values for the template; each is percent-encoded as one path segment.
    :param params: query parameters; a list value is sent as repeated keys.
    :param json_body: JSON body, if any.
    :param idempotent: whether re-sending is harmless; defaults by method. A start is not idempotent.
    :param authenticated: whether the connection's credentials go with the request.
    :param whole_reply: a reader is sent the :class:`Reply` itself (status, headers such as a count,
        body) instead of the parsed body.
    """

    method: str
    path: str
    path_params: Mapping[str, str | int] = field(default_factory=dict)
    params: Mapping[str, Any] | None = None
    json_body: Any = None
    idempotent: bool | None = None
    authenticated: bool = True
    whole_reply: bool = False

    @functools.cached_property
    def resolved_path(self) -> str:
        """The path with its parameters filled in; worked out once per call (a poll re-sends one call)."""
        if not self.path_params:
            return self.path.format()
        encoded = {key: quote(str(value), safe="") for key, value in self.path_params.items()}
        return self.path.format(**encoded)

    @property
    def is_idempotent(self) -> bool:
        return self.method.upper() in IDEMPOTENT_METHODS if self.idempotent is None else self.idempotent

    def query_items(self) -> list[tuple[str, str]]:
        items: list[tuple[str, str]] = []
        if not self.params:
            return items
        for key, value in self.params.items():
            values = value if isinstance(value, (list, tuple)) else [value]
            items.extend((key, _query_text(v)) for v in values if v is not None)
        return items


def _query_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True, init=False)
class Reply:
    """A received response: status, headers and the raw body."""

    status: int
    headers: Mapping[str, str]
    content: bytes

    def __init__(self, status: int, headers: Mapping[str, str], content: bytes) -> None:
        # The dataclass's own __init__ of a frozen class goes through object.__setattr__ per field;
        # one reply per poll makes the difference worth these lines.
        fields = self.__dict__
        fields["status"], fields["headers"], fields["content"] = status, headers, content

    def json(self) -> Any:
        """The parsed body; parsed once (the success check already parses it), then reused."""
        try:
            return self.__dict__["_parsed"]
        except KeyError:
            pass
        content = self.content
        if not content:
            value = None
        elif isinstance(content, (bytes, bytearray)) and 0 < content[0] < 0x80 and (len(content) < 2 or content[1]):
            # An ASCII first byte and a non-zero second one: no BOM and not UTF-16/32, so
            # json.detect_encoding would say UTF-8 (every JSON API's answer); its checks are skipped.
            value = _DECODER.decode(content.decode("utf-8", "surrogatepass"))
        else:
            value = _parse_json(content)
        self.__dict__["_parsed"] = value
        return value

    def body_for_error(self) -> Any:
        try:
            return self.json()
        except (ValueError, RecursionError):
            return self.content[:500].decode("utf-8", "replace")


def _no_constant(name: str) -> Any:
    """``NaN``/``Infinity`` are not JSON (Python's parser takes them); a body with them is unreadable."""
    raise ValueError(f"{name} is not valid JSON")


#: One decoder for every body (``json.loads`` with an option builds a new one per call).
_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def _parse_json(content: bytes | bytearray | str) -> Any:
    """``json.loads(content, parse_constant=_no_constant)``, on the shared decoder: same results, same errors."""
    if isinstance(content, (bytes, bytearray)):
        content = content.decode(json.detect_encoding(content), "surrogatepass")
    elif content.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", content, 0)
    return _DECODER.decode(content)


class Failure(Enum):
    """Why no response arrived."""

    NOT_SENT = "connection could not be opened"  # the server never saw the request
    TLS = "TLS handshake failed"  # the server never saw the request; retrying does not help
    LOST = "connection lost or timed out"  # the server may have seen it


@dataclass(frozen=True)
class Outcome:
    """One attempt: a reply, or why none arrived (with what the client library said)."""

    reply: Reply | None = None
    failure: Failure | None = None
    detail: str = ""


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before sending a request again.

    Connection failures and 429 are retried for any method, since the server did not act on them.
    Timeouts, resets and 5xx are retried only for idempotent calls: a start whose answer was lost
    is never re-sent, because the server may have accepted it.

    :param max_attempts: attempts in all, the first included.
    :param backoff: first delay in seconds; doubles each attempt, with full jitter.
    :param max_backoff: cap of one delay, also of a ``Retry-After``.
    """

    max_attempts: int = 5
    backoff: float = 1.0
    max_backoff: float = 30.0
    retry_statuses_any_method: frozenset[int] = frozenset({429})
    retry_statuses_idempotent: frozenset[int] = frozenset({500, 502, 503, 504})

    def should_retry(self, call: Call, status: int | None, failure: Failure | None) -> bool:
        if failure is Failure.NOT_SENT:
            return True
        if failure is Failure.TLS:
            return False
        if failure is Failure.LOST:
            return call.is_idempotent
        if status in self.retry_statuses_any_method:
            return True
        return call.is_idempotent and status in self.retry_statuses_idempotent

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        hinted = parse_retry_after(retry_after)
        if hinted is not None:
            return min(hinted, self.max_backoff)
        ceiling = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


@dataclass(frozen=True)
class Timeouts:
    """Per-request limits in seconds."""

    connect: float = 10.0
    total: float = 30.0


class _Step:
    """What to do after an attempt that did not give the answer: retry after a delay, or raise."""

    __slots__ = ("delay", "error", "refresh_auth")

    def __init__(
        self,
        delay: float | None = None,
        error: ApiError | None = None,
        refresh_auth: bool = False,
    ) -> None:
        self.delay, self.error, self.refresh_auth = delay, error, refresh_auth


_DEFAULT_RETRY = RetryPolicy()
_DEFAULT_TIMEOUTS = Timeouts()


class ApiClient:
    """Sends :class:`Call` objects to one base URL, sync or async, with one retry rule.

    :param base_url: scheme, host and optional path prefix, e.g. ``https://api.waylay.io``.
    :param auth: how requests are authenticated (see :mod:`airflow_provider_batchops.core.auth`).
    :param retry: the retry rule.
    :param timeouts: per-request timeouts.
    :param headers: extra headers sent with every request.
    :param error_message: reads the service's error text from an error body (the hook's wording).
    """

    def __init__(
        self,
        base_url: str,
        auth: Auth | None = None,
        *,
        retry: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        headers: Mapping[str, str] | None = None,
        error_message: Callable[[Any], str | None] = error_text,
    ) -> None:
        self.error_message = error_message
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.retry = retry or _DEFAULT_RETRY  # frozen: one shared default instead of one per client
        self.timeouts = timeouts or _DEFAULT_TIMEOUTS
        self.headers = {"Accept": "application/json", **(headers or {})}
        self._session: requests.Session | None = None
        #: The last credential headers and the request headers built from them (the async path reuses
        #: them while the credential stays the same, i.e. on nearly every poll).
        self._merged: tuple[dict[str, str], dict[str, str]] | None = None
        self._aiohttp_timeout: aiohttp.ClientTimeout | None = None

    # -- shared decision logic -------------------------------------------------------------------
    def _next_step(self, call: Call, attempt: int, outcome: Reply | Outcome, refreshed: bool) -> Reply | _Step:
        """The reply itself when it is the answer (a 2xx with a JSON body), else what to do next.

        :param outcome: the attempt: a reply (a response arrived), or an :class:`Outcome` saying why not.
        """
        reply: Reply | None
        if isinstance(outcome, Reply):
            reply, failure = outcome, None
        else:
            reply, failure = outcome.reply, outcome.failure
        if reply is not None and 200 <= reply.status < 300:
            try:
                reply.json()
            except (ValueError, RecursionError):
                path = call.resolved_path
                if call.is_idempotent and attempt < self.retry.max_attempts:
                    return _Step(delay=self.retry.delay(attempt))
                error_cls = MalformedResponseError if call.is_idempotent else StartOutcomeUnknownError
                return _Step(error=error_cls(call.method, path, reply.status, reason="body is not valid JSON"))
            return reply
        path = call.resolved_path
        status = reply.status if reply is not None else None
        if status == 401 and self.auth is not None and call.authenticated and not refreshed:
            if self.auth.invalidate():
                return _Step(refresh_auth=True, delay=0.0)
        if failure in (Failure.NOT_SENT, Failure.TLS):
            if failure is Failure.NOT_SENT and attempt < self.retry.max_attempts:
                return _Step(delay=self.retry.delay(attempt))
            assert isinstance(outcome, Outcome)  # a failure always comes as an Outcome
            return _Step(error=NotSentError(call.method, path, None, reason=self._not_sent_reason(outcome, attempt)))
        if self.retry.should_retry(call, status, failure):
            if attempt < self.retry.max_attempts:
                retry_after = reply.headers.get("Retry-After") if reply is not None else None
                return _Step(delay=self.retry.delay(attempt, retry_after))
            body = reply.body_for_error() if reply is not None else None
            reason = failure.value if failure else f"gave up after {attempt} attempts"
            return _Step(error=TransientApiError(call.method, path, status, body, reason, self.error_message(body)))
        if failure is not None:
            # Only a non-idempotent call gets here: its answer was lost after it was sent.
            return _Step(
                error=StartOutcomeUnknownError(
                    call.method,
                    path,
                    None,
                    reason=f"{failure.value}; not re-sent, since the server may have accepted it",
                )
            )
        assert reply is not None
        body = reply.body_for_error()
        return _Step(error=ApiError(call.method, path, reply.status, body, api_message=self.error_message(body)))

    def _not_sent_reason(self, outcome: Outcome, attempt: int) -> str:
        """Why nothing was sent, with a hint when the scheme and the server's protocol disagree."""
        scheme = self.base_url.split("://", 1)[0]
        text = f"{outcome.failure.value if outcome.failure else 'not sent'}"
        if outcome.detail:
            text += f" ({outcome.detail})"
        if outcome.failure is Failure.TLS:
            if scheme == "https" and _looks_like_plain_http(outcome.detail):
                text += "; the connection uses https but the server answers plain HTTP: use an http:// host"
            elif scheme == "http":
                text += "; the connection uses http but the server answers with TLS: use an https:// host"
        elif attempt > 1:
            text += f", {attempt} attempts"
        return text + "; nothing was sent, so nothing started"

    def _url(self, call: Call) -> str:
        return self.base_url + call.resolved_path

    # -- sync path (workers) ---------------------------------------------------------------------
    @property
    def session(self) -> requests.Session:
        if self._session is None:
            import requests

            self._session = requests.Session()
        return self._session

    def request(self, call: Call) -> Reply:
        """Send ``call`` and return the successful reply, retrying as the policy allows."""
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            headers = dict(self.headers)
            if self.auth is not None and call.authenticated:
                headers.update(self.auth.headers())
            step = self._next_step(call, attempt, self._send_sync(call, headers), refreshed)
            if isinstance(step, Reply):
                return step
            if step.error is not None:
                raise step.error
            if step.refresh_auth:
                refreshed = True
                attempt -= 1  # a refreshed credential is not a retry
            time.sleep(step.delay or 0.0)

    def _send_sync(self, call: Call, headers: dict[str, str]) -> Reply | Outcome:
        import requests

        try:
            resp = self.session.request(
                call.method,
                self._url(call),
                params=call.query_items(),
                json=call.json_body,
                headers=headers,
                timeout=(self.timeouts.connect, self.timeouts.total),
                allow_redirects=False,
            )
            return Reply(resp.status_code, resp.headers, resp.content)
        except requests.exceptions.InvalidURL:
            raise ApiError(call.method, call.path, None, reason="invalid URL") from None
        except requests.exceptions.SSLError as exc:
            return Outcome(failure=Failure.TLS, detail=_exception_text(exc))
        except requests.ConnectTimeout:
            return Outcome(failure=Failure.NOT_SENT, detail="connect timeout")
        except requests.ConnectionError as exc:
            if _tls_answer(exc):
                return Outcome(failure=Failure.TLS, detail="the server answered with a TLS record")
            if _never_connected(exc):
                return Outcome(failure=Failure.NOT_SENT, detail=_exception_text(exc))
            if self.base_url.startswith("http://") and _speaks_tls(self.base_url, self.timeouts.connect):
                return Outcome(failure=Failure.TLS, detail="the server closed the connection; it speaks TLS")
            return Outcome(failure=Failure.LOST, detail=type(exc).__name__)
        except requests.RequestException as exc:
            return Outcome(failure=Failure.LOST, detail=type(exc).__name__)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    # -- async path (triggers) -------------------------------------------------------------------
    async def arequest(self, call: Call) -> Reply:
        """Async twin of :meth:`request`, on the event loop's shared ``aiohttp`` session."""
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            auth = self.auth
            if auth is not None and call.authenticated:
                credentials = auth.ready_headers()  # nearly every poll: no await for a cached token
                if credentials is None:
                    credentials = await auth.aheaders()
                headers = self._with_credentials(credentials)
            else:
                headers = self.headers
            step = self._next_step(call, attempt, await self._send_async(call, headers), refreshed)
            if isinstance(step, Reply):
                return step
            if step.error is not None:
                raise step.error
            if step.refresh_auth:
                refreshed = True
                attempt -= 1
            await asyncio.sleep(step.delay or 0.0)

    def _with_credentials(self, credentials: dict[str, str]) -> dict[str, str]:
        """The request headers with ``credentials``; the same dict while the credential does not change
        (aiohttp copies the headers it is given, it does not change them)."""
        merged = self._merged
        if merged is None or (merged[0] is not credentials and merged[0] != credentials):
            merged = self._merged = (credentials, {**self.headers, **credentials})
        return merged[1]

    async def _send_async(self, call: Call, headers: dict[str, str]) -> Reply | Outcome:
        session = current_session()
        timeout = self._aiohttp_timeout
        if timeout is None:
            timeout = self._aiohttp_timeout = _client_timeout(self.timeouts)
        try:
            async with session.request(
                call.method,
                self.base_url + call.resolved_path,
                params=call.query_items() if call.params else None,
                json=call.json_body,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
            ) as resp:
                content = await resp.read()
                return Reply(resp.status, resp.headers, content)
        except Exception as exc:  # what aiohttp raised, sorted out of the poll's way (no import per poll)
            return _async_failure(call, exc)

    @asynccontextmanager
    async def astream(self, call: Call, read_timeout: float = 60.0) -> AsyncIterator[aiohttp.ClientResponse]:
        """Open a streaming response (e.g. server-sent events); no retries: the caller reconnects.

        A 401 fetches fresh credentials once. Any other non-2xx status raises :class:`ApiError`;
        connection failures raise :class:`TransientApiError`.

        :param read_timeout: longest silence tolerated between two chunks (keep-alives count).
        """
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=None, connect=self.timeouts.connect, sock_read=read_timeout)
        for attempt in (1, 2):
            headers = {**self.headers, "Accept": "text/event-stream"}
            if self.auth is not None and call.authenticated:
                headers.update(await self.auth.aheaders())
            try:
                resp = await current_session().request(
                    call.method, self._url(call), params=call.query_items(), headers=headers, timeout=timeout
                )
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                raise TransientApiError(call.method, call.resolved_path, None, reason=type(exc).__name__) from None
            if resp.status == 401 and attempt == 1 and self.auth is not None and self.auth.invalidate():
                resp.release()
                continue
            break
        try:
            if not 200 <= resp.status < 300:
                body = Reply(resp.status, resp.headers, await resp.read()).body_for_error()
                raise ApiError(call.method, call.resolved_path, resp.status, body, api_message=self.error_message(body))
            yield resp
        finally:
            resp.release()


@functools.lru_cache(maxsize=32)
def _client_timeout(timeouts: Timeouts) -> aiohttp.ClientTimeout:
    """One immutable ``aiohttp`` timeout per :class:`Timeouts`, instead of a new one per request."""
    import aiohttp

    return aiohttp.ClientTimeout(total=timeouts.total, connect=timeouts.connect)


def _async_failure(call: Call, exc: Exception) -> Outcome:
    """Why an aiohttp request got no response; an exception that is not a connection failure is re-raised."""
    import aiohttp

    if isinstance(exc, (aiohttp.ClientConnectorSSLError, aiohttp.ClientConnectorCertificateError)):
        return Outcome(failure=Failure.TLS, detail=_exception_text(exc))
    if isinstance(exc, aiohttp.ClientConnectorError):
        return Outcome(failure=Failure.NOT_SENT, detail=_exception_text(exc))
    if isinstance(exc, aiohttp.InvalidURL):
        raise ApiError(call.method, call.path, None, reason="invalid URL") from None
    if isinstance(exc, aiohttp.ClientResponseError):
        if _tls_answer(exc):
            return Outcome(failure=Failure.TLS, detail="the server answered with a TLS record")
        return Outcome(failure=Failure.LOST, detail=type(exc).__name__)
    if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError)):
        if _ssl_failure(exc):
            return Outcome(failure=Failure.TLS, detail=_exception_text(exc))
        return Outcome(failure=Failure.LOST, detail=type(exc).__name__)
    raise exc


def _never_connected(exc: requests.ConnectionError) -> bool:
    """True when requests failed before the request could reach the server."""
    from urllib3.exceptions import NameResolutionError, NewConnectionError

    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, (NewConnectionError, NameResolutionError))


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and what caused it (``__cause__``/``__context__``/wrapped ``args``), outermost first."""
    seen: list[BaseException] = []
    todo: list[Any] = [exc]
    while todo and len(seen) < 20:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or any(item is s for s in seen):
            continue
        seen.append(item)
        todo.extend([item.__cause__, item.__context__, getattr(item, "reason", None), *item.args])
    return seen


def _tls_answer(exc: BaseException) -> bool:
    """True when a plain-HTTP request got a TLS record back (the server speaks https)."""
    # A TLS record starts with its type (0x15 alert, 0x16 handshake) and the major version 3.
    markers = ("\\x15\\x03", "\\x16\\x03", "\x15\x03", "\x16\x03")
    return any(m in text for e in _chain(exc) for text in (repr(e), str(e)) for m in markers)


def _ssl_failure(exc: BaseException) -> bool:
    import ssl

    return any(isinstance(e, ssl.SSLError) for e in _chain(exc))


def _looks_like_plain_http(detail: str) -> bool:
    text = detail.lower().replace("_", " ")
    return any(word in text for word in ("wrong version number", "record layer failure", "http request",
                                         "unknown protocol", "packet length too long"))


def _exception_text(exc: BaseException) -> str:
    """A short cause of a connection error: the TLS, DNS or socket error underneath."""
    import socket
    import ssl

    chain = _chain(exc)
    tls = [item for item in chain if isinstance(item, ssl.SSLError)]
    if tls:
        named = [item for item in tls if getattr(item, "reason", None)]
        return f"TLS: {getattr(named[0], 'reason', None) if named else tls[0]}"
    for item in chain:
        if isinstance(item, socket.gaierror):
            return f"DNS lookup failed: {item.strerror or item}"
    for item in chain:
        if isinstance(item, OSError) and item.strerror:
            return item.strerror
    return str(exc).split("?", 1)[0][:200]


def _speaks_tls(url: str, timeout: float) -> bool:
    """Whether ``url``'s host completes a TLS handshake: asked only after an ``http://`` request got
    no HTTP answer, to tell "the server speaks https" apart from a dropped connection."""
    import socket
    import ssl
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=timeout) as sock:
            with context.wrap_socket(sock, server_hostname=parts.hostname):
                return True
    except (OSError, ValueError):
        return False


# -- one aiohttp session per running event loop -----------------------------------------------------
class _LoopSession:
    __slots__ = ("session", "users")

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.users = 0


_loop_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopSession] = (
    weakref.WeakKeyDictionary()
)
#: The loop whose session was looked up last, and its entry: every poll asks, nearly always on the
#: same loop (a weak-key look-up makes a new weak reference each time). Cleared when the session closes.
_recent: tuple[asyncio.AbstractEventLoop, _LoopSession] | None = None


class shared_session:  # lower case: used as a function, ``async with shared_session():``
    """Use the running loop's shared ``aiohttp`` session for the duration of the block.

    Every trigger on a loop shares one connection pool. The session is closed when its last user
    leaves, so a loop that ends (``asyncio.run`` in ``dag.test()``) leaves nothing unclosed. A plain
    class rather than an ``asynccontextmanager``: each wait holds one for its whole life, and this
    one is a single small object (no generator frame and context-manager wrapper per wait).
    """

    __slots__ = ("entry", "loop")

    async def __aenter__(self) -> aiohttp.ClientSession:
        global _recent
        import aiohttp

        loop = self.loop = asyncio.get_running_loop()
        entry = _loop_sessions.get(loop)
        if entry is None or entry.session.closed:
            connector = aiohttp.TCPConnector(limit=100, ttl_dns_cache=300)
            entry = _LoopSession(aiohttp.ClientSession(connector=connector))
            _loop_sessions[loop] = entry
            _recent = None
        entry.users += 1
        self.entry = entry
        return entry.session

    async def __aexit__(self, *exc_info: object) -> None:
        global _recent
        entry, loop = self.entry, self.loop
        entry.users -= 1
        if entry.users == 0:
            _loop_sessions.pop(loop, None)
            if _recent is not None and _recent[0] is loop:
                _recent = None
            await entry.session.close()


def current_session() -> aiohttp.ClientSession:
    """The session opened by an enclosing :func:`shared_session` block on this loop."""
    global _recent
    loop = asyncio.get_running_loop()
    recent = _recent
    if recent is not None and recent[0] is loop:
        entry: _LoopSession | None = recent[1]
    else:
        entry = _loop_sessions.get(loop)
        if entry is not None:
            _recent = (loop, entry)
    if entry is None or entry.session.closed:
        raise RuntimeError("ApiClient.arequest must run inside 'async with shared_session()'")
    return entry.session
