"""Django's PostgreSQL backend, for tables whose primary key is (tenant_id, id).

Django believes `id` is the primary key, and PostgreSQL's GROUP BY accepts the columns of a
table whose *whole* primary key is grouped. Django's shortcut of grouping by `id` alone is
therefore refused ("column tenant_id must appear in the GROUP BY clause"); without it Django
groups by every selected column, which PostgreSQL plans the same way.
"""

from django.db.backends.postgresql import base, features, operations


class DatabaseFeatures(features.DatabaseFeatures):
    allows_group_by_selected_pks = False


class DatabaseOperations(operations.DatabaseOperations):
    compiler_module = "tenants.db.compiler"  # multi-row inserts as VALUES on Citus


class DatabaseWrapper(base.DatabaseWrapper):
    features_class = DatabaseFeatures
    ops_class = DatabaseOperations
