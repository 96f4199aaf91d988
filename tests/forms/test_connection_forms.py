"""The connection forms as users meet them: a real ``airflow api-server`` serves what the UI draws.

One server for the module (throw-away AIRFLOW_HOME, SQLite, simple auth manager with everyone an
admin, 127.0.0.1 only), started by ``scripts/screenshots.py``'s :class:`ApiServer` and stopped at the
end. The UI builds the "Add Connection" form from ``GET /ui/connections/hook_meta``; every relabelled,
hidden and placeholder field there must match ``CONNECTION_FORMS``.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_batchops.get_provider_info import CONNECTION_FORMS, get_provider_info

ROOT = Path(__file__).resolve().parents[2]
#: The form behaviour's field names -> the names in the API's ``standard_fields``.
API_FIELD = {"schema": "url_schema", "host": "host", "port": "port", "login": "login", "password": "password"}


def _load_screenshots_module() -> Any:
    spec = importlib.util.spec_from_file_location("batchops_screenshots", ROOT / "scripts" / "screenshots.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def api_server() -> Iterator[Any]:
    module = _load_screenshots_module()
    with module.ApiServer(python=sys.executable, startup_timeout=180) as server:
        yield server


@pytest.fixture(scope="module")
def hook_meta(api_server) -> dict[str, dict[str, Any]]:
    entries = api_server.get_json("/ui/connections/hook_meta")
    assert isinstance(entries, list)
    return {entry["connection_type"]: entry for entry in entries if entry.get("connection_type")}


def test_the_server_listens_on_loopback_only(api_server):
    assert api_server.url.startswith("http://127.0.0.1:")


@pytest.mark.parametrize("conn_type", sorted(CONNECTION_FORMS))
def test_the_ui_offers_the_connection_type_with_its_hook(hook_meta, conn_type):
    declared = {c["connection-type"]: c["hook-class-name"] for c in get_provider_info()["connection-types"]}
    assert conn_type in hook_meta, f"{conn_type} missing from the UI's connection types: {sorted(hook_meta)}"
    assert hook_meta[conn_type]["hook_class_name"] == declared[conn_type]
    # The type list shows the service's name, not the bare connection type.
    names = {"waylay": "Waylay", "mammoth": "Mammoth Analytics", "superoffice": "SuperOffice"}
    assert hook_meta[conn_type]["hook_name"] == names[conn_type]


@pytest.mark.parametrize("conn_type", sorted(CONNECTION_FORMS))
def test_hidden_fields_are_hidden_and_the_others_shown(hook_meta, conn_type):
    fields = hook_meta[conn_type]["standard_fields"]
    hidden = set(CONNECTION_FORMS[conn_type]["hidden-fields"])
    for name, api_name in API_FIELD.items():
        shown = fields.get(api_name)
        is_hidden = bool(shown and shown.get("hidden"))
        assert is_hidden == (name in hidden), f"{conn_type}.{name}: hidden={is_hidden} in the UI"


@pytest.mark.parametrize("conn_type", sorted(CONNECTION_FORMS))
def test_relabelled_fields_carry_their_labels(hook_meta, conn_type):
    fields = hook_meta[conn_type]["standard_fields"]
    for name, label in CONNECTION_FORMS[conn_type]["relabeling"].items():
        assert fields[API_FIELD[name]]["title"] == label, f"{conn_type}.{name}"


@pytest.mark.parametrize("conn_type", sorted(CONNECTION_FORMS))
def test_placeholders_reach_the_form(hook_meta, conn_type):
    fields = hook_meta[conn_type]["standard_fields"]
    for name, placeholder in CONNECTION_FORMS[conn_type]["placeholders"].items():
        if name == "extra" and "extra" not in fields:
            continue  # Airflow 3's form has no placeholder for the extras (the docs describe them instead)
        assert fields[API_FIELD[name]]["placeholder"] == placeholder, f"{conn_type}.{name}"


def test_the_docs_say_which_airflow_shows_the_extras(hook_meta):
    """Airflow < 3.2 shows no hint for the extras (the pages describe every one); 3.2+ draws them."""
    fields = hook_meta["waylay"]["standard_fields"]
    if "extra" in fields:  # pragma: no cover - a future Airflow that draws a placeholder
        pytest.skip("this Airflow shows an extras placeholder; update the 'Connection' sections of the docs")
    text = (ROOT / "docs" / "waylay.md").read_text()
    assert "shows no hint for the extras" in text
    assert "Airflow 3.2" in text


def _declarative_fields_supported() -> bool:
    """Airflow 3.2+ reads ``conn-fields`` from the provider info; older versions draw no extras."""
    import airflow
    from packaging.version import Version

    return Version(airflow.__version__).release >= (3, 2)


@pytest.mark.parametrize("conn_type", sorted(CONNECTION_FORMS))
def test_each_extra_is_a_typed_field_with_help_where_airflow_reads_conn_fields(hook_meta, conn_type):
    from airflow_provider_batchops.get_provider_info import CONNECTION_FIELDS

    extra_fields = hook_meta[conn_type].get("extra_fields") or {}
    if not _declarative_fields_supported():
        assert extra_fields == {}, "Airflow < 3.2 keeps the form without extras fields"
        return
    declared = CONNECTION_FIELDS[conn_type]
    assert set(extra_fields) == set(declared)
    for name, field in declared.items():
        shown = extra_fields[name]
        assert shown["schema"]["title"] == field["label"], f"{conn_type}.{name}"
        assert shown["schema"]["type"] == field["schema"]["type"], f"{conn_type}.{name}"
        assert shown["description"] == field["description"], f"{conn_type}.{name}"
        assert shown["schema"].get("enum") == field["schema"].get("enum"), f"{conn_type}.{name}"
