"""Background jobs of returns: expiring store credit once a day."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from aftersale.core.tasks import register_periodic
from aftersale.returns.credit import credit_expire_due


@task(queue_name="default")
def expire_store_credit() -> int:
    """Expire what is left of store credit past its expiry date (every store)."""
    return credit_expire_due()


register_periodic("returns.expire_store_credit", timedelta(hours=6), expire_store_credit)
