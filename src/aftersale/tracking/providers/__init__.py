"""Tracking providers (EasyPost, AfterShip, Shippo, Karrio, our generic format) mapped onto
aftersale's status vocabulary: the code tables in crosswalk.py, pure mappers in mapping.py."""

from aftersale.tracking.providers.mapping import (
    MAPPERS,
    MappedEvent,
    TrackingUpdate,
    map_aftership,
    map_easypost,
    map_generic,
    map_karrio,
    map_shippo,
)

__all__ = [
    "MAPPERS",
    "MappedEvent",
    "TrackingUpdate",
    "map_aftership",
    "map_easypost",
    "map_generic",
    "map_karrio",
    "map_shippo",
]
