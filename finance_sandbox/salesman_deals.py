"""SalesMan deals behind the World's invoices: specification, payer and currency.

SalesMan's `invoice/info` with `dealinfo` returns the invoice's deal as `Deal::info()` builds it
(vladandreevg/salesmancrm, inc/class/Deal.php `Deal::info`): the deal itself, its invoices,
`speca` (the specification: the positions sold), `client` (the customer), `payer` (the client
paying) and the deal's currency (`idcurrency`, `idcourse`). The World keeps SalesMan invoices
only (one deal per invoice number; a partial payment splits the number into parts of one deal),
so this module derives the rest from each deal id, deterministically, without touching the
World's random stream:

- the specification of a deal always adds up exactly to the deal's invoices
  (sum of price * kol * dop == sum of the parts' `summa`), the way a SalesMan deal's amount is
  its specification's total (`reCalculate($did)` after every `Speka::edit`);
- most deals are paid by their client; some by another client of the account (the payer);
- some deals are in a foreign currency. SalesMan stores every amount in the account's own
  currency (roubles) and converts for display: `Currency::currencyConvert()` divides a stored
  amount by the course, `currencyRevert()` multiplies it back. So `summa` stays in roubles and
  the deal carries the currency (`Currency::currencyInfo`) and the course (`courseInfo`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

# (title, unit, tip 0 goods / 1 service, price-list id (0: typed by hand), article)
_POSITIONS = (
    ("Кирпич красный облицовочный", "шт", 0, 3101, "KR-250"),
    ("Цемент М500, мешок 50 кг", "шт", 0, 3102, "CM-500"),
    ("Профнастил С8", "м", 0, 3103, "PN-C8"),
    ("Кабель ВВГнг 3х2,5", "м", 0, 3104, "VVG-325"),
    ("Краска фасадная белая", "л", 0, 3105, "KF-01"),
    ("Монтаж оборудования", "час", 1, 3201, "SRV-MNT"),
    ("Доставка по городу", "усл", 1, 3202, "SRV-DLV"),
    ("Консультация инженера", "час", 1, 0, ""),
    ("Пусконаладочные работы", "усл", 1, 0, ""),
)

# SalesMan currency records (`Currency::currencyInfo`): id, datum, name, view, code (an HTML
# name SalesMan turns into a symbol through Currency::HTMLCODE), course.
CURRENCIES: dict[int, dict[str, Any]] = {
    1: {"id": 1, "datum": "2024-01-09", "name": "Доллар США", "view": "USD", "code": "dollar",
        "course": 91.2345},
    2: {"id": 2, "datum": "2024-01-09", "name": "Евро", "view": "€", "code": "euro",
        "course": 99.8712},
    3: {"id": 3, "datum": "2024-01-09", "name": "Тенге", "view": "тг.", "code": "tenge",
        "course": 0.2011},
}
HTMLCODE = {"dollar": "$", "euro": "€", "tenge": "₸"}  # part of Currency::HTMLCODE


@dataclass(frozen=True, slots=True)
class SpecLine:
    spid: int
    prid: int
    artikul: str
    title: str
    tip: int
    kol: Decimal
    dop: Decimal
    edizm: str
    price: Decimal
    nds: Decimal  # VAT rate, percent (Speka::edit "ставка налога")


@dataclass(frozen=True, slots=True)
class DealExtras:
    did: int
    spec: tuple[SpecLine, ...]
    payer_clid: int
    idcurrency: int
    idcourse: int


def _divisors(cents: int) -> list[int]:
    return [k for k in (1, 2, 3, 4, 5, 10) if cents % k == 0]


def specification(did: int, total: Decimal, with_vat: bool) -> tuple[SpecLine, ...]:
    """Positions of deal `did` whose price * kol * dop add up to `total` exactly."""
    rng = random.Random(did * 7919)
    cents = int((total * 100).to_integral_value())
    if cents <= 0:
        return ()
    count = min(rng.choice((1, 1, 2, 2, 3, 4)), max(1, cents // 100))
    cuts = sorted(rng.sample(range(1, cents), count - 1)) if count > 1 else []
    parts = [b - a for a, b in zip([0, *cuts], [*cuts, cents], strict=True)]
    lines = []
    for index, part in enumerate(parts):
        title, unit, tip, prid, artikul = _POSITIONS[rng.randrange(len(_POSITIONS))]
        kol = rng.choice(_divisors(part))
        lines.append(SpecLine(
            spid=did * 10 + index + 1,
            prid=prid,
            artikul=artikul,
            title=title,
            tip=tip,
            kol=Decimal(kol),
            dop=Decimal(1),
            edizm=unit,
            price=Decimal(part // kol) / 100,
            nds=Decimal(20 if with_vat else 0),
        ))
    return tuple(lines)


def deal_extras(did: int, total: Decimal, with_vat: bool, clid: int,
                other_clients: list[int]) -> DealExtras:
    rng = random.Random(did * 104729)
    payer = clid
    if other_clients and rng.random() < 0.15:
        payer = rng.choice(other_clients)
    idcurrency = rng.choice((1, 2, 3)) if rng.random() < 0.12 else 0
    return DealExtras(
        did=did,
        spec=specification(did, total, with_vat),
        payer_clid=payer,
        idcurrency=idcurrency,
        idcourse=1000 + did if idcurrency else 0,
    )


def currency_info(idcurrency: int) -> dict[str, Any] | list[Any]:
    """`Currency::currencyInfo()`: the record plus `symbol` and `log`; `[]` for none (PHP's
    empty array, as Invoice::info() sends when the deal has no currency)."""
    record = CURRENCIES.get(idcurrency)
    if record is None:
        return []
    symbol = HTMLCODE.get(record["code"], record["code"]) if record["code"] else record["view"]
    return {**record, "identity": 1, "symbol": symbol, "log": []}


def course_info(extras: DealExtras, on: date) -> dict[str, Any] | list[Any]:
    """`Currency::courseInfo()`: the currency_log row of the deal's course, `[]` for none."""
    record = CURRENCIES.get(extras.idcurrency)
    if record is None:
        return []
    return {
        "id": extras.idcourse,
        "idcurrency": extras.idcurrency,
        "datum": f"{on.isoformat()} 10:00:00",
        "course": record["course"],
        "iduser": "20",
        "identity": 1,
    }
