# Authentication: Supabase access tokens (HS256 secret and/or JWKS), sessions for the admin.
import warnings

from .env import env_int, env_secret, env_str

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    SUPABASE_JWT_SECRET, SUPABASE_JWT_SECRET_IS_DEVELOPMENT_DEFAULT = env_secret(
        "SUPABASE_JWT_SECRET", "brandvx-development-jwt-secret-not-for-production-use"
    )
SUPABASE_JWKS_URL = env_str("SUPABASE_JWKS_URL")
SUPABASE_JWT_AUDIENCE = env_str("SUPABASE_JWT_AUDIENCE", "authenticated")
SUPABASE_JWT_ISSUER = env_str("SUPABASE_JWT_ISSUER")  # checked only when set
SUPABASE_JWKS_CACHE_SECONDS = env_int("SUPABASE_JWKS_CACHE_SECONDS", 600)
SUPABASE_JWT_LEEWAY_SECONDS = env_int("SUPABASE_JWT_LEEWAY_SECONDS", 0)

# simplejwt's TokenBackend does the HS256 verification; these mirror the Supabase values.
SIMPLE_JWT = {
    "ALGORITHM": "HS256",
    "SIGNING_KEY": SUPABASE_JWT_SECRET,
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
# places from the right end (tenants.client_address).
TRUSTED_PROXY_COUNT = env_int("DJANGO_TRUSTED_PROXY_COUNT", 0)
