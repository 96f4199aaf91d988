"""The HTTP exchange: encoding, timeouts, the retry rule and error reporting (sync path)."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_batchops.core.errors import ApiError, StartOutcomeUnknownError, TransientApiError
from airflow_provider_batchops.core.http import ApiClient, Call, RetryPolicy, Timeouts, parse_retry_after

BASE = "https://api.test"


def test_every_path_parameter_is_percent_encoded(requests_mock):
    requests_mock.get(f"{BASE}/rules/v1/batch/a%2Fb%3Fc%23d%24e", json={"ok": True})
    call = Call("GET", "/rules/v1/batch/{batch_id}", path_params={"batch_id": "a/b?c#d$e"})
    assert ApiClient(BASE).request(call).json() == {"ok": True}
    assert requests_mock.last_request.path == "/rules/v1/batch/a%2fb%3fc%23d%24e"


def test_list_query_values_are_repeated_keys_and_none_dropped(requests_mock):
    requests_mock.get(f"{BASE}/jobs", json=[])
    call = Call("GET", "/jobs", params={"state": ["active", "waiting"], "limit": 5, "type": None})
    ApiClient(BASE).request(call)
    assert requests_mock.last_request.qs == {"state": ["active", "waiting"], "limit": ["5"]}


def test_every_request_has_a_timeout(requests_mock):
    requests_mock.get(f"{BASE}/x", json={})
    ApiClient(BASE, timeouts=Timeouts(connect=3, total=7)).request(Call("GET", "/x"))
    assert requests_mock.last_request.timeout == (3, 7)


def test_429_is_retried_after_the_servers_retry_after(requests_mock, no_sleep):
    requests_mock.get(
        f"{BASE}/x",
        [{"status_code": 429, "headers": {"Retry-After": "2"}, "json": {}}, {"json": {"done": 1}}],
    )
    assert ApiClient(BASE).request(Call("GET", "/x")).json() == {"done": 1}
    assert requests_mock.call_count == 2
    assert no_sleep == [2.0]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_on_a_read_are_retried_with_backoff(requests_mock, no_sleep, status):
    requests_mock.get(f"{BASE}/x", [{"status_code": status}, {"status_code": status}, {"json": {}}])
    ApiClient(BASE, retry=RetryPolicy(backoff=1.0)).request(Call("GET", "/x"))
    assert requests_mock.call_count == 3
    assert 0.5 <= no_sleep[0] <= 1.0 and 1.0 <= no_sleep[1] <= 2.0  # exponential, with jitter


def test_a_start_that_got_503_is_not_sent_again(requests_mock, no_sleep):
    requests_mock.post(f"{BASE}/rules/v1/batch", status_code=503, json={"error": "busy"})
    with pytest.raises(ApiError) as err:
        ApiClient(BASE).request(Call("POST", "/rules/v1/batch", json_body={}))
    assert requests_mock.call_count == 1
    assert err.value.status == 503


def test_a_start_rejected_with_429_is_sent_again(requests_mock, no_sleep):
    """429 means the server did not act on the request, so re-sending cannot start a second batch."""
    requests_mock.post(
        f"{BASE}/rules/v1/batch",
        [{"status_code": 429, "headers": {"Retry-After": "1"}}, {"status_code": 202, "json": {"ok": 1}}],
    )
    assert ApiClient(BASE).request(Call("POST", "/rules/v1/batch", json_body={})).json() == {"ok": 1}
    assert requests_mock.call_count == 2


@pytest.mark.parametrize("exc", [requests.exceptions.ReadTimeout, requests.exceptions.ChunkedEncodingError])
def test_a_start_whose_answer_was_lost_is_not_sent_again(requests_mock, no_sleep, exc):
    requests_mock.post(f"{BASE}/rules/v1/batch", exc=exc)
    with pytest.raises(StartOutcomeUnknownError, match="not re-sent"):
        ApiClient(BASE).request(Call("POST", "/rules/v1/batch", json_body={}))
    assert requests_mock.call_count == 1


def test_a_start_that_could_not_connect_is_sent_again(requests_mock, no_sleep):
    requests_mock.post(
        f"{BASE}/rules/v1/batch",
        [{"exc": requests.exceptions.ConnectTimeout}, {"status_code": 202, "json": {"ok": 1}}],
    )
    ApiClient(BASE).request(Call("POST", "/rules/v1/batch", json_body={}))
    assert requests_mock.call_count == 2


def test_a_lost_read_is_retried(requests_mock, no_sleep):
    requests_mock.get(f"{BASE}/x", [{"exc": requests.exceptions.ReadTimeout}, {"json": {"ok": 1}}])
    assert ApiClient(BASE).request(Call("GET", "/x")).json() == {"ok": 1}


def test_retries_are_bounded_and_the_error_keeps_status_and_body(requests_mock, no_sleep):
    requests_mock.get(f"{BASE}/x", status_code=503, json={"statusCode": 503, "error": "maintenance"})
    with pytest.raises(TransientApiError) as err:
        ApiClient(BASE, retry=RetryPolicy(max_attempts=3)).request(Call("GET", "/x"))
    assert requests_mock.call_count == 3
    assert err.value.status == 503
    assert err.value.body == {"statusCode": 503, "error": "maintenance"}
    assert "maintenance" in str(err.value)


def test_client_errors_are_not_retried_and_carry_the_api_message(requests_mock, no_sleep):
    body = {"statusCode": 400, "error": "/action <- unknown action strt"}
    requests_mock.post(f"{BASE}/rules/v1/batch", status_code=400, json=body)
    with pytest.raises(ApiError) as err:
        ApiClient(BASE).request(Call("POST", "/rules/v1/batch", json_body={}))
    assert requests_mock.call_count == 1
    assert err.value.api_message == "/action <- unknown action strt"
    assert "HTTP 400" in str(err.value) and "unknown action strt" in str(err.value)


def test_malformed_json_on_a_read_is_retried_then_reported(requests_mock, no_sleep):
    requests_mock.get(f"{BASE}/x", text="{not json")
    with pytest.raises(ApiError, match="not valid JSON"):
        ApiClient(BASE, retry=RetryPolicy(max_attempts=2)).request(Call("GET", "/x"))
    assert requests_mock.call_count == 2


def test_malformed_json_after_a_start_is_an_unknown_outcome(requests_mock, no_sleep):
    requests_mock.post(f"{BASE}/rules/v1/batch", status_code=202, text="<html>")
    with pytest.raises(StartOutcomeUnknownError):
        ApiClient(BASE).request(Call("POST", "/rules/v1/batch", json_body={}))
    assert requests_mock.call_count == 1


@pytest.mark.parametrize(
    ("header", "expected"),
    [("3", 3.0), ("0", 0.0), ("-4", 0.0), (None, None), ("soon", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_retry_after_header_forms(header, expected):
    assert parse_retry_after(header) == expected


def test_retry_after_is_capped(requests_mock, no_sleep):
    requests_mock.get(f"{BASE}/x", [{"status_code": 429, "headers": {"Retry-After": "9999"}}, {"json": {}}])
    ApiClient(BASE, retry=RetryPolicy(max_backoff=5)).request(Call("GET", "/x"))
    assert no_sleep == [5]


@pytest.mark.parametrize("body", [b'{"state": NaN}', b'{"n": Infinity}', b"[-Infinity]"])
def test_nan_and_infinity_are_not_json(body):
    """Python's parser takes them; Airflow's JSON encoder would meet them later, in XCom."""
    from airflow_provider_batchops.core.http import Reply

    with pytest.raises(ValueError, match="not valid JSON"):
        Reply(200, {}, body).json()
