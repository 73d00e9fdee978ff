"""The shopper's returns portal, between the pages (views.py) and the returns services.

Nothing here decides what may be returned, for how much, or how: eligibility, quotes and the
return itself come from the returns services and selectors (server-side, every time). This module
holds what the pages need around them:

- signed links: start a return for an order (`returns_start_url`, for emails and the tracking
  page), a return's photos and its label PDFs (the status page's token is the selectors' own);
- the draft: what the shopper chose so far, carried from step to step in a signed, timestamped
  token (`Draft`), and turned into the services' input (`draft_input`);
- the lookup's rate limits (shared with the tracking page's /track lookup);
- labels: building the parcel and asking the provider for a label when a return is approved;
- the words for statuses, outcomes and methods, and formatting money for the shopper.
"""

from __future__ import annotations

import functools
import logging
import re
import secrets
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext, gettext_noop, ngettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from aftersale.core.models import StoreAlert
from aftersale.core.money import format_money
from aftersale.core.signing import read_link, sign_link
from aftersale.messaging.locales import babel_locale
from aftersale.returns import labels
from aftersale.returns.models import Outcome, ReturnLabel, ReturnRequest

logger = logging.getLogger(__name__)

_START = "aftersale.returns.start"
_PHOTO = "aftersale.returns.photo"
_DRAFT = "aftersale.returns.draft"
DRAFT_MAX_AGE = 2 * 24 * 3600  # seconds a draft stays valid


# -- signed links ---------------------------------------------------------------------------------


def absolute(path: str) -> str:
    return settings.PUBLIC_BASE_URL + path


def start_token(order_public_id: str) -> str:
    return sign_link(_START, {"o": order_public_id})


def read_start_token(token: str) -> str | None:
    return read_link(_START, token).get("o")


def start_path(order_public_id: str) -> str:
    return reverse("returns:start", args=[start_token(order_public_id)])


def returns_start_url(order) -> str:
    """The absolute link that opens the returns portal on `order` without a lookup (for emails,
    the tracking page and flows)."""
    return absolute(start_path(order.public_id))


def tracking_page_link(order) -> tuple[str, str]:
    """The tracking page's way into the portal, once something was delivered (core.links)."""
    return gettext("Return or exchange an item"), start_path(order.public_id)


def status_path(ret: ReturnRequest) -> str:
    from aftersale.returns.selectors import return_status_token

    return reverse("returns:status", args=[return_status_token(ret)])


def status_url(ret: ReturnRequest) -> str:
    return absolute(status_path(ret))


def photo_path(photo_public_id: str) -> str:
    """A photo's only address. Staff pages use it too (the signature is the access check)."""
    return reverse("returns:photo", args=[sign_link(_PHOTO, {"p": photo_public_id})])


def read_photo_token(token: str) -> str | None:
    return read_link(_PHOTO, token).get("p")


def document_path(ret: ReturnRequest, document: str) -> str:
    """The carrier label ("label") or our packing slip ("slip") of a return, behind the status
    page's token."""
    from aftersale.returns.selectors import return_status_token

    if document not in ("label", "slip"):
        raise ValueError(document)
    return reverse(f"returns:{document}", args=[return_status_token(ret)])


# -- the draft ------------------------------------------------------------------------------------


@dataclass
class DraftPhoto:
    name: str  # storage name under private storage (photos.draft_save)
    content_type: str
    width: int
    height: int
    filename: str = ""


@dataclass
class DraftItem:
    line: str  # lin_…
    quantity: int
    reason: str = ""
    comment: str = ""
    photos: list[DraftPhoto] = field(default_factory=list)


@dataclass
class Draft:
    """What the shopper chose so far. Signed and timestamped: a changed or stale token is refused,
    and it proves the holder found the order (lookup or a signed link). It is never trusted for
    what may be returned: every step asks the services again."""

    order: str  # ord_…
    key: str  # the idempotency key of the final submit, fixed for the draft's life
    lang: str = ""
    gift: bool = False
    gift_email: str = ""
    gift_name: str = ""
    items: list[DraftItem] = field(default_factory=list)
    outcome: str = ""
    variants: dict[str, str] = field(default_factory=dict)  # lin_… → var_… (exchanges)
    method: str = ""

    @classmethod
    def start(cls, order_public_id: str, **kw) -> Draft:
        return cls(order=order_public_id, key=f"portal-{secrets.token_urlsafe(18)}", **kw)

    def sign(self) -> str:
        return signing.dumps(asdict(self), salt=_DRAFT, compress=True)

    @classmethod
    def read(cls, token: str) -> Draft | None:
        if not token:
            return None
        try:
            data = signing.loads(token, salt=_DRAFT, max_age=DRAFT_MAX_AGE)
            items = [
                DraftItem(
                    **{**item, "photos": [DraftPhoto(**photo) for photo in item.get("photos", [])]}
                )
                for item in data.pop("items", [])
            ]
            return cls(**data, items=items)
        except (signing.BadSignature, TypeError, ValueError, AttributeError):
            return None

    def item(self, line: str) -> DraftItem | None:
        return next((i for i in self.items if i.line == line), None)

    def photo_names(self) -> list[str]:
        return [p.name for item in self.items for p in item.photos]


def draft_input(
    draft: Draft,
    order,
    *,
    expected_total: Decimal | None = None,
    outcome: str | None = None,
    method: str | None = None,
):
    """The services' input for this draft (pydantic refuses anything malformed)."""
    from aftersale.returns.schemas import ReturnCreateIn

    outcome = outcome or draft.outcome
    address = order.shipping_address
    method = method or draft.method or ""
    if outcome == Outcome.KEEP_ITEM:
        method = ReturnRequest.ShippingMethod.NONE
    data = {
        "items": [
            {
                "line": item.line,
                "quantity": item.quantity,
                "reason": item.reason,
                "comment": item.comment,
                "exchange_variant": draft.variants.get(item.line)
                if outcome in (Outcome.EXCHANGE_SAME, Outcome.EXCHANGE_OTHER)
                else None,
            }
            for item in draft.items
        ],
        "outcome": outcome,
        "comment": "",
        "gift": draft.gift,
        "gift_recipient_email": draft.gift_email or None,
        "gift_recipient_name": draft.gift_name,
        "sender_postal_code": address.postal_code if address else "",
        "sender_country": address.country if address else "",
        "locale": draft.lang,
        "idempotency_key": draft.key,
        "expected_total": expected_total,
    }
    if method:
        data["shipping_method"] = method
    return ReturnCreateIn(**data)


# -- words ----------------------------------------------------------------------------------------

STATUS_LABELS = {
    "requested": pgettext_lazy("return status", "Requested"),
    "approved": pgettext_lazy("return status", "Approved"),
    "rejected": pgettext_lazy("return status", "Not accepted"),
    "label_issued": pgettext_lazy("return status", "Ready to send"),
    "in_transit": pgettext_lazy("return status", "On its way back"),
    "received": pgettext_lazy("return status", "Received"),
    "inspected": pgettext_lazy("return status", "Checked"),
    "refunded": pgettext_lazy("return status", "Refunded"),
    "credited": pgettext_lazy("return status", "Credited"),
    "exchanged": pgettext_lazy("return status", "Exchanged"),
    "closed": pgettext_lazy("return status", "Completed"),
    "cancelled": pgettext_lazy("return status", "Cancelled"),
}
OUTCOME_LABELS = {
    "refund": _("Refund to your original payment"),
    "store_credit": _("Store credit"),
    "exchange_same": _("Exchange for another size or colour"),
    "exchange_other": _("Exchange for a different product"),
    "keep_item": _("Keep the item and get a refund"),
}
OUTCOME_HINTS = {
    "refund": _("The money goes back to the card or account you paid with."),
    "store_credit": _("Spend it in the shop whenever you like."),
    "exchange_same": _("We send you the same product in the variant you choose."),
    "exchange_other": _("Choose something else from the shop; we settle the difference."),
    "keep_item": _("No need to send anything back."),
}
METHOD_LABELS = {
    "prepaid_label": _("Prepaid shipping label"),
    "drop_off": _("Drop-off with a QR code"),
    "in_store": _("Return in store"),
    "none": _("Nothing to send"),
}
METHOD_HINTS = {
    "prepaid_label": _("Print the label, stick it on the parcel and hand it to the carrier."),
    "drop_off": _("No printer needed: show the QR code at a drop-off point."),
    "in_store": _("Bring the items to the store and show the QR code."),
    "none": "",
}


# The order the portal offers them in: no printer first, then the store, then a label.
METHOD_PREFERENCE = ("drop_off", "in_store", "prepaid_label")


def method_available(store, code: str) -> bool:
    """Prepaid labels need a carrier label service; the other methods need nothing."""
    if code == ReturnRequest.ShippingMethod.PREPAID_LABEL:
        return labels.prepaid_labels_available(store)
    return code in METHOD_PREFERENCE


def status_label(code: str) -> str:
    return str(STATUS_LABELS.get(code, code))


def outcome_label(code: str) -> str:
    return str(OUTCOME_LABELS.get(code, code))


def method_label(code: str) -> str:
    return str(METHOD_LABELS.get(code, code))


# What the returns core says to shoppers, in English; the store's own rule messages pass as they
# are. gettext_noop marks them for the portal's catalogs (see shopper_text).
KNOWN_MESSAGES = (
    gettext_noop("This order was cancelled, so there is nothing to return."),
    gettext_noop("This order has not shipped yet. You can return items once they arrive."),
    gettext_noop("This item has already been returned."),
    gettext_noop("This item cannot be returned."),
    gettext_noop("None of the items in this order can be returned."),
    gettext_noop("This item was sold as final sale and cannot be returned."),
    gettext_noop("No return option is available for this item."),
)
_WINDOW = re.compile(r"^The return window of (\d+) days for this item has closed\.$")


def shopper_text(message: str) -> str:
    """A message from the returns core in the active language when the portal knows it."""
    if not message:
        return ""
    window = _WINDOW.match(message)
    if window:
        days = int(window.group(1))
        return ngettext(
            "The return window of %(days)d day for this item has closed.",
            "The return window of %(days)d days for this item has closed.",
            days,
        ) % {"days": days}
    return gettext(message) if message in KNOWN_MESSAGES else message


def money(amount: Decimal | None, currency: str, lang: str) -> str:
    # Keyed by the amount's text: equal Decimals (0 and -0.00) may not be written alike.
    return _money(str(amount or Decimal(0)), currency, lang)


@functools.lru_cache(maxsize=4096)
def _money(amount: str, currency: str, lang: str) -> str:
    """Formatted once per amount, currency and language: the portal's pages show the same
    prices (a catalogue, the order's lines) again and again, and babel is slow at it."""
    return format_money(Decimal(amount), currency, babel_locale(lang))


def sample_return_context(message, locale: str) -> dict:
    """A believable return for the back office's preview of a store without returns."""
    order = message.order
    number = order.number if order is not None else "#1001"
    currency = order.currency if order is not None else message.store.currency
    total = money(Decimal("32.40"), currency, locale)
    block = {
        "id": "ret_sample",
        "reference": f"{number}-R1",
        "status": status_label("approved"),
        "outcome": outcome_label("store_credit"),
        "outcome_code": "store_credit",
        "method": method_label("drop_off"),
        "method_code": "drop_off",
        "is_gift": False,
        "items": [{"title": "Trail Mug", "variant": "", "quantity": 1, "amount": total}],
        "items_text": "1 × Trail Mug",
        "items_amount": money(Decimal("29.45"), currency, locale),
        "fee": "",
        "bonus": money(Decimal("2.95"), currency, locale),
        "total": total,
        "upcharge": "",
        "exchange_items": "",
        "exchange_order": "",
        "rejection_reason": "",
        "carrier": "",
        "tracking_number": "",
        "credit_code": "",
    }
    return {
        "return": block,
        "links": {"return_url": absolute(reverse("returns:status", args=["sample"]))},
    }


# -- labels ---------------------------------------------------------------------------------------

LABELLED_METHODS = ("prepaid_label", "drop_off", "in_store")


def label_needed(ret: ReturnRequest) -> bool:
    return (
        ret.shipping_method in LABELLED_METHODS
        and ret.status == ReturnRequest.Status.APPROVED
        and not ret.labels.filter(voided_at__isnull=True).exists()
    )


def parcel_for(ret: ReturnRequest) -> labels.Parcel:
    """The return as a parcel: the shopper's address (from the order), the store's, the items
    with their reasons in the shopper's language."""
    order = ret.order
    store = ret.store
    shipping = order.shipping_address
    customer = ret.customer or order.customer
    sender = labels.Address(
        name=(ret.gift_recipient_name if ret.is_gift else "")
        or (shipping.name if shipping else "")
        or (f"{customer.first_name} {customer.last_name}".strip() if customer else ""),
        line1=shipping.line1 if shipping else "",
        line2=shipping.line2 if shipping else "",
        postal_code=ret.sender_postal_code or (shipping.postal_code if shipping else ""),
        city=shipping.city if shipping else "",
        region=shipping.region if shipping else "",
        country=ret.sender_country or (shipping.country if shipping else ""),
        email=(ret.gift_recipient_email if ret.is_gift else "") or order.email,
        phone=shipping.phone if shipping else "",
    )
    postal = [row.strip() for row in (store.postal_address or "").splitlines() if row.strip()]
    recipient = labels.Address(
        name=store.name,
        line1=postal[0] if postal else "",
        line2=", ".join(postal[1:]),
        country=store.country,
        email=store.support_email,
        phone=store.support_phone,
    )
    lang = ret.locale or store.default_locale
    items = []
    weight = 0
    for line in ret.lines.select_related("order_line__product", "reason"):
        reason = line.reason.label_for(lang) if line.reason_id else line.reason_code
        items.append(
            labels.ParcelItem(
                title=line.order_line.title,
                variant=line.order_line.variant_title,
                sku=line.order_line.sku,
                quantity=line.quantity,
                reason=reason,
            )
        )
        product = line.order_line.product
        if product is not None and product.weight_grams:
            weight += product.weight_grams * line.quantity
    return labels.Parcel(
        reference=ret.public_id,
        order_number=order.number,
        method=ret.shipping_method,
        store_name=store.name,
        sender=sender,
        recipient=recipient,
        items=tuple(items),
        weight_grams=weight,
    )


def label_issue(*, store, ret: ReturnRequest) -> ReturnLabel | None:
    """Ask the provider for the return's label and record it (once: the return's row is locked,
    and a return that already has a label keeps it). Raises labels.LabelError when the provider
    fails; a refused label (not retryable) is logged and leaves the return approved for staff."""
    from django.utils import translation

    from aftersale.returns.services import Actor, return_label_record

    with transaction.atomic():
        locked = ReturnRequest.objects.select_for_update().get(pk=ret.pk, store=store)
        if not label_needed(locked):
            return locked.labels.filter(voided_at__isnull=True).first()
        provider = labels.provider_for(store, locked.shipping_method)
        with translation.override(locked.locale or store.default_locale):
            parcel = parcel_for(locked)
            try:
                result = provider.create_label(locked, parcel)
            except labels.LabelError as exc:
                if exc.retryable:
                    raise
                logger.warning("label for %s refused: %s", locked.public_id, exc.message)
                StoreAlert.objects.create(
                    store=store,
                    level=StoreAlert.Level.ERROR,
                    kind="return_label_refused",
                    subject=locked.public_id,
                    message=f"No label for return {locked.reference}: {exc.message}",
                )
                return None
        return return_label_record(
            store=store,
            ret=locked,
            provider=provider.code,
            carrier=result.carrier,
            service=result.service,
            tracking_number=result.tracking_number,
            tracking_url=result.tracking_url,
            provider_ref=result.provider_ref,
            qr_payload=locked.public_id,
            # The built-in slip is drawn again on request (packing_slip); a carrier's is kept.
            document=None
            if isinstance(provider, labels.AftersalePdfProvider)
            else result.label_pdf,
            actor=Actor.system("label provider"),
        )


def packing_slip(ret: ReturnRequest, label: ReturnLabel | None) -> bytes:
    """Our slip with the return's QR code, in the shopper's language (drawn on request)."""
    from django.utils import translation

    with translation.override(ret.locale or ret.store.default_locale):
        return labels.packing_slip_pdf(
            parcel_for(ret),
            carrier=label.carrier if label else "",
            tracking_number=label.tracking_number if label else "",
        )
