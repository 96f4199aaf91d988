"""The simulator's generic parts: the service interface, the due-time queue, the control client, faults.

The generic modules know no service; each service words its own injected error bodies; the typed
control client reaches every control route the application serves.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
import requests

from airflow_provider_batchops.simulator import MAMMOTH_API_KEY, MAMMOTH_API_SECRET, SimulatorServer, create_app
from airflow_provider_batchops.simulator.app import SERVICES
from airflow_provider_batchops.simulator.client import SimulatorClient
from airflow_provider_batchops.simulator.superoffice import SO_ACCESS_TOKEN
from airflow_provider_batchops.simulator.timeline import DueQueue
from tests.support.fixtures_simulator import auth_headers

SIMULATOR = Path(__file__).resolve().parents[2] / "airflow_provider_batchops" / "simulator"
TIMEOUT = 5
MAMMOTH_HEADERS = {"X-API-KEY": MAMMOTH_API_KEY, "X-API-SECRET": MAMMOTH_API_SECRET}
SO_HEADERS = {"Authorization": f"Bearer {SO_ACCESS_TOKEN}"}


# --- the due-time queue ---------------------------------------------------------------------------


def test_the_queue_gives_due_items_in_time_order_and_ties_in_push_order() -> None:
    queue: DueQueue[str] = DueQueue()
    for at, item in ((3.0, "c"), (1.0, "a1"), (2.0, "b"), (1.0, "a2"), (9.0, "late")):
        queue.push(at, item)
    assert len(queue) == 5 and queue.next_due() == 1.0
    assert list(queue.pop_due(3.0)) == [(1.0, "a1"), (1.0, "a2"), (2.0, "b"), (3.0, "c")]
    assert list(queue.pop_due(8.9)) == [] and queue.next_due() == 9.0
    queue.clear()
    assert len(queue) == 0 and queue.next_due() is None and list(queue.pop_due(100.0)) == []


def test_items_pushed_while_taking_are_taken_when_due() -> None:
    queue: DueQueue[int] = DueQueue()
    queue.push(1.0, 1)
    taken = []
    for at, item in queue.pop_due(5.0):
        taken.append(item)
        if item < 3:
            queue.push(at + 1.0, item + 1)  # a step that plans the next one
    assert taken == [1, 2, 3]


def test_the_queue_is_safe_across_threads() -> None:
    queue: DueQueue[int] = DueQueue()

    def push(offset: int) -> None:
        for n in range(500):
            queue.push(float(n), offset + n)

    threads = [threading.Thread(target=push, args=(k * 1000,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    times = [at for at, _ in queue.pop_due(1e9)]
    assert len(times) == 2000 and times == sorted(times)


# --- the service interface ------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["app.py", "control.py", "middleware.py", "faults.py", "service.py",
                                    "timeline.py", "http.py", "sse.py", "server.py", "client.py"])
def test_generic_modules_reach_into_no_service_module(module: str) -> None:
    text = (SIMULATOR / module).read_text()
    imports = re.findall(r"^\s*from \.+(\w+)", text, re.MULTILINE)
    services = {"waylay", "mammoth", "superoffice"}
    allowed = services if module == "app.py" else set()  # the application assembles the services
    assert not (set(imports) & services) - allowed, f"{module} imports a service module"
    if module not in ("app.py", "server.py", "client.py"):
        assert not re.search(r"waylay|mammoth|superoffice|registry", text, re.IGNORECASE), module


def test_no_service_code_reads_the_application_state() -> None:
    for path in SIMULATOR.rglob("*.py"):
        if path.parent != SIMULATOR:
            assert "app.state" not in path.read_text(), path


def test_no_module_is_over_400_lines_without_saying_why() -> None:
    for path in SIMULATOR.rglob("*.py"):
        lines = path.read_text().splitlines()
        assert len(lines) <= 400 or "over 400 lines" in "\n".join(lines[:15]), f"{path} has {len(lines)} lines"


def test_every_service_declares_its_parts_and_its_settings_are_distinct() -> None:
    names = [service.name for service in SERVICES]
    assert names == ["waylay", "superoffice", "mammoth"]
    settings = [setting.name for service in SERVICES for setting in service.settings]
    assert len(settings) == len(set(settings))
    sim = create_app().state.sim
    for service in SERVICES:
        assert service.routers, service.name
        assert getattr(sim, service.name) is sim.services[service.name].state


def test_every_service_documents_exactly_its_own_control_routes() -> None:
    for service in SERVICES:
        served = {(method, route.path) for router in service.control_routers for route in router.routes
                  for method in getattr(route, "methods", ()) if method != "HEAD"}
        assert {(method, path) for method, path, _ in service.control_help} == served, service.name
        assert all(path.startswith("/_sim/") for _, path in served), service.name


def test_an_unbound_state_dependency_says_so() -> None:
    from airflow_provider_batchops.simulator.waylay.auth import waylay_state

    with pytest.raises(RuntimeError, match="bound when the simulator application is assembled"):
        waylay_state()


# --- injected faults speak each API's error shape ---------------------------------------------------


def test_an_injected_status_fault_has_the_error_body_of_the_api_it_hits(sim: SimulatorServer) -> None:
    for route in ("GET /rules/v1/batch/{batchId}", "GET /api/v2/jobs/{job_id}", "GET /api/v1/BatchTask/{key}"):
        sim.client.add_fault(route=route, status=503, times=1)
    waylay = requests.get(f"{sim.url}/rules/v1/batch/x", headers=auth_headers(sim), timeout=TIMEOUT)
    mammoth = requests.get(f"{sim.url}/api/v2/jobs/1", headers=MAMMOTH_HEADERS, timeout=TIMEOUT)
    superoffice = requests.get(f"{sim.url}/api/v1/BatchTask/1", headers=SO_HEADERS, timeout=TIMEOUT)
    assert waylay.status_code == mammoth.status_code == superoffice.status_code == 503
    assert waylay.json() == {"statusCode": 503, "error": "simulated fault"}
    assert mammoth.json() == {"status_code": 503, "detail": "simulated fault"}
    assert superoffice.json()["ErrorMessage"] == "simulated fault" and superoffice.json()["Error"] is True


def test_a_malformed_fault_is_truncated_json_on_every_api(sim: SimulatorServer) -> None:
    sim.client.add_fault(kind="malformed", times=3)
    answers = [
        requests.get(f"{sim.url}/rules/v1/batch/x", headers=auth_headers(sim), timeout=TIMEOUT),
        requests.get(f"{sim.url}/api/v2/jobs/1", headers=MAMMOTH_HEADERS, timeout=TIMEOUT),
        requests.get(f"{sim.url}/api/v1/BatchTask/1", headers=SO_HEADERS, timeout=TIMEOUT),
    ]
    for answer in answers:
        assert answer.status_code == 200
        with pytest.raises(ValueError):
            json.loads(answer.text)


def test_a_cut_fault_applies_to_the_event_stream_only(sim: SimulatorServer) -> None:
    rule = sim.client.add_fault(kind="cut", after_events=1)
    job = requests.get(f"{sim.url}/rules/v1/batch/x", headers=auth_headers(sim), timeout=TIMEOUT)
    assert job.status_code == 404  # the rule passed over this route: not a streaming one
    assert sim.client.faults() == [rule]


# --- the control client ---------------------------------------------------------------------------


def test_the_client_reaches_every_control_route(sim: SimulatorServer) -> None:
    client = SimulatorClient(sim.url)
    assert client.health() == {"ok": True}
    assert client.configure(batch_delay=0.1)["batch_delay"] == 0.1 and client.config()["batch_delay"] == 0.1
    assert client.put_tasks([{"id": "c-1"}, {"id": "c-2"}], replace=True) == {"stored": 2, "total": 2}
    assert {t["id"] for t in client.tasks()} == {"c-1", "c-2"}
    assert client.put_resources([{"id": "r-1"}], replace=True) == {"stored": 1, "total": 1}
    assert [r["id"] for r in client.resources()] == ["r-1"]
    assert client.put_resource_types([{"id": "t-1"}], replace=True) == {"stored": 1, "total": 1}
    assert [t["id"] for t in client.resource_types()] == ["t-1"]
    job = client.create_job(type="build", hold=True)
    assert [j["id"] for j in client.registry_jobs()] == [job["id"]]
    assert client.release_job("build", job["id"])["id"] == job["id"]
    assert client.stream_stats() == {"opened": 0, "open": 0, "job_events_sent": 0}
    added = client.add_mammoth_batches(workspace_id=4, project_id=1020, dataset_id=77, count=2)
    assert added["count"] == 2 and len(client.mammoth_dataset(4, 1020, 77)["batches"]) == 2
    assert client.mammoth_jobs() == []
    rule = client.add_fault({"route": "GET /rules/v1/batch/{batchId}"}, status=502)
    assert client.faults() == [rule] and client.clear_faults() == 1
    client.expire_tokens()
    requests.get(f"{sim.url}/rules/v1/batch/x", headers=auth_headers(sim), timeout=TIMEOUT)
    assert client.requests_to("GET /rules/v1/batch/{batchId}") == 1 and client.counters()["total"] == 1
    client.reset()
    assert client.counters()["total"] == 0 and client.config()["batch_delay"] == 0.1
    client.reset(state=True)
    assert client.config()["batch_delay"] == sim.config.batch_delay and len(client.tasks()) == sim.config.tasks


def test_the_client_raises_with_the_response_on_a_refused_request(sim: SimulatorServer) -> None:
    with pytest.raises(requests.HTTPError) as refused:
        sim.client.configure(batch_delay=-1)
    assert refused.value.response is not None and refused.value.response.status_code == 400
    assert "batch_delay" in refused.value.response.json()["error"]
    assert sim.client.call("POST", "/_sim/config", {"nope": 1}).status_code == 400
