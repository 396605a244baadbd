"""The reference endpoints: categories, projects, bank accounts, legal entities, contractors
(with requisites and commitments), commitments, warehouse, tags, and v2's custom report groups."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from finance_sandbox.adesk.protocol import BadParams, NotFound
from finance_sandbox.adesk.values import int_param, money, money2, range_bounds
from finance_sandbox.core import (
    SandboxRequest,
    SandboxResponse,
)


class ReferenceEndpoints:
    """Part of `AdeskEmulator`: every endpoint but the transactions."""

    # --- reference lists --------------------------------------------------------------------------

    def _categories(self, request: SandboxRequest) -> SandboxResponse:
        ctype = request.param("type")
        if ctype not in (None, "", "income", "outcome"):
            raise BadParams("type", f"Недопустимое значение параметра type: {ctype}")
        full_group = (request.param("full_group") or "false").lower() == "true"
        wanted = {"income": 1, "outcome": 2}.get(ctype or "")
        cats = [c for c in self.world.categories.values() if wanted is None or c.type == wanted]
        rows = self._out("category", (self._render_category(c, full_group) for c in cats))
        return self._list_answer("categories", rows, len(rows))

    def _project_totals_of(self) -> dict[int, tuple[Decimal, Decimal]]:
        version = self._ledger_version()
        with self._lock:
            cached = self._project_totals
            if cached is not None and cached[0] == version:
                return cached[1]
        totals: dict[int, list[Decimal]] = {}
        for t in self.world.adesk_transactions.values():
            if t.project_id is None or t.is_planned or t.is_transfer:
                continue
            pair = totals.setdefault(t.project_id, [Decimal(0), Decimal(0)])
            pair[0 if t.type == 1 else 1] += t.amount
        result = {pid: (v[0], v[1]) for pid, v in totals.items()}
        with self._lock:
            self._project_totals = (version, result)
        return result

    def _projects(self, request: SandboxRequest) -> SandboxResponse:
        status = request.param("status") or "active"
        if status not in ("active", "archived", "all"):
            raise BadParams("status", f"Недопустимое значение параметра status: {status}")
        sorting = request.param("sorting") or "last_modified"
        if sorting not in ("alphabetically", "last_modified", "popularity"):
            raise BadParams("sorting", f"Недопустимое значение параметра sorting: {sorting}")
        start, length = self._paging(request)
        projects = [
            p
            for p in self.world.projects.values()
            if status == "all" or p.is_archived == (status == "archived")
        ]
        category = request.param("category")
        if category:
            cat_id = int_param(category, "category", 0, 0, None)
            projects = [p for p in projects if p.category_id == cat_id]
        q = (request.param("q") or "").strip().lower()
        if q:
            projects = [p for p in projects if q in p.name.lower()]
        if sorting == "alphabetically":
            projects.sort(key=lambda p: (p.name.lower(), p.id))
        else:  # the world keeps no edit times: newest first stands in for "last modified"
            projects.sort(key=lambda p: p.id, reverse=True)
        page = projects[start : start + length]
        totals = self._project_totals_of()
        reduced = (request.param("reduced") or "false").lower() == "true"
        if reduced:
            rendered = [{"id": p.id, "name": p.name, "isFinished": p.is_archived} for p in page]
        else:
            rendered = [self._render_project(p, totals) for p in page]
        rows = self._out("project", rendered)
        income = sum((totals.get(p.id, (Decimal(0), Decimal(0)))[0] for p in projects), Decimal(0))
        outcome = sum((totals.get(p.id, (Decimal(0), Decimal(0)))[1] for p in projects), Decimal(0))
        gross = income - outcome
        answer = {
            "success": True,
            "recordsTotal": len(rows),
            "recordsFiltered": len(projects),
            "projects": rows,
            "total": {
                "income": money2(income),
                "outcome": money2(outcome),
                "grossProfit": money2(gross),
                "profitability": int((gross * 100 / income).to_integral_value()) if income else 0,
                "planIncome": money2(sum((p.plan_income for p in projects), Decimal(0))),
                "planOutcome": money2(sum((p.plan_outcome for p in projects), Decimal(0))),
            },
        }
        return SandboxResponse.json(answer)

    def _project_categories(self, request: SandboxRequest) -> SandboxResponse:
        rows = self._out(
            "project_category",
            ({"id": c.id, "name": c.name} for c in self.world.project_categories.values()),
        )
        return self._list_answer("categories", rows, len(rows))

    def _bank_accounts(self, request: SandboxRequest) -> SandboxResponse:
        start, length = self._paging(request)
        kind = request.param("bank_account_type")
        if kind not in (None, "", "Bank", "Cash"):
            raise BadParams("bank_account_type", f"Недопустимое значение: {kind}")
        status = request.param("status")
        if status not in (None, "", "open", "closed"):
            raise BadParams("status", f"Недопустимое значение параметра status: {status}")
        accounts = [
            a
            for a in sorted(self.world.bank_accounts.values(), key=lambda a: a.id)
            if (not kind or a.type == kind) and (not status or a.status == status)
        ]
        page = accounts[start : start + length]
        if (request.param("reduced") or "false").lower() == "true":
            rendered = [{"id": a.id, "name": a.name, "currency": a.currency} for a in page]
        else:
            rendered = [self._render_bank_account(a) for a in page]
        rows = self._out("bank_account", rendered)
        answer: dict[str, Any] = {
            "success": True,
            "recordsTotal": len(rows),
            "recordsFiltered": len(accounts),
            "bankAccounts": rows,
        }
        if (request.param("with_sum_amount") or "false").lower() == "true":
            answer["sumAmount"] = money(sum((a.amount for a in accounts), Decimal(0)))
        return SandboxResponse.json(answer)

    def _bank_account(self, request: SandboxRequest, raw_id: str) -> SandboxResponse:
        a = self.world.bank_accounts.get(self._record_id(raw_id, "Счет"))
        if a is None:
            raise NotFound("Счет не найден")
        (row,) = self._out("bank_account", [self._render_bank_account(a)])
        return SandboxResponse.json({"success": True, "bankAccount": row})

    def _legal_entities(self, request: SandboxRequest) -> SandboxResponse:
        rows = self._out(
            "legal_entity",
            (self._render_legal_entity(le) for le in self.world.legal_entities.values()),
        )
        return self._list_answer("legalEntities", rows, len(rows))

    def _legal_entity(self, request: SandboxRequest, raw_id: str) -> SandboxResponse:
        le = self.world.legal_entities.get(self._record_id(raw_id, "Юридическое лицо"))
        if le is None:
            raise NotFound("Юридическое лицо не найдено")
        (row,) = self._out("legal_entity", [self._render_legal_entity(le)])
        return SandboxResponse.json({"success": True, "legalEntity": row})

    # --- contractors ----------------------------------------------------------------------------

    def _contractors(self, request: SandboxRequest) -> SandboxResponse:
        w = self.world
        contractors = sorted(w.adesk_contractors.values(), key=lambda k: k.id)
        q = (request.param("q") or "").strip().lower()
        if q:
            contractors = [k for k in contractors if q in k.name.lower()]
        inn = (request.param("inn") or "").strip()
        if inn:
            with_inn = {
                r.contractor_id
                for r in w.adesk_contractor_requisites.values()
                if r.inn and inn in r.inn
            }
            contractors = [k for k in contractors if k.id in with_inn]
        account = (request.param("checking_bank_account") or "").strip()
        if account:
            with_account = {
                r.contractor_id
                for r in w.adesk_contractor_requisites.values()
                if r.bank_account_number and account in r.bank_account_number
            }
            contractors = [k for k in contractors if k.id in with_account]
        bounds = range_bounds(request.param, w.today())
        if bounds is not None:
            active = {
                t.contractor_id
                for t in w.adesk_transactions.values()
                if bounds[0] <= t.date <= bounds[1]
            }
            contractors = [k for k in contractors if k.id in active]
        balances = self._contractor_balances()
        if (request.param("with_balance") or "false").lower() == "true":
            contractors = [k for k in contractors if balances.get(k.id)]
        if (request.param("reduced") or "false").lower() == "true":
            rendered = [{"id": k.id, "name": k.name} for k in contractors]
        else:
            rendered = [self._render_contractor(k, balances) for k in contractors]
        rows = self._out("contractor", rendered)
        return self._list_answer("contractors", rows, len(rows))

    def _contractor_or_404(self, raw_id: str) -> Any:
        k = self.world.adesk_contractors.get(self._record_id(raw_id, "Контрагент"))
        if k is None:
            raise NotFound("Контрагент не найден")
        return k

    def _contractor(self, request: SandboxRequest, raw_id: str) -> SandboxResponse:
        k = self._contractor_or_404(raw_id)
        (row,) = self._out("contractor", [self._render_contractor(k, self._contractor_balances())])
        return SandboxResponse.json({"success": True, "contractor": row})

    def _requisites_index(self) -> dict[int, list[int]]:
        w = self.world
        version = (w.steps, len(w.adesk_contractor_requisites), len(w.adesk_contractors))
        with self._lock:
            cached = self._requisites_by_contractor
            if cached is not None and cached[0] == version:
                return cached[1]
            index: dict[int, list[int]] = {}
            for rid in sorted(w.adesk_contractor_requisites):
                index.setdefault(w.adesk_contractor_requisites[rid].contractor_id, []).append(rid)
            self._requisites_by_contractor = (version, index)
            return index

    def _contractor_requisites(self, request: SandboxRequest, raw_id: str) -> SandboxResponse:
        k = self._contractor_or_404(raw_id)
        reqs = self.world.adesk_contractor_requisites
        ids = [rid for rid in self._requisites_index().get(k.id, []) if rid in reqs]
        rows = self._out("requisite", (self._render_requisite(reqs[rid]) for rid in ids))
        return self._list_answer("requisites", rows, len(rows))

    def _contractor_commitments(self, request: SandboxRequest, raw_id: str) -> SandboxResponse:
        k = self._contractor_or_404(raw_id)
        items = sorted(
            (c for c in self.world.adesk_commitments.values() if c.contractor_id == k.id),
            key=lambda c: c.id,
        )
        rows = self._out("commitment", (self._render_commitment(c) for c in items))
        return self._list_answer("commitments", rows, len(rows))

    # --- commitments (POST form) ---------------------------------------------------------------

    @staticmethod
    def _id_list(values: list[tuple[str, str]], name: str) -> set[int] | None:
        found: list[str] = []
        for key, value in values:
            if key in (name, f"{name}[]"):
                found.extend(v for v in value.split(",") if v.strip())
        if not found:
            return None
        try:
            return {int(v) for v in found}
        except ValueError:
            raise BadParams(name, f"Параметр {name} должен быть массивом чисел") from None

    def _commitments(self, request: SandboxRequest) -> SandboxResponse:
        form = request.form()

        def param(name: str) -> str | None:
            for key, value in form:
                if key == name:
                    return value
            return request.param(name)

        bounds = range_bounds(param, self.world.today())
        contractors = self._id_list(form + request.query, "contractors")
        projects = self._id_list(form + request.query, "projects")
        items = []
        for c in sorted(
            self.world.adesk_commitments.values(), key=lambda c: (c.date, c.id), reverse=True
        ):
            if bounds is not None and not bounds[0] <= c.date <= bounds[1]:
                continue
            if contractors is not None and c.contractor_id not in contractors:
                continue
            if projects is not None and c.project_id not in projects:
                continue
            items.append(c)
        rows = self._out("commitment", (self._render_commitment(c) for c in items))
        return self._list_answer("commitments", rows, len(rows))

    # --- warehouse and tags ---------------------------------------------------------------------

    def _products(self, request: SandboxRequest) -> SandboxResponse:
        search = (request.param("search") or "").strip().lower()
        products = [
            p
            for p in sorted(self.world.adesk_products.values(), key=lambda p: p.id)
            if not search or search in p.name.lower() or search in (p.sku or "").lower()
        ]
        rows = self._out("product", (self._render_product(p) for p in products))
        return self._list_answer("products", rows, len(rows))

    def _units(self, request: SandboxRequest) -> SandboxResponse:
        rows = self._out(
            "unit",
            (self._render_unit(u) for u in sorted(self.world.units.values(), key=lambda u: u.id)),
        )
        return SandboxResponse.json({"success": True, "units": rows})

    def _tags(self, request: SandboxRequest) -> SandboxResponse:
        search = (request.param("search") or "").strip().lower()
        tags = [
            t
            for t in sorted(self.world.tags.values(), key=lambda t: t.id)
            if not search or search in t.name.lower()
        ]
        rows = self._out("tag", ({"id": t.id, "name": t.name, "color": t.color} for t in tags))
        return SandboxResponse.json({"success": True, "tags": rows})

    def _tag(self, request: SandboxRequest, raw_id: str) -> SandboxResponse:
        t = self.world.tags.get(self._record_id(raw_id, "Тег"))
        if t is None:
            raise NotFound("Тег не найден")
        (row,) = self._out("tag", [{"id": t.id, "name": t.name, "color": t.color}])
        return SandboxResponse.json({"success": True, "tag": row})

    # --- v2 ---------------------------------------------------------------------------------------

    def _custom_report_groups(self, request: SandboxRequest) -> SandboxResponse:
        # The synthetic business defines no custom report sections.
        return SandboxResponse.json({"success": True, "data": []})
