"""Return labels and packing slips: the label-provider interface and its two implementations.

A provider turns one return parcel into a label (docs/returns-portal.md, "Label providers"):

    class LabelProvider(Protocol):
        code: str
        def create_label(self, return_request, parcel: Parcel) -> LabelResult: ...

- `AftersalePdfProvider` ("aftersale_pdf", built in, no carrier): a packing slip PDF whose QR code
  carries the return's reference, for drop-off points that scan it and for returns in store.
- `HttpLabelProvider` ("http"): a carrier-label REST service (the store's own, or a label
  broker's) at a configured URL with a bearer key: POST <url>/labels, answer JSON with the
  carrier, tracking number, provider id and the label PDF (base64). Explicit timeouts, no
  redirects, an Idempotency-Key per return so a retried call never buys a second label.

`provider_for(store)` picks the HTTP provider when a label service is configured (per store in
AFTERSALE_LABEL_SERVICES, else installation-wide in AFTERSALE_LABEL_SERVICE_URL / _KEY), else the
built-in one. PDFs are drawn with reportlab; the QR code's modules come from `qrcode` and are
drawn as vector squares, so the code stays sharp at any print size.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import zlib
from dataclasses import asdict, dataclass, field
from typing import Protocol

import httpx
import qrcode
from django.conf import settings
from django.utils.html import escape
from django.utils.translation import gettext as _
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

from aftersale.env import env_str

logger = logging.getLogger(__name__)

PREPAID_LABEL = "prepaid_label"
DROP_OFF = "drop_off"
IN_STORE = "in_store"


@dataclass(frozen=True)
class Address:
    name: str = ""
    line1: str = ""
    line2: str = ""
    postal_code: str = ""
    city: str = ""
    region: str = ""
    country: str = ""
    email: str = ""
    phone: str = ""

    def lines(self) -> list[str]:
        place = " ".join(p for p in (self.postal_code, self.city) if p)
        rows = [self.name, self.line1, self.line2, place, self.region, self.country]
        return [r for r in rows if r]


@dataclass(frozen=True)
class ParcelItem:
    title: str
    quantity: int
    variant: str = ""
    sku: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Parcel:
    """Everything a label or slip needs, already in the shopper's language (reasons included)."""

    reference: str  # the return's public id (ret_…): the QR payload and the provider reference
    order_number: str
    method: str  # prepaid_label | drop_off | in_store
    store_name: str
    sender: Address  # the shopper
    recipient: Address  # where the return goes (the store's returns address)
    items: tuple[ParcelItem, ...] = ()
    weight_grams: int = 0


@dataclass(frozen=True)
class LabelResult:
    carrier: str
    tracking_number: str
    label_pdf: bytes
    provider_ref: str
    tracking_url: str = ""
    service: str = ""


class LabelError(Exception):
    """The provider could not make a label. `retryable`: a timeout or a 5xx, worth trying again;
    otherwise the request itself was refused (bad address, unknown service …)."""

    def __init__(self, message: str, *, retryable: bool = False, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status


class LabelProvider(Protocol):
    code: str

    def create_label(self, return_request, parcel: Parcel) -> LabelResult: ...


# -- drawing --------------------------------------------------------------------------------------


def qr_matrix(data: str) -> list[list[bool]]:
    code = qrcode.QRCode(border=0, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(data)
    code.make(fit=True)
    return code.get_matrix()


def qr_svg(data: str, *, label: str = "") -> str:
    """The QR code as inline SVG (one path), for a phone screen at the counter."""
    matrix = qr_matrix(data)
    cells = len(matrix)
    runs = []
    for row, values in enumerate(matrix):
        col = 0
        while col < cells:
            if values[col]:
                start = col
                while col < cells and values[col]:
                    col += 1
                runs.append(f"M{start + 4} {row + 4}h{col - start}v1h-{col - start}z")
            else:
                col += 1
    side = cells + 8
    title = escape(label or data)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}" role="img" '
        f'aria-label="{title}" shape-rendering="crispEdges" class="qr">'
        f'<rect width="{side}" height="{side}" fill="#fff"/>'
        f'<path d="{"".join(runs)}" fill="#000"/></svg>'
    )


def _draw_qr(pdf: canvas.Canvas, data: str, x: float, y: float, size: float) -> None:
    """A QR code `size` points wide with its lower-left corner at (x, y), plus a quiet zone."""
    matrix = qr_matrix(data)
    cells = len(matrix)
    cell = size / cells
    pdf.setFillColorRGB(1, 1, 1)
    pdf.rect(x - 4 * cell, y - 4 * cell, size + 8 * cell, size + 8 * cell, stroke=0, fill=1)
    pdf.setFillColorRGB(0, 0, 0)
    for row, values in enumerate(matrix):
        top = y + size - (row + 1) * cell
        col = 0
        while col < cells:  # one rectangle per run of dark modules: smaller file, no hairlines
            if values[col]:
                start = col
                while col < cells and values[col]:
                    col += 1
                pdf.rect(x + start * cell, top, (col - start) * cell, cell, stroke=0, fill=1)
            else:
                col += 1


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _instructions(method: str) -> tuple[str, str]:
    if method == IN_STORE:
        return (
            _("Return in store"),
            _("Bring the items and this slip to the store. Staff scan the QR code."),
        )
    if method == DROP_OFF:
        return (
            _("Drop-off"),
            _("Pack the items with this slip inside and show the QR code at the drop-off point."),
        )
    return (
        _("Prepaid label"),
        _("Pack the items with this slip inside and stick the label on the parcel."),
    )


def packing_slip_pdf(parcel: Parcel, *, carrier: str = "", tracking_number: str = "") -> bytes:
    """One A4 page: what is in the parcel, where it goes, how to send it, and a QR code of the
    return's reference. Call it inside translation.override(<shopper's language>)."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=1)
    pdf.setTitle(_("Return %(reference)s") % {"reference": parcel.reference})
    pdf.setAuthor(parcel.store_name)
    width, height = A4
    left = 20 * mm
    y = height - 25 * mm

    pdf.setFont("Helvetica-Bold", 18)
    pdf.drawString(left, y, _clip(parcel.store_name, 48))
    y -= 9 * mm
    pdf.setFont("Helvetica-Bold", 14)
    pdf.drawString(left, y, _("Return %(reference)s") % {"reference": parcel.reference})
    y -= 6 * mm
    pdf.setFont("Helvetica", 11)
    pdf.drawString(left, y, _("Order %(number)s") % {"number": parcel.order_number})

    qr_size = 45 * mm
    _draw_qr(pdf, parcel.reference, width - 20 * mm - qr_size, height - 20 * mm - qr_size, qr_size)

    title, how = _instructions(parcel.method)
    y -= 12 * mm
    pdf.setFont("Helvetica-Bold", 12)
    pdf.drawString(left, y, title)
    y -= 5.5 * mm
    pdf.setFont("Helvetica", 10)
    pdf.drawString(left, y, _clip(how, 95))
    if tracking_number:
        y -= 5.5 * mm
        pdf.drawString(
            left,
            y,
            _("Carrier: %(carrier)s · Tracking number: %(number)s")
            % {"carrier": carrier, "number": tracking_number},
        )

    y = min(y, height - 75 * mm) - 10 * mm
    column = (width - 2 * left) / 2
    for offset, heading, address in (
        (0, _("From"), parcel.sender),
        (column, _("Return to"), parcel.recipient),
    ):
        pdf.setFont("Helvetica-Bold", 10)
        pdf.drawString(left + offset, y, heading)
        pdf.setFont("Helvetica", 10)
        for n, line in enumerate(address.lines()[:6]):
            pdf.drawString(left + offset, y - (n + 1) * 5 * mm, _clip(line, 45))
    y -= 42 * mm

    pdf.setFont("Helvetica-Bold", 10)
    pdf.drawString(left, y, _("Item"))
    pdf.drawString(left + 110 * mm, y, _("SKU"))
    pdf.drawRightString(width - left, y, _("Quantity"))
    y -= 2 * mm
    pdf.line(left, y, width - left, y)
    pdf.setFont("Helvetica", 10)
    for item in parcel.items:
        y -= 6 * mm
        if y < 30 * mm:
            pdf.showPage()
            pdf.setFont("Helvetica", 10)
            y = height - 25 * mm
        name = item.title + (f" – {item.variant}" if item.variant else "")
        pdf.drawString(left, y, _clip(name, 60))
        pdf.drawString(left + 110 * mm, y, _clip(item.sku, 22))
        pdf.drawRightString(width - left, y, str(item.quantity))
        if item.reason:
            y -= 4.5 * mm
            pdf.setFont("Helvetica-Oblique", 9)
            pdf.drawString(left + 4 * mm, y, _clip(item.reason, 90))
            pdf.setFont("Helvetica", 10)

    pdf.setFont("Helvetica", 9)
    pdf.drawString(left, 15 * mm, _("Put this slip inside the parcel."))
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


# -- providers ------------------------------------------------------------------------------------


class AftersalePdfProvider:
    """No carrier: the slip with the return's QR code is the label (drop-off, in store)."""

    code = "aftersale_pdf"

    def create_label(self, return_request, parcel: Parcel) -> LabelResult:
        return LabelResult(
            carrier="",
            tracking_number="",
            label_pdf=packing_slip_pdf(parcel),
            provider_ref=parcel.reference,
        )


@dataclass(frozen=True)
class LabelService:
    url: str
    api_key: str
    service: str = ""  # the carrier product to ask for ("ground", "paket" …), if the API needs one
    timeout: float = 15.0


@dataclass
class HttpLabelProvider:
    """A carrier-label REST service. The request and answer are documented in
    docs/returns-portal.md; any label broker can sit behind a thin proxy that speaks them."""

    config: LabelService
    code: str = field(default="http", init=False)

    def _post(self, parcel: Parcel) -> httpx.Response:
        body = {
            "reference": parcel.reference,
            "order_number": parcel.order_number,
            "service": self.config.service,
            "return": True,
            "parcel": {"weight_grams": parcel.weight_grams},
            "from": asdict(parcel.sender),
            "to": asdict(parcel.recipient),
            "items": [asdict(item) for item in parcel.items],
        }
        headers = {
            "Authorization": f"Bearer {self.config.api_key}",
            "Idempotency-Key": f"aftersale-return-{parcel.reference}",
            "Accept": "application/json",
        }
        try:
            with httpx.Client(timeout=self.config.timeout, follow_redirects=False) as client:
                return client.post(
                    self.config.url.rstrip("/") + "/labels", json=body, headers=headers
                )
        except httpx.TimeoutException:
            raise LabelError("the label service did not answer in time", retryable=True) from None
        except httpx.HTTPError as exc:
            raise LabelError(f"the label service is unreachable: {exc}", retryable=True) from None

    def create_label(self, return_request, parcel: Parcel) -> LabelResult:
        response = self._post(parcel)
        try:
            answer = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            answer = None
        if response.status_code >= 300:
            detail = ""
            if isinstance(answer, dict):
                error = answer.get("error")
                detail = str(
                    (error.get("message") if isinstance(error, dict) else error)
                    or answer.get("message")
                    or ""
                )
            raise LabelError(
                f"the label service refused the label (HTTP {response.status_code})"
                + (f": {detail[:300]}" if detail else ""),
                retryable=response.status_code >= 500 or response.status_code == 429,
                status=response.status_code,
            )
        return parse_label_answer(answer)


def parse_label_answer(answer) -> LabelResult:
    """The service's JSON as a LabelResult, or LabelError naming what is missing or wrong."""
    if not isinstance(answer, dict):
        raise LabelError("the label service answered something that is not a JSON object")
    missing = [
        key
        for key in ("id", "carrier", "tracking_number", "label_pdf")
        if not isinstance(answer.get(key), str) or not answer.get(key).strip()
    ]
    if missing:
        raise LabelError(f"the label service's answer lacks {', '.join(missing)}")
    try:
        pdf = base64.b64decode(answer["label_pdf"], validate=True)
    except (binascii.Error, ValueError):
        raise LabelError("the label service's label_pdf is not base64") from None
    if not pdf.startswith(b"%PDF-"):
        raise LabelError("the label service's label_pdf is not a PDF")
    tracking_url = answer.get("tracking_url") or ""
    return LabelResult(
        carrier=answer["carrier"].strip()[:60],
        tracking_number=answer["tracking_number"].strip()[:100],
        label_pdf=pdf,
        provider_ref=answer["id"].strip()[:100],
        tracking_url=tracking_url if isinstance(tracking_url, str) else "",
        service=str(answer.get("service") or "")[:100],
    )


def label_service_for(store) -> LabelService | None:
    """The store's label service (AFTERSALE_LABEL_SERVICES: {"<store slug>": {"url", "key",
    "service"}}), else the installation's (AFTERSALE_LABEL_SERVICE_URL / _KEY), else None."""
    per_store = getattr(settings, "AFTERSALE_LABEL_SERVICES", None)
    if per_store is None:
        try:
            per_store = json.loads(env_str("AFTERSALE_LABEL_SERVICES") or "{}")
        except json.JSONDecodeError:
            logger.error("AFTERSALE_LABEL_SERVICES is not JSON; ignoring it")
            per_store = {}
    entry = per_store.get(store.slug) if isinstance(per_store, dict) else None
    if isinstance(entry, dict) and entry.get("url") and entry.get("key"):
        return LabelService(
            url=str(entry["url"]),
            api_key=str(entry["key"]),
            service=str(entry.get("service", "")),
            timeout=float(entry.get("timeout", 15)),
        )
    url = _setting("AFTERSALE_LABEL_SERVICE_URL")
    key = _setting("AFTERSALE_LABEL_SERVICE_KEY")
    if url and key:
        return LabelService(url=url, api_key=key, service=_setting("AFTERSALE_LABEL_SERVICE_NAME"))
    return None


def _setting(name: str) -> str:
    """A Django setting when the installation defines one, else the environment variable."""
    value = getattr(settings, name, None)
    return str(value) if value is not None else env_str(name)


def config_fingerprint() -> str:
    """Changes when the label services' configuration does (pages that offer prepaid labels
    are cached under it)."""
    raw = repr(
        (
            getattr(settings, "AFTERSALE_LABEL_SERVICES", None)
            or env_str("AFTERSALE_LABEL_SERVICES"),
            _setting("AFTERSALE_LABEL_SERVICE_URL"),
            bool(_setting("AFTERSALE_LABEL_SERVICE_KEY")),
        )
    )
    return format(zlib.crc32(raw.encode()), "08x")


def provider_for(store, method: str) -> LabelProvider:
    """Who makes the label for a return sent back by `method`: a carrier service for prepaid
    labels, the built-in slip for drop-off and in-store returns."""
    service = label_service_for(store) if method == PREPAID_LABEL else None
    if service is not None:
        return HttpLabelProvider(service)
    return AftersalePdfProvider()


def prepaid_labels_available(store) -> bool:
    """Prepaid labels need a carrier: without a label service the portal does not offer them."""
    return label_service_for(store) is not None
