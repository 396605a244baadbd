"""How Adesk writes values (money, dates, phones) and reads parameters (dates, ranges, ints)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

from finance_sandbox.adesk.protocol import RANGES, BadParams

# --- formatting helpers ---------------------------------------------------------------------


def money(value: Decimal | None) -> str | None:
    """Adesk's money strings: "67", "13450.14" (no trailing .00 for whole amounts)."""
    if value is None:
        return None
    text = f"{value:.2f}"
    return text[:-3] if text.endswith(".00") else text


def money2(value: Decimal) -> str:
    """Project totals are shown with two decimals ("60000.00")."""
    return f"{value:.2f}"


def format_dmy(d: date | None) -> str | None:
    return d.strftime("%d.%m.%Y") if d is not None else None


def phone(p: str | None) -> str | None:
    """'+79993422243' -> '+7 999 342 22 43' (the docs' spelling)."""
    if not p or len(p) != 12 or not p.startswith("+7"):
        return p
    d = p[2:]
    return f"+7 {d[:3]} {d[3:6]} {d[6:8]} {d[8:]}"


def _parse_iso_date(param: str, value: str) -> date:
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise BadParams(param, "Неверный формат даты, ожидается YYYY-MM-DD") from None


def _quarter_start(d: date) -> date:
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def _month_end(d: date) -> date:
    nxt = date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


def range_bounds(params: Callable[[str], str | None], today: date) -> tuple[date, date] | None:
    """The inclusive [first, last] day a `range` parameter selects; None for all_time."""
    rng = params("range") or "all_time"
    if rng not in RANGES:
        raise BadParams("range", f"Недопустимое значение параметра range: {rng}")
    if rng == "all_time":
        return None
    if rng == "custom":
        start, end = params("range_start"), params("range_end")
        if not start or not end:
            missing = "range_start" if not start else "range_end"
            raise BadParams(missing, "Обязательное поле при range=custom.")
        first = _parse_iso_date("range_start", start)
        last = _parse_iso_date("range_end", end)
        return first, last
    if rng == "this_month":
        return today.replace(day=1), _month_end(today)
    if rng == "prev_month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    if rng == "this_quarter":
        first = _quarter_start(today)
        return first, _month_end(date(first.year, first.month + 2, 1))
    if rng == "prev_quarter":
        last = _quarter_start(today) - timedelta(days=1)
        return _quarter_start(last), last
    if rng == "this_year":
        return date(today.year, 1, 1), date(today.year, 12, 31)
    return date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)  # prev_year


def int_param(value: str | None, name: str, default: int, lo: int, hi: int | None) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadParams(name, f"Параметр {name} должен быть целым числом") from None
    if number < lo:
        raise BadParams(name, f"Параметр {name} не может быть меньше {lo}")
    if hi is not None and number > hi:
        raise BadParams(name, f"Параметр {name} не может быть больше {hi}")
    return number
