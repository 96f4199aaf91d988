"""Mammoth's query parameters: id lists, bounded integers, fields, ``created_at`` ranges, states, sort."""

from __future__ import annotations

import re

from .wire import FIELD_PRESETS, FULL_FIELDS, SORT_FIELDS, STANDARD_FIELDS, STATES, bad_request, parse_iso

_CREATED_AT = re.compile(r"^\((.*)\)$", re.DOTALL)
_BOUND = re.compile(r"^\s*(from|to)\s*:\s*'([^']*)'\s*$")
_SORT = re.compile(r"\(\s*(\w+)\s*:\s*(asc|desc)\s*\)", re.IGNORECASE)


def parse_int_list(name: str, text: str | None) -> list[int] | None:
    """A comma list of non-negative integers, without duplicates; ``None`` when absent or empty."""
    if text is None:
        return None
    pieces = [piece.strip() for piece in text.split(",")]
    if not any(pieces):
        return None
    values: list[int] = []
    for piece in pieces:
        if not piece:
            continue
        if not piece.isdigit() or not piece.isascii():
            raise bad_request(name, f"expected a comma separated list of integers, got '{piece}'")
        values.append(int(piece))
    return list(dict.fromkeys(values))


def parse_bounded_int(name: str, text: str | None, default: int, low: int, high: int | None = None) -> int:
    """An integer query parameter within ``low..high``."""
    if text is None or text.strip() == "":
        return default
    value = text.strip()
    wanted = f"an integer >= {low}" if high is None else f"an integer between {low} and {high}"
    if not re.fullmatch(r"-?\d+", value) or int(value) < low or (high is not None and int(value) > high):
        raise bad_request(name, f"must be {wanted}, got '{text}'")
    return int(value)


def parse_fields(text: str | None) -> tuple[str, ...]:
    """Requested batch fields (comma list and/or presets), in the canonical order."""
    if text is None or text.strip() == "":
        return STANDARD_FIELDS
    wanted: set[str] = set()
    for piece in (p.strip() for p in text.split(",")):
        if not piece:
            continue
        if piece in FIELD_PRESETS:
            wanted.update(FIELD_PRESETS[piece])
        elif piece in FULL_FIELDS:
            wanted.add(piece)
        else:
            known = ", ".join((*FULL_FIELDS, *FIELD_PRESETS))
            raise bad_request("fields", f"unknown field '{piece}', use {known}")
    return tuple(f for f in FULL_FIELDS if f in wanted) or STANDARD_FIELDS


def parse_created_at(text: str | None) -> tuple[float | None, float | None]:
    """``(from:'ISO',to:'ISO')`` with either bound optional -> (low, high) epoch seconds, inclusive."""
    if text is None or text.strip() == "":
        return None, None
    usage = "expected (from:'<ISO-8601>',to:'<ISO-8601>'), either bound may be left out"
    found = _CREATED_AT.match(text.strip())
    if not found or not found.group(1).strip():
        raise bad_request("created_at", usage)
    bounds: dict[str, float] = {}
    for part in found.group(1).split(","):
        bound = _BOUND.match(part)
        if bound is None or bound.group(1) in bounds:
            raise bad_request("created_at", usage)
        bounds[bound.group(1)] = parse_iso("created_at", bound.group(2))
    low, high = bounds.get("from"), bounds.get("to")
    if low is not None and high is not None and low > high:
        raise bad_request("created_at", "from is after to")
    return low, high


def parse_states(text: str | None) -> set[str] | None:
    """The ``status`` filter: a comma list of batch states."""
    if text is None:
        return None
    states = {piece.strip() for piece in text.split(",") if piece.strip()}
    unknown = sorted(states - set(STATES))
    if unknown:
        raise bad_request("status", f"unknown state '{unknown[0]}', use {', '.join(STATES)}")
    return states or None


def parse_sort(text: str | None) -> list[tuple[str, bool]]:
    """``(field:asc|desc)`` groups joined by commas -> ``[(field, descending)]``."""
    if text is None or text.strip() == "":
        return [("id", False)]
    value = text.strip()
    keys: list[tuple[str, bool]] = []
    position = 0
    while position < len(value):
        group = _SORT.match(value, position)
        if group is None:
            raise bad_request("sort", "expected (field:asc|desc) groups joined by commas, e.g. (id:asc),(state:desc)")
        name = group.group(1)
        if name not in SORT_FIELDS:
            raise bad_request("sort", f"cannot sort on '{name}', use {', '.join(SORT_FIELDS)}")
        keys.append((name, group.group(2).lower() == "desc"))
        position = group.end()
        if position < len(value):
            if value[position] != ",":
                raise bad_request("sort", "expected a comma between (field:dir) groups")
            position += 1
            if position == len(value):
                raise bad_request("sort", "trailing comma")
    return keys
