"""The simulator's resources bulk delete API through real HTTP: semantics, store, control routes, conformance."""

from __future__ import annotations

import random
import re
import time
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pytest
import requests

from airflow_provider_batchops.simulator import SimulatorConfig, SimulatorServer, create_app
from tests.support.conformance import (
    RESOURCES,
    assert_rejected_request,
    assert_rejected_response,
    validate_request_body,
    validate_response,
)
from tests.support.fixtures_simulator import auth_headers, get, run_batch_at, wait_finished

SPEC = RESOURCES
BATCH = "/resources/v1/batch"
STATUS = "/resources/v1/batch/{batchId}"
TIMEOUT = 5
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

TYPES = [{"id": "rt-site"}, {"id": "rt-pump", "name": "Pump"}, {"id": "rt-unused"}]
RESOURCES = [
    {"id": "site-a", "resourceTypeId": "rt-site"},
    {"id": "pump-1", "resourceTypeId": "rt-pump", "parentId": "site-a"},
    {"id": "pump-2", "resourceTypeId": "rt-pump", "parentId": "site-a"},
    {"id": "site-b", "resourceTypeId": "rt-site"},
    {"id": "gauge", "resourceTypeId": "rt-pump", "watches": {"$ref": "/resources/site-b"}},
    {"id": "loner", "resourceTypeId": "rt-pump"},
]


def seconds(stamp: str) -> float:
    assert ISO_MS.match(stamp), stamp
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def delete_body(*ids: str, entity: str = "resource", cascade: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"entity": entity, "action": "delete", "query": {"ids": list(ids)}}
    if cascade is not None:
        body["actionParameters"] = {"cascade": cascade}
    return body


def start(sim: SimulatorServer, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(f"{sim.url}{BATCH}", json=body, headers=headers or auth_headers(sim), timeout=TIMEOUT)


def run_batch(sim: SimulatorServer, body: dict[str, Any]) -> dict[str, Any]:
    return run_batch_at(sim, BATCH, body, auth_headers(sim))


def listing(sim: SimulatorServer, what: str) -> list[dict[str, Any]]:
    read = {"resources": sim.client.resources, "resourcetypes": sim.client.resource_types, "rules/tasks": sim.client.tasks}
    items: list[dict[str, Any]] = read[what]()
    return items


def ids(sim: SimulatorServer, what: str = "resources") -> set[str]:
    return {item["id"] for item in listing(sim, what)}


@pytest.fixture
def known(sim: SimulatorServer) -> SimulatorServer:
    """The simulator holding only :data:`TYPES` and :data:`RESOURCES`."""
    sim.put_resource_types(TYPES, replace=True)
    sim.put_resources(RESOURCES, replace=True)
    return sim


# --- starting and finishing ----------------------------------------------------------------


def test_start_answers_202_with_location_and_the_operation(known: SimulatorServer) -> None:
    response = start(known, delete_body("pump-1", "loner"))
    assert response.status_code == 202
    body = response.json()
    assert response.headers["Location"] == body["uri"] == f"{BATCH}/{body['entity']['id']}"
    assert body["statusCode"] == 202
    entity = body["entity"]
    assert UUID.match(entity["user"])  # no "user/" prefix, unlike rules
    assert abs(seconds(entity["queueTime"]) - time.time()) < 5
    assert entity["operation"] == {"entity": "resource", "action": "delete", "description": "deleting 2 resources"}
    assert set(entity) == {"id", "user", "queueTime", "operation"}


def test_a_batch_runs_then_finishes_once_after_the_delay(known: SimulatorServer) -> None:
    known.configure(batch_delay=0.3)
    headers = auth_headers(known)
    started = start(known, delete_body("loner"), headers)
    uri = started.headers["Location"]
    running = get(known, uri, headers).json()
    assert running == started.json()["entity"]
    assert "loner" in ids(known)  # nothing happens before the delay
    finished = wait_finished(known, uri, headers)
    assert seconds(finished["finishedTime"]) - seconds(finished["queueTime"]) >= 0.29
    assert finished["results"] == {"success": {"loner": {"statusCode": 204}}, "failure": {}}
    assert get(known, uri, headers).json() == finished
    assert "loner" not in ids(known)


def test_a_parent_fails_while_a_child_remains(known: SimulatorServer) -> None:
    result = run_batch(known, delete_body("site-a", "pump-1"))
    assert result["results"]["success"] == {"pump-1": {"statusCode": 204}}
    assert result["results"]["failure"] == {
        "site-a": {"statusCode": 400, "error": "Resource is still parent of or referenced by 1 resource(s)"}
    }
    assert {"site-a", "pump-2"} <= ids(known) and "pump-1" not in ids(known)


def test_children_deleted_in_the_same_batch_unblock_their_parent(known: SimulatorServer) -> None:
    result = run_batch(known, delete_body("site-a", "pump-1", "pump-2"))  # parent listed first
    assert set(result["results"]["success"]) == {"site-a", "pump-1", "pump-2"}
    assert result["results"]["failure"] == {}
    assert ids(known) == {"site-b", "gauge", "loner"}


def test_a_reference_blocks_like_a_child(known: SimulatorServer) -> None:
    blocked = run_batch(known, delete_body("site-b"))
    assert blocked["results"]["failure"]["site-b"]["error"] == "Resource is still parent of or referenced by 1 resource(s)"
    freed = run_batch(known, delete_body("site-b", "gauge"))
    assert set(freed["results"]["success"]) == {"site-b", "gauge"}


def test_a_blocked_child_keeps_every_ancestor(known: SimulatorServer) -> None:
    chain = [{"id": "top"}, {"id": "mid", "parentId": "top"}, {"id": "low", "parentId": "mid"},
             {"id": "leaf", "parentId": "low"}]
    known.put_resources(chain, replace=True)
    result = run_batch(known, delete_body("top", "mid", "low"))
    assert result["results"]["success"] == {}
    assert set(result["results"]["failure"]) == {"top", "mid", "low"}
    assert all(f["statusCode"] == 400 for f in result["results"]["failure"].values())
    assert ids(known) == {"top", "mid", "low", "leaf"}
    done = run_batch(known, delete_body("top", "mid", "low", "leaf"))
    assert len(done["results"]["success"]) == 4 and ids(known) == set()


def test_unknown_and_duplicate_ids(known: SimulatorServer) -> None:
    result = run_batch(known, delete_body("ghost", "loner", "loner"))
    assert result["results"]["success"] == {"loner": {"statusCode": 204}}
    assert result["results"]["failure"] == {"ghost": {"statusCode": 404, "error": "Resource ghost not found"}}
    assert result["operation"]["description"] == "deleting 2 resources"


def test_resource_types_still_in_use_cannot_be_deleted(known: SimulatorServer) -> None:
    result = run_batch(known, delete_body("rt-pump", "rt-unused", "rt-ghost", entity="resourcetype"))
    assert result["operation"] == {"entity": "resourcetype", "action": "delete",
                                   "description": "deleting 3 resource types"}
    assert result["results"]["success"] == {"rt-unused": {"statusCode": 204}}
    assert result["results"]["failure"] == {
        "rt-pump": {"statusCode": 400, "error": "Resource type is still used by 4 resource(s)"},
        "rt-ghost": {"statusCode": 404, "error": "Resource type rt-ghost not found"},
    }
    assert ids(known, "resourcetypes") == {"rt-site", "rt-pump"}
    run_batch(known, delete_body("pump-1", "pump-2", "gauge", "loner"))
    again = run_batch(known, delete_body("rt-pump", entity="resourcetype"))
    assert again["results"]["success"] == {"rt-pump": {"statusCode": 204}}


def test_cascade_tasks_deletes_the_tasks_of_deleted_resources(known: SimulatorServer) -> None:
    known.put_tasks([{"id": "t-loner", "resource": "loner"}, {"id": "t-pump", "resource": "pump-1"},
                     {"id": "t-site", "resource": "site-a"}], replace=True)
    run_batch(known, delete_body("loner", cascade=["tasks", "alarms"]))
    run_batch(known, delete_body("pump-1"))
    blocked = run_batch(known, delete_body("site-a", cascade=["tasks"]))
    assert "site-a" in blocked["results"]["failure"]
    assert {task["id"] for task in listing(known, "rules/tasks")} == {"t-pump", "t-site"}


def test_ten_thousand_ids_finish_in_one_batch_quickly(sim: SimulatorServer) -> None:
    items = [{"id": f"p-{i}", "resourceTypeId": "rt-bulk"} for i in range(100)]
    items += [{"id": f"c-{i}-{j}", "parentId": f"p-{i}", "resourceTypeId": "rt-bulk"}
              for i in range(100) for j in range(99)]
    response = requests.post(f"{sim.url}/_sim/resources?replace=true", json=items, timeout=30)
    assert response.json() == {"stored": 10_000, "total": 10_000}
    all_ids = [item["id"] for item in items]  # every parent before its children: the worst order
    sim.configure(batch_delay=0.1)
    began = time.monotonic()
    result = run_batch(sim, delete_body(*all_ids))
    elapsed = time.monotonic() - began
    assert len(result["results"]["success"]) == 10_000 and result["results"]["failure"] == {}
    assert result["operation"]["description"] == "deleting 10000 resources"
    assert elapsed < 5.0, f"10,000 ids took {elapsed:.2f} s"
    assert ids(sim) == set()


# --- invalid requests ----------------------------------------------------------------------

INVALID_BODIES = [
    (delete_body("a") | {"action": "dlte"}, "/action <- invalid action for resource entity: dlte"),
    (delete_body("a") | {"entity": "resources"}, "/entity <- "),
    (delete_body("a", entity="resourcetype") | {"action": "remove"}, "/action <- "),
    ({"entity": "resource", "action": "delete"}, "/query <- "),
    (delete_body() | {"query": {}}, "/query/ids <- "),
    (delete_body(), "/query/ids <- "),
    (delete_body() | {"query": {"ids": "a"}}, "/query/ids <- "),
    (delete_body() | {"query": {"ids": ["a", 1]}}, "/query/ids/1 <- "),
    (delete_body() | {"query": {"ids": ["a"], "name": "x"}}, "/query/name <- "),
    (delete_body("a") | {"actionParameters": {}}, "/actionParameters/cascade <- "),
    (delete_body("a", cascade=["alarms", "events"]), "/actionParameters/cascade/1 <- "),
    (delete_body("a", entity="resourcetype", cascade=["alarms"]), "/actionParameters <- "),
    ({"entity": "resource", "action": "patchOrInsert", "query": {"resources": [{"id": "a"}]}},
     "/action <- patchOrInsert is not supported by the simulator"),
    (delete_body("a") | {"colour": "red"}, "/colour <- "),
    (["entity", "resource"], "/ <- "),
]


@pytest.mark.parametrize(("body", "message"), INVALID_BODIES)
def test_invalid_bodies_get_400_naming_the_field(sim: SimulatorServer, body: Any, message: str) -> None:
    response = start(sim, body)
    assert response.status_code == 400
    assert response.json()["statusCode"] == 400
    assert response.json()["error"].startswith(message), response.json()["error"]


def test_a_body_that_is_not_json_gets_400(sim: SimulatorServer) -> None:
    response = requests.post(f"{sim.url}{BATCH}", data="nope", headers=auth_headers(sim), timeout=TIMEOUT)
    assert response.status_code == 400 and response.json()["error"].startswith("/ <- ")


@pytest.mark.parametrize("batch_id", ["no-such-batch", "a/b", "what?x=1", "$weird$", "%41"])
def test_unknown_batch_ids_get_404_naming_the_literal_id(sim: SimulatorServer, batch_id: str) -> None:
    response = get(sim, f"{BATCH}/{quote(batch_id, safe='')}", auth_headers(sim))
    assert response.status_code == 404
    assert response.json() == {"statusCode": 404, "error": f"Operation with id '{batch_id}' not found"}


def test_rules_batches_are_not_resources_batches(sim: SimulatorServer) -> None:
    headers = auth_headers(sim)
    rules = requests.post(f"{sim.url}/rules/v1/batch",
                          json={"entity": "task", "action": "reload", "query": {"ids": []}},
                          headers=headers, timeout=TIMEOUT)
    batch_id = rules.json()["entity"]["id"]
    assert get(sim, f"{BATCH}/{batch_id}", headers).status_code == 404
    assert get(sim, f"/rules/v1/batch/{batch_id}", headers).status_code == 200


def test_calls_without_credentials_get_401(sim: SimulatorServer) -> None:
    assert start(sim, delete_body("a"), {"Authorization": "Bearer nope"}).status_code == 401
    response = get(sim, f"{BATCH}/x", {})
    assert response.status_code == 401 and response.json()["statusCode"] == 401


def test_counters_and_faults_cover_the_resources_routes(known: SimulatorServer) -> None:
    headers = auth_headers(known)
    known.add_fault(route="POST /resources/v1/batch", kind="status", status=503, times=1)
    assert start(known, delete_body("loner"), headers).status_code == 503
    uri = start(known, delete_body("loner"), headers).headers["Location"]
    get(known, uri, headers)
    get(known, f"{BATCH}/nothing", headers)
    counters = known.counters()
    assert counters["requests"]["POST /resources/v1/batch"] == 2
    assert counters["requests"][f"GET {STATUS}"] == 2
    assert counters["statuses"]["POST /resources/v1/batch 503"] == 1
    assert counters["statuses"]["POST /resources/v1/batch 202"] == 1
    assert counters["statuses"][f"GET {STATUS} 404"] == 1


# --- store and control routes --------------------------------------------------------------


def test_the_seeded_store_is_deterministic_with_parents_references_and_types() -> None:
    first = create_app(SimulatorConfig(seed=7, resources=300)).state.sim.waylay.resources.store
    second = create_app(SimulatorConfig(seed=7, resources=300)).state.sim.waylay.resources.store
    other = create_app(SimulatorConfig(seed=8, resources=300)).state.sim.waylay.resources.store
    assert first.resources == second.resources and first.types == second.types
    assert first.resources != other.resources
    resources = list(first.resources.values())
    assert len(resources) == 300 and len({r["id"] for r in resources}) == 300
    with_parent = [r for r in resources if "parentId" in r]
    assert 100 < len(with_parent) < 250
    assert all(first.resources[r["parentId"]]["resourceTypeId"] == "rt-site" for r in with_parent)
    assert any("connectedTo" in r for r in resources)
    used = {r["resourceTypeId"] for r in resources}
    assert used < set(first.types) and "rt-retired" not in used
    assert len(create_app(SimulatorConfig(resources=0)).state.sim.waylay.resources.store.resources) == 0


def test_the_session_store_holds_the_seeded_resources(sim: SimulatorServer) -> None:
    resources = listing(sim, "resources")
    assert len(resources) == 300 and all(r["name"] and r["resourceTypeId"] for r in resources)
    result = run_batch(sim, delete_body("rt-retired", "rt-site", entity="resourcetype"))
    assert set(result["results"]["success"]) == {"rt-retired"}
    assert "still used by" in result["results"]["failure"]["rt-site"]["error"]


def test_control_routes_put_and_replace_resources_and_types(sim: SimulatorServer) -> None:
    base = f"{sim.url}/_sim"
    added = requests.post(f"{base}/resources", json=[{"id": "extra", "parentId": "site-001"}], timeout=TIMEOUT)
    assert added.json() == {"stored": 1, "total": 301}
    assert requests.post(f"{base}/resources?replace=true", json=[{"id": "only"}], timeout=TIMEOUT).json() == {
        "stored": 1, "total": 1}
    assert listing(sim, "resources") == [{"id": "only", "name": "only"}]
    assert requests.post(f"{base}/resourcetypes?replace=true", json=[{"id": "t"}], timeout=TIMEOUT).json() == {
        "stored": 1, "total": 1}
    assert listing(sim, "resourcetypes") == [{"id": "t", "name": "t"}]
    assert sim.put_resource_types([{"id": "u", "name": "U"}]) == 2
    assert sim.put_resources([{"id": "two", "resourceTypeId": "u"}]) == 2


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("resources", {"id": "x"}),
        ("resources", [{"name": "no id"}]),
        ("resources", [{"id": ""}]),
        ("resources", [{"id": "x", "parentId": 3}]),
        ("resourcetypes", ["rt"]),
    ],
)
def test_control_routes_refuse_bad_lists(sim: SimulatorServer, path: str, body: Any) -> None:
    response = requests.post(f"{sim.url}/_sim/{path}", json=body, timeout=TIMEOUT)
    assert response.status_code == 400 and response.json()["error"]


def test_reset_with_state_reseeds_the_resources(sim: SimulatorServer) -> None:
    sim.put_resources([{"id": "only"}], replace=True)
    sim.reset(state=True)
    assert len(ids(sim)) == 300


# --- conformance: the vendor's models (and the spec when present) ----------------------------------------------


@pytest.mark.parametrize(
    "body",
    [delete_body("pump-1", "loner"), delete_body("loner", cascade=["alarms", "measurements", "tasks"]),
     delete_body("rt-unused", entity="resourcetype")],
)
def test_the_request_bodies_and_202_conform(known: SimulatorServer, body: dict[str, Any]) -> None:
    validate_request_body(SPEC, "POST", BATCH, body)
    response = start(known, body)
    assert response.status_code == 202
    validate_response(SPEC, "POST", BATCH, 202, response.json())


def test_running_and_finished_bodies_conform(known: SimulatorServer) -> None:
    known.configure(batch_delay=0.3)
    headers = auth_headers(known)
    uri = start(known, delete_body("site-a", "loner", "ghost"), headers).headers["Location"]
    running = get(known, uri, headers)
    assert "results" not in running.json()
    validate_response(SPEC, "GET", STATUS, running.status_code, running.json())
    finished = wait_finished(known, uri, headers)
    assert finished["results"]["success"] and len(finished["results"]["failure"]) == 2
    validate_response(SPEC, "GET", STATUS, 200, finished)


@pytest.mark.parametrize(("body", "message"), INVALID_BODIES[:4])
def test_the_400_body_conforms(sim: SimulatorServer, body: Any, message: str) -> None:
    response = start(sim, body)
    validate_response(SPEC, "POST", BATCH, response.status_code, response.json())


def test_the_404_body_conforms(sim: SimulatorServer) -> None:
    response = get(sim, f"{BATCH}/{quote('a/b$', safe='')}", auth_headers(sim))
    validate_response(SPEC, "GET", STATUS, response.status_code, response.json())


@pytest.mark.parametrize(
    "body",
    [delete_body(), delete_body("a") | {"entity": "resources"}, delete_body("a", cascade=["events"]),
     delete_body("a") | {"action": "dlte"}, {"entity": "resource", "action": "delete"}],
)
def test_the_oracles_reject_bad_resources_bodies(body: Any) -> None:
    assert_rejected_request(SPEC, "POST", BATCH, body)


@pytest.mark.parametrize(
    "body",
    [
        {"id": "x", "user": "u", "queueTime": 1, "operation": {"entity": "resource", "action": "delete",
                                                                 "description": "d"}},
        {"id": "x", "user": "4b6c0c68-7c5f-4ad8-a138-e5d9d96242ed", "queueTime": "2026-03-10T09:54:44.051Z",
         "operation": {"entity": "resource", "action": "delete", "description": "d"},
         "finishedTime": "2026-03-10T09:54:44.129Z", "results": {"success": {}, "failure": {"a": {"statusCode": 404}}}},
    ],
)
def test_the_oracles_reject_bad_resources_responses(body: Any) -> None:
    assert_rejected_response(SPEC, "GET", STATUS, 200, body)


def test_random_order_of_a_family_still_deletes_it(known: SimulatorServer) -> None:
    family = ["site-a", "pump-1", "pump-2", "site-b", "gauge", "loner"]
    random.Random(3).shuffle(family)
    result = run_batch(known, delete_body(*family))
    assert len(result["results"]["success"]) == 6 and ids(known) == set()
