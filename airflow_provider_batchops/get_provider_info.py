"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point.

Kept free of heavy imports: Airflow calls it while it discovers providers.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_batchops import __version__

_PKG = "airflow_provider_batchops"

#: Connection forms, also given by each hook's ``get_ui_field_behaviour`` (a test keeps them equal).
CONNECTION_FORMS: dict[str, dict[str, Any]] = {
    "waylay": {
        "hidden-fields": ["schema", "port"],
        "relabeling": {"host": "Gateway URL", "login": "API key", "password": "API secret"},
        "placeholders": {
            "host": "https://api.waylay.io",
            "login": "24 hex characters",
            "password": "API secret",
            "extra": '{"auth": "token"}  or  {"auth": "basic"}  or  {"token": "<pre-issued JWT>"}',
        },
    },
    "mammoth": {
        "hidden-fields": ["schema", "port"],
        "relabeling": {"host": "API base URL", "login": "API key", "password": "API secret"},
        "placeholders": {
            "host": "https://app.mammoth.io/api/v2",
            "login": "sent as X-API-KEY",
            "password": "sent as X-API-SECRET",
            "extra": '{"workspace_id": 4}',
        },
    },
    "superoffice": {
        "hidden-fields": ["schema", "port"],
        "relabeling": {
            "host": "WebAPI base URL",
            "login": "User (basic auth only)",
            "password": "Access token / ticket / password",
        },
        "placeholders": {
            "host": "https://sod.superoffice.com/Cust12345",
            "login": "only for auth=basic (onsite)",
            "password": "8A:Cust12345... (bearer) or 7T:... (soticket)",
            "extra": '{"auth": "bearer"}  or  {"auth": "soticket", "app_token": "<client secret>"}',
        },
    },
}


def _timeout_field() -> dict[str, Any]:
    return {
        "label": "Request timeout (s)",
        "description": "Seconds each HTTP request may take, 0.1 to 3600; empty = 30.",
        "schema": {"type": ["number", "null"], "minimum": 0.1, "maximum": 3600},
    }


def _text(label: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": ["string", "null"], **schema}}


#: The extras of each connection type as typed form fields (``conn-fields``, read by Airflow 3.2+ from
#: this dict; the values land in ``Connection.extra`` under these names, which the hooks read). An
#: extra left empty is stored as ``null`` or ``""`` and means "not set" (see ``ApiHook.extras``).
CONNECTION_FIELDS: dict[str, dict[str, dict[str, Any]]] = {
    "waylay": {
        "auth": _text("Authentication", "token (default): the API key and secret are exchanged for a JWT, "
                      "cached until shortly before it expires. basic: key and secret sent as HTTP basic "
                      "auth on every request.", enum=["token", "basic"]),
        "token": _text("Pre-issued JWT", "A Waylay JWT to send as it is instead of the key and secret "
                       "(not refreshed: the connection fails once it expires).", format="password"),
        "timeout": _timeout_field(),
    },
    "mammoth": {
        "workspace_id": {
            "label": "Workspace id",
            "description": "Sent as X-WORKSPACE-ID on every request; empty = the key's default workspace.",
            "schema": {"type": ["integer", "null"], "minimum": 1},
        },
        "timeout": _timeout_field(),
    },
    "superoffice": {
        "auth": _text("Authentication", "bearer (default): the password is an OAuth access token. "
                      "soticket: the password is a ticket (with the application token below). basic: "
                      "login and password, onsite installations only.", enum=["bearer", "soticket", "basic"]),
        "app_token": _text("Application token", "The application's client secret, sent as SO-AppToken "
                           "with auth=soticket.", format="password"),
        "accept_language": _text("Accept-Language", "Sent as the Accept-Language header, e.g. en."),
        "so_language": _text("SO-Language", "Sent as the SO-Language header."),
        "so_culture": _text("SO-Culture", "Sent as the SO-Culture header, e.g. en-GB."),
        "so_timezone": _text("SO-TimeZone", "Sent as the SO-TimeZone header."),
        "timeout": _timeout_field(),
    },
}
_SERVICES = {"Waylay": "waylay", "Mammoth Analytics": "mammoth", "SuperOffice": "superoffice"}
_HOOKS = {"waylay": "WaylayHook", "mammoth": "MammothHook", "superoffice": "SuperOfficeHook"}
#: The names the connection form's type list shows (the hooks' ``hook_name``).
_HOOK_NAMES = {"waylay": "Waylay", "mammoth": "Mammoth Analytics", "superoffice": "SuperOffice"}
_DOCS = {
    "Waylay": "https://docs.waylay.io/",
    "Mammoth Analytics": "https://app.mammoth.io/api/v2/docs",
    "SuperOffice": "https://docs.superoffice.com/",
}


#: Modules beyond ``<kind>.<service>``, by kind and service module.
_MORE_MODULES = {("triggers", "waylay"): ["waylay_events"]}


def _modules(kind: str) -> list[dict[str, Any]]:
    return [
        {
            "integration-name": name,
            "python-modules": [f"{_PKG}.{kind}.{m}" for m in [module, *_MORE_MODULES.get((kind, module), [])]],
        }
        for name, module in _SERVICES.items()
    ]


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-batchops",
        "name": "Batch operations (Waylay, Mammoth Analytics, SuperOffice)",
        "description": "Start batch operations on REST APIs and wait for them with deferrable "
        "sensors and triggers.",
        "versions": [__version__],
        "integrations": [
            {"integration-name": name, "external-doc-url": _DOCS[name], "tags": ["service"]} for name in _SERVICES
        ],
        "hooks": _modules("hooks"),
        "operators": _modules("operators"),
        "sensors": _modules("sensors"),
        "triggers": _modules("triggers"),
        "connection-types": [
            {
                "connection-type": conn_type,
                "hook-class-name": f"{_PKG}.hooks.{conn_type}.{hook}",
                "hook-name": _HOOK_NAMES[conn_type],
                "ui-field-behaviour": CONNECTION_FORMS[conn_type],
                "conn-fields": CONNECTION_FIELDS[conn_type],
            }
            for conn_type, hook in _HOOKS.items()
        ],
    }
