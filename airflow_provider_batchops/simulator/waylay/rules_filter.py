"""The one task filter of the rules service: batches and the task listing select tasks with it.

A batch filter (``BatchQuery``) compares a tag's value exactly; the listing's ``tags.<key>=<text>``
compares its text (``tags.n=3`` matches the number 3, as the batch filter ``{"n": 3}`` does), and a
bare ``tags.<key>`` matches a task that has the tag.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class TagTexts(frozenset[str]):
    """A listing's tag filter: the tag's text is one of these (``tags.k=a&tags.k=b``); empty = has the tag."""


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _tag_matches(tags: Mapping[str, Any], tag: str, want: object) -> bool:
    if isinstance(want, TagTexts):
        return tag in tags and (not want or _text(tags[tag]) in want)
    return tags.get(tag) == want


def task_matches(task: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    """Tell whether ``task`` satisfies every filter field of ``query`` (a batch's or the listing's)."""
    for key, want in query.items():
        if key == "plugin":
            plugins = task.get("plugins") or []
            if ":" in want:
                found = want in plugins
            else:
                found = any(str(p).split(":", 1)[0] == want for p in plugins)
            if not found:
                return False
        elif key == "tags":
            tags = task.get("tags") or {}
            if not all(_tag_matches(tags, tag, value) for tag, value in want.items()):
                return False
        elif key == "anyTag":  # the listing's ``tags`` (an array of keys): has one of them
            if not set(task.get("tags") or {}) & set(want):
                return False
        elif key == "ids":  # the listing's ``ids`` / ``id``
            if task.get("id") not in want:
                return False
        elif key == "finishedBefore":
            finished = task.get("finishedTime")
            if finished is None or finished >= want:
                return False
        elif key in ("createdAfter", "createdBefore"):
            created = task.get("createdTime")
            if created is None or (created <= want if key == "createdAfter" else created >= want):
                return False
        elif task.get(key) != want:
            return False
    return True
