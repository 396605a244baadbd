-- Normalisation and validation of names, phones, tax ids and SKUs, shared by every model.
--
-- Counterparty resolution (marts.counterparties) and the product catalog (marts.products) match
-- records from different systems by these keys, so each macro states exactly what it folds.
-- The tax-id algorithms are the ones of finance_sandbox/taxids.py (tested to agree in
-- finance_pipeline_tests/models/test_macros.py).

-- ---------------------------------------------------------------------------------------------
-- Parsing helpers (staging)
-- ---------------------------------------------------------------------------------------------

-- A money string or JSON number ("13450.14", "67", 266119.05) straight to DECIMAL: never via
-- DOUBLE. Empty -> NULL; anything unparsable -> NULL (staging lists it in _parse_errors).
CREATE OR REPLACE TEMP MACRO money_or_null(v) AS
    TRY_CAST(NULLIF(trim(CAST(v AS VARCHAR)), '') AS DECIMAL(18, 2));

-- Quantities and unit prices keep four places.
CREATE OR REPLACE TEMP MACRO qty_or_null(v) AS
    TRY_CAST(NULLIF(trim(CAST(v AS VARCHAR)), '') AS DECIMAL(18, 4));

-- True when a raw value was present (not NULL, not empty) but its parsed value is NULL.
CREATE OR REPLACE TEMP MACRO parse_failed(raw, parsed) AS
    (raw IS NOT NULL AND trim(CAST(raw AS VARCHAR)) <> '' AND parsed IS NULL);

-- A naive local timestamp written in Moscow time (SalesMan: "2025-01-07 15:56:23") as a UTC
-- instant. Moscow has been UTC+03:00 all year since 2014, so a fixed offset is exact.
CREATE OR REPLACE TEMP MACRO msk_naive_to_utc(v) AS
    TRY_CAST(NULLIF(trim(v), '') || '+03:00' AS TIMESTAMPTZ);

-- ---------------------------------------------------------------------------------------------
-- Phones
-- ---------------------------------------------------------------------------------------------

-- Russian and Kazakh numbers (+7 country code) to 11 digits "7XXXXXXXXXX":
-- '+7 (999) 123-45-67', '+7 999 123 45 67', '8 (999) 123-45-67', '89991234567', '8 700 ...',
-- '9991234567' all give '79991234567'. Anything else (too short, foreign) -> NULL.
CREATE OR REPLACE TEMP MACRO _phone_digits(p) AS
    regexp_replace(coalesce(CAST(p AS VARCHAR), ''), '[^0-9]', '', 'g');

CREATE OR REPLACE TEMP MACRO norm_phone(p) AS
    CASE
        WHEN length(_phone_digits(p)) = 11 AND left(_phone_digits(p), 1) IN ('7', '8')
            THEN '7' || substr(_phone_digits(p), 2)
        WHEN length(_phone_digits(p)) = 10 AND left(_phone_digits(p), 1) IN ('3', '4', '6', '7', '8', '9')
            THEN '7' || _phone_digits(p)
    END;

-- ---------------------------------------------------------------------------------------------
-- Tax ids: Russian INN (10 digits organisation, 12 digits person) and Kazakh BIN/IIN (12)
-- ---------------------------------------------------------------------------------------------

-- Weighted digit sum of s against the weight list w (digit i times w[i]); s must be digits.
CREATE OR REPLACE TEMP MACRO _weighted_digit_sum(s, w) AS
    list_sum(list_transform(range(1, len(w) + 1), lambda i: (ascii(substr(s, i, 1)) - 48) * w[i]));

-- Only whitespace is removed: a value with letters or other junk is not a tax id.
CREATE OR REPLACE TEMP MACRO clean_tax_id(s) AS
    NULLIF(regexp_replace(coalesce(CAST(s AS VARCHAR), ''), '\s', '', 'g'), '');

-- ИНН (ФНС): 10 digits -> check = (sum(d_i * [2,4,10,3,5,9,4,6,8]) mod 11) mod 10 = 10th digit;
-- 12 digits -> 11th over the first 10 with [7,2,4,10,3,5,9,4,6,8], 12th over the first 11 with
-- [3,7,2,4,10,3,5,9,4,6,8]. All zeros is a placeholder, never issued.
CREATE OR REPLACE TEMP MACRO valid_inn(s) AS coalesce(
    CASE
        WHEN s IS NULL OR NOT regexp_full_match(s, '[0-9]{10}|[0-9]{12}') THEN false
        WHEN regexp_full_match(s, '0+') THEN false
        WHEN length(s) = 10 THEN
            _weighted_digit_sum(s, [2, 4, 10, 3, 5, 9, 4, 6, 8]) % 11 % 10
                = ascii(substr(s, 10, 1)) - 48
        ELSE
            _weighted_digit_sum(s, [7, 2, 4, 10, 3, 5, 9, 4, 6, 8]) % 11 % 10
                = ascii(substr(s, 11, 1)) - 48
            AND _weighted_digit_sum(s, [3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8]) % 11 % 10
                = ascii(substr(s, 12, 1)) - 48
    END, false);

-- БИН/ИИН (Kazakhstan): 12 digits; s1 = sum(d_i * i, i = 1..11) mod 11; when s1 = 10 use the
-- weights [3..11, 1, 2]; when that is 10 again no such number is issued; else it is digit 12.
CREATE OR REPLACE TEMP MACRO valid_kz_bin(s) AS coalesce(
    CASE
        WHEN s IS NULL OR NOT regexp_full_match(s, '[0-9]{12}') THEN false
        WHEN regexp_full_match(s, '0+') THEN false
        WHEN _weighted_digit_sum(s, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]) % 11 <> 10 THEN
            _weighted_digit_sum(s, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]) % 11
                = ascii(substr(s, 12, 1)) - 48
        WHEN _weighted_digit_sum(s, [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2]) % 11 <> 10 THEN
            _weighted_digit_sum(s, [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2]) % 11
                = ascii(substr(s, 12, 1)) - 48
        ELSE false
    END, false);

CREATE OR REPLACE TEMP MACRO valid_tax_id(s) AS
    valid_inn(clean_tax_id(s)) OR valid_kz_bin(clean_tax_id(s));

-- The tax id with whitespace removed when its check digits are right, else NULL.
CREATE OR REPLACE TEMP MACRO norm_tax_id(s) AS
    CASE WHEN valid_tax_id(s) THEN clean_tax_id(s) END;

-- What kind of number a valid tax id is. A 12-digit number can pass both the Russian and the
-- Kazakh checks; a Russian person's INN is assumed then (the country column may say better).
CREATE OR REPLACE TEMP MACRO tax_id_kind(s) AS
    CASE
        WHEN valid_inn(clean_tax_id(s)) AND length(clean_tax_id(s)) = 10 THEN 'ru_inn_organisation'
        WHEN valid_inn(clean_tax_id(s)) THEN 'ru_inn_person'
        WHEN valid_kz_bin(clean_tax_id(s)) THEN 'kz_bin_iin'
    END;

-- ---------------------------------------------------------------------------------------------
-- Legal names
-- ---------------------------------------------------------------------------------------------

-- The name of a company or sole trader without its legal form, for matching across systems:
--   * case folded, ё -> е;
--   * remarks in parentheses dropped ('ООО «Дорос» (дубль)', 'Банк ВТБ (ПАО)');
--   * legal forms spelled out anywhere ('Общество с ограниченной ответственностью «Дорос»');
--   * abbreviated forms ООО ОАО ЗАО ПАО НАО АО ИП ТОО as the first or last word ('ООО "Дорос"',
--     'Дорос, ООО', 'Дорос ООО');
--   * quotes «» "" ”“ „ ' and all other punctuation become spaces; spaces collapse.
-- So 'ООО "Дорос"', 'Дорос, ООО', 'ООО ДОРОС' and 'Общество с ограниченной ответственностью
-- «Дорос»' all give 'дорос'. Hyphens become spaces ('Спец-Лайн' -> 'спец лайн'), which keeps
-- 'Техно-Сервис' apart from 'Техносервис'. A sole trader keeps the person's name as written
-- ('ИП Иванов И.И.' -> 'иванов и и'; the full name 'иванов иван иванович' is another key).
CREATE OR REPLACE TEMP MACRO _name_words(s) AS
    -- case folded, ё -> е, parenthesised remarks dropped, punctuation -> single spaces, padded
    ' ' || trim(regexp_replace(
        regexp_replace(replace(lower(coalesce(CAST(s AS VARCHAR), '')), 'ё', 'е'),
            '\([^)]*\)', ' ', 'g'),
        '[^\pL\pN]+', ' ', 'g')) || ' ';

CREATE OR REPLACE TEMP MACRO _without_spelled_forms(v) AS
    regexp_replace(
        v,
        ' (общество с ограниченной ответственностью'
            || '|товарищество с ограниченной ответственностью'
            || '|публичное акционерное общество|непубличное акционерное общество'
            || '|закрытое акционерное общество|открытое акционерное общество'
            || '|акционерное общество|индивидуальный предприниматель) ',
        ' ', 'g');

CREATE OR REPLACE TEMP MACRO _without_form_words(v) AS
    regexp_replace(
        regexp_replace(v, '^ +(ооо|оао|зао|пао|нао|ао|ип|тоо) ', ' '),
        ' (ооо|оао|зао|пао|нао|ао|ип|тоо) +$', ' ');

CREATE OR REPLACE TEMP MACRO norm_legal_name(s) AS
    NULLIF(trim(regexp_replace(
        _without_form_words(_without_spelled_forms(_name_words(s))), '\s+', ' ', 'g')), '');

-- The legal form a name carries, abbreviated (ООО, АО, ПАО, ЗАО, ОАО, НАО, ИП, ТОО), or NULL.
CREATE OR REPLACE TEMP MACRO _form_words(s) AS
    ' ' || trim(regexp_replace(replace(lower(coalesce(CAST(s AS VARCHAR), '')), 'ё', 'е'),
        '[^\pL\pN]+', ' ', 'g')) || ' ';

CREATE OR REPLACE TEMP MACRO legal_form_of(s) AS
    CASE
        WHEN _form_words(s) LIKE '% общество с ограниченной ответственностью %'
            OR _form_words(s) LIKE '% ооо %' THEN 'ООО'
        WHEN _form_words(s) LIKE '% товарищество с ограниченной ответственностью %'
            OR _form_words(s) LIKE '% тоо %' THEN 'ТОО'
        WHEN _form_words(s) LIKE '% публичное акционерное общество %'
            OR _form_words(s) LIKE '% пао %' THEN 'ПАО'
        WHEN _form_words(s) LIKE '% закрытое акционерное общество %'
            OR _form_words(s) LIKE '% зао %' THEN 'ЗАО'
        WHEN _form_words(s) LIKE '% открытое акционерное общество %'
            OR _form_words(s) LIKE '% оао %' THEN 'ОАО'
        WHEN _form_words(s) LIKE '% непубличное акционерное общество %'
            OR _form_words(s) LIKE '% нао %' THEN 'НАО'
        WHEN _form_words(s) LIKE '% акционерное общество %'
            OR _form_words(s) LIKE '% ао %' THEN 'АО'
        WHEN _form_words(s) LIKE '% индивидуальный предприниматель %'
            OR _form_words(s) LIKE '% ип %' THEN 'ИП'
    END;

-- ---------------------------------------------------------------------------------------------
-- Products
-- ---------------------------------------------------------------------------------------------

-- SKU / article for matching: upper case, Cyrillic letters that look Latin (А В С Е Н К М О Р Т
-- Х) read as Latin, everything but letters and digits dropped: 'KO-123456', 'ко-123456' and
-- 'КО123456' all give 'KO123456'.
CREATE OR REPLACE TEMP MACRO norm_sku(s) AS
    NULLIF(regexp_replace(
        translate(upper(trim(coalesce(CAST(s AS VARCHAR), ''))), 'АВСЕНКМОРТХ', 'ABCEHKMOPTX'),
        '[^A-Z0-9\pL]', '', 'g'), '');

-- Product name for matching: case folded, ё -> е, runs of spaces collapsed, trimmed.
CREATE OR REPLACE TEMP MACRO norm_product_name(s) AS
    NULLIF(trim(regexp_replace(replace(lower(coalesce(CAST(s AS VARCHAR), '')), 'ё', 'е'),
        '\s+', ' ', 'g')), '');

-- A sole trader's name as surname + initials ('ИП Иванов Иван Иванович', 'Иванов И. И., ИП'
-- and 'ИП Иванов И.И.' all give 'иванов и и'), so a card typed with initials can meet one typed
-- in full. NULL unless the name carries the ИП form and is three words (surname, name,
-- patronymic). Used by counterparty resolution as a weaker name key, never on its own against
-- an ambiguous match.
CREATE OR REPLACE TEMP MACRO person_initials_key(s) AS
    CASE
        WHEN legal_form_of(s) = 'ИП' AND len(string_split(norm_legal_name(s), ' ')) = 3 THEN
            string_split(norm_legal_name(s), ' ')[1] || ' '
                || left(string_split(norm_legal_name(s), ' ')[2], 1) || ' '
                || left(string_split(norm_legal_name(s), ' ')[3], 1)
    END;

-- A legal name for display, with the legal form abbreviated and in front:
-- 'Общество с ограниченной ответственностью «Дорос»' -> 'ООО «Дорос»',
-- 'Индивидуальный предприниматель Иванов Иван Иванович' -> 'ИП Иванов Иван Иванович',
-- 'Дорос, ООО' -> 'ООО Дорос'. Other names are returned trimmed, as written.
CREATE OR REPLACE TEMP MACRO _spelled_form_to_short(s) AS
    regexp_replace(regexp_replace(regexp_replace(regexp_replace(
    regexp_replace(regexp_replace(regexp_replace(regexp_replace(
        regexp_replace(trim(CAST(s AS VARCHAR)), '\s+', ' ', 'g'),
        '(?i)^общество с ограниченной ответственностью\s', 'ООО '),
        '(?i)^товарищество с ограниченной ответственностью\s', 'ТОО '),
        '(?i)^публичное акционерное общество\s', 'ПАО '),
        '(?i)^непубличное акционерное общество\s', 'НАО '),
        '(?i)^закрытое акционерное общество\s', 'ЗАО '),
        '(?i)^открытое акционерное общество\s', 'ОАО '),
        '(?i)^акционерное общество\s', 'АО '),
        '(?i)^индивидуальный предприниматель\s', 'ИП ');

CREATE OR REPLACE TEMP MACRO short_legal_name(s) AS
    regexp_replace(
        _spelled_form_to_short(s),
        '^(.+?),?\s+(ООО|ОАО|ЗАО|ПАО|НАО|АО|ИП|ТОО)$', '\2 \1');
