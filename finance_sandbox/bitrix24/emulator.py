"""The Bitrix24 emulator: routing, auth, the server-time limit, each method, and `batch`."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar
from urllib.parse import unquote

from finance_sandbox.bitrix24.batch import resolve_references
from finance_sandbox.bitrix24.entities import (
    COMPANY_FIELDS,
    INVOICE_FIELDS,
    PRODUCT_FIELDS,
    REQUISITE_FIELDS,
    ROW_FIELDS,
    View,
    render_company,
    render_invoice,
    render_product,
    render_requisite,
    render_row,
)
from finance_sandbox.bitrix24.filters import compile_filter, split_key
from finance_sandbox.bitrix24.listing import (
    CallContext,
    ListAnswer,
    entity_type_id_of,
    order_of,
    run_list,
    select_of,
    start_of,
)
from finance_sandbox.bitrix24.php import as_list, is_true, php_array, php_parse_pairs, php_parse_str
from finance_sandbox.bitrix24.portal import (
    CATALOG_IBLOCK_ID,
    ITEM_VIEWS,
    catalogs,
    categories_of,
    entity_types,
    item_views,
    portal_views,
    price_types,
    render_legacy_full,
)
from finance_sandbox.bitrix24.protocol import (
    BATCH_MAX_LENGTH,
    KNOWN_EMPTY_ENTITY_TYPES,
    MSK,
    OPERATING_LIMIT,
    OPERATING_WINDOW,
    SMART_INVOICE_OWNER_TYPE,
    OperatingWindow,
    RestError,
)
from finance_sandbox.core import (
    SANDBOX_CREDENTIALS,
    Emulator,
    SandboxRequest,
    SandboxResponse,
    ServerRateLimit,
)

# ---------------------------------------------------------------------------------------------
# The emulator
# ---------------------------------------------------------------------------------------------

_PATH = re.compile(r"^/rest/(?:(?P<user>[^/]+)/(?P<key>[^/]+)/)?(?P<method>[^/]*)/?$")


class Bitrix24Emulator(Emulator):
    source: ClassVar[str] = "bitrix24"
    default_rate_limit: ClassVar[ServerRateLimit] = ServerRateLimit(rate=2.0, burst=50)

    def __init__(self, world: Any, sandbox: Any) -> None:
        super().__init__(world, sandbox)
        creds = SANDBOX_CREDENTIALS["bitrix24"]
        self.user_id = creds["user_id"]
        self.webhook_key = creds["webhook_key"]
        self._operating: dict[str, OperatingWindow] = {}
        # What crm.item.productrow.list does with an array in `=ownerId`. The method's page has
        # said three things: older revisions "`=` — equals (works with arrays as well)"
        # ("accepts", the default); now "The only key that accepts an array of values is `@id`"
        # and "the method ignores an array in the same way as an unsupported condition"
        # ("ignores": the required key is missing; "unfiltered": the condition is dropped and
        # every row comes back), while its error table lists INVALID_ARG_VALUE for "an array in
        # the value of a filter key with a comparison prefix" ("rejects").
        self.owner_arrays: str = "accepts"
        # Methods this portal does not have (an older portal: {"catalog.product.list", ...}):
        # they answer 404 ERROR_METHOD_NOT_FOUND like any unknown method.
        self.missing_methods: set[str] = set()
        self._operating_lock = threading.Lock()
        self._prepared: dict[int, tuple[SandboxRequest, SandboxResponse, float]] = {}
        self._prepared_lock = threading.Lock()
        w = world
        self.views = {
            "invoices": View(
                "invoices", lambda: w.bitrix_invoices, INVOICE_FIELDS, "id", render_invoice
            ),
            "companies": View(
                "companies", lambda: w.bitrix_companies, COMPANY_FIELDS, "ID", render_company
            ),
            "requisites": View(
                "requisites", lambda: w.bitrix_requisites, REQUISITE_FIELDS, "ID", render_requisite
            ),
            "products": View(
                "products", lambda: w.bitrix_products, PRODUCT_FIELDS, "ID", render_product
            ),
            **portal_views(w),
            **item_views(w),
        }
        self.methods: dict[str, Callable[[CallContext, dict[str, Any]], Any]] = {
            "crm.item.list": self._crm_item_list,
            "crm.item.productrow.list": self._productrow_list,
            "crm.company.list": self._classic_list("companies"),
            "crm.requisite.list": self._classic_list("requisites"),
            "crm.product.list": self._classic_list("products"),
            "crm.contact.list": self._classic_list("contacts"),
            "crm.invoice.list": self._classic_list("legacy_invoices"),
            "crm.invoice.get": self._legacy_invoice_get,
            "crm.invoice.status.list": self._classic_list(
                "statuses", fixed_filter={"=ENTITY_ID": "INVOICE_STATUS"}
            ),
            "crm.status.list": self._classic_list("statuses"),
            "crm.status.entity.types": lambda ctx, params: entity_types(),
            "crm.category.list": self._category_list,
            "catalog.catalog.list": lambda ctx, params: ListAnswer(
                catalogs(), 1, None, 0.0, "catalogs"
            ),
            "catalog.product.list": self._catalog_list("catalog_products", "products"),
            "catalog.price.list": self._catalog_list("prices", "prices"),
            "catalog.pricetype.list": lambda ctx, params: ListAnswer(
                price_types(), 1, None, 0.0, "priceTypes"
            ),
            "server.time": lambda ctx, params: datetime.now(MSK).isoformat(timespec="seconds"),
            "profile": lambda ctx, params: {
                "ID": self.user_id,
                "ADMIN": True,
                "NAME": "Интеграция",
                "LAST_NAME": "Финансы",
                "PERSONAL_GENDER": "",
                "TIME_ZONE": "",
                "TIME_ZONE_OFFSET": 10800,
            },
        }

    # -- routing and auth ----------------------------------------------------------------------
    def _route(self, request: SandboxRequest) -> tuple[str | None, str | None, str] | None:
        match = _PATH.match(request.path)
        if match is None:
            return None
        user = unquote(match["user"]) if match["user"] else None
        key = unquote(match["key"]) if match["key"] else None
        method = unquote(match["method"]).lower()
        if method.endswith(".json"):
            method = method[: -len(".json")]
        return user, key, method

    def account_of(self, request: SandboxRequest) -> str | None:
        route = self._route(request)
        if route is None:
            return None
        user, key, _ = route
        if user == self.user_id and key == self.webhook_key:
            return "portal"  # the limit is per portal, whichever webhook or app calls
        return None

    def throttled(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse.json(
            {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}, 503
        )

    def server_error(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse.json(
            {"error": "INTERNAL_SERVER_ERROR", "error_description": "Internal server error"}, 500
        )

    def error_answer(self, request: SandboxRequest, status: int) -> SandboxResponse:
        """Persistent faults, answered the way Bitrix24 answers that kind of failure."""
        if status == 401:
            error = RestError(401, "INVALID_CREDENTIALS", "Invalid request credentials")
        elif status == 402:
            # Bitrix24 has no 402: a portal without REST on its plan answers 401 ACCESS_DENIED.
            error = RestError(401, "ACCESS_DENIED", "REST is available only by subscription")
        elif status == 403:
            error = RestError(403, "PORTAL_DELETED", "Portal was deleted")
        elif status == 404:
            error = RestError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
        elif status == 429:
            error = RestError(
                429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit"
            )
        else:
            error = RestError(status, "INVALID_ARG_VALUE", "Invalid values for input parameters")
        return SandboxResponse.json(error.body(), error.status)

    # -- the request ---------------------------------------------------------------------------
    def cost_seconds(self, request: SandboxRequest) -> float:
        # The answer is computed here (the cost is what computing it took: counting rows for
        # `total`) and handed to `handle`, which the Sandbox calls after sleeping that long.
        response, cost = self._respond(request)
        with self._prepared_lock:
            self._prepared[id(request)] = (request, response, cost)
        return cost

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        with self._prepared_lock:
            prepared = self._prepared.pop(id(request), None)
        if prepared is not None and prepared[0] is request:
            return prepared[1]
        return self._respond(request)[0]

    def _respond(self, request: SandboxRequest) -> tuple[SandboxResponse, float]:
        started = time.time()
        route = self._route(request)
        if route is None:
            return SandboxResponse.html(
                "<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1>"
                "</body></html>",
                404,
            ), 0.0
        user, key, method = route
        try:
            if user is None:
                if request.param("auth") or self._body_params(request).get("auth"):
                    raise RestError(401, "invalid_token", "Unable to get application by token")
                raise RestError(401, "NO_AUTH_FOUND", "Wrong authorization data")
            if user != self.user_id or key != self.webhook_key:
                raise RestError(401, "INVALID_CREDENTIALS", "Invalid request credentials")
            if method in self.missing_methods or (method not in self.methods and method != "batch"):
                raise RestError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
            params = self._params(request)
            ctx = CallContext(self.world, self.sandbox.fault_plan(self.source).drift)
            if method == "batch":
                payload = self._batch(ctx, params, started)
            else:
                payload = self._call(ctx, method, params)
        except RestError as error:
            return SandboxResponse.json(error.body(), error.status), 0.0
        scaled = ctx.cost * self.sandbox.settings.cost_scale
        payload["time"] = self._time(started, scaled, method)
        return SandboxResponse.json(payload), ctx.cost

    @staticmethod
    def _body_params(request: SandboxRequest) -> dict[str, Any]:
        if not request.body:
            return {}
        ctype = request.headers.get("content-type", "")
        if "application/x-www-form-urlencoded" in ctype:
            return php_parse_pairs(request.form())
        try:
            body = json.loads(request.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            if "json" in ctype:
                raise RestError(
                    400, "INVALID_REQUEST", "Invalid JSON in the request body"
                ) from None
            return php_parse_str(request.body.decode("utf-8", "replace"))
        return body if isinstance(body, dict) else {}

    def _params(self, request: SandboxRequest) -> dict[str, Any]:
        params = php_parse_pairs(request.query)
        params.update(self._body_params(request))
        return params

    def _time(self, started: float, cost: float, method: str) -> dict[str, Any]:
        finish = max(time.time(), started + cost)
        reset = self._operating_reset(method)
        return {
            "start": round(started, 6),
            "finish": round(finish, 6),
            "duration": round(finish - started, 6),
            "processing": round(finish - started, 6),
            "date_start": datetime.fromtimestamp(started, MSK).isoformat(timespec="seconds"),
            "date_finish": datetime.fromtimestamp(finish, MSK).isoformat(timespec="seconds"),
            "operating_reset_at": int(reset),
            "operating": round(cost, 6),
        }

    # -- operating-time limit ------------------------------------------------------------------
    # Constant work per command whatever the history: each method keeps its spends in arrival
    # order with a running sum; expired spends leave from the front (each once), so a check is
    # amortised O(1) instead of re-summing ten minutes of calls.
    def _operating_window(self, method: str) -> OperatingWindow:
        window = self._operating.get(method)
        if window is None:
            window = self._operating[method] = OperatingWindow()
        return window

    def _operating_check(self, method: str) -> None:
        now = time.monotonic()
        with self._operating_lock:
            window = self._operating.get(method)
            if window is not None and window.total(now) > OPERATING_LIMIT:
                raise RestError(
                    429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit"
                )

    def _operating_add(self, method: str, cost: float) -> None:
        if cost <= 0:
            return
        with self._operating_lock:
            self._operating_window(method).add(
                time.monotonic(), cost * self.sandbox.settings.cost_scale
            )

    def _operating_reset(self, method: str) -> float:
        now = time.monotonic()
        with self._operating_lock:
            window = self._operating.get(method)
            first = window.oldest(now) if window is not None else None
        if first is None:
            first = now
        return time.time() + (first + OPERATING_WINDOW - now)

    # -- methods -------------------------------------------------------------------------------
    def _call(self, ctx: CallContext, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._operating_check(method)
        before = ctx.cost
        answer = self.methods[method](ctx, params)
        self._operating_add(method, ctx.cost - before)
        if isinstance(answer, ListAnswer):
            if answer.envelope == "plain":
                payload: dict[str, Any] = {"result": answer.rows}
            else:
                payload = {"result": {answer.envelope: answer.rows}}
            if answer.total is not None:
                payload["total"] = answer.total
            if answer.next is not None:
                payload["next"] = answer.next
            return payload
        return {"result": answer}

    def _crm_item_list(self, ctx: CallContext, params: dict[str, Any]) -> ListAnswer:
        entity_type_id = entity_type_id_of(params)
        view_name = ITEM_VIEWS.get(entity_type_id)
        if view_name is None:
            if entity_type_id in KNOWN_EMPTY_ENTITY_TYPES:
                start = start_of(params, classic=False)
                total = None if start < 0 else 0
                return ListAnswer([], total, None, 0.0, "items")
            raise RestError(400, "NOT_FOUND", "Smart process not found")
        view = self.views[view_name]
        compiled = compile_filter(params.get("filter"), view.fields, "id", strict=True)
        order = order_of(params.get("order"), view.fields, "id", strict=True)
        start = start_of(params, classic=False)
        answer = run_list(
            ctx, view, compiled, order, start, select_of(params), "items", classic=False
        )
        ctx.cost += answer.cost
        return answer

    def _productrow_list(self, ctx: CallContext, params: dict[str, Any]) -> ListAnswer:
        raw_filter = params.get("filter")
        if isinstance(raw_filter, list):
            raw_filter = {str(i): v for i, v in enumerate(raw_filter)}
        if not isinstance(raw_filter, dict):
            raw_filter = {}
        if "=ownerType" not in raw_filter or "=ownerId" not in raw_filter:
            raise RestError(
                400,
                "REQUIRED_ARG_MISSING",
                "Required filter keys =ownerType and =ownerId are missing",
            )
        owner_type = str(raw_filter["=ownerType"]).strip().upper()
        owner_raw = raw_filter["=ownerId"]
        owners = as_list(owner_raw)
        invoices = self.world.bitrix_invoices
        if owners is not None and self.owner_arrays == "rejects":
            # the error table: "an array in the value of a filter key with a comparison prefix"
            raise RestError(400, "INVALID_ARG_VALUE", "Invalid values for input parameters")
        if owners is not None and self.owner_arrays == "ignores":
            # "the method ignores an array in the same way as an unsupported condition": the
            # required key is then missing
            raise RestError(
                400,
                "REQUIRED_ARG_MISSING",
                "Required filter keys =ownerType and =ownerId are missing",
            )
        if owners is None:
            try:
                owner_id = int(Decimal(str(owner_raw)))
            except (InvalidOperation, ValueError):
                raise RestError(400, "INVALID_ARG_VALUE", "Invalid value of =ownerId") from None
            if owner_type != SMART_INVOICE_OWNER_TYPE or owner_id not in invoices:
                raise RestError(400, "ACCESS_DENIED", "Access denied")
            owner_ids = [owner_id]
        elif self.owner_arrays == "unfiltered":
            # an ignored owner condition with nothing else to stop it: every smart-invoice row
            owner_ids = sorted(invoices) if owner_type == SMART_INVOICE_OWNER_TYPE else []
        else:
            owner_ids = []
            for value in owners:
                try:
                    owner_ids.append(int(Decimal(str(value))))
                except (InvalidOperation, ValueError):
                    raise RestError(400, "INVALID_ARG_VALUE", "Invalid value of =ownerId") from None
            if owner_type != SMART_INVOICE_OWNER_TYPE:
                owner_ids = []
        rows: dict[int, Any] = {}
        for owner_id in owner_ids:
            invoice = invoices.get(owner_id)
            if invoice is not None:
                for row in invoice.rows:
                    rows[row.id] = row
        # Only id, productId and the owner keys are indexed; other conditions are ignored.
        conditions = {}
        for key, value in raw_filter.items():
            op, name = split_key(str(key))
            if name in ("id", "productId"):
                if as_list(value) is not None and op not in ("@", "", "=", "!", "!="):
                    raise RestError(
                        400,
                        "INVALID_ARG_VALUE",
                        f"Invalid filter: an array is not allowed for '{key}'",
                    )
                conditions[key] = value
        view = View("productrows", lambda: rows, ROW_FIELDS, "id", render_row)
        compiled = compile_filter(conditions, ROW_FIELDS, "id", strict=False)
        raw_order = params.get("order")
        if not raw_order:
            raw_order = {"sort": "ASC"}
        order = order_of(raw_order, ROW_FIELDS, "id", strict=False, only={"id", "sort"})
        start = start_of(params, classic=False)
        local = CallContext(self.world, ctx.drift)
        answer = run_list(local, view, compiled, order, start, None, "productRows", classic=False)
        ctx.cost += answer.cost
        return answer

    def _classic_list(
        self, name: str, fixed_filter: dict[str, Any] | None = None
    ) -> Callable[[CallContext, dict[str, Any]], ListAnswer]:
        def call(ctx: CallContext, params: dict[str, Any]) -> ListAnswer:
            view = self.views[name]
            raw_filter = params.get("filter")
            if fixed_filter:
                given = raw_filter if isinstance(raw_filter, dict) else {}
                raw_filter = {"0": given, **fixed_filter} if given else dict(fixed_filter)
            compiled = compile_filter(raw_filter, view.fields, "ID", strict=False)
            order = order_of(params.get("order"), view.fields, "ID", strict=False)
            start = start_of(params, classic=True)
            answer = run_list(
                ctx, view, compiled, order, start, select_of(params), "plain", classic=True
            )
            ctx.cost += answer.cost
            return answer

        return call

    def _legacy_invoice_get(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """crm.invoice.get (api-reference/crm/outdated/invoice/crm-invoice-get.md): `id`; the
        invoice with PRODUCT_ROWS. A missing one answers like the classic CRM getters."""
        raw = params.get("id", params.get("ID"))
        try:
            invoice_id = int(Decimal(str(raw)))
        except (InvalidOperation, ValueError):
            raise RestError(400, "", "ID is not defined or invalid.") from None
        invoice = self.views["legacy_invoices"].table().get(invoice_id)
        if invoice is None:
            raise RestError(400, "", "Not found")
        return render_legacy_full(invoice)

    def _category_list(self, ctx: CallContext, params: dict[str, Any]) -> ListAnswer:
        """crm.category.list (api-reference/crm/universal/category/crm-category-list.md)."""
        rows = categories_of(entity_type_id_of(params))
        return ListAnswer(rows, len(rows), None, 0.0, "categories")

    def _catalog_list(
        self, view_name: str, envelope: str
    ) -> Callable[[CallContext, dict[str, Any]], ListAnswer]:
        """catalog.product.list / catalog.price.list (api-reference/catalog/product/
        catalog-product-list.md, catalog/price/catalog-price-list.md): camelCase, wrapped in
        `products` / `prices`. catalog.product.list requires `id` and `iblockId` in select and
        `iblockId` in filter (400, error code 0, "Required select fields: …" / "Required filter
        fields: iblockId"); an unknown info block answers 200040300000 "Iblock Not Found"."""

        def call(ctx: CallContext, params: dict[str, Any]) -> ListAnswer:
            view = self.views[view_name]
            raw_filter = params.get("filter")
            if envelope == "products":
                select = select_of(params) or []
                missing = [f for f in ("id", "iblockId") if f not in select]
                if missing:
                    raise RestError(400, 0, "Required select fields: " + ", ".join(missing))
                if raw_filter is not None and not isinstance(raw_filter, dict):
                    raise RestError(400, 0, "Incorrect filter format")
                if not raw_filter or "iblockId" not in raw_filter:
                    raise RestError(400, 0, "Required filter fields: iblockId")
                if str(raw_filter["iblockId"]).strip() != str(CATALOG_IBLOCK_ID):
                    raise RestError(400, 200040300000, "Iblock Not Found")
            compiled = compile_filter(raw_filter, view.fields, "id", strict=False)
            order = order_of(params.get("order"), view.fields, "id", strict=False)
            start = start_of(params, classic=False)
            answer = run_list(
                ctx, view, compiled, order, start, select_of(params), envelope, classic=False
            )
            ctx.cost += answer.cost
            return answer

        return call

    # -- batch ---------------------------------------------------------------------------------
    def _batch(self, ctx: CallContext, params: dict[str, Any], started: float) -> dict[str, Any]:
        halt = is_true(params.get("halt", False))
        commands = params.get("cmd")
        if isinstance(commands, list):
            commands = {str(i): v for i, v in enumerate(commands)}
        if not isinstance(commands, dict):
            commands = {}
        results: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        totals: dict[str, Any] = {}
        nexts: dict[str, Any] = {}
        times: dict[str, Any] = {}
        state = {"result": results, "next": nexts, "total": totals, "time": times, "error": errors}
        for index, (name, command) in enumerate(commands.items()):
            if index >= BATCH_MAX_LENGTH:
                errors[name] = {
                    "error": "ERROR_BATCH_LENGTH_EXCEEDED",
                    "error_description": "Max batch length exceeded",
                }
                if halt:
                    break
                continue
            command_started = time.time()
            text = command if isinstance(command, str) else ""
            method, _, query = text.partition("?")
            method = method.strip().lower()
            if method.endswith(".json"):
                method = method[: -len(".json")]
            before = ctx.cost
            try:
                if method == "batch":
                    raise RestError(
                        405,
                        "ERROR_BATCH_METHOD_NOT_ALLOWED",
                        "Method is not allowed for batch usage",
                    )
                if method not in self.methods or method in self.missing_methods:
                    raise RestError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
                sub_params = resolve_references(php_parse_str(query), state) if query else {}
                payload = self._call(ctx, method, sub_params)
            except RestError as error:
                errors[name] = error.body()
                if halt:
                    break
                continue
            results[name] = payload["result"]
            if "total" in payload:
                totals[name] = payload["total"]
            if "next" in payload:
                nexts[name] = payload["next"]
            spent = ctx.cost - before
            finish = max(time.time(), command_started + spent)
            times[name] = {
                "start": round(command_started, 6),
                "finish": round(finish, 6),
                "duration": round(finish - command_started, 6),
                "processing": round(finish - command_started, 6),
                "date_start": datetime.fromtimestamp(command_started, MSK).isoformat(
                    timespec="seconds"
                ),
                "date_finish": datetime.fromtimestamp(finish, MSK).isoformat(timespec="seconds"),
                "operating": round(spent, 6),
            }
        return {
            "result": {
                "result": php_array(results),
                "result_error": php_array(errors),
                "result_total": php_array(totals),
                "result_next": php_array(nexts),
                "result_time": php_array(times),
            }
        }
