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

from finance_pipeline.sandbox.core import SANDBOX_CREDENTIALS, FaultPlan, ServerRateLimit

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


def test_invoice_json_is_the_documented_shape(api, sandbox):
    world = sandbox.world
    by_id = {}
    for page in (1, 2, 3):
        for row in api.get("/invoices", params={"per_page": 100, "page": page}).json()["data"]:
            by_id[row["id"]] = row
    with_cart = next(i for i in world.apipay_invoices.values() if i.cart_items)
    row = by_id[with_cart.id]
    assert row["amount"] == f"{with_cart.amount:.2f}"
    assert re.fullmatch(r"\d+\.\d{2}", row["amount"])
    assert re.fullmatch(r"8\d{10}", row["phone_number"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row["created_at"])
    assert {"id", "amount", "status", "description", "external_order_id", "phone_number",
            "created_at", "updated_at", "paid_at", "cart_items", "total_refunded"} <= set(row)
    item = row["cart_items"][0]
    assert {"Name", "Price", "Count", "NomenclatureId", "Type", "UnitId"} <= set(item)
    assert item["Type"] in ("CATALOGUE", "FAST_SALE")
    assert sum(Decimal(str(i["Price"])) * i["Count"] for i in row["cart_items"]) == with_cart.amount
    # The single-invoice endpoint answers the same record.
    one = api.get(f"/invoices/{with_cart.id}")
    assert one.status_code == 200 and one.json() == row
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
    assert any(isinstance(i["Count"], str) for r in drifted for i in r["cart_items"])
