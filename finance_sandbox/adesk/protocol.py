"""Adesk's answers that are not data: list limits, error bodies, parameter errors."""

from __future__ import annotations

LIST_MAX_LENGTH = 1000
LIST_DEFAULT_LENGTH = 50

AUTH_REQUIRED = {"message": "Auth required", "code": 401, "success": False}
PAYMENT_REQUIRED = {"message": "Payment required", "code": 21, "success": False}
TOO_MANY_REQUESTS = {"message": "Too many requests", "code": 429, "success": False}

RANGES = (
    "all_time",
    "this_month",
    "this_quarter",
    "this_year",
    "prev_month",
    "prev_quarter",
    "prev_year",
    "custom",
)
TXN_STATUSES = ("completed", "planned", "all")
TXN_TYPES = ("all", "income", "outcome", "transfers")
DATE_TYPES = ("cashier", "accrual")
TAXES_CATEGORY = "Налоги и пошлины"


class BadParams(Exception):
    """A request parameter Adesk would refuse (answered 400 with `errors`)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


class NotFound(Exception):
    pass
