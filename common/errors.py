"""The errors services and selectors raise: plain Python, no HTTP.

Every app raises these (or subclasses of them) for a mistake in what it was asked to do; one
mapping at the edge (`common.http_errors`) turns each kind into an HTTP status and the one
error body every endpoint answers with:

    {"code": "<stable code>", "detail": "<one sentence for a person>",
     "fields": {"<input name>": ["<what is wrong with it>", ...]}}      # when inputs are at fault

A subclass may name a more precise `code` (e.g. `confirmation_mismatch`); its kind (the base
class) decides the status:

    InvalidInput 400 · NotFound 404 · Conflict 409 · Gone 410 · Locked 423 ·
    Unavailable 503 · any other DomainError 500 (its detail stays in the log)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "error"
    default_detail: ClassVar[str] = "The request could not be processed."

    def __init__(
        self,
        detail: str | None = None,
        *,
        fields: Mapping[str, str | Sequence[str]] | None = None,
        extra: Mapping[str, Any] | None = None,
        code: str | None = None,
    ) -> None:
        self.detail = detail or self.default_detail
        if code is not None:
            self.code = code  # type: ignore[misc]  # an instance may be more precise than its class
        # {input name: [messages]}: the same shape as a serializer's field errors.
        self.fields = {
            name: [messages] if isinstance(messages, str) else list(messages)
            for name, messages in (fields or {}).items()
        }
        # What a particular error adds beside `fields` (documented with it), e.g. a job's id.
        self.extra = dict(extra or {})
        super().__init__(self.detail)


class _NamingAnInput(DomainError):
    """An error about one input: `Error(field, message)` names it in `fields` (and the detail
    reads "field: message"); `Error(message=...)` is about the request as a whole."""

    def __init__(self, field: str | None = None, message: str | None = None, **kwargs: Any) -> None:
        if field is not None and message is not None:
            kwargs.setdefault("fields", {field: message})
            super().__init__(f"{field}: {message}", **kwargs)
        else:
            super().__init__(message, **kwargs)


class InvalidInput(_NamingAnInput):
    """400: an input is malformed or out of range. `field` names it (a body field or a query
    parameter); `None` when the request as a whole is at fault."""

    code: ClassVar[str] = "validation_error"
    default_detail: ClassVar[str] = "The request has invalid fields."


class ConfirmationMismatch(InvalidInput):
    """An irreversible action (an erasure, a business's deletion) whose `confirm` does not
    repeat what it acts on."""

    code: ClassVar[str] = "confirmation_mismatch"
    default_detail: ClassVar[str] = "`confirm` must repeat exactly what the request acts on; nothing was done."

    def __init__(self, message: str | None = None) -> None:
        super().__init__("confirm", message or self.default_detail)
        self.detail = self.default_detail if message is None else self.detail


class NotFound(DomainError):
    """404: no such object in this tenant. A missing id and another tenant's id answer alike."""

    code: ClassVar[str] = "not_found"
    default_detail: ClassVar[str] = "Not found."


class Conflict(_NamingAnInput):
    """409: the request is well formed but contradicts what is stored: a value that must be
    unique is already used ("name is already used"), or the object's state does not allow it
    ("already fully refunded"). `field` names the input at fault, when one is."""

    code: ClassVar[str] = "conflict"
    default_detail: ClassVar[str] = "The request conflicts with the current state of the data."


class Gone(DomainError):
    """410: it existed and is no longer available (an expired export)."""

    code: ClassVar[str] = "gone"
    default_detail: ClassVar[str] = "This is no longer available."


class Locked(DomainError):
    """423: the tenant (or object) is read-only for now (a business scheduled for deletion)."""

    code: ClassVar[str] = "locked"
    default_detail: ClassVar[str] = "This is read-only for now."


class Unavailable(DomainError):
    """503: a backing service (the broker, an outside provider) is unavailable; retry later."""

    code: ClassVar[str] = "service_unavailable"
    default_detail: ClassVar[str] = "A backing service is unavailable; try again shortly."


class StatementTimeout(Unavailable):
    """A statement ran past its statement_timeout (DATABASE_STATEMENT_TIMEOUT_MS, set with the
    tenant context): the request did too much at once, or waited on a lock too long."""

    code: ClassVar[str] = "statement_timeout"
    default_detail: ClassVar[str] = (
        "The request took too long in the database and was stopped; nothing was changed. "
        "Retry, or ask for less (a shorter period, a smaller page)."
    )
