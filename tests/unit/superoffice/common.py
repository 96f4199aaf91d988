"""Constants and answers shared by the SuperOffice unit tests."""

from __future__ import annotations

from unittest.mock import MagicMock

TENANT = "https://sod.superoffice.test/Cust12345"
API = f"{TENANT}/api/v1"
TOKEN = "8A:Cust12345.secret-access-token"


def info(state, **extra):
    return {"Id": 1234, "Name": "ExportContacts", "State": state, "Result": "", "Response": "", "FileName": "",
            "ProgressPercent": 0, "ProgressDescription": "", "CancellationBehaviour": "CanCancel", **extra}


def ctx():
    return {"ti": MagicMock(start_date=None)}
