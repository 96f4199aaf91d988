"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point.

Kept free of heavy imports: Airflow calls it while it discovers providers.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_batchops import __version__

_PKG = "airflow_provider_batchops"

_WAYLAY_FORM = {
    "hidden-fields": ["schema", "port"],
    "relabeling": {"host": "Gateway URL", "login": "API key", "password": "API secret"},
    "placeholders": {
        "host": "https://api.waylay.io",
        "login": "24 hex characters",
        "password": "API secret",
        "extra": '{"auth": "token"}  or  {"auth": "basic"}  or  {"token": "<pre-issued JWT>"}',
    },
}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-batchops",
        "name": "Batch operations (Waylay, Mammoth Analytics, SuperOffice)",
        "description": "Start batch operations on REST APIs and wait for them with deferrable "
        "sensors and triggers.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Waylay",
                "external-doc-url": "https://docs.waylay.io/",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": "Waylay", "python-modules": [f"{_PKG}.hooks.waylay"]}],
        "operators": [{"integration-name": "Waylay", "python-modules": [f"{_PKG}.operators.waylay"]}],
        "sensors": [{"integration-name": "Waylay", "python-modules": [f"{_PKG}.sensors.waylay"]}],
        "triggers": [{"integration-name": "Waylay", "python-modules": [f"{_PKG}.triggers.waylay"]}],
        "connection-types": [
            {
                "connection-type": "waylay",
                "hook-class-name": f"{_PKG}.hooks.waylay.WaylayHook",
                "ui-field-behaviour": _WAYLAY_FORM,
            }
        ],
    }
