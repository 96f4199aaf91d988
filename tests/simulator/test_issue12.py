"""Issue 12 in the simulator: filter queries that select every task, documented control routes, held jobs.

- A rules batch filter query is never read more permissively than Waylay documents: a field that is
  null, blank or ``{}``, and a tag with a null value or an empty key, constrain nothing; a query left
  with no constraint is refused (400, "query selects every task"), and so is such a field beside real
  ones (400 naming the field), for every action, and nothing is started.
- ``batchops-simulator --help`` and the README name every control route the application serves.
- A registry job created with ``hold`` stays queued until released; the stream counts show the events.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from airflow_provider_batchops.simulator import SimulatorServer, create_app
from airflow_provider_batchops.simulator.control import CONTROL_PREFIX
from airflow_provider_batchops.simulator.waylay.rules import ACTIONS
from tests.support.conformance import RULES, validate_request_body, validate_response
from tests.support.fixtures_simulator import SSEReader, auth_headers, run_batch_at

SPEC = RULES
BATCH = "/rules/v1/batch"
TIMEOUT = 5
REPO = Path(__file__).resolve().parents[2]
EVERY_TASK = "/query <- query selects every task"
#: ``actionParameters`` that make each action's body valid apart from its query.
PARAMS: dict[str, dict[str, Any]] = {
    "updatePlugins": {"name": "mySensor", "fromVersion": "any", "toVersion": "2.0.1"},
    "updateProperties": {"tags": {"checked": "yes"}},
}
KNOWN_TASKS = [
    {"id": "a", "type": "onetime", "status": "stopped", "tags": {"site": "plant-7", "env": "prod"}},
    {"id": "b", "type": "periodic", "status": "running", "tags": {"site": "plant-2"}},
    {"id": "c", "type": "onetime", "status": "failed", "tags": {}},
]


def body(action: str, query: Any) -> dict[str, Any]:
    """A tasks batch request for ``action`` on ``query``, with the action parameters it needs."""
    spec: dict[str, Any] = {"entity": "task", "action": action, "query": query}
    if action in PARAMS:
        spec["actionParameters"] = PARAMS[action]
    return spec


def start(sim: SimulatorServer, spec: Any) -> requests.Response:
    return requests.post(f"{sim.url}{BATCH}", json=spec, headers=auth_headers(sim), timeout=TIMEOUT)


def seed(sim: SimulatorServer) -> dict[str, dict[str, Any]]:
    """Replace the store with :data:`KNOWN_TASKS`; return them by id, as stored."""
    sim.put_tasks([dict(t) for t in KNOWN_TASKS], replace=True)
    return {t["id"]: t for t in sim.app_state.waylay.list_tasks()}


def assert_nothing_started(sim: SimulatorServer, before: dict[str, dict[str, Any]]) -> None:
    """No batch was queued, and once a batch would have finished the tasks are as they were."""
    assert sim.app_state.waylay.batches.batches == {}
    time.sleep(sim.app_state.config.batch_delay + 0.1)
    assert {t["id"]: t for t in sim.app_state.waylay.list_tasks()} == before


# --- 1. a filter query must constrain the tasks -------------------------------------------------

SELECTS_EVERY_TASK = [
    {},
    {"tags": {}},
    {"status": None},
    {"type": None},
    {"name": ""},
    {"name": "   "},
    {"resource": "\t"},
    {"plugin": None},
    {"user": ""},
    {"template": " "},
    {"finishedBefore": None},
    {"createdAfter": ""},
    {"createdBefore": None},
    {"tags": {"site": None}},
    {"tags": {"": "plant-7"}},
    {"tags": {"  ": "plant-7", "env": None}},
    {"type": None, "status": "", "tags": {}},
]


@pytest.mark.parametrize("query", SELECTS_EVERY_TASK, ids=[repr(q) for q in SELECTS_EVERY_TASK])
def test_a_query_with_no_effective_constraint_is_refused(sim: SimulatorServer, query: dict[str, Any]) -> None:
    before = seed(sim)
    response = start(sim, body("delete", query))
    assert response.status_code == 400, response.text
    assert response.json()["statusCode"] == 400
    assert response.json()["error"].startswith(EVERY_TASK), response.json()["error"]
    assert_nothing_started(sim, before)


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("query", [{}, {"tags": {}}, {"status": None, "name": " "}])
def test_every_action_refuses_a_query_selecting_every_task(sim: SimulatorServer, action: str,
                                                           query: dict[str, Any]) -> None:
    before = seed(sim)
    response = start(sim, body(action, query))
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith(EVERY_TASK)
    assert_nothing_started(sim, before)
    assert sim.counters()["statuses"] == {f"POST {BATCH} 400": 1}


def test_the_issue_example_deletes_nothing(sim: SimulatorServer) -> None:
    """``RulesBatchDeleteOperator(query={"tags": {}})`` sent this, and every task was deleted."""
    before = {t["id"] for t in sim.app_state.waylay.list_tasks()}
    assert len(before) == 200
    response = start(sim, {"entity": "task", "action": "delete", "query": {"tags": {}}})
    assert response.status_code == 400
    assert "tags is an empty object" in response.json()["error"]
    time.sleep(sim.app_state.config.batch_delay + 0.1)
    assert {t["id"] for t in sim.app_state.waylay.list_tasks()} == before


EMPTY_BESIDE_REAL = [
    ({"status": "stopped", "tags": {}}, "/query/tags <- tags is an empty object"),
    ({"type": "onetime", "status": None}, "/query/status <- status is null"),
    ({"type": "onetime", "name": ""}, "/query/name <- name is an empty string"),
    ({"type": "onetime", "user": "  "}, "/query/user <- user is a blank string"),
    ({"status": "stopped", "finishedBefore": None}, "/query/finishedBefore <- finishedBefore is null"),
    ({"tags": {"site": "plant-7", "env": None}}, "/query/tags/env <- tags.env is null"),
    ({"tags": {"site": "plant-7", "": "x"}}, "/query/tags/ <- tags has an empty key"),
    ({"type": "onetime", "tags": {"site": None}}, "/query/tags/site <- tags.site is null"),
]


@pytest.mark.parametrize(("query", "message"), EMPTY_BESIDE_REAL, ids=[m.split(" <-")[0] for _, m in EMPTY_BESIDE_REAL])
def test_a_field_without_constraint_beside_real_ones_is_refused_naming_it(sim: SimulatorServer, query: dict[str, Any],
                                                                           message: str) -> None:
    before = seed(sim)
    response = start(sim, body("delete", query))
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith(message), response.json()["error"]
    assert "constrains nothing" in response.json()["error"]
    assert_nothing_started(sim, before)


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_refuses_a_field_without_constraint(sim: SimulatorServer, action: str) -> None:
    before = seed(sim)
    response = start(sim, body(action, {"type": "onetime", "tags": {}}))
    assert response.status_code == 400
    assert response.json()["error"].startswith("/query/tags <- ")
    assert_nothing_started(sim, before)


def test_every_field_without_constraint_is_named(sim: SimulatorServer) -> None:
    response = start(sim, body("stop", {"type": "onetime", "name": "", "tags": {"env": None}}))
    error = response.json()["error"]
    assert error.startswith("/query/name <- ") and "/query/tags/env" in error


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"tags": {"site": "plant-7"}}, {"a"}),
        ({"type": "onetime"}, {"a", "c"}),
        ({"type": "onetime", "status": "failed"}, {"c"}),
        ({"name": "b"}, {"b"}),  # put_tasks names a task after its id
        ({"ids": []}, set()),
        ({"ids": ["a", "b"]}, {"a", "b"}),
    ],
)
def test_queries_that_constrain_still_run(sim: SimulatorServer, query: dict[str, Any], expected: set[str]) -> None:
    seed(sim)
    finished = run_batch_at(sim, BATCH, body("reload", query), auth_headers(sim))
    assert set(finished["results"]["success"]) == expected


def test_action_parameters_are_still_checked_before_the_query_constraint(sim: SimulatorServer) -> None:
    response = start(sim, {"entity": "task", "action": "updatePlugins", "query": {}})
    assert response.status_code == 400 and response.json()["error"].startswith("/actionParameters <- ")


def test_the_refused_bodies_follow_the_spec_and_the_answer_is_its_400(sim: SimulatorServer) -> None:
    """The spec accepts these bodies (every BatchQuery field is optional): the refusal is the simulator's reading."""
    queries: list[dict[str, Any]] = [{"tags": {}}, {"status": "stopped", "tags": {}}]
    for query in queries:
        spec = body("delete", query)
        validate_request_body(SPEC, "POST", BATCH, spec)
        response = start(sim, spec)
        validate_response(SPEC, "POST", BATCH, response.status_code, response.json())


# --- 2. the control routes are documented ------------------------------------------------------


def control_routes() -> list[tuple[str, str]]:
    """(method, path) of every control route the application serves."""
    found = []
    for route in create_app().routes:
        path = getattr(route, "path", "")
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            found += [(method, path) for method in sorted(getattr(route, "methods", ()) or ()) if method != "HEAD"]
    return found


CONTROL_ROUTES = control_routes()


def test_the_app_has_control_routes_to_document() -> None:
    paths = {path for _, path in CONTROL_ROUTES}
    assert {"/_sim/faults", "/_sim/counters", "/_sim/reset", "/_sim/config", "/_sim/registry/jobs/release"} <= paths


@pytest.fixture(scope="module")
def help_text() -> str:
    result = subprocess.run([sys.executable, "-m", "airflow_provider_batchops.simulator", "--help"],
                            cwd=REPO, capture_output=True, text=True, timeout=60, check=True)
    return result.stdout


@pytest.mark.parametrize(("method", "path"), CONTROL_ROUTES, ids=[f"{m} {p}" for m, p in CONTROL_ROUTES])
def test_help_lists_every_control_route_on_a_line_of_its_own(help_text: str, method: str, path: str) -> None:
    line = re.compile(rf"^ +{method} +{re.escape(path)} +\S", re.MULTILINE)
    assert line.search(help_text), f"--help does not list {method} {path}"


def test_help_explains_every_fault_kind_and_setting(help_text: str) -> None:
    from airflow_provider_batchops.simulator.app import RUNTIME_SETTINGS
    from airflow_provider_batchops.simulator.faults import FAULT_KINDS

    for word in (*FAULT_KINDS, *RUNTIME_SETTINGS, "retry_after", "delay", "times", "after_events"):
        assert re.search(rf"\b{word}\b", help_text), word


@pytest.mark.parametrize(("method", "path"), CONTROL_ROUTES, ids=[f"{m} {p}" for m, p in CONTROL_ROUTES])
def test_the_readme_lists_every_control_route(method: str, path: str) -> None:
    rows = [line for line in (REPO / "README.md").read_text().splitlines() if line.startswith("| `")]
    whole = re.compile(re.escape(path) + r"(?![\w/])")
    cells = [row.split("|")[1] for row in rows if whole.search(row.split("|")[1])]
    assert cells, f"the README's control route table has no row for {path}"
    assert any(re.search(rf"\b{method}\b", cell) for cell in cells), f"the README does not list {method} {path}"


# --- 4. a held registry job, and the stream counts ----------------------------------------------


def _job_state(sim: SimulatorServer, job_type: str, job_id: str) -> str:
    url = f"{sim.url}/registry/v2/jobs/{job_type}/{quote(job_id, safe='')}"
    response = requests.get(url, headers=auth_headers(sim), timeout=TIMEOUT)
    return str(response.json()["job"]["state"])


def test_a_held_job_stays_queued_until_released_then_its_events_are_streamed(sim: SimulatorServer) -> None:
    created = sim.client.call("POST", "registry/jobs", {"type": "verify", "children": True, "hold": True,
                                                      "step_delay": 0.1})
    assert created.status_code == 201, created.text
    job = created.json()
    time.sleep(0.6)  # more than the job's whole run would take
    assert _job_state(sim, "verify", job["id"]) == "waiting-children"
    assert {_job_state(sim, c["type"], c["id"]) for c in job["children"]} == {"waiting"}

    params = {"type": "verify", "id": job["id"], "children": "true"}
    with requests.get(f"{sim.url}/registry/v2/jobs/events", params=params, headers=auth_headers(sim),
                      stream=True, timeout=TIMEOUT) as stream:
        reader = SSEReader(stream)
        assert [m.event for m in reader.events(1)] == ["ack"]
        assert sim.client.call("GET", "registry/streams").json() == {"opened": 1, "open": 1, "job_events_sent": 0}
        released = sim.client.call("POST", "registry/jobs/release", {"type": "verify", "id": job["id"]})
        assert released.status_code == 200 and released.json()["id"] == job["id"]
        events = [m.event for m in reader.events(10)]
    assert events == ["active", "completed", "active", "completed", "active", "completed", "close"]
    assert _job_state(sim, "verify", job["id"]) == "completed"
    stats = sim.client.call("GET", "registry/streams").json()
    assert stats["opened"] == 1 and stats["job_events_sent"] == 6
    sim.client.call("POST", "reset")
    assert sim.client.call("GET", "registry/streams").json()["job_events_sent"] == 0


def test_release_refuses_unknown_jobs_jobs_not_held_and_bad_bodies(sim: SimulatorServer) -> None:
    running = sim.create_job(type="build")
    assert sim.client.call("POST", "registry/jobs/release", {"type": "build", "id": "nope"}).status_code == 404
    not_held = sim.client.call("POST", "registry/jobs/release", {"type": "build", "id": running["id"]})
    assert not_held.status_code == 409 and "not held" in not_held.json()["error"]
    assert sim.client.call("POST", "registry/jobs/release", ["build"]).status_code == 400
    bad_hold = sim.client.call("POST", "registry/jobs", {"type": "build", "hold": "yes"})
    assert bad_hold.status_code == 400 and "hold" in bad_hold.json()["error"]


def test_the_server_helpers_release_a_held_job(sim: SimulatorServer) -> None:
    job = sim.create_job(type="build", hold=True, step_delay=0.05)
    time.sleep(0.2)
    assert _job_state(sim, "build", job["id"]) == "waiting"
    sim.release_job("build", job["id"])
    deadline = time.monotonic() + 5
    while _job_state(sim, "build", job["id"]) != "completed":
        assert time.monotonic() < deadline, "the released job did not complete"
        time.sleep(0.05)
    assert sim.stream_stats() == {"opened": 0, "open": 0, "job_events_sent": 0}
