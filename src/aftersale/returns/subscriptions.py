"""What returns does when other apps' events arrive.

A return parcel is an ordinary tracked Shipment (source "returns"); when its status moves, the
first carrier scan puts the return in transit (and pays out an "instant" refund) and the delivery
scan marks it received. The handler reads the shipment's current state, so running it twice, or
for an event that changed nothing about the return, does nothing.
"""

from __future__ import annotations

from aftersale.core.events import subscribe
from aftersale.core.models import OutboxEvent
from aftersale.returns import tasks  # noqa: F401  (registers the periodic credit expiry)
from aftersale.returns.selectors import RETURN_SHIPMENT_SOURCE
from aftersale.returns.services import return_shipment_moved
from aftersale.tracking.models import Shipment


@subscribe("shipment.*", name="returns.return_parcel_moved")
def on_shipment_event(event: OutboxEvent) -> None:
    public_id = (event.payload or {}).get("id")
    if not isinstance(public_id, str) or not public_id.startswith("shp_"):
        return
    shipment = (
        Shipment.objects.filter(
            store=event.store, public_id=public_id, source=RETURN_SHIPMENT_SOURCE
        )
        .only("pk", "status")
        .first()
    )
    if shipment is None:
        return
    return_shipment_moved(store=event.store, shipment=shipment)
