"""Invoicing models against the sandbox's truth: invoices per source and status to the cent,
invoice lines, the product catalog, and counterparty resolution record by record.

The warehouse is the session one (every source synced from the default sandbox, every model
built). Tests that need other raw data (an API whose numbers drift into strings) work on a copy
and rebuild only the models involved.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from finance_pipeline.checks import contract_checks
from finance_pipeline.checks.invoicing import CHECKS as AREA_CHECKS
from finance_pipeline.models import discover_models, in_build_order
from finance_pipeline.models.assets import build_model
from finance_sandbox.world import World
from finance_sandbox.world.bitrix24_portal import (
    LEGACY_STATUS_BY_ID,
    contact_id_of,
    contacts,
    legacy_invoices,
    portal_stage,
)

# the area's rules plus the generic checks every model's contract declares (keys, references)
CHECKS = AREA_CHECKS + contract_checks()

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MSK = timezone(timedelta(hours=3))
ALMATY = timezone(timedelta(hours=5))
BITRIX_STATUS = {"N": "draft", "S": "issued", "P": "paid", "D": "cancelled"}
APIPAY_STATUS = {
    "pending": "issued",
    "paid": "paid",
    "cancelling": "cancelled",
    "cancelled": "cancelled",
    "expired": "expired",
    "partially_refunded": "partially_refunded",
    "refunded": "refunded",
}
ZERO = Decimal("0.00")


# --- expectations from the truth --------------------------------------------------------------


def _salesman_groups(world: World) -> dict[tuple[str, int, int], list]:
    """SalesMan records of one invoice: same number within a deal (the remainder of a partial
    payment is a new record with the parent's number)."""
    groups: dict[tuple[str, int, int], list] = defaultdict(list)
    for rec in world.salesman_invoices.values():
        groups[(rec.invoice, rec.did, rec.clid)].append(rec)
    return groups


def _salesman_deal_extras(world: World) -> dict[str, object]:
    """invoice_key -> the deal behind each SalesMan invoice as the sandbox serves it (its
    specification, payer and currency, sandbox/salesman_deals.py)."""
    from finance_sandbox.salesman_deals import deal_extras

    out: dict[str, object] = {}
    for parts in _salesman_groups(world).values():
        first = min(parts, key=lambda r: r.id)
        deal = [r for r in world.salesman_invoices.values() if r.did == first.did]
        total = sum((r.summa for r in deal), ZERO)
        others = sorted(c for c in world.salesman_clients if c != first.clid)
        out[f"salesman:{first.id}"] = deal_extras(
            first.did, total, any(r.nds > 0 for r in deal), first.clid, others
        )
    return out


def _expected_invoices(world: World) -> dict[str, dict]:
    """invoice_key -> what marts.invoices must say, straight from the World's records."""
    out: dict[str, dict] = {}
    for inv in world.bitrix_invoices.values():
        status = BITRIX_STATUS[inv.stage_id.split(":")[1]]
        out[f"bitrix24:{inv.id}"] = {
            "source": "bitrix24",
            "number": inv.account_number,
            "amount": inv.opportunity,
            "tax": inv.tax_value,
            "status": status,
            # the portal shows the flow state as a stage of the invoice's funnel (custom ones too)
            "source_status": portal_stage(inv).status_id,
            "paid": inv.opportunity if status == "paid" else ZERO,
            "paid_date": world.paid_date("bitrix24", inv),
            "issued_date": inv.begindate,
            "due_date": inv.closedate,
            "currency": "RUB",
            # issued to a person (no company): the contact is the counterparty
            "cp_record": ("bitrix24", "invoices", inv.id)
            if inv.company_id is not None
            else ("bitrix24", "contact", contact_id_of(inv)),
        }
    for (number, _did, _clid), parts in _salesman_groups(world).items():
        parts.sort(key=lambda r: r.id)
        paid = [p for p in parts if p.paid]
        status = "paid" if len(paid) == len(parts) else "partially_paid" if paid else "issued"
        unpaid_plans = [p.date_plan for p in parts if not p.paid]
        out[f"salesman:{parts[0].id}"] = {
            "source": "salesman",
            "number": number,
            "amount": sum((p.summa for p in parts), ZERO),
            "tax": sum((p.nds for p in parts), ZERO),
            "status": status,
            "source_status": ",".join("paid" if p.paid else "unpaid" for p in parts),
            "paid": sum((p.summa for p in paid), ZERO),
            "paid_date": max(p.date_fact for p in paid) if status == "paid" else None,
            "issued_date": min(p.date_create.date() for p in parts),
            "due_date": max(unpaid_plans) if unpaid_plans else min(p.date_plan for p in parts),
            "currency": "RUB",
            "cp_record": ("salesman", "invoices", parts[0].id),
            "parts": [str(p.id) for p in parts],
        }
    for ainv in world.apipay_invoices.values():
        out[f"apipay:{ainv.id}"] = {
            "source": "apipay",
            "number": str(ainv.id),
            "amount": ainv.amount,
            "tax": None,
            "status": APIPAY_STATUS[ainv.status],
            "source_status": ainv.status,
            "paid": ainv.amount
            if ainv.status in ("paid", "partially_refunded", "refunded")
            else ZERO,
            "paid_date": world.paid_date("apipay", ainv),
            "issued_date": ainv.created_at.astimezone(ALMATY).date(),
            "due_date": None,
            "currency": "KZT",
            "cp_record": ("apipay", "invoices", ainv.id),
        }
    for leg in legacy_invoices(world).values():
        # legacy invoices (entity type 5): status from the INVOICE_STATUS dictionary's semantics
        semantics = LEGACY_STATUS_BY_ID[leg.status_id].semantics
        status = {"S": "paid", "F": "cancelled"}.get(semantics or "", "issued")
        out[f"bitrix24:legacy:{leg.id}"] = {
            "source": "bitrix24",
            "number": leg.account_number,
            "amount": leg.price,
            "tax": leg.tax_value,
            "status": status,
            "source_status": leg.status_id,
            "paid": leg.price if status == "paid" else ZERO,
            "paid_date": leg.date_payed.astimezone(MSK).date() if status == "paid" else None,
            "issued_date": leg.date_bill,
            "due_date": leg.date_pay_before,
            "currency": "RUB",
            "cp_record": ("bitrix24", "companies", leg.company_id)
            if leg.company_id
            else ("bitrix24", "contact", leg.contact_id),
        }
    return out


def _counterparty_truth(world: World, record: tuple[str, str, int]) -> str | None:
    """The world's counterparty of a source record; a Bitrix24 contact (a private person) is a
    counterparty of its own."""
    source, entity, record_id = record
    if (source, entity) == ("bitrix24", "contact"):
        return f"person:{record_id}"
    return world.counterparty_of(source, entity, record_id)


def _partition_agreement(
    ours: dict[object, object], truth: dict[object, object]
) -> tuple[int, list[object]]:
    """Record by record: does the set of records sharing our key equal the set sharing the
    truth's key? Returns (agreeing records, the records that disagree)."""
    by_ours: dict[object, set] = defaultdict(set)
    by_truth: dict[object, set] = defaultdict(set)
    for record, key in ours.items():
        by_ours[key].add(record)
        by_truth[truth[record]].add(record)
    bad = [r for r, key in ours.items() if by_ours[key] != by_truth[truth[r]]]
    return len(ours) - len(bad), bad


def _rows(conn: duckdb.DuckDBPyConnection, sql: str, params: Iterable = ()) -> list[dict]:
    cur = conn.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


# --- invoices ---------------------------------------------------------------------------------


def test_invoice_counts_and_totals_per_source_and_status(
    wh: duckdb.DuckDBPyConnection, world: World
) -> None:
    expected: dict[tuple[str, str], list] = defaultdict(lambda: [0, ZERO, ZERO])
    for inv in _expected_invoices(world).values():
        cell = expected[(inv["source"], inv["status"])]
        cell[0] += 1
        cell[1] += inv["amount"]
        cell[2] += inv["paid"]
    got = {
        (r[0], r[1]): [r[2], r[3], r[4]]
        for r in wh.execute(
            """SELECT source, status, count(*), sum(amount), sum(paid_amount)
               FROM marts.invoices GROUP BY 1, 2"""
        ).fetchall()
    }
    assert got == dict(expected)
    # every unified status of the vocabulary that the sandbox produces is there
    assert {s for _, s in got} >= {"draft", "issued", "paid", "cancelled", "expired", "refunded"}


def test_native_statuses_match_truth(wh: duckdb.DuckDBPyConnection, world: World) -> None:
    """The systems' own statuses, counted and summed like Truth.invoices: Bitrix24 stages and
    ApiPay statuses from marts.invoices, SalesMan's per-record "do" flag from staging."""
    truth = {key: (stat.count, stat.amount) for key, stat in world.truth.invoices.items()}
    for leg in legacy_invoices(world).values():  # the legacy invoices' own INVOICE_STATUS codes
        count, amount = truth.get(("bitrix24", leg.status_id), (0, ZERO))
        truth[("bitrix24", leg.status_id)] = (count + 1, amount + leg.price)
    got = {
        (r[0], r[1]): (r[2], r[3])
        for r in wh.execute(
            """SELECT source, source_status, count(*), sum(amount) FROM marts.invoices
               WHERE source IN ('bitrix24', 'apipay') GROUP BY 1, 2
               UNION ALL
               SELECT 'salesman', CASE WHEN is_paid THEN 'paid' ELSE 'unpaid' END, count(*),
                   sum(amount)
               FROM staging.salesman_invoices GROUP BY 1, 2"""
        ).fetchall()
    }
    assert got == truth


def test_every_invoice_field_matches_truth(wh: duckdb.DuckDBPyConnection, world: World) -> None:
    expected = _expected_invoices(world)
    rows = {r["invoice_key"]: r for r in _rows(wh, "SELECT * FROM marts.invoices")}
    assert rows.keys() == expected.keys()
    for key, exp in expected.items():
        row = rows[key]
        assert row["number"] == exp["number"], key
        assert row["amount"] == exp["amount"], key
        assert row["tax_amount"] == exp["tax"], key
        assert row["status"] == exp["status"], key
        assert row["source_status"] == exp["source_status"], key
        assert row["paid_amount"] == exp["paid"], key
        assert row["paid_date"] == exp["paid_date"], key
        assert (row["paid_at"] is not None) == (exp["paid_date"] is not None), key
        assert row["issued_date"] == exp["issued_date"], key
        assert row["due_date"] == exp["due_date"], key
        assert row["currency"] == exp["currency"], key
        if "parts" in exp:
            assert row["source_record_ids"] == exp["parts"], key
            assert row["parts"] == len(exp["parts"])
        open_amount = exp["amount"] - exp["paid"]
        assert row["outstanding_amount"] == (
            open_amount if exp["status"] in ("issued", "partially_paid") else ZERO
        )


def test_timestamps_are_utc_instants(wh: duckdb.DuckDBPyConnection, world: World) -> None:
    rows = {
        r[0]: r[1:]
        for r in wh.execute("SELECT invoice_key, issued_at, paid_at FROM marts.invoices").fetchall()
    }
    for inv in world.bitrix_invoices.values():
        issued, paid = rows[f"bitrix24:{inv.id}"]
        assert issued == inv.created_time  # +03:00 in the API, the same instant here
        if inv.stage_id.endswith(":P"):
            assert paid == inv.moved_time
    for ainv in world.apipay_invoices.values():
        issued, paid = rows[f"apipay:{ainv.id}"]
        assert issued == ainv.created_at
        assert paid == (
            ainv.paid_at
            if APIPAY_STATUS[ainv.status] in ("paid", "partially_refunded", "refunded")
            else None
        )
    for parts in _salesman_groups(world).values():
        first = min(parts, key=lambda r: r.id)
        issued, _ = rows[f"salesman:{first.id}"]
        # naive Moscow local time in the API
        assert issued == min(p.date_create for p in parts).replace(tzinfo=MSK)
        assert issued.astimezone(UTC).tzinfo is not None


def test_salesman_partial_payments_are_one_invoice(
    wh: duckdb.DuckDBPyConnection, world: World
) -> None:
    split = [parts for parts in _salesman_groups(world).values() if len(parts) > 1]
    assert split, "the default sandbox has split SalesMan invoices"
    rows = _rows(wh, "SELECT * FROM marts.invoices WHERE source = 'salesman' AND parts > 1")
    assert len(rows) == len(split)
    for row in rows:
        assert row["status"] in ("paid", "partially_paid")
        assert row["amount"] == row["paid_amount"] + row["outstanding_amount"]
    n_records = wh.execute("SELECT count(*) FROM staging.salesman_invoices").fetchone()[0]
    assert n_records == len(world.salesman_invoices)
    assert (
        wh.execute("SELECT sum(parts) FROM marts.invoices WHERE source = 'salesman'").fetchone()[0]
        == n_records
    )


def test_invoice_counterparties_match_truth(wh: duckdb.DuckDBPyConnection, world: World) -> None:
    """Invoices of the same real company share one counterparty_key, and only they do."""
    expected = _expected_invoices(world)
    ours = dict(wh.execute("SELECT invoice_key, counterparty_key FROM marts.invoices").fetchall())
    truth = {}
    for key, exp in expected.items():
        truth[key] = _counterparty_truth(world, exp["cp_record"])
    # invoices whose company or contact is unknown (a legacy invoice of a company deleted since)
    # have no counterparty
    assert {k for k, v in ours.items() if v is None} == {k for k, v in truth.items() if v is None}
    with_cp = {k: v for k, v in ours.items() if v is not None}
    agree, bad = _partition_agreement(with_cp, truth)
    assert not bad, f"{agree}/{len(with_cp)} invoices agree; e.g. {bad[:5]}"


# --- invoice lines ----------------------------------------------------------------------------


def test_invoice_lines_match_truth(wh: duckdb.DuckDBPyConnection, world: World) -> None:
    """Bitrix24 product rows, SalesMan deal specifications (invoice/info dealinfo=true) and
    ApiPay `items` are lines; ApiPay units are ApiPay's own, never Adesk's."""
    from finance_sandbox.apipay_catalog import apipay_unit

    lines = _rows(wh, "SELECT * FROM marts.invoice_lines")
    legacy = legacy_invoices(world)
    deals = _salesman_deal_extras(world)
    expected_count = (
        sum(len(i.rows) for i in world.bitrix_invoices.values())
        + sum(len(leg.rows) for leg in legacy.values())
        + sum(len(a.cart_items) for a in world.apipay_invoices.values())
        + sum(len(d.spec) for d in deals.values())
    )
    assert len(lines) == expected_count
    by_key = {r["line_key"]: r for r in lines}
    for inv in world.bitrix_invoices.values():
        for row in inv.rows:
            line = by_key[f"bitrix24:{row.id}"]
            assert line["invoice_key"] == f"bitrix24:{inv.id}"
            assert line["quantity"] == row.quantity
            assert line["price"] == row.price
            assert line["line_total"] == row.price * row.quantity
            assert line["tax_rate"] == row.tax_rate
            assert line["discount_rate"] == row.discount_rate
            assert line["unit"] == row.measure_name
    for leg in legacy.values():  # PRODUCT_ROWS of crm.invoice.get, adding up to PRICE
        keys = [f"bitrix24:legacy:{leg.id}:{row.id}" for row in leg.rows]
        assert [by_key[k]["line_number"] for k in keys] == list(range(1, len(keys) + 1))
        assert sum(by_key[k]["line_total"] for k in keys) == leg.price
        for key, row in zip(keys, leg.rows, strict=True):
            assert by_key[key]["invoice_key"] == f"bitrix24:legacy:{leg.id}"
            assert by_key[key]["tax_rate"] == row.vat_rate * 100
    for ainv in world.apipay_invoices.values():
        for pos, item in enumerate(ainv.cart_items, start=1):
            line = by_key[f"apipay:{ainv.id}:{pos}"]
            assert (line["name"], line["quantity"], line["line_total"]) == (
                item.name,
                item.count,
                item.price * item.count,
            )
            assert line["unit"] == apipay_unit(item.unit_id).name
            expected_product = item.nomenclature_id if item.type == "CATALOGUE" else None
            assert line["source_product_id"] == (
                str(expected_product) if expected_product else None
            )
    for invoice_key, deal in deals.items():
        source_id = invoice_key.split(":")[1]
        for number, spec in enumerate(deal.spec, start=1):
            line = by_key[f"salesman:{source_id}:{spec.spid}"]
            assert line["invoice_key"] == invoice_key and line["line_number"] == number
            assert (line["name"], line["unit"], line["price"]) == (spec.title, spec.edizm,
                                                                    spec.price)
            assert line["quantity"] == spec.kol * spec.dop
            assert line["line_total"] == spec.price * spec.kol * spec.dop
            assert line["tax_rate"] == spec.nds
            assert line["currency"] == "RUB"
    # totals per source
    totals = dict(
        wh.execute("SELECT source, sum(line_total) FROM marts.invoice_lines GROUP BY 1").fetchall()
    )
    assert totals["bitrix24"] == sum(
        (r.price * r.quantity for i in world.bitrix_invoices.values() for r in i.rows), ZERO
    ) + sum((leg.price for leg in legacy.values()), ZERO)
    assert totals["apipay"] == sum(
        (c.price * c.count for a in world.apipay_invoices.values() for c in a.cart_items), ZERO
    )
    assert totals["salesman"] == sum((r.summa for r in world.salesman_invoices.values()), ZERO)


def test_lines_add_up_to_invoice_amounts(wh: duckdb.DuckDBPyConnection, world: World) -> None:
    """Every invoice with lines, from each of the three systems, adds up to its amount."""
    mismatched = wh.execute(_check("lines_sum_to_amount").failing_rows_sql).fetchall()
    assert mismatched == []
    with_lines = dict(wh.execute(
        """SELECT source, count(DISTINCT invoice_key) FROM marts.invoice_lines GROUP BY 1"""
    ).fetchall())
    assert with_lines == {
        "bitrix24": sum(1 for i in world.bitrix_invoices.values() if i.rows)
        + sum(1 for leg in legacy_invoices(world).values() if leg.rows),
        "apipay": sum(1 for a in world.apipay_invoices.values() if a.cart_items),
        "salesman": len(_salesman_groups(world)),
    }
    per_invoice = wh.execute(
        """SELECT l.source, i.amount, sum(l.line_total)
           FROM marts.invoice_lines AS l JOIN marts.invoices AS i USING (invoice_key)
           GROUP BY l.source, l.invoice_key, i.amount"""
    ).fetchall()
    assert {source for source, *_ in per_invoice} == {"bitrix24", "salesman", "apipay"}
    assert all(amount == total for _, amount, total in per_invoice)


def test_salesman_foreign_currency_is_kept(wh: duckdb.DuckDBPyConnection, world: World) -> None:
    """A SalesMan deal in USD/EUR/KZT: amounts stay as SalesMan stores them (RUB), and the
    invoice says what it was issued in, at the deal's course (summa / course)."""
    from finance_sandbox.salesman_deals import CURRENCIES

    iso = {1: "USD", 2: "EUR", 3: "KZT"}
    ours = {
        key: (cur, doc_cur, doc_amount, amount)
        for key, cur, doc_cur, doc_amount, amount in wh.execute(
            """SELECT invoice_key, currency, document_currency, document_amount, amount
               FROM marts.invoices WHERE source = 'salesman'"""
        ).fetchall()
    }
    foreign = 0
    for key, deal in _salesman_deal_extras(world).items():
        currency, doc_currency, doc_amount, amount = ours[key]
        assert currency == "RUB"
        if deal.idcurrency:
            foreign += 1
            assert doc_currency == iso[deal.idcurrency], key
            rate = Decimal(str(CURRENCIES[deal.idcurrency]["course"]))
            assert abs(doc_amount - amount / rate) <= Decimal("0.01") * 2, key
        else:
            assert (doc_currency, doc_amount) == ("RUB", amount)
    assert foreign > 0
    others = wh.execute(
        """SELECT count(*) FROM marts.invoices
           WHERE source <> 'salesman'
             AND (document_currency <> currency OR document_amount <> amount)"""
    ).fetchone()[0]
    assert others == 0


def test_salesman_payer_comes_from_the_deal(wh: duckdb.DuckDBPyConnection, world: World) -> None:
    payers = dict(wh.execute(
        "SELECT invoice_id, payer_id FROM staging.salesman_invoice_details"
    ).fetchall())
    deals = _salesman_deal_extras(world)
    by_did = {d.did: d for d in deals.values()}
    differ = 0
    for rec in world.salesman_invoices.values():
        deal = by_did[rec.did]
        assert payers[str(rec.id)] == str(deal.payer_clid)
        differ += deal.payer_clid != rec.clid
    assert differ > 0


def test_line_products_match_truth(wh: duckdb.DuckDBPyConnection, world: World) -> None:
    rows = wh.execute(
        "SELECT line_key, source, source_product_id, product_key FROM marts.invoice_lines"
    ).fetchall()
    ours, truth = {}, {}
    for line_key, source, product_id, product_key in rows:
        expected = world.product_of(source, int(product_id)) if product_id else None
        assert (product_key is None) == (expected is None), line_key
        if product_key is not None:
            ours[line_key], truth[line_key] = product_key, expected
    agree, bad = _partition_agreement(ours, truth)
    assert not bad, f"{agree}/{len(ours)} lines agree; e.g. {bad[:5]}"


# --- products ---------------------------------------------------------------------------------


def _visible_products(world: World) -> set[str]:
    """Truth products with a record the pipeline can see: a Bitrix24 catalog product, an Adesk
    product, or an item of ApiPay's catalog (GET /catalog)."""
    seen = {world.product_of("bitrix24", i) for i in world.bitrix_products}
    seen |= {world.product_of("adesk", i) for i in world.adesk_products}
    seen |= {world.product_of("apipay", i) for i in world.apipay_nomenclature}
    return seen - {None}


def test_products_match_truth(wh: duckdb.DuckDBPyConnection, world: World) -> None:
    visible = _visible_products(world)
    n_products = wh.execute("SELECT count(*) FROM marts.products").fetchone()[0]
    assert n_products == len(visible)
    assert n_products == world.truth.products_count  # the default sandbox shows every product
    rows = wh.execute("SELECT source, source_id, product_key FROM marts.product_sources").fetchall()
    ours = {(s, i): k for s, i, k in rows}
    truth = {(s, i): world.product_of(s, int(i)) for s, i, _ in rows}
    agree, bad = _partition_agreement(ours, truth)
    print(f"\nproduct records agreeing with the truth: {agree}/{len(ours)}")
    assert not bad, f"{agree}/{len(ours)} product records agree; e.g. {bad[:5]}"
    assert len(ours) == len(world.bitrix_products) + len(world.adesk_products) + len(
        world.apipay_nomenclature
    )


# --- counterparties ---------------------------------------------------------------------------

_ENTITY = {"company": "companies", "contractor": "contractors", "client": "clients"}


def _truth_of_record(world: World, source: str, entity: str, source_id: str) -> str | None:
    if (source, entity) == ("bitrix24", "contact"):
        return _counterparty_truth(world, (source, entity, int(source_id)))
    if source == "apipay":
        # payers are keyed by the normalised phone 7XXXXXXXXXX; ApiPay stores 8XXXXXXXXXX
        for ainv in world.apipay_invoices.values():
            if ainv.phone_number == "8" + source_id[1:]:
                return world.counterparty_of("apipay", "invoices", ainv.id)
        return None
    return world.counterparty_of(source, _ENTITY[entity], int(source_id))


def test_counterparties_match_truth_record_by_record(
    wh: duckdb.DuckDBPyConnection, world: World
) -> None:
    rows = wh.execute(
        """SELECT source, source_entity, source_id, counterparty_key, matched_by
           FROM marts.counterparty_sources"""
    ).fetchall()
    ours = {(s, e, i): k for s, e, i, k, _ in rows}
    truth = {(s, e, i): _truth_of_record(world, s, e, i) for s, e, i, _, _ in rows}
    assert None not in truth.values()
    agree, bad = _partition_agreement(ours, truth)
    rate = agree / len(ours)
    rules = defaultdict(int)
    for *_, rule in rows:
        rules[rule] += 1
    print(
        f"\ncounterparty records agreeing with the truth: {agree}/{len(ours)} = {rate:.1%}; "
        f"matched by {dict(rules)}"
    )
    assert not bad, f"agreement {rate:.1%}; disagreeing: {bad[:10]}"


def test_distinct_counterparties(wh: duckdb.DuckDBPyConnection, world: World) -> None:
    n = wh.execute("SELECT count(*) FROM marts.counterparties").fetchone()[0]
    # every Bitrix24 contact (a private person) is a counterparty of its own
    assert n == world.truth.distinct_counterparties + len(contacts(world))
    # no two share a tax id, and every tax id is the truth's one for that company
    rows = wh.execute(
        """SELECT c.tax_id, s.source, s.source_entity, s.source_id
           FROM marts.counterparties AS c
           JOIN marts.counterparty_sources AS s USING (counterparty_key)
           WHERE c.tax_id IS NOT NULL"""
    ).fetchall()
    for tax_id, source, entity, source_id in rows:
        assert entity != "contact"
        cp = world.counterparties[_truth_of_record(world, source, entity, source_id)]
        assert cp.tax_id == tax_id
    assert wh.execute(
        "SELECT count(tax_id) = count(DISTINCT tax_id) FROM marts.counterparties"
    ).fetchone()[0]


def test_every_source_record_is_mapped_once(wh: duckdb.DuckDBPyConnection, world: World) -> None:
    counts = dict(
        wh.execute("SELECT source, count(*) FROM marts.counterparty_sources GROUP BY 1").fetchall()
    )
    assert counts["bitrix24"] == len(world.bitrix_companies) + len(contacts(world))
    assert counts["adesk"] == len(world.adesk_contractors)
    assert counts["salesman"] == len({s.clid for s in world.salesman_invoices.values()})
    assert counts["apipay"] == len({a.phone_number for a in world.apipay_invoices.values()})
    assert wh.execute(
        "SELECT count(*) = count(DISTINCT record_key) FROM marts.counterparty_sources"
    ).fetchone()[0]


# --- checks -----------------------------------------------------------------------------------


def _check(name: str, table: str | None = None):
    found = [c for c in CHECKS if c.name == name and (table is None or c.table == table)]
    assert len(found) == 1, f"check {name} not found once"
    return found[0]


def test_checks_pass(wh: duckdb.DuckDBPyConnection) -> None:
    failing = {}
    for check in CHECKS:
        n = wh.execute(f"SELECT count(*) FROM ({check.failing_rows_sql}) AS f").fetchone()[0]
        if n and not (check.warn_only and check.name == "finding_invoices_without_counterparty"):
            failing[(check.table, check.name)] = n
    assert failing == {}
    # Bitrix24 invoices issued to a person resolve to the contact (issue 13), so every invoice
    # has a counterparty and the warning is silent.
    no_cp = wh.execute(_check("finding_invoices_without_counterparty").failing_rows_sql).fetchall()
    assert no_cp == []


def test_lines_check_says_why(built_warehouse: Path, tmp_path: Path) -> None:
    """A line that no longer adds up is reported with the difference and a reason."""
    target = tmp_path / "copy.duckdb"
    shutil.copy(built_warehouse, target)
    with duckdb.connect(str(target)) as conn:
        key = conn.execute(
            "SELECT invoice_key FROM marts.invoice_lines WHERE source = 'bitrix24' LIMIT 1"
        ).fetchone()[0]
        conn.execute(
            "UPDATE marts.invoice_lines SET line_total = line_total + 1 WHERE line_key = ("
            "SELECT min(line_key) FROM marts.invoice_lines WHERE invoice_key = ?)",
            [key],
        )
        no_rows = conn.execute(
            """SELECT i.invoice_key FROM marts.invoices AS i
               JOIN staging.bitrix24_invoices AS b ON b.invoice_id = i.source_id
               WHERE i.source = 'bitrix24' AND NOT b.is_manual_amount AND i.invoice_key <> ?
               LIMIT 1""",
            [key],
        ).fetchone()[0]
        conn.execute("DELETE FROM marts.invoice_lines WHERE invoice_key = ?", [no_rows])
        rows = {
            r[0]: r for r in conn.execute(_check("lines_sum_to_amount").failing_rows_sql).fetchall()
        }
    assert rows.keys() == {key, no_rows}
    assert rows[key][6] == Decimal("1.00") and rows[key][7] == "lines and amount disagree"
    assert rows[no_rows][7].startswith("no product rows")


# --- staging under API drift ------------------------------------------------------------------


def _drift(value: object) -> object:
    """What the sandboxes' drift does to a payload, everywhere at once: numbers become strings,
    an unknown field appears."""
    if isinstance(value, dict):
        out = {k: _drift(v) for k, v in value.items()}
        out["x_new_field"] = None
        return out
    if isinstance(value, list):
        return [_drift(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return value


MINE = (
    "bitrix24_invoices",
    "bitrix24_invoice_product_rows",
    "bitrix24_companies",
    "bitrix24_requisites",
    "bitrix24_products",
    "salesman_invoices",
    "salesman_invoice_details",
    "apipay_invoices",
    "apipay_refunds",
    "adesk_contractors",
    "adesk_contractor_requisites",
    "adesk_products",
    "adesk_units",
)
MY_MARTS = (
    "invoices",
    "invoice_lines",
    "products",
    "product_sources",
    "counterparties",
    "counterparty_sources",
)


def test_models_survive_numbers_as_strings(built_warehouse: Path, tmp_path: Path) -> None:
    target = tmp_path / "drift.duckdb"
    shutil.copy(built_warehouse, target)
    with duckdb.connect(str(target)) as conn:
        before = {m: conn.execute(f"SELECT * FROM marts.{m}").fetchall() for m in MY_MARTS}
        for table in MINE:
            rows = conn.execute(f"SELECT id, payload FROM raw.{table}").fetchall()
            ids = [i for i, _ in rows]
            drifted = [json.dumps(_drift(json.loads(p)), ensure_ascii=False) for _, p in rows]
            conn.execute(
                f"""UPDATE raw.{table} AS t SET payload = d.payload
                    FROM (SELECT unnest(?) AS id, unnest(?) AS payload) AS d
                    WHERE t.id = d.id""",
                [ids, drifted],
            )
        wanted = {f"staging.{t}" for t in MINE} | {f"marts.{m}" for m in MY_MARTS}
        for model in in_build_order(discover_models()):
            if model.table in wanted:
                build_model(conn, model)
        for table in MINE:
            assert (
                conn.execute(
                    f"SELECT count(*) FROM staging.{table} WHERE len(_parse_errors) > 0"
                ).fetchone()[0]
                == 0
            ), table
        for m, rows in before.items():
            after = conn.execute(f"SELECT * FROM marts.{m}").fetchall()
            assert sorted(map(repr, after)) == sorted(map(repr, rows)), m


def test_unparsable_values_are_reported(built_warehouse: Path, tmp_path: Path) -> None:
    target = tmp_path / "junk.duckdb"
    shutil.copy(built_warehouse, target)
    with duckdb.connect(str(target)) as conn:
        inv_id = conn.execute("SELECT min(id) FROM raw.bitrix24_invoices").fetchone()[0]
        conn.execute(
            """UPDATE raw.bitrix24_invoices
               SET payload = json_merge_patch(payload, '{"opportunity": "12 345,00 руб"}')
               WHERE id = ?""",
            [inv_id],
        )
        for model in discover_models():
            if model.table == "staging.bitrix24_invoices":
                build_model(conn, model)
        rows = conn.execute(_check("parse_errors", "staging.bitrix24_invoices").failing_rows_sql)
        assert rows.fetchall() == [(inv_id, ["opportunity"])]


# --- example queries --------------------------------------------------------------------------


def test_example_top_customers_by_revenue(wh: duckdb.DuckDBPyConnection) -> None:
    sql = (EXAMPLES / "top_customers_by_revenue.sql").read_text(encoding="utf-8")
    assert sql.startswith("-- ")
    rows = _rows(wh, sql)
    assert rows
    assert {r["currency"] for r in rows} == {"RUB", "KZT"}
    for currency in ("RUB", "KZT"):
        ranked = [r["revenue"] for r in rows if r["currency"] == currency]
        assert 1 <= len(ranked) <= 10 and ranked == sorted(ranked, reverse=True)
        total = wh.execute(
            """SELECT sum(paid_amount - refunded_amount) FROM marts.invoices
               WHERE currency = ? AND paid_amount > 0""",
            [currency],
        ).fetchone()[0]
        assert 0 < sum(ranked) <= total
    assert all(r["revenue"] == r["paid"] - r["refunded"] for r in rows)


def test_example_unpaid_invoices_by_counterparty(wh: duckdb.DuckDBPyConnection) -> None:
    sql = (EXAMPLES / "unpaid_invoices_by_counterparty.sql").read_text(encoding="utf-8")
    assert sql.startswith("-- ")
    rows = _rows(wh, sql)
    assert rows
    totals = dict(
        wh.execute(
            """SELECT currency, sum(amount - paid_amount) FROM marts.invoices
               WHERE status IN ('issued', 'partially_paid') GROUP BY 1"""
        ).fetchall()
    )
    for currency, total in totals.items():
        assert sum(r["outstanding"] for r in rows if r["currency"] == currency) == total
    for r in rows:
        assert r["unpaid_invoices"] == len(r["invoice_numbers"]) >= 1
        assert 0 <= r["overdue"] <= r["outstanding"]


@pytest.mark.parametrize("name", ["top_customers_by_revenue", "unpaid_invoices_by_counterparty"])
def test_examples_state_their_question(name: str) -> None:
    first = (EXAMPLES / f"{name}.sql").read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("-- ") and "?" in first
