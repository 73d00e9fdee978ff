"""The shopper's tracking page (/t/<token>, one per order) and the public lookup (/track).

No login: the page's URL carries a signed token (tracking/tokens.py). The lookup finds an order by
its number and the shopper's email or postcode, or shows one parcel's carrier status by its
tracking number alone, and is rate-limited per client and per order number across processes.
"""

from __future__ import annotations

from datetime import UTC

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone, translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from aftersale.tracking import pages, tokens
from aftersale.tracking.models import ProblemReport, TrackLookupAttempt

MESSAGE_MAX = 2000


def _render(request, template, context, *, language, zone=None, status=200):
    with translation.override(language), timezone.override(zone or UTC):
        response = render(
            request,
            template,
            {"lang": language, "palette": pages.palette(), **context},
            status=status,
        )
    return _shopper_headers(response, language)


def _shopper_headers(response, language: str):
    response["Content-Language"] = language
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


def _request_language(request) -> str:
    return pages.page_language(request.GET.get("lang", ""), getattr(request, "LANGUAGE_CODE", ""))


def _invalid_link(request):
    return _render(
        request, "tracking/invalid.html", {}, language=_request_language(request), status=404
    )


@require_http_methods(["GET", "POST"])
def tracking_page(request, token: str):
    order_id = tokens.read_tracking_token(token)
    order = pages.order_for_tracking(order_id) if order_id else None
    if order is None:
        return _invalid_link(request)
    customer = order.customer
    language = pages.page_language(customer.locale if customer else "", order.store.default_locale)
    zone = pages.page_zone(customer.time_zone if customer else "", order.store.time_zone)

    form_error = ""
    form = None  # what the shopper sent, shown again when it lacks a kind
    if request.method == "POST":
        form = {
            "kind": request.POST.get("kind", ""),
            "message": request.POST.get("message", "")[:MESSAGE_MAX],
            "shipment": request.POST.get("shipment", ""),
        }
        if form["kind"] in ProblemReport.Kind.values:
            pages.problem_report_submit(
                order=order,
                kind=form["kind"],
                message=form["message"],
                shipment_public_id=form["shipment"],
            )
            return HttpResponseRedirect(f"{request.path}?reported=1#report")
        form_error = "kind"

    # The page comes from the cache while the order's tracking data is unchanged; the report
    # form is this request's own (its CSRF token, what was sent, the thank-you).
    with translation.override(language), timezone.override(zone):
        page = pages.tracking_page_html(order, language=language, zone=zone)
        report_form = pages.report_form_html(
            page,
            request,
            form=form,
            form_error=form_error,
            reported=request.GET.get("reported") == "1",
        )
    response = HttpResponse(
        page.before + report_form + page.after, status=400 if form_error else 200
    )
    return _shopper_headers(response, language)


def _client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


# The lookup only reads: it signs nobody in and changes nothing for anyone, so there is nothing
# for a cross-site request to forge, and without a token the failure pages are byte-identical.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def lookup(request):
    language = _request_language(request)
    if request.method == "GET":
        return _render(request, "tracking/lookup.html", {"error": ""}, language=language)

    client = pages.client_key(_client_ip(request))
    tracking_number = request.POST.get("tracking_number", "").strip()
    if tracking_number:
        subject = pages.normalise_code(tracking_number)
        if not pages.lookup_allowed(client=client):
            return _too_many(request, language)
        shipment = pages.parcel_for_tracking_number(subject)
        pages.lookup_record(
            kind=TrackLookupAttempt.Kind.PARCEL,
            client=client,
            subject=subject,
            succeeded=shipment is not None,
        )
        if shipment is None:
            return _render(request, "tracking/lookup.html", {"error": "parcel"}, language=language)
        with translation.override(language):
            parcel = pages.shipment_view(shipment, 1)
        return _render(
            request,
            "tracking/parcel.html",
            {"shipment": parcel},
            language=language,
        )

    subject = pages.normalise_code(request.POST.get("number", ""))
    if not pages.lookup_allowed(client=client, subject=subject):
        return _too_many(request, language)
    order = pages.order_lookup(number=subject, contact=request.POST.get("contact", ""))
    pages.lookup_record(
        kind=TrackLookupAttempt.Kind.ORDER,
        client=client,
        subject=subject,
        succeeded=order is not None,
    )
    if order is None:
        return _render(request, "tracking/lookup.html", {"error": "order"}, language=language)
    return HttpResponseRedirect(tokens.tracking_path(order.public_id))


def _too_many(request, language):
    window = int(pages.lookup_window().total_seconds())
    response = _render(
        request,
        "tracking/too_many.html",
        {},
        language=language,
        status=429,
    )
    response["Retry-After"] = str(window)
    return response
