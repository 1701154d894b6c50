"""Message templates a salon edits: which placeholders exist, how a template is checked and
rendered. Kept free of models so generators, validators and the admin share one definition."""

from __future__ import annotations

import datetime
import re
import string

from django.core.exceptions import ValidationError

PLACEHOLDERS = ("first_name", "last_name", "business_name", "birthday_date")
MAX_TEMPLATE_LENGTH = 1000
DEFAULT_BIRTHDAY_TEMPLATE = "Happy birthday, {first_name}! Everyone at {business_name} wishes you a wonderful day."


def template_errors(template: str) -> list[str]:
    """Why `template` cannot be rendered safely; empty when it is fine.

    Only bare placeholders are allowed: no attribute access (`{first_name.__class__}`), no
    indexing, no conversion, and no format spec (`{first_name:>999999999}` would allocate
    gigabytes at render time).
    """
    if not template or not template.strip():
        return ["The template is empty."]
    if len(template) > MAX_TEMPLATE_LENGTH:
        return [f"The template is longer than {MAX_TEMPLATE_LENGTH} characters."]
    errors = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:  # unmatched or single braces
        return [f"Invalid braces: {exc}. Write {{{{ or }}}} for a literal brace."]
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in PLACEHOLDERS:
            errors.append(
                f"Unknown placeholder {{{field}}}; use one of: " + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS) + "."
            )
        elif spec or conversion:
            errors.append(f"Placeholder {{{field}}} may not carry a format or conversion.")
    return errors


def validate_template(template: str) -> None:
    errors = template_errors(template)
    if errors:
        raise ValidationError(" ".join(errors))


def format_birthday_date(value: datetime.date) -> str:
    return f"{value:%B} {value.day}"


def render_template(
    template: str, *, first_name: str, last_name: str, business_name: str, birthday_date: datetime.date
) -> str:
    """Render a template that passed `template_errors` (placeholders only, nothing else)."""
    text = template.format(
        first_name=first_name or "",
        last_name=last_name or "",
        business_name=business_name,
        birthday_date=format_birthday_date(birthday_date),
    )
    # A client without a first name leaves "Happy birthday, !": tidy the obvious gaps.
    text = text.replace(" ,", ",").replace(", !", "!")
    return re.sub(r"[ \t]+", " ", text).strip()
