# Outside services: Square OAuth app and webhooks; the LLM and messaging settings follow.
from .env import env_int, env_str

SQUARE_APPLICATION_ID = env_str("SQUARE_APPLICATION_ID")
SQUARE_APPLICATION_SECRET = env_str("SQUARE_APPLICATION_SECRET")
# The webhook subscription's signature key and the exact notification URL Square signs.
SQUARE_WEBHOOK_SIGNATURE_KEY = env_str("SQUARE_WEBHOOK_SIGNATURE_KEY")
SQUARE_WEBHOOK_NOTIFICATION_URL = env_str("SQUARE_WEBHOOK_NOTIFICATION_URL")
SQUARE_BASE_URL = env_str(
    "SQUARE_BASE_URL", "https://connect.squareup.com"
)  # sandbox: https://connect.squareupsandbox.com
ACUITY_BASE_URL = env_str("ACUITY_BASE_URL", "https://acuityscheduling.com/api/v1")
HUBSPOT_BASE_URL = env_str("HUBSPOT_BASE_URL", "https://api.hubapi.com")

# A running sync holds a lease on its connection, renewed by every page it writes and every
# wait it makes; a worker that stops renewing (it died) loses the lease after this long and
# the next sync request takes over, resuming from the saved checkpoints.
SYNC_LEASE_SECONDS = env_int("SYNC_LEASE_SECONDS", 120)
