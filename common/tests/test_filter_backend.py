"""StrictFilterBackend builds a FilterSet of the filters a request names, and none when it
names none: the same rows and the same errors as the whole FilterSet, less work."""

from django.http import QueryDict

from clients.api.filters import ClientFilter
from common.validation import _named_filters, _narrowed


def test_the_named_filters_are_found_by_name_and_by_range_suffix():
    class WithRange(ClientFilter):
        pass

    WithRange.base_filters = {**ClientFilter.base_filters, "created": ClientFilter.base_filters["tag"]}
    query = QueryDict("search=a&created_after=2026-01-01&page_size=5&unknown=1")
    assert _named_filters(WithRange, query) == {"search", "created"}
    assert _named_filters(ClientFilter, QueryDict("cursor=x&ordering=last_name")) == frozenset()


def test_a_narrowed_filterset_has_only_the_named_filters_and_is_made_once():
    narrowed = _narrowed(ClientFilter, frozenset({"search", "tag"}))
    assert set(narrowed.base_filters) == {"search", "tag"}
    assert issubclass(narrowed, ClientFilter) and narrowed.__name__ == "ClientFilter"
    assert _narrowed(ClientFilter, frozenset({"tag", "search"})) is narrowed
    assert set(ClientFilter.base_filters) > {"search", "tag"}  # the declared class is untouched
    assert _narrowed(ClientFilter, frozenset(ClientFilter.base_filters)) is ClientFilter
    form = narrowed(data=QueryDict("search=amy&tag=vip")).form
    assert set(form.fields) == {"search", "tag"}
