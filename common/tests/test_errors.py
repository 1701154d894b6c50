"""The one error vocabulary: each kind of domain error answers with its status and the one
body shape, `{code, detail[, fields]}` (common.errors, common.http_errors)."""

from __future__ import annotations

import pytest
from rest_framework import exceptions

from common import errors
from common.http_errors import exception_handler


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        (
            errors.InvalidInput("start", "must be a date."),
            400,
            {"code": "validation_error", "detail": "start: must be a date.", "fields": {"start": ["must be a date."]}},
        ),
        (
            errors.ConfirmationMismatch(),
            400,
            {
                "code": "confirmation_mismatch",
                "detail": errors.ConfirmationMismatch.default_detail,
                "fields": {"confirm": [errors.ConfirmationMismatch.default_detail]},
            },
        ),
        (errors.NotFound(), 404, {"code": "not_found", "detail": "Not found."}),
        (
            errors.Conflict("name", "is already used in this tenant."),
            409,
            {
                "code": "conflict",
                "detail": "name: is already used in this tenant.",
                "fields": {"name": ["is already used in this tenant."]},
            },
        ),
        (
            errors.Conflict(message="Already running.", code="sync_in_progress", extra={"job_id": "j"}),
            409,
            {"code": "sync_in_progress", "detail": "Already running.", "job_id": "j"},
        ),
        (errors.Gone(), 410, {"code": "gone", "detail": errors.Gone.default_detail}),
        (errors.Locked(), 423, {"code": "locked", "detail": errors.Locked.default_detail}),
        (errors.Unavailable(), 503, {"code": "service_unavailable", "detail": errors.Unavailable.default_detail}),
        (
            errors.StatementTimeout(),
            503,
            {"code": "statement_timeout", "detail": errors.StatementTimeout.default_detail},
        ),
    ],
)
def test_each_kind_answers_with_its_status_and_the_one_shape(error, status, body):
    response = exception_handler(error, {})
    assert (response.status_code, response.data) == (status, body)


def test_an_unexpected_domain_error_is_a_500_whose_detail_stays_in_the_log(caplog):
    response = exception_handler(errors.DomainError("row 7 of table x is inconsistent"), {})
    assert response.status_code == 500
    assert response.data == {"code": "error", "detail": errors.DomainError.default_detail}
    assert "row 7 of table x" in caplog.text


def test_a_serializers_field_errors_have_the_same_shape():
    response = exception_handler(exceptions.ValidationError({"email": ["Enter a valid email address."]}), {})
    assert response.status_code == 400
    assert response.data == {
        "code": "validation_error",
        "detail": errors.InvalidInput.default_detail,
        "fields": {"email": ["Enter a valid email address."]},
    }
