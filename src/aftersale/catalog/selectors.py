from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from aftersale.catalog.models import Product
from aftersale.core.models import Store


def product_list(
    *, store: Store, category: str | None = None, updated_since: datetime | None = None
) -> QuerySet[Product]:
    qs = Product.objects.filter(store=store).prefetch_related("variants")
    if category:
        qs = qs.filter(category=category)
    if updated_since:
        qs = qs.filter(updated_at__gte=updated_since)
    return qs


def product_detail(*, store: Store, product: Product) -> Product:
    return Product.objects.filter(store=store).prefetch_related("variants").get(pk=product.pk)
