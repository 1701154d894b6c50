from rest_framework.pagination import CursorPagination


class DefaultCursorPagination(CursorPagination):
    """Stable cursor pagination; `page_size` is capped so nobody can ask for a million rows.

    Views choose their order with `cursor_ordering` (unique last key keeps pages stable);
    a view with an OrderingFilter lets the client choose instead.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = ("-created_at", "-id")

    def get_ordering(self, request, queryset, view):
        has_ordering_filter = any(hasattr(backend, "get_ordering") for backend in getattr(view, "filter_backends", []))
        if not has_ordering_filter and getattr(view, "cursor_ordering", None):
            ordering = view.cursor_ordering
            return (ordering,) if isinstance(ordering, str) else tuple(ordering)
        return super().get_ordering(request, queryset, view)
