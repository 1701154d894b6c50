"""The birthdays endpoint's pages: keyset cursors over a birthday window, in its order (the
date, then the client's last name, first name and id), read by
clients.selectors.birthdays_window_page. `page_size` as on every list
(common.pagination.DefaultCursorPagination)."""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import uuid
from dataclasses import dataclass
from typing import Any

from rest_framework.request import Request
from rest_framework.utils.urls import remove_query_param, replace_query_param

from clients.models import NAME_MAX_LENGTH
from clients.selectors import BirthdayPosition, UpcomingBirthday
from common.errors import InvalidInput
from common.pagination import DefaultCursorPagination

CURSOR = "cursor"
# A position holds two names of up to NAME_MAX_LENGTH characters (4 bytes each in UTF-8, JSON
# escapes aside), in base64: longer than the lists' cursors (common.pagination).
CURSOR_MAX_LENGTH = 2000
NOT_A_CURSOR = "is not a cursor from this list; use `next` or `previous`."
_PAGES = DefaultCursorPagination()
PAGE_SIZE_SCHEMA = {"type": "integer", "minimum": 1, "maximum": _PAGES.max_page_size, "default": _PAGES.page_size}


def page_size(request: Request) -> int:
    """`page_size`, strict, with the lists' default and maximum."""
    return _PAGES.get_page_size(request)


@dataclass(frozen=True)
class BirthdayCursor:
    """Where a page starts: after `position`, or with `backwards` before it. Opaque to
    clients: base64 of a JSON array."""

    position: BirthdayPosition
    backwards: bool = False

    def encode(self) -> str:
        p = self.position
        fields = ["<" if self.backwards else ">", p.date.isoformat(), p.last_name, p.first_name, str(p.id)]
        text = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def of_request(cls, request: Request) -> BirthdayCursor | None:
        """The request's cursor; None without one; 400 naming `cursor` for anything else this
        server did not hand out."""
        raw = request.query_params.get(CURSOR)
        if not raw:  # an empty cursor is the first page, as on the lists (DRF's CursorPagination)
            return None
        try:
            if len(raw) > CURSOR_MAX_LENGTH:
                raise ValueError("too long")
            fields = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode())
            direction, date, last_name, first_name, client_id = fields
            if direction not in ("<", ">") or not all(isinstance(name, str) for name in (date, last_name, first_name)):
                raise ValueError("not a position")
            if any(len(name) > NAME_MAX_LENGTH or "\x00" in name for name in (last_name, first_name)):
                raise ValueError("not a name")
            position = BirthdayPosition(
                datetime.date.fromisoformat(date), last_name, first_name, uuid.UUID(str(client_id))
            )
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            # json.JSONDecodeError is a ValueError; so is a list of the wrong length.
            raise InvalidInput(CURSOR, NOT_A_CURSOR) from None
        return cls(position, backwards=direction == "<")


def page_links(
    request: Request,
    *,
    start: datetime.date,
    cursor: BirthdayCursor | None,
    birthdays: list[UpcomingBirthday],
    more: bool,
) -> dict[str, str | None]:
    """`next` and `previous` of a page read after (or, by a backwards cursor, before) `cursor`.
    The links name the window's first day (`from`): a window that began yesterday stays the
    same window when today changes between two pages."""
    url = replace_query_param(request.build_absolute_uri(), "from", start.isoformat())

    def link(position: BirthdayPosition | None, *, backwards: bool = False) -> str:
        if position is None:
            return str(remove_query_param(url, CURSOR))
        return str(replace_query_param(url, CURSOR, BirthdayCursor(position, backwards).encode()))

    first = BirthdayPosition.of(birthdays[0]) if birthdays else None
    last = BirthdayPosition.of(birthdays[-1]) if birthdays else None
    links: dict[str, Any] = {"next": None, "previous": None}
    if cursor is not None and cursor.backwards:
        # Everything before the cursor's position, read backwards: `more` is about the front.
        links["previous"] = link(first, backwards=True) if more and first else None
        links["next"] = link(last)  # from the first page when nothing came before
    else:
        links["next"] = link(last) if more and last else None
        if cursor is not None:
            links["previous"] = link(first or cursor.position, backwards=True)
    return links
