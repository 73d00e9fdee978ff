"""Shopper and public pages of reviews.

- /reviews/w/<token>: the review page of one order (signed token from the review request
  message, no login): rate each product and the shop; a second submission updates.
- /reviews/w/<store>/<product>/fragment: the widget's HTML fragment (also for server-side
  includes), /reviews/w/<store>/<product>/demo: a preview page around it,
  /reviews/widget.js: the embeddable script, /reviews/feed/<store>.xml: the Google feed,
  /reviews/p/<token>: one approved photo behind a signed URL.
"""

from __future__ import annotations

import hashlib
from datetime import UTC
from pathlib import Path

from django.core.cache import cache
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.views.decorators.http import require_GET, require_http_methods

from aftersale.core.models import Store
from aftersale.core.services import DomainError, NotFound
from aftersale.core.signing import read_link
from aftersale.orders.models import Order
from aftersale.reviews import feed as feed_module
from aftersale.reviews import selectors, services
from aftersale.reviews.kinds import WRITE_SALT
from aftersale.reviews.models import MAX_PHOTOS_PER_REVIEW, Review, ReviewPhoto
from aftersale.reviews.photos import PhotoUpload, max_photo_bytes
from aftersale.tracking import pages

STORE_KEY = "store"
STATIC_DIR = Path(__file__).parent / "static" / "reviews"


def _headers(response, language: str, *, cache_seconds: int = 0):
    response["Content-Language"] = language
    response["X-Robots-Tag"] = "noindex"
    response["Cache-Control"] = f"public, max-age={cache_seconds}" if cache_seconds else "no-store"
    return response


def _render(request, template, context, *, language, store=None, status=200):
    palette = pages.palette(store.brand_color, store.accent_color) if store else pages.palette()
    with translation.override(language), timezone.override(UTC):
        response = render(
            request,
            template,
            {"lang": language, "palette": palette, "store": store, **context},
            status=status,
        )
    return _headers(response, language)


def _language(request, *fallbacks: str) -> str:
    return pages.page_language(
        request.GET.get("lang", ""), *fallbacks, getattr(request, "LANGUAGE_CODE", "")
    )


# -- the review page of an order ------------------------------------------------------------


def _order_for_token(token: str) -> Order | None:
    order_id = read_link(WRITE_SALT, token).get("o")
    if not order_id:
        return None
    return (
        Order.objects.filter(public_id=order_id)
        .select_related("store", "customer")
        .prefetch_related("lines__product")
        .first()
    )


def _blocks(order: Order) -> list[dict]:
    """One block per distinct product of the order (in line order), then the shop."""
    seen: set[int] = set()
    blocks = []
    for line in order.lines.all():
        product = line.product
        if product is None or product.pk in seen:
            continue
        seen.add(product.pk)
        blocks.append(
            {
                "key": product.public_id,
                "product": product,
                "line": line,
                "title": product.title,
                "variant": line.variant_title,
                "image": product.image_url,
            }
        )
    blocks.append({"key": STORE_KEY, "product": None, "line": None, "title": order.store.name})
    return blocks


def _read_uploads(files) -> list[PhotoUpload]:
    limit = max_photo_bytes()
    uploads = []
    for f in files[: MAX_PHOTOS_PER_REVIEW + 1]:
        name = (f.name or "photo")[:100]
        if f.size is not None and f.size > limit:
            uploads.append(PhotoUpload(name=name, data=b"", size=f.size))  # never read
            continue
        # Read one byte past the limit: enough to know it is too large, never the whole file.
        uploads.append(PhotoUpload(name=name, data=f.read(limit + 1)))
    return uploads


@require_http_methods(["GET", "POST"])
def write_page(request, token: str):
    order = _order_for_token(token)
    if order is None:
        language = _language(request)
        return _render(request, "reviews/invalid.html", {}, language=language, status=404)
    store = order.store
    customer = order.customer
    language = _language(request, customer.locale if customer else "", store.default_locale)
    blocks = _blocks(order)
    existing = {r.product_id: r for r in selectors.order_reviews(store, order)}
    error: DomainError | None = None
    values: dict[str, dict] = {}
    author_name = ""

    if request.method == "POST":
        author_name = request.POST.get("author_name", "").strip()
        drafts = []
        for block in blocks:
            key = block["key"]
            entry = {
                "rating": request.POST.get(f"rating-{key}", ""),
                "title": request.POST.get(f"title-{key}", ""),
                "text": request.POST.get(f"text-{key}", ""),
            }
            values[key] = entry
            drafts.append(
                services.ReviewDraft(
                    product=block["product"],
                    order_line=block["line"],
                    rating=entry["rating"],
                    title=entry["title"],
                    text=entry["text"],
                    photos=_read_uploads(request.FILES.getlist(f"photos-{key}")),
                    key=key,
                )
            )
        try:
            with translation.override(language):
                result = services.review_request_submit(
                    store, order=order, drafts=drafts, locale=language, author_name=author_name
                )
        except DomainError as exc:
            error = exc
        else:
            done = reverse("reviews:write", args=[token]) + "?done=1"
            if result.reward_code:
                done += "&reward=1"
            return HttpResponseRedirect(done, status=303)

    for block in blocks:
        review = existing.get(block["product"].pk if block["product"] else None)
        block["review"] = review
        entry = values.get(block["key"]) or {}
        block["rating"] = str(entry.get("rating") or (review.rating if review else ""))
        block["title_value"] = entry.get("title", review.title if review else "")
        block["text_value"] = entry.get("text", review.text if review else "")
        block["photo_slots"] = MAX_PHOTOS_PER_REVIEW - (
            len([p for p in review.photos.all() if p.status != ReviewPhoto.Status.REJECTED])
            if review
            else 0
        )
        block["error_field"] = ""
        if error and error.field and error.field.startswith(f"items.{block['key']}."):
            block["error_field"] = error.field.rsplit(".", 1)[1]
            block["error"] = error.message
    if not author_name:
        first = next((r for r in existing.values() if r.author_name), None)
        author_name = first.author_name if first else services._default_author(order)
    settings_row = selectors.review_settings(store)
    context = {
        "order": order,
        "blocks": blocks,
        "error": error,
        "general_error": error.message if error and error.field in ("items", "author_name") else "",
        "author_name": author_name,
        "done": request.GET.get("done") == "1" and error is None,
        "reward": settings_row if settings_row.has_reward else None,
        "max_photos": MAX_PHOTOS_PER_REVIEW,
        "max_mb": max_photo_bytes() // (1024 * 1024),
        "stars": [5, 4, 3, 2, 1],
        "has_reviews": bool(existing),
    }
    return _render(
        request,
        "reviews/write.html",
        context,
        language=language,
        store=store,
        status=422 if error else 200,
    )


# -- photos -----------------------------------------------------------------------------------


@require_GET
def photo(request, token: str):
    data = read_link(selectors.PHOTO_SALT, token)
    found = None
    if data.get("p"):
        found = (
            ReviewPhoto.objects.filter(
                public_id=data["p"],
                status=ReviewPhoto.Status.APPROVED,
                review__status=Review.Status.PUBLISHED,
            )
            .only("image", "content_type")
            .first()
        )
    if found is None:
        raise Http404("photo not found")
    try:
        handle = found.image.open("rb")
    except FileNotFoundError:
        raise Http404("photo not found") from None
    response = FileResponse(handle, content_type=found.content_type)
    response["Cache-Control"] = "public, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'"
    return response


# -- the widget ---------------------------------------------------------------------------------


def _int(value: str, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def cached_public(kind: str, store_slug: str, product_ref: str, params: tuple, build) -> str:
    """What build() returns for one product's public view, cached under the product's summary
    version (every publish, edit, photo decision or reply bumps it, so nothing stale is shown).
    The hot path is one query and a cache read."""
    found = selectors.public_version(store_slug, product_ref)
    if found is None:
        return build()
    raw = f"{kind}:{found}:{params}".encode()
    key = "reviews:" + kind + ":" + hashlib.sha256(raw).hexdigest()
    cached = cache.get(key)
    if cached is None:
        cached = build()
        cache.set(key, cached, 600)
    return cached


def fragment_html(
    store_slug: str,
    product_ref: str,
    *,
    sort: str = "newest",
    page: int = 1,
    page_size: int = 10,
    language: str = "en",
    base_url: str = "",
) -> str:
    """The widget's HTML for one product (for the script, or to include server-side)."""

    def build() -> str:
        store, product = selectors.public_product(store_slug, product_ref)
        result = selectors.public_reviews_page(
            store, product, sort=sort, page=page, page_size=page_size
        )
        with translation.override(language), timezone.override(UTC):
            return render_to_string(
                "reviews/fragment.html",
                {
                    "page": result,
                    "summary": result.summary,
                    "distribution": _distribution(result.summary),
                    "average_stars": selectors.stars_text(result.summary.average),
                    "jsonld": selectors.product_jsonld(result),
                    "base": base_url,
                    "sorts": list(selectors.SORTS),
                    "lang": language,
                    "fragment_path": reverse(
                        "reviews:fragment", args=[store.slug, product.public_id]
                    ),
                },
            )

    params = (sort, page, page_size, language, base_url)
    return cached_public("fragment", store_slug, product_ref, params, build)


def _distribution(summary) -> list[dict]:
    total = summary.count or 1
    return [
        {"stars": n, "count": c, "percent": round(100 * c / total)}
        for n, c in summary.distribution.items()
    ]


@require_GET
def fragment(request, store_slug: str, product_ref: str):
    language = _language(request)
    try:
        html = fragment_html(
            store_slug,
            product_ref,
            sort=request.GET.get("sort", "newest"),
            page=_int(request.GET.get("page", "1"), 0),
            page_size=_int(request.GET.get("page_size", "10"), 0),
            language=language,
            base_url=request.build_absolute_uri("/").rstrip("/"),
        )
    except NotFound as exc:
        return _cors(HttpResponse(exc.message, status=404, content_type="text/plain"))
    except DomainError as exc:
        return _cors(HttpResponse(exc.message, status=400, content_type="text/plain"))
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Content-Language"] = language
    response["Cache-Control"] = "public, max-age=60"
    return _cors(response)


def _cors(response):
    # Public data, read by the widget script from the merchant's own site.
    response["Access-Control-Allow-Origin"] = "*"
    response["Vary"] = "Accept-Language"
    return response


@require_GET
def demo(request, store_slug: str, product_ref: str):
    """A preview of the widget as a shop page would show it: the script, plus the fragment
    included server-side for browsers without JavaScript."""
    try:
        store, product = selectors.public_product(store_slug, product_ref)
    except NotFound as exc:
        raise Http404(exc.message) from None
    language = _language(request, store.default_locale)
    try:
        html = fragment_html(
            store.slug,
            product.public_id,
            sort=request.GET.get("sort", "newest"),
            page=_int(request.GET.get("page", "1"), 0),
            language=language,
            base_url=request.build_absolute_uri("/").rstrip("/"),
        )
    except DomainError as exc:
        raise Http404(exc.message) from None
    return _render(
        request,
        "reviews/demo.html",
        {"product": product, "fragment": html},
        language=language,
        store=store,
    )


_WIDGET_JS: bytes | None = None


@require_GET
def widget_js(request):
    global _WIDGET_JS
    if _WIDGET_JS is None:
        _WIDGET_JS = (STATIC_DIR / "widget.js").read_bytes()
    response = HttpResponse(_WIDGET_JS, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=3600"
    response["Access-Control-Allow-Origin"] = "*"
    return response


# -- the Google feed ----------------------------------------------------------------------------


@require_GET
def feed(request, store_slug: str):
    store = Store.objects.filter(slug=store_slug).first()
    if store is None:
        raise Http404("store not found")
    response = StreamingHttpResponse(
        feed_module.feed_chunks(store), content_type="application/xml; charset=utf-8"
    )
    response["Cache-Control"] = "public, max-age=3600"
    return response
