"""The insight aggregates: rebuilt whole from a tenant's rows (docs/insights.md).

The triggers of migrations analytics 0008 and 0011 (and 0014's months) keep them day by day; this module only rebuilds a
tenant (after its time zone changed, or to repair). It calls the same SQL function the
triggers use, inside the tenant's context (RLS applies: the runtime role writes only that
tenant's rows), in one transaction.
"""

from __future__ import annotations

from django.db import connection, transaction

from tenants.context import require_tenant
from tenants.db.sharding import is_citus
from tenants.models import Tenant


def aggregate_tables() -> list[str]:
    """The tables the triggers keep (empty on Citus, where nothing keeps them)."""
    from analytics.models import (
        InsightActiveDay,
        InsightClient,
        InsightClientDay,
        InsightDay,
        InsightServiceDay,
        InsightServiceMonth,
        InsightServiceSet,
        InsightServiceSetMonth,
        InsightServiceSpan,
        InsightServiceSpanMonth,
        InsightSpan,
        InsightSpanMonth,
        InsightState,
        InsightVisitDay,
    )

    models = (
        InsightState,
        InsightDay,
        InsightSpan,
        InsightVisitDay,
        InsightClientDay,
        InsightClient,
        InsightActiveDay,
        InsightServiceDay,
        InsightServiceSet,
        InsightServiceSpan,
        InsightServiceMonth,
        InsightServiceSetMonth,
        InsightServiceSpanMonth,
        InsightSpanMonth,
    )
    return [model._meta.db_table for model in models]


class AggregatesUnavailable(Exception):
    """On Citus the aggregates are not kept (no triggers): the insights use the rows."""


def rebuild(tenant: Tenant) -> None:
    """Recompute every aggregate of `tenant` from its rows, bucketed in its time zone now.
    Runs in the caller's tenant context (`tenant_context(tenant.id, role="system")`)."""
    require_tenant(tenant)
    if is_citus(connection):
        raise AggregatesUnavailable("the insight aggregates are not kept on Citus")
    with transaction.atomic(), connection.cursor() as cursor:
        # The tenant's turn (migration 0013): no trigger refreshes its days meanwhile.
        cursor.execute("SELECT analytics_insight_lock(%s)", [str(tenant.id)])
        cursor.execute("SELECT analytics_insight_rebuild(%s, %s)", [tenant.id, tenant.timezone])
