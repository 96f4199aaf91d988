"""Fixtures of the SuperOffice unit tests."""

from __future__ import annotations

import pytest

from tests.support.helpers import set_connection
from tests.unit.superoffice.common import TENANT, TOKEN


@pytest.fixture
def so_conn(monkeypatch):
    set_connection(monkeypatch, "superoffice_default", conn_type="superoffice", host=TENANT, password=TOKEN,
                   extra={"accept_language": "en", "so_timezone": "UTC"})
