"""House rules the README states, checked so that they stay true."""

from __future__ import annotations

from brandvx.celery import app


def test_every_task_states_in_its_docstring_how_it_is_idempotent():
    app.loader.import_default_modules()
    ours = {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}
    assert ours, "no project task was registered"
    undocumented = sorted(name for name, task in ours.items() if "dempotent" not in (task.__doc__ or ""))
    assert undocumented == []
