"""Models of this app (tenant tables derive from tenants.models.TenantModel)."""
