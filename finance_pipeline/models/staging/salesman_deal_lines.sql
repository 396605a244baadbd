-- description: SalesMan deal specifications (invoice/info with dealinfo=true: Deal::info `speca`), one row per position of each deal that has a live invoice, with the invoice numbers the deal is billed by.
-- key: line_key
-- columns:
--   line_key              VARCHAR        salesman:<deal id>:<spid>
--   deal_id               VARCHAR        did
--   spec_id               VARCHAR        spid
--   line_number           INTEGER        order in the specification
--   price_list_id         VARCHAR        prid (NULL: typed by hand)
--   sku                   VARCHAR        artikul
--   name                  VARCHAR        title
--   item_type             VARCHAR        goods, service or material (tip 0/1/2)
--   quantity              DECIMAL(18,4)  kol
--   multiplier            DECIMAL(18,4)  dop (1 when unused)
--   unit                  VARCHAR        edizm
--   price                 DECIMAL(18,2)  unit price in the account currency
--   purchase_price        DECIMAL(18,2)  price_in
--   vat_rate              DECIMAL(9,4)   nds, percent
--   line_total            DECIMAL(18,2)  price * quantity * multiplier
--   deal_invoice_numbers  INTEGER        distinct invoice numbers of the deal
--   _parse_errors         VARCHAR[]      fields of the position present but unparsable (their typed value is NULL)
--
-- Source: raw.salesman_invoice_details, `deal.speca` of each invoice record (every record of a
-- deal carries the same specification: the latest one read is kept). Shape per SalesMan's
-- server code (vladandreevg/salesmancrm inc/class/Deal.php Deal::info, Speka::edit): `kol`,
-- `price`, `price_in`, `nds` (the VAT RATE, "ставка налога") are numbers, `dop` the extra
-- multiplier (SalesMan stores 1 when the account does not use it; an empty value counts as 1),
-- `tip` 0 goods / 1 service / 2 material. Prices are stored in the account's currency (for a
-- deal in another currency SalesMan only converts them for display: Currency::currencyConvert).
-- deal_invoice_numbers counts the deal's invoices (deal.invoice) by number: 1 means the
-- specification is that invoice's content (marts.invoice_lines); a deal billed by several
-- invoices (advance + final) spreads its specification over them.
WITH src AS (
    SELECT id, payload AS p, extracted_at
    FROM raw.salesman_invoice_details
    WHERE deleted_at IS NULL
      AND json_type(payload, '$.deal.speca') = 'ARRAY'
),
latest AS (
    SELECT
        p ->> '$.deal.did' AS deal_id,
        arg_max(p -> '$.deal', extracted_at) AS deal
    FROM src
    WHERE coalesce(p ->> '$.deal.did', '0') NOT IN ('', '0')
    GROUP BY p ->> '$.deal.did'
),
specs AS (
    SELECT
        deal_id,
        len(list_distinct(list_transform(
            from_json(deal -> 'invoice', '[{"invoice": "VARCHAR"}]'), lambda x: x.invoice
        ))) AS deal_invoice_numbers,
        from_json(
            deal -> 'speca',
            '[{"spid": "VARCHAR", "prid": "VARCHAR", "artikul": "VARCHAR", "title": "VARCHAR",
               "tip": "VARCHAR", "kol": "VARCHAR", "dop": "VARCHAR", "edizm": "VARCHAR",
               "price": "VARCHAR", "price_in": "VARCHAR", "nds": "VARCHAR"}]'
        ) AS speca
    FROM latest
),
positions AS (
    SELECT
        deal_id,
        deal_invoice_numbers,
        unnest(list_transform(speca, lambda x, i: {'s': x, 'n': i})) AS e
    FROM specs
),
flat AS (
    SELECT deal_id, deal_invoice_numbers, e.s AS s, e.n AS line_number FROM positions
)
SELECT
    'salesman:' || deal_id || ':' || s.spid AS line_key,
    deal_id,
    s.spid AS spec_id,
    CAST(line_number AS INTEGER) AS line_number,
    NULLIF(NULLIF(s.prid, ''), '0') AS price_list_id,
    NULLIF(trim(s.artikul), '') AS sku,
    NULLIF(trim(s.title), '') AS name,
    CASE s.tip WHEN '0' THEN 'goods' WHEN '1' THEN 'service' WHEN '2' THEN 'material' END
        AS item_type,
    qty_or_null(s.kol) AS quantity,
    coalesce(qty_or_null(NULLIF(s.dop, '')), 1) AS multiplier,
    NULLIF(trim(s.edizm), '') AS unit,
    money_or_null(s.price) AS price,
    money_or_null(s.price_in) AS purchase_price,
    TRY_CAST(s.nds AS DECIMAL(9, 4)) AS vat_rate,
    CAST(round(money_or_null(s.price) * qty_or_null(s.kol)
        * coalesce(qty_or_null(NULLIF(s.dop, '')), 1), 2) AS DECIMAL(18, 2)) AS line_total,
    CAST(deal_invoice_numbers AS INTEGER) AS deal_invoice_numbers,
    list_filter([
        CASE WHEN parse_failed(s.price, money_or_null(s.price)) THEN 'price' END,
        CASE WHEN parse_failed(s.kol, qty_or_null(s.kol)) THEN 'kol' END,
        CASE WHEN parse_failed(NULLIF(s.dop, ''), qty_or_null(NULLIF(s.dop, ''))) THEN 'dop' END
    ], lambda x: x IS NOT NULL) AS _parse_errors
FROM flat
