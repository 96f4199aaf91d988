"""Validate JSON bodies against the OpenAPI specs in ``../shared/specs`` (beside the checkout).

Schemas are checked with ``jsonschema`` (draft 4 rules for OpenAPI 3.0, draft 2020-12 for 3.1) and a
``referencing`` registry, so ``#/components/...`` references resolve. OpenAPI-only keywords
(``example``, ``x-...``) are ignored and ``nullable: true`` admits ``null``.

``oneOf`` needs care: these specs use it for shape unions whose branches are not mutually
exclusive (no ``additionalProperties: false``). A finished ``BatchOperationResult`` also satisfies
``BatchOperation``, and ``{"ids": [...]}`` also satisfies the all-optional ``BatchQuery``, so strict
``oneOf`` rejects the specs' own examples, while plain ``anyOf`` would let a broken ``results`` pass
as a running operation. So branches are first told apart by the properties they declare: for an
object, only the branches declaring all of its keys are candidates (all branches if none does),
and at least one candidate must match.

``validate_schema`` checks against a named component schema, e.g. one server-sent event
(``{"event": ..., "data": ...}``) against ``EventWithCloseSSE``, which has no JSON response to hang on.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from jsonschema import Draft4Validator, Draft202012Validator, ValidationError, validators
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4, DRAFT202012

SPECS_DIR = Path(__file__).resolve().parents[3] / "shared" / "specs"
JSON_TYPES = ("application/json", "application/problem+json")

__all__ = [
    "SPECS_DIR",
    "ValidationError",
    "make_validator_class",
    "requires_spec",
    "response_schema",
    "spec_available",
    "validate_request_body",
    "validate_response",
    "validate_schema",
]


def spec_available(name: str) -> bool:
    """Whether ``../shared/specs/<name>`` exists."""
    return (SPECS_DIR / name).is_file()


def requires_spec(name: str, why: str = "") -> pytest.MarkDecorator:
    """Skip a test when the named spec is not beside the checkout (``why`` says why no other oracle will do)."""
    reason = f"../shared/specs/{name} not found: this check needs the shared specs beside the checkout"
    return pytest.mark.skipif(not spec_available(name), reason=f"{reason} ({why})" if why else reason)


@functools.cache
def load_spec(name: str) -> dict[str, Any]:
    """The parsed spec document."""
    spec: dict[str, Any] = json.loads((SPECS_DIR / name).read_text(encoding="utf-8"))
    return spec


def _spec_uri(name: str) -> str:
    return f"https://specs.invalid/{quote(name, safe='')}"


def _is_openapi_31(name: str) -> bool:
    return str(load_spec(name).get("openapi", "3.0")).startswith("3.1")


@functools.cache
def _registry(name: str) -> Registry:
    draft = DRAFT202012 if _is_openapi_31(name) else DRAFT4
    resource: Resource[Any] = draft.create_resource(load_spec(name))
    return Registry().with_resource(_spec_uri(name), resource)


def _local(document: Mapping[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[unquote(part).replace("~1", "/").replace("~0", "~")]
    return node


def _declared(document: Mapping[str, Any], schema: Any, depth: int = 0) -> set[str] | None:
    """Property names an object schema declares (through local ``$ref`` and ``allOf``); ``None`` if open."""
    if depth > 30 or not isinstance(schema, Mapping):
        return None
    extra = schema.get("additionalProperties")
    if (extra is not None and extra is not False) or "patternProperties" in schema:
        return None
    names: set[str] = set(schema.get("properties") or {})
    parts = list(schema.get("allOf") or [])
    ref = schema.get("$ref")
    if isinstance(ref, str):
        if not ref.startswith("#/"):
            return None
        parts.append(_local(document, ref))
    for part in parts:
        found = _declared(document, part, depth + 1)
        if found is None:
            return None
        names |= found
    return names if names else None


def _one_of(document: Mapping[str, Any]) -> Any:
    """``oneOf`` told apart by declared properties; then at least one candidate branch must match."""

    def check(validator: Any, branches: list[Any], instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
        candidates = list(enumerate(branches))
        if isinstance(instance, dict):
            keys = set(instance)
            fitting = []
            for index, branch in candidates:
                declared = _declared(document, branch)
                if declared is None or keys <= declared:
                    fitting.append((index, branch))
            candidates = fitting or candidates
        errors: list[ValidationError] = []
        for index, branch in candidates:
            branch_errors = list(validator.descend(instance, branch, schema_path=index))
            if not branch_errors:
                return
            errors.extend(branch_errors)
        yield ValidationError(f"{instance!r} is not valid under any of the given schemas", context=errors)

    return check


def _nullable(base: Any) -> Any:
    def check(validator: Any, value: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
        if instance is None and schema.get("nullable") is True:
            return
        yield from base(validator, value, instance, schema)

    return check


def make_validator_class(document: Mapping[str, Any], openapi_31: bool = False) -> Any:
    """A ``jsonschema`` validator class for schemas of ``document`` (an OpenAPI 3.0 or 3.1 spec)."""
    if openapi_31:
        return validators.extend(Draft202012Validator, {"oneOf": _one_of(document)})
    return validators.extend(
        Draft4Validator,
        {
            "oneOf": _one_of(document),
            "type": _nullable(Draft4Validator.VALIDATORS["type"]),
            "enum": _nullable(Draft4Validator.VALIDATORS["enum"]),
        },
    )


@functools.cache
def _validator_class(name: str) -> Any:
    return make_validator_class(load_spec(name), _is_openapi_31(name))


def _pointer(*parts: str) -> str:
    return "".join("/" + quote(p.replace("~", "~0").replace("/", "~1"), safe="") for p in parts)


def _follow(spec: Mapping[str, Any], node: Any, pointer: str) -> tuple[Any, str]:
    """Follow local OpenAPI ``$ref`` objects (request bodies, responses) to their target."""
    for _ in range(20):
        if not (isinstance(node, Mapping) and isinstance(node.get("$ref"), str)):
            return node, pointer
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise KeyError(f"only local references are supported, got {ref}")
        pointer = ref[1:]
        node = spec
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    raise KeyError(f"reference loop at {pointer}")


def _operation(spec_name: str, method: str, path_template: str) -> tuple[Mapping[str, Any], str]:
    spec = load_spec(spec_name)
    try:
        operation = spec["paths"][path_template][method.lower()]
    except KeyError:
        raise KeyError(f"{spec_name} has no operation {method.upper()} {path_template}") from None
    return operation, _pointer("paths", path_template, method.lower())


def _json_schema_pointer(spec_name: str, holder: Any, pointer: str, what: str) -> str | None:
    """Pointer to the JSON schema of a request body or response, or ``None`` if it has no content."""
    holder, pointer = _follow(load_spec(spec_name), holder, pointer)
    content = holder.get("content") or {}
    for media_type in content:
        if media_type in JSON_TYPES or media_type.endswith("+json"):
            if "schema" not in content[media_type]:
                return None
            return pointer + _pointer("content", media_type, "schema")
    if content:
        raise KeyError(f"{what} has no JSON content (media types: {', '.join(content)})")
    return None


def _validate(spec_name: str, pointer: str, instance: Any) -> None:
    cls = _validator_class(spec_name)
    validator: Validator = cls({"$ref": _spec_uri(spec_name) + "#" + pointer}, registry=_registry(spec_name))
    error = best_match(validator.iter_errors(instance))
    if error is not None:
        raise error


def validate_request_body(spec_name: str, method: str, path_template: str, body: Any) -> None:
    """Raise ``jsonschema.ValidationError`` if ``body`` does not match the operation's request body."""
    operation, pointer = _operation(spec_name, method, path_template)
    if "requestBody" not in operation:
        raise KeyError(f"{method.upper()} {path_template} takes no request body")
    what = f"request body of {method.upper()} {path_template}"
    schema = _json_schema_pointer(spec_name, operation["requestBody"], pointer + "/requestBody", what)
    if schema is not None:
        _validate(spec_name, schema, body)


def response_schema(spec_name: str, method: str, path_template: str, status: int) -> str | None:
    """JSON pointer of the response schema for ``status`` (``None`` when the response has no body)."""
    operation, pointer = _operation(spec_name, method, path_template)
    responses = operation.get("responses", {})
    for key in (str(status), f"{str(status)[0]}XX", f"{str(status)[0]}xx", "default"):
        if key in responses:
            what = f"{status} response of {method.upper()} {path_template}"
            return _json_schema_pointer(spec_name, responses[key], pointer + _pointer("responses", key), what)
    raise ValidationError(
        f"status {status} is not documented for {method.upper()} {path_template} "
        f"(documented: {', '.join(responses) or 'none'})"
    )


def validate_response(spec_name: str, method: str, path_template: str, status: int, body: Any) -> None:
    """Raise ``jsonschema.ValidationError`` if ``status``/``body`` do not match the documented response."""
    schema = response_schema(spec_name, method, path_template, status)
    if schema is not None:
        _validate(spec_name, schema, body)


def validate_schema(spec_name: str, schema: str, instance: Any) -> None:
    """Raise ``jsonschema.ValidationError`` if ``instance`` does not match a schema of the spec.

    ``schema`` is a name under ``#/components/schemas`` or a JSON pointer starting with ``/``.
    """
    pointer = schema if schema.startswith("/") else _pointer("components", "schemas", schema)
    try:
        _local(load_spec(spec_name), "#" + pointer)
    except (KeyError, IndexError, TypeError):
        raise KeyError(f"{spec_name} has no schema at {pointer}") from None
    _validate(spec_name, pointer, instance)
