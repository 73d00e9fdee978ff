from __future__ import annotations

from urllib.parse import urlencode

from django.db.models import QuerySet
from django.urls import reverse

from aftersale.core.models import Store
from aftersale.integrations.models import InboundPayload


def inbound_payloads_for(*, store: Store, object_ref: str) -> QuerySet[InboundPayload]:
    """The raw deliveries about one object, newest first, e.g. object_ref="order:shopify:1"."""
    return InboundPayload.objects.filter(store=store, object_ref=object_ref).order_by(
        "-received_at", "-id"
    )


def object_ref_for(*, source: str, kind: str, external_id: str) -> str:
    return f"{kind}:{source}:{external_id}"


def inbound_payloads_admin_url(*, object_ref: str) -> str:
    """The back-office list of one object's raw deliveries (an order page links here)."""
    changelist = reverse("admin:integrations_inboundpayload_changelist")
    return f"{changelist}?{urlencode({'object_ref': object_ref})}"
