"""Checks of the invoicing models: Bitrix24 / SalesMan / ApiPay staging, the Adesk reference
tables behind counterparties and products, and the marts invoices, invoice_lines, products,
product_sources, counterparties and counterparty_sources.

The ones that matter most: `lines_sum_to_amount` (an invoice's lines add up to its amount; a
failing row says by how much and why), `tax_id_unique` (no two counterparties share a tax id),
and the `*_reconcile_with_staging` checks (every source record is in the marts exactly once).
"""

from __future__ import annotations

from finance_pipeline.checks import SqlCheck, finding

STAGING_CHECKS: list[SqlCheck] = [
    SqlCheck(
        table="staging.bitrix24_invoice_product_rows",
        name="rows_belong_to_live_invoices",
        description=(
            "Every product row belongs to a live smart invoice (rows of deleted invoices are "
            "marked deleted by the extraction)."
        ),
        failing_rows_sql="""
            SELECT r.invoice_id, count(*) AS rows
            FROM staging.bitrix24_invoice_product_rows AS r
            WHERE r.invoice_id NOT IN (SELECT invoice_id FROM staging.bitrix24_invoices)
            GROUP BY ALL""",
        warn_only=True,
    ),
    SqlCheck(
        table="staging.salesman_invoice_details",
        name="details_of_every_invoice",
        description=(
            "Every SalesMan invoice record has its invoice/info details (VAT, type); without "
            "them marts.invoices has no tax_amount for it."
        ),
        failing_rows_sql="""
            SELECT i.invoice_id, i.number
            FROM staging.salesman_invoices AS i
            LEFT JOIN staging.salesman_invoice_details AS d USING (invoice_id)
            WHERE d.invoice_id IS NULL""",
        warn_only=True,
    ),
    SqlCheck(
        table="staging.salesman_invoice_details",
        name="details_agree_with_list",
        description=(
            "invoice/info says the same amount and payment flag as invoice/list for each record "
            "(a difference means the details are stale: they are re-read when the list changes)."
        ),
        failing_rows_sql="""
            SELECT i.invoice_id, i.amount AS list_amount, d.amount AS info_amount,
                i.is_paid AS list_paid, d.is_paid AS info_paid
            FROM staging.salesman_invoices AS i
            JOIN staging.salesman_invoice_details AS d USING (invoice_id)
            WHERE i.amount IS DISTINCT FROM d.amount OR i.is_paid IS DISTINCT FROM d.is_paid""",
        warn_only=True,
    ),
    SqlCheck(
        table="staging.apipay_invoices",
        name="refunds_match_total_refunded",
        description=("The completed refunds of an ApiPay invoice add up to its total_refunded."),
        failing_rows_sql="""
            SELECT i.invoice_id, i.status, i.total_refunded,
                coalesce(sum(r.amount) FILTER (WHERE r.status = 'completed'), 0) AS refunds
            FROM staging.apipay_invoices AS i
            LEFT JOIN staging.apipay_refunds AS r USING (invoice_id)
            GROUP BY i.invoice_id, i.status, i.total_refunded
            HAVING i.total_refunded IS DISTINCT FROM
                coalesce(sum(r.amount) FILTER (WHERE r.status = 'completed'), 0)""",
        warn_only=True,
    ),
]


# --- marts -----------------------------------------------------------------------------------

_LINES_SUM = """
    WITH lines AS (
        SELECT invoice_key, count(*) AS lines, sum(line_total) AS lines_total
        FROM marts.invoice_lines
        GROUP BY invoice_key
    ),
    salesman_specs AS (
        SELECT deal_id, max(deal_invoice_numbers) AS deal_invoices
        FROM staging.salesman_deal_lines
        GROUP BY deal_id
    ),
    expected AS (
        -- invoices that must have lines: Bitrix24 invoices whose amount is not typed by hand,
        -- SalesMan invoices whose deal has a specification, and every invoice that has a line
        SELECT i.invoice_key, i.source, i.number, i.amount, l.lines, l.lines_total,
            b.is_manual_amount, s.deal_invoices, a.discount_sum, a.subtotal
        FROM marts.invoices AS i
        LEFT JOIN lines AS l USING (invoice_key)
        LEFT JOIN staging.bitrix24_invoices AS b
            ON i.source = 'bitrix24' AND b.invoice_id = i.source_id
        LEFT JOIN salesman_specs AS s ON i.source = 'salesman' AND s.deal_id = i.deal_ref
        LEFT JOIN staging.apipay_invoices AS a
            ON i.source = 'apipay' AND a.invoice_id = i.source_id
        WHERE l.lines IS NOT NULL
            OR (i.source = 'bitrix24' AND NOT coalesce(b.is_manual_amount, false))
            OR s.deal_id IS NOT NULL
    )
    SELECT
        invoice_key, source, number, amount, lines, lines_total,
        lines_total - amount AS difference,
        CASE
            WHEN lines IS NULL AND deal_invoices > 1 THEN
                'SalesMan deal billed by ' || deal_invoices || ' invoices: its specification '
                || 'belongs to the deal, not to one of them'
            WHEN lines IS NULL THEN 'no product rows, although the amount is not typed by hand'
            WHEN amount IS NULL THEN 'invoice amount missing (unparsable)'
            WHEN lines_total IS NULL THEN 'a line total is missing (unparsable price or quantity)'
            WHEN is_manual_amount THEN 'amount typed by hand (isManualOpportunity), rows differ'
            WHEN discount_sum > 0 AND lines_total = subtotal THEN
                'ApiPay invoice-level discount (discount_sum) is not spread over the items'
            WHEN source = 'salesman' THEN
                'SalesMan deal specification and invoice amount disagree (the specification '
                || 'was edited after the invoice was issued, or the amount typed by hand)'
            WHEN abs(lines_total - amount) <= 0.01 * lines THEN 'rounding of line totals'
            ELSE 'lines and amount disagree'
        END AS reason
    FROM expected
    WHERE lines IS NULL OR amount IS NULL OR lines_total IS NULL OR lines_total <> amount
"""

_SALESMAN_RECONCILE = """
    WITH mart AS (
        SELECT unnest(source_record_ids) AS invoice_id, invoice_key
        FROM marts.invoices WHERE source = 'salesman'
    )
    SELECT 'salesman' AS source, s.invoice_id, count(m.invoice_key) AS invoices
    FROM staging.salesman_invoices AS s
    LEFT JOIN mart AS m USING (invoice_id)
    GROUP BY s.invoice_id
    HAVING count(m.invoice_key) <> 1
"""

_INVOICES_RECONCILE = f"""
    SELECT source, staging_rows, mart_rows FROM (
        SELECT 'bitrix24' AS source,
            (SELECT count(*) FROM staging.bitrix24_invoices)
                + (SELECT count(*) FROM staging.bitrix24_legacy_invoices) AS staging_rows,
            (SELECT count(*) FROM marts.invoices WHERE source = 'bitrix24') AS mart_rows
        UNION ALL
        SELECT 'apipay',
            (SELECT count(*) FROM staging.apipay_invoices),
            (SELECT count(*) FROM marts.invoices WHERE source = 'apipay')
        UNION ALL
        SELECT 'salesman (records)',
            (SELECT count(*) FROM staging.salesman_invoices),
            (SELECT coalesce(sum(parts), 0) FROM marts.invoices WHERE source = 'salesman')
    ) WHERE staging_rows <> mart_rows
    UNION ALL
    SELECT source, NULL, invoices FROM ({_SALESMAN_RECONCILE})
"""

_LINES_RECONCILE = """
    SELECT source, staging_rows, mart_rows FROM (
        SELECT 'bitrix24' AS source,
            (SELECT count(*) FROM staging.bitrix24_invoice_product_rows)
                + (SELECT count(*) FROM staging.bitrix24_legacy_invoice_lines) AS staging_rows,
            (SELECT count(*) FROM marts.invoice_lines WHERE source = 'bitrix24') AS mart_rows
        UNION ALL
        SELECT 'salesman',
            (SELECT count(*) FROM staging.salesman_deal_lines AS l
             JOIN marts.invoices AS i ON i.source = 'salesman' AND i.deal_ref = l.deal_id
             WHERE l.deal_invoice_numbers = 1),
            (SELECT count(*) FROM marts.invoice_lines WHERE source = 'salesman')
        UNION ALL
        SELECT 'apipay',
            (SELECT coalesce(sum(len(cart_items)), 0) FROM staging.apipay_invoices),
            (SELECT count(*) FROM marts.invoice_lines WHERE source = 'apipay')
    ) WHERE staging_rows <> mart_rows
"""

_COUNTERPARTY_RECONCILE = """
    SELECT source, staging_records, mapped_records FROM (
        SELECT 'bitrix24' AS source,
            (SELECT count(*) FROM staging.bitrix24_companies)
                + (SELECT count(*) FROM staging.bitrix24_contacts) AS staging_records,
            (SELECT count(*) FROM marts.counterparty_sources WHERE source = 'bitrix24')
                AS mapped_records
        UNION ALL
        SELECT 'adesk',
            (SELECT count(*) FROM staging.adesk_contractors),
            (SELECT count(*) FROM marts.counterparty_sources WHERE source = 'adesk')
        UNION ALL
        SELECT 'salesman',
            (SELECT count(DISTINCT client_id) FROM staging.salesman_invoices),
            (SELECT count(*) FROM marts.counterparty_sources WHERE source = 'salesman')
        UNION ALL
        SELECT 'apipay',
            (SELECT count(DISTINCT phone) FROM staging.apipay_invoices),
            (SELECT count(*) FROM marts.counterparty_sources WHERE source = 'apipay')
    ) WHERE staging_records <> mapped_records
"""

_PRODUCT_RECONCILE = """
    SELECT source, staging_records, mapped_records FROM (
        SELECT 'bitrix24' AS source,
            (SELECT count(*) FROM staging.bitrix24_products) AS staging_records,
            (SELECT count(*) FROM marts.product_sources WHERE source = 'bitrix24')
                AS mapped_records
        UNION ALL
        SELECT 'adesk',
            (SELECT count(*) FROM staging.adesk_products),
            (SELECT count(*) FROM marts.product_sources WHERE source = 'adesk')
        UNION ALL
        SELECT 'apipay',
            (SELECT count(*) FROM (
                SELECT catalog_item_id FROM staging.apipay_catalog_items
                UNION
                SELECT it.catalog_item_id FROM (
                    SELECT unnest(cart_items) AS it FROM staging.apipay_invoices)
                WHERE it.catalog_item_id IS NOT NULL)),
            (SELECT count(*) FROM marts.product_sources WHERE source = 'apipay')
    ) WHERE staging_records <> mapped_records
"""

MART_CHECKS: list[SqlCheck] = [
    SqlCheck(
        table="marts.invoices",
        name="rows_reconcile_with_staging",
        description=(
            "One invoice per Bitrix24 and ApiPay invoice; every SalesMan record in exactly one "
            "invoice (split invoices are one invoice of several parts)."
        ),
        failing_rows_sql=_INVOICES_RECONCILE,
    ),
    SqlCheck(
        table="marts.invoices",
        name="status_mapped",
        description=(
            "Every invoice's own status maps to the unified vocabulary (a new Bitrix24 stage or "
            "ApiPay status shows up here with status NULL)."
        ),
        failing_rows_sql="""
            SELECT source, source_status, count(*) AS invoices FROM marts.invoices
            WHERE status IS NULL OR status NOT IN ('draft', 'issued', 'paid', 'partially_paid',
                'cancelled', 'expired', 'refunded', 'partially_refunded')
            GROUP BY ALL""",
    ),
    finding(
        "marts.invoices",
        "invoices_without_counterparty",
        "invoices issued to nobody we know (a Bitrix24 invoice issued to no company, a SalesMan "
        "invoice without client, an ApiPay invoice without a phone).",
        """
            SELECT source, number, issued_date, status, currency, amount FROM marts.invoices
            WHERE counterparty_key IS NULL""",
    ),
    SqlCheck(
        table="marts.invoices",
        name="paid_amount_within_amount",
        description="0 <= paid_amount <= amount and refunded_amount <= paid_amount.",
        failing_rows_sql="""
            SELECT invoice_key, amount, paid_amount, refunded_amount FROM marts.invoices
            WHERE paid_amount < 0 OR paid_amount > amount OR refunded_amount > paid_amount""",
    ),
    SqlCheck(
        table="marts.invoice_lines",
        name="rows_reconcile_with_staging",
        description=(
            "One line per Bitrix24 product row, per ApiPay cart item and per specification "
            "position of a SalesMan deal billed by one invoice."
        ),
        failing_rows_sql=_LINES_RECONCILE,
    ),
    SqlCheck(
        table="marts.invoice_lines",
        name="lines_sum_to_amount",
        description=(
            "The lines of an invoice add up to its amount, to the cent. Exempt: invoices that "
            "have no lines by nature (Bitrix24 amounts typed by hand, ApiPay invoices without a "
            "cart, SalesMan deals without a specification). Each failing invoice says by how "
            "much and why (e.g. a SalesMan deal billed by several invoices)."
        ),
        failing_rows_sql=_LINES_SUM,
    ),
    SqlCheck(
        table="marts.product_sources",
        name="rows_reconcile_with_staging",
        description=(
            "Every Bitrix24 catalog product, Adesk product and ApiPay catalog item (listed by "
            "GET /catalog or named by a cart) is mapped to a product exactly once."
        ),
        failing_rows_sql=_PRODUCT_RECONCILE,
    ),
    SqlCheck(
        table="marts.counterparties",
        name="tax_id_unique",
        description="No two counterparties share a tax id.",
        failing_rows_sql="""
            SELECT tax_id, count(*) AS counterparties FROM marts.counterparties
            WHERE tax_id IS NOT NULL GROUP BY tax_id HAVING count(*) > 1""",
        blocking=True,
    ),
    SqlCheck(
        table="marts.counterparties",
        name="tax_id_valid",
        description="Every tax id of a counterparty passes its check digits (ИНН, БИН/ИИН).",
        failing_rows_sql="""
            SELECT counterparty_key, tax_id FROM marts.counterparties
            WHERE tax_id IS NOT NULL AND tax_id_kind IS NULL""",
    ),
    SqlCheck(
        table="marts.counterparty_sources",
        name="rows_reconcile_with_staging",
        description=(
            "Every Bitrix24 company, Adesk contractor, SalesMan client (of the invoices) and "
            "ApiPay payer phone is mapped to exactly one counterparty."
        ),
        failing_rows_sql=_COUNTERPARTY_RECONCILE,
    ),
    SqlCheck(
        table="marts.counterparty_sources",
        name="conflicting_tax_ids",
        description=(
            "Source records whose requisites carry a valid tax id other than their "
            "counterparty's (a record with two tax ids: it is placed by the smallest one)."
        ),
        failing_rows_sql="""
            WITH ids AS (
                SELECT 'bitrix24' AS source, company_id AS source_id,
                    CASE WHEN inn_valid THEN regexp_replace(inn, '\\s', '', 'g') END AS tax_id
                FROM staging.bitrix24_requisites WHERE company_id IS NOT NULL AND is_active
                UNION ALL
                SELECT 'adesk', contractor_id,
                    CASE WHEN inn_valid THEN regexp_replace(inn, '\\s', '', 'g') END
                FROM staging.adesk_contractor_requisites
            )
            SELECT s.record_key, s.counterparty_key, ids.tax_id
            FROM marts.counterparty_sources AS s
            JOIN ids ON ids.source = s.source AND ids.source_id = s.source_id
            JOIN marts.counterparties AS c ON c.counterparty_key = s.counterparty_key
            WHERE ids.tax_id IS NOT NULL AND ids.tax_id IS DISTINCT FROM c.tax_id""",
        warn_only=True,
    ),
    SqlCheck(
        table="marts.counterparty_sources",
        name="invalid_tax_ids",
        description=(
            "Requisites with a tax id that fails its check digits (a typo): the record was "
            "matched by name or phone instead."
        ),
        failing_rows_sql="""
            SELECT 'bitrix24' AS source, company_id AS source_id, inn
            FROM staging.bitrix24_requisites WHERE inn IS NOT NULL AND NOT inn_valid
            UNION ALL
            SELECT 'adesk', contractor_id, inn
            FROM staging.adesk_contractor_requisites WHERE inn IS NOT NULL AND NOT inn_valid""",
        warn_only=True,
    ),
]

CHECKS: list[SqlCheck] = STAGING_CHECKS + MART_CHECKS
