# HTTP security: production hardening switches on when DEBUG is off.
import warnings

from .base import DEBUG
from .env import env_bool, env_int, env_list, env_secret

CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", [])
CORS_ALLOW_HEADERS = ("authorization", "content-type", "x-tenant-id")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    # Fernet keys (comma-separated: the first encrypts, all decrypt, for rotation).
    FIELD_ENCRYPTION_KEY, FIELD_ENCRYPTION_KEY_IS_DEVELOPMENT_DEFAULT = env_secret("FIELD_ENCRYPTION_KEY")

# `X-Forwarded-Proto: https` makes a request count as secure only behind a proxy that sets
# it and strips the client's own: anyone can send the header, so it is trusted only on request.
if env_bool("DJANGO_TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
