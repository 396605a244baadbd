"""The ApiPay emulator speaks the documented protocol, checked with plain httpx over loopback.

Spec: shared/api-docs/apipay-invoices.md; envelope, refunds and error bodies from ApiPay's public
docs (bazarbaykz/apipay-docs: invoices.md, refunds.md, errors.md, openapi.yaml).
"""

from __future__ import annotations

import re
from datetime import UTC, timedelta
from decimal import Decimal

import httpx
import pytest

from finance_sandbox.core import SANDBOX_CREDENTIALS, FaultPlan, ServerRateLimit
from finance_sandbox.world import ApipayRefund

KEY = SANDBOX_CREDENTIALS["apipay"]["api_key"]
HEADERS = {"X-API-Key": KEY, "Accept": "application/json"}
STATUSES = {"pending", "cancelling", "paid", "cancelled", "expired", "partially_refunded", "refunded"}


@pytest.fixture
def api(sandbox, servers):
    # Protocol tests are not about the rate limit (one test sets its own).
    sandbox.settings.rate_limits["apipay"] = ServerRateLimit(rate=1000, burst=1000)
    with httpx.Client(base_url=servers.base_urls["apipay"], headers=HEADERS, timeout=10) as client:
        yield client


def _all_ids(api: httpx.Client, **params) -> list[int]:
    ids, page = [], 1
    while True:
        body = api.get("/invoices", params={**params, "per_page": 100, "page": page}).json()
        ids += [row["id"] for row in body["data"]]
        if len(body["data"]) < 100:
            return ids
        page += 1


def test_authentication_is_the_x_api_key_header(servers):
    url = servers.base_urls["apipay"] + "/invoices"
    missing = httpx.get(url)
    assert missing.status_code == 401
    assert missing.json() == {"message": "API key is required"}
    wrong = httpx.get(url, headers={"X-API-Key": "not-the-key"})
    assert wrong.status_code == 401
    assert wrong.json() == {"message": "Invalid API key"}
    # The key in the query string is not how ApiPay authenticates.
    assert httpx.get(url, params={"api_key": KEY}).status_code == 401
    assert httpx.get(url, headers=HEADERS).status_code == 200


def test_list_envelope_defaults_and_sorting(api, sandbox):
    world = sandbox.world
    response = api.get("/invoices")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"data", "meta"}
    assert body["meta"] == {"current_page": 1, "per_page": 10, "total": len(world.apipay_invoices)}
    assert len(body["data"]) == 10
    # Default order: created_at, newest first.
    newest = sorted(world.apipay_invoices.values(), key=lambda i: (i.created_at, i.id))[-10:]
    assert [row["id"] for row in body["data"]] == [i.id for i in reversed(newest)]
    assert response.headers["X-RateLimit-Limit"] == "60"
    assert "X-RateLimit-Remaining" in response.headers


def test_paging_reads_every_invoice_of_every_status_once(api, sandbox):
    world = sandbox.world
    ids = _all_ids(api, sort_by="created_at", sort_order="asc")
    assert len(ids) == len(set(ids)) == len(world.apipay_invoices)
    assert set(ids) == set(world.apipay_invoices)
    # No status filter means every status (nothing hidden by a default).
    rows = api.get("/invoices", params={"per_page": 100, "sort_by": "id", "sort_order": "asc"})
    assert [r["id"] for r in rows.json()["data"]] == sorted(world.apipay_invoices)[:100]
    present = {inv.status for inv in world.apipay_invoices.values()}
    assert present >= {"paid", "expired", "cancelled", "partially_refunded", "refunded"}
    listed = set()
    for page in (1, 2, 3):
        data = api.get("/invoices", params={"per_page": 100, "page": page}).json()["data"]
        listed |= {row["status"] for row in data}
    assert listed == present
    beyond = api.get("/invoices", params={"per_page": 100, "page": 50}).json()
    assert beyond["data"] == []
    assert beyond["meta"]["total"] == len(world.apipay_invoices)


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"per_page": 101}, "per_page", "The per page field must not be greater than 100."),
        ({"per_page": 0}, "per_page", "The per page field must be at least 1."),
        ({"per_page": "ten"}, "per_page", "The per page field must be an integer."),
        ({"page": 0}, "page", "The page field must be at least 1."),
        ({"status[]": "done"}, "status.0", "The selected status.0 is invalid."),
        ({"status": "paid"}, "status", "The status field must be an array."),
        ({"date_from": "01.02.2026"}, "date_from", "The date from field must match the format Y-m-d."),
        (
            {"date_from": "2026-02-01", "date_to": "2026-01-31"},
            "date_to",
            "The date to field must be a date after or equal to date from.",
        ),
        ({"sort_order": "up"}, "sort_order", "The selected sort order is invalid."),
        ({"sort_by": "updated_at"}, "sort_by", "The selected sort by is invalid."),
    ],
)
def test_invalid_parameters_are_rejected_with_422(api, params, field, message):
    response = api.get("/invoices", params=params)
    assert response.status_code == 422
    assert response.json() == {"message": "Validation failed", "errors": {field: [message]}}


def test_status_and_creation_date_filters(api, sandbox):
    world = sandbox.world
    wanted = ("partially_refunded", "refunded")
    ids = _all_ids(api, **{"status[]": list(wanted)})
    assert sorted(ids) == sorted(i.id for i in world.apipay_invoices.values() if i.status in wanted)

    newest = max(inv.created_at for inv in world.apipay_invoices.values())
    day = (newest - timedelta(days=60)).astimezone(UTC).date()
    last = (newest - timedelta(days=5)).astimezone(UTC).date()
    ids = _all_ids(api, date_from=day.isoformat(), date_to=last.isoformat())
    expected = [
        inv.id
        for inv in world.apipay_invoices.values()
        if day <= inv.created_at.astimezone(UTC).date() <= last
    ]
    assert ids and sorted(ids) == sorted(expected)


def test_invoice_json_is_the_published_read_shape(api, sandbox):
    """A list item is openapi 2.1 `InvoiceListItem`, a single invoice `Invoice`: the cart as
    `items` (schema `InvoiceItem`, lowercase fields, ApiPay's own unit ids), never the create
    request's `cart_items`."""
    from finance_sandbox.apipay_catalog import apipay_unit_id

    world = sandbox.world
    by_id = {}
    for page in (1, 2, 3):
        for row in api.get("/invoices", params={"per_page": 100, "page": page}).json()["data"]:
            by_id[row["id"]] = row
    with_cart = next(i for i in world.apipay_invoices.values() if i.cart_items)
    row = by_id[with_cart.id]
    assert row["amount"] == f"{with_cart.amount:.2f}"
    assert re.fullmatch(r"\d+\.\d{2}", row["amount"])
    assert re.fullmatch(r"8\d{10}", row["phone"]) and "phone_number" not in row
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row["created_at"])
    assert {"id", "amount", "status", "description", "external_order_id", "phone",
            "created_at", "paid_at", "items", "total_refunded", "is_fully_refunded"} <= set(row)
    assert "cart_items" not in row
    assert len(row["items"]) == len(with_cart.cart_items)
    for position, (item, truth) in enumerate(zip(row["items"], with_cart.cart_items,
                                                 strict=True), start=1):
        assert item["id"] == with_cart.id * 100 + position
        assert set(item) >= {"id", "invoice_id", "catalog_item_id", "name", "price", "count",
                             "unit_id", "discount"}
        assert item["invoice_id"] == with_cart.id
        assert item["name"] == truth.name and item["count"] == truth.count
        assert item["price"] == f"{truth.price:.2f}" and item["discount"] is None
        assert item["unit_id"] == apipay_unit_id(truth.unit_id)
        expected_catalog = truth.nomenclature_id if truth.type == "CATALOGUE" else None
        assert item["catalog_item_id"] == expected_catalog
    assert len({item["id"] for r in by_id.values() for item in r["items"]}) == sum(
        len(r["items"]) for r in by_id.values()
    )
    assert sum(Decimal(i["price"]) * i["count"] for i in row["items"]) == with_cart.amount
    # The single-invoice endpoint answers the same record as schema `Invoice`: the payer is
    # `phone_number` there, and `is_recurring` is a list-only field.
    one = api.get(f"/invoices/{with_cart.id}")
    assert one.status_code == 200
    single = one.json()
    assert single["phone_number"] == row["phone"] and "phone" not in single
    listed = {k: v for k, v in row.items() if k not in ("phone", "is_recurring")}
    assert {k: v for k, v in single.items() if k != "phone_number"} == listed
    # An older server names the list's payer `phone_number` too.
    emulator = sandbox.emulators["apipay"]
    emulator.legacy_phone_field = True
    try:
        old = api.get("/invoices", params={"per_page": 100}).json()["data"][0]
    finally:
        emulator.legacy_phone_field = False
    assert "phone_number" in old and "phone" not in old
    missing = api.get("/invoices/99999999")
    assert missing.status_code == 404
    assert missing.json() == {"message": "Invoice not found"}
    assert api.get("/nothing-here").status_code == 404


def test_refunds_of_an_invoice(api, sandbox):
    world = sandbox.world
    refund = next(iter(world.apipay_refunds.values()))
    response = api.get(f"/invoices/{refund.invoice_id}/refunds")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"data"}  # not paged
    expected = sorted(r.id for r in world.apipay_refunds.values() if r.invoice_id == refund.invoice_id)
    assert [r["id"] for r in body["data"]] == expected
    first = body["data"][0]
    assert first["invoice_id"] == refund.invoice_id
    assert first["status"] in ("pending", "processing", "completed", "failed")
    assert re.fullmatch(r"\d+\.\d{2}", first["amount"])
    invoice = api.get(f"/invoices/{refund.invoice_id}").json()
    total = sum(Decimal(r["amount"]) for r in body["data"])
    assert Decimal(invoice["total_refunded"]) == total
    never = next(i for i in world.apipay_invoices.values() if i.status == "expired")
    assert api.get(f"/invoices/{never.id}/refunds").json() == {"data": []}
    assert api.get("/invoices/99999999/refunds").status_code == 404


def _all_refunds(api: httpx.Client, **params) -> list[dict]:
    rows, page = [], 1
    while True:
        body = api.get("/refunds", params={**params, "per_page": 100, "page": page}).json()
        rows += body["data"]
        if page >= body["meta"]["last_page"]:
            return rows
        page += 1


def _newest_first(refunds) -> list[int]:
    return [r.id for r in sorted(refunds, key=lambda r: (r.created_at, r.id), reverse=True)]


def _add_refund(world, invoice, status: str, days_ago: float) -> ApipayRefund:
    refund_id = max(world.apipay_refunds) + 1
    refund = ApipayRefund(
        id=refund_id, invoice_id=invoice.id, amount=Decimal("100.00"), status=status,
        reason="Возврат товара", created_at=world.now - timedelta(days=days_ago),
    )
    world.apipay_refunds[refund_id] = refund
    return refund


def test_refund_list_envelope_defaults_and_order(api, sandbox):
    world = sandbox.world
    assert len(world.apipay_refunds) > 10
    response = api.get("/refunds")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"data", "meta"}
    total = len(world.apipay_refunds)
    assert body["meta"] == {
        "current_page": 1, "last_page": -(-total // 10), "per_page": 10, "total": total,
    }
    # Newest first; the list has no sort parameter (unknown parameters are ignored).
    assert [r["id"] for r in body["data"]] == _newest_first(world.apipay_refunds.values())[:10]
    ignored = api.get("/refunds", params={"sort_by": "id", "sort_order": "asc"}).json()
    assert ignored["data"] == body["data"]
    assert response.headers["X-RateLimit-Limit"] == "60"


def test_refund_list_pages_every_refund_once(api, sandbox):
    world = sandbox.world
    ids = []
    for page in range(1, 100):
        body = api.get("/refunds", params={"per_page": 7, "page": page}).json()
        assert body["meta"]["current_page"] == page
        ids += [r["id"] for r in body["data"]]
        if page == body["meta"]["last_page"]:
            assert 1 <= len(body["data"]) <= 7
            break
        assert len(body["data"]) == 7
    assert ids == _newest_first(world.apipay_refunds.values())
    big = api.get("/refunds", params={"per_page": 100}).json()
    assert [r["id"] for r in big["data"]] == ids  # 100 a page: one request for all of them
    assert big["meta"]["last_page"] == 1
    beyond = api.get("/refunds", params={"per_page": 100, "page": 5}).json()
    assert beyond["data"] == []
    assert beyond["meta"] == {
        "current_page": 5, "last_page": 1, "per_page": 100, "total": len(ids),
    }


def test_refund_list_item_is_the_documented_shape(api, sandbox):
    world = sandbox.world
    rows = {r["id"]: r for r in _all_refunds(api)}
    refund = next(iter(world.apipay_refunds.values()))
    invoice = world.apipay_invoices[refund.invoice_id]
    row = rows[refund.id]
    assert set(row) == {
        "id", "invoice_id", "amount", "reason", "status", "kaspi_refund_id", "kaspi_status",
        "initiated_by", "error_message", "created_at", "invoice", "items",
    }
    assert row["invoice_id"] == invoice.id
    assert row["amount"] == f"{refund.amount:.2f}"
    assert re.fullmatch(r"\d+\.\d{2}", row["amount"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row["created_at"])
    assert row["status"] == "completed" and row["kaspi_status"] == "completed"
    assert row["kaspi_refund_id"] and row["error_message"] is None
    assert row["items"] == []
    assert set(row["invoice"]) == {
        "id", "external_order_id", "amount", "total_refunded", "is_fully_refunded", "status",
        "kaspi_invoice_id",
    }
    # The invoice summary agrees with the invoice itself.
    full = api.get(f"/invoices/{invoice.id}").json()
    for key in ("id", "external_order_id", "amount", "total_refunded", "is_fully_refunded",
                "status", "kaspi_invoice_id"):
        assert row["invoice"][key] == full[key], key
    # The same refunds as the per-invoice list, which keeps working.
    per_invoice = api.get(f"/invoices/{invoice.id}/refunds").json()["data"]
    listed = api.get("/refunds", params={"invoice_id": invoice.id}).json()["data"]
    assert sorted(r["id"] for r in listed) == [r["id"] for r in per_invoice]
    for short in per_invoice:
        assert {k: rows[short["id"]][k] for k in short} == short


def test_refund_list_filters(api, sandbox):
    world = sandbox.world
    some_paid = next(i for i in world.apipay_invoices.values() if i.status == "paid")
    pending = _add_refund(world, some_paid, "pending", days_ago=40)
    processing = _add_refund(world, some_paid, "processing", days_ago=2)
    failed = _add_refund(world, some_paid, "failed", days_ago=1)

    by_status = _all_refunds(api, **{"status[]": ["pending", "processing"]})
    assert sorted(r["id"] for r in by_status) == [pending.id, processing.id]
    waiting = next(r for r in by_status if r["id"] == pending.id)
    assert waiting["kaspi_refund_id"] is None and waiting["kaspi_status"] is None
    rejected = _all_refunds(api, **{"status[]": "failed"})
    assert [r["id"] for r in rejected] == [failed.id]
    assert rejected[0]["error_message"]

    of_invoice = _all_refunds(api, invoice_id=some_paid.id)
    assert sorted(r["id"] for r in of_invoice) == sorted(
        r.id for r in world.apipay_refunds.values() if r.invoice_id == some_paid.id
    )

    # Dates are creation days (UTC), both ends inclusive.
    newest = max(r.created_at for r in world.apipay_refunds.values())
    day = (newest - timedelta(days=120)).astimezone(UTC).date()
    last = (newest - timedelta(days=3)).astimezone(UTC).date()
    windowed = _all_refunds(api, date_from=day.isoformat(), date_to=last.isoformat())
    expected = [
        r.id for r in world.apipay_refunds.values()
        if day <= r.created_at.astimezone(UTC).date() <= last
    ]
    assert windowed and sorted(r["id"] for r in windowed) == sorted(expected)
    since = _all_refunds(api, date_from=failed.created_at.astimezone(UTC).date().isoformat())
    assert failed.id in {r["id"] for r in since}
    assert pending.id not in {r["id"] for r in since}

    # A deleted invoice takes its refunds out of the list.
    del world.apipay_invoices[some_paid.id]
    remaining = {r["id"] for r in _all_refunds(api)}
    assert not remaining & {pending.id, processing.id, failed.id}
    assert api.get(f"/invoices/{some_paid.id}/refunds").status_code == 404


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"per_page": 101}, "per_page", "The per page field must not be greater than 100."),
        ({"per_page": 0}, "per_page", "The per page field must be at least 1."),
        ({"per_page": "all"}, "per_page", "The per page field must be an integer."),
        ({"page": 0}, "page", "The page field must be at least 1."),
        ({"status[]": "refunded"}, "status.0", "The selected status.0 is invalid."),
        ({"status": "completed"}, "status", "The status field must be an array."),
        ({"invoice_id": "abc"}, "invoice_id", "The invoice id field must be an integer."),
        ({"invoice_id": 99999999}, "invoice_id", "The selected invoice id is invalid."),
        ({"date_to": "2026/01/31"}, "date_to", "The date to field must match the format Y-m-d."),
        (
            {"date_from": "2026-02-01", "date_to": "2026-01-31"},
            "date_to",
            "The date to field must be a date after or equal to date from.",
        ),
    ],
)
def test_refund_list_rejects_invalid_parameters_with_422(api, params, field, message):
    response = api.get("/refunds", params=params)
    assert response.status_code == 422
    assert response.json() == {"message": "Validation failed", "errors": {field: [message]}}


def test_refund_list_auth_methods_and_routes(api, servers):
    url = servers.base_urls["apipay"] + "/refunds"
    assert httpx.get(url).json() == {"message": "API key is required"}
    wrong = httpx.get(url, headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401 and wrong.json() == {"message": "Invalid API key"}
    post = api.post("/refunds", json={})
    assert post.status_code == 405
    assert post.json()["message"] == (
        "The POST method is not supported for route api/v1/refunds. Supported methods: GET, HEAD."
    )
    assert api.get("/refunds/1").status_code == 404  # no single-refund endpoint is documented


def test_refund_list_drift_keeps_ids(api, sandbox):
    plain = api.get("/refunds", params={"per_page": 100}).json()["data"]
    sandbox.set_faults("apipay", FaultPlan(drift=True))
    drifted = api.get("/refunds", params={"per_page": 100}).json()["data"]
    assert [(r["id"], r["invoice_id"]) for r in drifted] == [
        (r["id"], r["invoice_id"]) for r in plain
    ]
    assert all("processed_at" in r and "error_message" not in r for r in drifted)
    assert all(r["reason"] is None for r in drifted)


def test_stats_and_methods(api):
    stats = api.get("/invoices/stats", params={"period": "year"})
    assert stats.status_code == 200
    assert stats.json()["period"] == "year"
    assert stats.json()["total_count"] == sum(v["count"] for v in stats.json()["by_status"].values())
    custom = api.get("/invoices/stats", params={"start_date": "2026-01-01", "end_date": "2026-03-31"})
    assert custom.status_code == 200
    bad = api.get("/invoices/stats", params={"period": "decade"})
    assert bad.status_code == 422 and "period" in bad.json()["errors"]
    wrong_method = api.post("/invoices/stats")
    assert wrong_method.status_code == 405
    assert "not supported" in wrong_method.json()["message"]


def test_rate_limit_answer(sandbox, servers):
    sandbox.settings.rate_limits["apipay"] = ServerRateLimit(rate=1.0, burst=3)
    with httpx.Client(base_url=servers.base_urls["apipay"], headers=HEADERS) as client:
        answers = [client.get("/invoices", params={"per_page": 1}) for _ in range(5)]
    throttled = [a for a in answers if a.status_code == 429]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    assert throttled
    answer = throttled[0]
    body = answer.json()
    assert body["retry_after"] == 1
    assert body["message"] == "Too many requests. Please retry after 1 seconds."
    assert answer.headers["Retry-After"] == "1"
    assert answer.headers["X-RateLimit-Limit"] == "60"
    assert answer.headers["X-RateLimit-Remaining"] == "0"


def test_persistent_faults_use_apipay_bodies(api, sandbox):
    sandbox.set_faults("apipay", FaultPlan(always={"/refunds": 503}))
    assert api.get("/invoices/101/refunds").json() == {"message": "Server Error"}
    sandbox.set_faults("apipay", FaultPlan(always={"/invoices": 403}))
    forbidden = api.get("/invoices")
    assert forbidden.status_code == 403
    assert forbidden.json() == {"message": "Организация не подключена"}


def test_drift_changes_shape_but_not_ids(api, sandbox):
    plain = api.get("/invoices", params={"per_page": 100}).json()["data"]
    sandbox.set_faults("apipay", FaultPlan(drift=True))
    drifted = api.get("/invoices", params={"per_page": 100}).json()["data"]
    assert [r["id"] for r in drifted] == [r["id"] for r in plain]
    assert all("fiscal_receipt_url" in r for r in drifted)
    assert [r["amount"] for r in drifted] == [r["amount"] for r in plain]
    assert any(isinstance(i["count"], str) for r in drifted for i in r["items"])


def test_units_are_apipays_own_list(api):
    """openapi 2.1 `listCatalogUnits`: `{"data": [{id, name, name_kaz}]}`, not paged."""
    body = api.get("/catalog/units").json()
    assert set(body) == {"data"}
    units = body["data"]
    assert units[0] == {"id": 1, "name": "штука", "name_kaz": "дана"}  # the docs' example
    assert len({u["id"] for u in units}) == len(units)
    assert all(set(u) == {"id", "name", "name_kaz"} for u in units)


def test_catalog_is_paged_in_the_meta_envelope(api, sandbox):
    """openapi 2.1 `listCatalogItems` (offset mode): `{data, links, meta}`, per_page <= 200,
    only `active` items without `statuses[]`, schema `CatalogItem` for each item."""
    from finance_sandbox.apipay_catalog import apipay_unit_id

    world = sandbox.world
    first = api.get("/catalog", params={"per_page": 5})
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"data", "links", "meta"}
    meta = body["meta"]
    assert meta["per_page"] == 5 and meta["current_page"] == 1
    assert meta["total"] == len(world.apipay_nomenclature)
    assert meta["last_page"] == -(-meta["total"] // 5)
    assert body["links"]["prev"] is None and body["links"]["next"]
    seen = []
    for page in range(1, meta["last_page"] + 1):
        rows = api.get("/catalog", params={"per_page": 5, "page": page}).json()["data"]
        seen += rows
    assert [r["id"] for r in seen] == sorted(world.apipay_nomenclature)
    item = seen[0]
    truth = world.apipay_nomenclature[item["id"]]
    assert item["name"] == truth.name and item["status"] == "active"
    assert Decimal(str(item["selling_price"])) == truth.price
    assert item["unit_id"] == apipay_unit_id(truth.unit_id)
    assert api.get("/catalog", params={"statuses[]": "deleted"}).json()["meta"]["total"] == 0
    assert api.get("/catalog").json()["meta"]["per_page"] == 50
    assert api.get("/catalog", params={"per_page": 201}).status_code == 422
    targeted = api.get("/catalog", params={"ids[]": item["id"]}).json()
    assert targeted == {"data": [item]}
