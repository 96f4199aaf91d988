"""Rules batch request validation and the batch status -> BatchState mapping."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_batchops.core.errors import InputError
from airflow_provider_batchops.core.state import BatchState
from airflow_provider_batchops.models.waylay import RULES_ACTIONS, RulesQuery, batch_report, rules_batch_body


@pytest.mark.parametrize("action", [a for a in RULES_ACTIONS if a not in ("updatePlugins", "updateProperties")])
def test_every_command_action_builds_a_body(action):
    assert rules_batch_body(action, ids=["t1"]) == {"entity": "task", "action": action, "query": {"ids": ["t1"]}}


def test_every_query_filter_is_sent_in_camel_case():
    query = RulesQuery(
        name="n", resource="r", type="periodic", status="running", template="tpl", plugin="p:1.0.0",
        user="u@example.com", finished_before=1700000000001, created_after=1700000000002, created_before=1700000000003, tags={"site": "x"},
    )
    body = rules_batch_body("stop", query=query)
    assert body["query"] == {
        "name": "n", "resource": "r", "type": "periodic", "status": "running", "template": "tpl",
        "plugin": "p:1.0.0", "user": "u@example.com", "finishedBefore": 1700000000001, "createdAfter": 1700000000002,
        "createdBefore": 1700000000003, "tags": {"site": "x"},
    }


def test_a_plain_dict_query_accepts_both_spellings_and_templated_numbers():
    body = rules_batch_body("delete", query={"finishedBefore": "1700000000000", "created_after": 1700000000001})
    assert body["query"] == {"finishedBefore": 1700000000000, "createdAfter": 1700000000001}


def test_datetimes_become_epoch_milliseconds():
    moment = datetime(2026, 1, 1, tzinfo=timezone.utc)
    body = rules_batch_body("delete", query={"finished_before": moment})
    assert body["query"]["finishedBefore"] == int(moment.timestamp() * 1000)


def test_ids_rendered_as_text_by_a_template_are_read_as_a_list():
    assert rules_batch_body("delete", ids="['a', 'b']")["query"] == {"ids": ["a", "b"]}
    assert rules_batch_body("delete", ids='["a"]')["query"] == {"ids": ["a"]}


def test_property_updates_keep_nulls_that_delete():
    body = rules_batch_body("updateProperties", ids=["t"], action_parameters={"tags": {"old": None}})
    assert body["actionParameters"] == {"tags": {"old": None}}


@pytest.mark.parametrize(
    ("kwargs", "field", "hint"),
    [
        ({"action": "strt", "ids": ["t"]}, "action", "stopAndDelete"),
        ({"action": "delete"}, "query", "exactly one"),
        ({"action": "delete", "ids": ["t"], "query": {"type": "onetime"}}, "query", "exactly one"),
        ({"action": "delete", "ids": []}, "ids", "empty"),
        ({"action": "delete", "ids": "t1"}, "ids", "list"),
        ({"action": "delete", "ids": ["ok", ""]}, "ids[1]", "non-empty"),
        ({"action": "delete", "ids": ["ok", 7]}, "ids[1]", "string"),
        ({"action": "delete", "query": {"status": "done"}}, "query.status", "running"),
        ({"action": "delete", "query": {"type": "hourly"}}, "query.type", "onetime"),
        ({"action": "delete", "query": {"colour": "red"}}, "query.colour", "unknown field"),
        ({"action": "delete", "query": {"finished_before": -5}}, "query.finished_before", "greater"),
        ({"action": "delete", "query": {"finished_before": "last week"}}, "query.finished_before", "ISO date-time"),
        ({"action": "delete", "query": {}}, "query", "every task"),
        ({"action": "delete", "query": "type=onetime"}, "query", "dict"),
        ({"action": "updatePlugins", "ids": ["t"]}, "action_parameters", "required"),
        ({"action": "updatePlugins", "ids": ["t"], "action_parameters": {"name": "p", "from_version": "1",
                                                                           "to_version": "2.0.0"}},
         "action_parameters.from_version", "pattern"),
        ({"action": "updateProperties", "ids": ["t"], "action_parameters": {}}, "action_parameters", "at least"),
        ({"action": "delete", "ids": ["t"], "action_parameters": {"x": 1}}, "action_parameters", "no parameters"),
    ],
)
def test_bad_requests_name_the_field(kwargs, field, hint):
    with pytest.raises(InputError) as err:
        rules_batch_body(**kwargs)
    assert err.value.field == field
    assert hint in str(err.value)


RUNNING = {"id": "b", "user": "user/u", "operation": {"entity": "task", "action": "delete"}, "queueTime": 1}


def _finished(success, failure):
    return {**RUNNING, "finishedTime": 2, "results": {"success": success, "failure": failure}}


@pytest.mark.parametrize(
    ("body", "state", "item_failures"),
    [
        (RUNNING, BatchState.RUNNING, 0),
        (_finished({"a": {"statusCode": 200}}, {}), BatchState.SUCCEEDED, 0),
        (_finished({}, {}), BatchState.SUCCEEDED, 0),
        (_finished({"a": {"statusCode": 200}}, {"b": {"statusCode": 404, "error": "No task"}}),
         BatchState.PARTIALLY_FAILED, 1),
        (_finished({}, {"b": {"statusCode": 404, "error": "No task"}}), BatchState.FAILED, 1),
    ],
)
def test_batch_state_comes_from_finished_time_and_results(body, state, item_failures):
    report = batch_report("rules", body)
    assert report.state is state
    assert report.item_failures == item_failures
    assert report.summary["batch_id"] == "b"


def test_summary_lists_failed_items_with_their_errors():
    report = batch_report("rules", _finished({"a": {"statusCode": 200}},
                                             {"b": {"statusCode": 404, "error": "No task with id b"}}))
    assert report.summary["succeeded"] == 1
    assert report.summary["failed"] == 1
    assert report.summary["failures"] == {"b": {"statusCode": 404, "error": "No task with id b"}}
    assert "No task with id b" in report.message


def test_stop_and_delete_status_is_read_even_though_the_status_enum_omits_it():
    body = {**_finished({"a": {"statusCode": 200}}, {}), "operation": {"entity": "task", "action": "stopAndDelete"}}
    assert batch_report("rules", body).summary["action"] == "stopAndDelete"
