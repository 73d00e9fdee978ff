"""The crosswalk: every tracking provider's codes mapped onto aftersale's one vocabulary.

Data only, no logic and no Django: a table per provider and level. A provider reports a main code
(EasyPost `status`, AfterShip `tag`, Shippo `status`, Karrio `status`) and often a finer second
code (`status_detail`, `subtag`, `substatus.code`, Karrio's incident `reason`). The main code
gives the status; the second code adds a reason and may override the status where it says more
(AfterShip `Exception_010` "returning to sender" is more than "exception").

Values are the strings of tracking.models.ShipmentStatus and EventReason (tests check every
entry against them). `note` marks an entry whose meaning is uncertain; it is printed in
docs/tracking-statuses.md, which scripts/crosswalk_doc.py generates from these tables.

Sources: AfterShip "Delivery statuses" and "Delivery sub-statuses" (aftership.com/docs/tracking,
incl. the Exception_016…021 codes announced for 2026-03-27); EasyPost Tracker object reference
(status, status_detail); Shippo Track object reference (tracking_status.status, substatus.code);
Karrio's unified TrackerStatus and TrackingIncidentReason (karrio/core/units.py and connectors).
Where a vendor documents a code by name only, the note says so.
"""

from __future__ import annotations

from dataclasses import dataclass

# The canonical statuses and reasons (tracking.models.ShipmentStatus / EventReason values).
REGISTERED = "registered"
LABEL_CREATED = "label_created"
PICKED_UP = "picked_up"
IN_TRANSIT = "in_transit"
OUT_FOR_DELIVERY = "out_for_delivery"
ATTEMPT_FAILED = "attempt_failed"
READY_FOR_PICKUP = "ready_for_pickup"
DELIVERED = "delivered"
ON_HOLD = "on_hold"
EXCEPTION = "exception"
RETURNING_TO_SENDER = "returning_to_sender"
RETURNED_TO_SENDER = "returned_to_sender"
CANCELLED = "cancelled"
EXPIRED = "expired"

CUSTOMS_DELAY = "customs_delay"
WEATHER = "weather"
ADDRESS_PROBLEM = "address_problem"
REFUSED = "refused"
DAMAGED = "damaged"
LOST = "lost"
RECIPIENT_ABSENT = "recipient_absent"
BUSINESS_CLOSED = "business_closed"
HELD_AT_CARRIER = "held_at_carrier"
PAYMENT_DUE = "payment_due"
CARRIER_DELAY = "carrier_delay"
NOT_YET_RECEIVED = "not_yet_received"
OTHER = "other"


@dataclass(frozen=True)
class Entry:
    """What one provider code means: a status (None: keep the main code's status), a reason."""

    status: str | None
    reason: str = ""
    note: str = ""


def E(status: str | None, reason: str = "", note: str = "") -> Entry:
    return Entry(status=status, reason=reason, note=note)


KEEP = None  # a second-level code that says nothing more about where the parcel is

# -- AfterShip: tag, then subtag ----------------------------------------------------------------

AFTERSHIP_TAGS: dict[str, Entry] = {
    "Pending": E(REGISTERED, note="added, no carrier information yet"),
    "InfoReceived": E(LABEL_CREATED),
    "InTransit": E(IN_TRANSIT),
    "OutForDelivery": E(OUT_FOR_DELIVERY),
    "AttemptFail": E(ATTEMPT_FAILED),
    "Delivered": E(DELIVERED),
    "AvailableForPickup": E(READY_FOR_PICKUP),
    "Exception": E(EXCEPTION),
    "Expired": E(EXPIRED),
}

AFTERSHIP_SUBTAGS: dict[str, Entry] = {
    "Pending_001": E(KEEP),
    "InfoReceived_001": E(KEEP),
    "InTransit_001": E(KEEP),
    "InTransit_002": E(PICKED_UP, note="acceptance scan: the carrier has the parcel"),
    "InTransit_003": E(KEEP),  # arrival scan
    "InTransit_004": E(KEEP),  # arrived at the destination country
    "InTransit_005": E(KEEP),  # customs clearance completed
    "InTransit_006": E(KEEP),  # customs clearance started: routine, not a delay
    "InTransit_007": E(KEEP),  # departure scan
    "InTransit_008": E(KEEP),  # problem resolved
    "InTransit_009": E(KEEP),  # forwarded to a different delivery address
    "OutForDelivery_001": E(KEEP),
    "OutForDelivery_003": E(KEEP),  # customer contacted
    "OutForDelivery_004": E(KEEP, note="delivery appointment scheduled; AfterShip files it here"),
    "AttemptFail_001": E(KEEP),
    "AttemptFail_002": E(KEEP, RECIPIENT_ABSENT),
    "AttemptFail_003": E(KEEP, BUSINESS_CLOSED),
    "Delivered_001": E(KEEP),
    "Delivered_002": E(KEEP),  # picked up by the customer
    "Delivered_003": E(KEEP),  # signed by the customer
    "Delivered_004": E(KEEP),  # cash collected on delivery
    "Delivered_005": E(KEEP),  # delivered to a neighbour
    "AvailableForPickup_001": E(KEEP),
    "Exception_001": E(KEEP),
    "Exception_002": E(KEEP, ADDRESS_PROBLEM, note="customer moved"),
    "Exception_003": E(KEEP, REFUSED),
    "Exception_004": E(ON_HOLD, CUSTOMS_DELAY),
    "Exception_005": E(IN_TRANSIT, CARRIER_DELAY, note="delayed by external factors"),
    "Exception_006": E(ON_HOLD, PAYMENT_DUE),
    "Exception_007": E(KEEP, ADDRESS_PROBLEM),
    "Exception_008": E(KEEP, HELD_AT_CARRIER, note="not collected from the pickup point"),
    "Exception_009": E(KEEP, OTHER, note="rejected by the carrier (not compliant)"),
    "Exception_010": E(RETURNING_TO_SENDER),
    "Exception_011": E(RETURNED_TO_SENDER),
    "Exception_012": E(KEEP, DAMAGED),
    "Exception_013": E(KEEP, LOST),
    "Exception_016": E(IN_TRANSIT, CARRIER_DELAY, note="processing issue; from 2026-03-27"),
    "Exception_017": E(IN_TRANSIT, WEATHER, note="from 2026-03-27"),
    "Exception_018": E(ON_HOLD, CUSTOMS_DELAY, note="missing documents; from 2026-03-27"),
    "Exception_019": E(IN_TRANSIT, CARRIER_DELAY, note="late flight; from 2026-03-27"),
    "Exception_020": E(CANCELLED, note="from 2026-03-27"),
    "Exception_021": E(KEEP, OTHER, note="disposed of by the carrier; from 2026-03-27"),
    "Expired_001": E(KEEP),
}

# -- EasyPost: status, then status_detail -------------------------------------------------------

EASYPOST_STATUSES: dict[str, Entry] = {
    "unknown": E(IN_TRANSIT, note="EasyPost could not classify the scan"),
    "pre_transit": E(LABEL_CREATED),
    "in_transit": E(IN_TRANSIT),
    "out_for_delivery": E(OUT_FOR_DELIVERY),
    "delivered": E(DELIVERED),
    "available_for_pickup": E(READY_FOR_PICKUP),
    "return_to_sender": E(
        RETURNING_TO_SENDER, note="EasyPost does not say whether it has arrived back yet"
    ),
    "failure": E(EXCEPTION),
    "cancelled": E(CANCELLED),
    "error": E(EXCEPTION, note="the tracker failed (e.g. a number the carrier rejects)"),
}

EASYPOST_STATUS_DETAILS: dict[str, Entry] = {
    "address_correction": E(KEEP, ADDRESS_PROBLEM),
    "arrived_at_destination": E(KEEP),
    "arrived_at_facility": E(KEEP),
    "arrived_at_pickup_location": E(KEEP),
    "awaiting_information": E(KEEP, note="waiting for information from the shipper; no reason"),
    "cancelled": E(CANCELLED),
    "damaged": E(KEEP, DAMAGED),
    "delayed": E(KEEP, CARRIER_DELAY),
    "delivery_exception": E(KEEP),
    "departed_facility": E(KEEP),
    "departed_origin_facility": E(KEEP),
    "expired": E(EXPIRED),
    "failure": E(KEEP),
    "held": E(ON_HOLD, HELD_AT_CARRIER),
    "in_transit": E(KEEP),
    "label_created": E(LABEL_CREATED),
    "lost": E(EXCEPTION, LOST),
    "missorted": E(KEEP, CARRIER_DELAY),
    "out_for_delivery": E(KEEP),
    "received_at_destination_facility": E(KEEP),
    "received_at_origin_facility": E(KEEP),
    "refused": E(KEEP, REFUSED),
    "return": E(RETURNING_TO_SENDER),
    "status_update": E(KEEP),
    "transferred_to_destination_carrier": E(KEEP),
    "transit_exception": E(KEEP, CARRIER_DELAY, note="meaning documented by name only"),
    "unknown": E(KEEP),
    "weather_delay": E(KEEP, WEATHER),
}

# -- Shippo: tracking_status.status, then substatus.code ----------------------------------------

SHIPPO_STATUSES: dict[str, Entry] = {
    "UNKNOWN": E(REGISTERED, note="Shippo has no tracking information yet"),
    "PRE_TRANSIT": E(LABEL_CREATED),
    "TRANSIT": E(IN_TRANSIT),
    "DELIVERED": E(DELIVERED),
    "RETURNED": E(RETURNED_TO_SENDER),
    "FAILURE": E(EXCEPTION),
}

SHIPPO_SUBSTATUSES: dict[str, Entry] = {
    "information_received": E(KEEP),
    "address_issue": E(KEEP, ADDRESS_PROBLEM),
    "contact_carrier": E(ON_HOLD, HELD_AT_CARRIER, note="the recipient must contact the carrier"),
    "delayed": E(KEEP, CARRIER_DELAY),
    "delivery_attempted": E(ATTEMPT_FAILED),
    "delivery_rescheduled": E(KEEP, CARRIER_DELAY, note="who rescheduled is not said"),
    "delivery_scheduled": E(KEEP),
    "location_inaccessible": E(ATTEMPT_FAILED, ADDRESS_PROBLEM),
    "notice_left": E(ATTEMPT_FAILED, RECIPIENT_ABSENT),
    "out_for_delivery": E(OUT_FOR_DELIVERY),
    "package_accepted": E(PICKED_UP),
    "package_arrived": E(KEEP),
    "package_damaged": E(KEEP, DAMAGED),
    "package_departed": E(KEEP),
    "package_disposed": E(EXCEPTION, OTHER, note="destroyed or discarded by the carrier"),
    "package_forwarded": E(KEEP),
    "package_held": E(ON_HOLD, HELD_AT_CARRIER),
    "package_lost": E(EXCEPTION, LOST),
    "package_processed": E(KEEP),
    "package_processing": E(KEEP),
    "package_returned": E(RETURNED_TO_SENDER),
    "package_undeliverable": E(EXCEPTION),
    "pickup_available": E(READY_FOR_PICKUP),
    "reschedule_delivery": E(KEEP, note="the recipient is asked to reschedule; documented by name"),
    "return_to_sender": E(RETURNING_TO_SENDER),
    "delivered": E(KEEP),
    "other": E(KEEP, OTHER),
}

# -- Karrio: tracker / event status, then the event's incident reason ---------------------------

KARRIO_STATUSES: dict[str, Entry] = {
    "pending": E(REGISTERED),
    "picked_up": E(PICKED_UP),
    "on_hold": E(ON_HOLD),
    "in_transit": E(IN_TRANSIT),
    "delivered": E(DELIVERED),
    "delivery_failed": E(
        ATTEMPT_FAILED, note="Karrio also files some refusals and damage here; the reason says"
    ),
    "delivery_delayed": E(IN_TRANSIT, CARRIER_DELAY),
    "out_for_delivery": E(OUT_FOR_DELIVERY),
    "ready_for_pickup": E(READY_FOR_PICKUP),
    "cancelled": E(CANCELLED),
    "return_to_sender": E(RETURNING_TO_SENDER),
    "unknown": E(IN_TRANSIT, note="Karrio could not classify the carrier's code"),
}

KARRIO_REASONS: dict[str, Entry] = {
    "carrier_damaged_parcel": E(KEEP, DAMAGED),
    "carrier_sorting_error": E(KEEP, CARRIER_DELAY),
    "carrier_address_not_found": E(KEEP, ADDRESS_PROBLEM),
    "carrier_parcel_lost": E(KEEP, LOST),
    "carrier_not_enough_time": E(KEEP, CARRIER_DELAY),
    "carrier_not_enough_time_in_timeslot": E(KEEP, CARRIER_DELAY),
    "carrier_vehicle_issue": E(KEEP, CARRIER_DELAY),
    "carrier_capacity_exceeded": E(KEEP, CARRIER_DELAY),
    "carrier_mechanical_delay": E(KEEP, CARRIER_DELAY),
    "carrier_delay": E(KEEP, CARRIER_DELAY),
    "retailer_cancelled": E(KEEP, OTHER),
    "retailer_incorrect_data": E(KEEP, ADDRESS_PROBLEM, note="the shipper's data was wrong"),
    "retailer_not_ready": E(KEEP, NOT_YET_RECEIVED),
    "retailer_incorrect_parcel": E(KEEP, OTHER),
    "retailer_incorrect_dimensions": E(KEEP, OTHER),
    "retailer_packaging_issue": E(KEEP, OTHER),
    "consignee_refused": E(KEEP, REFUSED),
    "consignee_business_closed": E(KEEP, BUSINESS_CLOSED),
    "consignee_not_available": E(KEEP, RECIPIENT_ABSENT),
    "consignee_not_home": E(KEEP, RECIPIENT_ABSENT),
    "consignee_cancelled": E(KEEP, OTHER),
    "consignee_verification_failed": E(KEEP, OTHER),
    "consignee_incorrect_address": E(KEEP, ADDRESS_PROBLEM),
    "consignee_access_restricted": E(KEEP, ADDRESS_PROBLEM, note="no access to the address"),
    "consignee_safe_place_unavailable": E(KEEP, RECIPIENT_ABSENT),
    "customs_delay": E(KEEP, CUSTOMS_DELAY),
    "customs_documentation": E(KEEP, CUSTOMS_DELAY),
    "customs_duties_unpaid": E(KEEP, PAYMENT_DUE),
    "customs_prohibited": E(KEEP, CUSTOMS_DELAY, note="prohibited goods: may not arrive at all"),
    "customs_inspection": E(KEEP, CUSTOMS_DELAY),
    "weather_delay": E(KEEP, WEATHER),
    "natural_disaster": E(KEEP, WEATHER),
    "force_majeure": E(KEEP, CARRIER_DELAY),
    "delivery_exception_hold": E(KEEP, HELD_AT_CARRIER, note="used by Karrio's DHL connector"),
    "delivery_exception_undeliverable": E(KEEP, OTHER, note="used by Karrio's DHL connector"),
    "delivery_delayed": E(KEEP, CARRIER_DELAY, note="used as a reason by Karrio's DHL connector"),
    "parcel_being_researched": E(KEEP, OTHER),
    "security_issue": E(KEEP, OTHER),
    "regulatory_hold": E(KEEP, HELD_AT_CARRIER),
    "unknown": E(KEEP),
}


@dataclass(frozen=True)
class Crosswalk:
    """One provider's two levels of codes, with the names its payloads give them."""

    provider: str
    title: str
    main_field: str
    main: dict[str, Entry]
    detail_field: str
    detail: dict[str, Entry]


CROSSWALKS: tuple[Crosswalk, ...] = (
    Crosswalk("aftership", "AfterShip", "tag", AFTERSHIP_TAGS, "subtag", AFTERSHIP_SUBTAGS),
    Crosswalk(
        "easypost",
        "EasyPost",
        "status",
        EASYPOST_STATUSES,
        "status_detail",
        EASYPOST_STATUS_DETAILS,
    ),
    Crosswalk(
        "shippo",
        "Shippo",
        "tracking_status.status",
        SHIPPO_STATUSES,
        "substatus.code",
        SHIPPO_SUBSTATUSES,
    ),
    Crosswalk("karrio", "Karrio", "status", KARRIO_STATUSES, "reason", KARRIO_REASONS),
)
