"""Links that higher apps put on lower apps' shopper pages: the returns portal registers "Return
or exchange an item" for the tracking page, which cannot import returns. A link function takes
the order and gives (label, url) or None; it must not query the database (pages are cached)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

OrderLink = Callable[[Any], "tuple[str, str] | None"]
_order_links: list[OrderLink] = []


def register_order_link(fn: OrderLink) -> OrderLink:
    if fn not in _order_links:
        _order_links.append(fn)
    return fn


def order_links(order) -> list[tuple[str, str]]:
    """Every registered link for this order, in the active language."""
    return [link for fn in _order_links if (link := fn(order)) is not None]
