"""Input checks (core/validation.py): every refusal names the user's field."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_batchops.core.errors import InputError
from airflow_provider_batchops.core.validation import (
    check_choices,
    check_finite,
    check_int,
    check_int_id,
    check_json,
    check_text_id,
    field_path,
    id_list,
    validate_model,
)


class Filter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: list[str] = Field(default_factory=list)
    limit: int = 10


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    filters: list[Filter] = Field(default_factory=list)


def refused(call, *args, **kwargs) -> InputError:
    with pytest.raises(InputError) as info:
        call(*args, **kwargs)
    return info.value


def test_a_model_problem_names_the_nested_field_under_the_parameter():
    error = refused(validate_model, Request, {"name": "x", "filters": [{}, {"limit": "many"}]}, "request")
    assert error.field == "request.filters[1].limit" and "many" in error.problem
    assert refused(validate_model, Request, {}, "request").field == "request.name"
    extra = refused(validate_model, Request, {"name": "x", "colour": "red"}, "request")
    assert (extra.field, extra.problem) == ("request.colour", "unknown field")
    assert validate_model(Request, Request(name="n"), "request").name == "n"


def test_field_paths_skip_pydantic_union_tags():
    assert field_path("query", ("status",)) == "query.status"
    assert field_path("", ("a", 0, "b")) == "a[0].b"
    assert field_path("q", ("function-after[check()]", "RulesQuery", "ids", 2)) == "q.ids[2]"


@pytest.mark.parametrize(("value", "expected"), [(3, 3), ("12", 12), ("-0", None), ("²", None), (True, None),
                                                 ("1" * 19, None), (0, None), ("1.5", None), (None, None)])
def test_whole_numbers(value, expected):
    if expected is None:
        error = refused(check_int, value, "size")
        assert error.field == "size" and "positive whole number" in error.problem
    else:
        assert check_int(value, "size") == expected
    assert check_int(0, "offset", minimum=0) == 0


@pytest.mark.parametrize(("value", "problem"), [
    ("", "non-empty"), (" a", "blanks around"), ("a\n", "blanks around"), ("a\x00b", "control character"),
    ("None", "did a template render a missing value"), ("null", "not an id"), ("..", "not an id"), (7, "non-empty"),
])
def test_text_ids(value, problem):
    error = refused(check_text_id, value, "job_id")
    assert error.field == "job_id" and problem in error.problem
    assert check_text_id("w,1", "job_id") == "w,1"


def test_int_ids():
    assert check_int_id("42", "task_id") == 42
    assert "blanks around" in refused(check_int_id, " 42", "task_id").problem


def test_id_lists_in_every_form_a_template_renders():
    assert id_list("a", "ids") == ["a"]
    assert id_list(["a", "b", "a"], "ids") == ["a", "b"]  # duplicates dropped, order kept
    assert id_list("['a', 'b']", "ids") == ["a", "b"]
    assert id_list('["a"]', "ids") == ["a"]
    assert id_list("1, 2,3", "ids", "int") == [1, 2, 3]
    assert id_list("(4, 5)", "ids", "int") == [4, 5]
    assert id_list("a,b", "ids") == ["a,b"]  # string ids are never split on commas


def test_id_list_refusals_name_the_item():
    assert refused(id_list, ["a", ""], "ids").field == "ids[1]"
    assert refused(id_list, [], "ids").problem == "the list is empty; give at least one id"
    assert refused(id_list, "[1, 2", "ids").field == "ids"
    assert refused(id_list, "x", "ids", single=False).problem.startswith("expected a list of ids")
    assert refused(id_list, [1, 0], "ids", "int").field == "ids[1]"


def test_choices():
    assert check_choices(None, "states", ("a", "b")) is None
    assert check_choices("a", "states", ("a", "b")) == ["a"]
    assert check_choices(["b", "a", "b"], "states", ("a", "b")) == ["b", "a"]
    assert refused(check_choices, ["c"], "states", ("a", "b")).problem == "'c' is not one of a, b"
    assert refused(check_choices, [], "states", ("a", "b")).field == "states"


def test_values_sent_as_json():
    assert check_json({"a": [1, "x", None]}, "params") == {"a": [1, "x", None]}
    for bad in (float("nan"), {"a": float("inf")}, {"a": object()}, {1, 2}):
        assert refused(check_json, bad, "params").field == "params"
    assert refused(check_finite, float("inf"), "ratio").field == "ratio"
