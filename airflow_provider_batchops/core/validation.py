"""Turn pydantic validation failures into :class:`InputError` naming the user's field."""

from __future__ import annotations

import ast
import json
import math
import re
from typing import Any, Literal, TypeVar

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


def whole_number_text(text: str) -> bool:
    """Whether ``text`` is a plain whole number: ASCII digits (``str.isdigit`` also takes ``'²'``), an
    optional minus sign, at most 18 digits (beyond, Python refuses to convert very long ones)."""
    digits = text[1:] if text.startswith("-") else text
    return digits.isascii() and digits.isdigit() and len(digits) <= 18


def check_int(value: Any, field: str, minimum: int = 1) -> int:
    """A whole number ``>= minimum``; a rendered template's numeric string is accepted."""
    text = str(value).strip() if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    if not whole_number_text(text) or int(text) < minimum:
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


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Texts that are not ids but what a template renders from a missing value.
_NOT_IDS = ("none", "null", "undefined")


def check_text_id(value: Any, field: str) -> str:
    """A string id as the APIs take it: not blank, no blanks around, no control characters, not
    ``"None"`` (a template that rendered a missing value), not ``.``/``..`` (clients resolve those)."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(field, f"expected a non-empty string id, got {value!r}")
    if value != value.strip():
        raise InputError(field, f"{value!r} has blanks around it")
    if _CONTROL.search(value):
        raise InputError(field, f"{value!r} contains a control character")
    if value.lower() in _NOT_IDS:
        raise InputError(field, f"{value!r} is not an id (did a template render a missing value?)")
    if value in (".", ".."):
        raise InputError(field, f"{value!r} is not an id")
    return value


def check_int_id(value: Any, field: str) -> int:
    """A positive whole-number id (a rendered template's numeric string works; blanks around do not)."""
    if isinstance(value, str) and value != value.strip():
        raise InputError(field, f"{value!r} has blanks around it")
    return check_int(value, field)


def _list_text(text: str, field: str) -> Any:
    """A list rendered by a template: JSON (``["a"]``) or a Python literal (``['a']``, ``(1, 2)``)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise InputError(field, f"could not read a list of ids from {text[:80]!r}") from None


def id_list(value: Any, field: str, kind: Literal["text", "int"] = "text", *, single: bool = True) -> list[Any]:
    """One id or several, given as a list or as rendered by a template; duplicates dropped, order kept.

    A rendered list (``"['a', 'b']"``, ``"[1, 2]"``) is read as a list; whole-number ids also come as
    ``"1,2"``. String ids are never split on commas: an id may contain one.

    :param single: whether one bare string id is accepted; a parameter that takes a list of ids for a
        destructive batch refuses it, since a bare string there is more likely a mistake.
    """
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("[", "("):
            value = _list_text(text, field)
        elif kind == "int" and "," in text:
            value = [piece.strip() for piece in text.split(",") if piece.strip()]
        elif not single:
            raise InputError(field, f"expected a list of ids, got str {value[:80]!r}")
    items = list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]
    if not items:
        raise InputError(field, "the list is empty; give at least one id")
    check = check_text_id if kind == "text" else check_int_id
    named = len(items) > 1 or isinstance(value, (list, tuple, set, frozenset))
    ids = [check(item, f"{field}[{n}]" if named else field) for n, item in enumerate(items)]
    return list(dict.fromkeys(ids))


def check_json(value: Any, field: str) -> Any:
    """A value that can be sent as JSON: no ``nan``/``inf``, only JSON types (checked before sending)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InputError(field, f"cannot be sent as JSON ({exc})") from None
    return value


def check_finite(value: float, field: str) -> float:
    if not math.isfinite(value):
        raise InputError(field, f"expected a finite number, got {value!r}")
    return value
