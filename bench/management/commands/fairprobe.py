"""TEMPORARY probe (not committed)."""
import http.client, time, statistics, threading, os, json
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    def add_arguments(self, parser):
        parser.add_argument("--items", type=int, default=20000)
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--threads", type=int, default=4)

    def handle(self, *args, **o):
        from bench import database
        from bench.fairness import FairnessOptions, build_world
        from bench.http_load import Gunicorn, percentile
        from tenants.supabase import issue_development_token
        bench = database.create()
        try:
            opts = FairnessOptions(jobs=6, items=o["items"])
            world = build_world(opts)
            def hdr(u, t):
                tok = issue_development_token(user_id=u.id, tenant_id=t.id, minutes=120)
                return {"Authorization": f"Bearer {tok}", "X-Tenant-ID": str(t.id)}
            ah, bh = hdr(world.owner_a, world.tenant_a), hdr(world.owner_b, world.tenant_b)
            os.environ.update(TENANT_RATE_LIMITS_ENABLED="1", TENANT_API_RATE="100/10s", TENANT_API_BURST="30/1s", TENANT_USER_API_RATE="100/10s")
            server = Gunicorn(bench, workers=o["workers"], threads=o["threads"])
            try:
                print("ready", server.wait_ready("/api/v1/clients/", bh))
                def serial(h, n):
                    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
                    out = {}
                    for _ in range(n):
                        s = time.perf_counter(); c.request("GET", "/api/v1/clients/", headers=h); r = c.getresponse(); r.read()
                        out.setdefault(r.status, []).append((time.perf_counter() - s) * 1000)
                    return {k: (len(v), round(statistics.median(v), 2)) for k, v in out.items()}
                print("B serial", serial(bh, 60))
                print("A serial (first 200s then 429s)", serial(ah, 200))
                print("A serial 429", serial(ah, 200))
                print("B serial", serial(bh, 60))
            finally:
                server.stop()
        finally:
            database.drop(bench)
