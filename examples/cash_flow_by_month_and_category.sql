-- Cash flow by month and category: actual money in and out per month, currency, activity and category over the last three months (transfers between own accounts and owner money left out; drop the date filter for the whole history).
SELECT
    strftime(month, '%Y-%m') AS month,
    currency,
    activity,
    category_name AS category,
    sum(inflow) AS inflow,
    sum(outflow) AS outflow,
    sum(net) AS net
FROM marts.cash_flow_monthly
WHERE counts_as IN ('income', 'expense')
  AND movements > 0
  AND month > (
      SELECT max(month) FROM marts.cash_flow_monthly WHERE movements > 0
  ) - INTERVAL 3 MONTH
GROUP BY ALL
ORDER BY month DESC, currency, activity, inflow DESC, outflow DESC
