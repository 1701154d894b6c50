# Outside services: Square OAuth app and webhooks; the LLM and messaging settings follow.
from .env import env_str

SQUARE_APPLICATION_ID = env_str("SQUARE_APPLICATION_ID")
SQUARE_APPLICATION_SECRET = env_str("SQUARE_APPLICATION_SECRET")
# The webhook subscription's signature key and the exact notification URL Square signs.
SQUARE_WEBHOOK_SIGNATURE_KEY = env_str("SQUARE_WEBHOOK_SIGNATURE_KEY")
SQUARE_WEBHOOK_NOTIFICATION_URL = env_str("SQUARE_WEBHOOK_NOTIFICATION_URL")
SQUARE_BASE_URL = env_str("SQUARE_BASE_URL", "https://connect.squareup.com")  # sandbox: https://connect.squareupsandbox.com
ACUITY_BASE_URL = env_str("ACUITY_BASE_URL", "https://acuityscheduling.com/api/v1")
HUBSPOT_BASE_URL = env_str("HUBSPOT_BASE_URL", "https://api.hubapi.com")
