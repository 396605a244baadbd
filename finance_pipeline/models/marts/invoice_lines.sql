-- description: Invoice lines: Bitrix24 product rows (smart and legacy invoices), SalesMan deal specifications and ApiPay cart items, with the catalog product (marts.products), quantity, unit, price, discount, tax rate and line total.
-- key: line_key
-- references: invoice_key -> marts.invoices.invoice_key
-- references: product_key -> marts.products.product_key
-- columns:
--   line_key               VARCHAR        bitrix24:<row id>, bitrix24:legacy:<invoice id>:<row id>, salesman:<invoice key id>:<spid> or apipay:<invoice id>:<position>
--   invoice_key            VARCHAR        marts.invoices
--   source                 VARCHAR        bitrix24, salesman or apipay
--   line_number            INTEGER        order within the invoice
--   product_key            VARCHAR        marts.products (NULL for a free-text line and for SalesMan, whose price list is not extracted)
--   source_product_id      VARCHAR        Bitrix24 catalog id, SalesMan price-list id (prid) or ApiPay catalog_item_id
--   name                   VARCHAR        as on the invoice
--   quantity               DECIMAL(18,4)  quantity in the line's unit
--   unit                   VARCHAR        unit as the system names it (ApiPay: its own unit name)
--   unit_code              VARCHAR        ОКЕИ code (NULL: the system has none)
--   price                  DECIMAL(18,4)  final unit price incl. VAT after discount
--   price_before_discount  DECIMAL(18,4)  unit price incl. VAT before discount
--   discount_rate          DECIMAL(18,4)  percent
--   discount_amount        DECIMAL(18,2)  line discount incl. VAT
--   tax_rate               DECIMAL(18,4)  VAT percent (NULL: unknown)
--   tax_amount             DECIMAL(18,2)  VAT in the line total
--   line_total             DECIMAL(18,2)  price * quantity
--   currency               VARCHAR        ISO currency code (RUB, KZT)
--
-- Bitrix24: `price` is the final unit price with VAT after the discount, so line_total = price *
-- quantity, and the rows of an invoice add up to its opportunity. discount_amount = (price
-- before discount - price) * quantity. The VAT in a line is line_total * rate / (100 + rate),
-- rounded to the cent (Bitrix24 prices include VAT).
-- ApiPay: an item of the invoice's `items` is price * count - discount in KZT; ApiPay says
-- nothing of VAT (NULL). Its unit is ApiPay's own (staging.apipay_units by ApiPay's unit id,
-- never Adesk's units). Free-text items (no catalog_item_id) and Bitrix rows without a catalog
-- product (product id 0) are lines without product_key.
-- SalesMan: invoice/info with dealinfo=true returns the deal with its specification
-- (Deal::info `speca`): one line per position, line_total = price * kol * dop (dop: SalesMan's
-- extra multiplier, 1 when unused), prices in the account currency as SalesMan stores them,
-- `nds` the VAT rate. The specification belongs to the deal, so it is the lines of an invoice
-- only when the deal has that one invoice (one number; its split parts are one invoice in
-- marts.invoices): a deal billed by several invoices (advance + final) gets no lines, and
-- checks/invoicing.py's line check names those invoices and why.
-- Invoices whose amount was typed by hand (Bitrix24 isManualOpportunity), ApiPay invoices
-- without a cart and SalesMan deals without a specification have no lines.
WITH
bitrix_product AS (
    SELECT source_id, product_key FROM marts.product_sources
    WHERE source = 'bitrix24' AND source_entity = 'product'
),
apipay_product AS (
    SELECT source_id, product_key FROM marts.product_sources
    WHERE source = 'apipay' AND source_entity = 'nomenclature'
),
bitrix AS (
    SELECT
        'bitrix24:' || r.row_id AS line_key,
        'bitrix24:' || r.invoice_id AS invoice_key,
        'bitrix24' AS source,
        CAST(row_number() OVER (
            PARTITION BY r.invoice_id ORDER BY r.sort, TRY_CAST(r.row_id AS BIGINT)
        ) AS INTEGER) AS line_number,
        p.product_key,
        r.product_id AS source_product_id,
        r.product_name AS name,
        r.quantity,
        r.measure_name AS unit,
        r.measure_code AS unit_code,
        r.price,
        r.price_brutto AS price_before_discount,
        r.discount_rate,
        CAST(round((r.price_brutto - r.price) * r.quantity, 2) AS DECIMAL(18, 2))
            AS discount_amount,
        r.tax_rate,
        CAST(round(r.line_total * r.tax_rate / (100 + r.tax_rate), 2) AS DECIMAL(18, 2))
            AS tax_amount,
        r.line_total,
        i.currency
    FROM staging.bitrix24_invoice_product_rows AS r
    LEFT JOIN bitrix_product AS p ON p.source_id = r.product_id
    LEFT JOIN staging.bitrix24_invoices AS i ON i.invoice_id = r.invoice_id
),
bitrix_legacy AS (
    -- PRODUCT_ROWS of the legacy invoices (crm-invoice-fields.md): PRICE per unit incl. VAT
    -- after DISCOUNT_PRICE (per unit); VAT_RATE a coefficient, staged as a percent.
    SELECT
        'bitrix24:legacy:' || r.invoice_id || ':' || r.row_id AS line_key,
        'bitrix24:legacy:' || r.invoice_id AS invoice_key,
        'bitrix24' AS source,
        r.line_number,
        p.product_key,
        r.product_id AS source_product_id,
        r.product_name AS name,
        r.quantity,
        r.measure_name AS unit,
        r.measure_code AS unit_code,
        r.price,
        CAST(r.price + coalesce(r.discount_price, 0) AS DECIMAL(18, 4)) AS price_before_discount,
        CAST(CASE WHEN r.price + coalesce(r.discount_price, 0) > 0
            THEN round(100 * coalesce(r.discount_price, 0)
                / (r.price + coalesce(r.discount_price, 0)), 2) END AS DECIMAL(18, 4))
            AS discount_rate,
        CAST(round(coalesce(r.discount_price, 0) * r.quantity, 2) AS DECIMAL(18, 2))
            AS discount_amount,
        r.tax_rate,
        CAST(round(r.line_total * r.tax_rate / (100 + r.tax_rate), 2) AS DECIMAL(18, 2))
            AS tax_amount,
        r.line_total,
        coalesce(i.currency, 'RUB') AS currency
    FROM staging.bitrix24_legacy_invoice_lines AS r
    LEFT JOIN bitrix_product AS p ON p.source_id = r.product_id
    LEFT JOIN staging.bitrix24_legacy_invoices AS i ON i.invoice_id = r.invoice_id
),
salesman AS (
    -- Prices include VAT (the tax SalesMan puts in an invoice is part of its amount: the VAT of
    -- a line is line_total * rate / (100 + rate)). SalesMan's price list is not extracted, so
    -- its lines carry no product_key; price_list_id says which entry a line came from.
    SELECT
        'salesman:' || i.source_id || ':' || l.spec_id AS line_key,
        i.invoice_key,
        'salesman' AS source,
        l.line_number,
        CAST(NULL AS VARCHAR) AS product_key,
        l.price_list_id AS source_product_id,
        l.name,
        CAST(l.quantity * l.multiplier AS DECIMAL(18, 4)) AS quantity,
        l.unit,
        CAST(NULL AS VARCHAR) AS unit_code,
        CAST(l.price AS DECIMAL(18, 4)) AS price,
        CAST(l.price AS DECIMAL(18, 4)) AS price_before_discount,
        CAST(0 AS DECIMAL(18, 4)) AS discount_rate,
        CAST(0 AS DECIMAL(18, 2)) AS discount_amount,
        CAST(l.vat_rate AS DECIMAL(18, 4)) AS tax_rate,
        CAST(round(l.line_total * l.vat_rate / (100 + l.vat_rate), 2) AS DECIMAL(18, 2))
            AS tax_amount,
        l.line_total,
        i.currency
    FROM staging.salesman_deal_lines AS l
    JOIN marts.invoices AS i ON i.source = 'salesman' AND i.deal_ref = l.deal_id
    WHERE l.deal_invoice_numbers = 1
),
apipay_items AS (
    SELECT invoice_id, currency, unnest(cart_items) AS it FROM staging.apipay_invoices
),
apipay AS (
    SELECT
        'apipay:' || a.invoice_id || ':' || a.it.position AS line_key,
        'apipay:' || a.invoice_id AS invoice_key,
        'apipay' AS source,
        CAST(a.it.position AS INTEGER) AS line_number,
        p.product_key,
        a.it.catalog_item_id AS source_product_id,
        a.it.name AS name,
        a.it.quantity AS quantity,
        u.name AS unit,
        CAST(NULL AS VARCHAR) AS unit_code,
        CAST(CASE WHEN coalesce(a.it.discount, 0) = 0 OR a.it.quantity = 0 THEN a.it.price
            ELSE round(a.it.line_total / a.it.quantity, 4) END AS DECIMAL(18, 4)) AS price,
        CAST(a.it.price AS DECIMAL(18, 4)) AS price_before_discount,
        CAST(CASE WHEN coalesce(a.it.discount, 0) = 0 OR a.it.price * a.it.quantity = 0 THEN 0
            ELSE round(100 * a.it.discount / (a.it.price * a.it.quantity), 4) END
            AS DECIMAL(18, 4)) AS discount_rate,
        CAST(coalesce(a.it.discount, 0) AS DECIMAL(18, 2)) AS discount_amount,
        CAST(NULL AS DECIMAL(18, 4)) AS tax_rate,
        CAST(NULL AS DECIMAL(18, 2)) AS tax_amount,
        a.it.line_total AS line_total,
        a.currency
    FROM apipay_items AS a
    LEFT JOIN apipay_product AS p ON p.source_id = a.it.catalog_item_id
    LEFT JOIN staging.apipay_units AS u ON u.unit_id = a.it.unit_id
)
SELECT * FROM bitrix
UNION ALL BY NAME
SELECT * FROM bitrix_legacy
UNION ALL BY NAME
SELECT * FROM salesman
UNION ALL BY NAME
SELECT * FROM apipay
