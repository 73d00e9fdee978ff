"""The shopper's returns portal: /returns (lookup), the steps, and /returns/s/<token> (status).

Server-rendered, no JavaScript needed. Each step is GET (show) + POST (check, then 303 to the next
step), carrying the shopper's choices in a signed draft token (`?s=`, portal.Draft). What may be
returned, the reasons, outcomes, amounts and methods come from the returns selectors and
services on every request; the final POST is checked again by the create service, which is also
what makes a double submit one return (the draft's idempotency key).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import connections, router
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods
from pydantic import ValidationError

from aftersale.core.services import Conflict, DomainError
from aftersale.orders.models import Order
from aftersale.returns import labels, photos, portal
from aftersale.returns.models import Outcome, ReturnLabel, ReturnPhoto, ReturnRequest
from aftersale.returns.portal import Draft, DraftItem, DraftPhoto
from aftersale.tracking import pages
from aftersale.tracking.models import TrackLookupAttempt
from aftersale.tracking.tokens import tracking_path

STEPS = ("items", "reason", "outcome", "method", "confirm")
COMMENT_MAX = 2000
OUTCOME_ORDER = [o.value for o in Outcome]


# -- rendering ------------------------------------------------------------------------------------


# The colours of a store's branding, worked out once per pair of colours (Palette is frozen).
_palette = functools.lru_cache(maxsize=1024)(pages.palette)


def _render(request, template, context, *, lang, store=None, zone=None, status=200):
    palette = _palette(store.brand_color, store.accent_color) if store else _palette()
    with translation.override(lang), timezone.override(zone or UTC):
        response = render(
            request,
            f"returns/portal/{template}",
            {"lang": lang, "palette": palette, "store": store, **context},
            status=status,
        )
    response["Content-Language"] = lang
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


def _request_lang(request) -> str:
    return pages.page_language(
        request.GET.get("lang", ""),
        request.POST.get("lang", "") if request.method == "POST" else "",
        getattr(request, "LANGUAGE_CODE", ""),
    )


def _invalid(request, store=None, lang=None):
    lang = lang or _request_lang(request)
    return _render(request, "invalid.html", {}, lang=lang, store=store, status=404)


def _step_url(step: str, draft: Draft, **extra) -> str:
    return reverse(f"returns:{step}") + "?" + urlencode({"s": draft.sign(), **extra})


def _redirect(step: str, draft: Draft) -> HttpResponseRedirect:
    response = HttpResponseRedirect(_step_url(step, draft))
    response.status_code = 303
    return response


# -- the page cache -------------------------------------------------------------------------------
#
# The lookup page, the items page of a fresh draft and the confirm page are rendered once per
# what they show and kept a minute: the HTML is stored with markers where this request's own
# parts go (the draft token and the CSRF token) and filled in per request. What they show comes
# with a version read in one query (the order, its shipments, the customer and their returns,
# the rules, the reasons, the stock of the order's products), so a change shows at once; the
# minute bounds what depends on the clock alone (a return window closing). A cached page is only
# ever shown: every POST asks the services again.

PAGE_TTL = 60
STATE_MARK = "R2DRAFTSTATEMARK"
CSRF_MARK = "R2CSRFTOKENMARK"


@functools.cache
def _page_version_sql() -> tuple[str, tuple]:
    """One query for everything a cached page depends on, compiled once (only the pk varies)."""
    from django.db.models import Count, Max, OuterRef, Q, Subquery

    from aftersale.catalog.models import Variant
    from aftersale.customers.models import Customer
    from aftersale.orders.models import OrderLine
    from aftersale.returns.models import ReturnReason, ReturnRuleSet
    from aftersale.tracking.models import Shipment

    def latest(qs, group: str, column: str = "updated_at"):
        return Subquery(qs.order_by().values(group).annotate(v=Max(column)).values("v")[:1])

    returns = ReturnRequest.objects.filter(store_id=OuterRef("store_id")).filter(
        Q(order_id=OuterRef("pk")) | Q(customer_id=OuterRef("customer_id"))
    )
    products = OrderLine.objects.filter(order_id=OuterRef(OuterRef("pk"))).values("product_id")
    qs = (
        Order.objects.filter(public_id=SENTINEL)
        .annotate(
            r=latest(returns, "store_id"),
            s=latest(Shipment.objects.filter(order_id=OuterRef("pk")), "order_id"),
            c=Subquery(
                Customer.objects.filter(pk=OuterRef("customer_id")).values("updated_at")[:1]
            ),
            v=latest(Variant.objects.filter(product_id__in=products), "store_id"),
            rules=Subquery(
                ReturnRuleSet.objects.filter(store_id=OuterRef("store_id")).values("version")[:1]
            ),
            reasons=Subquery(
                ReturnReason.objects.filter(store_id=OuterRef("store_id"))
                .order_by()
                .values("store_id")
                .annotate(n=Count("id", filter=Q(active=True)) * 1000000 + Max("id"))
                .values("n")[:1]
            ),
        )
        .values_list(
            "pk",
            "customer__locale",
            "store__default_locale",
            "updated_at",
            "r",
            "s",
            "c",
            "v",
            "rules",
            "reasons",
        )
    )
    sql, params = qs.query.sql_with_params()
    if list(params).count(SENTINEL) != 1:  # the order's public id, once, among the constants
        raise RuntimeError(f"unexpected parameters in the page version query: {params!r}")
    return sql, tuple(params)


SENTINEL = "ord_r2-page-version-sentinel"


@dataclass(frozen=True)
class _Probe:
    pk: int
    customer_locale: str
    store_locale: str
    version: str


def _page_probe(order_public_id: str) -> _Probe | None:
    """The order's pk, what picks the page's language, and the version of everything its
    cached pages show: one query, compiled once."""
    sql, params = _page_version_sql()
    with connections[router.db_for_read(Order)].cursor() as cursor:
        cursor.execute(sql, [order_public_id if p == SENTINEL else p for p in params])
        row = cursor.fetchone()
    if row is None:
        return None
    return _Probe(
        pk=row[0],
        customer_locale=row[1] or "",
        store_locale=row[2] or "",
        version=hashlib.sha256(repr(row[3:]).encode()).hexdigest()[:24],
    )


def _serve_cached(request, cached: tuple[str, str], *, state: str, response=None):
    """A page kept with markers, with this request's draft token and CSRF token put in."""
    html, language = cached
    if response is None:
        response = HttpResponse(content_type="text/html; charset=utf-8")
        response["Content-Language"] = language
        response["Cache-Control"] = "no-store"
        response["X-Robots-Tag"] = "noindex"
    if CSRF_MARK in html:
        html = html.replace(CSRF_MARK, get_token(request))
    if state:
        html = html.replace(STATE_MARK, state)
    response.content = html.encode()
    return response


def _keep(request, key: str, response, *, state: str = ""):
    """Keep a page rendered with the markers (200 only) and answer it filled in."""
    if response.status_code != 200:
        return response
    cached = (response.content.decode(), response["Content-Language"])
    cache.set(key, cached, PAGE_TTL)
    return _serve_cached(request, cached, state=state, response=response)


class _Session:
    """One step's request: the draft, its order and store, the page language and zone."""

    def __init__(self, request, draft: Draft, order: Order):
        self.request = request
        self.draft = draft
        self.order = order
        self.store = order.store
        customer = order.customer
        self.lang = pages.page_language(
            request.GET.get("lang", ""),
            draft.lang,
            customer.locale if customer else "",
            self.store.default_locale,
        )
        self.zone = pages.page_zone(customer.time_zone if customer else "", self.store.time_zone)
        self._eligibility = None

    def render(self, template, context, status=200, step=None, marked=False):
        steps = [
            {"code": code, "label": STEP_LABELS[code], "current": code == step}
            for code in STEPS
            if not (code == "method" and self.draft.outcome == Outcome.KEEP_ITEM)
        ]
        number = next((n for n, s in enumerate(steps, 1) if s["current"]), 0)
        return _render(
            self.request,
            template,
            {
                "order": self.order,
                "draft": self.draft,
                "state": STATE_MARK if marked else self.draft.sign(),
                **({"csrf_token": CSRF_MARK} if marked else {}),
                "steps": steps,
                "step_number": number,
                "step_count": len(steps),
                **context,
            },
            lang=self.lang,
            store=self.store,
            zone=self.zone,
            status=status,
        )

    def eligibility(self):
        """The order's eligibility, worked out once per request (every quote of the page
        reuses it): nothing this request does before the last quote changes the order."""
        if self._eligibility is None:
            from aftersale.returns.selectors import return_eligibility

            with translation.override(self.lang):
                self._eligibility = return_eligibility(
                    store=self.store, order=self.order, gift=self.draft.gift, locale=self.lang
                )
        return self._eligibility

    def money(self, amount) -> str:
        return portal.money(amount, self.order.currency, self.lang)


def _session(request) -> _Session | None:
    token = request.POST.get("s") if request.method == "POST" else request.GET.get("s")
    draft = Draft.read(token or "")
    if draft is None:
        return None
    from aftersale.returns.selectors import portal_order

    order = portal_order(draft.order)
    return _Session(request, draft, order) if order is not None else None


def _with_session(view=None, *, cache_key=None):
    """Runs `view(request, session)` in the shopper's language. With `cache_key(draft, request)`
    (a string, or None for "not cached"), a GET is first looked up in the page cache with one query,
    and the view finds the key it should keep its page under in `request.returns_page_key`."""

    def decorate(view):
        def wrapped(request):
            request.returns_page_key = None
            if cache_key is not None and request.method == "GET":
                draft = Draft.read(request.GET.get("s", ""))
                part = cache_key(draft, request) if draft is not None else None
                if part is not None:
                    probe = _page_probe(draft.order)
                    if probe is None:
                        return _invalid(request)
                    lang = pages.page_language(
                        request.GET.get("lang", ""),
                        draft.lang,
                        probe.customer_locale,
                        probe.store_locale,
                    )
                    key = f"returns:{view.__name__}:{probe.pk}:{lang}:{probe.version}:{part}"
                    cached = cache.get(key)
                    if cached is not None:
                        return _serve_cached(request, cached, state=request.GET["s"])
                    request.returns_page_key = key
            session = _session(request)
            if session is None:
                return _invalid(request)
            with translation.override(session.lang):  # messages made along the way, too
                return view(request, session)

        wrapped.__name__ = view.__name__
        wrapped.__doc__ = view.__doc__
        return wrapped

    return decorate(view) if view is not None else decorate


def _draft_digest(draft: Draft, request=None) -> str | None:
    """What a step page shows besides the order: the draft's choices (not its key). Pages asked
    with a search (`q`) are not kept."""
    if request is not None and "q" in request.GET:
        return None
    choices = json.dumps({**asdict(draft), "key": ""}, sort_keys=True)
    return hashlib.sha256(choices.encode()).hexdigest()[:24]


STEP_LABELS = {
    "items": translation.gettext_lazy("Items"),
    "reason": translation.gettext_lazy("Reason"),
    "outcome": translation.gettext_lazy("Refund or exchange"),
    "method": translation.gettext_lazy("Sending it back"),
    "confirm": translation.gettext_lazy("Confirm"),
}


def _service_message(exc: DomainError) -> str:
    """The shopper's words for a service refusal: ours for the common fields, else the
    service's (rule messages are the store's own wording)."""
    name = exc.field or ""
    if name == "expected_total":
        return _(
            "The amounts changed since this page was shown. Please check the new amounts and "
            "confirm again."
        )
    if name.endswith(".quantity"):
        return _("You asked to return more of an item than you can return.")
    if name.endswith(".line") or name == "items":
        return _("One of the items is not part of this order or cannot be returned any more.")
    if name == "outcome":
        return _("This refund or exchange option is not available for these items.")
    if name == "shipping_method":
        return _("This way of sending the items back is not available.")
    if name.endswith(".exchange_variant"):
        return _("The item you chose for the exchange is not available any more.")
    return portal.shopper_text(exc.message)


# -- lookup and start -----------------------------------------------------------------------------


def _postcode(value: str) -> str:
    return re.sub(r"[\s\-.]", "", value or "").upper()


def _lookup_store(request):
    from aftersale.core.models import Store

    slug = request.GET.get("store", "") or request.POST.get("store", "")
    return Store.objects.filter(slug=slug).first() if slug else None


@csrf_exempt  # reads only, like /track: nothing to forge, and failures look alike without a token
@require_http_methods(["GET", "POST"])
def lookup(request):
    store = _lookup_store(request)
    lang = _request_lang(request)
    if store is not None and not request.GET.get("lang"):
        lang = pages.page_language(getattr(request, "LANGUAGE_CODE", ""), store.default_locale)
    if request.method == "GET":
        key = f"returns:lookup:{lang}:{store.pk if store else ''}"
        cached = cache.get(key)
        if cached is not None:
            return _serve_cached(request, cached, state="")
        page = _render(request, "lookup.html", {"form": {}}, lang=lang, store=store)
        return _keep(request, key, page)

    gift = request.POST.get("gift") == "1"
    form = {
        "gift": gift,
        "number": request.POST.get("number", "")[:60],
        "contact": request.POST.get("contact", "")[:254],
        "postcode": request.POST.get("postcode", "")[:20],
        "email": request.POST.get("email", "").strip()[:254],
        "name": request.POST.get("name", "").strip()[:200],
    }
    errors: dict[str, str] = {}
    with translation.override(lang):
        if gift:
            try:
                validate_email(form["email"])
            except DjangoValidationError:
                errors["email"] = _("Please enter your email address, for example ana@example.com.")
            if not form["postcode"].strip():
                errors["postcode"] = _("Please enter the postcode the order was sent to.")
        if not form["number"].strip():
            errors["number"] = _("Please enter the order number.")
        if not gift and not form["contact"].strip():
            errors["contact"] = _("Please enter your email address or postcode.")
    if errors:
        return _render(
            request,
            "lookup.html",
            {"form": form, "errors": errors},
            lang=lang,
            store=store,
            status=422,
        )

    client = pages.client_key(request.META.get("REMOTE_ADDR", ""))
    subject = pages.normalise_code(form["number"])
    if not pages.lookup_allowed(client=client, subject=subject):
        response = _render(request, "too_many.html", {}, lang=lang, store=store, status=429)
        response["Retry-After"] = str(int(pages.lookup_window().total_seconds()))
        return response
    contact = form["postcode"] if gift else form["contact"]
    order = pages.order_lookup(number=form["number"], contact=contact)
    if order is not None and store is not None and order.store_id != store.pk:
        order = None
    if order is not None and gift:
        address = order.shipping_address
        if address is None or _postcode(address.postal_code) != _postcode(contact):
            order = None  # a gift is found by the postcode it went to, not the buyer's email
    pages.lookup_record(
        kind=TrackLookupAttempt.Kind.ORDER,
        client=client,
        subject=subject,
        succeeded=order is not None,
    )
    if order is None:
        return _render(
            request,
            "lookup.html",
            {"form": form, "not_found": True},
            lang=lang,
            store=store,
            status=404,
        )
    draft = Draft.start(
        order.public_id,
        lang=lang,
        gift=gift,
        gift_email=form["email"].lower() if gift else "",
        gift_name=form["name"] if gift else "",
    )
    return _redirect("items", draft)


@require_GET
def start(request, token: str):
    """From an email or the tracking page: the signed link opens the order without a lookup."""
    order_id = portal.read_start_token(token)
    if not order_id or not Order.objects.filter(public_id=order_id).exists():
        return _invalid(request)
    lang = request.GET.get("lang", "")
    draft = Draft.start(order_id, lang=pages.page_language(lang) if lang else "")
    return _redirect("items", draft)


# -- step 1: items --------------------------------------------------------------------------------


def _items_context(session: _Session, eligibility, chosen: dict[str, int]) -> dict:
    rows = []
    for line in eligibility.lines:
        rows.append(
            {
                "line": line,
                "denied": portal.shopper_text(line.deny_message),
                "quantities": list(range(0, line.returnable_qty + 1)),
                "chosen": chosen.get(line.line_id, 0),
                "unit": session.money(line.unit_amount),
                "window_ends": line.window_ends_at,
            }
        )
    open_returns = [
        {"ret": ret, "url": portal.status_path(ret), "status": portal.status_label(ret.status)}
        for ret in eligibility.returns  # every return of the order, oldest first
    ]
    return {
        "eligibility": eligibility,
        "deny_message": portal.shopper_text(eligibility.deny_message),
        "rows": rows,
        "open_returns": open_returns,
    }


@require_http_methods(["GET", "POST"])
@_with_session(cache_key=lambda draft, _: None if draft.items else f"g{int(draft.gift)}")
def items(request, session: _Session):
    chosen = {item.line: item.quantity for item in session.draft.items}
    if request.method == "GET":
        key = request.returns_page_key  # a fresh draft: no choices of its own on the page
        context = _items_context(session, session.eligibility(), chosen)
        page = session.render("items.html", context, step="items", marked=key is not None)
        return _keep(request, key, page, state=request.GET["s"]) if key else page

    eligibility = session.eligibility()
    by_line = {line.line_id: line for line in eligibility.lines}
    picked: dict[str, int] = {}
    error = ""
    with translation.override(session.lang):
        for key, value in request.POST.items():
            if not key.startswith("qty-"):
                continue
            line_id = key[4:]
            line = by_line.get(line_id)
            try:
                quantity = int(value)
            except ValueError:
                quantity = -1
            if quantity == 0:
                continue
            if line is None:
                error = _("One of the items is not part of this order.")
            elif not line.eligible:
                error = portal.shopper_text(line.deny_message) or _("This item cannot be returned.")
            elif not 1 <= quantity <= line.returnable_qty:
                error = _("You can return at most %(count)d of “%(title)s”.") % {
                    "count": line.returnable_qty,
                    "title": line.title,
                }
            else:
                picked[line_id] = quantity
        if not error and not picked:
            error = _("Please choose at least one item to return.")
    if error:
        context = _items_context(session, eligibility, picked or chosen)
        return session.render("items.html", {**context, "error": error}, status=422, step="items")
    kept = {item.line: item for item in session.draft.items}
    session.draft.items = [
        DraftItem(
            line=line_id,
            quantity=quantity,
            reason=kept[line_id].reason if line_id in kept else "",
            comment=kept[line_id].comment if line_id in kept else "",
            photos=kept[line_id].photos if line_id in kept else [],
        )
        for line_id, quantity in picked.items()
    ]
    return _redirect("reason", session.draft)


# -- step 2: reason, comment, photos --------------------------------------------------------------


def _leaf_reasons(line) -> dict[str, object]:
    found: dict[str, object] = {}
    for option in line.reasons:
        if option.children:
            for child in option.children:
                found[child.code] = child
        else:
            found[option.code] = option
    return found


def _reason_rows(session: _Session, eligibility, errors: dict[str, str]) -> list[dict] | None:
    by_line = {line.line_id: line for line in eligibility.lines}
    rows = []
    for item in session.draft.items:
        line = by_line.get(item.line)
        if line is None:
            return None
        rows.append(
            {
                "item": item,
                "line": line,
                "photo_reasons": sorted(line.photo_reasons),
                "error": errors.get(item.line, ""),
                "max_photos": photos.MAX_PHOTOS,
            }
        )
    return rows


def _reason_context(rows) -> dict:
    from django.conf import settings

    # The whole form must stay under the installation's request size limit (photos together).
    limit = int(settings.AFTERSALE_MAX_UPLOAD_BYTES) - 64 * 1024
    return {"rows": rows, "body_limit": limit, "body_limit_text": filesizeformat(limit)}


@require_http_methods(["GET", "POST"])
@_with_session
def reason(request, session: _Session):
    if not session.draft.items:
        return _redirect("items", session.draft)
    eligibility = session.eligibility()
    if request.method == "GET":
        rows = _reason_rows(session, eligibility, {})
        if rows is None:
            return _redirect("items", session.draft)
        return session.render("reason.html", _reason_context(rows), step="reason")

    by_line = {line.line_id: line for line in eligibility.lines}
    errors: dict[str, str] = {}
    cleaned: dict[str, list[photos.CleanPhoto]] = {}
    chosen: dict[str, tuple[str, str, bool]] = {}
    with translation.override(session.lang):
        for item in session.draft.items:
            line = by_line.get(item.line)
            if line is None:
                return _redirect("items", session.draft)
            leaves = _leaf_reasons(line)
            code = request.POST.get(f"reason-{item.line}", "")
            comment = request.POST.get(f"comment-{item.line}", "").strip()
            remove = request.POST.get(f"remove-{item.line}") == "1"
            option = leaves.get(code)
            if option is None:
                errors[item.line] = (
                    _("Please choose a reason for “%(title)s”.") % {"title": line.title}
                    if not code
                    else _("This reason is not available for “%(title)s”.") % {"title": line.title}
                )
                continue
            if len(comment) > COMMENT_MAX:
                errors[item.line] = _("Please keep the comment under %(count)d characters.") % {
                    "count": COMMENT_MAX
                }
                continue
            uploads = request.FILES.getlist(f"photos-{item.line}")
            existing = 0 if remove else len(item.photos)
            try:
                if existing + len(uploads) > photos.MAX_PHOTOS:
                    raise DomainError(
                        _("Please attach at most %(count)d photos per item.")
                        % {"count": photos.MAX_PHOTOS}
                    )
                cleaned[item.line] = [photos.clean_photo(upload) for upload in uploads]
            except DomainError as exc:
                errors[item.line] = exc.message
                continue
            needs = code in line.photo_reasons or line.photos_required
            if needs and existing + len(cleaned[item.line]) == 0:
                errors[item.line] = _(
                    "Please add at least one photo of “%(title)s”: the store needs to see it for "
                    "this reason."
                ) % {"title": line.title}
                continue
            chosen[item.line] = (code, comment, remove)
    if errors:
        # Nothing is kept from a refused form: no photo is stored, the draft is unchanged.
        rows = _reason_rows(session, eligibility, errors)
        for row in rows or []:
            row["posted_reason"] = request.POST.get(f"reason-{row['item'].line}", "")
            row["posted_comment"] = request.POST.get(f"comment-{row['item'].line}", "")[
                :COMMENT_MAX
            ]
        return session.render(
            "reason.html", {**_reason_context(rows), "errors": errors}, status=422, step="reason"
        )

    for item in session.draft.items:
        code, comment, remove = chosen[item.line]
        if remove:
            photos.draft_delete([p.name for p in item.photos])
            item.photos = []
        for photo in cleaned.get(item.line, []):
            name = photos.draft_save(session.store.pk, photo)
            item.photos.append(
                DraftPhoto(
                    name=name,
                    content_type=photo.content_type,
                    width=photo.width,
                    height=photo.height,
                    filename=photo.original_name[:100],
                )
            )
        item.reason = code
        item.comment = comment
    return _redirect("outcome", session.draft)


# -- step 3: outcome ------------------------------------------------------------------------------


def _quote(session: _Session, outcome: str | None = None, expected_total=None, method=None):
    """The services' price of the draft (DomainError when it is not possible). Before the
    shopper picks a method, the quote uses the first one the store offers."""
    from aftersale.returns.services import return_quote

    draft = session.draft
    if method is None and not draft.method:
        method = _default_method(session)
    try:
        data = portal.draft_input(
            draft, session.order, outcome=outcome, expected_total=expected_total, method=method
        )
    except ValidationError:
        raise DomainError(_("These choices are not complete."), field="draft") from None
    with translation.override(session.lang):
        return return_quote(
            store=session.store, order=session.order, data=data, eligibility=session.eligibility()
        )


def _default_method(session: _Session) -> str | None:
    offered = session.eligibility().shipping_methods
    for code in portal.METHOD_PREFERENCE:
        if code in offered and portal.method_available(session.store, code):
            return code
    return None


def _outcome_options(session: _Session, eligibility) -> tuple[list[dict], dict]:
    from aftersale.returns.selectors import exchange_catalog

    by_line = {line.line_id: line for line in eligibility.lines}
    lines = [by_line[item.line] for item in session.draft.items if item.line in by_line]
    allowed = None
    for line in lines:
        codes = {option.code for option in line.outcomes}
        allowed = codes if allowed is None else allowed & codes
    options = []
    exchange = {"same": [], "other": []}
    for code in OUTCOME_ORDER:
        if code not in (allowed or set()):
            continue
        option = {
            "code": code,
            "label": portal.outcome_label(code),
            "hint": portal.OUTCOME_HINTS.get(code, ""),
        }
        if code in (Outcome.EXCHANGE_SAME, Outcome.EXCHANGE_OTHER):
            if code == Outcome.EXCHANGE_SAME:
                rows = [
                    {
                        "line": line,
                        "item": session.draft.item(line.line_id),
                        "variants": [
                            {"v": v, "price": session.money(v.price)}
                            for v in line.exchange_variants
                        ],
                    }
                    for line in lines
                ]
                if not all(row["variants"] for row in rows):
                    continue
                exchange["same"] = rows
            else:
                query = session.request.GET.get("q", "")[:100]
                catalog = exchange_catalog(
                    store=session.store, currency=session.order.currency, query=query
                )
                if not catalog and not query:
                    continue
                choices = [{"v": v, "price": session.money(v.price)} for v in catalog]
                exchange["other"] = [
                    {"line": line, "item": session.draft.item(line.line_id), "variants": choices}
                    for line in lines
                ]
                exchange["query"] = query
            option["exchange"] = True
            options.append(option)
            continue
        try:
            quote = _quote(session, outcome=code)
        except DomainError:
            continue  # a rule on the chosen reason hides it
        option.update(
            total=session.money(quote.total_amount),
            fee=session.money(quote.fee_amount) if quote.fee_amount else "",
            bonus=session.money(quote.bonus_amount) if quote.bonus_amount else "",
            bonus_percent=max(
                (o.bonus_percent for line in lines for o in line.outcomes if o.code == code),
                default=Decimal(0),
            ),
        )
        options.append(option)
    return options, exchange


@require_http_methods(["GET", "POST"])
@_with_session(cache_key=_draft_digest)
def outcome(request, session: _Session):
    if not session.draft.items or any(not item.reason for item in session.draft.items):
        return _redirect("reason" if session.draft.items else "items", session.draft)
    eligibility = session.eligibility()
    if request.method == "GET":
        options, exchange = _outcome_options(session, eligibility)
        template = "_catalog.html" if request.htmx and "q" in request.GET else "outcome.html"
        key = request.returns_page_key
        context = {"options": options, "exchange": exchange}
        page = session.render(template, context, step="outcome", marked=key is not None)
        return _keep(request, key, page, state=request.GET["s"]) if key else page

    code = request.POST.get("outcome", "")
    variants = {
        item.line: request.POST.get(f"{code}-{item.line}", "")
        for item in session.draft.items
        if code in (Outcome.EXCHANGE_SAME, Outcome.EXCHANGE_OTHER)
    }
    previous = (session.draft.outcome, dict(session.draft.variants))
    session.draft.outcome = code
    session.draft.variants = {line: v for line, v in variants.items() if v}
    error = ""
    with translation.override(session.lang):
        if code not in OUTCOME_ORDER:
            error = _("Please choose what you would like instead.")
        elif variants and not all(variants.values()):
            error = _("Please choose the replacement for every item.")
        else:
            try:
                _quote(session)
            except DomainError as exc:
                error = _service_message(exc)
    if error:
        session.draft.outcome, session.draft.variants = previous
        options, exchange = _outcome_options(session, eligibility)
        return session.render(
            "outcome.html",
            {"options": options, "exchange": exchange, "error": error, "posted": code},
            status=422,
            step="outcome",
        )
    if code == Outcome.KEEP_ITEM:
        session.draft.method = ReturnRequest.ShippingMethod.NONE
        return _redirect("confirm", session.draft)
    if session.draft.method == ReturnRequest.ShippingMethod.NONE:
        session.draft.method = ""
    return _redirect("method", session.draft)


# -- step 4: method -------------------------------------------------------------------------------


def _methods(session: _Session, quote) -> list[dict]:
    """The ways back the rules allow for this return (prepaid labels only with a label
    service), each with what the shopper gets back that way (a return fee may not apply)."""
    found = []
    for code in portal.METHOD_PREFERENCE:
        if code not in quote.shipping_methods or not portal.method_available(session.store, code):
            continue
        try:
            priced = _quote(session, method=code)
        except DomainError:
            continue
        found.append(
            {
                "code": code,
                "label": portal.method_label(code),
                "hint": portal.METHOD_HINTS.get(code, ""),
                "total": session.money(priced.total_amount),
                "fee": session.money(priced.return_fee) if priced.return_fee else "",
            }
        )
    return found


def _method_key(draft: Draft, request) -> str | None:
    digest = _draft_digest(draft, request)
    return f"{digest}:{labels.config_fingerprint()}" if digest else None


@require_http_methods(["GET", "POST"])
@_with_session(cache_key=_method_key)
def method(request, session: _Session):
    if not session.draft.outcome:
        return _redirect("outcome", session.draft)
    try:
        quote = _quote(session)
    except DomainError:
        return _redirect("outcome", session.draft)
    methods = _methods(session, quote)
    if request.method == "GET":
        key = request.returns_page_key
        page = session.render(
            "method.html", {"methods": methods}, step="method", marked=key is not None
        )
        return _keep(request, key, page, state=request.GET["s"]) if key else page
    code = request.POST.get("method", "")
    if code not in {m["code"] for m in methods}:
        with translation.override(session.lang):
            error = _("Please choose how you will send the items back.")
        return session.render(
            "method.html", {"methods": methods, "error": error}, status=422, step="method"
        )
    session.draft.method = code
    return _redirect("confirm", session.draft)


# -- step 5: confirm ------------------------------------------------------------------------------


def _confirm_context(session: _Session, quote) -> dict:
    lines = []
    for q in quote.lines:
        item = session.draft.item(q.line.public_id)
        lines.append(
            {
                "q": q,
                "reason": q.reason.label_for(session.lang) if q.reason else "",
                "amount": session.money(q.amount),
                "photos": len(item.photos) if item else 0,
                "comment": item.comment if item else "",
                "exchange_price": session.money(q.exchange_unit_price * q.quantity)
                if q.exchange_variant
                else "",
            }
        )
    m = session.money
    return {
        "quote": quote,
        "lines": lines,
        "outcome_label": portal.outcome_label(quote.outcome),
        "method_label": portal.method_label(session.draft.method),
        "amounts": {
            "items": m(quote.items_amount),
            "fee": m(quote.fee_amount) if quote.fee_amount else "",
            "bonus": m(quote.bonus_amount) if quote.bonus_amount else "",
            "exchange": m(quote.exchange_amount) if quote.exchange_amount else "",
            "upcharge": m(quote.upcharge_amount) if quote.upcharge_amount else "",
            "total": m(quote.total_amount),
        },
        "expected_total": str(quote.total_amount),
        "timing": quote.refund_timing,
    }


@require_http_methods(["GET", "POST"])
@_with_session(cache_key=_draft_digest)
def confirm(request, session: _Session):
    from aftersale.returns.services import Actor, return_request_create

    draft = session.draft
    if not draft.outcome:
        return _redirect("outcome", draft)
    if draft.outcome != Outcome.KEEP_ITEM and not draft.method:
        return _redirect("method", draft)
    if request.method == "GET":
        try:
            quote = _quote(session)
        except DomainError:
            return _redirect("outcome", draft)
        key = request.returns_page_key
        context = _confirm_context(session, quote)
        page = session.render("confirm.html", context, step="confirm", marked=key is not None)
        return _keep(request, key, page, state=request.GET["s"]) if key else page

    error = ""
    raw_total = request.POST.get("expected_total", "")
    try:
        expected = Decimal(raw_total)
        if not expected.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        expected = None
    ret = None
    with translation.override(session.lang):
        if expected is None:
            error = _("The amounts on this page are missing. Please check them and confirm again.")
        else:
            try:
                data = portal.draft_input(draft, session.order, expected_total=expected)
                files = _draft_photos(session)
                result = return_request_create(
                    store=session.store,
                    order=session.order,
                    data=data,
                    photos=files,
                    actor=Actor.shopper(),
                )
                ret = result.request
            except ValidationError:
                error = _("These choices are not complete.")
            except DomainError as exc:
                error = _service_message(exc)
    if ret is None:
        try:
            context = _confirm_context(session, _quote(session))
        except DomainError:
            context = {"quote": None}  # the draft itself is refused: start the items again
        context["error"] = error
        return session.render("confirm.html", context, status=422, step="confirm")
    photos.draft_delete(draft.photo_names())
    if portal.label_needed(ret):
        # On a provider failure the return.approved subscriber tries again; the page says so.
        with contextlib.suppress(labels.LabelError):
            portal.label_issue(store=session.store, ret=ret)
    response = HttpResponseRedirect(portal.status_path(ret))
    response.status_code = 303
    return response


def _draft_photos(session: _Session):
    from aftersale.returns.schemas import PhotoIn

    found: dict[str, list] = {}
    for item in session.draft.items:
        for photo in item.photos:
            if not photos.draft_name_ok(session.store.pk, photo.name):
                raise DomainError(_("A photo of this return is missing."), field="photos")
            content = photos.draft_read(photo.name)
            if content is None:
                raise DomainError(
                    _("A photo you added has expired. Please add it again."), field="photos"
                )
            found.setdefault(item.line, []).append(
                PhotoIn(
                    content=content,
                    content_type=photo.content_type,
                    width=photo.width,
                    height=photo.height,
                    filename=photo.filename,
                )
            )
    return found


# -- the status page, its documents and photos ----------------------------------------------------


@require_http_methods(["GET", "POST"])
def status(request, token: str):
    from aftersale.returns.selectors import return_from_token, return_status
    from aftersale.returns.services import Actor, return_cancel, transition_check

    ret = return_from_token(token)
    if ret is None:
        return _invalid(request)
    store = ret.store
    customer = ret.customer or ret.order.customer
    lang = pages.page_language(
        request.GET.get("lang", ""),
        ret.locale,
        customer.locale if customer else "",
        store.default_locale,
    )
    zone = pages.page_zone(customer.time_zone if customer else "", store.time_zone)
    error = ""
    if request.method == "POST":
        if request.POST.get("action") == "cancel":
            try:
                return_cancel(store=store, ret=ret, actor=Actor.shopper(), note="")
            except (Conflict, DomainError):
                with translation.override(lang):
                    error = _("This return can no longer be cancelled.")
            else:
                response = HttpResponseRedirect(request.path + "?cancelled=1")
                response.status_code = 303
                return response
        ret.refresh_from_db()
    with translation.override(lang), timezone.override(zone):
        view = return_status(store=store, ret=ret, locale=lang)
        context = _status_context(view, lang)
    try:  # the lifecycle says whether the shopper may still cancel (until the parcel moves)
        transition_check(ret, ReturnRequest.Status.CANCELLED)
        context["can_cancel"] = True
    except (Conflict, DomainError):
        context["can_cancel"] = False
    context.update(error=error, cancelled=request.GET.get("cancelled") == "1")
    return _render(
        request,
        "status.html",
        context,
        lang=lang,
        store=store,
        zone=zone,
        status=409 if error else 200,
    )


def _status_context(view, lang: str) -> dict:
    ret = view.ret
    m = lambda amount: portal.money(amount, ret.currency, lang)  # noqa: E731
    label = view.label
    shipment = view.shipment
    lines = []
    for line in view.lines:
        lines.append(
            {
                "line": line,
                "reason": line.reason.label_for(lang) if line.reason_id else line.reason_code,
                "amount": m(line.amount),
                "photos": [portal.photo_path(p.public_id) for p in line.photos.all()],
                "exchange": line.exchange_variant,
            }
        )
    labelled = label is not None and ret.shipping_method in portal.LABELLED_METHODS
    done = sum(1 for s in view.steps if s.done or s.current)
    transitions = sorted(view.transitions, key=lambda t: (t.at, t.pk), reverse=True)
    steps = [
        {"label": portal.status_label(s.code), "done": s.done, "current": s.current}
        for s in view.steps
    ]
    current = next((s for s in steps if s["current"]), None)
    return {
        "ret": ret,
        "order": ret.order,
        "view": view,
        "status_label": portal.status_label(ret.status),
        "tone": "problem" if ret.status in ("rejected", "cancelled") else "ok",
        "progress_steps": steps,
        "progress_text": current["label"] if current else portal.status_label(ret.status),
        "percent": int(100 * done / max(1, len(view.steps))),
        "step_now": done,
        "lines": lines,
        "outcome_label": portal.outcome_label(ret.outcome),
        "method_label": portal.method_label(ret.shipping_method),
        "amounts": {
            "items": m(ret.items_amount),
            "fee": m(ret.fee_amount) if ret.fee_amount else "",
            "bonus": m(ret.bonus_amount) if ret.bonus_amount else "",
            "exchange": m(ret.exchange_amount) if ret.exchange_amount else "",
            "upcharge": m(ret.upcharge_amount) if ret.upcharge_amount else "",
            "total": m(ret.total_amount),
        },
        "label": label,
        "qr": labels.qr_svg(label.qr_payload or ret.public_id, label=ret.reference)
        if labelled and ret.shipping_method in ("drop_off", "in_store")
        else "",
        "label_url": portal.document_path(ret, "label")
        if labelled and label.document and ret.shipping_method == "prepaid_label"
        else "",
        "slip_url": portal.document_path(ret, "slip") if labelled else "",
        "label_pending": ret.status == "approved"
        and ret.shipping_method in portal.LABELLED_METHODS
        and label is None,
        "shipment": shipment,
        "shipment_status": shipment.get_status_display() if shipment else "",
        "order_tracking": tracking_path(ret.order.public_id),
        "transitions": [
            {"t": t, "label": portal.status_label(t.to_status), "note": t.note} for t in transitions
        ],
    }


@require_GET
def document(request, token: str, kind: str):
    """The return's label or packing slip PDF, for whoever holds the status page's link."""
    from aftersale.returns.selectors import return_from_token

    ret = return_from_token(token)
    if ret is None:
        raise Http404
    label = (
        ReturnLabel.objects.filter(request=ret, voided_at__isnull=True)
        .order_by("-created_at", "-id")
        .first()
    )
    if label is None:
        raise Http404
    if kind == "label":
        if not label.document:
            raise Http404
        response = FileResponse(label.document.open("rb"), content_type="application/pdf")
        name = f"return-label-{ret.public_id}.pdf"
    else:
        response = HttpResponse(portal.packing_slip(ret, label), content_type="application/pdf")
        name = f"return-slip-{ret.public_id}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


@require_GET
def photo(request, token: str):
    ref = portal.read_photo_token(token)
    found = ReturnPhoto.objects.filter(public_id=ref).first() if ref else None
    if found is None or not found.file:
        raise Http404
    try:
        handle = found.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(handle, content_type=found.content_type)
    response["Content-Disposition"] = "inline"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Robots-Tag"] = "noindex"
    return response
