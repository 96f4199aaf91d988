"""The count of a rules batch filter with the task listing: paging, the ``user`` filter, bad answers."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_provider_batchops.core.errors import InputError, MalformedResponseError
from airflow_provider_batchops.hooks.waylay import WaylayHook
from airflow_provider_batchops.models.waylay import listing_params
from tests.support.helpers import GATEWAY

TASKS = f"{GATEWAY}/rules/v1/tasks"


def task(n: int, user: str = "alice") -> dict:
    return {"ID": f"t-{n}", "name": f"task {n}", "status": "stopped", "user": user, "createTime": 1, "network": {}}


def sent(requests_mock) -> list[dict[str, list[str]]]:
    return [parse_qs(urlsplit(r.url).query) for r in requests_mock.request_history if r.path == "/rules/v1/tasks"]


def test_the_filter_becomes_listing_parameters():
    query = {"status": "stopped", "type": "onetime", "finishedBefore": 1_767_225_600_000, "user": "alice",
             "tags": {"site": "plant-7", "n": 3, "on": True}}
    assert listing_params(query) == {"status": "stopped", "type": "onetime", "finishedBefore": 1_767_225_600_000,
                                     "tags.site": "plant-7", "tags.n": 3, "tags.on": True}


def test_a_count_is_one_request_of_one_task(waylay_conn, token_endpoint, requests_mock):
    requests_mock.get(TASKS, json=[task(1)], headers={"X-Count": "12345"})
    found = WaylayHook().preview_rules_tasks({"status": "stopped", "tags": {"on": True}}, listed=0)
    assert found == {"would_affect_count": 12345, "would_affect": [], "listing_requests": 1}
    assert sent(requests_mock) == [{"status": ["stopped"], "tags.on": ["true"], "hits": ["1"], "startIndex": ["0"]}]


def test_a_server_that_answers_fewer_than_asked_is_paged_on(waylay_conn, token_endpoint, requests_mock):
    requests_mock.get(TASKS, [{"json": [task(n) for n in range(s, s + 40)], "headers": {"X-Count": "500"}}
                              for s in (0, 40, 80)])
    found = WaylayHook().preview_rules_tasks({"status": "stopped"}, listed=100)
    assert found["would_affect_count"] == 500 and len(found["would_affect"]) == 100
    assert found["would_affect"][99] == {"id": "t-99", "name": "task 99"}
    assert [(q["hits"], q["startIndex"]) for q in sent(requests_mock)] == [(["100"], ["0"]), (["60"], ["40"]),
                                                                         (["20"], ["80"])]


def test_a_user_filter_reads_every_page_and_counts_that_user(waylay_conn, token_endpoint, requests_mock):
    pages = [[task(n, "alice" if n % 3 else "bob") for n in range(s, min(s + 1000, 2500))] for s in (0, 1000, 2000)]
    requests_mock.get(TASKS, [{"json": page, "headers": {"X-Count": "2500"}} for page in pages])
    found = WaylayHook().preview_rules_tasks({"status": "stopped", "user": "bob"}, listed=2)
    assert found["would_affect_count"] == 834 and found["listing_requests"] == 3
    assert found["would_affect"] == [{"id": "t-0", "name": "task 0"}, {"id": "t-3", "name": "task 3"}]
    assert all("user" not in q for q in sent(requests_mock))  # the listing has no user parameter


@pytest.mark.parametrize(("headers", "body", "reason"), [
    ({}, [], "X-Count header (the total) is missing"),
    ({"X-Count": "many"}, [], "X-Count header (the total) is 'many'"),
    ({"X-Count": "1"}, {"tasks": []}, "expected a JSON array of tasks"),
    ({"X-Count": "1"}, [{"name": "no id"}], "a listed task without an 'ID'"),
])
def test_an_unreadable_listing_fails_naming_the_call(waylay_conn, token_endpoint, requests_mock, headers, body,
                                                      reason):
    requests_mock.get(TASKS, json=body, headers=headers)
    with pytest.raises(MalformedResponseError, match="GET /rules/v1/tasks") as err:
        WaylayHook().preview_rules_tasks({"status": "stopped"}, listed=5)
    assert reason in str(err.value)


def test_a_tag_value_the_listing_cannot_express_is_refused_before_any_request(waylay_conn, requests_mock):
    with pytest.raises(InputError) as err:
        WaylayHook().preview_rules_tasks({"tags": {"site": {"in": ["a", "b"]}}})
    assert err.value.field == "query.tags.site" and requests_mock.call_count == 0
