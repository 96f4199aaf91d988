"""Preview and guard of rules batches by query, against the live simulator (issue 15, part 1).

The task listing (``GET /rules/v1/tasks``) counts what a batch filter selects; the count is what the
batch then touches; ``max_tasks`` refuses before any ``POST /rules/v1/batch``; ``dry_run`` changes
nothing. The cost of a preview of 10,000 matching tasks is measured in requests.
"""

from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock

import pytest
import requests

from airflow_provider_batchops.core.errors import BatchOpsError, InputError
from airflow_provider_batchops.hooks import waylay as waylay_hook
from airflow_provider_batchops.hooks.waylay import WaylayHook
from airflow_provider_batchops.operators.waylay import RulesBatchDeleteOperator, RulesBatchOperator
from tests.support.conformance import RULES_TASKS, validate_response
from tests.support.fixtures_simulator import auth_headers

LIST = "GET /rules/v1/tasks"
START = "POST /rules/v1/batch"
TASKS = "/rules/v1/tasks"


def context() -> dict[str, Any]:
    ti = MagicMock()
    ti.start_date = None
    return {"ti": ti}


def delete(**kwargs: Any) -> RulesBatchDeleteOperator:
    return RulesBatchDeleteOperator(task_id="delete", deferrable=False, durable=False, poll_interval=0.1, **kwargs)


def stored(sim) -> dict[str, dict[str, Any]]:
    return {task["id"]: task for task in sim.app_state.waylay.list_tasks()}


def put(sim, count: int, **fields: Any) -> list[str]:
    ids = [f"t-{i:05d}" for i in range(count)]
    sim.client.put_tasks([{"id": i, "name": f"name-{i}", "status": "stopped", **fields} for i in ids], replace=True)
    return ids


# --- the listing ------------------------------------------------------------------------------------


def test_the_listing_conforms_and_counts_in_x_count(sim_conn):
    total = len(stored(sim_conn))
    reply = requests.get(f"{sim_conn.url}{TASKS}", params={"hits": 7, "startIndex": 3},
                         headers=auth_headers(sim_conn), timeout=5)
    assert reply.status_code == 200
    assert int(reply.headers["X-Count"]) == total > 10
    body = reply.json()
    assert len(body) == 7
    validate_response(RULES_TASKS, "GET", TASKS, 200, body)
    assert [t["ID"] for t in body] == list(stored(sim_conn))[3:10]


def test_the_listing_filters_as_documented(sim_conn):
    sim_conn.client.put_tasks([
        {"id": "a", "type": "onetime", "status": "stopped", "tags": {"site": "plant-7", "n": 3}},
        {"id": "b", "type": "onetime", "status": "running", "tags": {"site": "plant-2"}},
        {"id": "c", "type": "periodic", "status": "stopped", "tags": {}},
    ], replace=True)

    def ids(**params: Any) -> list[str]:
        reply = requests.get(f"{sim_conn.url}{TASKS}", params=params, headers=auth_headers(sim_conn), timeout=5)
        assert reply.status_code == 200, reply.text
        if "hits" not in params:
            assert int(reply.headers["X-Count"]) == len(reply.json())
        return [t["ID"] for t in reply.json()]

    assert ids(status="stopped") == ["a", "c"]
    assert ids(type="onetime", status="stopped") == ["a"]
    assert ids(**{"tags.site": ["plant-7", "plant-2"]}) == ["a", "b"]  # a repeated tag key is an OR
    assert ids(**{"tags.n": "3"}) == ["a"]
    assert ids(**{"tags.n": ""}) == ["a"]  # a bare tag key: has the tag
    assert ids(tags="n,missing") == ["a"]
    assert ids(hits=1, startIndex=1, status="stopped") == ["c"]
    assert ids(hits=0, status="stopped") == []
    for bad in ({"status": "sleeping"}, {"hits": "-1"}, {"user": "alice@example.com"}, {"finishedBefore": "soon"}):
        reply = requests.get(f"{sim_conn.url}{TASKS}", params=bad, headers=auth_headers(sim_conn), timeout=5)
        assert reply.status_code == 400, bad


# --- the preview's count is what the batch touches --------------------------------------------------

QUERIES = [
    {"status": "stopped"},
    {"type": "onetime", "status": "failed"},
    {"tags": {"site": "plant-3"}},
    {"tags": {"env": "prod"}, "type": "periodic"},
    {"plugin": "mySensor", "status": "running"},
    {"template": "pumpHealth.json", "created_before": "2100-01-01T00:00:00Z"},
    {"user": "alice@example.com", "status": "stopped"},
]


@pytest.mark.parametrize("query", QUERIES, ids=[str(sorted(q)) for q in QUERIES])
def test_the_preview_counts_what_the_delete_then_deletes(sim_conn, query):
    before = stored(sim_conn)
    preview = delete(query=query, dry_run=True, max_tasks=None).execute(context())
    assert stored(sim_conn) == before and sim_conn.client.requests_to(START) == 0  # the dry run changed nothing
    assert preview["dry_run"] is True and 0 < preview["would_affect_count"] < len(before)
    assert preview["within_max_tasks"] is True and preview["max_tasks"] is None
    summary = delete(query=query, max_tasks=preview["would_affect_count"], on_item_failure="warn").execute(context())
    assert summary["succeeded"] + summary["failed"] == preview["would_affect_count"]
    gone = set(before) - set(stored(sim_conn))
    assert len(gone) == summary["succeeded"]
    listed = {task["id"] for task in preview["would_affect"]}
    assert len(listed) == min(100, preview["would_affect_count"])
    assert gone <= listed or len(listed) == 100
    assert listed <= gone | set(summary["failures"])


# --- the guard --------------------------------------------------------------------------------------


def test_the_guard_refuses_before_any_batch_request(sim_conn):
    put(sim_conn, 1500)
    before = stored(sim_conn)
    with pytest.raises(BatchOpsError) as err:
        delete(query={"status": "stopped"}).execute(context())  # the default max_tasks: 1000
    message = str(err.value)
    assert "1500 tasks" in message and "max_tasks=1000" in message and "nothing was changed" in message
    assert sim_conn.client.requests_to(START) == 0
    assert sim_conn.client.requests_to(LIST) == 1
    assert stored(sim_conn) == before
    preview = delete(query={"status": "stopped"}, dry_run=True).execute(context())
    assert (preview["would_affect_count"], preview["max_tasks"], preview["within_max_tasks"]) == (1500, 1000, False)
    assert sim_conn.client.requests_to(START) == 0 and stored(sim_conn) == before


@pytest.mark.parametrize(("action", "guarded"), [("stopAndDelete", True), ("stop", False)])
def test_the_auto_limit_guards_the_actions_that_delete(sim_conn, action, guarded):
    put(sim_conn, 1001)
    op = RulesBatchOperator(task_id="t", action=action, query={"status": "stopped"}, deferrable=False,
                            durable=False, wait_for_completion=False)
    if guarded:
        with pytest.raises(BatchOpsError, match="1001 tasks match the query, more than max_tasks=1000"):
            op.execute(context())
        assert sim_conn.client.requests_to(START) == 0
    else:
        op.execute(context())
        assert sim_conn.client.requests_to(START) == 1 and sim_conn.client.requests_to(LIST) == 0


def test_a_count_within_the_limit_starts_the_batch(sim_conn):
    put(sim_conn, 5)
    summary = delete(query={"status": "stopped"}, max_tasks=5).execute(context())
    assert summary["succeeded"] == 5 and stored(sim_conn) == {}
    assert sim_conn.client.requests_to(LIST) == 1 and sim_conn.client.requests_to(START) == 1


def test_ids_are_not_counted(sim_conn):
    ids = put(sim_conn, 3)
    summary = delete(ids=ids, max_tasks=1).execute(context())
    assert summary["succeeded"] == 3 and sim_conn.client.requests_to(LIST) == 0
    preview = delete(ids=["x", "y", "x"], dry_run=True, max_tasks=1).execute(context())
    assert preview["would_affect_count"] == 2 and preview["would_affect"] == [{"id": "x"}, {"id": "y"}]
    assert preview["within_max_tasks"] is True  # ids are not counted against max_tasks
    assert sim_conn.client.requests_to(LIST) == 0


def test_max_tasks_none_sends_no_count(sim_conn):
    put(sim_conn, 1200)
    delete(query={"status": "stopped"}, max_tasks=None).execute(context())
    assert sim_conn.client.requests_to(LIST) == 0 and stored(sim_conn) == {}


def test_a_user_filter_scan_is_bounded(sim_conn, monkeypatch):
    put(sim_conn, 30, user="bob@example.com")
    monkeypatch.setattr(waylay_hook, "USER_SCAN_LIMIT", 20)
    with pytest.raises(InputError) as err:
        delete(query={"status": "stopped", "user": "bob@example.com"}).execute(context())
    assert err.value.field == "query.user" and "30 tasks match the other filters" in str(err.value)
    assert sim_conn.client.requests_to(START) == 0


def test_preview_cost_in_requests_for_10000_matching_tasks(sim_conn, record_property):
    put(sim_conn, 10_000, user="carol@example.com")
    costs = {}
    for name, query, listed in (
        ("count (guard)", {"status": "stopped"}, 0),
        ("count + 100 listed (dry run)", {"status": "stopped"}, 100),
        ("user filter, count (guard)", {"status": "stopped", "user": "carol@example.com"}, 0),
        ("user filter, count + 100 listed (dry run)", {"status": "stopped", "user": "carol@example.com"}, 100),
    ):
        sim_conn.client.reset()
        found = WaylayHook().preview_rules_tasks(query, listed=listed)
        assert found["would_affect_count"] == 10_000 and len(found["would_affect"]) == listed
        assert found["listing_requests"] == sim_conn.client.requests_to(LIST)
        costs[name] = found["listing_requests"]
    record_property("preview_requests_10000", costs)
    print(f"preview cost for 10,000 matching tasks, in requests: {costs}")
    assert costs["count (guard)"] == 1 and costs["count + 100 listed (dry run)"] == 1
    assert costs["user filter, count (guard)"] == 10 == costs["user filter, count + 100 listed (dry run)"]
