"""Figures for ``docs/reliability.md``, written by the test run itself (never by hand).

A test module declares a section and adds rows as its tests run::

    FAULTS = report.section("fault-matrix", "Fault matrix", ["API", "fault", "outcome", "requests"])

    def test_x():
        ...
        FAULTS.add("Waylay rules", "429", "success", 5)

With ``BATCHOPS_WRITE_REPORT=1`` (``make reliability-report``), at the end of the session every
section that got rows replaces its block in ``docs/reliability.md`` (between ``<!-- section:NAME -->``
markers), stamped with the date and the Airflow version. Sections that did not run keep their last
figures. ``make test`` leaves the file alone: a test run changes no tracked file.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
HEADER = """# Reliability

Every figure below is written by the test suite (`make reliability-report`) from the run that
measured it; `tests/support/reliability_report.py` renders this file. Sections are replaced each time their
tests run that way.
"""


@dataclass
class Section:
    name: str
    title: str
    columns: list[str]
    intro: str = ""
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: Any) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{self.name}: expected {len(self.columns)} cells, got {len(cells)}")
        with _LOCK:
            self.rows.append([_cell(c) for c in cells])

    def note(self, text: str) -> None:
        with _LOCK:
            self.notes.append(text)

    def markdown(self, stamp: str) -> str:
        lines = [f"## {self.title}", "", f"_Measured {stamp}._", ""]
        if self.intro:
            lines += [self.intro, ""]
        lines.append("| " + " | ".join(self.columns) + " |")
        lines.append("|" + "|".join(" --- " for _ in self.columns) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.notes:
            lines += ["", *(f"- {n}" for n in self.notes)]
        return "\n".join(lines)


_LOCK = threading.Lock()
_SECTIONS: dict[str, Section] = {}


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def section(name: str, title: str, columns: list[str], intro: str = "") -> Section:
    """The section ``name`` (created on first use; one per name for the whole session)."""
    with _LOCK:
        if name not in _SECTIONS:
            _SECTIONS[name] = Section(name, title, columns, intro)
        return _SECTIONS[name]


def write(path: Path = DOC) -> list[str]:
    """Replace the blocks of the sections that got rows; return their names."""
    if os.environ.get("BATCHOPS_WRITE_REPORT") != "1":
        return []
    filled = [s for s in _SECTIONS.values() if s.rows]
    if not filled:
        return []
    import airflow

    stamp = f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC with Apache Airflow {airflow.__version__}"
    text = path.read_text() if path.exists() else HEADER
    for sec in sorted(filled, key=lambda s: s.name):
        block = f"<!-- section:{sec.name} -->\n{sec.markdown(stamp)}\n<!-- /section:{sec.name} -->"
        pattern = re.compile(rf"<!-- section:{re.escape(sec.name)} -->.*?<!-- /section:{re.escape(sec.name)} -->",
                             re.DOTALL)
        text = pattern.sub(lambda _m, b=block: b, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return [s.name for s in filled]
