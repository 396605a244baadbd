"""The Bitrix24 emulator speaks the documented REST protocol (plain httpx over loopback)."""

from __future__ import annotations

import re
import time
from decimal import Decimal

import httpx
import pytest

from finance_pipeline.sources.bitrix24.batch import http_build_query
from finance_sandbox.bitrix24 import php_parse_str, resolve_references
from finance_sandbox.bitrix24.protocol import OperatingWindow
from finance_sandbox.core import FaultPlan, ServerRateLimit
from finance_sandbox.world.bitrix24_portal import category_of, portal_stage

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+03:00$")


@pytest.fixture
def api(servers):
    base = servers.base_urls["bitrix24"]
    with httpx.Client(timeout=30) as client:

        def call(method: str, params: dict | None = None, *, base_url: str = base):
            response = client.post(base_url + method, json=params or {})
            return response.status_code, response.json()

        call.base = base  # type: ignore[attr-defined]
        call.client = client  # type: ignore[attr-defined]
        yield call


def invoice_ids(sandbox) -> list[int]:
    return sorted(sandbox.world.bitrix_invoices)


# --- crm.item.list --------------------------------------------------------------------------


def test_item_list_pages_hold_50_items_with_total_and_next(api, sandbox):
    ids = invoice_ids(sandbox)
    status, body = api("crm.item.list", {"entityTypeId": 31, "order": {"id": "ASC"}})
    assert status == 200
    assert [item["id"] for item in body["result"]["items"]] == ids[:50]
    assert body["total"] == len(ids) and body["next"] == 50
    assert set(body["time"]) >= {
        "start", "finish", "duration", "processing", "date_start", "date_finish", "operating",
    }
    last_start = (len(ids) - 1) // 50 * 50
    _, last = api("crm.item.list", {"entityTypeId": 31, "start": last_start})
    assert [i["id"] for i in last["result"]["items"]] == ids[last_start:]
    assert "next" not in last and last["total"] == len(ids)
    # start=-1: no counting, so neither total nor next (the docs' advice for big exports)
    _, fast = api("crm.item.list", {"entityTypeId": 31, "start": -1})
    assert len(fast["result"]["items"]) == 50
    assert "total" not in fast and "next" not in fast


def test_item_list_renders_smart_invoices_like_the_api(api, sandbox):
    inv = sandbox.world.bitrix_invoices[invoice_ids(sandbox)[0]]
    _, body = api("crm.item.list", {"entityTypeId": 31, "filter": {"=id": inv.id}})
    item = body["result"]["items"][0]
    assert item["id"] == inv.id and isinstance(item["id"], int)
    assert item["accountNumber"] == inv.account_number
    stage = portal_stage(inv)
    assert item["stageId"] == stage.status_id and item["entityTypeId"] == 31
    assert item["categoryId"] == stage.category_id == category_of(inv.id)
    assert item["stageSemanticId"] == (stage.semantics or "P")
    assert isinstance(item["opportunity"], (int, float))
    assert item["opportunity"] == pytest.approx(float(inv.opportunity))
    assert ISO.match(item["createdTime"]) and ISO.match(item["updatedTime"])
    assert item["begindate"].endswith("T00:00:00+03:00")
    assert item["companyId"] == (inv.company_id or 0)
    # select narrows the fields (id always comes along)
    _, narrow = api("crm.item.list", {"entityTypeId": 31, "select": ["title"], "start": -1})
    assert set(narrow["result"]["items"][0]) == {"id", "title"}


def test_item_list_filters_and_order(api, sandbox):
    ids = invoice_ids(sandbox)
    lo, hi = ids[10], ids[30]
    _, body = api("crm.item.list", {
        "entityTypeId": 31, "start": -1, "order": {"id": "DESC"},
        "filter": {">=id": lo, "<id": hi},
    })
    assert [i["id"] for i in body["result"]["items"]] == sorted(
        (i for i in ids if lo <= i < hi), reverse=True
    )
    picked = ids[3:6]
    _, body = api("crm.item.list", {"entityTypeId": 31, "filter": {"@id": picked}})
    assert [i["id"] for i in body["result"]["items"]] == picked
    newest = max(sandbox.world.bitrix_invoices.values(), key=lambda i: i.updated_time)
    since = newest.updated_time.isoformat()
    _, body = api("crm.item.list", {"entityTypeId": 31, "filter": {">=updatedTime": since}})
    assert newest.id in [i["id"] for i in body["result"]["items"]]
    assert all(i["updatedTime"] >= newest.updated_time.strftime("%Y-%m-%dT%H:%M:%S")
               for i in body["result"]["items"])


def test_item_list_rejects_bad_parameters(api):
    status, body = api("crm.item.list", {})
    assert status == 400 and body["error"] == 100
    assert "entityTypeId" in body["error_description"]
    status, body = api("crm.item.list", {"entityTypeId": 999})
    assert (status, body["error"]) == (400, "NOT_FOUND")
    status, body = api("crm.item.list", {"entityTypeId": 31, "filter": {">=nope": 1}})
    assert (status, body["error"]) == (400, "INVALID_ARG_VALUE")
    assert body["error_description"] == "Invalid filter: field 'nope' is not allowed in filter"
    status, body = api("crm.item.list", {"entityTypeId": 31, "order": {"id": "UP"}})
    assert (status, body["error"]) == (400, "INVALID_ARG_VALUE")
    status, body = api("crm.item.list", {"entityTypeId": 31, "filter": {">id": [1, 2]}})
    assert (status, body["error"]) == (400, "INVALID_ARG_VALUE")


def test_query_string_parameters_are_parsed_the_php_way(api, sandbox):
    ids = invoice_ids(sandbox)
    query = http_build_query({
        "entityTypeId": 31, "filter": {">id": ids[5], "<=id": ids[9]}, "select": ["id"],
        "start": -1,
    })
    response = api.client.get(f"{api.base}crm.item.list.json?{query}")
    assert response.status_code == 200
    assert [i["id"] for i in response.json()["result"]["items"]] == ids[6:10]


def test_counting_costs_server_time_and_start_minus_one_does_not(api, sandbox):
    _, counted = api("crm.item.list", {"entityTypeId": 31, "filter": {">id": 0}})
    _, skipped = api("crm.item.list", {"entityTypeId": 31, "filter": {">id": 0}, "start": -1})
    rows = len(sandbox.world.bitrix_invoices)
    assert counted["time"]["operating"] == pytest.approx(rows * 20e-6, rel=0.01)
    assert skipped["time"]["operating"] == 0


def test_deleted_invoices_disappear_from_lists(api, sandbox):
    log = sandbox.world.advance(14)
    gone = log.deleted[("bitrix24", "invoices")]
    _, body = api("crm.item.list", {"entityTypeId": 31, "filter": {"@id": gone}})
    assert gone and body["result"]["items"] == [] and body["total"] == 0


# --- auth, unknown methods, limits ----------------------------------------------------------


def test_auth_errors_and_unknown_methods(api, servers):
    base = servers.base_urls["bitrix24"]
    wrong_key = base.replace("sandboxwebhookkey0001", "wrongkey")
    status, body = api("crm.item.list", {"entityTypeId": 31}, base_url=wrong_key)
    assert status == 401
    assert body == {"error": "INVALID_CREDENTIALS", "error_description": "Invalid request credentials"}
    status, body = api("crm.item.list", {"entityTypeId": 31}, base_url=base.replace("/rest/1/", "/rest/7/"))
    assert (status, body["error"]) == (401, "INVALID_CREDENTIALS")
    status, body = api("crm.item.list", {}, base_url=base.split("/rest/")[0] + "/rest/")
    assert (status, body["error"]) == (401, "NO_AUTH_FOUND")
    status, body = api("crm.deal.nothing", {})
    assert status == 404
    assert body == {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}
    status, body = api("crm.item.list.json", {"entityTypeId": 31, "start": -1})
    assert status == 200 and len(body["result"]["items"]) == 50


def test_leaky_bucket_answers_query_limit_exceeded(api, sandbox):
    sandbox.settings.rate_limits["bitrix24"] = ServerRateLimit(rate=0.5, burst=3)
    answers = [api("server.time")[0] for _ in range(3)]
    assert answers == [200, 200, 200]
    status, body = api("server.time")
    assert status == 503
    assert body == {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
    time.sleep(2.1)  # the bucket drains by 0.5 per second
    assert api("server.time")[0] == 200


def test_operating_time_limit_blocks_a_method(api, sandbox):
    emulator = sandbox.emulators["bitrix24"]
    emulator._operating_add("crm.item.list", 481.0)
    status, body = api("crm.item.list", {"entityTypeId": 31, "start": -1})
    assert (status, body["error"]) == (429, "OPERATION_TIME_LIMIT")
    assert api("crm.company.list", {"start": -1})[0] == 200  # other methods keep working


# --- batch ------------------------------------------------------------------------------------


def test_batch_runs_commands_in_order_with_references(api, sandbox):
    ids = invoice_ids(sandbox)
    page = "crm.item.list?entityTypeId=31&order[id]=ASC&start=-1&select[]=id"
    status, body = api("batch", {"halt": 0, "cmd": {
        "first": page,
        "second": page + "&filter[%3Eid]=$result[first][items][49][id]",
        "counted": "crm.item.list?entityTypeId=31&select[]=id",
        "broken": "crm.item.list?select[]=id",
        "nested": "batch?cmd[x]=server.time",
        "unknown": "crm.nothing",
    }})
    assert status == 200
    result = body["result"]
    assert [i["id"] for i in result["result"]["first"]["items"]] == ids[:50]
    assert [i["id"] for i in result["result"]["second"]["items"]] == ids[50:100]
    assert result["result_total"] == {"counted": len(ids)}
    assert result["result_next"] == {"counted": 50}
    assert result["result_error"]["broken"]["error"] == 100
    assert result["result_error"]["nested"]["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED"
    assert result["result_error"]["unknown"]["error"] == "ERROR_METHOD_NOT_FOUND"
    assert set(result["result_time"]) == {"first", "second", "counted"}
    assert "time" in body


def test_batch_holds_at_most_50_commands_and_halts_on_request(api):
    cmd = {f"c{i}": "server.time" for i in range(52)}
    _, body = api("batch", {"halt": 0, "cmd": cmd})
    result = body["result"]
    assert len(result["result"]) == 50
    assert set(result["result_error"]) == {"c50", "c51"}
    assert result["result_error"]["c50"] == {
        "error": "ERROR_BATCH_LENGTH_EXCEEDED", "error_description": "Max batch length exceeded",
    }
    _, body = api("batch", {"halt": 1, "cmd": {"a": "crm.nothing", "b": "server.time"}})
    assert body["result"]["result"] == [] and list(body["result"]["result_error"]) == ["a"]
    assert body["result"]["result_total"] == [] and body["result"]["result_next"] == []


def test_batch_is_one_request_for_the_rate_limit(api, sandbox):
    sandbox.settings.rate_limits["bitrix24"] = ServerRateLimit(rate=0.1, burst=2)
    cmd = {f"c{i}": "crm.item.list?entityTypeId=31&start=-1" for i in range(50)}
    assert api("batch", {"cmd": cmd})[0] == 200
    assert api("batch", {"cmd": cmd})[0] == 200
    assert api("batch", {"cmd": cmd})[0] == 503


# --- product rows -----------------------------------------------------------------------------


def test_productrow_list_needs_owner_keys_and_takes_owner_arrays(api, sandbox):
    status, body = api("crm.item.productrow.list", {"filter": {"=ownerType": "SI"}})
    assert (status, body["error"]) == (400, "REQUIRED_ARG_MISSING")
    status, body = api("crm.item.productrow.list", {"filter": {"=ownerType": "SI", "=ownerId": 1}})
    assert (status, body["error"]) == (400, "ACCESS_DENIED")  # no such invoice
    invoices = [i for i in sandbox.world.bitrix_invoices.values() if i.rows][:3]
    one = invoices[0]
    _, body = api("crm.item.productrow.list", {"filter": {"=ownerType": "SI", "=ownerId": one.id}})
    rows = body["result"]["productRows"]
    assert [r["id"] for r in rows] == [r.id for r in sorted(one.rows, key=lambda r: r.sort)]
    assert body["total"] == len(one.rows)
    row = rows[0]
    assert row["ownerId"] == one.id and row["ownerType"] == "SI"
    assert isinstance(row["price"], (int, float)) and row["taxIncluded"] in ("Y", "N")
    expected = sorted(r.id for i in invoices for r in i.rows)
    _, body = api("crm.item.productrow.list", {
        "filter": {"=ownerType": "SI", "=ownerId": [i.id for i in invoices]},
        "order": {"id": "ASC"}, "start": -1,
    })
    assert [r["id"] for r in body["result"]["productRows"]] == expected
    assert "total" not in body
    _, body = api("crm.item.productrow.list", {
        "filter": {"=ownerType": "SI", "=ownerId": [i.id for i in invoices], ">id": expected[1],
                   "productName": "ignored: not indexed"},
        "order": {"id": "ASC"},
    })
    assert [r["id"] for r in body["result"]["productRows"]] == expected[2:]


# --- classic methods --------------------------------------------------------------------------


def test_classic_lists_use_uppercase_strings_and_page_numbers(api, sandbox):
    companies = sorted(sandbox.world.bitrix_companies)
    _, body = api("crm.company.list", {"order": {"ID": "ASC"}})
    first = body["result"][0]
    assert first["ID"] == str(companies[0]) and isinstance(first["ASSIGNED_BY_ID"], str)
    assert ISO.match(first["DATE_MODIFY"])
    assert "PHONE" not in first and "EMAIL" not in first  # multifields only when selected
    assert body["total"] == len(companies)
    with_phone = next(c for c in sandbox.world.bitrix_companies.values() if c.phone)
    _, body = api("crm.company.list", {"select": ["ID", "PHONE"], "filter": {"ID": with_phone.id}})
    assert body["result"] == [{"ID": str(with_phone.id), "PHONE": [{
        "ID": body["result"][0]["PHONE"][0]["ID"], "VALUE_TYPE": "WORK",
        "VALUE": with_phone.phone, "TYPE_ID": "PHONE",
    }]}]
    _, body = api("crm.company.list", {"start": -1})
    assert body["total"] == 0 and "next" not in body  # as in the docs' huge-data example
    _, body = api("crm.company.list", {"start": 25, "order": {"ID": "ASC"}})
    assert body["result"][0]["ID"] == str(companies[0])  # start=25 is still page 1
    _, body = api("crm.requisite.list", {"select": ["ID", "ENTITY_TYPE_ID", "DATE_MODIFY"]})
    assert body["result"][0]["ENTITY_TYPE_ID"] == "4"
    assert body["result"][0]["DATE_MODIFY"] is None  # empty until the first edit
    _, body = api("crm.product.list", {"filter": {">=ID": 0}, "order": {"ID": "DESC"}})
    product = sandbox.world.bitrix_products[int(body["result"][0]["ID"])]
    assert body["result"][0]["PRICE"] == f"{product.price:.2f}"
    assert body["result"][0]["ID"] == str(max(sandbox.world.bitrix_products))


def test_drift_adds_fields_and_changes_types_but_keeps_ids(api, sandbox):
    sandbox.set_faults("bitrix24", FaultPlan(drift=True))
    _, body = api("crm.item.list", {"entityTypeId": 31, "start": -1})
    items = body["result"]["items"]
    assert all("ufCrm_SMART_INVOICE_1731586310" in i for i in items)
    assert any(isinstance(i["opportunity"], str) for i in items)
    assert all(isinstance(i["id"], int) for i in items)


# --- PHP query strings and batch references (pure functions) --------------------------------


def test_php_parse_str_edge_cases():
    assert php_parse_str("a[]=1&a[]=2&b[x][y]=3") == {"a": {"0": "1", "1": "2"}, "b": {"x": {"y": "3"}}}
    assert php_parse_str("a.b=1&c d=2") == {"a_b": "1", "c_d": "2"}
    assert php_parse_str("filter%5B%3E%3Did%5D=5") == {"filter": {">=id": "5"}}
    # an unencoded '=' in a key splits the pair there, as in PHP
    assert php_parse_str("filter[=id]=5") == {"filter_": "id]=5"}
    assert php_parse_str("a[x]b=1&=2&[y]=3") == {"a": {"x": "1"}}
    assert php_parse_str("x=%2B03%3A00&y=+03") == {"x": "+03:00", "y": " 03"}


def test_references_resolve_like_crestutil():
    state = {"result": {"a": {"items": [{"id": 7}, {"id": 9}]}}, "next": {}, "total": {},
             "time": {}, "error": {}}
    assert resolve_references({"f": "$result[a][items][1][id]"}, state) == {"f": 9}
    assert resolve_references({"f": "x$result[a][items][0][id]"}, state) == {"f": "x7"}
    # a path that does not resolve stops at the last key that existed
    assert resolve_references({"f": "$result[a][items][49][id]"}, state) == {
        "f": [{"id": 7}, {"id": 9}]
    }


# --- issue 13: the portal as the official docs show it ----------------------------------------


def test_item_fields_answer_to_upper_case_and_camel_case_names(api, sandbox):
    """crm.item.* takes `ID`/`STAGE_ID` as well as `id`/`stageId` in select, order and filter,
    and always answers in camelCase (b24restdocs api-reference/crm/universal/index.md)."""
    ids = invoice_ids(sandbox)
    _, upper = api("crm.item.list", {
        "entityTypeId": 31, "select": ["ID", "STAGE_ID"], "order": {"ID": "DESC"},
        "filter": {">ID": ids[5], "<=Id": ids[9]}, "start": -1,
    })
    _, camel = api("crm.item.list", {
        "entityTypeId": 31, "select": ["id", "stageId"], "order": {"id": "DESC"},
        "filter": {">id": ids[5], "<=id": ids[9]}, "start": -1,
    })
    assert upper["result"]["items"] == camel["result"]["items"]
    assert [i["id"] for i in upper["result"]["items"]] == ids[9:5:-1]
    assert all(set(i) == {"id", "stageId"} for i in upper["result"]["items"])
    status, body = api("crm.item.list", {"entityTypeId": 31, "order": {"NO_SUCH": "ASC"}})
    assert (status, body["error"]) == (400, "INVALID_ARG_VALUE")


def test_method_names_are_case_insensitive(api, sandbox):
    _, body = api("crm.item.List", {"entityTypeId": 31, "select": ["id"], "start": -1})
    assert len(body["result"]["items"]) == 50


def test_funnels_and_stage_semantics_come_from_the_portal(api, sandbox):
    """crm.category.list (entityTypeId 31), crm.status.entity.types and crm.status.list with
    `SEMANTICS` S / F / null; every invoice's stage is one of its funnel's stages."""
    _, cats = api("crm.category.list", {"entityTypeId": 31})
    category_ids = {c["id"] for c in cats["result"]["categories"]}
    assert len(category_ids) >= 2 and cats["total"] == len(category_ids)
    _, types = api("crm.status.entity.types")
    funnels = {t["ID"]: t for t in types["result"] if t.get("ENTITY_TYPE_ID") == 31}
    assert {t["CATEGORY_ID"] for t in funnels.values()} == category_ids
    stages: dict[str, dict] = {}
    for entity_id in funnels:
        _, body = api("crm.status.list", {"filter": {"ENTITY_ID": entity_id}})
        stages.update({row["STATUS_ID"]: row for row in body["result"]})
    assert any(":UC_" in s for s in stages)  # custom stages
    assert [r["SEMANTICS"] for r in stages.values()].count("F") > len(category_ids)  # several F
    _, items = api("crm.item.list", {"entityTypeId": 31, "select": ["id", "stageId",
                                                                     "categoryId"]})
    for item in items["result"]["items"]:
        stage = stages[item["stageId"]]
        assert stage["ENTITY_ID"] == f"SMART_INVOICE_STAGE_{item['categoryId']}"
    _, legacy = api("crm.invoice.status.list")
    assert {r["STATUS_ID"] for r in legacy["result"]} == {"N", "S", "A", "P", "D", "X"}
    assert all(r["ENTITY_ID"] == "INVOICE_STATUS" for r in legacy["result"])


def test_contact_invoices_and_legacy_invoices(api, sandbox):
    world = sandbox.world
    to_people = [i for i in world.bitrix_invoices.values() if i.company_id is None]
    assert to_people, "the world has invoices issued to a person"
    _, body = api("crm.item.list", {"entityTypeId": 31, "filter": {"@id": [to_people[0].id]},
                                    "select": ["companyId", "contactId", "contactIds"]})
    item = body["result"]["items"][0]
    assert item["companyId"] == 0 and item["contactId"] > 0
    assert item["contactIds"] == [item["contactId"]]
    _, people = api("crm.contact.list", {"filter": {"ID": item["contactId"]}})
    assert [p["ID"] for p in people["result"]] == [str(item["contactId"])]
    _, legacy = api("crm.invoice.list", {"select": ["ID", "PRICE", "STATUS_ID"]})
    assert legacy["total"] == len(legacy["result"]) and "PRODUCT_ROWS" not in legacy["result"][0]
    first = legacy["result"][0]
    _, full = api("crm.invoice.get", {"id": first["ID"]})
    rows = full["result"]["PRODUCT_ROWS"]
    total = sum(Decimal(r["PRICE"]) * Decimal(r["QUANTITY"]) for r in rows)
    assert total == Decimal(first["PRICE"])
    status, missing = api("crm.invoice.get", {"id": 999_999})
    assert status == 400 and missing["error_description"] == "Not found"


def test_catalog_product_list_and_its_required_fields(api, sandbox):
    products = sorted(sandbox.world.bitrix_products)
    _, body = api("catalog.product.list", {"select": ["id", "iblockId", "name"],
                                           "filter": {"iblockId": 23}})
    assert [p["id"] for p in body["result"]["products"]] == products[:50]
    assert body["total"] == len(products)
    status, err = api("catalog.product.list", {"select": ["name"], "filter": {"iblockId": 23}})
    assert (status, err["error"]) == (400, 0)
    assert err["error_description"] == "Required select fields: id, iblockId"
    status, err = api("catalog.product.list", {"select": ["id", "iblockId"]})
    assert err["error_description"] == "Required filter fields: iblockId"
    status, err = api("catalog.product.list", {"select": ["id", "iblockId"],
                                               "filter": {"iblockId": 5}})
    assert err["error"] == 200040300000
    _, prices = api("catalog.price.list", {"filter": {"productId": products[0]}})
    assert [p["productId"] for p in prices["result"]["prices"]] == [products[0]]
    assert prices["result"]["prices"][0]["price"] == float(
        sandbox.world.bitrix_products[products[0]].price
    )


def test_operating_window_costs_the_same_whatever_its_history():
    """The per-method operating-time sum is kept running, not re-summed per command."""
    window = OperatingWindow()
    for second in range(100_000):
        window.add(second * 0.001, 0.001)  # 100 s of history, 100k spends
    started = time.perf_counter()
    for _ in range(1_000):
        window.total(100.0)
    per_check = (time.perf_counter() - started) / 1_000
    assert per_check < 50e-6  # re-summing 100k spends takes milliseconds
    assert window.total(100.0) == pytest.approx(100.0)
    assert window.total(100.0 + 600.0 - 50.0) == pytest.approx(50.0, abs=0.01)
    assert window.total(10_000.0) == 0.0 and window.oldest(10_000.0) is None


@pytest.mark.parametrize("reading", ["accepts", "rejects", "ignores", "unfiltered"])
def test_productrow_owner_arrays_follow_each_reading_of_the_docs(api, sandbox, reading):
    """`=ownerId` with an array: accepted (older revisions), INVALID_ARG_VALUE (error table),
    ignored so the required key is missing, or ignored so every row comes back. A scalar
    owner works under every reading."""
    sandbox.emulators["bitrix24"].owner_arrays = reading
    world = sandbox.world
    owners = [i for i in sorted(world.bitrix_invoices) if world.bitrix_invoices[i].rows][:2]
    status, body = api("crm.item.productrow.list",
                       {"filter": {"=ownerType": "SI", "=ownerId": owners}, "start": -1})
    if reading == "accepts":
        assert status == 200
        assert {r["ownerId"] for r in body["result"]["productRows"]} == set(owners)
    elif reading == "rejects":
        assert (status, body["error"]) == (400, "INVALID_ARG_VALUE")
    elif reading == "ignores":
        assert (status, body["error"]) == (400, "REQUIRED_ARG_MISSING")
    else:
        assert status == 200
        assert {r["ownerId"] for r in body["result"]["productRows"]} - set(owners)
    status, one = api("crm.item.productrow.list",
                      {"filter": {"=ownerType": "SI", "=ownerId": owners[0]}})
    assert status == 200
    assert [r["id"] for r in one["result"]["productRows"]] == [
        r.id for r in sorted(world.bitrix_invoices[owners[0]].rows, key=lambda r: r.sort)
    ]
