from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from aftersale.core.models import Store
from aftersale.customers.models import Customer
from aftersale.customers.schemas import normalize_email


def customer_list(
    *, store: Store, email: str | None = None, updated_since: datetime | None = None
) -> QuerySet[Customer]:
    qs = Customer.objects.filter(store=store)
    if email:
        qs = qs.filter(email=normalize_email(email))
    if updated_since:
        qs = qs.filter(updated_at__gte=updated_since)
    return qs
