"""The renderer of docs/reliability.md replaces only the sections that ran."""

from __future__ import annotations

import pytest

from tests.support import reliability_report


def test_sections_replace_their_block_and_keep_the_others(tmp_path, monkeypatch):
    monkeypatch.setattr(reliability_report, "_SECTIONS", {})
    monkeypatch.setenv("BATCHOPS_WRITE_REPORT", "1")
    doc = tmp_path / "reliability.md"
    doc.write_text("# Reliability\n\n<!-- section:old -->\nkept\n<!-- /section:old -->\n\n"
                   "<!-- section:faults -->\nstale\n<!-- /section:faults -->\n")
    faults = reliability_report.section("faults", "Fault matrix", ["API", "requests"])
    faults.add("waylay | rules", 5)
    faults.note("no duplicate start")
    reliability_report.section("empty", "Nothing ran", ["x"])
    assert reliability_report.write(doc) == ["faults"]
    text = doc.read_text()
    assert "kept" in text and "stale" not in text and "Nothing ran" not in text
    assert "| waylay \\| rules | 5 |" in text and "- no duplicate start" in text


def test_rows_must_match_the_columns(monkeypatch):
    monkeypatch.setattr(reliability_report, "_SECTIONS", {})
    with pytest.raises(ValueError, match="expected 2 cells"):
        reliability_report.section("s", "S", ["a", "b"]).add(1)


def test_a_plain_test_run_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(reliability_report, "_SECTIONS", {})
    monkeypatch.delenv("BATCHOPS_WRITE_REPORT", raising=False)
    doc = tmp_path / "reliability.md"
    reliability_report.section("faults", "Fault matrix", ["API"]).add("waylay")
    assert reliability_report.write(doc) == [] and not doc.exists()
