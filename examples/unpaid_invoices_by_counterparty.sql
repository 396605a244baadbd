-- Who owes us money? Unpaid invoices (issued or partly paid) by counterparty and currency: how many, how much is outstanding, how much of it is overdue as of the warehouse's as-of date, and the oldest due date.
-- Drafts, cancelled and expired invoices owe nothing. An invoice without a due date (ApiPay)
-- counts as due on its issue date.
SELECT
    coalesce(c.display_name, '(no counterparty)') AS counterparty,
    c.tax_id,
    c.phone,
    i.currency,
    count(*) AS unpaid_invoices,
    sum(i.outstanding_amount) AS outstanding,
    coalesce(
        sum(i.outstanding_amount) FILTER (WHERE coalesce(i.due_date, i.issued_date) < a.as_of_date),
        0
    ) AS overdue,
    min(coalesce(i.due_date, i.issued_date)) AS oldest_due_date,
    list(i.number ORDER BY coalesce(i.due_date, i.issued_date), i.number) AS invoice_numbers,
    a.as_of_date AS as_of
FROM marts.invoices AS i
LEFT JOIN marts.counterparties AS c ON c.counterparty_key = i.counterparty_key
CROSS JOIN (SELECT max(as_of_date) AS as_of_date FROM marts.data_as_of) AS a
WHERE i.status IN ('issued', 'partially_paid') AND i.outstanding_amount > 0
GROUP BY i.counterparty_key, c.display_name, c.tax_id, c.phone, i.currency, a.as_of_date
ORDER BY i.currency, outstanding DESC, counterparty
