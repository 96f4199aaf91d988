"""The simulator through real HTTP: auth, rules batch behaviour, counters, faults, CLI, spec conformance."""

from __future__ import annotations

import base64
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jwt
import pytest
import requests
from referencing import Registry
from referencing.jsonschema import DRAFT4

from airflow_provider_batchops.simulator import (
    SIM_API_KEY,
    SIM_API_SECRET,
    SimulatorConfig,
    SimulatorServer,
    create_app,
)
from tests.support.conformance import (
    RULES,
    assert_rejected_request,
    assert_rejected_response,
    validate_request_body,
    validate_response,
)
from tests.support.fixtures_simulator import get, run_batch_at, wait_finished
from tests.support.openapi_check import load_spec, make_validator_class, requires_spec, spec_available

SPEC = RULES
BATCH = "/rules/v1/batch"
GET_BATCH = "GET /rules/v1/batch/{batchId}"
TIMEOUT = 5
REPO = Path(__file__).resolve().parents[2]
DAY_MS = 86_400_000


def token(sim: SimulatorServer, **extra: Any) -> str:
    response = requests.post(
        f"{sim.url}/accounts/v1/tokens",
        params={"grant_type": "client_credentials"},
        json={"clientId": SIM_API_KEY, "clientSecret": SIM_API_SECRET, **extra},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def bearer(sim: SimulatorServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(sim)}"}


def start(sim: SimulatorServer, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(f"{sim.url}{BATCH}", json=body, headers=headers or bearer(sim), timeout=TIMEOUT)


def run_batch(sim: SimulatorServer, body: dict[str, Any]) -> dict[str, Any]:
    return run_batch_at(sim, BATCH, body, bearer(sim))


def seed(sim: SimulatorServer, *tasks: dict[str, Any]) -> None:
    response = sim.client.call("POST", "rules/tasks", list(tasks), params={"replace": "true"})
    assert response.status_code == 200, response.text


def task_ids(sim: SimulatorServer) -> set[str]:
    return {task["id"] for task in sim.client.tasks()}


NOW_MS = int(time.time() * 1000)
KNOWN_TASKS = [
    {"id": "p-run", "type": "periodic", "status": "running", "createdTime": NOW_MS - 50 * DAY_MS,
     "plugins": ["mySensor:1.0.3"], "tags": {"site": "plant-7", "env": "prod"}},
    {"id": "p-stop-old", "type": "periodic", "status": "stopped", "createdTime": NOW_MS - 90 * DAY_MS,
     "finishedTime": NOW_MS - 60 * DAY_MS, "plugins": ["mySensor:2.0.0"], "tags": {"site": "plant-7"}},
    {"id": "o-stop-new", "type": "onetime", "status": "stopped", "createdTime": NOW_MS - 10 * DAY_MS,
     "finishedTime": NOW_MS - 1 * DAY_MS, "plugins": ["myActuator:1.0.0"], "tags": {"site": "plant-2"}},
    {"id": "o-fail", "type": "onetime", "status": "failed", "createdTime": NOW_MS - 30 * DAY_MS,
     "finishedTime": NOW_MS - 20 * DAY_MS, "plugins": [], "tags": {"site": "plant-7", "env": "prod"}},
]


# --- auth --------------------------------------------------------------------------------


def test_token_is_a_jwt_with_the_claims_the_sdk_reads(sim: SimulatorServer) -> None:
    raw = token(sim, renewal=True)
    claims = jwt.decode(raw, options={"verify_signature": False})
    assert claims["tenant"] and claims["sub"].startswith("users/") and claims["domain"] == "simulator.local"
    assert claims["exp"] - claims["iat"] == 3600
    assert jwt.get_unverified_header(raw)["alg"] == "HS256"
    response = get(sim, f"{BATCH}/nothing-here", {"Authorization": f"Bearer {raw}"})
    assert response.status_code == 404  # authenticated, then not found


def test_basic_auth_with_key_and_secret_is_accepted(sim: SimulatorServer) -> None:
    response = requests.post(
        f"{sim.url}{BATCH}",
        json={"entity": "task", "action": "reload", "query": {"ids": []}},
        auth=(SIM_API_KEY, SIM_API_SECRET),
        timeout=TIMEOUT,
    )
    assert response.status_code == 202


@pytest.mark.parametrize(
    ("params", "body"),
    [
        ({"grant_type": "client_credentials"}, {"clientId": SIM_API_KEY, "clientSecret": "wrong"}),
        ({"grant_type": "client_credentials"}, {"clientId": "0" * 24, "clientSecret": SIM_API_SECRET}),
        ({"grant_type": "password"}, {"clientId": SIM_API_KEY, "clientSecret": SIM_API_SECRET}),
        ({}, {"clientId": SIM_API_KEY, "clientSecret": SIM_API_SECRET}),
        ({"grant_type": "client_credentials"}, ["not", "an", "object"]),
    ],
)
def test_bad_token_requests_are_refused(sim: SimulatorServer, params: dict[str, str], body: Any) -> None:
    response = requests.post(f"{sim.url}/accounts/v1/tokens", params=params, json=body, timeout=TIMEOUT)
    assert response.status_code == 401
    assert response.json()["statusCode"] == 401 and response.json()["error"]


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer not-a-jwt",
        "Bearer " + jwt.encode({"sub": "users/x", "exp": int(time.time()) + 600}, "another-signing-key-of-32-bytes!", algorithm="HS256"),
        "Basic " + base64.b64encode(f"{SIM_API_KEY}:wrong".encode()).decode(),
        "Basic %%%",
        "Digest abc",
    ],
)
def test_api_calls_without_valid_credentials_get_401(sim: SimulatorServer, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = requests.post(
        f"{sim.url}{BATCH}", json={"entity": "task", "action": "reload", "query": {}}, headers=headers, timeout=TIMEOUT
    )
    assert response.status_code == 401
    assert response.json()["statusCode"] == 401 and response.json()["error"]
    assert get(sim, f"{BATCH}/x", headers).status_code == 401


def test_revoked_tokens_are_refused_and_new_ones_work(sim: SimulatorServer) -> None:
    headers = bearer(sim)
    assert get(sim, f"{BATCH}/x", headers).status_code == 404
    sim.client.expire_tokens()
    refused = get(sim, f"{BATCH}/x", headers)
    assert refused.status_code == 401 and refused.json()["statusCode"] == 401
    assert get(sim, f"{BATCH}/x", bearer(sim)).status_code == 404


def test_tokens_expire_after_their_ttl(sim: SimulatorServer) -> None:
    sim.client.configure(token_ttl=1)
    raw = token(sim)
    headers = {"Authorization": f"Bearer {raw}"}
    assert get(sim, f"{BATCH}/x", headers).status_code == 404
    exp = jwt.decode(raw, options={"verify_signature": False})["exp"]
    assert exp - time.time() <= 1.0
    time.sleep(max(0.0, exp - time.time()) + 0.05)
    response = get(sim, f"{BATCH}/x", headers)
    assert response.status_code == 401 and "expired" in response.json()["error"].lower()


# --- batches -----------------------------------------------------------------------------


def test_start_answers_202_with_location_and_the_operation(sim: SimulatorServer) -> None:
    response = start(sim, {"entity": "task", "action": "stop", "query": {"type": "periodic", "status": "running"}})
    assert response.status_code == 202
    body = response.json()
    location = response.headers["Location"]
    assert location == body["uri"] == f"{BATCH}/{body['entity']['id']}"
    assert body["statusCode"] == 202
    entity = body["entity"]
    assert entity["user"].startswith("user/")
    assert entity["operation"] == {
        "entity": "task",
        "action": "stop",
        "description": "Stop tasks filtered by type=periodic AND status=running",
    }
    assert abs(entity["queueTime"] - time.time() * 1000) < 5000


def test_a_batch_runs_then_finishes_once_after_the_delay(sim: SimulatorServer) -> None:
    sim.client.configure(batch_delay=0.3)
    headers = bearer(sim)
    started = start(sim, {"entity": "task", "action": "stop", "query": {"status": "running"}}, headers)
    uri = started.headers["Location"]
    running = get(sim, uri, headers).json()
    assert "finishedTime" not in running and "results" not in running
    assert running == started.json()["entity"]
    finished = wait_finished(sim, uri, headers)
    assert finished["finishedTime"] - finished["queueTime"] >= 290
    assert finished["results"]["success"] and finished["results"]["failure"] == {}
    assert all(item == {"statusCode": 200} for item in finished["results"]["success"].values())
    assert get(sim, uri, headers).json() == finished  # finished exactly once; later reads agree
    statuses = {t["id"]: t["status"] for t in sim.client.tasks()}
    assert all(statuses[task_id] == "stopped" for task_id in finished["results"]["success"])


def test_delete_removes_the_tasks(sim: SimulatorServer) -> None:
    seed(sim, *KNOWN_TASKS)
    result = run_batch(sim, {"entity": "task", "action": "delete", "query": {"ids": ["p-run", "o-fail"]}})
    assert set(result["results"]["success"]) == {"p-run", "o-fail"}
    assert task_ids(sim) == {"p-stop-old", "o-stop-new"}
    again = run_batch(sim, {"entity": "task", "action": "stopAndDelete", "query": {"type": "periodic"}})
    assert set(again["results"]["success"]) == {"p-stop-old"}
    assert task_ids(sim) == {"o-stop-new"}


def test_unknown_ids_land_in_failure_with_404(sim: SimulatorServer) -> None:
    seed(sim, *KNOWN_TASKS)
    result = run_batch(sim, {"entity": "task", "action": "delete", "query": {"ids": ["p-run", "ghost-1"]}})
    assert result["results"]["success"] == {"p-run": {"statusCode": 200}}
    assert result["results"]["failure"] == {"ghost-1": {"statusCode": 404, "error": "No task with id ghost-1"}}


def test_a_fail_marker_makes_the_task_fail_and_stay(sim: SimulatorServer) -> None:
    locked = {**KNOWN_TASKS[0], "id": "locked", "fail": {"statusCode": 409, "error": "Task locked is locked"}}
    seed(sim, locked, KNOWN_TASKS[1])
    result = run_batch(sim, {"entity": "task", "action": "delete", "query": {"ids": ["locked", "p-stop-old"]}})
    assert result["results"]["failure"] == {"locked": {"statusCode": 409, "error": "Task locked is locked"}}
    assert set(result["results"]["success"]) == {"p-stop-old"}
    assert task_ids(sim) == {"locked"}


def test_fail_ratio_marks_a_share_of_the_seeded_tasks(sim: SimulatorServer) -> None:
    sim.client.configure(fail_ratio=0.5)
    failing = [t for t in sim.client.tasks() if "fail" in t]
    assert 60 <= len(failing) <= 140  # 200 tasks, half expected
    assert all(t["fail"] == {"statusCode": 409, "error": f"Task {t['id']} is locked"} for t in failing)
    result = run_batch(sim, {"entity": "task", "action": "reload", "query": {"ids": [t["id"] for t in failing]}})
    assert set(result["results"]["failure"]) == {t["id"] for t in failing}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"type": "periodic"}, {"p-run", "p-stop-old"}),
        ({"status": "stopped"}, {"p-stop-old", "o-stop-new"}),
        ({"type": "onetime", "status": "failed"}, {"o-fail"}),
        ({"finishedBefore": NOW_MS - 10 * DAY_MS}, {"p-stop-old", "o-fail"}),
        ({"createdAfter": NOW_MS - 40 * DAY_MS}, {"o-stop-new", "o-fail"}),
        ({"createdBefore": NOW_MS - 40 * DAY_MS}, {"p-run", "p-stop-old"}),
        ({"tags": {"site": "plant-7"}}, {"p-run", "p-stop-old", "o-fail"}),
        ({"tags": {"site": "plant-7", "env": "prod"}}, {"p-run", "o-fail"}),
        ({"plugin": "mySensor"}, {"p-run", "p-stop-old"}),
        ({"plugin": "mySensor:1.0.3"}, {"p-run"}),
        ({"status": "pending"}, set()),
    ],
)
def test_filters_select_the_matching_tasks(sim: SimulatorServer, query: dict[str, Any], expected: set[str]) -> None:
    seed(sim, *KNOWN_TASKS)
    result = run_batch(sim, {"entity": "task", "action": "reload", "query": query})
    assert set(result["results"]["success"]) == expected
    assert result["results"]["failure"] == {}


def test_the_task_set_is_fixed_when_the_batch_starts(sim: SimulatorServer) -> None:
    seed(sim, *KNOWN_TASKS)
    headers = bearer(sim)
    uri = start(sim, {"entity": "task", "action": "stop", "query": {"type": "onetime"}}, headers).headers["Location"]
    sim.put_tasks([{"id": "late", "type": "onetime", "status": "running"}])
    result = wait_finished(sim, uri, headers)
    assert set(result["results"]["success"]) == {"o-stop-new", "o-fail"}
    assert {t["id"]: t["status"] for t in sim.client.tasks()}["late"] == "running"


def test_start_and_update_actions_change_the_tasks(sim: SimulatorServer) -> None:
    seed(sim, *KNOWN_TASKS)
    run_batch(sim, {"entity": "task", "action": "start", "query": {"ids": ["o-fail"]}})
    run_batch(sim, {"entity": "task", "action": "updatePlugins", "query": {"ids": ["p-run"]},
                    "actionParameters": {"name": "mySensor", "fromVersion": "any", "toVersion": "2.3.4"}})
    run_batch(sim, {"entity": "task", "action": "updateProperties", "query": {"ids": ["p-run"]},
                    "actionParameters": {"tags": {"env": None, "rev": "58"}}})
    tasks = {t["id"]: t for t in sim.client.tasks()}
    assert tasks["o-fail"]["status"] == "running" and "finishedTime" not in tasks["o-fail"]
    assert tasks["p-run"]["plugins"] == ["mySensor:2.3.4"]
    assert tasks["p-run"]["tags"] == {"site": "plant-7", "rev": "58"}


def test_the_seeded_store_is_deterministic() -> None:
    config = SimulatorConfig(seed=7, tasks=50)
    first = create_app(config).state.sim
    second = create_app(config).state.sim
    second.waylay.started_ms = first.waylay.started_ms
    second.waylay.reseed()
    assert first.waylay.tasks == second.waylay.tasks
    tasks = list(first.waylay.tasks.values())
    assert len(tasks) == 50 and len({t["id"] for t in tasks}) == 50
    assert {t["type"] for t in tasks} == {"scheduled", "periodic", "onetime", "reactive"}
    assert {t["status"] for t in tasks} == {"running", "pending", "stopped", "failed"}
    assert all(first.waylay.started_ms - 120 * DAY_MS <= t["createdTime"] <= first.waylay.started_ms for t in tasks)
    assert all(("finishedTime" in t) == (t["status"] in ("stopped", "failed")) for t in tasks)
    assert all(t["createdTime"] <= t.get("finishedTime", t["createdTime"]) <= first.waylay.started_ms for t in tasks)
    other = create_app(SimulatorConfig(seed=8, tasks=50)).state.sim
    assert set(other.waylay.tasks) != set(first.waylay.tasks)


INVALID_BODIES = [
    ({"entity": "task", "action": "strt", "query": {}}, "/action <- unknown action strt, we support"),
    ({"entity": "tasks", "action": "stop", "query": {}}, "/entity <- "),
    ({"entity": "task", "action": "stop"}, "/query <- "),
    ({"entity": "task", "action": "stop", "query": {"type": "hourly"}}, "/query/type <- "),
    ({"entity": "task", "action": "stop", "query": {"status": "done"}}, "/query/status <- "),
    ({"entity": "task", "action": "stop", "query": {"finishedBefore": "yesterday"}}, "/query/finishedBefore <- "),
    ({"entity": "task", "action": "stop", "query": {"ids": "t-1"}}, "/query/ids <- "),
    ({"entity": "task", "action": "stop", "query": {"ids": ["t-1"], "type": "periodic"}}, "/query <- "),
    ({"entity": "task", "action": "stop", "query": {"colour": "red"}}, "/query/colour <- "),
    ({"entity": "task", "action": "updatePlugins", "query": {}}, "/actionParameters <- "),
    (
        {"entity": "task", "action": "updatePlugins", "query": {},
         "actionParameters": {"name": "mySensor", "fromVersion": "any", "toVersion": "latest"}},
        "/actionParameters/toVersion <- ",
    ),
    ({"entity": "task", "action": "updateProperties", "query": {}, "actionParameters": {}}, "/actionParameters <- "),
    (["entity", "task"], "/ <- "),
]


@pytest.mark.parametrize(("body", "message"), INVALID_BODIES)
def test_invalid_bodies_get_400_naming_the_field(sim: SimulatorServer, body: Any, message: str) -> None:
    response = start(sim, body)
    assert response.status_code == 400
    assert response.json()["statusCode"] == 400
    assert response.json()["error"].startswith(message), response.json()["error"]


UNKNOWN_IDS = ["no-such-batch", "a/b", "what?x=1", "frag#ment", "$weird$", "a/b?c#d$e", "%41", ""]


@pytest.mark.parametrize("batch_id", UNKNOWN_IDS)
def test_unknown_batch_ids_get_404_naming_the_literal_id(sim: SimulatorServer, batch_id: str) -> None:
    response = get(sim, f"{BATCH}/{quote(batch_id, safe='')}", bearer(sim))
    assert response.status_code == 404
    assert response.json() == {"statusCode": 404, "error": f"No batch operation with id '{batch_id}'"}


# --- counters and faults -----------------------------------------------------------------


def test_counters_count_api_requests_per_route_and_status(sim: SimulatorServer) -> None:
    headers = bearer(sim)
    uri = start(sim, {"entity": "task", "action": "reload", "query": {"ids": []}}, headers).headers["Location"]
    get(sim, uri, headers)
    get(sim, f"{BATCH}/{quote('x/y', safe='')}", headers)
    requests.get(f"{sim.url}/nowhere", timeout=TIMEOUT)
    sim.client.health()
    counters = sim.client.counters()
    assert counters["requests"] == {
        "POST /accounts/v1/tokens": 1,
        "POST /rules/v1/batch": 1,
        GET_BATCH: 2,
        "GET <unmatched>": 1,
    }
    assert counters["statuses"][f"{GET_BATCH} 200"] == 1
    assert counters["statuses"][f"{GET_BATCH} 404"] == 1
    assert counters["statuses"]["POST /rules/v1/batch 202"] == 1
    assert counters["total"] == 5
    assert sim.counters() == counters
    sim.client.reset()
    assert sim.client.counters() == {"requests": {}, "statuses": {}, "total": 0}


def test_a_status_fault_answers_with_retry_after_a_limited_number_of_times(sim: SimulatorServer) -> None:
    headers = bearer(sim)
    rule = sim.client.add_fault(route=GET_BATCH, kind="status", status=503, retry_after=1, times=2)
    assert rule["times"] == 2 and rule["id"]
    for _ in range(2):
        response = get(sim, f"{BATCH}/x", headers)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert response.json() == {"statusCode": 503, "error": "simulated fault"}
    assert get(sim, f"{BATCH}/x", headers).status_code == 404
    assert start(sim, {"entity": "task", "action": "reload", "query": {"ids": []}}, headers).status_code == 202
    counters = sim.counters()
    assert counters["requests"][GET_BATCH] == 3
    assert counters["statuses"][f"{GET_BATCH} 503"] == 2
    assert sim.client.faults() == []


def test_a_fault_without_times_stays_until_cleared(sim: SimulatorServer) -> None:
    sim.add_fault(route="*", kind="status", status=429)
    for _ in range(3):
        assert requests.post(f"{sim.url}/accounts/v1/tokens", timeout=TIMEOUT).status_code == 429
    assert requests.get(f"{sim.url}/_sim/health", timeout=TIMEOUT).status_code == 200  # control routes unaffected
    assert requests.delete(f"{sim.url}/_sim/faults", timeout=TIMEOUT).json() == {"cleared": 1}
    token(sim)


def test_a_slow_fault_delays_the_answer(sim: SimulatorServer) -> None:
    headers = bearer(sim)
    sim.add_fault(route=GET_BATCH, kind="slow", delay=0.4, times=1)
    began = time.monotonic()
    assert get(sim, f"{BATCH}/x", headers).status_code == 404
    assert time.monotonic() - began >= 0.4
    began = time.monotonic()
    assert get(sim, f"{BATCH}/x", headers).status_code == 404
    assert time.monotonic() - began < 0.4


def test_a_drop_fault_breaks_the_connection(sim: SimulatorServer) -> None:
    headers = bearer(sim)
    sim.add_fault(route=GET_BATCH, kind="drop", times=1)
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        get(sim, f"{BATCH}/x", headers)
    assert get(sim, f"{BATCH}/x", headers).status_code == 404
    assert sim.counters()["requests"][GET_BATCH] == 2


def test_a_malformed_fault_answers_200_with_broken_json(sim: SimulatorServer) -> None:
    headers = bearer(sim)
    sim.add_fault(route=GET_BATCH, kind="malformed", times=1)
    response = get(sim, f"{BATCH}/x", headers)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.text)


@pytest.mark.parametrize(
    "fault",
    [{"kind": "boom"}, {"status": 42}, {"times": 0}, {"delay": -1}, {"route": ""}, {"colour": "red"}],
)
def test_invalid_faults_are_refused(sim: SimulatorServer, fault: dict[str, Any]) -> None:
    response = requests.post(f"{sim.url}/_sim/faults", json=fault, timeout=TIMEOUT)
    assert response.status_code == 400 and response.json()["error"]


def test_reset_with_state_restores_settings_and_tasks(sim: SimulatorServer) -> None:
    before = task_ids(sim)
    seed(sim, *KNOWN_TASKS)
    sim.client.configure(batch_delay=9)
    sim.client.reset(state=True)
    assert task_ids(sim) == before and len(before) == 200
    assert sim.client.config()["batch_delay"] == 0.2


# --- conformance: the vendor's models (and the spec when present) ------------------------------------------------


def test_the_202_body_conforms(sim: SimulatorServer) -> None:
    body = {"entity": "task", "action": "delete", "query": {"type": "onetime", "status": "stopped"}}
    validate_request_body(SPEC, "POST", BATCH, body)
    response = start(sim, body)
    validate_response(SPEC, "POST", BATCH, response.status_code, response.json())


def test_running_and_finished_bodies_conform(sim: SimulatorServer) -> None:
    sim.client.configure(batch_delay=0.3)
    seed(sim, *KNOWN_TASKS, {**KNOWN_TASKS[0], "id": "locked", "fail": {"statusCode": 409, "error": "locked"}})
    headers = bearer(sim)
    uri = start(sim, {"entity": "task", "action": "delete", "query": {"ids": ["p-run", "locked", "ghost"]}},
                headers).headers["Location"]
    running = get(sim, uri, headers)
    assert "results" not in running.json()
    validate_response(SPEC, "GET", "/rules/v1/batch/{batchId}", running.status_code, running.json())
    finished = wait_finished(sim, uri, headers)
    assert finished["results"]["success"] and finished["results"]["failure"]
    validate_response(SPEC, "GET", "/rules/v1/batch/{batchId}", 200, finished)


@pytest.mark.parametrize(("body", "message"), INVALID_BODIES[:3])
def test_the_400_body_conforms(sim: SimulatorServer, body: Any, message: str) -> None:
    response = start(sim, body)
    validate_response(SPEC, "POST", BATCH, response.status_code, response.json())


def test_the_404_body_conforms(sim: SimulatorServer) -> None:
    response = get(sim, f"{BATCH}/{quote('a/b?c#d$', safe='')}", bearer(sim))
    validate_response(SPEC, "GET", "/rules/v1/batch/{batchId}", response.status_code, response.json())


# --- the conformance helper itself -------------------------------------------------------


#: Examples of the rules batch spec, kept here so that the models check them without ../shared/specs.
DOCUMENTED_REQUESTS = [
    {"entity": "task", "action": "delete", "query": {"type": "onetime", "status": "stopped",
                                                    "finishedBefore": 1648738809733}},
    {"entity": "task", "action": "delete", "query": {"ids": ["4bbec310", "b637dc9c", "0cf62e41"]}},
    {"entity": "task", "action": "stop", "query": {"status": "running", "resource": "myResource"}},
    {"entity": "task", "action": "updateProperties",
     "query": {"status": "running", "template": "myChangedTemplate", "tags": {"revision": 57}},
     "actionParameters": {"variables": {"variableWithDefault": None, "newVariable": 13},
                          "tags": {"revision": 58, "dummyTag": None, "newTag": "released"}}},
]
DOCUMENTED_STATUSES = [
    {"id": "afcea5a1", "user": "user/22f6dfdf", "queueTime": 1663269720694,
     "operation": {"entity": "task", "action": "delete", "description": "Remove tasks filtered by type=onetime"}},
    {"id": "afcea5a1", "user": "user/22f6dfdf", "queueTime": 1663269720694, "finishedTime": 1663269725784,
     "operation": {"entity": "task", "action": "delete", "description": "Remove tasks filtered by type=onetime"},
     "results": {"success": {"4bbec310": {"statusCode": 200}},
                 "failure": {"0cf62e41": {"statusCode": 404, "error": "No task with id 0cf62e41"}}}},
]


def test_the_oracles_accept_the_spec_examples() -> None:
    requests_, statuses = list(DOCUMENTED_REQUESTS), list(DOCUMENTED_STATUSES)
    if spec_available(SPEC):  # the spec's own examples as well, when it is beside the checkout
        spec = load_spec(SPEC)
        examples = spec["components"]["requestBodies"]["BatchTasksSpecification"]["content"]["application/json"]
        for name, example in examples["examples"].items():
            if name != "Plugin updates":  # that example uses {updates: [...]}, which its own schema does not allow
                requests_.append(example["value"])
        responses = spec["paths"]["/rules/v1/batch/{batchId}"]["get"]["responses"]["200"]["content"]
        statuses.extend(example["value"] for example in responses["application/json"]["examples"].values())
    for body in requests_:
        validate_request_body(SPEC, "POST", BATCH, body)
    for body in statuses:
        validate_response(SPEC, "GET", "/rules/v1/batch/{batchId}", 200, body)


@pytest.mark.parametrize(
    "body",
    [
        {"entity": "task", "action": "strt", "query": {}},
        {"entity": "rule", "action": "stop", "query": {}},
        {"entity": "task", "action": "stop"},
        {"entity": "task", "action": "stop", "query": {"type": "hourly"}},
        {"entity": "task", "action": "stop", "query": {"finishedBefore": "yesterday"}},
        {"entity": "task", "action": "updatePlugins", "query": {}},
        {"entity": "task", "action": "updateProperties", "query": {}, "actionParameters": {}},
    ],
)
def test_the_oracles_reject_a_bad_request_body(body: Any) -> None:
    assert_rejected_request(SPEC, "POST", BATCH, body)


@pytest.mark.parametrize(
    ("method", "path", "status", "body"),
    [
        ("POST", BATCH, 202, {"statusCode": 202, "uri": "/x"}),
        ("POST", BATCH, 202, {"statusCode": 202, "uri": "/x", "entity": {
            "id": "x", "user": "user/u", "operation": {"entity": "task", "action": "stop"}, "queueTime": 1}}),
        ("POST", BATCH, 400, {"statusCode": "400", "error": "bad"}),
        ("GET", "/rules/v1/batch/{batchId}", 200, {"id": "x", "user": "user/u", "queueTime": 1}),
        ("GET", "/rules/v1/batch/{batchId}", 200, {
            "id": "x", "user": "user/u", "operation": {"entity": "task", "action": "stop", "description": "d"},
            "queueTime": "yesterday"}),
        ("GET", "/rules/v1/batch/{batchId}", 200, {
            "id": "x", "user": "user/u", "operation": {"entity": "task", "action": "stop", "description": "d"},
            "queueTime": 1, "finishedTime": 2, "results": {"success": {}, "failure": {"t": {"statusCode": 404}}}}),
        ("GET", "/rules/v1/batch/{batchId}", 404, {"statusCode": 404}),
        ("GET", "/rules/v1/batch/{batchId}", 500, {"statusCode": 500, "error": "undocumented status"}),
    ],
)
def test_the_oracles_reject_a_bad_response(method: str, path: str, status: int, body: Any) -> None:
    assert_rejected_response(SPEC, method, path, status, body)


def test_openapi_check_treats_nullable_as_allowing_null() -> None:
    validator_class = make_validator_class({})
    assert validator_class({"type": "string", "nullable": True}).is_valid(None)
    assert not validator_class({"type": "string"}).is_valid(None)
    assert validator_class({"type": "string", "example": 3, "x-classname": "X"}).is_valid("ok")


def test_openapi_check_tells_one_of_branches_apart_by_their_properties() -> None:
    ref = "#/components/schemas/"
    document = {"components": {"schemas": {
        "Running": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
        "Finished": {"allOf": [{"$ref": ref + "Running"},
                               {"properties": {"done": {"type": "integer"}}, "required": ["done"]}]},
        "Status": {"oneOf": [{"$ref": ref + "Finished"}, {"$ref": ref + "Running"}]},
    }}}
    registry = Registry().with_resource("https://specs.invalid/doc", DRAFT4.create_resource(document))
    validator = make_validator_class(document)({"$ref": "https://specs.invalid/doc" + ref + "Status"},
                                               registry=registry)
    assert validator.is_valid({"id": "a"}) and validator.is_valid({"id": "a", "done": 1})
    assert not validator.is_valid({"id": "a", "done": "soon"})  # checked as Finished, not passed as Running
    assert validator.is_valid({"id": "a", "extra": True})  # no branch declares "extra": any match will do
    assert not validator.is_valid({"done": 1})


def test_requires_spec_skips_when_the_spec_is_missing() -> None:
    mark = requires_spec("no-such-spec.json").mark
    assert mark.args == (True,)
    assert "../shared/specs/no-such-spec.json not found" in mark.kwargs["reason"]


# --- server and command line --------------------------------------------------------------


def test_the_server_refuses_a_non_loopback_host() -> None:
    with pytest.raises(ValueError, match="loopback"):
        SimulatorServer(SimulatorConfig(host="0.0.0.0"))


def test_the_server_is_a_context_manager_with_its_own_port() -> None:
    with SimulatorServer(SimulatorConfig(tasks=3)) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert requests.get(f"{server.url}/_sim/health", timeout=TIMEOUT).json() == {"ok": True}
        assert len(server.app_state.waylay.tasks) == 3
    assert not server.running


def test_the_cli_serves_on_a_free_port_and_writes_it(tmp_path: Path) -> None:
    port_file = tmp_path / "sim.port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_batchops.simulator", "--port", "0",
         "--port-file", str(port_file), "--tasks", "5", "--seed", str(random.randrange(1000))],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None, proc.communicate()[1].decode()
            assert time.monotonic() < deadline, "no port file within 20 s"
            time.sleep(0.05)
        port = int(port_file.read_text())
        assert port > 0
        url = f"http://127.0.0.1:{port}"
        assert requests.get(f"{url}/_sim/health", timeout=TIMEOUT).json() == {"ok": True}
        assert len(requests.get(f"{url}/_sim/rules/tasks", timeout=TIMEOUT).json()) == 5
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0
    assert not port_file.exists()


def test_the_cli_refuses_a_non_loopback_host() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_batchops.simulator", "--host", "0.0.0.0", "--port", "0"],
        cwd=REPO,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert b"loopback" in result.stderr
