"""The declared connection extras (``conn-fields``) without a server: their schema, and that the hooks
read every declared field, and take a field left empty in the form (``null`` or ``""``) as not set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_batchops.core.errors import ConnectionConfigError
from airflow_provider_batchops.get_provider_info import CONNECTION_FIELDS, CONNECTION_FORMS, get_provider_info
from airflow_provider_batchops.hooks.mammoth import MammothHook
from airflow_provider_batchops.hooks.superoffice import SuperOfficeHook
from airflow_provider_batchops.hooks.waylay import WaylayHook
from tests.support.helpers import set_connection

HOOKS = {"waylay": WaylayHook, "mammoth": MammothHook, "superoffice": SuperOfficeHook}


def _conn_fields_schema() -> dict | None:
    """The ``conn-fields`` schema of the installed Airflow's provider.yaml schema (3.2+), if any."""
    import airflow

    path = Path(airflow.__file__).parent / "provider.yaml.schema.json"
    if not path.exists():
        return None
    schema = json.loads(path.read_text())
    item = schema["properties"]["connection-types"]["items"]["properties"]
    return item.get("conn-fields")


def test_every_connection_type_declares_its_extras_next_to_its_form():
    declared = {c["connection-type"]: c for c in get_provider_info()["connection-types"]}
    assert set(declared) == set(CONNECTION_FIELDS) == set(CONNECTION_FORMS)
    for conn_type, entry in declared.items():
        assert entry["conn-fields"] == CONNECTION_FIELDS[conn_type]
        assert entry["ui-field-behaviour"] == CONNECTION_FORMS[conn_type]
        json.dumps(entry)


def test_the_fields_follow_airflows_conn_fields_schema():
    schema = _conn_fields_schema()
    if schema is None:
        pytest.skip("this Airflow's provider.yaml schema has no conn-fields (Airflow < 3.2)")
    jsonschema = pytest.importorskip("jsonschema")
    for conn_type, fields in CONNECTION_FIELDS.items():
        jsonschema.validate(fields, schema)
        for name, field in fields.items():
            assert field["description"], f"{conn_type}.{name} has no help text"
            assert "null" in field["schema"]["type"], f"{conn_type}.{name} must allow an empty form field"


def test_every_declared_field_is_an_extra_the_hook_reads():
    """Each name must appear in the hook module: a field the hook ignores would mislead users."""
    import inspect

    for conn_type, fields in CONNECTION_FIELDS.items():
        module_text = inspect.getsource(inspect.getmodule(HOOKS[conn_type]))
        core_text = inspect.getsource(inspect.getmodule(WaylayHook.__mro__[1]))
        for name in fields:
            assert f'"{name}"' in module_text or f'"{name}"' in core_text, f"{conn_type}: nothing reads {name!r}"


@pytest.mark.parametrize("empty", [None, ""])
def test_extras_left_empty_in_the_form_are_not_set(monkeypatch, empty):
    extra = {"auth": empty, "token": empty, "timeout": empty}
    set_connection(monkeypatch, "waylay_empty", host="https://gateway.test", login="k", password="s", extra=extra)
    client = WaylayHook("waylay_empty").client
    assert client.timeouts.total == 30.0  # the default, not an error
    so_extra = {name: empty for name in CONNECTION_FIELDS["superoffice"]}
    set_connection(monkeypatch, "so_empty", conn_type="superoffice", host="https://so.test/Cust1", password="t",
                   extra=so_extra)
    so_client = SuperOfficeHook("so_empty").client
    assert "SO-Language" not in so_client.headers
    set_connection(monkeypatch, "mm_empty", conn_type="mammoth", login="k", password="s",
                   extra={"workspace_id": empty, "timeout": empty})
    assert MammothHook("mm_empty").client.timeouts.total == 30.0


def test_filled_fields_take_effect_and_bad_ones_name_the_extra(monkeypatch):
    set_connection(monkeypatch, "so_full", conn_type="superoffice", host="https://so.test/Cust1", password="t",
                   extra={"auth": "bearer", "so_language": "nl", "timeout": 12.5})
    client = SuperOfficeHook("so_full").client
    assert client.headers["SO-Language"] == "nl" and client.timeouts.total == 12.5
    set_connection(monkeypatch, "waylay_bad", host="https://gateway.test", login="k", password="s",
                   extra={"auth": "digest"})
    with pytest.raises(ConnectionConfigError) as info:
        _ = WaylayHook("waylay_bad").client
    assert "extra.auth" in str(info.value)
