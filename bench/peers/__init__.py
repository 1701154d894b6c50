"""Peers of this project's client list, served from their own databases (issue 15, part 4).

The same 50-row client list (the fields of /api/v1/clients/, cursor pagination, tags and
external ids prefetched, the same index, the data of the benchmark's tenants) served by:

- `tenants_app`: django-tenants, a schema per tenant, `search_path` set per request from the
  Host (its TenantMainMiddleware looks the domain up in the public schema);
- `rls_app`: django-rls, its RLSContextMiddleware sets `rls.tenant_id` (session-level
  set_config, reset at the start and cleared at the end of every request) that its
  ModelPolicy reads; the tenant comes from X-Tenant-ID, looked up in the tenants table;
- `plain_app`: plain Django + DRF, no isolation, the query filtered by the X-Tenant-ID value:
  the floor of the framework.

None authenticates a user: this project's endpoint also verifies a JWT and a membership,
which the peers do not do. Each peer has its own settings module (installed apps: its own
app, DRF, contenttypes and auth) and reads its database from BENCH_PEER_DATABASE_URL. The
benchmark (`bench/peers/setup.py`) creates, loads and drops those databases.
"""
