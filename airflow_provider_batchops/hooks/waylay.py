"""Waylay: rules and resources batch operations and registry jobs, with token or basic authentication.

Connection ``waylay``: host = gateway URL (default ``https://api.waylay.io``), login = API key,
password = API secret. Extra ``auth``: ``token`` (default; key/secret exchanged for a JWT that is
cached per credential until shortly before it expires) or ``basic``; extra ``token`` may carry a
pre-issued JWT instead; extra ``timeout`` sets the per-request timeout in seconds.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from airflow_provider_batchops.core.auth import Auth, StaticAuth, Token, TokenAuth, credential_key
from airflow_provider_batchops.core.errors import ApiError, BatchOpsError, ConnectionConfigError, InputError
from airflow_provider_batchops.core.hook import ApiHook, ui_field_behaviour
from airflow_provider_batchops.core.http import ApiClient, Call, Reply
from airflow_provider_batchops.core.reading import Reader
from airflow_provider_batchops.core.sse import ServerSentEvent, aiter_events
from airflow_provider_batchops.core.state import MAX_LISTED, ReportSet, StatusReport
from airflow_provider_batchops.core.validation import check_choices, check_text_id
from airflow_provider_batchops.models.waylay import (
    IDEMPOTENT_ACTIONS,
    batch_id_from_start,
    batch_report,
    combine_batch_reports,
    listed_task,
    listing_params,
)
from airflow_provider_batchops.models.waylay_registry import (
    FUNCTION_TYPES,
    JOB_STATES,
    LISTABLE_JOB_TYPES,
    check_job_type,
    job_report,
    jobs_list_report,
    list_body_jobs,
    timestamp_spec,
)

if TYPE_CHECKING:
    from airflow.sdk import Connection

WaylayService = Literal["rules", "resources"]
BATCH_SERVICES: tuple[str, ...] = ("rules", "resources")
AUTH_MODES = ("token", "basic")
TOKEN_PATH = "/accounts/v1/tokens"
TASKS_PATH = "/rules/v1/tasks"
#: Tasks asked per page of ``GET /rules/v1/tasks`` (fewer answered is fine: paging goes on from there).
LISTING_PAGE = 1000
#: Most tasks read to apply a ``user`` filter, which the listing cannot apply; more fails the count.
USER_SCAN_LIMIT = 100_000
#: Most listing pages one count reads (bounds a server that answers far fewer tasks than asked).
MAX_LISTING_PAGES = 1000


def check_service(service: Any) -> str:
    if service not in BATCH_SERVICES:
        raise InputError("service", f"{service!r} is not one of {', '.join(BATCH_SERVICES)}")
    return str(service)


def check_id(value: Any, field: str) -> str:
    return check_text_id(value, field)


def jwt_times(token: str) -> tuple[float | None, float | None]:
    """The ``iat`` and ``exp`` claims of a JWT, read without verifying it (the server verifies)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, TypeError, ValueError):
        return None, None
    if not isinstance(claims, dict):
        return None, None
    return _number(claims.get("iat")), _number(claims.get("exp"))


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class _TokenExchange:
    """Key and secret exchanged for a token (``POST /accounts/v1/tokens``), asked only on a cache miss.

    Every hook (so every deferred wait) holds one; the client and the call are built when a token is
    actually requested, which is once per credential per token lifetime, not once per wait.
    """

    __slots__ = ("base_url", "key", "secret", "timeouts")

    def __init__(self, base_url: str, key: str, secret: str, timeouts: Any) -> None:
        self.base_url, self.key, self.secret, self.timeouts = base_url, key, secret, timeouts

    def _exchange(self) -> tuple[ApiClient, Call]:
        call = Call(
            "POST",
            TOKEN_PATH,
            params={"grant_type": "client_credentials"},
            json_body={"clientId": self.key, "clientSecret": self.secret},
            idempotent=True,  # asking for a token twice is harmless
            authenticated=False,
        )
        return ApiClient(self.base_url, None, timeouts=self.timeouts), call

    def fetch(self) -> Token:
        client, call = self._exchange()
        return _token_from(client.request(call).json())

    async def afetch(self) -> Token:
        client, call = self._exchange()
        return _token_from((await client.arequest(call)).json())


class WaylayHook(ApiHook):
    """Talk to the Waylay rules and resources batch APIs.

    :param waylay_conn_id: the Airflow connection id (type ``waylay``).
    """

    conn_name_attr = "waylay_conn_id"
    default_conn_name = "waylay_default"
    conn_type = "waylay"
    hook_name = "Waylay"
    default_host = "https://api.waylay.io"
    cancel_supported: ClassVar[bool] = False
    error_fields = ("error", "message")

    def __init__(self, waylay_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(conn_id=waylay_conn_id, **kwargs)
        self.waylay_conn_id = self.conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return ui_field_behaviour("waylay")

    # -- client ----------------------------------------------------------------------------------
    def build_client(self, conn: Connection) -> ApiClient:
        base_url = self.base_url(conn)
        extras = self.extras(conn)
        timeouts = self.timeouts(extras)
        return ApiClient(base_url, self._auth(conn, extras, base_url, timeouts), timeouts=timeouts,
                         error_message=self.error_message)

    def _auth(self, conn: Connection, extras: dict[str, Any], base_url: str, timeouts: Any) -> Auth:
        preissued = extras.get("token")
        if preissued:
            if not isinstance(preissued, str):
                raise ConnectionConfigError(self.conn_id, "extra.token", "expected a JWT string")
            return StaticAuth({"Authorization": f"Bearer {preissued}"})
        mode = extras.get("auth", "token")
        if mode not in AUTH_MODES:
            raise ConnectionConfigError(self.conn_id, "extra.auth", f"{mode!r} is not one of token, basic")
        key = self.require(conn, "login", "API key (login)")
        secret = self.require(conn, "password", "API secret (password)")
        if mode == "basic":
            encoded = base64.b64encode(f"{key}:{secret}".encode()).decode()
            return StaticAuth({"Authorization": f"Basic {encoded}"})
        exchange = _TokenExchange(base_url, key, secret, timeouts)
        return TokenAuth(credential_key(base_url, key, secret), exchange.fetch, exchange.afetch)

    # -- calls: one description each, sent sync or async --------------------------------------------
    @staticmethod
    def start_batch_call(service: str, body: dict[str, Any]) -> Call:
        """A delete is idempotent (sent again when its answer is lost); other actions are not."""
        idempotent = isinstance(body, dict) and body.get("action") in IDEMPOTENT_ACTIONS
        return Call("POST", f"/{check_service(service)}/v1/batch", json_body=body, idempotent=idempotent)

    @staticmethod
    def get_batch_call(service: str, batch_id: str) -> Call:
        return Call(
            "GET",
            f"/{check_service(service)}/v1/batch/{{batch_id}}",
            path_params={"batch_id": check_id(batch_id, "batch_id")},
        )

    def start_batch(self, service: str, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /{service}/v1/batch``; returns the 202 body (``statusCode``, ``uri``, ``entity``).

        ``entity.id`` is always set: when the answer lacks it, it is read from ``uri`` or ``Location``.
        An accepted start whose id cannot be read fails with
        :class:`~airflow_provider_batchops.core.errors.StartAcceptedError` (not retried).
        """
        return self.send_start(self.start_batch_call(service, body), _accepted)

    def start_rules_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        """Start a tasks batch operation (body from :func:`~..models.waylay.rules_batch_body`)."""
        return self.start_batch("rules", body)

    def get_batch(self, service: str, batch_id: str) -> dict[str, Any]:
        """``GET /{service}/v1/batch/{batchId}``: the running or finished batch operation."""
        return self.call(self.get_batch_call(service, batch_id))

    def get_rules_batch(self, batch_id: str) -> dict[str, Any]:
        return self.get_batch("rules", batch_id)

    def get_batch_report(self, service: str, batch_id: str) -> StatusReport:
        """One batch's :class:`StatusReport` (see :func:`batches_reader` for several, sync or async)."""
        return self.run(batches_reader(service, ReportSet([batch_id], partial(combine_batch_reports, service))))

    def start_resources_delete(self, body: dict[str, Any]) -> dict[str, Any]:
        """Start a bulk delete (body from :func:`~..models.waylay.resources_delete_bodies`)."""
        return self.start_batch("resources", body)

    @staticmethod
    def list_tasks_call(params: dict[str, Any], hits: int, start: int = 0) -> Call:
        """``GET /rules/v1/tasks``: one page of the tasks ``params`` select (see
        :func:`~..models.waylay.listing_params`); its reply carries the total in ``X-Count``."""
        return Call("GET", TASKS_PATH, params={**params, "hits": hits, "startIndex": start}, whole_reply=True)

    def preview_rules_tasks(self, query: dict[str, Any], listed: int = MAX_LISTED) -> dict[str, Any]:
        """Count (and list up to ``listed`` of) the tasks a rules batch filter selects; see
        :func:`tasks_preview_reader`."""
        return self.run(tasks_preview_reader(query, listed))

    # -- registry jobs ---------------------------------------------------------------------------
    @staticmethod
    def get_job_call(job_type: str, job_id: str) -> Call:
        return Call(
            "GET",
            "/registry/v2/jobs/{job_type}/{job_id}",
            path_params={"job_type": check_job_type(job_type), "job_id": check_id(job_id, "job_id")},
        )

    @staticmethod
    def list_jobs_call(
        job_type: str | list[str] | None = None,
        states: str | list[str] | None = None,
        function_type: str | list[str] | None = None,
        created_before: Any = None,
        created_after: Any = None,
        limit: int | None = None,
    ) -> Call:
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise InputError("limit", f"expected a whole number >= 0, got {limit!r}")
        return Call(
            "GET",
            "/registry/v2/jobs/",
            params={
                "limit": limit,
                "type": check_choices(job_type, "job_type", LISTABLE_JOB_TYPES),
                "state": check_choices(states, "states", JOB_STATES),
                "functionType": check_choices(function_type, "function_type", FUNCTION_TYPES),
                "createdBefore": timestamp_spec(created_before, "created_before"),
                "createdAfter": timestamp_spec(created_after, "created_after"),
            },
        )

    def get_job(self, job_type: str, job_id: str) -> dict[str, Any]:
        """``GET /registry/v2/jobs/{type}/{id}``: ``{"job": ..., "_links": ...}``."""
        return self.call(self.get_job_call(job_type, job_id))

    def get_job_report(self, job_type: str, job_id: str) -> StatusReport:
        return self.run(job_reader(job_type, job_id))

    def list_jobs(self, **filters: Any) -> dict[str, Any]:
        """``GET /registry/v2/jobs/`` with the filters of :meth:`list_jobs_call`: ``{"limit", "jobs"}``."""
        return self.call(self.list_jobs_call(**filters))

    @asynccontextmanager
    async def job_events(
        self, job_type: str | None = None, job_id: str | None = None, children: bool = False,
        read_timeout: float = 60.0,
    ) -> AsyncIterator[AsyncIterator[ServerSentEvent]]:
        """Stream ``GET /registry/v2/jobs/events`` as :class:`ServerSentEvent` objects.

        Events are not replayable: read the job after the stream is ready (``ack``) so that no
        transition is missed.
        """
        params: dict[str, Any] = {"children": children}
        if job_type is not None:
            params["type"] = check_job_type(job_type)
        if job_id is not None:
            params["id"] = check_id(job_id, "job_id")
        client = await self.aclient()
        async with client.astream(Call("GET", "/registry/v2/jobs/events", params=params), read_timeout) as resp:
            yield aiter_events(resp.content.iter_any())

    def test_connection(self) -> tuple[bool, str]:
        """Authenticate, then read a batch that cannot exist: a 404 proves the credentials work."""
        probe = "airflow-connection-test"
        try:
            self.get_batch("rules", probe)
        except ApiError as exc:
            if exc.status == 404:
                return True, f"Connected to {self.client.base_url}: credentials accepted"
            return False, str(exc)
        except BatchOpsError as exc:
            return False, str(exc)
        return True, f"Connected to {self.client.base_url}"


# -- readers: each status read written once, run sync (hook.run) or async (hook.arun) -----------------
def batches_reader(service: str, reports: ReportSet, calls: dict[str, Call] | None = None) -> Reader[StatusReport]:
    """Read the unfinished batches of ``reports`` (together) and combine every batch's latest report.

    :param calls: the status calls by batch id, kept between reads by a caller that reads again and
        again (a trigger), so a poll re-sends the same call instead of building it anew.
    """
    pending = reports.pending()
    if calls is None:
        calls = {}
    wanted = []
    for batch_id in pending:
        call = calls.get(batch_id)
        if call is None:
            call = calls[batch_id] = WaylayHook.get_batch_call(service, batch_id)
        wanted.append(call)
    bodies = yield wanted
    if len(pending) == 1 == len(bodies):  # one batch (most waits): no comprehension
        return reports.update({pending[0]: batch_report(service, bodies[0])})
    return reports.update({i: batch_report(service, body) for i, body in zip(pending, bodies, strict=True)})


def tasks_preview_reader(query: dict[str, Any], listed: int = MAX_LISTED) -> Reader[dict[str, Any]]:
    """Count the tasks the wire batch filter ``query`` selects and list the first ``listed`` (id, name).

    Returns ``would_affect_count``, ``would_affect`` and ``listing_requests``. Without ``user`` the count
    is the listing's ``X-Count`` (one request of one task when nothing is listed). The listing has no
    ``user`` parameter, so with one every task matching the other filters is read, page by page, and
    counted when its ``user`` is the one asked; more than :data:`USER_SCAN_LIMIT` such tasks fail with an
    :class:`InputError` naming ``query.user`` before anything is changed.
    """
    params = listing_params(query)
    user = query.get("user")
    found: list[dict[str, Any]] = []
    matched = start = requests = 0
    for _ in range(MAX_LISTING_PAGES):
        hits = LISTING_PAGE if user is not None else max(1, min(listed - len(found), LISTING_PAGE))
        reply = yield WaylayHook.list_tasks_call(params, hits, start)
        requests += 1
        total, page = _listing_page(reply)
        if user is not None and total > USER_SCAN_LIMIT:
            raise InputError("query.user", f"{total} tasks match the other filters; the task listing cannot filter "
                             f"on user, and more than {USER_SCAN_LIMIT} are not read to count them. Narrow the "
                             "filter, or set max_tasks=None to start the batch without counting")
        start += len(page)
        for task in page:
            if user is None or (isinstance(task, dict) and task.get("user") == user):
                matched += 1
                if len(found) < listed:
                    found.append(listed_task(task))
        if user is None and len(found) >= min(listed, total):
            return {"would_affect_count": total, "would_affect": found, "listing_requests": requests}
        if not page or start >= total:
            count = matched if user is not None else total
            return {"would_affect_count": count, "would_affect": found, "listing_requests": requests}
    raise BatchOpsError(f"GET {TASKS_PATH} did not end after {MAX_LISTING_PAGES} pages; the tasks were not counted")


def _listing_page(reply: Reply) -> tuple[int, list[Any]]:
    """The total (``X-Count``) and the tasks of one listing page."""
    text = str(reply.headers.get("X-Count", "")).strip()
    if not text.isdigit():
        raise ValueError(f"the X-Count header (the total) is {'missing' if not text else repr(text[:40])}")
    page = reply.json()
    if not isinstance(page, list):
        raise ValueError(f"expected a JSON array of tasks, got {type(page).__name__}")
    return int(text), page


def job_reader(job_type: str, job_id: str) -> Reader[StatusReport]:
    """Read one registry job."""
    body = yield WaylayHook.get_job_call(job_type, job_id)
    return job_report(body)


def jobs_list_reader(filters: dict[str, Any], function_name: str | None) -> Reader[StatusReport]:
    """List registry jobs and report on them together."""
    body = yield WaylayHook.list_jobs_call(**filters)
    return jobs_list_report(body, function_name, filters.get("limit") or 0)


def jobs_since_reader(
    filters: dict[str, Any], created_after: str, pages: int
) -> Reader[tuple[list[dict[str, Any]], bool]]:
    """The listed jobs created after ``created_after``, and whether that is all of them.

    The listing has no paging (newest first, at most ``limit``): while a page comes back full, the
    walk goes on with ``createdBefore`` = the oldest ``createdAt`` seen, for at most ``pages`` pages.
    """
    limit = filters.get("limit") or 1000
    found: dict[tuple[Any, Any], dict[str, Any]] = {}
    before: str | None = None
    for _ in range(pages):
        body = yield WaylayHook.list_jobs_call(**{**filters, "limit": limit, "created_after": created_after,
                                                   "created_before": before})
        jobs = [job for job in list_body_jobs(body) if isinstance(job, dict)]
        for job in jobs:
            found.setdefault((job.get("type"), job.get("id")), job)
        stamps = [job["createdAt"] for job in jobs if isinstance(job.get("createdAt"), str)]
        if len(jobs) < limit or not stamps or min(stamps) == before:
            return list(found.values()), True
        before = min(stamps)
    return list(found.values()), False


def _token_from(body: Any) -> Token:
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise BatchOpsError("The Waylay token endpoint answered without a 'token'")
    issued_at, expires_at = jwt_times(token)
    return Token(token, expires_at, issued_at=issued_at or time.time())


def _accepted(reply: Reply) -> dict[str, Any]:
    body = reply.json()
    batch_id = batch_id_from_start(reply)
    entity = body.get("entity") if isinstance(body, dict) else None
    entity = dict(entity) if isinstance(entity, dict) else {}
    return {**(body if isinstance(body, dict) else {}), "entity": {**entity, "id": batch_id}}
