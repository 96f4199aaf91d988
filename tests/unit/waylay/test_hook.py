"""WaylayHook: authentication modes, the token cache, calls and connection handling."""

from __future__ import annotations

import base64
import time

import pytest

from airflow_provider_batchops.core.auth import TOKEN_CACHE
from airflow_provider_batchops.core.errors import ApiError, ConnectionConfigError
from airflow_provider_batchops.hooks.waylay import WaylayHook, jwt_times
from airflow_provider_batchops.models.waylay import resources_delete_bodies, rules_batch_body
from tests.support.conformance import RESOURCES, RULES, validate_request_body
from tests.support.helpers import AIRFLOW_VERSION, API_KEY, API_SECRET, GATEWAY, make_jwt, set_connection

RUNNING = {"id": "b-1", "user": "user/u", "operation": {"entity": "task", "action": "delete"}, "queueTime": 1}
ACCEPTED = {"statusCode": 202, "uri": "/rules/v1/batch/b-1", "entity": RUNNING}


def test_token_mode_exchanges_key_and_secret_then_sends_bearer(waylay_conn, token_endpoint, requests_mock):
    requests_mock.get(f"{GATEWAY}/rules/v1/batch/b-1", json=RUNNING)
    WaylayHook().get_rules_batch("b-1")
    token_request = token_endpoint.last_request
    assert token_request.qs == {"grant_type": ["client_credentials"]}
    assert token_request.json() == {"clientId": API_KEY, "clientSecret": API_SECRET}
    assert requests_mock.last_request.headers["Authorization"].startswith("Bearer ")


def test_one_token_serves_every_hook_of_the_process(waylay_conn, token_endpoint, requests_mock):
    requests_mock.get(f"{GATEWAY}/rules/v1/batch/b-1", json=RUNNING)
    for _ in range(3):
        WaylayHook().get_rules_batch("b-1")
    assert token_endpoint.call_count == 1
    assert TOKEN_CACHE.fetches == 1


def test_a_token_close_to_expiry_is_replaced(waylay_conn, requests_mock):
    tokens = requests_mock.post(
        f"{GATEWAY}/accounts/v1/tokens",
        [
            {"json": {"token": make_jwt(time.time() + 10, iat=time.time() - 3590)}},
            {"json": {"token": make_jwt(time.time() + 3600, iat=time.time())}},
        ],
    )
    requests_mock.get(f"{GATEWAY}/rules/v1/batch/b-1", json=RUNNING)
    for _ in range(3):
        WaylayHook().get_rules_batch("b-1")
    # The first token had 10 s left of its hour: inside the refresh margin, so it was replaced once,
    # and the second, fresh one served the remaining calls.
    assert tokens.call_count == 2


def test_a_401_fetches_a_new_token_once_and_retries(waylay_conn, requests_mock, no_sleep):
    tokens = requests_mock.post(
        f"{GATEWAY}/accounts/v1/tokens",
        [{"json": {"token": make_jwt(time.time() + 3600, n=1)}}, {"json": {"token": make_jwt(time.time() + 3600, n=2)}}],
    )
    api = requests_mock.get(
        f"{GATEWAY}/rules/v1/batch/b-1", [{"status_code": 401, "json": {"error": "expired"}}, {"json": RUNNING}]
    )
    assert WaylayHook().get_rules_batch("b-1")["id"] == "b-1"
    assert tokens.call_count == 2
    first, second = (r.headers["Authorization"] for r in api.request_history)
    assert first != second


def test_a_second_401_is_an_error_not_a_loop(waylay_conn, token_endpoint, requests_mock, no_sleep):
    api = requests_mock.get(f"{GATEWAY}/rules/v1/batch/b-1", status_code=401, json={"error": "no access"})
    with pytest.raises(ApiError) as err:
        WaylayHook().get_rules_batch("b-1")
    assert err.value.status == 401
    assert api.call_count == 2


def test_basic_mode_sends_key_and_secret_and_fetches_no_token(monkeypatch, requests_mock):
    set_connection(monkeypatch, "waylay_default", host=GATEWAY, login=API_KEY, password=API_SECRET,
                   extra={"auth": "basic"})
    requests_mock.get(f"{GATEWAY}/rules/v1/batch/b-1", json=RUNNING)
    WaylayHook().get_rules_batch("b-1")
    expected = base64.b64encode(f"{API_KEY}:{API_SECRET}".encode()).decode()
    assert requests_mock.last_request.headers["Authorization"] == f"Basic {expected}"
    assert requests_mock.call_count == 1


def test_a_pre_issued_token_is_used_as_is(monkeypatch, requests_mock):
    jwt = make_jwt(time.time() + 3600)
    set_connection(monkeypatch, "waylay_default", host=GATEWAY, extra={"token": jwt})
    requests_mock.get(f"{GATEWAY}/rules/v1/batch/b-1", json=RUNNING)
    WaylayHook().get_rules_batch("b-1")
    assert requests_mock.last_request.headers["Authorization"] == f"Bearer {jwt}"
    assert requests_mock.call_count == 1


def test_default_gateway_and_bare_host(monkeypatch, token_endpoint, requests_mock):
    set_connection(monkeypatch, "waylay_default", login=API_KEY, password=API_SECRET)
    assert WaylayHook().client.base_url == "https://api.waylay.io"
    set_connection(monkeypatch, "other", host="gateway.test", login=API_KEY, password=API_SECRET)
    assert WaylayHook("other").client.base_url == "https://gateway.test"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"host": GATEWAY, "password": API_SECRET}, "login"),
        ({"host": GATEWAY, "login": API_KEY}, "password"),
        ({"host": GATEWAY, "login": API_KEY, "password": API_SECRET, "extra": {"auth": "oauth"}}, "extra.auth"),
        ({"host": GATEWAY, "login": API_KEY, "password": API_SECRET, "extra": "[1, 2]"}, "extra"),
        ({"host": "ftp://gateway.test", "login": API_KEY, "password": API_SECRET}, "host"),
        ({"host": GATEWAY, "login": API_KEY, "password": API_SECRET, "extra": {"timeout": -1}}, "extra.timeout"),
    ],
)
def test_bad_connections_name_the_field_and_send_nothing(monkeypatch, requests_mock, fields, field):
    if field == "extra" and AIRFLOW_VERSION < (3, 2):
        pytest.skip("Airflow 3.1 itself refuses a connection whose extra is not an object")
    set_connection(monkeypatch, "waylay_default", **fields)
    with pytest.raises(ConnectionConfigError) as err:
        WaylayHook().get_rules_batch("b-1")
    assert err.value.field == field
    assert f"'{field}'" in str(err.value)
    assert requests_mock.call_count == 0


def test_start_rules_batch_posts_the_body_and_returns_the_acceptance(waylay_conn, token_endpoint, requests_mock):
    requests_mock.post(f"{GATEWAY}/rules/v1/batch", status_code=202, json=ACCEPTED,
                       headers={"Location": "/rules/v1/batch/b-1"})
    body = rules_batch_body("delete", query={"type": "onetime", "status": "stopped"})
    assert WaylayHook().start_rules_batch(body)["entity"]["id"] == "b-1"
    assert requests_mock.last_request.json() == body


def test_get_batch_report_maps_a_finished_batch(waylay_conn, token_endpoint, requests_mock):
    finished = {**RUNNING, "finishedTime": 5, "results": {"success": {"t1": {"statusCode": 200}},
                                                           "failure": {}}}
    requests_mock.get(f"{GATEWAY}/rules/v1/batch/b-1", json=finished)
    report = WaylayHook().get_batch_report("rules", "b-1")
    assert report.state.value == "succeeded"
    assert report.summary["succeeded"] == 1


def test_test_connection_accepts_a_404_probe(waylay_conn, token_endpoint, requests_mock):
    requests_mock.get(f"{GATEWAY}/rules/v1/batch/airflow-connection-test", status_code=404,
                      json={"statusCode": 404, "error": "No batch operation"})
    ok, message = WaylayHook().test_connection()
    assert ok, message


def test_test_connection_reports_rejected_credentials(waylay_conn, requests_mock):
    requests_mock.post(f"{GATEWAY}/accounts/v1/tokens", status_code=401, json={"error": "bad credentials"})
    ok, message = WaylayHook().test_connection()
    assert not ok
    assert "bad credentials" in message
    assert API_SECRET not in message


def test_connection_form():
    form = WaylayHook.get_ui_field_behaviour()
    assert form["relabeling"] == {"host": "Gateway URL", "login": "API key", "password": "API secret"}
    assert set(form["hidden_fields"]) == {"schema", "port"}
    assert "auth" in form["placeholders"]["extra"]


def test_jwt_times():
    assert jwt_times(make_jwt(1234.0, iat=1000)) == (1000.0, 1234.0)
    assert jwt_times("not-a-jwt") == (None, None)


@pytest.mark.parametrize(
    ("action", "kwargs"),
    [
        ("delete", {"query": {"type": "onetime", "status": "stopped", "finished_before": 1648738809733}}),
        ("stop", {"ids": ["t-1", "t-2"]}),
        ("start", {"ids": ["t-1"]}),
        ("restart", {"query": {"status": "failed", "type": "reactive"}}),
        ("stopAndDelete", {"query": {"tags": {"site": "plant-7"}, "plugin": "mySensor:1.0.3"}}),
        ("updatePlugins", {"ids": ["t-1"], "action_parameters": {"name": "mySensor", "from_version": "any",
                                                                  "to_version": "2.3.4"}}),
        ("updateProperties", {"query": {"template": "tpl"},
                              "action_parameters": {"variables": {"a": None}, "tags": {"rev": 58}}}),
        ("reload", {"query": {"user": "system", "created_after": 1700000000001, "created_before": 1700000000002, "name": "n",
                              "resource": "r"}}),
    ],
)
def test_request_bodies_conform(waylay_conn, token_endpoint, requests_mock, action, kwargs):
    requests_mock.post(f"{GATEWAY}/rules/v1/batch", status_code=202, json=ACCEPTED)
    WaylayHook().start_rules_batch(rules_batch_body(action, **kwargs))
    validate_request_body(RULES, "post", "/rules/v1/batch", requests_mock.last_request.json())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ids": ["pump-0001", "pump-0002"]},
        {"ids": ["pump-0001"], "cascade": ["alarms", "measurements", "tasks"]},
        {"ids": ["pump-0001"], "cascade": "alarms"},
        {"ids": ["rt-1", "rt-2"], "entity": "resourcetype"},
        {"ids": [f"r-{n}" for n in range(5)], "max_batch_size": 2},
    ],
)
def test_resources_delete_bodies_conform(waylay_conn, token_endpoint, requests_mock, kwargs):
    requests_mock.post(f"{GATEWAY}/resources/v1/batch", status_code=202, json=ACCEPTED)
    for body in resources_delete_bodies(**kwargs):
        WaylayHook().start_resources_delete(body)
        validate_request_body(RESOURCES, "post", "/resources/v1/batch", requests_mock.last_request.json())
