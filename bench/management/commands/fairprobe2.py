"""TEMPORARY probe (not committed)."""
import cProfile, pstats, time, statistics
from django.core.management.base import BaseCommand
from django.test.utils import override_settings


class Command(BaseCommand):
    def handle(self, *args, **o):
        from bench import database
        from bench.fairness import FairnessOptions, build_world
        from django.test import Client as DjangoClient
        from django.db import connection
        from tenants.supabase import issue_development_token
        bench = database.create()
        try:
            world = build_world(FairnessOptions(jobs=1, items=2000))
            tok = issue_development_token(user_id=world.owner_a.id, tenant_id=world.tenant_a.id, minutes=120)
            c = DjangoClient(HTTP_AUTHORIZATION=f"Bearer {tok}", HTTP_X_TENANT_ID=str(world.tenant_a.id))
            tb = issue_development_token(user_id=world.owner_b.id, tenant_id=world.tenant_b.id, minutes=120)
            cb = DjangoClient(HTTP_AUTHORIZATION=f"Bearer {tb}", HTTP_X_TENANT_ID=str(world.tenant_b.id))
            with override_settings(TENANT_API_RATE="5/60s", TENANT_API_BURST="5/1s", TENANT_USER_API_RATE="5/60s", DEBUG=False):
                for _ in range(20):
                    r = c.get("/api/v1/clients/")
                print(r.status_code, dict((k, v) for k, v in r.items() if k.lower().startswith(("ratelimit", "retry"))))
                t = []
                for _ in range(500):
                    s = time.perf_counter(); c.get("/api/v1/clients/"); t.append((time.perf_counter() - s) * 1000)
                print("429 in-process median ms", statistics.median(t))
                from django.db import reset_queries
                from django.test.utils import CaptureQueriesContext
                with CaptureQueriesContext(connection) as q:
                    c.get("/api/v1/clients/")
                for x in q.captured_queries: print("  SQL", x["sql"][:150])
                pr = cProfile.Profile(); pr.enable()
                for _ in range(300): c.get("/api/v1/clients/")
                pr.disable()
                pstats.Stats(pr).sort_stats("cumulative").print_stats(45)
            with override_settings(TENANT_API_RATE="5000/60s", TENANT_API_BURST="5000/1s", TENANT_USER_API_RATE="5000/60s", DEBUG=False):
                t = []
                for _ in range(300):
                    s = time.perf_counter(); r = cb.get("/api/v1/clients/"); t.append((time.perf_counter() - s) * 1000)
                print("B 200 in-process median ms", statistics.median(t), r.status_code)
        finally:
            database.drop(bench)
