"""Every log record carries `tenant_id`, `user_id` and `job_id`.

Values passed in `extra=` win; otherwise they come from the active tenant context (and a job
id from the running Celery task's `job_id` argument when it set one with `job_id_scope`).
The formatter in the settings prints them, so a support engineer can follow one tenant's or
one job's story through the logs. Installed as a handler filter: it sees every record, from
every logger, including third-party ones.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import logging
from collections.abc import Iterator
from typing import Any

from tenants import context

_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("brandvx_log_job_id", default=None)


@contextlib.contextmanager
def job_id_scope(job_id: object) -> Iterator[None]:
    """Log records inside the block carry this job id (background job runners use it)."""
    token = _job_id.set(str(job_id) if job_id else None)
    try:
        yield
    finally:
        _job_id.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = context.current()
        if getattr(record, "tenant_id", None) is None:
            record.tenant_id = str(ctx.tenant_id) if ctx is not None and ctx.tenant_id else "-"
        if getattr(record, "user_id", None) is None:
            record.user_id = str(ctx.user_id) if ctx is not None and ctx.user_id else "-"
        if getattr(record, "job_id", None) is None:
            record.job_id = _job_id.get() or "-"
        return True


_task_tokens: dict[str, contextvars.Token[str | None]] = {}


def task_started(
    task_id: str | None = None,
    task: Any = None,
    args: tuple[Any, ...] | None = None,
    kwargs: dict[str, Any] | None = None,
    **_: Any,
) -> None:
    """celery task_prerun: a task called with `job_id=` logs with it."""
    job_id = (kwargs or {}).get("job_id")
    if job_id is None and args and task is not None:
        try:
            bound = inspect.signature(task.run).bind_partial(*args)
            job_id = bound.arguments.get("job_id")
        except TypeError:
            job_id = None
    if job_id is not None and task_id is not None:
        _task_tokens[task_id] = _job_id.set(str(job_id))


def task_ended(task_id: str | None = None, **_: Any) -> None:
    """celery task_postrun: forget the task's job id."""
    token = _task_tokens.pop(task_id, None) if task_id is not None else None
    if token is not None:
        _job_id.reset(token)
