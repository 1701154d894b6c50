"""Check constraints for the money rules of analytics.services.check_amounts.

Existing rows are brought under the rules first, explicitly:
- fixed: a transaction with status `refunded` whose refunded_amount is below its total (the
  custom CRM importer used to accept `refunded` with refunded_amount 0, and the revenue
  queries then counted the sale in full). `refunded` means fully refunded, so the refunded
  amount becomes the total: the sale stops counting as revenue, as its status says.
- refused: any other violation (a negative amount, more refunded than paid, a failed sale with
  refunds). No correction is safe to guess; the migration stops and names the counts, and the
  rows must be corrected by hand (or through the API) before migrating again.

The tables FORCE row level security, so the table owner would see no rows at all: the check
and the fix run with FORCE lifted, inside this migration's transaction (ALTER TABLE holds an
exclusive lock until commit, so no other session ever sees the table without it).
"""

from django.db import migrations, models

FIX_AND_CHECK = """
ALTER TABLE analytics_transaction NO FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_appointment NO FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_transactionlineitem NO FORCE ROW LEVEL SECURITY;
UPDATE analytics_transaction SET refunded_amount = total_amount
 WHERE status = 'refunded' AND refunded_amount < total_amount AND total_amount >= 0 AND refunded_amount >= 0;
DO $$
DECLARE
  bad_sales bigint;
  bad_appointments bigint;
  bad_lines bigint;
BEGIN
  SELECT count(*) INTO bad_sales FROM analytics_transaction
   WHERE total_amount < 0 OR refunded_amount < 0 OR refunded_amount > total_amount
      OR (status = 'failed' AND refunded_amount <> 0)
      OR (status = 'refunded' AND refunded_amount <> total_amount);
  SELECT count(*) INTO bad_appointments FROM analytics_appointment WHERE price_amount < 0;
  SELECT count(*) INTO bad_lines FROM analytics_transactionlineitem WHERE amount < 0;
  IF bad_sales + bad_appointments + bad_lines > 0 THEN
    RAISE EXCEPTION 'money check constraints: % transaction(s), % appointment(s) and % line item(s) break the money rules (negative amounts, refunded more than the total, or a failed sale with refunds); correct them, then migrate again',
      bad_sales, bad_appointments, bad_lines;
  END IF;
END $$;
ALTER TABLE analytics_transaction FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_appointment FORCE ROW LEVEL SECURITY;
ALTER TABLE analytics_transactionlineitem FORCE ROW LEVEL SECURITY;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0003_covering_indexes"),
    ]

    operations = [
        # Forward only: the fixed rows stay fixed when the constraints are removed.
        migrations.RunSQL(sql=FIX_AND_CHECK, reverse_sql=migrations.RunSQL.noop),
        migrations.AddConstraint(
            model_name="appointment",
            constraint=models.CheckConstraint(
                condition=models.Q(("price_amount__gte", 0)), name="appointment_price_not_negative"
            ),
        ),
        migrations.AddConstraint(
            model_name="transaction",
            constraint=models.CheckConstraint(
                condition=models.Q(("total_amount__gte", 0)), name="transaction_total_not_negative"
            ),
        ),
        migrations.AddConstraint(
            model_name="transaction",
            constraint=models.CheckConstraint(
                condition=models.Q(("refunded_amount__lte", models.F("total_amount"))),
                name="transaction_refund_within_total",
            ),
        ),
        migrations.AddConstraint(
            model_name="transaction",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("status", "refunded"), _negated=True),
                    ("refunded_amount", models.F("total_amount")),
                    _connector="OR",
                ),
                name="transaction_refunded_means_full",
            ),
        ),
        migrations.AddConstraint(
            model_name="transaction",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("status", "failed"), _negated=True), ("refunded_amount", 0), _connector="OR"
                ),
                name="transaction_failed_no_refund",
            ),
        ),
        migrations.AddConstraint(
            model_name="transactionlineitem",
            constraint=models.CheckConstraint(
                condition=models.Q(("amount__gte", 0)), name="line_item_amount_not_negative"
            ),
        ),
    ]
