"""Shopper pages reached from a message: preferences, one-click unsubscribe, tracked links and the
order status page. No login: each URL carries a signed token."""

from __future__ import annotations

from django.http import HttpResponse, HttpResponsePermanentRedirect, HttpResponseRedirect
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from aftersale.core import clock
from aftersale.customers.models import Customer
from aftersale.messaging import tokens
from aftersale.messaging.locales import normalize_locale
from aftersale.messaging.models import Category, LinkClick, Message
from aftersale.messaging.services import preferences_for, preferences_update, unsubscribe
from aftersale.tracking.tokens import tracking_path

CHOICE_FIELDS = ("feedback", "reminders", "offers", "email", "sms")


def _page(request, template: str, context: dict, *, store, locale: str, status: int = 200):
    lang = normalize_locale(locale or store.default_locale if store else "", "en")
    with translation.override(lang):
        response = render(
            request, template, {"store": store, "lang": lang, **context}, status=status
        )
    response["Content-Language"] = lang
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


def _invalid_link(request):
    lang = normalize_locale(request.GET.get("lang") or request.LANGUAGE_CODE, "en")
    with translation.override(lang):
        response = render(
            request, "messaging/pages/invalid_link.html", {"store": None, "lang": lang}, status=404
        )
    response["X-Robots-Tag"] = "noindex"
    return response


@require_http_methods(["GET", "POST"])
def preferences(request, token: str):
    customer_id = tokens.read_preferences_token(token)
    customer = (
        Customer.objects.select_related("store").filter(public_id=customer_id).first()
        if customer_id
        else None
    )
    if customer is None:
        return _invalid_link(request)
    saved = False
    if request.method == "POST":
        choices = {field: request.POST.get(field) == "on" for field in CHOICE_FIELDS}
        preferences_update(customer=customer, choices=choices, via="preferences page")
        saved = True
    pref = preferences_for(customer)
    categories = [
        (Category.FEEDBACK, pref.feedback),
        (Category.REMINDERS, pref.reminders),
        (Category.OFFERS, pref.offers),
    ]
    return _page(
        request,
        "messaging/pages/preferences.html",
        {
            "customer": customer,
            "pref": pref,
            "categories": categories,
            "saved": saved,
            "has_phone": bool(customer.phone),
            "needs_consent": not customer.accepts_marketing,
        },
        store=customer.store,
        locale=customer.locale,
    )


@csrf_exempt  # RFC 8058: mail clients POST here without a session or CSRF token
@require_http_methods(["GET", "POST"])
def unsubscribe_view(request, token: str):
    message_id = tokens.read_unsubscribe_token(token)
    message = (
        Message.objects.select_related("store", "customer").filter(public_id=message_id).first()
        if message_id
        else None
    )
    if message is None:
        return _invalid_link(request)
    done = False
    if request.method == "POST":
        # One-click from the mail client (List-Unsubscribe=One-Click) or the button on the page.
        unsubscribe(message=message, via="one-click unsubscribe")
        done = True
    category = Category(message.category)
    return _page(
        request,
        "messaging/pages/unsubscribe.html",
        {
            "message": message,
            "done": done,
            "transactional": category == Category.TRANSACTIONAL,
            "category": category,
            "preferences_url": tokens.preferences_url(message.customer.public_id)
            if message.customer
            else "",
        },
        store=message.store,
        locale=message.locale,
    )


def click(request, token: str):
    decoded = tokens.read_click_token(token)
    if decoded is None:
        return _invalid_link(request)
    message_id, target = decoded
    message = Message.objects.filter(public_id=message_id).only("id", "store_id").first()
    if message is not None:
        LinkClick.objects.create(
            store_id=message.store_id, message=message, url=target[:1000], clicked_at=clock.now()
        )
    return HttpResponseRedirect(target)


def order_page(request, token: str):
    order_id = tokens.read_order_token(token)
    if order_id is None:
        return _invalid_link(request)
    # Links in messages sent before the tracking page existed lead there now.
    return HttpResponsePermanentRedirect(tracking_path(order_id))


def robots(request):
    return HttpResponse("User-agent: *\nDisallow: /m/\nDisallow: /o/\n", content_type="text/plain")
