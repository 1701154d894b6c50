# Messaging: email (SMTP or an ESP through django-anymail), Twilio, the public URL that links
# and webhooks are built on, and the optional LLM writer of birthday messages.
import os

from .base import DEBUG
from .env import env_bool, env_int, env_str

# The site's own address as the outside world reaches it (scheme://host[:port], no path):
# unsubscribe links in emails, Twilio's StatusCallback, and the URL Twilio signatures are
# checked against (never the request's Host header). Required with DEBUG off (brandvx.checks);
# scripts/run sets it to its own address.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000" if DEBUG else "").rstrip("/")
# Twilio's REST API root; the client appends /2010-04-01/Accounts/... (tests and sandboxes
# point it elsewhere).
TWILIO_BASE_URL = env_str("TWILIO_BASE_URL", "https://api.twilio.com").rstrip("/")

# Console backend when EMAIL_HOST is unset: development never sends real email by accident.
# An ESP: EMAIL_BACKEND=anymail.backends.<esp>.EmailBackend (postmark, mailjet or brevo: the
# ESPs whose tracking webhook campaigns.api.webhooks serves)
# with its ANYMAIL_* settings below.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if env_str("EMAIL_HOST")
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
# STARTTLS on by default (a real relay on 587); a plain local SMTP server (MailHog, aiosmtpd,
# a relay on localhost:25) needs EMAIL_USE_TLS=0 or the connection fails.
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20)  # a hung SMTP server must not hold a worker
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "BrandVX <no-reply@localhost>")
# django-anymail: every ANYMAIL_<NAME> variable is anymail's <NAME> setting, e.g.
# ANYMAIL_POSTMARK_SERVER_TOKEN, ANYMAIL_MAILJET_API_KEY, and ANYMAIL_WEBHOOK_SECRET
# ("user:password", the basic auth its tracking webhooks must carry).
ANYMAIL = {name.removeprefix("ANYMAIL_"): value for name, value in os.environ.items() if name.startswith("ANYMAIL_")}

# An OpenAI-compatible chat-completions API writes birthday messages when all three are set;
# any failure falls back to the tenant's template (recorded on the draft).
LLM_API_URL = env_str("LLM_API_URL")
LLM_API_KEY = env_str("LLM_API_KEY")
LLM_MODEL = env_str("LLM_MODEL")
LLM_TIMEOUT_SECONDS = env_int("LLM_TIMEOUT_SECONDS", 10)
