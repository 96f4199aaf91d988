"""The simulator's registry jobs API and event stream through real HTTP, including spec conformance."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from airflow_provider_batchops.simulator import SimulatorServer
from tests.support.conformance import (
    REGISTRY,
    assert_rejected_response,
    assert_rejected_schema,
    validate_response,
    validate_schema,
)
from tests.support.fixtures_simulator import Message, SSEReader, auth_headers

SPEC = REGISTRY
JOBS = "/registry/v2/jobs/"
JOB = "/registry/v2/jobs/{type}/{id}"
EVENTS = "/registry/v2/jobs/events"
TIMEOUT = 5
REPO = Path(__file__).resolve().parents[2]
DOLLAR_ID = "6ccc8843-d78d-49e8-84c4-3734a4af9929$IfM2FyNLQ8CEjQGA9w7Ht"


def job_url(sim: SimulatorServer, job_type: str, job_id: str) -> str:
    return f"{sim.url}/registry/v2/jobs/{job_type}/{quote(job_id, safe='')}"


def get_job(sim: SimulatorServer, job_type: str, job_id: str) -> requests.Response:
    return requests.get(job_url(sim, job_type, job_id), headers=auth_headers(sim), timeout=TIMEOUT)


def list_jobs(sim: SimulatorServer, **params: Any) -> requests.Response:
    return requests.get(f"{sim.url}{JOBS}", params=params, headers=auth_headers(sim), timeout=TIMEOUT)


def status(sim: SimulatorServer, job_type: str, job_id: str) -> dict[str, Any]:
    response = get_job(sim, job_type, job_id)
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()["job"]
    return job


def wait_state(sim: SimulatorServer, job_type: str, job_id: str, state: str, limit: float = 5.0) -> list[str]:
    """Poll until the job is in ``state``; return the states seen (without repeats)."""
    seen: list[str] = []
    deadline = time.monotonic() + limit
    for _ in range(1000):
        current = status(sim, job_type, job_id)["state"]
        if not seen or seen[-1] != current:
            seen.append(current)
        if current == state:
            return seen
        assert time.monotonic() < deadline, f"{job_type} {job_id} not {state} within {limit} s: {seen}"
        time.sleep(0.02)
    raise AssertionError(f"{job_type} {job_id} never reached {state}: {seen}")


def seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


@contextmanager
def stream(sim: SimulatorServer, headers: dict[str, str] | None = None, **params: Any) -> Iterator[SSEReader]:
    headers = {"Accept": "text/event-stream", **(auth_headers(sim) if headers is None else headers)}
    with requests.get(f"{sim.url}{EVENTS}", params=params, headers=headers, stream=True, timeout=(5, 5)) as response:
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/event-stream")
        yield SSEReader(response)


def payload(message: Message) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(message.data)
    return data


# --- jobs and their states ----------------------------------------------------------------------


def test_a_job_moves_from_waiting_to_active_to_completed(sim: SimulatorServer) -> None:
    ref = sim.create_job(type="build", step_delay=0.3)
    first = status(sim, "build", ref["id"])
    assert first["state"] == "waiting" and "processedAt" not in first and "result" not in first
    assert first["job"] == {"id": ref["id"], "name": "build", "progress": 0, "attemptsMade": 0}
    seen = wait_state(sim, "build", ref["id"], "completed")
    assert seen in (["waiting", "active", "completed"], ["waiting", "completed"], ["active", "completed"])
    done = status(sim, "build", ref["id"])
    assert 0.28 <= seconds(done["processedAt"]) - seconds(done["createdAt"]) <= 0.32
    assert 0.28 <= seconds(done["finishedAt"]) - seconds(done["processedAt"]) <= 0.32
    assert done["result"]["digest"].startswith("sha256:") and done["attemptsMade"] == 1
    assert done["job"]["progress"] == 100 and "failedReason" not in done["job"]


def test_a_failed_job_reports_its_reason(sim: SimulatorServer) -> None:
    verify = sim.create_job(type="verify", outcome="failed", step_delay=0)
    build = sim.create_job(type="build", outcome="failed", failed_reason="out of disk", step_delay=0)
    failed = status(sim, "verify", verify["id"])
    assert failed["state"] == "failed" and "result" not in failed
    assert failed["job"]["failedReason"] == "function not healthy after 3 attempts"
    assert status(sim, "build", build["id"])["job"]["failedReason"] == "out of disk"


def test_a_verify_job_waits_for_its_build_and_deploy_children(sim: SimulatorServer) -> None:
    ref = sim.create_job(type="verify", children=True, step_delay=0.2)
    build, deploy = ref["children"]
    assert (build["type"], deploy["type"]) == ("build", "deploy")
    assert status(sim, "verify", ref["id"])["state"] == "waiting-children"
    for child in (build, deploy):
        assert status(sim, child["type"], child["id"])["job"]["parent"] == {"id": ref["id"]}
    seen = wait_state(sim, "verify", ref["id"], "completed", limit=5)
    assert seen[0] == "waiting-children" and seen[-1] == "completed"
    jobs = {j["type"]: j for j in (status(sim, c["type"], c["id"]) for c in (build, deploy))}
    verify = status(sim, "verify", ref["id"])
    assert seconds(jobs["build"]["finishedAt"]) <= seconds(jobs["deploy"]["processedAt"])
    assert seconds(jobs["deploy"]["finishedAt"]) <= seconds(verify["processedAt"])
    assert verify["result"] == {"healthy": True, "replicas": 1}


def test_a_forced_unknown_state_stays(sim: SimulatorServer) -> None:
    ref = sim.create_job(type="deploy", state_override="unknown", step_delay=0.01)
    time.sleep(0.1)
    assert status(sim, "deploy", ref["id"])["state"] == "unknown"
    assert [j["id"] for j in list_jobs(sim, state="unknown").json()["jobs"]] == [ref["id"]]


@pytest.mark.parametrize("job_id", [DOLLAR_ID, "a/b?c#d$e", "%41", "plain"])
def test_job_ids_are_taken_literally_from_the_encoded_path(sim: SimulatorServer, job_id: str) -> None:
    sim.create_job(type="scale", id=job_id, step_delay=0)
    assert status(sim, "scale", job_id)["job"]["id"] == job_id
    assert get_job(sim, "build", job_id).status_code == 404


@pytest.mark.parametrize(("job_type", "job_id"), [("build", "nope"), ("verify", DOLLAR_ID), ("bogus", "x")])
def test_unknown_jobs_get_404(sim: SimulatorServer, job_type: str, job_id: str) -> None:
    response = get_job(sim, job_type, job_id)
    assert response.status_code == 404
    assert response.json() == {"statusCode": 404, "error": "Job not found"}


# --- listing ------------------------------------------------------------------------------------


@pytest.fixture
def jobs(sim: SimulatorServer) -> dict[str, str]:
    """Four finished jobs, created about 50 ms apart: build, deploy (webscript), failed verify, batch."""
    made = {}
    for name, spec in [
        ("build", {"type": "build"}),
        ("deploy", {"type": "deploy", "function": {"functionType": "webscripts", "name": "hook", "version": "2.0.1"}}),
        ("verify", {"type": "verify", "outcome": "failed"}),
        ("batch", {"type": "batch", "function": {"functionType": "kfserving", "name": "model"}}),
    ]:
        made[name] = sim.create_job(**spec, step_delay=0)["id"]
        made[f"{name}@"] = datetime.now(timezone.utc).isoformat()
        time.sleep(0.05)
    return made


def test_the_list_is_newest_first_with_summaries(sim: SimulatorServer, jobs: dict[str, str]) -> None:
    body = list_jobs(sim).json()
    assert body["limit"] == 100
    assert [j["type"] for j in body["jobs"]] == ["batch", "verify", "deploy", "build"]
    deploy = body["jobs"][2]
    assert deploy["id"] == jobs["deploy"] and deploy["state"] == "completed"
    assert deploy["_links"]["webscript"]["href"].endswith("/registry/v2/webscripts/hook/versions/2.0.1")
    assert deploy["_links"]["job"] == {"href": job_url(sim, "deploy", jobs["deploy"]), "jobType": "deploy"}
    assert "function" not in body["jobs"][0] and "request" not in deploy


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"type": "build"}, ["build"]),
        ({"type": ["build", "deploy"]}, ["deploy", "build"]),
        ({"type": "build,batch"}, ["batch", "build"]),
        ({"state": "failed"}, ["verify"]),
        ({"state": ["completed", "waiting"]}, ["batch", "deploy", "build"]),
        ({"functionType": "webscripts"}, ["deploy"]),
        ({"functionType": "kfserving"}, ["batch"]),
        ({"limit": 2}, ["batch", "verify"]),
        ({"limit": 0}, []),
        ({"createdAfter": "PT1H"}, ["batch", "verify", "deploy", "build"]),
        ({"createdBefore": "1h"}, []),
        ({"createdAfter": "3d", "createdBefore": "2026-01-01"}, []),
        ({"createdBefore": "90000000000"}, []),
        ({"type": "notify"}, []),
    ],
)
def test_list_filters(sim: SimulatorServer, jobs: dict[str, str], params: dict[str, Any], expected: list[str]) -> None:
    response = list_jobs(sim, **params)
    assert response.status_code == 200, response.text
    assert [j["type"] for j in response.json()["jobs"]] == expected


def test_list_filters_on_absolute_creation_times(sim: SimulatorServer, jobs: dict[str, str]) -> None:
    after_deploy = [j["type"] for j in list_jobs(sim, createdAfter=jobs["deploy@"]).json()["jobs"]]
    assert after_deploy == ["batch", "verify"]
    before = [j["type"] for j in list_jobs(sim, createdBefore=jobs["deploy@"].replace("+00:00", "Z")).json()["jobs"]]
    assert before == ["deploy", "build"]


def test_the_limit_defaults_to_100_and_caps_at_1000(sim: SimulatorServer) -> None:
    for _ in range(105):
        sim.create_job(type="scale", step_delay=0)
    assert len(list_jobs(sim).json()["jobs"]) == 100
    capped = list_jobs(sim, limit=5000).json()
    assert capped["limit"] == 1000 and len(capped["jobs"]) == 105


@pytest.mark.parametrize(
    "params",
    [{"limit": -1}, {"limit": "many"}, {"type": "cleanup"}, {"state": "done"}, {"functionType": "lambda"},
     {"createdAfter": "yesterday"}, {"createdBefore": "PT"}, {"createdAfter": "3x"}],
)
def test_invalid_list_queries_get_400(sim: SimulatorServer, params: dict[str, Any]) -> None:
    response = list_jobs(sim, **params)
    assert response.status_code == 400 and response.json()["statusCode"] == 400 and response.json()["error"]


# --- control routes, settings, auth, counters, faults -----------------------------------------------


def test_the_control_routes_create_and_list_jobs(sim: SimulatorServer) -> None:
    spec = {"type": "verify", "id": DOLLAR_ID, "children": True, "step_delay": 0,
            "function": {"functionType": "plugs", "name": "p", "version": "1.0.0"}}
    created = requests.post(f"{sim.url}/_sim/registry/jobs", json=spec, timeout=TIMEOUT)
    assert created.status_code == 201
    assert created.json()["id"] == DOLLAR_ID and [c["type"] for c in created.json()["children"]] == ["build", "deploy"]
    listed = requests.get(f"{sim.url}/_sim/registry/jobs", timeout=TIMEOUT).json()
    assert {j["id"] for j in listed} == {DOLLAR_ID, *(c["id"] for c in created.json()["children"])}
    assert all(j["state"] == "completed" for j in listed)
    again = requests.post(f"{sim.url}/_sim/registry/jobs", json=spec, timeout=TIMEOUT)
    assert again.status_code == 400 and "exists" in again.json()["error"]


@pytest.mark.parametrize(
    "spec",
    [{"type": "notify"}, {}, {"type": "build", "children": True}, {"type": "build", "outcome": "maybe"},
     {"type": "build", "step_delay": -1}, {"type": "build", "colour": "red"}, {"type": "build", "id": ""},
     {"type": "build", "function": {"functionType": "plugs"}}, {"type": "build", "state_override": "done"}],
)
def test_invalid_job_specs_are_refused(sim: SimulatorServer, spec: dict[str, Any]) -> None:
    response = requests.post(f"{sim.url}/_sim/registry/jobs", json=spec, timeout=TIMEOUT)
    assert response.status_code == 400 and response.json()["error"]


def test_new_settings_change_at_run_time(sim: SimulatorServer) -> None:
    changes = {"job_step_delay": 0, "sse_keepalive": 0.5, "sse_crlf": True, "sse_multiline": True}
    config = requests.post(f"{sim.url}/_sim/config", json=changes, timeout=TIMEOUT).json()
    assert {k: config[k] for k in changes} == changes
    ref = sim.create_job(type="undeploy")
    assert status(sim, "undeploy", ref["id"])["state"] == "completed"  # a step delay of 0 finishes at once
    for bad in ({"sse_crlf": "yes"}, {"sse_keepalive": 0}, {"job_step_delay": -1}, {"sse_multiline": 1}):
        response = requests.post(f"{sim.url}/_sim/config", json=bad, timeout=TIMEOUT)
        assert response.status_code == 400, bad
    sim.reset(state=True)
    assert requests.get(f"{sim.url}/_sim/config", timeout=TIMEOUT).json()["sse_crlf"] is False


@pytest.mark.parametrize("path", [JOBS, "/registry/v2/jobs/build/x", EVENTS])
def test_job_routes_need_credentials(sim: SimulatorServer, path: str) -> None:
    response = requests.get(f"{sim.url}{path}", headers={"Authorization": "Bearer nope"}, timeout=TIMEOUT)
    assert response.status_code == 401 and response.json()["statusCode"] == 401
    assert requests.get(f"{sim.url}{path}", timeout=TIMEOUT).status_code == 401


def test_counters_and_faults_cover_the_job_routes(sim: SimulatorServer) -> None:
    ref = sim.create_job(type="build", step_delay=0)
    sim.add_fault(route=f"GET {JOB}", kind="status", status=503, retry_after=2, times=1)
    refused = get_job(sim, "build", ref["id"])
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "2"
    assert get_job(sim, "build", ref["id"]).status_code == 200
    list_jobs(sim)
    sim.add_fault(route=f"GET {EVENTS}", kind="status", status=429, times=1)
    assert requests.get(f"{sim.url}{EVENTS}", headers=auth_headers(sim), timeout=TIMEOUT).status_code == 429
    counters = sim.counters()
    assert counters["requests"] == {f"GET {JOB}": 2, f"GET {JOBS}": 1, f"GET {EVENTS}": 1}
    assert counters["statuses"][f"GET {JOB} 503"] == 1 and counters["statuses"][f"GET {EVENTS} 429"] == 1


def test_the_cli_takes_the_new_flags(tmp_path: Path) -> None:
    port_file = tmp_path / "sim.port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_batchops.simulator", "--port", "0", "--port-file", str(port_file),
         "--resources", "7", "--job-step-delay", "0.5", "--sse-keepalive", "2"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None, proc.communicate()[1].decode()
            assert time.monotonic() < deadline, "no port file within 20 s"
            time.sleep(0.05)
        url = f"http://127.0.0.1:{int(port_file.read_text())}"
        config = requests.get(f"{url}/_sim/config", timeout=TIMEOUT).json()
        assert (config["resources"], config["job_step_delay"], config["sse_keepalive"]) == (7, 0.5, 2.0)
        assert len(requests.get(f"{url}/_sim/resources", timeout=TIMEOUT).json()) == 7
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0


# --- the event stream -------------------------------------------------------------------------------


def test_a_stream_on_an_id_acks_forwards_in_order_and_closes(sim: SimulatorServer) -> None:
    sim.configure(sse_keepalive=0.5)
    with stream(sim, type="build", id=DOLLAR_ID) as reader:
        ack = reader.events(1)[0]
        assert ack.event == "ack" and DOLLAR_ID in ack.data
        sim.create_job(type="build", id=DOLLAR_ID, step_delay=0.2)
        sim.create_job(type="build", step_delay=0)  # another job: not forwarded
        messages = reader.events(5)
        assert [m.event for m in messages] == ["waiting", "active", "completed", "close"]
        assert reader.next() is None  # the server ended the stream
    assert f"GET {JOB}" not in sim.counters()["requests"]  # pushed by the server, not driven by polling
    events = [payload(m) for m in messages[:3]]
    assert all(e["job"] == {"type": "build", "id": DOLLAR_ID} for e in events)
    assert [e["data"].get("prev") for e in events] == ["added", "waiting", "active"]
    assert events[2]["data"]["returnvalue"] == status(sim, "build", DOLLAR_ID)["result"]
    assert events[2]["_links"]["job"] == {"href": job_url(sim, "build", DOLLAR_ID), "jobType": "build"}
    assert events[0]["function"] == {"functionType": "plugs", "name": "simPlug", "version": "1.0.0"}
    assert seconds(events[0]["timestamp"]) <= seconds(events[1]["timestamp"]) <= seconds(events[2]["timestamp"])
    assert messages[3].data == "job completed"


@pytest.mark.parametrize(
    ("children", "expected"),
    [
        ("true", ["verify waiting-children", "build waiting", "deploy waiting", "build active", "build completed",
                  "deploy active", "deploy completed", "verify active", "verify completed", " close"]),
        ("false", ["verify waiting-children", "verify active", "verify completed", " close"]),
    ],
)
def test_children_true_also_forwards_the_child_jobs(sim: SimulatorServer, children: str, expected: list[str]) -> None:
    with stream(sim, type="verify", id="v-1", children=children) as reader:
        assert reader.events(1)[0].event == "ack"
        sim.create_job(type="verify", id="v-1", children=True, step_delay=0.1)
        messages = reader.events(len(expected) + 1, limit=10)
    seen = [f"{payload(m)['job']['type'] if m.event != 'close' else ''} {m.event}" for m in messages]
    assert seen == expected


def test_a_stream_on_a_type_forwards_only_that_type_and_stays_open(sim: SimulatorServer) -> None:
    sim.configure(sse_keepalive=0.3)
    with stream(sim, type="deploy") as reader:
        assert reader.events(1)[0].data == "forwarding events for all deploy jobs"
        sim.create_job(type="build", step_delay=0)
        sim.create_job(type="deploy", step_delay=0)
        messages = reader.events(3)
        assert [m.event for m in messages] == ["waiting", "active", "completed"]
        assert {payload(m)["job"]["type"] for m in messages} == {"deploy"}
        after = reader.events(2, skip_keepalive=False)  # only keep-alives follow: no close without an id
        assert sorted(m.event for m in after) == ["", "keep-alive"]


def test_a_failed_job_ends_its_stream_with_failed_and_close(sim: SimulatorServer) -> None:
    with stream(sim, id="f-1") as reader:
        assert reader.events(1)[0].data == "forwarding events for the job f-1"
        sim.create_job(type="verify", id="f-1", outcome="failed", failed_reason="unhealthy", step_delay=0)
        messages = reader.events(4)
    assert [m.event for m in messages] == ["waiting", "active", "failed", "close"]
    assert payload(messages[2])["data"] == {"prev": "active", "failedReason": "unhealthy"}
    assert messages[3].data == "job failed"


def test_a_stream_on_a_finished_job_closes_right_after_the_ack(sim: SimulatorServer) -> None:
    ref = sim.create_job(type="build", step_delay=0)
    with stream(sim, type="build", id=ref["id"]) as reader:
        assert [m.event for m in reader.events(3)] == ["ack", "close"]
        assert reader.ended


def test_keep_alives_alternate_between_a_comment_and_an_event(sim: SimulatorServer) -> None:
    sim.configure(sse_keepalive=0.15)
    with stream(sim) as reader:
        assert reader.events(1)[0].data == "forwarding all job events"
        began = time.monotonic()
        beats = reader.events(4, skip_keepalive=False)
        assert time.monotonic() - began >= 0.5
    assert [(m.event, m.comments) for m in beats] == [("", ["keep-alive"]), ("keep-alive", []),
                                                      ("", ["keep-alive"]), ("keep-alive", [])]
    assert beats[1].data == "keep-alive"


@pytest.mark.parametrize("crlf", [True, False])
def test_line_endings_follow_sse_crlf(sim: SimulatorServer, crlf: bool) -> None:
    sim.configure(sse_crlf=crlf, sse_keepalive=0.2)
    with stream(sim, id="c-1") as reader:
        reader.events(1)
        sim.create_job(type="build", id="c-1", step_delay=0)
        messages = reader.events(5, skip_keepalive=False)
    assert messages[-1].event == "close"
    if crlf:
        assert b"\r\n" in reader.raw and b"\n" not in reader.raw.replace(b"\r\n", b"")
        assert b"\r" not in reader.raw.replace(b"\r\n", b"")
    else:
        assert b"\r" not in reader.raw
    assert payload(messages[-2])["data"]["prev"] == "active"


def test_multiline_mode_splits_every_other_json_payload(sim: SimulatorServer) -> None:
    sim.configure(sse_multiline=True)
    with stream(sim, id="m-1") as reader:
        reader.events(1)
        sim.create_job(type="build", id="m-1", step_delay=0)
        messages = reader.events(4)
    assert [len(m.data_lines) for m in messages] == [2, 1, 2, 1]  # waiting, active, completed, close
    joined = payload(messages[2])
    assert joined["job"]["id"] == "m-1" and joined["data"]["returnvalue"]["digest"].startswith("sha256:")
    assert messages[0].data_lines[0].endswith(",")


def test_a_cut_fault_drops_the_stream_after_n_events(sim: SimulatorServer) -> None:
    sim.configure(sse_keepalive=2)  # a keep-alive event would count as one of the n
    rule = requests.post(f"{sim.url}/_sim/faults", json={"route": f"GET {EVENTS}", "kind": "cut", "after_events": 2,
                                                          "times": 1}, timeout=TIMEOUT).json()
    assert rule["kind"] == "cut" and rule["after_events"] == 2
    sim.create_job(type="build", id="k-1", step_delay=0.4)
    with stream(sim, id="k-1") as reader:
        assert reader.events(1)[0].event == "ack"
        with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
            reader.events(3)
        assert b"event: active" in reader.raw and b"close" not in reader.raw
    with stream(sim, id="k-1") as reader:  # the fault is used up
        assert [m.event for m in reader.events(3)] in (["ack", "completed", "close"], ["ack", "close"])


def test_a_cut_fault_only_applies_to_streams(sim: SimulatorServer) -> None:
    sim.add_fault(route="*", kind="cut", after_events=1, times=1)
    assert list_jobs(sim).status_code == 200
    with stream(sim) as reader:
        assert reader.events(1)[0].event == "ack"
        with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
            reader.events(1)


@pytest.mark.parametrize("params", [{"type": "bogus"}, {"children": "maybe"}])
def test_bad_stream_queries_get_400(sim: SimulatorServer, params: dict[str, str]) -> None:
    response = requests.get(f"{sim.url}{EVENTS}", params=params, headers=auth_headers(sim), timeout=TIMEOUT)
    assert response.status_code == 400


# --- conformance: the vendor's models (and the spec when present) -------------------------------------------------------------


def test_list_and_get_bodies_conform_for_every_job_type_and_state(sim: SimulatorServer) -> None:
    refs = [sim.create_job(type=t, step_delay=0) for t in ("build", "deploy", "verify", "undeploy", "scale", "batch")]
    refs.append(sim.create_job(type="verify", outcome="failed", step_delay=0))
    refs.append(sim.create_job(type="verify", children=True, step_delay=30))
    refs.append(sim.create_job(type="build", state_override="unknown"))
    refs += refs[-2]["children"]
    listed = list_jobs(sim).json()
    assert len(listed["jobs"]) == 11
    validate_response(SPEC, "GET", JOBS, 200, listed)
    states = set()
    for ref in refs:
        body = get_job(sim, ref["type"], ref["id"]).json()
        validate_response(SPEC, "GET", JOB, 200, body)
        states.add(body["job"]["state"])
        assert ("result" in body["job"]) == (body["job"]["state"] == "completed")
    assert states == {"completed", "failed", "waiting-children", "waiting", "unknown"}


def test_stream_events_conform(sim: SimulatorServer) -> None:
    sim.configure(sse_keepalive=0.1)
    with stream(sim, type="verify", id="s-1", children="true") as reader:
        first = reader.events(1)
        sim.create_job(type="verify", id="s-1", children=True, outcome="failed", step_delay=0.05)
        messages = first + reader.events(30, skip_keepalive=False)
    names = {m.event for m in messages}
    assert {"ack", "waiting", "waiting-children", "active", "completed", "failed", "close"} <= names
    for message in messages:
        if not message.event:
            continue
        data = message.data if message.event in ("ack", "keep-alive", "close") else payload(message)
        validate_schema(SPEC, "EventWithCloseSSE", {"event": message.event, "data": data})


@pytest.mark.parametrize(
    "change",
    [
        lambda job: job["job"]["request"].pop("revision"),
        lambda job: job["job"].update(result={"healthy": "yes"}),
        lambda job: job["job"].update(state="done"),
        lambda job: job["job"]["job"].pop("progress"),
        lambda job: job.pop("_links"),
    ],
)
def test_the_oracles_reject_a_broken_job(sim: SimulatorServer, change: Any) -> None:
    ref = sim.create_job(type="verify", step_delay=0)
    body = get_job(sim, "verify", ref["id"]).json()
    validate_response(SPEC, "GET", JOB, 200, body)
    change(body)
    assert_rejected_response(SPEC, "GET", JOB, 200, body)


@pytest.mark.parametrize(
    "event",
    [
        {"event": "completed", "data": {"job": {"type": "build"}, "timestamp": "t", "data": {"prev": "active"},
                                        "function": {"functionType": "plugs", "name": "p"}, "_links": {}}},
        {"event": "failed", "data": {"job": {"type": "build"}, "timestamp": "t", "data": {"prev": "active"},
                                     "function": {"functionType": "plugs", "name": "p"}, "_links": {}}},
        {"event": "ack"},
    ],
)
def test_the_oracles_reject_a_broken_event(event: dict[str, Any]) -> None:
    assert_rejected_schema(SPEC, "EventWithCloseSSE", event)
