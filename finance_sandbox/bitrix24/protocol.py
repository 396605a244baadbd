"""Limits of the Bitrix24 REST protocol and its error answer."""

from __future__ import annotations

from collections import deque
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
KNOWN_EMPTY_ENTITY_TYPES = {1, 2, 7}  # leads, deals, quotes (contacts and companies are served)
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


class OperatingWindow:
    """Server time one method spent within the last `OPERATING_WINDOW` seconds (limits.md: "If
    the total execution time for requests exceeds 480 seconds within a 10-minute period, this
    method is blocked").

    Spends are kept in arrival order with a running sum: an expired spend is subtracted once,
    when it leaves the front, so adding and checking cost O(1) amortised however long the
    history is (re-summing the window on every command made a batch 60x slower after 100k
    commands). The sum is re-based on the deque when it empties, so float drift cannot build up.
    """

    __slots__ = ("_spent", "_sum")

    def __init__(self) -> None:
        self._spent: deque[tuple[float, float]] = deque()
        self._sum = 0.0

    def _expire(self, now: float) -> None:
        spent = self._spent
        horizon = now - OPERATING_WINDOW
        while spent and spent[0][0] < horizon:
            self._sum -= spent.popleft()[1]
        if not spent:
            self._sum = 0.0

    def add(self, now: float, seconds: float) -> None:
        self._expire(now)
        self._spent.append((now, seconds))
        self._sum += seconds

    def total(self, now: float) -> float:
        self._expire(now)
        return self._sum

    def oldest(self, now: float) -> float | None:
        self._expire(now)
        return self._spent[0][0] if self._spent else None
