"""Reads of client data that are more than a one-liner. Each takes the tenant (`*, tenant`)
and names it through `for_tenant`: the second belt behind RLS, and what lets the statements
use the tenant-leading indexes."""

from __future__ import annotations

import calendar
import datetime
import functools
import re
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import CharField, Count, Exists, F, Field, Func, OuterRef, Prefetch, Q, QuerySet, TextField, Value
from django.db.models.expressions import Expression, RawSQL
from django.db.models.functions import Collate, Lower, StrIndex, Upper
from django.db.models.lookups import GreaterThan, GreaterThanOrEqual, LessThan, LessThanOrEqual

from clients.conf import limit
from clients.models import Client, ClientExternalId, ClientTag, Tag
from clients.normalize import contact_hash, normalize_email, normalize_phone
from clients.rules import BIRTHDAYS_MAX_DAYS_AHEAD, next_birthday
from tenants.db.sharding import is_citus
from tenants.models import Tenant, for_tenant


@dataclass(frozen=True)
class UpcomingBirthday:
    client: Any  # a Client, or a row of client_rows() (a dict)
    date: datetime.date  # the day it is celebrated on
    days_until: int
    turning: int | None  # the age reached, when the birth year is known


# --- the birthday window ------------------------------------------------------------------
# A window's birthdays are read through the clients' (birthday_month, birthday_day) columns,
# compared as rows with constants, so that client_tenant_birthday_idx serves them under RLS:
# the runtime role's conditions reach an index only when every function in them is leakproof,
# and comparisons of integers, text and uuids are; arithmetic (month * 100 + day) is not.

MonthDay = tuple[int, int]


class _Row(Func):
    """ROW(a, b, ...): compared with another row column by column, in an index's order."""

    function = "ROW"
    output_field = Field()


def _month_day() -> _Row:
    return _Row(F("birthday_month"), F("birthday_day"))


def _row_of(*values: Any) -> _Row:
    return _Row(*(Value(value) for value in values))


@dataclass(frozen=True)
class _Stretch:
    """Days of a window that one index range scan reads in the window's order: each month-day
    with the date it is celebrated on. Either consecutive days of one year, each celebrating
    one month-day (read in the index's order: month, day, last name, first name, id); or one
    day celebrating two (Feb 28 of a common year, with the Feb 29 birthdays), whose clients
    are mixed by name."""

    dates: dict[MonthDay, datetime.date]

    @property
    def one_day(self) -> bool:
        return len(self.dates) > 1 and len(set(self.dates.values())) == 1

    def holds(self, date: datetime.date) -> bool:
        return date in self.dates.values()

    def condition(self) -> Q:
        if self.one_day:
            (month,) = {month for month, _ in self.dates}
            return Q(birthday_month=month, birthday_day__in=sorted(day for _, day in self.dates))
        low, high = min(self.dates), max(self.dates)
        condition = Q(GreaterThanOrEqual(_month_day(), _row_of(*low))) & Q(
            LessThanOrEqual(_month_day(), _row_of(*high))
        )
        # The month-days of the range that are not the stretch's: Feb 30 or Apr 31 (the check
        # constraint lets a day up to 31 through) and a Feb 29 celebrated on another day.
        others = [
            (month, day)
            for month in range(low[0], high[0] + 1)
            for day in range(1, 32)
            if low <= (month, day) <= high and (month, day) not in self.dates
        ]
        for month, day in others:
            condition &= ~Q(birthday_month=month, birthday_day=day)
        return condition


def _window_stretches(start: datetime.date, days_ahead: int) -> list[_Stretch]:
    """The window [start, start + days_ahead] as stretches, in order. Each month-day belongs
    to the first day that celebrates it (next_birthday): a window of 366 days sees none twice.
    Feb 29 birthdays are celebrated on Feb 28 in common years."""
    if not 0 <= days_ahead <= BIRTHDAYS_MAX_DAYS_AHEAD:
        raise ValueError(f"days_ahead must be between 0 and {BIRTHDAYS_MAX_DAYS_AHEAD}")
    stretches: list[_Stretch] = []
    current: dict[MonthDay, datetime.date] = {}
    seen: set[MonthDay] = set()
    for offset in range(days_ahead + 1):
        day = start + datetime.timedelta(days=offset)
        celebrated = [(day.month, day.day)]
        if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
            celebrated.append((2, 29))
        celebrated = [month_day for month_day in celebrated if month_day not in seen]
        seen.update(celebrated)
        # A new stretch after new year (the month-days start again) and around a day of two.
        if current and (len(celebrated) > 1 or (celebrated and celebrated[0] < max(current))):
            stretches.append(_Stretch(current))
            current = {}
        if len(celebrated) > 1:
            stretches.append(_Stretch(dict.fromkeys(celebrated, day)))
        else:
            current.update(dict.fromkeys(celebrated, day))
    if current:
        stretches.append(_Stretch(current))
    return stretches


def _in_window(stretches: list[_Stretch]) -> Q:
    condition = Q()
    for stretch in stretches:
        condition |= stretch.condition()
    return condition


def _upcoming(client: Any, start: datetime.date, get: Any) -> UpcomingBirthday:
    month, day, year = get(client)
    occurs = next_birthday(month, day, start)
    return UpcomingBirthday(client, occurs, (occurs - start).days, occurs.year - year if year else None)


def birthdays_upcoming(
    *,
    tenant: Tenant,
    start: datetime.date,
    days_ahead: int,
    clients: QuerySet[Any] | None = None,
    as_rows: bool = False,
) -> list[UpcomingBirthday]:
    """The tenant's clients whose next birthday falls in [start, start + days_ahead].

    `start` is a local date of the tenant (callers default it to `tenant.today()`). The
    comparison is on month and day only: a birthday is a date in a past year. Each result's
    `client` is a Client, or with `as_rows` a row of client_rows() (what the API shows);
    with `as_rows`, `clients` (when given) is a queryset of such rows (tenant_client_rows).
    """
    stretches = _window_stretches(start, days_ahead)
    if clients is None:
        clients = tenant_client_rows(tenant=tenant) if as_rows else Client.objects.all()
    # Archived clients were deleted at their provider: no birthday messages. No ORDER BY: the
    # birthdays are sorted below, by date.
    records: Any = for_tenant(clients, tenant).filter(_in_window(stretches), archived_at__isnull=True).order_by()
    get = itemgetter if as_rows else attrgetter
    month_day_year = get("birthday_month", "birthday_day", "birth_year")
    order = get("last_name", "first_name", "id")
    upcoming = [_upcoming(client, start, month_day_year) for client in records]

    def by_date_then_name(item: UpcomingBirthday) -> tuple[datetime.date, str, str, str]:
        last_name, first_name, client_id = order(item.client)
        return (item.date, last_name, first_name, str(client_id))

    upcoming.sort(key=by_date_then_name)
    return upcoming


@dataclass(frozen=True)
class BirthdayPage:
    birthdays: list[UpcomingBirthday]  # sorted as birthdays_upcoming sorts
    scanned: int  # clients of the window read for this page (>= len(birthdays))
    after_id: uuid.UUID | None  # where the next page starts; None: this was the last


def _birthday_window(tenant: Tenant, stretches: list[_Stretch], clients: QuerySet[Any] | None = None) -> QuerySet[Any]:
    window: QuerySet[Any] = for_tenant(Client.objects.all() if clients is None else clients, tenant).filter(
        _in_window(stretches), archived_at__isnull=True
    )
    return window


def birthdays_upcoming_count(
    *, tenant: Tenant, start: datetime.date, days_ahead: int, clients: QuerySet[Any] | None = None
) -> int:
    """How many clients birthdays_upcoming_page will scan for this window, all pages: the
    tenant's, or those of `clients` (the birthdays endpoint's filtered rows). One count per
    stretch of the window (one or two, four at most): without other filters, each reads
    the birthday index alone."""
    count = 0
    for stretch in _window_stretches(start, days_ahead):
        count += _birthday_window(tenant, [stretch], clients).values("id").order_by().count()
    return count


def birthdays_upcoming_page(
    *, tenant: Tenant, start: datetime.date, days_ahead: int, after_id: uuid.UUID | None, size: int
) -> BirthdayPage:
    """One page of birthdays_upcoming, in client id order, for jobs that work in chunks
    (campaigns.batches): the next `size` clients of the window after client `after_id`.
    Keyset, not offsets: a client added or removed between two pages neither shifts nor
    repeats the others."""
    page = _birthday_window(tenant, _window_stretches(start, days_ahead))
    if after_id is not None:
        page = page.filter(id__gt=after_id)
    ids = list(page.order_by("id").values_list("id", flat=True)[:size])
    if not ids:
        return BirthdayPage(birthdays=[], scanned=0, after_id=None)
    birthdays = birthdays_upcoming(
        tenant=tenant,
        start=start,
        days_ahead=days_ahead,
        clients=for_tenant(Client.objects.all(), tenant).filter(id__in=ids),
    )
    return BirthdayPage(birthdays=birthdays, scanned=len(ids), after_id=ids[-1] if len(ids) == size else None)


# --- the birthdays endpoint: the window in its order, a page at a time ---------------------


@dataclass(frozen=True)
class BirthdayPosition:
    """A birthday's place in a window's order (birthdays_upcoming's): the day it is celebrated
    on, then the client's last name, first name and id."""

    date: datetime.date
    last_name: str
    first_name: str
    id: uuid.UUID

    @classmethod
    def of(cls, item: UpcomingBirthday) -> BirthdayPosition:
        row = item.client
        return cls(item.date, row["last_name"], row["first_name"], row["id"])


@dataclass(frozen=True)
class BirthdayWindowPage:
    birthdays: list[UpcomingBirthday]  # in the window's order, whichever way it was read
    more: bool  # more birthdays lie beyond the page, in the direction it was read


def _stretch_rows(
    clients: QuerySet[Any], stretch: _Stretch, *, after: BirthdayPosition | None, backwards: bool, limit: int
) -> list[Any]:
    """Up to `limit` rows of the stretch in the window's order (backwards: in reverse), after
    the position (backwards: before it): one range scan of client_tenant_birthday_idx. The
    names compare by code point (COLLATE "C", the index's), as birthdays_upcoming sorts them."""
    rows = clients.filter(stretch.condition()).alias(
        last_name_c=Collate("last_name", "C"), first_name_c=Collate("first_name", "C")
    )
    keys: list[Any] = [F("last_name_c"), F("first_name_c"), F("id")]
    position: list[Any] = [] if after is None else [after.last_name, after.first_name, after.id]
    if not stretch.one_day:
        keys[:0] = [F("birthday_month"), F("birthday_day")]
        position[:0] = [] if after is None else [after.date.month, after.date.day]
    if after is not None:
        compare = LessThan if backwards else GreaterThan
        rows = rows.filter(compare(_Row(*keys), _row_of(*position)))
    return list(rows.order_by(*(key.desc() if backwards else key.asc() for key in keys))[:limit])


def birthdays_window_page(
    *,
    tenant: Tenant,
    start: datetime.date,
    days_ahead: int,
    size: int,
    position: BirthdayPosition | None = None,
    backwards: bool = False,
    clients: QuerySet[Any] | None = None,
) -> BirthdayWindowPage:
    """A page of birthdays_upcoming(as_rows=True): the `size` birthdays of the window after
    `position` (from the first, without one), or with `backwards` the `size` before it (from
    the last, without one). `clients` (when given) is a queryset of client_rows().

    Keyset pages read in SQL in the window's order: about a page of index entries per page,
    whatever the size of the window or of the tenant (a filter that few clients pass reads
    further). ValueError when the position's date is not a day of the window."""
    stretches = _window_stretches(start, days_ahead)
    clients = for_tenant(tenant_client_rows(tenant=tenant) if clients is None else clients, tenant)
    clients = clients.filter(archived_at__isnull=True)  # as birthdays_upcoming
    if position is not None:
        at = next((n for n, stretch in enumerate(stretches) if stretch.holds(position.date)), None)
        if at is None:
            raise ValueError(f"{position.date} is not a day of the window")
        stretches = stretches[at::-1] if backwards else stretches[at:]
    elif backwards:
        stretches.reverse()
    rows: list[Any] = []
    for stretch in stretches:
        after = position if position is not None and stretch.holds(position.date) else None
        rows += _stretch_rows(clients, stretch, after=after, backwards=backwards, limit=size + 1 - len(rows))
        if len(rows) > size:
            break
    more, rows = len(rows) > size, rows[:size]
    if backwards:
        rows.reverse()
    month_day_year = itemgetter("birthday_month", "birthday_day", "birth_year")
    return BirthdayWindowPage(birthdays=[_upcoming(row, start, month_day_year) for row in rows], more=more)


# --- the client list -----------------------------------------------------------------------


def client_list(*, tenant: Tenant) -> QuerySet[Client]:
    """The tenant's clients with what the list shows (tags, external ids) prefetched.

    The prefetches carry the tenant too: it is the second belt behind RLS, and it lets them
    use the tenant-leading indexes instead of a client_id-only scan."""
    return for_tenant(Client.objects.all(), tenant).prefetch_related(
        Prefetch(
            "client_tags",
            queryset=for_tenant(ClientTag.objects.all(), tenant).select_related("tag").order_by("tag__name"),
        ),
        Prefetch(
            "external_ids",
            queryset=for_tenant(ClientExternalId.objects.all(), tenant).order_by("provider", "external_id"),
        ),
    )


# What the API shows of a client, read as rows (clients.api.serializers.client_json).
CLIENT_ROW_FIELDS = (
    "id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "phone_extension",
    "birthday_month",
    "birthday_day",
    "birth_year",
    "notes",
    "source",
    "email_consent",
    "email_consent_at",
    "sms_consent",
    "sms_consent_at",
    "archived_at",
    "created_at",
    "updated_at",
)


class _Pair(Func):
    """ARRAY[a, b]: a provider and its id, as one text array (no JSON to parse per row)."""

    function = "ARRAY"
    template = "%(function)s[%(expressions)s]"
    output_field = ArrayField(CharField())


def client_rows(queryset: QuerySet[Client], *, tenant: Tenant) -> QuerySet[Any]:
    """The clients of `queryset` as rows (dicts of CLIENT_ROW_FIELDS), each with its tag names
    (`tag_names`, unordered) and external ids (`external_id_pairs`: [provider, id] pairs,
    ordered like the prefetch of client_list) aggregated in the same statement: no model
    instance, no second query, and only text arrays, which psycopg reads natively. The
    subqueries carry the tenant as a constant, like the prefetches: the tenant-leading
    indexes serve them, and on Citus every table is pruned to one shard."""
    return _client_rows(for_tenant(queryset, tenant), str(tenant.id))


def _client_rows(queryset: QuerySet[Client], tenant_id: str) -> QuerySet[Any]:
    aggregates: Mapping[str, RawSQL | ArraySubquery]
    if queryset.query.base_table in (None, Client._meta.db_table):
        aggregates = _compiled_row_aggregates(tenant_id)
    else:  # the clients table under another alias: let the ORM place the outer reference
        aggregates = _row_aggregates(tenant_id)
    rows: QuerySet[Any] = queryset.prefetch_related(None).values(*CLIENT_ROW_FIELDS, **aggregates)
    return rows


def tenant_client_rows(*, tenant: Tenant, include_archived: bool = True) -> QuerySet[Any]:
    """The tenant's clients as rows (client_rows), to filter, order and slice like any
    queryset of clients: the base of the lists. Every client, or with `include_archived=False`
    only those not archived. The queryset is built once per process, tenant and choice (values()
    with its two subqueries cost about as much as the rest of a list's Python work); each
    call returns a new copy of it."""
    return _tenant_client_rows(str(tenant.id), include_archived).all()


@functools.lru_cache(maxsize=2048)  # two per tenant: with and without the archived
def _tenant_client_rows(tenant_id: str, include_archived: bool) -> QuerySet[Any]:
    # Never evaluated itself (no result cache to share): callers get copies (.all()).
    clients = for_tenant(Client._base_manager.all(), tenant_id)
    if not include_archived:
        clients = clients.filter(archived_at__isnull=True)
    return _client_rows(clients, tenant_id)


def _row_aggregates(tenant_id: str) -> dict[str, ArraySubquery]:
    """client_rows' two subqueries for one tenant, as ORM expressions. (`_base_manager`: the
    tenant is named here, whatever the context.)"""
    tags = for_tenant(ClientTag._base_manager.all(), tenant_id).filter(client_id=OuterRef("id")).values("tag__name")
    external_ids = (
        for_tenant(ClientExternalId._base_manager.all(), tenant_id)
        .filter(client_id=OuterRef("id"))
        .order_by("provider", "external_id")
        .values(pair=_Pair("provider", "external_id"))
    )
    return {
        "tag_names": ArraySubquery(tags),
        "external_id_pairs": ArraySubquery(external_ids, output_field=ArrayField(ArrayField(CharField()))),
    }


@functools.lru_cache(maxsize=1024)
def _compiled_row_aggregates(tenant_id: str) -> dict[str, RawSQL]:
    """_row_aggregates compiled by the ORM once per process and tenant, for a query whose
    clients table has its own name as alias (every list's): building and compiling the two
    correlated subqueries on every request cost as much as the rest of the list's SQL work.
    The SQL is the ORM's own (tests/test_client_rows.py compares both forms' rows)."""
    outer = Client._base_manager.all().query
    compiler = outer.get_compiler(using="default")
    compiled = {}
    for name, expression in _row_aggregates(tenant_id).items():
        resolved = expression.resolve_expression(outer)
        sql, params = resolved.as_sql(compiler, compiler.connection)
        compiled[name] = RawSQL(sql, tuple(params), output_field=resolved.output_field)
    assert outer.base_table == Client._meta.db_table  # the alias the outer references name
    return compiled


_DIGITS_RE = re.compile(r"\D")


class _SearchedText(Func):
    """first_name || ' ' || last_name || E'\\n' || email: what a search looks into, one text.

    "first last" holds every text that the first or the last name holds, so one comparison
    finds a name in either and across both. The email follows a line break, which a query
    never holds (client_search collapses its whitespace): no match spans the name and the
    email, and one upper() and one strpos() per client do the work of two (the columns are
    NOT NULL: no COALESCE, which Concat would wrap around each part)."""

    template = "(%(expressions)s)"
    arg_joiner = " || "

    def __init__(self) -> None:
        super().__init__(F("first_name"), Value(" "), F("last_name"), Value("\n"), F("email"), output_field=CharField())


def client_search(queryset: QuerySet[Any], query: str, *, tenant: Tenant) -> QuerySet[Any]:
    """The tenant's clients of `queryset` that match a name (first, last or both, any case),
    an email (part or whole), or a phone written in any format: the query is also normalized
    as a phone of the tenant's country and compared by hash, so `(415) 555-0123` finds
    `+14155550123`."""
    queryset = for_tenant(queryset, tenant)
    region = tenant.country
    query = " ".join((query or "").split())
    if not query:
        return queryset
    condition = Q(_contains_searched_text(query))
    try:
        condition |= Q(email_hash=contact_hash(normalize_email(query)))
    except ValidationError:
        pass
    try:
        condition |= Q(phone_hash=contact_hash(normalize_phone(query, region=region)))
    except ValidationError:
        pass
    digits = _DIGITS_RE.sub("", query)
    if len(digits) >= 4 and len(digits) >= len(query.replace(" ", "")) - 4:
        # Mostly digits: a partial number ("555-01") matches inside the stored E.164 form.
        condition |= Q(phone__contains=digits)
    found: QuerySet[Any] = queryset.filter(condition)
    return found


class _SearchKey(Expression):
    """The client's search key: _SearchedText upper-cased, kept by a trigger (migration clients
    0013). No model field declares it (nothing in the application writes it), so it is named
    through the alias the query's clients table has when the SQL is written: the table's own
    name in a list, another one (U0, ...) when the query is a subquery of another."""

    output_field = TextField()

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[str | int, ...]]:
        if compiler.query.model is not Client:
            raise TypeError("the search key belongs to a query of clients")
        alias = compiler.query.get_initial_alias()
        return f"{compiler.quote_name_unless_alias(alias)}.search_key", ()


def _contains_searched_text(query: str) -> GreaterThan:
    """The client's searched text (_SearchedText) holds `query` (no line break in it), any case.

    On PostgreSQL it is read upper-cased from the client's search key (_SearchKey): building
    it per client walked cost half as much again. On Citus, which keeps no key, the text is
    built per client."""
    if is_citus(connection):
        return _contains(_SearchedText(), query)
    return GreaterThan(StrIndex(_SearchKey(), Upper(Value(query))), 0)


def _contains(text: Any, query: str) -> GreaterThan:
    """`text` holds `query`, any case: strpos(upper(text), upper(query)) > 0, the same test as
    Django's `icontains` (UPPER(text) LIKE UPPER('%query%'), the query's % and _ escaped).

    Written with strpos() for the planner's sake. Under RLS it may not read a column's
    statistics through an operator that is not leakproof (LIKE is not), so it guesses LIKE's
    selectivity from the pattern's length: a term of six letters looks like a hundred clients
    of 100,000, and the plan reads every client of the tenant and sorts them for one page. A
    function compared with a constant is guessed to keep a third of the rows: the plan walks
    the list's index in the list's order and stops after a page (a term that matches nothing
    still reads the whole tenant: no index can serve a substring under RLS)."""
    return GreaterThan(StrIndex(Upper(text), Upper(Value(query))), 0)


def client_has_tag(queryset: QuerySet[Any], name: str, *, tenant: Tenant) -> QuerySet[Any]:
    """The tenant's clients of `queryset` carrying the tag `name` (any case). EXISTS, not a
    join: no duplicate rows."""
    queryset = for_tenant(queryset, tenant)
    tagged = (
        for_tenant(ClientTag.objects.all(), tenant)
        .filter(client_id=OuterRef("id"))
        .alias(tag_name=Lower("tag__name"))
        .filter(tag_name=Lower(Value(" ".join(name.split()))))
    )
    return queryset.filter(Exists(tagged))


def tag_counts(*, tenant: Tenant) -> QuerySet[Tag]:
    """The tenant's tags, each with the number of clients carrying it."""
    return for_tenant(Tag.objects.all(), tenant).annotate(client_count=Count("client_tags"))


# --- duplicates --------------------------------------------------------------------------


@dataclass(frozen=True)
class DuplicateGroup:
    clients: list[Client]  # oldest first: the natural merge target
    reasons: list[str]  # "email" and/or "phone"


def client_duplicates(*, tenant: Tenant, max_groups: int | None = None) -> list[DuplicateGroup]:
    """Groups of clients sharing an email or a phone (by hash), to offer for merging.

    Clients linked through a chain (A shares an email with B, B a phone with C) form one
    group. Families legitimately share a phone or an email: these are suggestions only.
    """
    max_groups = max_groups or limit("CLIENTS_DUPLICATE_GROUPS_MAX")
    base = for_tenant(Client.objects.all(), tenant)
    shared: dict[str, QuerySet[Any]] = {}
    for kind in ("email", "phone"):
        column = f"{kind}_hash"
        shared[kind] = (
            base.exclude(**{column: ""}).values(column).annotate(n=Count("id")).filter(n__gt=1).values(column)
        )
    candidates = list(
        base.filter(Q(email_hash__in=shared["email"]) | Q(phone_hash__in=shared["phone"]))
        .prefetch_related(
            Prefetch("client_tags", queryset=for_tenant(ClientTag.objects.select_related("tag"), tenant)),
            Prefetch("external_ids", queryset=for_tenant(ClientExternalId.objects.all(), tenant)),
        )
        .order_by("created_at", "id")
    )
    parent = {c.id: c.id for c in candidates}

    def find(x: uuid.UUID) -> uuid.UUID:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for kind in ("email", "phone"):
        first_with: dict[str, uuid.UUID] = {}
        for client in candidates:
            value = getattr(client, f"{kind}_hash")
            if not value:
                continue
            if value in first_with:
                parent[find(client.id)] = find(first_with[value])
            else:
                first_with[value] = client.id
    groups: dict[uuid.UUID, list[Client]] = defaultdict(list)
    for client in candidates:
        groups[find(client.id)].append(client)
    result = []
    for members in groups.values():
        if len(members) < 2:
            continue
        reasons = set()
        for kind in ("email", "phone"):
            values = [getattr(c, f"{kind}_hash") for c in members if getattr(c, f"{kind}_hash")]
            if len(values) != len(set(values)):
                reasons.add(kind)
        result.append(DuplicateGroup(clients=members, reasons=sorted(reasons)))
    result.sort(key=lambda g: (g.clients[0].created_at, str(g.clients[0].id)))
    return result[:max_groups]
