"""The normalisation macros of models/macros/normalize.sql: tax ids agree with
finance_sandbox/taxids.py, names of one company in every system's spelling meet, phones
and SKUs fold to one form. In-memory DuckDB, no warehouse: fast."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal

import duckdb
import pytest

from finance_pipeline.models import MODELS_DIR
from finance_sandbox import taxids
from finance_sandbox.world import World, WorldSize


@pytest.fixture(scope="module")
def db() -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    conn.execute((MODELS_DIR / "macros" / "normalize.sql").read_text(encoding="utf-8"))
    return conn


@pytest.fixture(scope="module")
def small_world() -> World:
    size = WorldSize(
        counterparties=150,
        products=20,
        bitrix_invoices=20,
        salesman_invoices=10,
        apipay_invoices=10,
        extra_transactions=10,
        commitments=2,
        seed=5,
    )
    return World(size)


def _one(db: duckdb.DuckDBPyConnection, expr: str, *params: object) -> object:
    return db.execute(f"SELECT {expr}", list(params)).fetchone()[0]


def test_tax_id_checks_agree_with_python(db: duckdb.DuckDBPyConnection) -> None:
    rng = random.Random(7)
    values: list[str] = []
    for _ in range(4000):
        n = rng.choice((10, 12))
        digits = "".join(str(rng.randrange(10)) for _ in range(n))
        values.append(digits)  # mostly invalid
        values.append(digits[:9] + taxids.inn10_check_digit(digits[:9]))
        if n == 12:
            values.append(digits[:10] + taxids.inn12_check_digits(digits[:10]))
            check = taxids.kz_check_digit(digits[:11])
            if check is not None:
                values.append(digits[:11] + str(check))
    values += ["0000000000", "000000000000", "77O7083893", "7707083893 ", "", "123", "٧٧٠٧٠٨٣٨٩٣"]
    rows = db.execute(
        "SELECT s, valid_inn(s), valid_kz_bin(s) FROM unnest(?) AS t(s)", [values]
    ).fetchall()
    wrong = [r for r in rows if (r[1], r[2]) != (taxids.valid_inn(r[0]), taxids.valid_kz_bin(r[0]))]
    assert not wrong
    assert sum(r[1] for r in rows) > 3000 and sum(r[2] for r in rows) > 1000
    assert _one(db, "valid_inn(NULL)") is False and _one(db, "valid_tax_id(NULL)") is False


def test_norm_tax_id_and_kind(db: duckdb.DuckDBPyConnection) -> None:
    org = "7707083893"
    person = "500100732259"
    assert _one(db, "norm_tax_id(?)", f" {org} ") == org
    assert _one(db, "norm_tax_id(?)", org[:-1] + str((int(org[-1]) + 1) % 10)) is None
    assert _one(db, "tax_id_kind(?)", org) == "ru_inn_organisation"
    assert _one(db, "tax_id_kind(?)", person) == "ru_inn_person"
    body = "0912401343"
    kz = next(
        body + f"{d}" + str(c)
        for d in range(10)
        if (c := taxids.kz_check_digit(body + f"{d}")) is not None
        and not taxids.valid_inn(body + f"{d}" + str(c))
    )
    assert _one(db, "tax_id_kind(?)", kz) == "kz_bin_iin"


def test_world_tax_ids_are_valid(db: duckdb.DuckDBPyConnection, small_world: World) -> None:
    ids = [cp.tax_id for cp in small_world.counterparties.values() if cp.tax_id]
    assert ids
    sql = "SELECT bool_and(valid_tax_id(s)) FROM unnest(?) AS t(s)"
    assert db.execute(sql, [ids]).fetchone()[0]


@pytest.mark.parametrize(
    "name",
    [
        'ООО "Дорос"',
        "ООО «Дорос»",
        "Дорос, ООО",
        "Дорос ООО",
        "ООО Дорос",
        "ООО ДОРОС",
        'ООО "ДОРОС" (дубль)',
        "Общество с ограниченной ответственностью «Дорос»",
        "ОБЩЕСТВО С ОГРАНИЧЕННОЙ ОТВЕТСТВЕННОСТЬЮ “Дорос”",
        "  ООО  ”Дорос”  ",
        "Дорос",
    ],
)
def test_legal_name_spellings_meet(db: duckdb.DuckDBPyConnection, name: str) -> None:
    assert _one(db, "norm_legal_name(?)", name) == "дорос"


def test_legal_names_keep_what_distinguishes(db: duckdb.DuckDBPyConnection) -> None:
    assert _one(db, "norm_legal_name(?)", "ТОО «Алтын Трейд»") == "алтын трейд"
    assert _one(db, "norm_legal_name(?)", "Спец-Лайн, ЗАО") == "спец лайн"
    assert _one(db, "norm_legal_name(?)", "Техносервис") != _one(
        db, "norm_legal_name(?)", "Техно-Сервис"
    )
    assert _one(db, "norm_legal_name(?)", "ИП Фёдоров Иван Петрович") == "федоров иван петрович"
    full = "Индивидуальный предприниматель Федоров Иван Петрович"
    assert _one(db, "norm_legal_name(?)", full) == "федоров иван петрович"
    assert _one(db, "norm_legal_name(?)", "ООО") is None
    assert _one(db, "norm_legal_name(?)", None) is None
    # the form itself, for telling 'АО Нордхолдинг' from 'ООО «Нордхолдинг»'
    assert _one(db, "legal_form_of(?)", "Нордхолдинг, АО") == "АО"
    assert _one(db, "legal_form_of(?)", "Публичное акционерное общество «Гелиос»") == "ПАО"
    assert _one(db, "legal_form_of(?)", "Банк ВТБ (ПАО)") == "ПАО"
    assert _one(db, "legal_form_of(?)", "Дорос") is None


def test_sole_trader_initials(db: duckdb.DuckDBPyConnection) -> None:
    for name in (
        "ИП Иванов Иван Иванович",
        "ИП Иванов И.И.",
        "ИП Иванов И. И.",
        "Иванов Иван Иванович, ИП",
    ):
        assert _one(db, "person_initials_key(?)", name) == "иванов и и", name
    assert _one(db, "person_initials_key(?)", "ООО «Альтаир Плюс Групп»") is None


def test_short_legal_name(db: duckdb.DuckDBPyConnection) -> None:
    cases = {
        "Общество с ограниченной ответственностью «Дорос»": "ООО «Дорос»",
        "Индивидуальный предприниматель Иванов Иван Иванович": "ИП Иванов Иван Иванович",
        "Товарищество с ограниченной ответственностью «Алтын Трейд»": "ТОО «Алтын Трейд»",
        "Дорос, ООО": "ООО Дорос",
        "ООО «Дорос»": "ООО «Дорос»",
    }
    for name, short in cases.items():
        assert _one(db, "short_legal_name(?)", name) == short


def test_every_world_spelling_of_a_company_meets(
    db: duckdb.DuckDBPyConnection, small_world: World
) -> None:
    """The truth's short and full names, and how each system writes them, give one key."""
    rows = []
    for cp in small_world.counterparties.values():
        spellings = [cp.short_name, cp.full_name, f"{cp.core_name}, {cp.legal_form}"]
        spellings += [small_world.bitrix_companies[i].title for i in cp.bitrix_company_ids]
        spellings += [small_world.salesman_clients[i].title for i in cp.salesman_client_ids]
        spellings += [small_world.adesk_contractors[i].name for i in cp.adesk_contractor_ids]
        rows += [(cp.key, cp.legal_form, s) for s in spellings]
    keys = db.execute(
        """SELECT r.cp, list(DISTINCT norm_legal_name(r.s)), list(DISTINCT person_initials_key(r.s))
           FROM (SELECT unnest(?, recursive := true)) AS r
           GROUP BY r.cp""",
        [[{"cp": cp, "s": s} for cp, _form, s in rows]],
    ).fetchall()
    for cp, names, initials in keys:
        cp_rec = small_world.counterparties[cp]
        if cp_rec.legal_form == "ИП":
            # a sole trader: full names meet, initials meet the full name's initials
            assert len([i for i in initials if i is not None]) == 1, (cp, names, initials)
        else:
            assert len(names) == 1, (cp, names)


@pytest.mark.parametrize(
    "raw",
    ["+7 (999) 123-45-67", "8 (999) 123-45-67", "+7 999 123 45 67", "89991234567", "9991234567"],
)
def test_phones(db: duckdb.DuckDBPyConnection, raw: str) -> None:
    assert _one(db, "norm_phone(?)", raw) == "79991234567"


def test_phones_kz_and_junk(db: duckdb.DuckDBPyConnection) -> None:
    assert _one(db, "norm_phone(?)", "8 700 123 45 67") == "77001234567"
    assert _one(db, "norm_phone(?)", "87771234567") == "77771234567"
    assert _one(db, "norm_phone(?)", "12345") is None
    assert _one(db, "norm_phone(?)", "+1 212 555 0100") is None
    assert _one(db, "norm_phone(?)", None) is None


def test_skus_and_product_names(db: duckdb.DuckDBPyConnection) -> None:
    for sku in ("KO-123456", "ko-123456", "КО123456", "КО-123456 ", "K O 123456"):
        assert _one(db, "norm_sku(?)", sku) == "KO123456"
    assert _one(db, "norm_sku(?)", "") is None
    assert _one(db, "norm_product_name(?)", "  Кабель  ВВГнг 3х2,5 ") == "кабель ввгнг 3х2,5"
    assert (
        _one(db, "norm_product_name(?)", "ЦЕМЕНТ М500, мешок 50 кг") == "цемент м500, мешок 50 кг"
    )


def test_parsing_helpers(db: duckdb.DuckDBPyConnection) -> None:
    assert _one(db, "money_or_null(?)", "13450.14") == Decimal("13450.14")
    assert _one(db, "money_or_null(?)", "67") == Decimal("67.00")
    assert _one(db, "money_or_null(?)", "") is None
    assert _one(db, "money_or_null(?)", "12,5") is None
    assert _one(db, "parse_failed(?, money_or_null(?))", "abc", "abc") is True
    assert _one(db, "parse_failed(?, money_or_null(?))", "", "") is False
    moment = _one(db, "msk_naive_to_utc(?)", "2025-01-07 15:56:23")
    assert moment == datetime(2025, 1, 7, 12, 56, 23, tzinfo=UTC)
