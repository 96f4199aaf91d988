"""Fixtures of the Mammoth unit tests."""

from __future__ import annotations

import pytest

from tests.support.helpers import set_connection
from tests.unit.mammoth.common import API, KEY, SECRET


@pytest.fixture
def mm_conn(monkeypatch):
    set_connection(monkeypatch, "mammoth_default", conn_type="mammoth", host=API, login=KEY, password=SECRET,
                   extra={"workspace_id": 4})
