"""Message generators: the template, and the chat-completions LLM with its fallback."""

from __future__ import annotations

import datetime
import json

import pytest
import requests
import responses

from campaigns import generators
from campaigns.batches import birthday_batch_run
from campaigns.generators import ChatCompletionsGenerator, MessageRequest, TemplateGenerator, message_generator
from campaigns.models import MessageDraft
from campaigns.services import birthday_batch_start
from campaigns.templates_text import render_template, template_errors
from campaigns.tests.factories import make_client
from tenants.context import tenant_context

LLM = "https://llm.example.test/v1"
REQUEST = MessageRequest(
    first_name="Ana",
    last_name="Lima",
    business_name="Salon A",
    occasion_date=datetime.date(2026, 3, 3),
    channel="sms",
    template="Happy birthday {first_name} from {business_name} on {birthday_date}!",
)


def completion(content) -> dict:
    """The shape of an OpenAI chat.completions response (trimmed to what matters)."""
    return {
        "id": "chatcmpl-123",
        "object": "chat.completion",
        "created": 1760000000,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 60, "completion_tokens": 20, "total_tokens": 80},
    }


def llm() -> ChatCompletionsGenerator:
    return ChatCompletionsGenerator(api_url=LLM, api_key="sk-test", model="gpt-4o-mini", timeout=2)


def test_template_renders_placeholders_and_tidies_missing_names():
    assert TemplateGenerator().generate(REQUEST).body == "Happy birthday Ana from Salon A on March 3!"
    assert (
        render_template(
            "Happy birthday, {first_name}!",
            first_name="",
            last_name="",
            business_name="X",
            birthday_date=datetime.date(2026, 1, 1),
        )
        == "Happy birthday!"
    )
    assert template_errors("{first_name} {last_name} {business_name} {birthday_date} {{literal}}") == []


@responses.activate
def test_llm_text_is_used_and_the_request_has_the_right_shape():
    responses.post(f"{LLM}/chat/completions", json=completion("  Happy birthday Ana! See you soon at Salon A.  "))
    message = llm().generate(REQUEST)
    assert message.body == "Happy birthday Ana! See you soon at Salon A."
    assert message.generator == "llm:gpt-4o-mini" and not message.fallback
    sent = responses.calls[0].request
    assert sent.headers["Authorization"] == "Bearer sk-test"
    payload = json.loads(sent.body)
    assert payload["model"] == "gpt-4o-mini" and payload["messages"][-1]["role"] == "user"
    # Only the first name goes out: no surname, no contact details.
    body = sent.body.decode() if isinstance(sent.body, bytes) else sent.body
    assert "Ana" in body and "Lima" not in body


@pytest.mark.parametrize(
    "reply,reason",
    [
        (dict(status=500, json={"error": {"message": "boom"}}), "HTTP 500"),
        (dict(status=429, json={"error": {"message": "rate limited"}}), "HTTP 429"),
        (dict(json={"choices": []}), "malformed response"),
        (dict(body="<html>oops</html>"), "malformed response"),
        (dict(json=completion("")), "empty message"),
        (dict(json=completion("x" * 400)), "too long"),
        (dict(body=requests.ReadTimeout("slow")), "timeout"),
        (dict(body=requests.ConnectionError("down")), "connection error"),
    ],
)
@responses.activate
def test_any_llm_failure_falls_back_to_the_template_and_says_why(reply, reason):
    responses.post(f"{LLM}/chat/completions", **reply)
    message = llm().generate(REQUEST)
    assert message.body == "Happy birthday Ana from Salon A on March 3!"
    assert message.fallback and message.generator == "template" and reason in message.fallback_reason


def test_generator_choice_follows_settings(settings):
    settings.LLM_API_URL = settings.LLM_API_KEY = settings.LLM_MODEL = None
    assert isinstance(message_generator(), TemplateGenerator)
    settings.LLM_API_URL, settings.LLM_API_KEY = LLM, "sk"
    assert isinstance(message_generator(), TemplateGenerator)  # all three are needed
    settings.LLM_MODEL = "tiny"
    settings.LLM_TIMEOUT_SECONDS = None
    chosen = message_generator()
    assert isinstance(chosen, ChatCompletionsGenerator) and chosen.url == f"{LLM}/chat/completions"
    assert chosen.model == "tiny" and chosen.timeout == generators.DEFAULT_LLM_TIMEOUT_SECONDS


@responses.activate
def test_a_batch_records_the_fallback_on_the_draft(world, settings):
    settings.LLM_API_URL, settings.LLM_API_KEY, settings.LLM_MODEL = LLM, "sk", "gpt-4o-mini"
    responses.post(f"{LLM}/chat/completions", json=completion("Happy birthday from the LLM!"))
    responses.post(f"{LLM}/chat/completions", status=503)
    make_client(world.tenant_a, birthday=(3, 2))
    make_client(world.tenant_a, birthday=(3, 3))
    with tenant_context(world.tenant_a.id, role="system"):
        job = birthday_batch_start(
            tenant=world.tenant_a, acting_user=None, days_ahead=3, start=datetime.date(2026, 3, 1), channel="sms"
        )
    birthday_batch_run(tenant_id=world.tenant_a.id, job_id=job.id)
    with tenant_context(world.tenant_a.id, role="system"):
        first, second = MessageDraft.objects.order_by("occasion_date")
    assert (first.body, first.generator, first.generator_fallback) == (
        "Happy birthday from the LLM!",
        "llm:gpt-4o-mini",
        False,
    )
    assert (
        second.generator == "template" and second.generator_fallback and second.generator_fallback_reason == "HTTP 503"
    )
