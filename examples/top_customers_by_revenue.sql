-- Who are our top customers by revenue? Paid invoices (fully or partly), net of refunds, per currency: the ten biggest customers in each currency across Bitrix24, SalesMan and ApiPay.
-- Revenue counts what customers paid (paid_amount: a SalesMan invoice paid in part counts its
-- paid part) minus what was refunded (ApiPay refunds); roubles and tenge are never added up.
SELECT
    i.currency,
    coalesce(c.display_name, '(no counterparty)') AS customer,
    c.tax_id,
    count(*) AS paid_invoices,
    sum(i.paid_amount) AS paid,
    sum(i.refunded_amount) AS refunded,
    sum(i.paid_amount - i.refunded_amount) AS revenue,
    list(DISTINCT i.source ORDER BY i.source) AS systems,
    max(i.paid_date) AS last_payment
FROM marts.invoices AS i
LEFT JOIN marts.counterparties AS c ON c.counterparty_key = i.counterparty_key
WHERE i.paid_amount > 0
GROUP BY i.currency, i.counterparty_key, c.display_name, c.tax_id
QUALIFY row_number() OVER (PARTITION BY i.currency ORDER BY revenue DESC, customer) <= 10
ORDER BY i.currency, revenue DESC, customer
