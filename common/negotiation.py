"""Content negotiation that answers a bad `?format=` like every other bad parameter."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from rest_framework.negotiation import DefaultContentNegotiation

if TYPE_CHECKING:
    from rest_framework.renderers import BaseRenderer


class StrictContentNegotiation(DefaultContentNegotiation):
    """`?format=` naming no renderer of the view is a 400 naming the parameter (DRF: 404).
    Imported by DRF while `rest_framework.views` loads: no project imports at module level."""

    def filter_renderers(self, renderers: Iterable[BaseRenderer], format: str) -> list[BaseRenderer]:
        from common.errors import InvalidInput

        matching = [renderer for renderer in renderers if renderer.format == format]
        if not matching:
            choices = ", ".join(sorted({renderer.format for renderer in renderers if renderer.format != "api"}))
            raise InvalidInput("format", f"must be one of {choices}.")
        return matching
