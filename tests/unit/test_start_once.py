"""A start is sent once, whatever the answer looks like (issue 12, class 2).

Each operator is run as Airflow runs it with ``retries=1`` (:class:`conftest.RetryingRun`), against
answers that differ a little from the documented ones; the number of start requests the server saw is
counted. Idempotent deletes whose answer was lost are sent again; other starts never are.
"""

from __future__ import annotations

import http.server
import shutil
import ssl
import subprocess
import threading
from typing import Any

import pytest
import requests

from airflow_provider_batchops.core.compat import AirflowFailException
from airflow_provider_batchops.core.errors import NotSentError, StartAcceptedError, StartOutcomeUnknownError
from airflow_provider_batchops.hooks.waylay import WaylayHook
from airflow_provider_batchops.operators.mammoth import MammothCreateBatchOperator, MammothDeleteBatchesOperator
from airflow_provider_batchops.operators.superoffice import SuperOfficeBatchTaskOperator
from airflow_provider_batchops.operators.waylay import (
    ResourcesBatchDeleteOperator,
    RulesBatchDeleteOperator,
    RulesBatchOperator,
)
from tests.support.durable_store import FakeStore
from tests.support.helpers import GATEWAY, RetryingRun

RULES = f"{GATEWAY}/rules/v1/batch"
RESOURCES = f"{GATEWAY}/resources/v1/batch"
WAIT: dict[str, Any] = {"deferrable": False, "poll_interval": 0.05, "durable": False, "retries": 1}
DATASET = {"workspace_id": 4, "project_id": 1020, "dataset_id": 3453}
DONE = {"id": "b-1", "operation": {"action": "delete"}, "queueTime": 1, "finishedTime": 2,
        "results": {"success": {"t1": {"statusCode": 200}}, "failure": {}}}


def posts(requests_mock, url: str) -> int:
    return sum(r.method == "POST" and r.url.split("?")[0] == url for r in requests_mock.request_history)


# -- the id is read wherever the API gives it --------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "headers"),
    [
        ({"statusCode": 202, "uri": "/rules/v1/batch/b-1", "entity": {"operation": {}}}, {}),
        ({"statusCode": 202}, {"Location": "/rules/v1/batch/b-1"}),
        ({"statusCode": 202}, {"Location": "https://gateway.test/rules/v1/batch/b-1"}),
        ({"statusCode": 202, "entity": {"id": "b-1"}}, {}),
    ],
)
def test_the_batch_id_comes_from_entity_uri_or_location(waylay_conn, token_endpoint, requests_mock, no_sleep,
                                                        answer, headers):
    requests_mock.post(RULES, status_code=202, json=answer, headers=headers)
    requests_mock.get(f"{RULES}/b-1", json=DONE)
    summary = RetryingRun()(lambda: RulesBatchDeleteOperator(task_id="t", ids=["t1"], **WAIT))
    assert summary["batch_id"] == "b-1" and posts(requests_mock, RULES) == 1


@pytest.mark.parametrize("answer", [{"statusCode": 202}, {"entity": {"id": ""}}, None, [], {"uri": "/elsewhere"}])
def test_an_accepted_start_without_a_readable_id_fails_unretried(waylay_conn, token_endpoint, requests_mock, answer):
    requests_mock.post(RULES, status_code=202, json=answer)
    with pytest.raises(StartAcceptedError, match="accepted .*may be running remotely") as err:
        RetryingRun()(lambda: RulesBatchOperator(task_id="t", action="restart", ids=["t1"], **WAIT))
    assert isinstance(err.value, AirflowFailException)
    assert posts(requests_mock, RULES) == 1


def test_superoffice_ids_as_json_strings_are_read(superoffice_api, requests_mock, no_sleep):
    requests_mock.post(f"{superoffice_api}/BatchTask", json="1234")
    requests_mock.get(f"{superoffice_api}/BatchTask/1234", json={"Id": 1234, "State": "Succeeded"})
    summary = RetryingRun()(lambda: SuperOfficeBatchTaskOperator(task_id="t", name="Export", **WAIT))
    assert summary["batch_task_id"] == 1234 and posts(requests_mock, f"{superoffice_api}/BatchTask") == 1


@pytest.mark.parametrize("answer", ["not-a-number", {"Id": 5}, 0, None])
def test_superoffice_unreadable_ids_fail_unretried(superoffice_api, requests_mock, answer):
    requests_mock.post(f"{superoffice_api}/BatchTask", json=answer)
    with pytest.raises(StartAcceptedError):
        RetryingRun()(lambda: SuperOfficeBatchTaskOperator(task_id="t", name="Export", **WAIT))
    assert posts(requests_mock, f"{superoffice_api}/BatchTask") == 1


def test_mammoth_job_ids_as_strings_are_read(mammoth_api, requests_mock, no_sleep):
    batches = f"{mammoth_api}/workspaces/4/projects/1020/datasets/3453/batches"
    requests_mock.post(batches, json={"status_code": 200, "job_id": "5821", "failure_reason": None})
    requests_mock.get(f"{mammoth_api}/jobs", json={"jobs": [{"id": 5821, "status": "success", "response": {}}]})
    mapping = [{"source_c_name": "a", "destination_c_name": "b", "expected_destination_c_type": "TEXT"}]
    summary = RetryingRun()(lambda: MammothCreateBatchOperator(task_id="t", source_id=1, mapping=mapping,
                                                               **DATASET, **WAIT))
    assert summary["job_ids"] == [5821] and posts(requests_mock, batches) == 1


@pytest.mark.parametrize("job_id", ["abc", -1, True, 1.5])
def test_mammoth_unreadable_job_ids_fail_unretried(mammoth_api, requests_mock, job_id):
    batches = f"{mammoth_api}/workspaces/4/projects/1020/datasets/3453/batches"
    requests_mock.post(batches, json={"status_code": 200, "job_id": job_id})
    mapping = [{"source_c_name": "a", "destination_c_name": "b", "expected_destination_c_type": "TEXT"}]
    with pytest.raises(StartAcceptedError, match="job_id"):
        RetryingRun()(lambda: MammothCreateBatchOperator(task_id="t", source_id=1, mapping=mapping, **DATASET,
                                                         **WAIT))
    assert posts(requests_mock, batches) == 1


# -- what fails after an accepted start is not retried ---------------------------------------------------
def test_a_store_failure_after_the_start_does_not_start_again(waylay_conn, token_endpoint, requests_mock):
    class Broken(FakeStore):
        def set(self, key: str, value: Any) -> None:
            raise OSError("store is down")

    requests_mock.post(RULES, status_code=202, json={"entity": {"id": "b-1"}})
    with pytest.raises(StartAcceptedError, match="b-1"):
        RetryingRun(Broken())(lambda: RulesBatchOperator(task_id="t", action="restart", ids=["t1"],
                                                         **{**WAIT, "durable": True}))
    assert posts(requests_mock, RULES) == 1


def test_a_wait_failure_without_a_durable_record_is_not_retried_for_a_start_that_is_not_idempotent(
        superoffice_api, requests_mock, no_sleep):
    requests_mock.post(f"{superoffice_api}/BatchTask", json=77)
    requests_mock.get(f"{superoffice_api}/BatchTask/77", status_code=503)
    with pytest.raises(StartAcceptedError, match="77"):
        RetryingRun()(lambda: SuperOfficeBatchTaskOperator(task_id="t", name="Export", **WAIT))
    assert posts(requests_mock, f"{superoffice_api}/BatchTask") == 1


# -- several starts in one task ----------------------------------------------------------------------------
def accepted(batch_id: str) -> dict[str, Any]:
    return {"status_code": 202, "json": {"statusCode": 202, "entity": {"id": batch_id}}}


def finished(batch_id: str) -> dict[str, Any]:
    return {**DONE, "id": batch_id}


def sent_ids(requests_mock) -> list[list[str]]:
    return [r.json()["query"]["ids"] for r in requests_mock.request_history if r.url == RESOURCES]


def test_each_accepted_start_is_recorded_and_a_resume_sends_only_the_rest(waylay_conn, token_endpoint,
                                                                         requests_mock, no_sleep):
    store = FakeStore()
    requests_mock.post(RESOURCES, [accepted("b1"), {"status_code": 400, "json": {"error": "bad"}},
                                   accepted("b2"), accepted("b3")])
    for batch_id in ("b1", "b2", "b3"):
        requests_mock.get(f"{RESOURCES}/{batch_id}", json=finished(batch_id))
    ids = [f"r{i}" for i in range(5)]

    def make() -> ResourcesBatchDeleteOperator:
        return ResourcesBatchDeleteOperator(task_id="t", ids=ids, max_batch_size=2, **{**WAIT, "durable": True})

    with pytest.raises(StartAcceptedError, match=r"1 of 3 starts were accepted \(batch_ids: \['b1'\]\)"):
        RetryingRun(store)(make)
    assert store.data == {"batch_ids": ["b1"], "starts_accepted": 1} and posts(requests_mock, RESOURCES) == 2
    bodies = sent_ids(requests_mock)

    summary = RetryingRun(store)(make)  # the user clears the task: only starts 2 and 3 are sent
    assert sent_ids(requests_mock)[len(bodies):] == [["r2", "r3"], ["r4"]]
    assert summary["batch_ids"] == ["b1", "b2", "b3"] and store.data == {}


def test_mammoth_deletes_split_by_url_length_record_each_ack(mammoth_api, requests_mock, no_sleep):
    store = FakeStore()
    batches = f"{mammoth_api}/workspaces/4/projects/1020/datasets/3453/batches"
    requests_mock.delete(batches, [{"json": {"status_code": 200, "job_id": 1}},
                                   {"status_code": 400, "json": {"status_code": 400, "detail": "no"}}])
    ids = list(range(100_000, 102_000))  # 2,000 ids of 7 characters: two requests
    with pytest.raises(StartAcceptedError, match=r"job_ids: \[1\]"):
        RetryingRun(store)(lambda: MammothDeleteBatchesOperator(task_id="t", batch_ids=ids, **DATASET,
                                                                **{**WAIT, "durable": True}))
    assert store.data == {"job_ids": [1], "starts_accepted": 1}
    assert sum(r.method == "DELETE" for r in requests_mock.request_history) == 2


# -- idempotent starts are sent again when their answer is lost; the others never -------------------------
def test_a_delete_whose_answer_was_lost_is_sent_again(waylay_conn, token_endpoint, requests_mock, no_sleep):
    requests_mock.post(RULES, [{"exc": requests.exceptions.ReadTimeout}, accepted("b-1")])
    requests_mock.get(f"{RULES}/b-1", json=DONE)
    summary = RetryingRun()(lambda: RulesBatchDeleteOperator(task_id="t", query={"status": "stopped"}, max_tasks=None, **WAIT))
    assert summary["state"] == "succeeded" and posts(requests_mock, RULES) == 2 and len(no_sleep) >= 1


@pytest.mark.parametrize("action", ["restart", "start", "stop", "reload"])
def test_a_start_that_is_not_idempotent_is_never_sent_again(waylay_conn, token_endpoint, requests_mock, action):
    requests_mock.post(RULES, exc=requests.exceptions.ReadTimeout)
    with pytest.raises(StartOutcomeUnknownError, match="not re-sent"):
        RetryingRun()(lambda: RulesBatchOperator(task_id="t", action=action, ids=["t1"], **WAIT))
    assert posts(requests_mock, RULES) == 1


def test_superoffice_start_is_never_sent_again(superoffice_api, requests_mock):
    requests_mock.post(f"{superoffice_api}/BatchTask", status_code=502)
    with pytest.raises(Exception):  # noqa: B017 - any failure; the count is the point
        RetryingRun()(lambda: SuperOfficeBatchTaskOperator(task_id="t", name="Export", **WAIT))
    assert posts(requests_mock, f"{superoffice_api}/BatchTask") == 2  # a 502 was refused: Airflow's retry


# -- nothing sent is not "outcome unknown" ---------------------------------------------------------------
class _Ok(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.send_response(202)
        self.end_headers()
        self.wfile.write(b'{"entity": {"id": "b-1"}}')

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def servers(tmp_path):
    """A plain-HTTP and a TLS server on loopback (the TLS one with a throw-away self-signed certificate)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", tmp_path / "k.pem",
                    "-out", tmp_path / "c.pem", "-days", "1", "-subj", "/CN=127.0.0.1"], check=True,
                   capture_output=True)
    started = []
    for tls in (False, True):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
            server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
    yield {"plain": started[0].server_address[1], "tls": started[1].server_address[1]}
    for server in started:
        server.shutdown()


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("https://127.0.0.1:{plain}", "uses https but the server answers plain HTTP"),
        ("http://127.0.0.1:{tls}", "uses http but the server answers with TLS"),
        ("http://127.0.0.1:1", "connection could not be opened"),
    ],
)
def test_a_connection_that_fails_before_sending_says_nothing_was_sent(monkeypatch, servers, no_sleep, host, expected):
    from tests.support.helpers import set_connection

    url = host.format(**servers)
    set_connection(monkeypatch, "waylay_default", host=url, extra={"auth": "basic"}, login="k", password="s")
    with pytest.raises(NotSentError, match=f"{expected}.*nothing was sent") as err:
        WaylayHook().start_batch("rules", {"entity": "task", "action": "restart", "query": {"ids": ["t1"]}})
    assert not isinstance(err.value, AirflowFailException)  # nothing started: Airflow's retry is safe


def test_the_plain_server_itself_works(monkeypatch, servers):
    from tests.support.helpers import set_connection

    set_connection(monkeypatch, "waylay_default", host=f"http://127.0.0.1:{servers['plain']}",
                   extra={"auth": "basic"}, login="k", password="s")
    answer = WaylayHook().start_batch("rules", {"entity": "task", "action": "restart", "query": {"ids": ["t1"]}})
    assert answer["entity"]["id"] == "b-1"
