# Core Django: apps, middleware, templates, static files, DRF and the schema.
import warnings
from pathlib import Path

from .env import env_debug, env_list, env_secret

BASE_DIR = Path(__file__).resolve().parent.parent.parent
LOCAL_DIR = BASE_DIR / ".local"  # embedded services' data; git-ignored

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    SECRET_KEY, SECRET_KEY_IS_DEVELOPMENT_DEFAULT = env_secret("DJANGO_SECRET_KEY")
# On only with DJANGO_DEBUG=1 exactly (scripts/run sets it); anything else is production.
DEBUG = env_debug()
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])

INSTALLED_APPS = [
    "tenants",  # first: its `migrate` command replaces Django's (runs as the owner role)
    "tenants.apps.SupportAdminConfig",  # django.contrib.admin with the audited support site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",  # staff two-factor (TOTP), required by the support admin when DEBUG is off
    "django_otp.plugins.otp_totp",
    "axes",  # staff sign-in attempt limiting (brandvx.settings.auth)
    "corsheaders",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served by the project (no CDN)
    "django_celery_beat",
    "anymail",  # ESP sending and its tracking webhooks (brandvx.settings.messaging)
    "clients",
    "analytics",
    "campaigns",
    "integrations",
    "brandvx",  # its ready() refuses to start on unsafe settings (brandvx.checks)
    # The benchmarks (`bench`) are installed only by bench.settings and the test settings.
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "common.middleware.RejectBadInputMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "tenants.context.middleware.TenantContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]

ROOT_URLCONF = "brandvx.urls"
WSGI_APPLICATION = "brandvx.wsgi.application"
AUTH_USER_MODEL = "tenants.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Uploads above this stay on disk instead of memory; CSV imports have their own limit.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.auth.authentication.SupabaseJWTAuthentication",
        "tenants.auth.authentication.TenantSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "common.parsers.StrictJSONParser",
        "common.parsers.StrictFormParser",
        "common.parsers.StrictMultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "common.schema.BrandVXAutoSchema",
    # DRF's JSON, byte for byte, written by orjson; then the browsable API.
    "DEFAULT_RENDERER_CLASSES": ["common.renderers.JSONRenderer", "common.renderers.BrowsableAPIRenderer"],
    "DEFAULT_FILTER_BACKENDS": ["common.validation.StrictFilterBackend"],
    "EXCEPTION_HANDLER": "common.http_errors.exception_handler",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "common.negotiation.StrictContentNegotiation",
    "DEFAULT_PAGINATION_CLASS": "common.pagination.DefaultCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_RATES": {"auth_failure": "30/min"},
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "BrandVX API",
    "DESCRIPTION": (
        "Multi-tenant API for salons and beauty professionals. Authenticate with a Supabase access "
        "token (`Authorization: Bearer ...`); choose the tenant with `X-Tenant-ID` when you belong "
        "to several. Errors are JSON `{code, detail}` with a stable `code`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Operations grouped by area (common.schema.AREA_TAGS), in this order.
    "TAGS": [
        {"name": "clients", "description": "Clients, tags, birthdays, duplicates and merges, CSV import and export."},
        {
            "name": "analytics",
            "description": "Services, appointments, sales and refunds, and the insights computed from them.",
        },
        {"name": "campaigns", "description": "Birthday messages: settings, batches and the drafts to approve."},
        {"name": "integrations", "description": "Provider connections, syncs, webhooks and the custom CRM push."},
        {
            "name": "account",
            "description": "The API root, who you are and in which tenant, background jobs, the audit and change logs.",
        },
    ],
    # /api/docs/ loads Swagger UI from our own static files (drf-spectacular-sidecar, pinned):
    # it works offline and never runs a CDN's latest script.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # "Authorize" keeps the pasted bearer token across page reloads (in the browser only).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "persistAuthorization": True},
    # The schema and the docs page are public and read no credentials: a browser's sessions
    # (a refused admin session included) never make them fail.
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    # Bodies are documented as JSON: form and multipart are accepted (the browsable API) with
    # the same strictness, but only an upload documents them (it says so itself).
    "PARSER_WHITELIST": ["common.parsers.StrictJSONParser"],
    # One name per choice set, where several models have a `status` or `channel`.
    "ENUM_NAME_OVERRIDES": {
        "MessageChannelEnum": "campaigns.models.Channel",
        "MessageDraftStatusEnum": "campaigns.models.MessageDraft.Status",
        "JobStatusEnum": "tenants.models.BackgroundJob.Status",
        "IntegrationConnectionStatusEnum": "integrations.models.IntegrationConnection.Status",
        "TransactionStatusEnum": "analytics.models.Transaction.Status",
        "ProviderEnum": "integrations.models.Provider",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "common.schema.rate_limit_postprocessing_hook",  # issue 28: RateLimit-*, 429, 503
    ],
}
