"""Who writes a message's text: the tenant's template, or an LLM that falls back to it.

Generators make network calls: call them OUTSIDE any database transaction (the batch
service reads, leaves the transaction, generates, then writes).

Configuration (brandvx/settings/messaging.py): LLM_API_URL (an OpenAI-compatible base URL,
e.g. https://api.openai.com/v1), LLM_API_KEY, LLM_MODEL, and optionally LLM_TIMEOUT_SECONDS.
All three of the first must be set to use the LLM.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Protocol

import requests
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from campaigns.models import Channel
from campaigns.rules import MAX_LLM_LENGTH
from campaigns.templates_text import render_template

logger = logging.getLogger(__name__)

DEFAULT_LLM_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class MessageRequest:
    """What a generator may know about one message. Deliberately no contact details: an
    external LLM gets a first name, the business name and the date, nothing more."""

    first_name: str
    last_name: str
    business_name: str
    occasion_date: datetime.date
    channel: str
    template: str


@dataclass(frozen=True)
class GeneratedMessage:
    body: str
    generator: str
    fallback: bool = False
    fallback_reason: str = ""


class MessageGenerator(Protocol):
    name: str

    def generate(self, request: MessageRequest) -> GeneratedMessage: ...


class TemplateGenerator:
    """The default: the tenant's own template with the placeholders filled in."""

    name = "template"

    def generate(self, request: MessageRequest) -> GeneratedMessage:
        body = render_template(
            request.template,
            first_name=request.first_name,
            last_name=request.last_name,
            business_name=request.business_name,
            birthday_date=request.occasion_date,
        )
        return GeneratedMessage(body=body, generator=self.name)


class LLMUnusable(Exception):
    """The LLM gave no usable text; the message says why (stored on the draft)."""


class ChatCompletionsGenerator:
    """An OpenAI-compatible `POST {base}/chat/completions`, with the template as the fallback
    for ANY failure: timeout, HTTP error, malformed or empty answer, anything raised."""

    def __init__(
        self,
        *,
        api_url: str,
        api_key: str,
        model: str,
        timeout: float = DEFAULT_LLM_TIMEOUT_SECONDS,
        fallback: MessageGenerator | None = None,
        session: requests.Session | None = None,
    ):
        self.url = api_url.rstrip("/") + "/chat/completions"
        self.api_key = api_key
        self.model = model
        self.timeout = timeout
        self.fallback = fallback or TemplateGenerator()
        self.session = session or requests.Session()
        self.name = f"llm:{model}"[:40]

    def generate(self, request: MessageRequest) -> GeneratedMessage:
        try:
            body = self._complete(request)
        except SoftTimeLimitExceeded:
            raise  # the task is out of time; a fallback would hide that
        except Exception as exc:  # noqa: BLE001 - any failure means: use the template
            reason = _reason(exc)
            logger.warning("LLM generation failed, using the template: %s", reason)
            fallback = self.fallback.generate(request)
            return GeneratedMessage(
                body=fallback.body, generator=fallback.generator, fallback=True, fallback_reason=reason
            )
        return GeneratedMessage(body=body, generator=self.name)

    def _complete(self, request: MessageRequest) -> str:
        length = MAX_LLM_LENGTH.get(request.channel, 500)
        medium = "an SMS text message" if request.channel == Channel.SMS else "a short email"
        prompt = (
            f"Write {medium} wishing {request.first_name or 'our client'} a happy birthday on "
            f"{request.occasion_date:%B} {request.occasion_date.day}, from {request.business_name}. "
            f"Warm, personal, at most {length // 2} characters, no placeholders, no links. "
            "Reply with the message text only."
        )
        response = self.session.post(
            self.url,
            headers={"Authorization": f"Bearer {self.api_key}"},
            json={
                "model": self.model,
                "messages": [
                    {"role": "system", "content": "You write short birthday messages for a salon's clients."},
                    {"role": "user", "content": prompt},
                ],
                "temperature": 0.7,
            },
            timeout=self.timeout,
        )
        if response.status_code != 200:
            raise LLMUnusable(f"HTTP {response.status_code}")
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise LLMUnusable("malformed response (no choices[0].message.content)") from None
        if not isinstance(content, str) or not content.strip():
            raise LLMUnusable("empty message")
        content = content.strip().strip('"').strip()
        if len(content) > length:
            raise LLMUnusable(f"message too long ({len(content)} > {length} characters)")
        return content


def _reason(exc: Exception) -> str:
    if isinstance(exc, LLMUnusable):
        return str(exc)[:200]
    if isinstance(exc, requests.Timeout):
        return "timeout"
    if isinstance(exc, requests.ConnectionError):
        return "connection error"
    # Never the exception text: it may carry the URL or a key. The class name is enough.
    return f"unexpected error ({type(exc).__name__})"


def _setting(name: str) -> str | None:
    return getattr(settings, name, None) or None


def llm_configured() -> bool:
    return all(_setting(name) for name in ("LLM_API_URL", "LLM_API_KEY", "LLM_MODEL"))


def message_generator() -> MessageGenerator:
    """The generator to use now: the LLM when configured, else the template."""
    api_url, api_key, model = _setting("LLM_API_URL"), _setting("LLM_API_KEY"), _setting("LLM_MODEL")
    if not (api_url and api_key and model):
        return TemplateGenerator()
    try:
        timeout = float(_setting("LLM_TIMEOUT_SECONDS") or DEFAULT_LLM_TIMEOUT_SECONDS)
    except ValueError:
        timeout = DEFAULT_LLM_TIMEOUT_SECONDS
    return ChatCompletionsGenerator(api_url=api_url, api_key=api_key, model=model, timeout=timeout)
