-- description: Every source record of a customer or supplier (Bitrix24 company or contact, Adesk contractor, SalesMan client, ApiPay payer phone) mapped to exactly one counterparty, with the rule that matched it (tax_id, name, phone, payment or none).
-- key: record_key
-- references: counterparty_key -> marts.counterparties.counterparty_key
-- columns:
--   source            VARCHAR    bitrix24/adesk/salesman/apipay
--   source_entity     VARCHAR    company/contact/contractor/client/payer
--   source_id         VARCHAR    the record's id in its system (ApiPay: the payer's phone, 7XXXXXXXXXX)
--   record_key        VARCHAR    source:entity:id
--   counterparty_key  VARCHAR    marts.counterparties key
--   matched_by        VARCHAR    tax_id, name, phone, payment or none
--   tax_id            VARCHAR    the record's valid ИНН/БИН/ИИН
--   name              VARCHAR    the record's name as written
--   name_key          VARCHAR    normalised legal name
--   names             VARCHAR[]  every name the record is known by (title, requisites' names), sorted
--   phones            VARCHAR[]  normalised
--   email             VARCHAR    e-mail address as written
--
-- Resolution, in this order of trust:
--   1. tax_id: records carrying a valid tax id (ИНН 10/12, БИН/ИИН 12, check digits verified)
--      form one counterparty per tax id (Bitrix24 requisites of the company, Adesk contractor
--      requisites). Two records with different valid tax ids are never merged, whatever their
--      names: the same name in another city is another company.
--   2. name: a record without a tax id joins the tax-id counterparty whose records carry its
--      normalised legal name (norm_legal_name: legal form, quotes, case, ё, spacing and remarks
--      like "(дубль)" folded) with a compatible legal form (the same, or one side names none:
--      'АО Нордхолдинг' never joins 'ООО «Нордхолдинг»') and phones that do not contradict it
--      (when both sides know phones, they share one) when exactly one does. When the name
--      belongs to two or more tax ids it is ambiguous and the record goes on to step 3.
--      Records without a tax id whose names match nothing taxed group among themselves by
--      shared name and form; then a group whose sole trader name, reduced to surname +
--      initials (person_initials_key), belongs to exactly one tax-id counterparty joins it.
--   3. phone: what is still on its own joins the counterparty (from steps 1-2) sharing one of its
--      normalised phones (7XXXXXXXXXX) when exactly one does; groups left over that share a
--      phone merge.
--   4. payment: an Adesk contractor and the record an invoice was issued to (Bitrix24 company,
--      SalesMan client, ApiPay payer) are one company when an incoming movement of that
--      contractor in the Adesk ledger names the invoice ("Оплата по счету № С-00123",
--      "Оплата счета 102", "ApiPay invoice 102") and carries exactly its amount. Counterparties
--      so linked merge, as long as no two tax ids end up together. It settles names shared by
--      two companies and payers paying from a phone no card carries.
--   Whatever matched nothing is its own counterparty (matched_by = none).
-- matched_by is the weakest rule on the record's way to the other records of its counterparty:
-- a record with a valid tax id says tax_id; one placed by its name (or in a group of records
-- sharing a name) says name; by a phone, phone; by a payment, payment; a counterparty of a
-- single record says none for it.
--
-- counterparty_key: 'tax:<tax id>' for counterparties with a tax id; otherwise 'name:<name key>'
-- (grouped or single by name; '|<legal form>' appended when the name carries one), 'phone:<phone>' (grouped by phone, or a nameless ApiPay payer) or
-- 'record:<source>:<entity>:<id>' (a record whose name is ambiguous and that has no phone).
-- Keys are stable across rebuilds while the records keep their tax ids, names and phones.
-- The records come from intermediate.int_counterparties__<source> (one file per system: which
-- names, tax ids and phones each one knows).
WITH RECURSIVE
records AS (
    SELECT * FROM intermediate.int_counterparties__bitrix24
    UNION ALL BY NAME
    SELECT * FROM intermediate.int_counterparties__adesk
    UNION ALL BY NAME
    SELECT * FROM intermediate.int_counterparties__salesman
    UNION ALL BY NAME
    SELECT * FROM intermediate.int_counterparties__apipay
),
rec_base AS (
    SELECT source || ':' || source_entity || ':' || source_id AS record_key, * FROM records
),
name_info AS MATERIALIZED (
    -- each distinct name normalised once
    SELECT
        n,
        norm_legal_name(n) AS name_key,
        legal_form_of(n) AS form,
        person_initials_key(n) AS initials_key
    FROM (SELECT DISTINCT unnest(names) AS n FROM records)
),
rec_keys AS (
    SELECT
        b.record_key,
        list(DISTINCT i.name_key ORDER BY i.name_key) FILTER (WHERE i.name_key IS NOT NULL)
            AS name_keys,
        list(DISTINCT i.initials_key ORDER BY i.initials_key)
            FILTER (WHERE i.initials_key IS NOT NULL) AS initials_keys
    FROM (SELECT record_key, unnest(names) AS n FROM rec_base) AS b
    JOIN name_info AS i ON i.n = b.n
    GROUP BY b.record_key
),
rec AS MATERIALIZED (
    SELECT
        b.*,
        coalesce(k.name_keys, []) AS name_keys,
        coalesce(k.initials_keys, []) AS initials_keys,
        list_sort(list_distinct(list_filter(b.phones, lambda p: p IS NOT NULL))) AS phone_keys
    FROM rec_base AS b
    LEFT JOIN rec_keys AS k ON k.record_key = b.record_key
),
name_edge AS MATERIALIZED (
    -- (record, name key, legal form of that spelling or NULL when it names none)
    SELECT DISTINCT b.record_key, i.name_key AS k, i.form
    FROM (SELECT record_key, unnest(names) AS n FROM rec_base) AS b
    JOIN name_info AS i ON i.n = b.n
    WHERE i.name_key IS NOT NULL
),
initials_edge AS (
    SELECT record_key, unnest(initials_keys) AS k FROM rec
),
phone_edge AS (
    SELECT record_key, unnest(phone_keys) AS k FROM rec
),
-- 1. tax id
taxed AS (
    SELECT record_key, 'tax:' || tax_id AS cp FROM rec WHERE tax_id IS NOT NULL
),
-- 2a. exact name -> the one tax-id counterparty carrying it, with a compatible legal form
tax_names AS (
    SELECT t.cp, e.k, list(DISTINCT e.form) FILTER (WHERE e.form IS NOT NULL) AS forms
    FROM name_edge AS e
    JOIN taxed AS t ON t.record_key = e.record_key
    GROUP BY t.cp, e.k
),
tax_phones AS (
    SELECT t.cp, list(DISTINCT e.k) AS phones
    FROM phone_edge AS e
    JOIN taxed AS t ON t.record_key = e.record_key
    GROUP BY t.cp
),
name_candidates AS (
    -- a name match that the phones contradict (both sides know phones, none in common) is no
    -- match: another company of the same name
    SELECT DISTINCT e.record_key, tn.cp
    FROM name_edge AS e
    JOIN tax_names AS tn
        ON tn.k = e.k
        AND (e.form IS NULL OR tn.forms IS NULL OR list_contains(tn.forms, e.form))
    JOIN rec AS r ON r.record_key = e.record_key
    LEFT JOIN tax_phones AS tp ON tp.cp = tn.cp
    WHERE e.record_key NOT IN (SELECT record_key FROM taxed)
        AND (len(r.phone_keys) = 0 OR tp.phones IS NULL OR list_has_any(r.phone_keys, tp.phones))
),
name_decision AS (
    SELECT record_key, count(*) AS n, min(cp) AS cp FROM name_candidates GROUP BY record_key
),
by_name AS (
    SELECT record_key, cp FROM name_decision WHERE n = 1
),
ambiguous AS (
    SELECT record_key FROM name_decision WHERE n > 1
),
-- 2b. records without a tax id and without a taxed match group by shared names
open_rec AS (
    SELECT record_key FROM rec
    WHERE tax_id IS NULL
        AND record_key NOT IN (SELECT record_key FROM name_decision)
),
open_name AS (
    SELECT * FROM name_edge WHERE record_key IN (SELECT record_key FROM open_rec)
),
open_forms AS (
    SELECT k, list(DISTINCT form) FILTER (WHERE form IS NOT NULL) AS forms
    FROM open_name
    GROUP BY k
),
open_edge AS (
    -- name key + legal form ('дорос|ООО'); a spelling without a form takes the one form its
    -- name has among these records, else '?' ('АО Дорос' and 'ООО Дорос' stay apart)
    SELECT
        o.record_key AS node,
        'n:' || o.k || '|' || coalesce(
            o.form, CASE WHEN len(f.forms) = 1 THEN f.forms[1] END, '?'
        ) AS k
    FROM open_name AS o
    JOIN open_forms AS f ON f.k = o.k
    UNION
    SELECT record_key, 'i:' || k FROM initials_edge
    WHERE record_key IN (SELECT record_key FROM open_rec)
),
open_reach(node, k) AS (
    SELECT node, k FROM open_edge
    UNION
    SELECT r.node, e2.k
    FROM open_reach AS r
    JOIN open_edge AS e1 ON e1.k = r.k
    JOIN open_edge AS e2 ON e2.node = e1.node
),
name_group AS (
    -- group id: the smallest exact name key of the component (unique: components share none)
    SELECT
        node AS record_key,
        replace(min(substr(k, 3)) FILTER (WHERE k LIKE 'n:%'), '|?', '') AS name_label
    FROM open_reach
    GROUP BY node
),
-- 2c. a name group whose sole trader's surname + initials belong to one tax-id counterparty
name_group_phones AS (
    SELECT g.name_label, list(DISTINCT e.k) AS phones
    FROM name_group AS g
    JOIN phone_edge AS e ON e.record_key = g.record_key
    GROUP BY g.name_label
),
initials_candidates AS (
    SELECT DISTINCT g.name_label, t.cp
    FROM name_group AS g
    JOIN initials_edge AS e ON e.record_key = g.record_key
    JOIN initials_edge AS te ON te.k = e.k
    JOIN taxed AS t ON t.record_key = te.record_key
    LEFT JOIN name_group_phones AS gp ON gp.name_label = g.name_label
    LEFT JOIN tax_phones AS tp ON tp.cp = t.cp
    WHERE gp.phones IS NULL OR tp.phones IS NULL OR list_has_any(gp.phones, tp.phones)
),
by_initials AS (
    SELECT name_label, min(cp) AS cp FROM initials_candidates
    GROUP BY name_label HAVING count(*) = 1
),
-- Counterparties after steps 1-2, and the groups still looking for one.
placed AS (
    SELECT record_key, cp, 'tax_id' AS rule FROM taxed
    UNION ALL
    SELECT record_key, cp, 'name' FROM by_name
    UNION ALL
    SELECT g.record_key, i.cp, 'name'
    FROM name_group AS g JOIN by_initials AS i ON i.name_label = g.name_label
),
pending AS (
    -- group id per record: its name group, else the record itself
    SELECT
        r.record_key,
        coalesce('name:' || g.name_label, 'record:' || r.record_key) AS grp,
        g.name_label,
        (a.record_key IS NOT NULL) AS is_ambiguous
    FROM rec AS r
    LEFT JOIN name_group AS g ON g.record_key = r.record_key
    LEFT JOIN ambiguous AS a ON a.record_key = r.record_key
    WHERE r.record_key NOT IN (SELECT record_key FROM placed)
),
-- 3. phone
phone_candidates AS (
    SELECT DISTINCT p.grp, pl.cp
    FROM pending AS p
    JOIN phone_edge AS e ON e.record_key = p.record_key
    JOIN phone_edge AS pe ON pe.k = e.k
    JOIN placed AS pl ON pl.record_key = pe.record_key
),
phone_decision AS (
    SELECT grp, count(*) AS n, min(cp) AS cp FROM phone_candidates GROUP BY grp
),
by_phone AS (
    SELECT grp, cp FROM phone_decision WHERE n = 1
),
leftover_edge AS (
    SELECT DISTINCT p.grp AS node, e.k
    FROM pending AS p
    JOIN phone_edge AS e ON e.record_key = p.record_key
    WHERE p.grp NOT IN (SELECT grp FROM phone_decision)
),
leftover_reach(node, k) AS (
    SELECT node, k FROM leftover_edge
    UNION
    SELECT r.node, e2.k
    FROM leftover_reach AS r
    JOIN leftover_edge AS e1 ON e1.k = r.k
    JOIN leftover_edge AS e2 ON e2.node = e1.node
),
phone_group AS (
    SELECT node AS grp, min(k) AS phone_label FROM leftover_reach GROUP BY node
),
phone_group_size AS (
    SELECT phone_label, count(DISTINCT grp) AS groups FROM phone_group GROUP BY phone_label
),
pending_size AS (
    SELECT grp, count(*) AS records FROM pending GROUP BY grp
),
resolved AS (
    SELECT record_key, cp AS counterparty_key, rule AS matched_by FROM placed
    UNION ALL
    SELECT
        p.record_key,
        CASE
            WHEN bp.cp IS NOT NULL THEN bp.cp
            WHEN pgs.groups > 1 THEN 'phone:' || pg.phone_label
            WHEN p.name_label IS NOT NULL THEN 'name:' || p.name_label
            WHEN pg.phone_label IS NOT NULL THEN 'phone:' || pg.phone_label
            ELSE 'record:' || p.record_key
        END,
        CASE
            WHEN bp.cp IS NOT NULL OR pgs.groups > 1 THEN 'phone'
            WHEN ps.records > 1 THEN 'name'
            ELSE 'none'
        END
    FROM pending AS p
    JOIN pending_size AS ps ON ps.grp = p.grp
    LEFT JOIN by_phone AS bp ON bp.grp = p.grp
    LEFT JOIN phone_group AS pg ON pg.grp = p.grp
    LEFT JOIN phone_group_size AS pgs ON pgs.phone_label = pg.phone_label
),
-- 4. payment: an Adesk contractor and an invoice's record (Bitrix24 company, SalesMan client,
-- ApiPay payer) belong together when an incoming ledger movement of the contractor names the
-- invoice and carries exactly its amount. Counterparties linked that way merge, unless that
-- would put two tax ids together.
payment_movement AS (
    SELECT transaction_id, contractor_id, amount, lower(description) AS text
    FROM staging.adesk_transactions
    WHERE contractor_id IS NOT NULL AND description IS NOT NULL AND direction = 'in'
),
movement_ref AS (
    -- "Оплата по счету № С-00123 от ...", "Опл. счета C00123", "Оплата счета 102",
    -- "Предоплата по сч. 102": the number after сч..., with С/C and hyphens folded
    SELECT contractor_id, amount, replace(replace(ref, 'с', 'c'), '-', '') AS ref
    FROM (
        SELECT *, unnest(regexp_extract_all(
            text, '(?:^|[^а-яa-z])сч[а-яё]*\.?\s*(?:№\s*)?([a-zа-яё]{0,2}-?[0-9]+)', 1
        )) AS ref
        FROM payment_movement
        WHERE NOT regexp_matches(text, 'apipay|kaspi')
    )
),
apipay_ref AS (
    -- "ApiPay invoice 102", "Kaspi Pay: оплата счета 102", "Поступление ApiPay, счет 102"
    SELECT contractor_id, amount, unnest(regexp_extract_all(
        text, '(?:apipay|kaspi)[^0-9]*?(?:invoice|сч[её]т[а-я]*)\s*(?:№|#)?\s*([0-9]+)', 1
    )) AS ref
    FROM payment_movement
),
invoice_side AS (
    SELECT
        replace(replace(lower(account_number), 'с', 'c'), '-', '') AS ref,
        amount,
        'bitrix24:company:' || company_id AS record_key
    FROM staging.bitrix24_invoices
    WHERE company_id IS NOT NULL AND account_number IS NOT NULL
    UNION ALL
    SELECT number, amount, 'salesman:client:' || client_id
    FROM staging.salesman_invoices
    WHERE client_id IS NOT NULL AND number IS NOT NULL
),
payment_pair AS (
    SELECT DISTINCT 'adesk:contractor:' || m.contractor_id AS a, i.record_key AS b
    FROM movement_ref AS m
    JOIN invoice_side AS i ON i.ref = m.ref AND i.amount = m.amount
    UNION
    SELECT DISTINCT 'adesk:contractor:' || m.contractor_id, 'apipay:payer:' || i.phone
    FROM apipay_ref AS m
    JOIN staging.apipay_invoices AS i ON i.invoice_id = m.ref AND i.amount = m.amount
    WHERE i.phone IS NOT NULL
),
payment_edge AS (
    -- between counterparties of steps 1-3; never between two tax ids
    SELECT DISTINCT ga.counterparty_key AS g1, gb.counterparty_key AS g2
    FROM payment_pair AS p
    JOIN resolved AS ga ON ga.record_key = p.a
    JOIN resolved AS gb ON gb.record_key = p.b
    WHERE ga.counterparty_key <> gb.counterparty_key
        AND NOT (ga.counterparty_key LIKE 'tax:%' AND gb.counterparty_key LIKE 'tax:%')
),
payment_link AS (
    SELECT g1 AS node, g2 AS other FROM payment_edge
    UNION
    SELECT g2, g1 FROM payment_edge
),
payment_reach(node, other) AS (
    SELECT node, other FROM payment_link
    UNION
    SELECT r.node, l.other
    FROM payment_reach AS r
    JOIN payment_link AS l ON l.node = r.other
),
payment_component AS (
    -- the members of each linked set (the node included); merged only when at most one of
    -- them has a tax id, into that one (else into the smallest key)
    SELECT
        node,
        count(DISTINCT other) FILTER (WHERE other LIKE 'tax:%') AS tax_ids,
        min(other) FILTER (WHERE other LIKE 'tax:%') AS tax_key,
        min(other) AS min_key
    FROM (SELECT node, other FROM payment_reach UNION SELECT node, node FROM payment_link)
    GROUP BY node
),
by_payment AS (
    SELECT node AS counterparty_key, coalesce(tax_key, min_key) AS merged_key
    FROM payment_component
    WHERE tax_ids <= 1 AND coalesce(tax_key, min_key) <> node
),
final AS (
    SELECT
        s.record_key,
        coalesce(bp.merged_key, s.counterparty_key) AS counterparty_key,
        CASE WHEN bp.merged_key IS NOT NULL THEN 'payment' ELSE s.matched_by END AS matched_by
    FROM resolved AS s
    LEFT JOIN by_payment AS bp ON bp.counterparty_key = s.counterparty_key
),
final_size AS (
    SELECT counterparty_key, count(*) AS records FROM final GROUP BY counterparty_key
)

SELECT
    r.source,
    r.source_entity,
    r.source_id,
    r.record_key,
    s.counterparty_key,
    CASE WHEN z.records = 1 THEN 'none' ELSE s.matched_by END AS matched_by,
    r.tax_id,
    r.name,
    coalesce(norm_legal_name(r.name), r.name_keys[1]) AS name_key,
    r.names,
    r.phone_keys AS phones,
    r.email
FROM rec AS r
JOIN final AS s ON s.record_key = r.record_key
JOIN final_size AS z ON z.counterparty_key = s.counterparty_key
UNION ALL
-- Bitrix24 contacts: the private persons invoices are issued to when there is no company.
-- Persons share names and carry no tax id in the CRM, so a contact is never merged with anyone
-- by name or phone: each is a counterparty of its own.
SELECT
    'bitrix24',
    'contact',
    contact_id,
    'bitrix24:contact:' || contact_id,
    'record:bitrix24:contact:' || contact_id,
    'none',
    NULL,
    name,
    lower(name),
    [name],
    list_sort(list_distinct(phones_normalized)),
    emails[1]
FROM staging.bitrix24_contacts
