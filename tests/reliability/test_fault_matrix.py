"""Fault matrix: every API, every fault the simulator can inject, on the start and on the status route.

Each case runs the real operator in the worker (``deferrable=False``) or, for registry jobs, the
trigger's ``run()``, against the live simulator with one fault switched on, then checks the outcome
and the simulator's request counters (read over HTTP from ``/_sim/counters``):

- on a status route every fault is retried and the task succeeds;
- on the start route of an idempotent start (every delete) every fault is retried like a read, and
  the task succeeds;
- on the start route of any other start (rules ``restart``, SuperOffice) only 429 is retried; a start
  whose answer may have been lost (reset, timeout, unreadable body) or that got a 5xx is never
  re-sent: the task fails saying so, and the simulator saw exactly one start request; never more than
  one such start is accepted.

Retry backoff starts at 0.05 s instead of 1 s (``Retry-After`` is still honoured as sent).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_provider_batchops.core.errors import (
    ApiError,
    BatchOpsError,
    RemoteWorkFailedError,
    StartAcceptedError,
    StartOutcomeUnknownError,
    TransientApiError,
)
from airflow_provider_batchops.operators.mammoth import MammothDeleteBatchesOperator
from airflow_provider_batchops.operators.superoffice import SuperOfficeBatchTaskOperator
from airflow_provider_batchops.operators.waylay import (
    ResourcesBatchDeleteOperator,
    RulesBatchDeleteOperator,
    RulesBatchOperator,
)
from airflow_provider_batchops.triggers.waylay import WaylayRegistryJobTrigger
from tests.support import reliability_report
from tests.support.reliability_sim import (
    MAMMOTH_WHERE,
    add_fault,
    connect_all,
    context,
    counters,
    quick_retry,  # noqa: F401 - a fixture, used by name
    short,
)

#: The per-request timeout of the connections in the ``slow`` cases, and the fault's delay above it.
SHORT_TIMEOUT, SLOW_DELAY = 0.5, 1.0
RETRY_AFTER = 1
#: Wait settings of every operator: quick polls, and a deadline so no case can hang.
WAIT = {"deferrable": False, "poll_interval": 0.2, "max_poll_interval": 0.5, "timeout": 20, "durable": False}
TRIGGER_LIMIT = 25.0
TOKEN_ROUTE = "POST /accounts/v1/tokens"
EVENTS_ROUTE = "GET /registry/v2/jobs/events"
PLUG = {"functionType": "plugs", "name": "faultPlug", "version": "1.0.0"}
#: Short remote delays, so each case takes about a second.
SIM_DELAYS = {"batch_delay": 0.3, "job_step_delay": 0.25, "so_step_delay": 0.05, "mammoth_job_delay": 0.3}

FAULTS = reliability_report.section(
    "fault-matrix",
    "Fault matrix",
    ["API", "fault", "where", "outcome", "API requests", "start requests", "starts accepted", "seconds"],
    intro=(
        "One fault per case, injected by the simulator on the start route or on the status route "
        "(`tests/reliability/test_fault_matrix.py`). Operators run in the worker (`deferrable=False`, "
        "`poll_interval=0.2`); registry jobs through `WaylayRegistryJobTrigger.run()`. *API requests* is "
        "what the simulator counted for that API (token requests included); *start requests* is how "
        "often the start route was hit and *starts accepted* how many of those the API acted on (its own 2xx "
        "answers; the 200 a `malformed` fault forges in place of the API is not counted). "
        f"Slow responses take {SLOW_DELAY} s against a connection `timeout` of {SHORT_TIMEOUT} s; retry "
        "backoff starts at 0.05 s for the test (1 s by default); `Retry-After` is honoured as sent. "
        "A slow start with a body (Waylay, SuperOffice) is not acted on by the simulator once the client "
        "has gone (it cannot read the body any more); Mammoth's bodiless `DELETE` is. Deletes are "
        "idempotent, so a delete whose answer was lost is sent again (*start requests* 2, and up to 2 "
        "*starts accepted*); any other start (*Waylay rules restart*, SuperOffice) is never re-sent."
    ),
)


class TriggerFailedError(BatchOpsError):
    """The trigger ended with a non-success event."""


@dataclass(frozen=True)
class Api:
    """One API of the matrix: its routes (simulator route keys) and how to run one task against it."""

    name: str
    start: str | None
    status: str
    prefixes: tuple[str, ...]
    run: Callable[[Any, Callable[[], None] | None], dict[str, Any]]
    #: Whether the start is safe to send twice (a delete): then a lost answer is sent again.
    idempotent_start: bool = False


@dataclass(frozen=True)
class Case:
    api: Api
    fault: str
    where: str
    rules: list[dict[str, Any]] = field(default_factory=list)
    #: ``None``: success expected; else the exception type and a text its message must contain.
    failure: tuple[type[Exception], str] | None = None

    @property
    def id(self) -> str:
        return f"{self.api.name}-{self.fault}-{self.where}".replace(" ", "_")


# -- running one task against each API -------------------------------------------------------------
def after_first_read(op: Any, action: Callable[[], None] | None) -> None:
    """Run ``action`` once, right after the operator's first status read (i.e. during the wait)."""
    if action is None:
        return
    original = op.read_status
    reads: list[Any] = []

    def read(remote_id: Any) -> Any:
        report = original(remote_id)
        if not reads:
            action()
        reads.append(remote_id)
        return report

    op.read_status = read


def run_rules(sim: Any, mid_wait: Callable[[], None] | None) -> dict[str, Any]:
    ids = ["fm-task-1", "fm-task-2"]
    sim.client.put_tasks([{"id": i, "name": i, "type": "onetime", "status": "stopped"} for i in ids])
    op = RulesBatchDeleteOperator(task_id="fm_rules", ids=ids, **WAIT)
    after_first_read(op, mid_wait)
    summary: dict[str, Any] = op.execute(context())
    assert summary["succeeded"] == 2, summary
    return summary


def run_rules_restart(sim: Any, mid_wait: Callable[[], None] | None) -> dict[str, Any]:
    ids = ["fm-task-3", "fm-task-4"]
    sim.client.put_tasks([{"id": i, "name": i, "type": "periodic", "status": "running"} for i in ids])
    op = RulesBatchOperator(task_id="fm_rules_restart", action="restart", ids=ids, **WAIT)
    after_first_read(op, mid_wait)
    summary: dict[str, Any] = op.execute(context())
    assert summary["succeeded"] == 2, summary
    return summary


def run_resources(sim: Any, mid_wait: Callable[[], None] | None) -> dict[str, Any]:
    ids = ["fm-res-1", "fm-res-2", "fm-res-3"]
    sim.client.put_resources([{"id": i, "name": i, "resourceTypeId": "pump"} for i in ids])
    op = ResourcesBatchDeleteOperator(task_id="fm_resources", ids=ids, **WAIT)
    after_first_read(op, mid_wait)
    summary: dict[str, Any] = op.execute(context())
    assert summary["succeeded"] == 3, summary
    return summary


def run_mammoth(sim: Any, mid_wait: Callable[[], None] | None) -> dict[str, Any]:
    batches = sim.client.mammoth_dataset(**MAMMOTH_WHERE)["batches"]
    ids = [b["id"] for b in batches if b["state"] == "active" and "locked" not in b["name"]][:2]
    assert len(ids) == 2, batches
    op = MammothDeleteBatchesOperator(task_id="fm_mammoth", **MAMMOTH_WHERE, batch_ids=ids, **WAIT)
    after_first_read(op, mid_wait)
    summary: dict[str, Any] = op.execute(context())
    assert summary["deleted"] == ids, summary
    return summary


def run_superoffice(sim: Any, mid_wait: Callable[[], None] | None) -> dict[str, Any]:
    op = SuperOfficeBatchTaskOperator(task_id="fm_superoffice", name="ExportContacts", **WAIT)
    after_first_read(op, mid_wait)
    summary: dict[str, Any] = op.execute(context())
    assert summary["file_name"] == f"exportcontacts-{summary['batch_task_id']}.csv", summary
    return summary


def run_registry(sim: Any, mid_wait: Callable[[], None] | None) -> dict[str, Any]:
    job = sim.client.create_job(type="build", function=PLUG)
    trigger = WaylayRegistryJobTrigger(job_type=job["type"], job_id=job["id"], poll_interval=0.2,
                                       max_poll_interval=0.5, deadline=time.time() + 20)
    event = asyncio.run(drive(trigger, sim, mid_wait))
    if event["status"] != "success":
        raise TriggerFailedError(f"{event['status']}: {event['message']}")
    summary: dict[str, Any] = event["report"]["summary"]
    assert summary["state"] == "completed", summary
    return summary


async def drive(trigger: WaylayRegistryJobTrigger, sim: Any, mid_wait: Callable[[], None] | None) -> dict[str, Any]:
    """Run the trigger to its first event; ``mid_wait`` runs once the trigger has read the job."""
    watcher = asyncio.create_task(after_first_job_read(sim, mid_wait)) if mid_wait is not None else None
    events = trigger.run()
    try:
        event = await asyncio.wait_for(events.__anext__(), timeout=TRIGGER_LIMIT)
    finally:
        await events.aclose()
        if watcher is not None:
            watcher.cancel()
    payload: dict[str, Any] = event.payload
    return payload


async def after_first_job_read(sim: Any, action: Callable[[], None]) -> None:
    """Run ``action`` as soon as the simulator has answered a job read (checked in-process, every 20 ms)."""
    for _ in range(int(TRIGGER_LIMIT / 0.02)):
        if any(key.startswith(f"{REGISTRY.status} 200") for key in sim.counters()["statuses"]):
            action()
            return
        await asyncio.sleep(0.02)


RULES = Api("Waylay rules", "POST /rules/v1/batch", "GET /rules/v1/batch/{batchId}",
            ("/rules/", "/accounts/"), run_rules, idempotent_start=True)
RULES_RESTART = Api("Waylay rules restart", "POST /rules/v1/batch", "GET /rules/v1/batch/{batchId}",
                    ("/rules/", "/accounts/"), run_rules_restart)
RESOURCES = Api("Waylay resources", "POST /resources/v1/batch", "GET /resources/v1/batch/{batchId}",
                ("/resources/", "/accounts/"), run_resources, idempotent_start=True)
REGISTRY = Api("Waylay registry", None, "GET /registry/v2/jobs/{type}/{id}", ("/registry/", "/accounts/"),
               run_registry)
MAMMOTH = Api("Mammoth", "DELETE /api/v2/workspaces/{workspace_id}/projects/{project_id}/datasets/{dataset_id}/batches",
              "GET /api/v2/jobs", ("/api/v2/",), run_mammoth, idempotent_start=True)
SUPEROFFICE = Api("SuperOffice", "POST /{tenant}/api/v1/BatchTask", "GET /{tenant}/api/v1/BatchTask/{key}",
                  ("/api/v1/",), run_superoffice)

# -- the matrix ------------------------------------------------------------------------------------
KINDS: dict[str, list[dict[str, Any]]] = {
    f"429 + Retry-After {RETRY_AFTER}": [{"kind": "status", "status": 429, "retry_after": RETRY_AFTER, "times": 1}],
    "500/502/503/504 burst": [{"kind": "status", "status": s, "times": 1} for s in (500, 502, 503, 504)],
    "connection reset": [{"kind": "drop", "times": 1}],
    f"slow ({SLOW_DELAY} s > timeout)": [{"kind": "slow", "delay": SLOW_DELAY, "times": 1}],
    "malformed JSON": [{"kind": "malformed", "times": 1}],
}
#: What a fault on the start route must end in (429 is retried: the server did not act on it).
START_FAILURES: dict[str, tuple[type[Exception], str]] = {
    "500/502/503/504 burst": (ApiError, "returned HTTP 500"),
    "connection reset": (StartOutcomeUnknownError, "not re-sent"),
    f"slow ({SLOW_DELAY} s > timeout)": (StartOutcomeUnknownError, "not re-sent"),
    "malformed JSON": (StartOutcomeUnknownError, "not valid JSON"),
}


def matrix() -> list[Case]:
    cases = []
    for api in (RULES, RESOURCES, REGISTRY, MAMMOTH, SUPEROFFICE):
        for kind, rules in KINDS.items():
            if api.start is not None:
                failure = None if api.idempotent_start else START_FAILURES.get(kind)
                cases.append(Case(api, kind, "start", rules, failure))
            cases.append(Case(api, kind, "status", rules))
    for kind, rules in KINDS.items():  # a start that is not idempotent, on the same route as the delete
        cases.append(Case(RULES_RESTART, kind, "start", rules, START_FAILURES.get(kind)))
    for api in (RULES, RESOURCES, REGISTRY):
        cases.append(Case(api, "token expiry", "mid-wait"))
    for api in (MAMMOTH, SUPEROFFICE):
        # Static credentials: nothing to refresh, so a 401 is final. Without a durable record of the
        # started SuperOffice task (durable=False here) a retry would start it again: not retried.
        failure = (ApiError if api.idempotent_start else StartAcceptedError, "returned HTTP 401")
        cases.append(Case(api, "401 (static credentials)", "mid-wait",
                          [{"kind": "status", "status": 401, "times": 1}], failure))
    cases.append(Case(REGISTRY, "stream cut after 1 event, twice", "stream",
                      [{"kind": "cut", "after_events": 1, "times": 2}]))
    cases.append(Case(REGISTRY, "stream answers 503", "stream", [{"kind": "status", "status": 503, "times": 1}]))
    return cases


CASES = matrix()


@pytest.fixture(scope="module", autouse=True)
def module_clock():
    started = time.monotonic()
    yield
    FAULTS.note(f"{len(CASES)} cases; module runtime {time.monotonic() - started:.1f} s.")


def route_of(case: Case) -> str:
    if case.where == "stream":
        return EVENTS_ROUTE
    if case.where == "start":
        assert case.api.start is not None
        return case.api.start
    return case.api.status


def accepted(statuses: dict[str, int], route: str) -> int:
    return sum(n for key, n in statuses.items() if key.startswith(f"{route} 2"))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault(case: Case, sim, monkeypatch, quick_retry):  # noqa: F811 - fixtures, by name
    slow = case.fault.startswith("slow")
    connect_all(sim, monkeypatch, timeout=SHORT_TIMEOUT if slow else 5.0)
    sim.client.configure(SIM_DELAYS)
    route = route_of(case)
    mid_wait: Callable[[], None] | None = None
    if case.fault == "token expiry":
        # The work must still run after the first read, so that a read meets the revoked token.
        sim.client.configure(batch_delay=1.0, job_step_delay=1.0)
        mid_wait = sim.expire_tokens if case.api is REGISTRY else sim.client.expire_tokens
    elif case.where == "mid-wait":
        # Long remote work costs nothing here: the 401 ends the task at the read after the first.
        sim.client.configure(so_step_delay=2.0, mammoth_job_delay=10.0)

        def mid_wait() -> None:
            for rule in case.rules:
                add_fault(sim, route, **rule)
    else:
        if case.where == "stream":
            sim.client.configure(job_step_delay=1.0)  # room for two cuts and a full stream
        for rule in case.rules:
            add_fault(sim, route, **rule)

    started = time.monotonic()
    error: Exception | None = None
    try:
        case.api.run(sim, mid_wait)
    except BatchOpsError as exc:
        error = exc
    elapsed = time.monotonic() - started

    start_route = case.api.start
    if slow:
        # Let the server finish the slow request the client gave up on, so the counters are final.
        time.sleep(max(0.0, started + SLOW_DELAY + 0.3 - time.monotonic()))
    seen = counters(sim)
    requests_, statuses = seen["requests"], seen["statuses"]
    api_requests = sum(n for key, n in requests_.items() if any(p in key for p in case.api.prefixes))
    start_requests = requests_.get(start_route, 0) if start_route else None
    starts_accepted = accepted(statuses, start_route) if start_route else None
    if starts_accepted is not None and case.where == "start" and case.fault == "malformed JSON":
        # The fault's 200 is forged by the simulator in place of the API, which never saw the request.
        starts_accepted -= len(case.rules)
    outcome = "success" if error is None else f"failed: {type(error).__name__}: {short(error, 110)}"
    FAULTS.add(case.api.name, case.fault, case.where, outcome, api_requests,
               "n/a (no start)" if start_route is None else start_requests,
               "n/a" if start_route is None else starts_accepted, f"{elapsed:.2f}")

    # -- the expected outcome -------------------------------------------------------------------------
    if case.failure is None and slow and case.where == "start" and case.api is MAMMOTH and error is not None:
        # Mammoth's bodiless DELETE is acted on although its answer was lost; the delete sent again
        # then finds the batches gone, and the simulator's job says so (docs/semantics.md). Whether the
        # first one got there first is a matter of timing: either outcome is the documented one.
        assert isinstance(error, RemoteWorkFailedError) and "not found" in str(error), repr(error)
    elif case.failure is None:
        assert error is None, f"expected success, got {error!r}"
    else:
        kind, text = case.failure
        assert isinstance(error, kind) and not isinstance(error, TransientApiError), repr(error)
        assert text in str(error), str(error)
    if start_route is not None and case.where == "start" and case.api.idempotent_start:
        # A delete is sent again whatever the fault; the first may have been acted on as well.
        sends = 5 if case.fault.endswith("burst") else 2
        assert start_requests == sends, requests_
        assert starts_accepted is not None and 1 <= starts_accepted <= 2, statuses
    elif start_route is not None:
        assert starts_accepted is not None and starts_accepted <= 1, statuses
        retried_start = case.where == "start" and case.fault.startswith("429")
        assert start_requests == (2 if retried_start else 1), requests_
        if error is None:
            assert starts_accepted == 1, statuses
    remaining = sim.client.faults()
    if case.where == "start" and case.fault.endswith("burst") and not case.api.idempotent_start:
        # 500 ended the start at once: the 502/503/504 rules were never reached.
        assert [r["status"] for r in remaining] == [502, 503, 504], remaining
    else:
        assert remaining == [], remaining  # every injected fault was hit

    # -- the fault is visible in the counters ---------------------------------------------------------
    if case.fault.startswith("429"):
        assert statuses.get(f"{route} 429") == 1, statuses
        assert elapsed >= RETRY_AFTER, f"Retry-After {RETRY_AFTER} s not honoured ({elapsed:.2f} s)"
    elif case.fault.endswith("burst"):
        hit = (500,) if case.where == "start" and not case.api.idempotent_start else (500, 502, 503, 504)
        assert all(statuses.get(f"{route} {s}") == 1 for s in hit), statuses
    elif case.fault == "connection reset":
        assert statuses.get(f"{route} dropped") == 1, statuses
    elif slow or case.fault == "malformed JSON":
        pass  # no status of its own: the fault rule was used up (above) and the outcome is checked
    elif case.fault == "token expiry":
        assert requests_[TOKEN_ROUTE] == 2, requests_  # one token, then one fresh after the 401
        assert sum(n for key, n in statuses.items() if key.endswith(" 401")) >= 1, statuses
    elif case.where == "mid-wait":
        assert statuses.get(f"{route} 401") == 1, statuses
    elif case.where == "stream" and case.rules[0]["kind"] == "cut":
        assert requests_[EVENTS_ROUTE] >= 3, requests_  # reconnected after each cut
    elif case.where == "stream":
        assert statuses.get(f"{EVENTS_ROUTE} 503") == 1, statuses
