"""A filter that selects everything never reaches a destructive batch (issue 12, class 1), and moments in
rules queries are read one way (class 5)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_batchops.core.errors import InputError
from airflow_provider_batchops.models.waylay import RULES_ACTIONS, RulesQuery, rules_batch_body
from airflow_provider_batchops.operators.waylay import RulesBatchDeleteOperator, RulesBatchOperator
from tests.support.helpers import GATEWAY

#: Queries with no effective constraint, and the field each refusal must name.
SELECT_EVERYTHING = [
    ({}, "query"),
    ({"status": None}, "query"),
    ({"tags": {}}, "query.tags"),
    ({"tags": {}, "status": None}, "query.tags"),
    ({"name": ""}, "query.name"),
    ({"name": "   "}, "query.name"),
    ({"user": "\t"}, "query.user"),
    ({"tags": {"site": None}}, "query.tags.site"),
    ({"tags": {"site": ""}}, "query.tags.site"),
    ({"tags": {"site": {}}}, "query.tags.site"),
    ({"tags": {" ": "x"}}, "query.tags"),
    ({"status": "stopped", "tags": {}}, "query.tags"),
    ({"type": "onetime", "resource": " "}, "query.resource"),
]
ACTION_PARAMETERS: dict[str, Any] = {
    "updatePlugins": {"name": "p", "from_version": "any", "to_version": "1.0.0"},
    "updateProperties": {"tags": {"x": 1}},
}


@pytest.mark.parametrize("action", RULES_ACTIONS)
@pytest.mark.parametrize(("query", "field"), SELECT_EVERYTHING)
def test_no_action_runs_on_a_filter_without_effective_constraint(action, query, field):
    with pytest.raises(InputError) as err:
        rules_batch_body(action, query=query, action_parameters=ACTION_PARAMETERS.get(action))
    assert err.value.field == field


def test_a_rules_query_object_gets_the_same_guard():
    with pytest.raises(InputError) as err:
        rules_batch_body("stop", query=RulesQuery(tags={}))
    assert err.value.field == "query.tags"


@pytest.mark.parametrize(("query", "field"), SELECT_EVERYTHING[:6])
def test_the_operator_sends_nothing(waylay_conn, requests_mock, query, field):
    op = RulesBatchDeleteOperator(task_id="t", query=query, deferrable=False, durable=False)
    with pytest.raises(InputError) as err:
        op.execute({"ti": None})
    assert err.value.field == field and requests_mock.call_count == 0


def test_real_constraints_still_pass():
    body = rules_batch_body("delete", query={"tags": {"site": "plant-7"}, "status": "stopped"})
    assert body["query"] == {"tags": {"site": "plant-7"}, "status": "stopped"}


# -- moments -------------------------------------------------------------------------------------------
def test_iso_strings_are_moments():
    body = rules_batch_body("delete", query={"finished_before": "2026-01-01T00:00:00Z"})
    assert body["query"]["finishedBefore"] == int(datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp() * 1000)


@pytest.mark.parametrize(
    ("query", "field", "hint"),
    [
        ({"finished_before": 1_767_225_600}, "query.finished_before", "epoch seconds"),
        ({"created_after": "1767225600"}, "query.created_after", "epoch seconds"),
        ({"finished_before": 0}, "query.finished_before", "epoch seconds"),
        ({"finished_before": True}, "query.finished_before", "true/false"),
        ({"created_after": 1_767_225_600_000, "created_before": 1_700_000_000_000}, "query", "later than"),
        ({"finished_before": "yesterday"}, "query.finished_before", "ISO date-time"),
    ],
)
def test_moments_that_are_plainly_wrong_are_refused(query, field, hint):
    with pytest.raises(InputError) as err:
        rules_batch_body("delete", query=query)
    assert err.value.field == field and hint in str(err.value)


# -- the field the user wrote -----------------------------------------------------------------------------
def test_ids_that_rendered_none_are_named_ids(waylay_conn, requests_mock):
    op = RulesBatchDeleteOperator(task_id="t", ids="{{ ti.xcom_pull('upstream') }}", durable=False)
    op.ids = None  # what the template rendered
    with pytest.raises(InputError) as err:
        op.execute({"ti": None})
    assert err.value.field == "ids" and requests_mock.call_count == 0


def test_the_delete_operator_refuses_an_action():
    with pytest.raises(InputError) as err:
        RulesBatchDeleteOperator(task_id="t", ids=["a"], action="restart")
    assert err.value.field == "action"


def test_a_guarded_query_reaches_the_gateway_unchanged(waylay_conn, token_endpoint, requests_mock, no_sleep):
    requests_mock.post(f"{GATEWAY}/rules/v1/batch", status_code=202, json={"entity": {"id": "b"}})
    requests_mock.get(f"{GATEWAY}/rules/v1/batch/b", json={"id": "b", "finishedTime": 1, "results": {}})
    from unittest.mock import MagicMock

    RulesBatchOperator(task_id="t", action="stop", query={"tags": {"site": "x"}}, deferrable=False,
                       durable=False).execute({"ti": MagicMock(start_date=None)})
    start = next(r for r in requests_mock.request_history if r.url == f"{GATEWAY}/rules/v1/batch")
    assert start.json()["query"] == {"tags": {"site": "x"}}
