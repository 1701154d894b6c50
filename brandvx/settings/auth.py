# Authentication: Supabase access tokens (HS256 secret and/or JWKS), sessions for the admin.
import warnings
from datetime import timedelta

from .env import env_int, env_secret, env_str

SUPABASE_JWT_SECRET: str | None  # None: no HS256 secret at all (below)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    SUPABASE_JWT_SECRET, SUPABASE_JWT_SECRET_IS_DEVELOPMENT_DEFAULT = env_secret("SUPABASE_JWT_SECRET")
SUPABASE_JWKS_URL = env_str("SUPABASE_JWKS_URL")
# A project that signs only with asymmetric keys (JWKS) and sets no HS256 secret accepts no
# HS256 token at all: the development secret is public and must never verify anything.
if SUPABASE_JWKS_URL and SUPABASE_JWT_SECRET_IS_DEVELOPMENT_DEFAULT and not env_str("SUPABASE_JWT_SECRET"):
    SUPABASE_JWT_SECRET = None
SUPABASE_JWT_AUDIENCE = env_str("SUPABASE_JWT_AUDIENCE", "authenticated")
# `iss` is checked when known: SUPABASE_JWT_ISSUER, else derived from the project's SUPABASE_URL.
SUPABASE_URL = env_str("SUPABASE_URL")
SUPABASE_JWT_ISSUER = env_str("SUPABASE_JWT_ISSUER") or (
    f"{SUPABASE_URL.rstrip('/')}/auth/v1" if SUPABASE_URL else None
)
# Tokens issued (`iat`) longer ago than this are refused, whatever their `exp` says: a leaked
# long-lived token stops working. Supabase's default lifetime is one hour.
SUPABASE_JWT_MAX_AGE_SECONDS = env_int("SUPABASE_JWT_MAX_AGE_SECONDS", 24 * 3600)
SUPABASE_JWKS_CACHE_SECONDS = env_int("SUPABASE_JWKS_CACHE_SECONDS", 600)
SUPABASE_JWT_LEEWAY_SECONDS = env_int("SUPABASE_JWT_LEEWAY_SECONDS", 0)

# simplejwt's TokenBackend does the HS256 verification; these mirror the Supabase values.
SIMPLE_JWT = {
    "ALGORITHM": "HS256",
    "SIGNING_KEY": SUPABASE_JWT_SECRET or "",
    "AUDIENCE": SUPABASE_JWT_AUDIENCE,
    "ISSUER": SUPABASE_JWT_ISSUER,
    "USER_ID_CLAIM": "sub",
    "USER_ID_FIELD": "id",
    "LEEWAY": SUPABASE_JWT_LEEWAY_SECONDS,
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Failed token authentications allowed per client address per window, then 429.
AUTH_FAILURE_LIMIT = env_int("AUTH_FAILURE_LIMIT", 30)
AUTH_FAILURE_WINDOW_SECONDS = env_int("AUTH_FAILURE_WINDOW_SECONDS", 60)

# Reverse proxies in front of the application that append to X-Forwarded-For (0 = none:
# the header is ignored). The client address for limits and the audit is the entry this many
# places from the right end (tenants.auth.client_address).
TRUSTED_PROXY_COUNT = env_int("DJANGO_TRUSTED_PROXY_COUNT", 0)

# Staff sign-in (/admin/login/): django-axes counts failed passwords in the database (platform
# tables axes_*) per username and per client address, and refuses either, even with the right
# password, for the cool-off time: guessing one account from many addresses, or many accounts
# from one address, both stop. The address is the caller's behind trusted proxies
# (DJANGO_TRUSTED_PROXY_COUNT), never a header the caller wrote.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("ADMIN_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("ADMIN_LOGIN_COOLOFF_MINUTES", 30))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "tenants.support.site.audit_client_ip"  # logged with each attempt
AXES_LOCKOUT_CALLABLE = "tenants.support.site.lockout_response"  # the 429 page, with the time left
# Two-factor for staff (django-otp, TOTP): the support admin requires a verified device
# whenever DEBUG is off (tenants.support.site); enrol with `manage.py enroll_support_staff`.
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "BrandVX support")
# The admin never shows a device's secret (key, QR code): a colleague could clone the factor.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
