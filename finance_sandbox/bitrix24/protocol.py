"""Limits of the Bitrix24 REST protocol and its error answer."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

PAGE_SIZE = 50
BATCH_MAX_LENGTH = 50
MSK = timezone(timedelta(hours=3))
COUNT_COST_PER_ROW = 20e-6  # seconds of server time per row counted for `total`
OPERATING_LIMIT = 480.0  # seconds of server time per method ...
OPERATING_WINDOW = 600.0  # ... within 10 minutes
MAX_INPUT_VARS = 10_000  # php.ini max_input_vars that Bitrix's site checker asks for
INVOICE_ENTITY_TYPE_ID = 31
KNOWN_EMPTY_ENTITY_TYPES = {1, 2, 3, 4, 7}  # leads, deals, contacts, companies, quotes
SMART_INVOICE_OWNER_TYPE = "SI"


class RestError(Exception):
    """An error answer: HTTP status, Bitrix24 error code and description."""

    def __init__(self, status: int, code: Any, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "error_description": self.description}


def invalid_filter(name: str) -> RestError:
    return RestError(400, "INVALID_ARG_VALUE", f"Invalid filter: field '{name}' has invalid value")
