"""ServerVariant: the sandbox plays each reading of what the API docs leave open (issue 12).

Each test switches one reading and checks, with plain httpx against the in-process transport,
that the emulator answers as a server following that reading would.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from finance_sandbox.core import SANDBOX_CREDENTIALS, Sandbox, ServerRateLimit, ServerVariant


def client(sandbox: Sandbox, source: str, **kwargs: Any) -> httpx.Client:
    sandbox.settings.rate_limits[source] = ServerRateLimit(rate=1000, burst=1000)
    return httpx.Client(base_url=sandbox.base_url(source), transport=sandbox.transport(source),
                        timeout=10, **kwargs)


# --- Adesk ------------------------------------------------------------------------------------


def adesk(sandbox: Sandbox, **params: Any) -> dict[str, Any]:
    token = SANDBOX_CREDENTIALS["adesk"]["api_token"]
    with client(sandbox, "adesk") as api:
        return api.get("/v1/transactions", params={"api_token": token, **params}).json()


def test_adesk_page_cap_answers_fewer_rows_than_asked_and_still_counts_all(sandbox) -> None:
    asked = adesk(sandbox, status="all", start=0, length=1000)
    sandbox.set_variant("adesk", ServerVariant(page_cap=100))
    capped = adesk(sandbox, status="all", start=0, length=1000)
    assert len(asked["transactions"]) > 100
    assert len(capped["transactions"]) == 100
    assert capped["recordsFiltered"] == asked["recordsFiltered"]
    assert capped["transactions"] == asked["transactions"][:100]


def test_adesk_default_status_completed_or_all(sandbox) -> None:
    every = adesk(sandbox, status="all", length=1)["recordsFiltered"]
    completed = adesk(sandbox, status="completed", length=1)["recordsFiltered"]
    assert completed < every  # the world has planned movements
    assert adesk(sandbox, length=1)["recordsFiltered"] == completed
    sandbox.set_variant("adesk", ServerVariant(adesk_default_status="all"))
    assert adesk(sandbox, length=1)["recordsFiltered"] == every


# --- ApiPay -----------------------------------------------------------------------------------


def apipay(sandbox: Sandbox, path: str, params: list[tuple[str, str]]) -> httpx.Response:
    key = SANDBOX_CREDENTIALS["apipay"]["api_key"]
    with client(sandbox, "apipay", headers={"X-API-Key": key}) as api:
        return api.get(path, params=params)


def test_apipay_page_cap_below_per_page(sandbox) -> None:
    sandbox.set_variant("apipay", ServerVariant(page_cap=30))
    for path in ("/invoices", "/refunds"):
        body = apipay(sandbox, path, [("per_page", "100"), ("page", "1")]).json()
        total = body["meta"]["total"] if "meta" in body else body["total"]
        assert len(body["data"]) == min(30, total), path


def test_apipay_without_a_refunded_status_a_full_refund_stays_paid(sandbox) -> None:
    refunded = apipay(sandbox, "/invoices", [("status[]", "refunded"), ("per_page", "100")])
    ids = {row["id"] for row in refunded.json()["data"]}
    assert ids, "the world has fully refunded invoices"
    sandbox.set_variant("apipay", ServerVariant(apipay_refunded_status=False))
    assert apipay(sandbox, "/invoices", [("status[]", "refunded")]).status_code == 422
    assert apipay(sandbox, "/invoices", [("status[]", "processing")]).status_code == 200
    paid = apipay(sandbox, "/invoices", [("status[]", "paid"), ("per_page", "100")]).json()
    pages = -(-paid["meta"]["total"] // 100) if "meta" in paid else -(-paid["total"] // 100)
    rows = [row for page in range(1, pages + 1) for row in apipay(
        sandbox, "/invoices", [("status[]", "paid"), ("per_page", "100"), ("page", str(page))]
    ).json()["data"]]
    full = {row["id"] for row in rows if row["is_fully_refunded"]}
    assert full == ids
    assert all(row["status"] == "paid" for row in rows)


# --- SalesMan ---------------------------------------------------------------------------------


def salesman(sandbox: Sandbox, **body: Any) -> dict[str, Any]:
    creds = SANDBOX_CREDENTIALS["salesman"]
    headers = {"apikey": creds["api_key"], "login": creds["login"],
               "content-type": "application/json"}
    with client(sandbox, "salesman") as api:
        answer = api.post("/developer/v3/invoice/list", headers=headers,
                          content=json.dumps(body))
    return answer.json()


def paid_rows(answer: dict[str, Any]) -> int:
    return sum(1 for row in answer["data"] if row["color"] is None)


def test_salesman_page_size_is_the_accounts_setting(sandbox) -> None:
    sandbox.set_variant("salesman", ServerVariant(page_cap=20))
    answer = salesman(sandbox, offset=1)
    assert len(answer["data"]) == 20
    assert answer["params"]["pageall"] == -(-answer["count"] // 20)


@pytest.mark.parametrize("reading", ["filter", "default_unpaid", "ignored"])
def test_salesman_active_readings(sandbox, reading: str) -> None:
    everything = salesman(sandbox)["count"]
    sandbox.set_variant("salesman", ServerVariant(salesman_active=reading, page_cap=10_000))
    unfiltered, paid, unpaid = (salesman(sandbox, **f) for f in ({}, {"active": True},
                                                                   {"active": False}))
    if reading == "ignored":
        assert unfiltered["count"] == paid["count"] == unpaid["count"] == everything
    else:
        assert paid["count"] + unpaid["count"] == everything
        assert paid_rows(paid) == paid["count"] and paid_rows(unpaid) == 0
        expected = unpaid["count"] if reading == "default_unpaid" else everything
        assert unfiltered["count"] == expected


def test_salesman_without_acs_credit_unpaid_rows_say_do_true(sandbox) -> None:
    sandbox.set_variant("salesman", ServerVariant(salesman_acs_credit=False, page_cap=10_000))
    rows = salesman(sandbox)["data"]
    unpaid = [row for row in rows if row["color"] is not None]
    assert unpaid and all(row["do"] is True for row in unpaid)


def test_salesman_visibility_scoped_to_the_login_unless_iduser(sandbox) -> None:
    everything = salesman(sandbox)["count"]
    sandbox.set_variant("salesman", ServerVariant(salesman_visible_users=(20,)))
    scoped = salesman(sandbox)["count"]
    others = sum(salesman(sandbox, iduser=user)["count"] for user in (22, 25))
    assert 0 < scoped < everything and scoped + others == everything


def test_salesman_user_list_names_every_user_whoever_asks(sandbox) -> None:
    creds = SANDBOX_CREDENTIALS["salesman"]
    headers = {"apikey": creds["api_key"], "login": creds["login"],
               "content-type": "application/json"}
    sandbox.set_variant("salesman", ServerVariant(salesman_visible_users=(20,)))
    with client(sandbox, "salesman") as api:
        users = api.post("/developer/v3/user/list", headers=headers, content="{}").json()["data"]
    assert {user["iduser"] for user in users} == {20, 22, 25}
