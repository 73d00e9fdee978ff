"""Which carrier a tracking number belongs to, whether it is a real one, and where to track it.

Detection uses the tracking-numbers package (patterns and check digits for UPS, FedEx, USPS,
DHL, OnTrac, Amazon, UPU S10 postal numbers …). A number that fits a carrier's pattern but fails
its check digit is flagged invalid. When the number says nothing, the carrier name the shop sent
decides. Staff can set the carrier by hand (Shipment.carrier_overridden), which detection then
leaves alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from tracking_numbers import DEFINITIONS

# Our carrier codes, their display names and public tracking pages ({n} is the number).
CARRIERS: dict[str, tuple[str, str]] = {
    "ups": ("UPS", "https://www.ups.com/track?tracknum={n}"),
    "fedex": ("FedEx", "https://www.fedex.com/fedextrack/?trknbr={n}"),
    "usps": ("USPS", "https://tools.usps.com/go/TrackConfirmAction?tLabels={n}"),
    "dhl_express": (
        "DHL Express",
        "https://www.dhl.com/global-en/home/tracking.html?tracking-id={n}",
    ),
    "dhl_paket": (
        "DHL Paket",
        "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode={n}",
    ),
    "dhl_ecommerce": (
        "DHL eCommerce",
        "https://www.dhl.com/global-en/home/tracking.html?tracking-id={n}",
    ),
    "deutsche_post": (
        "Deutsche Post",
        "https://www.deutschepost.de/de/s/sendungsverfolgung.html?piececode={n}",
    ),
    "hermes_de": (
        "Hermes",
        "https://www.myhermes.de/empfangen/sendungsverfolgung/sendungsinformation#{n}",
    ),
    "dpd": ("DPD", "https://tracking.dpd.de/status/en_US/parcel/{n}"),
    "gls": ("GLS", "https://gls-group.com/track/{n}"),
    "ontrac": ("OnTrac", "https://www.ontrac.com/tracking/?number={n}"),
    "amazon": ("Amazon Logistics", "https://track.amazon.com/tracking/{n}"),
    "cdl": (
        "CDL Last Mile",
        "https://ship.cdldelivers.com/Xcelerator/Tracking/Tracking?packageitemrefno={n}",
    ),
    "correios": ("Correios", "https://rastreamento.correios.com.br/app/index.php?objetos={n}"),
    "jadlog": ("Jadlog", "https://www.jadlog.com.br/siteInstitucional/tracking.jad?cte={n}"),
    "loggi": ("Loggi", "https://www.loggi.com/rastreador/{n}"),
    "royal_mail": ("Royal Mail", "https://www.royalmail.com/track-your-item#/tracking-results/{n}"),
    "post_at": ("Österreichische Post", "https://www.post.at/s/sendungssuche?snr={n}"),
    "swiss_post": ("Swiss Post", "https://service.post.ch/ekp-web/ui/entry/search/{n}"),
    "postnl": ("PostNL", "https://jouw.postnl.nl/track-and-trace/{n}"),
    "la_poste": ("La Poste", "https://www.laposte.fr/outils/suivre-vos-envois?code={n}"),
    "china_post": ("China Post", "https://track.chinapost.com.cn/?trackNumber={n}"),
    "canada_post": (
        "Canada Post",
        "https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor={n}",
    ),
}

# UPU S10 numbers (two letters, 8 digits and a check digit, a country code) go by postal operator.
S10_OPERATORS = {
    "BR": "correios",
    "DE": "deutsche_post",
    "US": "usps",
    "GB": "royal_mail",
    "AT": "post_at",
    "CH": "swiss_post",
    "NL": "postnl",
    "FR": "la_poste",
    "CN": "china_post",
    "CA": "canada_post",
}

# What shops type as the carrier name, lower-cased and without punctuation.
ALIASES = {
    "ups": "ups",
    "united parcel service": "ups",
    "fedex": "fedex",
    "federal express": "fedex",
    "usps": "usps",
    "us postal service": "usps",
    "dhl": "dhl_paket",
    "dhl paket": "dhl_paket",
    "dhl parcel": "dhl_paket",
    "dhl de": "dhl_paket",
    "dhl express": "dhl_express",
    "dhl ecommerce": "dhl_ecommerce",
    "deutsche post": "deutsche_post",
    "hermes": "hermes_de",
    "dpd": "dpd",
    "gls": "gls",
    "ontrac": "ontrac",
    "amazon": "amazon",
    "amazon logistics": "amazon",
    "correios": "correios",
    "sedex": "correios",
    "pac": "correios",
    "jadlog": "jadlog",
    "loggi": "loggi",
    "royal mail": "royal_mail",
    "postnl": "postnl",
    "la poste": "la_poste",
    "colissimo": "la_poste",
    "swiss post": "swiss_post",
    "canada post": "canada_post",
}

# The package's courier codes, where they differ from ours.
PACKAGE_CODES = {"dhl": "dhl_express"}


@dataclass(frozen=True)
class Detection:
    code: str  # "" when unknown
    name: str
    # True: the number passed the carrier's check; False: it fits a pattern but fails the check;
    # None: the number's format says nothing (many regional carriers).
    valid: bool | None
    url: str


def normalize_number(number: str) -> str:
    return re.sub(r"[\s-]+", "", number or "").upper()


def carrier_for_name(name: str) -> str:
    key = re.sub(r"[^a-z0-9 ]+", " ", (name or "").lower())
    key = " ".join(key.split())
    if key in CARRIERS:
        return key
    return ALIASES.get(key, "")


def tracking_page(code: str, number: str) -> str:
    if code not in CARRIERS or not number:
        return ""
    return CARRIERS[code][1].format(n=quote(number, safe=""))


def _describe(code: str, number: str, valid: bool | None, url: str = "") -> Detection:
    name = CARRIERS.get(code, ("", ""))[0]
    return Detection(code=code, name=name, valid=valid, url=url or tracking_page(code, number))


def _package_code(package_code: str, number: str) -> str:
    if package_code == "s10":
        return S10_OPERATORS.get(number[-2:], "")
    return PACKAGE_CODES.get(package_code, package_code)


def detect_carrier(number: str, carrier_name: str = "") -> Detection:
    number = normalize_number(number)
    hinted = carrier_for_name(carrier_name)
    if not number:
        return _describe(hinted, number, None)
    invalid_guess = ""
    for definition in DEFINITIONS:
        found = definition.test(number)
        if found is None:
            continue
        code = _package_code(definition.courier.code, number)
        if found.valid:
            # A number that passes a carrier's check belongs to that carrier, whatever the shop
            # typed as the name.
            return _describe(code or hinted, number, True)
        invalid_guess = invalid_guess or code
    if invalid_guess and (not hinted or hinted == invalid_guess):
        return _describe(invalid_guess, number, False)
    return _describe(hinted, number, None)


def apply_detection(shipment, *, shop_sent_url: bool = False) -> list[str]:
    """Set the shipment's carrier code, number validity and tracking URL (unless the shop sent its
    own URL); returns the fields that changed. A carrier set by staff is left alone."""
    changed = []
    if shipment.carrier_overridden:
        code = shipment.carrier_code
        valid = shipment.tracking_number_valid
        url = tracking_page(code, normalize_number(shipment.tracking_number))
    else:
        found = detect_carrier(shipment.tracking_number, shipment.carrier)
        code, valid, url = found.code, found.valid, found.url
        if not shipment.carrier and found.name:
            shipment.carrier = found.name
            changed.append("carrier")
    if shipment.carrier_code != code:
        shipment.carrier_code = code
        changed.append("carrier_code")
    if shipment.tracking_number_valid != valid:
        shipment.tracking_number_valid = valid
        changed.append("tracking_number_valid")
    if not shop_sent_url and url and shipment.tracking_url != url:
        shipment.tracking_url = url
        changed.append("tracking_url")
    return changed
