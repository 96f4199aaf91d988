"""Turn pydantic validation failures into :class:`InputError` naming the user's field."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from airflow_provider_batchops.core.errors import InputError

ModelT = TypeVar("ModelT", bound=BaseModel)


def field_path(prefix: str, loc: tuple[Any, ...]) -> str:
    """``("query", "status")`` under prefix ``query`` -> ``query.status``; list indexes as ``[i]``."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not _is_union_tag(part):
            path = f"{path}.{part}" if path else str(part)
    return path


def _is_union_tag(part: Any) -> bool:
    # pydantic names union members in locations (e.g. "function-after[...]", "RulesQuery"); skip those.
    text = str(part)
    return "[" in text or (text[:1].isupper() and text.isidentifier())


def validate_model(model: type[ModelT], data: Any, field: str) -> ModelT:
    """Validate ``data`` as ``model``; on failure raise :class:`InputError` for the first problem."""
    if isinstance(data, model):
        data = data.model_dump(by_alias=True, exclude_none=True)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise InputError(field_path(field, tuple(first["loc"])), _problem(dict(first))) from None


def _problem(error: dict[str, Any]) -> str:
    message = str(error.get("msg", "invalid value"))
    if error.get("type") == "extra_forbidden":
        return "unknown field"
    if "input" in error and error.get("type") != "missing":
        return f"{message} (got {error['input']!r})"
    return message


def check_int(value: Any, field: str, minimum: int = 1) -> int:
    """A whole number ``>= minimum``; a rendered template's numeric string is accepted."""
    text = str(value).strip() if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    if not text.isdigit() or int(text) < minimum:
        kind = "a positive whole number" if minimum == 1 else f"a whole number >= {minimum}"
        raise InputError(field, f"expected {kind}, got {value!r}")
    return int(text)


def check_choices(values: Any, field: str, allowed: tuple[str, ...]) -> list[str] | None:
    """``None``, one value or a list of values, each from ``allowed``."""
    if values is None:
        return None
    items = [values] if isinstance(values, str) else values
    if not isinstance(items, (list, tuple, set)) or not items:
        raise InputError(field, f"expected one or more of {', '.join(allowed)}")
    for item in items:
        if item not in allowed:
            raise InputError(field, f"{item!r} is not one of {', '.join(allowed)}")
    return list(dict.fromkeys(items))
