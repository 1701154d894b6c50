"""The HTTP layer every provider client shares: timeouts and one retry policy.

- 429: wait (the `Retry-After` seconds when sent, else exponential backoff with jitter) and
  carry on; only an absurd number of consecutive 429s gives up.
- 5xx, timeouts, connection errors: retry a bounded number of times, then fail with the
  reason (the sync job records it).
- 401: the credentials are no longer good; the caller marks the connection needs_reauth.
- other 4xx: a request we got wrong; fail with the provider's message.

Sleeping goes through an injectable callable so tests never wait.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

logger = logging.getLogger("brandvx.integrations")

DEFAULT_TIMEOUT = (5, 30)  # (connect, read) seconds


class ProviderError(Exception):
    """A provider call failed; `reason` is safe to show to the tenant (no secrets)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ReauthRequired(ProviderError):
    """HTTP 401: the stored credentials were revoked or expired."""


class ProviderUnavailable(ProviderError):
    """5xx, timeouts or rate limiting outlasted the retry budget."""


class ProviderRequestError(ProviderError):
    """A 4xx other than 401/429: retrying would not help."""

    def __init__(self, reason: str, status: int):
        super().__init__(reason)
        self.status = status


@dataclass
class RetryPolicy:
    max_retries: int = 4  # for 5xx and timeouts
    max_rate_limit_waits: int = 20  # consecutive 429s on one request
    base_delay: float = 1.0
    max_delay: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep)
    jitter: Callable[[], float] = field(default=random.random)

    def backoff(self, attempt: int) -> float:
        # "Full jitter" on top of the exponential step: spreads clients that failed together.
        step = min(self.max_delay, self.base_delay * (2**attempt))
        return float(min(self.max_delay, step / 2 + step / 2 * self.jitter()))

    def retry_after(self, response: requests.Response, attempt: int) -> float:
        value = response.headers.get("Retry-After", "")
        try:
            seconds = float(value)
        except ValueError:
            return self.backoff(attempt)
        return max(0.0, min(self.max_delay, seconds))


class HttpClient:
    """requests.Session + base URL + the retry policy. One per provider client."""

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        policy: RetryPolicy | None = None,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ):
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.policy = policy or RetryPolicy()
        self.session = session or requests.Session()
        self.timeout = timeout
        self.requests_made = 0

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        failures = 0
        rate_limited = 0
        while True:
            self.requests_made += 1
            try:
                response = self.session.request(method, url, timeout=self.timeout, **kwargs)
            except (requests.Timeout, requests.ConnectionError) as exc:
                failures += 1
                reason = f"{self.provider}: {type(exc).__name__} on {method} {path}"
                if failures > self.policy.max_retries:
                    raise ProviderUnavailable(f"{reason} after {failures} attempts") from None
                logger.warning("%s; retrying", reason)
                self.policy.sleep(self.policy.backoff(failures - 1))
                continue
            status = response.status_code
            if status == 429:
                rate_limited += 1
                if rate_limited > self.policy.max_rate_limit_waits:
                    raise ProviderUnavailable(f"{self.provider}: still rate limited after {rate_limited} waits")
                delay = self.policy.retry_after(response, rate_limited - 1)
                logger.info("%s rate limited on %s %s; waiting %.1fs", self.provider, method, path, delay)
                self.policy.sleep(delay)
                continue
            if status >= 500:
                failures += 1
                if failures > self.policy.max_retries:
                    raise ProviderUnavailable(
                        f"{self.provider}: HTTP {status} on {method} {path} after {failures} attempts"
                    )
                self.policy.sleep(self.policy.backoff(failures - 1))
                continue
            if status == 401:
                raise ReauthRequired(
                    f"{self.provider}: the credentials were rejected (HTTP 401); reconnect the account"
                )
            if status >= 400:
                raise ProviderRequestError(
                    f"{self.provider}: HTTP {status} on {method} {path}: {_error_text(response)}", status
                )
            return response

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return _json(self.request("GET", path, **kwargs))

    def post_json(self, path: str, body: dict[str, Any], **kwargs: Any) -> Any:
        return _json(self.request("POST", path, json=body, **kwargs))

    def get_object(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """GET an answer that must be a JSON object (else ProviderError)."""
        return self._object(self.get_json(path, **kwargs), "GET", path)

    def post_object(self, path: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """POST for an answer that must be a JSON object (else ProviderError)."""
        return self._object(self.post_json(path, body, **kwargs), "POST", path)

    def _object(self, answer: Any, method: str, path: str) -> dict[str, Any]:
        if not isinstance(answer, dict):
            raise ProviderError(f"{self.provider}: the answer to {method} {path} is not a JSON object")
        return answer


def _json(response: requests.Response) -> Any:
    # From the bytes (JSON is UTF-8; json.loads detects UTF-16/32): requests would decode a
    # `text/*` body sent without a charset as ISO-8859-1 and turn "José" into "JosÃ©".
    return json.loads(response.content)


def _error_text(response: requests.Response) -> str:
    """The provider's own error message, short; never the request (it may carry a token)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            return str(first.get("detail") or first.get("code") or first)[:200]
        return str(body.get("message") or body.get("error") or body)[:200]
    return str(body)[:200]
