"""The OpenAPI schema is a contract: clients are generated from it. Any change to it shows up
here as a diff against docs/openapi.yaml; when the change is meant, regenerate the file with
`python manage.py spectacular --file docs/openapi.yaml` (test settings) and commit it."""

from pathlib import Path

from django.core.management import call_command

SNAPSHOT = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


def test_the_schema_is_the_committed_one(tmp_path):
    generated = tmp_path / "openapi.yaml"
    call_command("spectacular", file=str(generated))
    assert generated.read_text() == SNAPSHOT.read_text(), (
        "the OpenAPI schema changed; if that is intended, regenerate docs/openapi.yaml (see this module's docstring)"
    )
