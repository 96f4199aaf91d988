"""MammothHook: headers and connection checks, list paging, deletes, job reads (requests-mock)."""

from __future__ import annotations

import pytest

from airflow_provider_batchops.core.errors import (
    ApiError,
    ConnectionConfigError,
)
from airflow_provider_batchops.hooks.mammoth import MammothHook
from airflow_provider_batchops.models.mammoth import (
    id_chunks,
)
from tests.support.helpers import AIRFLOW_VERSION, set_connection
from tests.unit.mammoth.common import API, DS, KEY, SECRET, job, query


# -- hook ---------------------------------------------------------------------------------------------
def test_headers_and_default_host(monkeypatch, requests_mock):
    set_connection(monkeypatch, "mammoth_default", conn_type="mammoth", login=KEY, password=SECRET)
    requests_mock.get("https://app.mammoth.io/api/v2/jobs/7", json={"job": job(7, "success")})
    assert MammothHook().get_job(7)["status"] == "success"
    headers = requests_mock.last_request.headers
    assert (headers["X-API-KEY"], headers["X-API-SECRET"]) == (KEY, SECRET)
    assert "X-WORKSPACE-ID" not in headers


def test_workspace_header_from_the_extra(mm_conn, requests_mock):
    requests_mock.get(f"{API}/jobs/7", json={"job": job(7, "processing")})
    MammothHook().get_job(7)
    assert requests_mock.last_request.headers["X-WORKSPACE-ID"] == "4"


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"password": SECRET}, "login"), ({"login": KEY}, "password"),
     ({"login": KEY, "password": SECRET, "extra": {"workspace_id": "four"}}, "extra.workspace_id"),
     ({"login": KEY, "password": SECRET, "extra": "not json"}, "extra")],
)
def test_bad_connections_name_the_field_and_send_nothing(monkeypatch, requests_mock, fields, field):
    if fields.get("extra") == "not json" and AIRFLOW_VERSION < (3, 2):
        pytest.skip("Airflow 3.1 itself refuses a connection whose extra is not an object")
    set_connection(monkeypatch, "mammoth_default", conn_type="mammoth", host=API, **fields)
    with pytest.raises(ConnectionConfigError) as err:
        MammothHook().get_job(1)
    assert field in str(err.value)
    assert SECRET not in str(err.value)
    assert requests_mock.call_count == 0


def test_iter_batches_follows_pages_until_a_short_one(mm_conn, requests_mock):
    pages = [{"batches": [{"id": i} for i in range(n * 100, n * 100 + size)], "next": "api/v2/x" if size == 100 else "",
              "offset": n * 100, "limit": 100} for n, size in enumerate((100, 100, 7))]
    requests_mock.get(DS, [{"json": p} for p in pages])
    ids = [b["id"] for b in MammothHook().iter_batches(4, 1020, 3453, states=["active"], fields="__min")]
    assert ids == list(range(207))
    offsets = [query(r)["offset"] for r in requests_mock.request_history]
    assert offsets == ["0", "100", "200"]
    assert query(requests_mock.last_request)["status"] == "active"


def test_an_empty_next_ends_the_listing(mm_conn, requests_mock):
    requests_mock.get(DS, json={"batches": [{"id": 1}] * 2, "next": "", "offset": 0, "limit": 2})
    assert len(MammothHook().list_batches(4, 1020, 3453, page_size=2)) == 2
    assert requests_mock.call_count == 1


def test_delete_many_splits_only_when_the_url_would_be_too_long(mm_conn, requests_mock):
    requests_mock.delete(DS, [{"json": {"status_code": 202, "job_id": n}, "status_code": 202} for n in (1, 2, 3)])
    ids = list(range(100_000, 101_500))  # 1,500 six-digit ids: 10,500 characters
    acks = MammothHook().delete_batches(4, 1020, 3453, ids)
    assert [a["job_id"] for a in acks] == [1, 2, 3]
    sent = [int(i) for r in requests_mock.request_history for i in query(r)["ids"].split(",")]
    assert sent == ids
    assert all(len(query(r)["ids"]) <= 4000 for r in requests_mock.request_history)
    assert id_chunks([1, 2, 3]) == [[1, 2, 3]]


def test_a_delete_whose_answer_is_lost_is_sent_again(mm_conn, requests_mock, no_sleep):
    """Deleting is idempotent: a 503 is retried with the retry rule's backoff, bounded."""
    requests_mock.delete(DS, status_code=503, json={"status_code": 503, "detail": "busy"})
    with pytest.raises(ApiError):
        MammothHook().delete_batches(4, 1020, 3453, [1, 2])
    assert requests_mock.call_count == 5 and len(no_sleep) == 4


def test_the_400_detail_appears_in_the_error(mm_conn, requests_mock):
    requests_mock.post(DS, status_code=400, json={"status_code": 400, "detail": "source_id: no such dataset",
                                                  "extra": {}})
    with pytest.raises(ApiError) as err:
        MammothHook().create_batch(4, 1020, 3453, {"source_id": 1})
    assert "no such dataset" in str(err.value) and err.value.status == 400


def test_get_jobs_reads_a_hundred_per_request(mm_conn, requests_mock):
    def listing(request, context):
        return {"jobs": [job(int(i), "processing") for i in query(request)["job_ids"].split(",")]}

    requests_mock.get(f"{API}/jobs", json=listing)
    assert len(MammothHook().get_jobs(list(range(1, 251)))) == 250
    assert [len(query(r)["job_ids"].split(",")) for r in requests_mock.request_history] == [100, 100, 50]


def test_a_job_left_out_of_the_list_is_read_alone_and_its_404_fails(mm_conn, requests_mock):
    requests_mock.get(f"{API}/jobs", json={"jobs": [job(1, "success")]})
    requests_mock.get(f"{API}/jobs/2", status_code=404, json={"status_code": 404, "detail": "Job 2 not found"})
    with pytest.raises(ApiError, match="Job 2 not found"):
        MammothHook().get_jobs([1, 2])


def test_get_one_batch_and_delete_one(mm_conn, requests_mock):
    requests_mock.get(f"{DS}/17", json={"batch": {"id": 17, "state": "active"}})
    requests_mock.delete(f"{DS}/17", status_code=202, json={"status_code": 202, "job_id": 9})
    hook = MammothHook()
    assert hook.get_batch(4, 1020, 3453, 17, fields="__full")["id"] == 17
    assert query(requests_mock.request_history[0])["fields"] == "__full"
    assert hook.delete_batch(4, 1020, 3453, 17)["job_id"] == 9


def test_test_connection(mm_conn, requests_mock):
    requests_mock.get(f"{API}/jobs", json={"jobs": []})
    assert MammothHook().test_connection()[0] is True
    requests_mock.get(f"{API}/jobs", status_code=401, json={"detail": "bad key"})
    ok, message = MammothHook().test_connection()
    assert not ok and "401" in message and SECRET not in message
