-- Macros of the cash models (Adesk staging, cash flow, invoice-to-payment matching).
-- Amount parsing (money_or_null), parse_failed, phones, tax ids and SKUs live in normalize.sql;
-- names here are prefixed (money_, adesk_, invoice_ref, refund_ref) so the two never collide.

-- ISO 4217 currency code: Adesk writes the Russian rouble as RUR.
CREATE OR REPLACE TEMP MACRO money_currency(raw) AS
    CASE upper(trim(CAST(raw AS VARCHAR)))
        WHEN '' THEN NULL
        WHEN 'RUR' THEN 'RUB'
        ELSE upper(trim(CAST(raw AS VARCHAR)))
    END;

-- Adesk dates: 'dd.mm.yyyy', no time (the ledger's own calendar day, Moscow).
CREATE OR REPLACE TEMP MACRO adesk_date(raw) AS
    CAST(TRY_STRPTIME(NULLIF(trim(CAST(raw AS VARCHAR)), ''), '%d.%m.%Y') AS DATE);

-- Adesk 'dd.mm.yyyy HH:MM' timestamps are Moscow local time (UTC+3 all year) -> TIMESTAMPTZ.
CREATE OR REPLACE TEMP MACRO adesk_timestamp(raw) AS
    TRY_STRPTIME(NULLIF(trim(CAST(raw AS VARCHAR)), '') || ' +0300', '%d.%m.%Y %H:%M %z');

-- JSON booleans, also when they drift into strings ("true", "1").
CREATE OR REPLACE TEMP MACRO adesk_bool(raw) AS
    TRY_CAST(NULLIF(trim(CAST(raw AS VARCHAR)), '') AS BOOLEAN);

-- Canonical form of an invoice number as people type it: upper case, Cyrillic letters that
-- look Latin read as Latin (С -> C ...), separators dropped, so 'С-00123' (Cyrillic С),
-- 'C-00123' (Latin C) and 'С00123' all give 'C00123'. The folding of norm_sku (normalize.sql,
-- loaded after this file: a macro binds what exists when it is created, so it is spelled out).
CREATE OR REPLACE TEMP MACRO invoice_ref_key(raw) AS
    NULLIF(regexp_replace(
        translate(upper(trim(coalesce(CAST(raw AS VARCHAR), ''))), 'АВСЕНКМОРТХ', 'ABCEHKMOPTX'),
        '[^A-Z0-9\pL]', '', 'g'), '');

-- The invoice numbers a payment description refers to, as canonical keys: what follows
-- "счет / счёт / счета / счету / сч." or "invoice", optionally with "№", "N" or "#".
-- 'Оплата по счету № С-00123 от 01.02.2025' -> ['C00123']; 'Опл. счета C00123' -> ['C00123'];
-- 'ApiPay invoice 101 order_5' -> ['101']. Numbers after other words (договор № 12) are not
-- invoice references.
CREATE OR REPLACE TEMP MACRO invoice_refs_in(text) AS
    list_distinct(list_transform(
        regexp_extract_all(
            upper(coalesce(CAST(text AS VARCHAR), '')),
            '(?:СЧ[А-ЯЁ]*\.?|INVOICE)\s*(?:№|N|#)?\s*([A-ZА-ЯЁ]{0,2}-?[0-9]+)',
            1
        ),
        lambda x: invoice_ref_key(x)
    ));

-- The refund ids an outgoing description names ('Возврат по ApiPay invoice 7, refund 17: ...').
CREATE OR REPLACE TEMP MACRO refund_refs_in(text) AS
    list_distinct(regexp_extract_all(
        upper(coalesce(CAST(text AS VARCHAR), '')), 'REFUND\s*(?:№|#)?\s*([0-9]+)', 1
    ));
