"""ApiPay.kz (Kaspi Pay invoicing, KZT) as the sandbox serves it.

What is emulated is the read side the pipeline uses, as documented in
shared/api-docs/apipay-invoices.md and in ApiPay's public docs (github.com/bazarbaykz/apipay-docs:
openapi.yaml, docs/*/invoices.md, refunds.md, errors.md):

- base path `/api/v1`, authentication by the `X-API-Key` header;
- `GET /invoices`: `page` (default 1), `per_page` (1-100, default 10), `search`, `status[]`,
  `date_from`/`date_to` (YYYY-MM-DD, on the creation date; `date_to >= date_from`), `sort_by`
  (`id`, `amount`, `client_name`, `status`, `created_at`; default `created_at`), `sort_order`
  (`asc`/`desc`, default `desc`). Envelope `{"data": [...], "meta": {"current_page", "per_page",
  "total"}}` as in the public docs. No status filter means every status;
- `GET /invoices/{id}`, `GET /invoices/{id}/refunds` (`{"data": [...]}`, not paged),
  `GET /invoices/stats` (`period` or `start_date` + `end_date`);
- read shapes of an invoice (openapi.yaml 2.1, components/schemas): a `GET /invoices` item is an
  `InvoiceListItem` (payer as `phone`), `GET /invoices/{id}` an `Invoice` (payer as
  `phone_number`); both carry the cart as `items`, each an `InvoiceItem` with lowercase fields
  `id, invoice_id, catalog_item_id, name, price, count, unit_id, discount` (+ `barcode`, `ntin`,
  `gtin`), `price` and `discount` as decimal strings, `unit_id` an ApiPay unit id. The create
  shape (`cart_items` with `Name`, `Price`, `Count`, `NomenclatureId`, `UnitId`) is what a caller
  SENDS to `POST /invoices` (shared/api-docs/apipay-invoices.md); no read answers it. Older
  servers named the list's payer `phone_number` too (`legacy_phone_field` below emulates them);
- `GET /catalog/units` (openapi `listCatalogUnits`): `{"data": [{"id", "name", "name_kaz"}]}`,
  not paged; `GET /catalog` (openapi `listCatalogItems`, default offset mode): `page`
  (default 1), `per_page` (1-200, default 50), `statuses[]` (default: only `active`), `search`,
  `first_char`, `ids[]` (targeted mode: `{"data": [...]}` without paging, every status); the
  "meta" envelope `{"data", "links": {first, last, prev, next}, "meta": {current_page, from,
  last_page, path, per_page, to, total}}` (schemas PaginationLinks/PaginationMeta), items as
  schema `CatalogItem`. Catalog and units are ApiPay's own (sandbox/apipay_catalog.py);
- `GET /refunds` (refunds.md "List All Refunds", openapi.yaml `listRefunds`): every refund of
  the organisation, `page` (default 1), `per_page` (1-100, default 10), `status[]` (`pending`,
  `processing`, `completed`, `failed`), `invoice_id`, `date_from`/`date_to` (YYYY-MM-DD, on the
  refund's creation date; `date_to >= date_from`). Envelope `{"data": [...], "meta":
  {"current_page", "last_page", "per_page", "total"}}`; each item carries the refund, its
  Kaspi ids, an `invoice` summary and `items` (refunded cart positions) as refunds.md shows;
- errors as Laravel renders them: `{"message": ...}` plus `errors` per field on 422; 401
  "API key is required" / "Invalid API key"; 404; 429 over 60 requests a minute per key with
  `retry_after`, `Retry-After` and `X-RateLimit-*` headers; 500 "Server Error".

Where the docs are silent (documented as assumptions): the date filters use UTC dates; the
stats body; `initiated_by` of refunds; write endpoints are not emulated (405). For `GET
/refunds`: the order is newest first (`created_at` desc, then `id` desc, Laravel's `latest()`,
as ApiPay's other history lists: receipts, static QR) and there is no sort parameter (unknown
parameters such as `sort_by` are ignored, as Laravel ignores them); `invoice_id` must be an
integer naming an invoice of the organisation (the later openapi.yaml 2.1 says "должен
существовать": 422 "The selected invoice id is invalid."); refunds of a deleted invoice are
gone from the list; `items` is empty (the synthetic refunds are by amount, not by cart
position); `kaspi_refund_id`/`kaspi_status` are null until Kaspi took the refund (`pending`),
`error_message` is set only for `failed`.
"""

from __future__ import annotations

import math
import re
import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from finance_sandbox.apipay_catalog import APIPAY_UNITS, apipay_unit_id
from finance_sandbox.core import (
    SANDBOX_CREDENTIALS,
    Emulator,
    SandboxRequest,
    SandboxResponse,
    ServerRateLimit,
)
from finance_sandbox.world import (
    ApipayCartItem,
    ApipayInvoice,
    ApipayNomenclature,
    ApipayRefund,
)

BASE_PATH = "/api/v1"
STATUSES = (
    "pending", "cancelling", "paid", "cancelled", "expired", "partially_refunded", "refunded",
)
SORT_FIELDS = ("id", "amount", "client_name", "status", "created_at")
PERIODS = ("today", "week", "month", "year")
REFUND_STATUSES = ("pending", "processing", "completed", "failed")
REFUND_COMPLETED = "completed"
CATALOG_STATUSES = ("active", "pending", "deleting", "deleted", "failed")
CATALOG_PER_PAGE_MAX = 200  # openapi listCatalogItems: per_page 1..200, default 50
CATALOG_PER_PAGE_DEFAULT = 50
# The world keeps no ids for cart positions: an item's id is its invoice id * ITEM_ID_BASE +
# its position (1-based), stable across reads like a database id.
ITEM_ID_BASE = 100
# "60 requests per minute per API key" (errors.md). Laravel counts a fixed minute; a bucket of 60
# draining at 1/s admits the same sustained rate and the same burst.
RATE_PER_MINUTE = 60

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INT_RE = re.compile(r"^-?\d+$")


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _money(amount: Decimal) -> str:
    return f"{amount.quantize(Decimal('0.01'))}"


def _number(amount: Decimal) -> int | float:
    """A price as the JSON number the caller sent when creating the invoice."""
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def _parse_date(value: str) -> date | None:
    if not _DATE_RE.match(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _label(field: str) -> str:
    return field.replace("_", " ")


class ApipayEmulator(Emulator):
    source: ClassVar[str] = "apipay"
    default_rate_limit: ClassVar[ServerRateLimit] = ServerRateLimit(
        rate=RATE_PER_MINUTE / 60.0, burst=RATE_PER_MINUTE
    )

    def __init__(self, world: Any, sandbox: Any) -> None:
        super().__init__(world, sandbox)
        self._lock = threading.Lock()
        self._refund_index: tuple[tuple[int, int, int], dict[int, list[ApipayRefund]]] | None = None
        # Older ApiPay servers answered the list's payer as `phone_number` (the name the create
        # request and the `Invoice` schema use); openapi 2.1 `InvoiceListItem` says `phone`.
        # Tests switch this on to be such an older server.
        self.legacy_phone_field = False

    # -- Emulator hooks ----------------------------------------------------------------------
    def account_of(self, request: SandboxRequest) -> str | None:
        key = request.headers.get("x-api-key")
        return key if key == SANDBOX_CREDENTIALS["apipay"]["api_key"] else None

    def throttled(self, request: SandboxRequest) -> SandboxResponse:
        limit = self.sandbox.rate_limit(self.source)
        retry = max(1, math.ceil(1.0 / limit.rate))
        return SandboxResponse.json(
            {"message": f"Too many requests. Please retry after {retry} seconds.", "retry_after": retry},
            status=429,
            headers={
                "Retry-After": str(retry),
                "X-RateLimit-Limit": str(RATE_PER_MINUTE),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int(time.time()) + retry),
            },
        )

    def server_error(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse.json({"message": "Server Error"}, status=500)

    def error_answer(self, request: SandboxRequest, status: int) -> SandboxResponse:
        """Persistent faults, phrased as ApiPay phrases them."""
        bodies: dict[int, dict[str, Any]] = {
            400: {"message": "Организация не найдена или не верифицирована"},
            401: {"message": "Invalid API key"},
            403: {"message": "Организация не подключена"},
            404: {"message": "Invoice not found"},
            410: {"message": "Verification expired. Please start again."},
            422: {"message": "Validation failed", "errors": {"per_page": ["Invalid value."]}},
            502: {"message": "Ошибка Kaspi API"},
            503: {"message": "Сессия Kaspi истекла"},
        }
        return SandboxResponse.json(bodies.get(status, {"message": f"HTTP {status}"}), status=status)

    def cost_seconds(self, request: SandboxRequest) -> float:
        # Counting and sorting the organisation's invoices (refunds) for a list page.
        path = request.path.rstrip("/")
        if path.endswith("/invoices"):
            return 0.002 + len(self.world.apipay_invoices) * 2e-7
        if path.endswith("/refunds") and path.count("/") <= 3:  # /api/v1/refunds
            return 0.002 + len(self.world.apipay_refunds) * 2e-7
        return 0.001

    # -- routing -----------------------------------------------------------------------------
    def handle(self, request: SandboxRequest) -> SandboxResponse:
        path = request.path.rstrip("/") or "/"
        if not path.startswith(BASE_PATH + "/"):
            return self._route_not_found(path)
        route = path[len(BASE_PATH):]
        parts = [p for p in route.split("/") if p]
        if not parts or parts[0] not in ("invoices", "refunds", "catalog") or (
            parts[0] == "refunds" and len(parts) > 1
        ) or (parts[0] == "catalog" and len(parts) > 2):
            return self._route_not_found(path)
        # Authentication comes before everything else on existing routes (auth middleware).
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        if parts[0] == "catalog":
            if len(parts) == 1:
                return self._method(request, path, ("GET", "POST"), self._list_catalog)
            if parts[1] == "units":
                return self._method(request, path, ("GET",), self._list_units)
            if _INT_RE.match(parts[1]) and not parts[1].startswith("-"):
                return self._method(request, path, ("PATCH", "DELETE"), None)
            return self._route_not_found(path)
        if parts[0] == "refunds":
            return self._method(request, path, ("GET",), self._list_refunds)
        if len(parts) == 1:
            return self._method(request, path, ("GET", "POST"), self._list_invoices)
        if len(parts) == 2 and parts[1] == "stats":
            return self._method(request, path, ("GET",), self._stats)
        if not _INT_RE.match(parts[1]) or parts[1].startswith("-"):
            return self._route_not_found(path)
        invoice_id = int(parts[1])
        if len(parts) == 2:
            return self._method(request, path, ("GET",), lambda r: self._get_invoice(invoice_id))
        if len(parts) == 3 and parts[2] == "refunds":
            return self._method(request, path, ("GET",), lambda r: self._refunds(invoice_id))
        if len(parts) == 3 and parts[2] in ("cancel", "refund"):
            return self._method(request, path, ("POST",), None)
        return self._route_not_found(path)

    def _method(self, request: SandboxRequest, path: str, allowed: tuple[str, ...], handler: Any
                ) -> SandboxResponse:
        method = request.method.upper()
        if method == "GET" and "GET" in allowed and handler is not None:
            return handler(request)
        supported = ", ".join(m if m != "GET" else "GET, HEAD" for m in allowed)
        if method in allowed:  # a documented write endpoint: the sandbox serves reads only
            return SandboxResponse.json(
                {"message": f"The sandbox does not emulate {method} {path}; it is read-only."},
                status=405,
            )
        return SandboxResponse.json(
            {"message": f"The {method} method is not supported for route {path.lstrip('/')}. "
                        f"Supported methods: {supported}."},
            status=405,
        )

    @staticmethod
    def _route_not_found(path: str) -> SandboxResponse:
        return SandboxResponse.json(
            {"message": f"The route {path.lstrip('/')} could not be found."}, status=404
        )

    def _authenticate(self, request: SandboxRequest) -> SandboxResponse | None:
        key = request.headers.get("x-api-key")
        if not key:
            return SandboxResponse.json({"message": "API key is required"}, status=401)
        if key != SANDBOX_CREDENTIALS["apipay"]["api_key"]:
            return SandboxResponse.json({"message": "Invalid API key"}, status=401)
        return None

    def _ok(self, payload: Any) -> SandboxResponse:
        return SandboxResponse.json(payload, headers=self._rate_headers())

    def _rate_headers(self) -> dict[str, str]:
        limit = self.sandbox.rate_limit(self.source)
        account = SANDBOX_CREDENTIALS["apipay"]["api_key"]
        buckets = getattr(self.sandbox, "_buckets", {})
        level, stamp = buckets.get((self.source, account), (0.0, time.monotonic()))
        level = max(0.0, level - (time.monotonic() - stamp) * limit.rate)
        remaining = max(0, int(limit.burst - level))
        return {
            "X-RateLimit-Limit": str(RATE_PER_MINUTE),
            "X-RateLimit-Remaining": str(min(remaining, RATE_PER_MINUTE)),
        }

    # -- validation --------------------------------------------------------------------------
    @staticmethod
    def _validation(errors: dict[str, list[str]]) -> SandboxResponse:
        return SandboxResponse.json({"message": "Validation failed", "errors": errors}, status=422)

    @staticmethod
    def _int_param(request: SandboxRequest, name: str, default: int, lo: int, hi: int | None,
                   errors: dict[str, list[str]]) -> int:
        raw = request.param(name)
        if raw is None or raw == "":
            return default
        label = _label(name)
        if not _INT_RE.match(raw.strip()):
            errors[name] = [f"The {label} field must be an integer."]
            return default
        value = int(raw)
        if value < lo:
            errors[name] = [f"The {label} field must be at least {lo}."]
        elif hi is not None and value > hi:
            errors[name] = [f"The {label} field must not be greater than {hi}."]
        return value

    @staticmethod
    def _date_param(request: SandboxRequest, name: str, errors: dict[str, list[str]]
                    ) -> date | None:
        raw = request.param(name)
        if raw is None or raw == "":
            return None
        parsed = _parse_date(raw)
        if parsed is None:
            errors[name] = [f"The {_label(name)} field must match the format Y-m-d."]
        return parsed

    # -- GET /invoices -----------------------------------------------------------------------
    def _list_invoices(self, request: SandboxRequest) -> SandboxResponse:
        errors: dict[str, list[str]] = {}
        page = self._int_param(request, "page", 1, 1, None, errors)
        per_page = self._int_param(request, "per_page", 10, 1, 100, errors)
        search = request.param("search") or ""
        if len(search) > 100:
            errors["search"] = ["The search field must not be greater than 100 characters."]
        statuses = self._status_array(request, STATUSES, errors)
        date_from = self._date_param(request, "date_from", errors)
        date_to = self._date_param(request, "date_to", errors)
        if date_from and date_to and date_to < date_from:
            errors["date_to"] = ["The date to field must be a date after or equal to date from."]
        sort_by = request.param("sort_by") or "created_at"
        if sort_by not in SORT_FIELDS:
            errors["sort_by"] = ["The selected sort by is invalid."]
        sort_order = request.param("sort_order") or "desc"
        if sort_order not in ("asc", "desc"):
            errors["sort_order"] = ["The selected sort order is invalid."]
        if errors:
            return self._validation(errors)

        rows = self._filtered(statuses, date_from, date_to, search.lower(),
                              sort_by, sort_order)
        start = (page - 1) * per_page
        chunk = rows[start:start + per_page]
        refunds = self._refunds_by_invoice()
        return self._ok({
            "data": [self._render_invoice(inv, refunds.get(inv.id, [])) for inv in chunk],
            "meta": {"current_page": page, "per_page": per_page, "total": len(rows)},
        })

    def _filtered(self, statuses: tuple[str, ...], date_from: date | None, date_to: date | None,
                  search: str, sort_by: str, sort_order: str) -> list[ApipayInvoice]:
        world = self.world
        out = []
        for inv in world.apipay_invoices.values():
            if statuses and inv.status not in statuses:
                continue
            created = inv.created_at.astimezone(UTC).date()
            if date_from and created < date_from:
                continue
            if date_to and created > date_to:
                continue
            if search and not (
                search in (inv.description or "").lower()
                or search in (inv.external_order_id or "").lower()
                or search == str(inv.id)
            ):
                continue
            out.append(inv)
        reverse = sort_order == "desc"

        def sort_key(inv: ApipayInvoice) -> Any:
            if sort_by == "id":
                return (inv.id,)
            if sort_by == "amount":
                return (inv.amount, inv.id)
            if sort_by == "status":
                return (inv.status, inv.id)
            if sort_by == "client_name":
                return ("", inv.id)
            return (inv.created_at, inv.id)

        out.sort(key=sort_key, reverse=reverse)
        return out

    # -- GET /invoices/{id}, /invoices/{id}/refunds -----------------------------------------
    def _get_invoice(self, invoice_id: int) -> SandboxResponse:
        inv = self.world.apipay_invoices.get(invoice_id)
        if inv is None:
            return SandboxResponse.json({"message": "Invoice not found"}, status=404)
        return self._ok(
            self._render_invoice(inv, self._refunds_by_invoice().get(inv.id, []), single=True)
        )

    def _refunds(self, invoice_id: int) -> SandboxResponse:
        inv = self.world.apipay_invoices.get(invoice_id)
        if inv is None:
            return SandboxResponse.json({"message": "Invoice not found"}, status=404)
        refunds = sorted(self._refunds_by_invoice().get(inv.id, []), key=lambda r: r.id)
        return self._ok({"data": [self._render_refund(r) for r in refunds]})

    def _refunds_by_invoice(self) -> dict[int, list[ApipayRefund]]:
        world = self.world
        # Refunds only appear through World.advance(), so its step count dates the index.
        stamp = (world.steps, len(world.apipay_refunds), id(world.apipay_refunds))
        with self._lock:
            if self._refund_index is not None and self._refund_index[0] == stamp:
                return self._refund_index[1]
        index: dict[int, list[ApipayRefund]] = {}
        for refund in world.apipay_refunds.values():
            index.setdefault(refund.invoice_id, []).append(refund)
        with self._lock:
            self._refund_index = (stamp, index)
        return index

    # -- GET /refunds ------------------------------------------------------------------------
    def _list_refunds(self, request: SandboxRequest) -> SandboxResponse:
        errors: dict[str, list[str]] = {}
        page = self._int_param(request, "page", 1, 1, None, errors)
        per_page = self._int_param(request, "per_page", 10, 1, 100, errors)
        statuses = self._status_array(request, REFUND_STATUSES, errors)
        invoice_id: int | None = None
        raw_invoice = request.param("invoice_id")
        if raw_invoice is not None and raw_invoice != "":
            if not _INT_RE.match(raw_invoice.strip()):
                errors["invoice_id"] = ["The invoice id field must be an integer."]
            else:
                invoice_id = int(raw_invoice)
                if invoice_id not in self.world.apipay_invoices:
                    errors["invoice_id"] = ["The selected invoice id is invalid."]
        date_from = self._date_param(request, "date_from", errors)
        date_to = self._date_param(request, "date_to", errors)
        if date_from and date_to and date_to < date_from:
            errors["date_to"] = ["The date to field must be a date after or equal to date from."]
        if errors:
            return self._validation(errors)

        invoices = self.world.apipay_invoices
        rows = []
        for refund in self.world.apipay_refunds.values():
            if refund.invoice_id not in invoices:
                continue  # the organisation's refunds are those of its invoices
            if invoice_id is not None and refund.invoice_id != invoice_id:
                continue
            if statuses and refund.status not in statuses:
                continue
            created = refund.created_at.astimezone(UTC).date()
            if date_from and created < date_from:
                continue
            if date_to and created > date_to:
                continue
            rows.append(refund)
        rows.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        start = (page - 1) * per_page
        chunk = rows[start:start + per_page]
        by_invoice = self._refunds_by_invoice()
        return self._ok({
            "data": [
                self._render_listed_refund(r, invoices[r.invoice_id], by_invoice.get(r.invoice_id, []))
                for r in chunk
            ],
            "meta": {
                "current_page": page,
                "last_page": max(1, math.ceil(len(rows) / per_page)),
                "per_page": per_page,
                "total": len(rows),
            },
        })

    @staticmethod
    def _status_array(request: SandboxRequest, allowed: tuple[str, ...],
                      errors: dict[str, list[str]], name: str = "status") -> tuple[str, ...]:
        """`status[]` as Laravel validates `status` => array, `status.*` => in:..."""
        statuses: list[str] = []
        for index, (key, value) in enumerate(
            (k, v) for k, v in request.query if k in (f"{name}[]", name)
        ):
            if key == name:
                errors[name] = [f"The {name} field must be an array."]
                break
            if value not in allowed:
                errors[f"{name}.{index}"] = [f"The selected {name}.{index} is invalid."]
            else:
                statuses.append(value)
        return tuple(sorted(set(statuses)))

    # -- GET /invoices/stats -----------------------------------------------------------------
    def _stats(self, request: SandboxRequest) -> SandboxResponse:
        errors: dict[str, list[str]] = {}
        period = request.param("period")
        start = self._date_param(request, "start_date", errors)
        end = self._date_param(request, "end_date", errors)
        today = self.world.now.astimezone(UTC).date()
        if period is not None and period not in PERIODS:
            errors["period"] = ["The selected period is invalid."]
        if (start is None) != (end is None) and "start_date" not in errors and \
                "end_date" not in errors:
            missing = "end_date" if end is None else "start_date"
            other = "start date" if missing == "end_date" else "end date"
            errors[missing] = [f"The {_label(missing)} field is required when {other} is present."]
        if start and end and end < start:
            errors["end_date"] = ["The end date field must be a date after or equal to start date."]
        if errors:
            return self._validation(errors)
        if start is None or end is None:
            period = period or "month"
            days = {"today": 0, "week": 6, "month": 29, "year": 364}[period]
            start, end = today - timedelta(days=days), today
        else:
            period = "custom"
        refunds = self._refunds_by_invoice()
        by_status = {s: {"count": 0, "amount": Decimal("0.00")} for s in STATUSES}
        refunded = Decimal("0.00")
        for inv in self.world.apipay_invoices.values():
            created = inv.created_at.astimezone(UTC).date()
            if not start <= created <= end:
                continue
            by_status[inv.status]["count"] += 1
            by_status[inv.status]["amount"] += inv.amount
            refunded += sum((r.amount for r in refunds.get(inv.id, [])), Decimal("0.00"))
        total_count = sum(v["count"] for v in by_status.values())
        total_amount = sum((v["amount"] for v in by_status.values()), Decimal("0.00"))
        paid = ("paid", "partially_refunded", "refunded")
        return self._ok({
            "period": period,
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "total_count": total_count,
            "total_amount": _money(total_amount),
            "paid_count": sum(by_status[s]["count"] for s in paid),
            "paid_amount": _money(sum((by_status[s]["amount"] for s in paid), Decimal("0.00"))),
            "refunded_amount": _money(refunded),
            "by_status": {
                s: {"count": v["count"], "amount": _money(v["amount"])} for s, v in by_status.items()
            },
        })

    # -- GET /catalog/units, GET /catalog --------------------------------------------------
    def _list_units(self, request: SandboxRequest) -> SandboxResponse:
        """openapi.yaml 2.1 `listCatalogUnits`: every unit, `{"data": [...]}`, no paging."""
        return self._ok({
            "data": [
                {"id": unit.id, "name": unit.name, "name_kaz": unit.name_kaz}
                for unit in APIPAY_UNITS
            ]
        })

    def _list_catalog(self, request: SandboxRequest) -> SandboxResponse:
        """openapi.yaml 2.1 `listCatalogItems`, offset mode (and the targeted `ids[]` mode)."""
        errors: dict[str, list[str]] = {}
        page = self._int_param(request, "page", 1, 1, None, errors)
        per_page = self._int_param(
            request, "per_page", CATALOG_PER_PAGE_DEFAULT, 1, CATALOG_PER_PAGE_MAX, errors
        )
        statuses = self._status_array(request, CATALOG_STATUSES, errors, name="statuses")
        ids: list[int] = []
        for key, value in request.query:
            if key == "ids[]":
                if not _INT_RE.match(value.strip()):
                    errors["ids.0"] = ["The ids.0 field must be an integer."]
                else:
                    ids.append(int(value))
        if errors:
            return self._validation(errors)
        items = sorted(self.world.apipay_nomenclature.values(), key=lambda n: n.id)
        if ids:
            # Targeted mode: every status, `{data: [...]}` without links/meta.
            wanted = set(ids)
            return self._ok({"data": [self._render_catalog_item(n) for n in items
                                      if n.id in wanted]})
        # "без параметра statuses[] ЛЮБОЙ режим отдаёт только active"; the world's items are all
        # active (none is deleted or waiting for Kaspi).
        allowed = statuses or ("active",)
        search = (request.param("search") or "").lower()
        first_char = (request.param("first_char") or "").lower()
        rows = [
            n for n in items
            if "active" in allowed
            and (not search or search in n.name.lower())
            and (not first_char or n.name.lower().startswith(first_char))
        ]
        start = (page - 1) * per_page
        chunk = rows[start:start + per_page]
        last_page = max(1, math.ceil(len(rows) / per_page))
        path = f"https://api.apipay.kz{BASE_PATH}/catalog"

        def link(number: int) -> str:
            return f"{path}?page={number}"

        return self._ok({
            "data": [self._render_catalog_item(n) for n in chunk],
            "links": {
                "first": link(1),
                "last": link(last_page),
                "prev": link(page - 1) if page > 1 else None,
                "next": link(page + 1) if page < last_page else None,
            },
            "meta": {
                "current_page": page,
                "from": start + 1 if chunk else None,
                "last_page": last_page,
                "path": path,
                "per_page": per_page,
                "to": start + len(chunk) if chunk else None,
                "total": len(rows),
            },
        })

    @staticmethod
    def _render_catalog_item(item: ApipayNomenclature) -> dict[str, Any]:
        """Schema `CatalogItem` (openapi.yaml 2.1): dates UTC, `selling_price` a JSON number."""
        created = _iso(item.created_at)
        return {
            "id": item.id,
            "kaspi_item_id": f"MP-{item.history_id}",
            "name": item.name,
            "unit_id": apipay_unit_id(item.unit_id),
            "selling_price": _number(item.price),
            "date_added": created,
            "image_url": None,
            "first_char": item.name[:1].upper() or None,
            "nds_percentage": None,
            "barcode": None,
            "ntin": None,
            "gtin": None,
            "unified_goods_id": None,
            "external_ref": None,
            "ntin_missing": False,
            "matched_existing": False,
            "name_differs": False,
            "status": "active",
            "error_message": None,
            "error_code": None,
            "created_at": created,
            "synced_at": created,
        }

    # -- rendering ---------------------------------------------------------------------------
    def _drift(self) -> bool:
        return bool(self.sandbox.fault_plan(self.source).drift)

    def _render_invoice(self, inv: ApipayInvoice, refunds: list[ApipayRefund],
                        single: bool = False) -> dict[str, Any]:
        """`InvoiceListItem` (list) or `Invoice` (`single`), openapi.yaml 2.1 components/schemas.

        The two schemas differ in the payer's name: `phone` in the list, `phone_number` in the
        single invoice. `updated_at` is in neither schema but earlier answers carried it and the
        sandbox keeps it (a client must ignore fields it does not know)."""
        refunded = sum(
            (r.amount for r in refunds if r.status == REFUND_COMPLETED), Decimal("0.00")
        )
        phone_field = "phone_number" if single or self.legacy_phone_field else "phone"
        body: dict[str, Any] = {
            "id": inv.id,
            "kaspi_invoice_id": str(13_234_000_000 + inv.id * 37),
            "amount": _money(inv.amount),
            "status": inv.status,
            "description": inv.description,
            "external_order_id": inv.external_order_id,
            phone_field: inv.phone_number,
            "client_name": None,
            "internal_comment": None,
            "client_comment": None,
            "is_sandbox": False,
            "total_refunded": _money(refunded),
            "is_fully_refunded": inv.status == "refunded",
            "error_message": None,
            "items": [
                self._render_item(inv, position, item)
                for position, item in enumerate(inv.cart_items, start=1)
            ],
            "paid_at": _iso(inv.paid_at),
            "created_at": _iso(inv.created_at),
            "updated_at": _iso(inv.updated_at),
        }
        if not single:
            body["is_recurring"] = False
        if self._drift():
            # Schema drift: a new field, an optional one gone, a number as a string, a null.
            body["fiscal_receipt_url"] = f"https://receipt.example.kz/{inv.id}"
            if body["client_comment"] is None:
                del body["client_comment"]
            body["is_sandbox"] = None
            for item in body["items"]:
                item["count"] = str(item["count"])
        return body

    @staticmethod
    def _render_item(inv: ApipayInvoice, position: int, item: ApipayCartItem) -> dict[str, Any]:
        """Schema `InvoiceItem` (openapi.yaml 2.1): `price`/`discount` decimal strings.

        A free-text (FAST_SALE) position has no catalog item (`catalog_item_id` null, as for an
        item deleted from the catalog). The world's carts carry no discounts (`discount` null)."""
        return {
            "id": inv.id * ITEM_ID_BASE + position,
            "invoice_id": inv.id,
            "catalog_item_id": item.nomenclature_id if item.type == "CATALOGUE" else None,
            "name": item.name,
            "price": _money(item.price),
            "count": item.count,
            "unit_id": apipay_unit_id(item.unit_id),
            "discount": None,
            "barcode": None,
            "ntin": None,
            "gtin": None,
        }

    def _render_refund(self, refund: ApipayRefund) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": refund.id,
            "invoice_id": refund.invoice_id,
            "amount": _money(refund.amount),
            "status": refund.status,
            "reason": refund.reason,
            "initiated_by": "api",
            "created_at": _iso(refund.created_at),
        }
        if self._drift():
            body["kaspi_refund_id"] = str(77_000_000 + refund.id)
            del body["initiated_by"]
            body["reason"] = None
        return body

    def _render_listed_refund(self, refund: ApipayRefund, inv: ApipayInvoice,
                              invoice_refunds: list[ApipayRefund]) -> dict[str, Any]:
        """A `GET /refunds` item: the refund, its Kaspi ids and a summary of its invoice."""
        refunded = sum(
            (r.amount for r in invoice_refunds if r.status == REFUND_COMPLETED), Decimal("0.00")
        )
        at_kaspi = refund.status != "pending"
        body: dict[str, Any] = {
            "id": refund.id,
            "invoice_id": refund.invoice_id,
            "amount": _money(refund.amount),
            "reason": refund.reason,
            "status": refund.status,
            "kaspi_refund_id": f"REF-{100_000 + refund.id}" if at_kaspi else None,
            "kaspi_status": refund.status if at_kaspi else None,
            "initiated_by": "api",
            "error_message": "Kaspi отклонил возврат" if refund.status == "failed" else None,
            "created_at": _iso(refund.created_at),
            "invoice": {
                "id": inv.id,
                "external_order_id": inv.external_order_id,
                "amount": _money(inv.amount),
                "total_refunded": _money(refunded),
                "is_fully_refunded": inv.status == "refunded",
                "status": inv.status,
                "kaspi_invoice_id": str(13_234_000_000 + inv.id * 37),
            },
            "items": [],
        }
        if self._drift():
            body["processed_at"] = body["created_at"]
            del body["error_message"]
            body["reason"] = None
            body["invoice"]["is_fully_refunded"] = None
        return body
