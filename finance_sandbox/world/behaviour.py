"""How the sandbox's customers behave like a real small company's: when they buy, when they pay.

Two models, pure functions of the world's random generator (same seed -> same world):

* Seasonality of sales. A Russian/Kazakh B2B seller sells little in the first weeks of January
  (the New Year holidays run to ~8 January), less in summer (holidays), most in the autumn and
  in December (budgets spent before the year closes); almost nothing is invoiced at weekends.
  Invoices are spread over the days of their period in proportion to these weights, instead of
  uniformly, so "sales by month" varies month to month like a real ledger.
* Payment delays against the terms. Most customers pay within the invoice's terms, many of them
  near the due date; some pay late (a few days to two months); a few never pay, and their
  invoices drift into "over 90 days overdue". Receivables aging then looks like a real one:
  mostly "not yet due" and "1-30", a thinning tail, and a handful of bad debts.

The numbers are plausible, not measured: they make the report and the examples read like a
business, and `finance_sandbox_tests/test_world.py` asserts the shape (not the exact values).
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

# Relative sales per calendar month (1 = an average month).
MONTHLY_SEASONALITY: dict[int, float] = {
    1: 0.55, 2: 0.85, 3: 1.05, 4: 1.0, 5: 0.85, 6: 0.9,
    7: 0.75, 8: 0.8, 9: 1.1, 10: 1.2, 11: 1.25, 12: 1.6,
}
WEEKEND_WEIGHT = 0.08  # a few invoices are issued on Saturdays and Sundays
NEW_YEAR_HOLIDAYS_UNTIL = 8  # 1..8 January: almost no business
HOLIDAY_WEIGHT = 0.05

# Payment behaviour of an invoice's customer.
ON_TIME_SHARE = 0.84  # paid by the due date
LATE_SHARE = 0.13  # paid after it; the rest (3 %) never pays
MEAN_DAYS_LATE = 14.0
MAX_DAYS_LATE = 75


def day_weight(day: date) -> float:
    """How much business a calendar day sees, relative to an average weekday."""
    if day.month == 1 and day.day <= NEW_YEAR_HOLIDAYS_UNTIL:
        return HOLIDAY_WEIGHT
    weight = MONTHLY_SEASONALITY[day.month]
    return weight * WEEKEND_WEIGHT if day.weekday() >= 5 else weight


def sales_days(rng: random.Random, first: date, span: int, n: int) -> list[date]:
    """`n` days in first..first+span, drawn in proportion to `day_weight`."""
    days = [first + timedelta(days=offset) for offset in range(span + 1)]
    weights = [day_weight(day) for day in days]
    return rng.choices(days, weights=weights, k=n)


def payment_moment(rng: random.Random, sent: datetime, due: date) -> datetime | None:
    """When the customer pays an invoice sent at `sent` and due on `due`; None: never.

    On time: between sending and the end of the due date, most often in its last third (people
    pay near the deadline). Late: an exponential delay past the due date, capped. Never: a bad
    debt, left open.
    """
    r = rng.random()
    if r >= ON_TIME_SHARE + LATE_SHARE:
        return None
    due_end = datetime.combine(due, datetime.min.time(), sent.tzinfo) + timedelta(hours=18)
    if r < ON_TIME_SHARE or due_end <= sent:
        window = max((due_end - sent).total_seconds(), 3600.0)
        return sent + timedelta(seconds=int(rng.triangular(0.0, window, window * 0.8)))
    days_late = min(1 + rng.expovariate(1 / MEAN_DAYS_LATE), MAX_DAYS_LATE)
    return due_end + timedelta(seconds=int(days_late * 86400))
