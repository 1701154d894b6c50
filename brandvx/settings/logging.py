# Logging: structured enough to find a tenant's request; never a token or a credential.
# Every record carries tenant_id, user_id and job_id (tenants.context.logging.ContextFilter).
from .env import env_str

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "tenants.context.logging.ContextFilter"},
    },
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s tenant=%(tenant_id)s user=%(user_id)s job=%(job_id)s %(message)s",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["context"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
    },
}
