from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext as _


class RequestBodyLimitMiddleware:
    """Refuses bodies over the limit with 413 before any view reads them.

    JSON and webhooks get AFTERSALE_MAX_BODY_BYTES; a shopper's form with photos
    (multipart/form-data) gets AFTERSALE_MAX_UPLOAD_BYTES, and a page, not JSON, saying so.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raw_length = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw_length)
        except ValueError:
            return JsonResponse({"detail": "Content-Length is not a number"}, status=400)
        is_form = request.content_type == "multipart/form-data"
        limit = (
            settings.AFTERSALE_MAX_UPLOAD_BYTES if is_form else settings.AFTERSALE_MAX_BODY_BYTES
        )
        if length <= limit:
            return self.get_response(request)
        if request.path.startswith("/api/") or not is_form:
            return JsonResponse(
                {"detail": f"request body is {length} bytes; the limit is {limit} bytes"},
                status=413,
            )
        return _too_large_page(request, length, limit)


def _too_large_page(request, length: int, limit: int) -> HttpResponse:
    language = translation.get_language_from_request(request)
    with translation.override(language):
        title = _("The files are too large")
        text = _(
            "What you sent is %(sent)s MB; the most a form can take is %(limit)s MB. "
            "Go back and choose fewer or smaller photos."
        ) % {"sent": f"{length / 1_048_576:.1f}", "limit": f"{limit / 1_048_576:.0f}"}
        back = _("Go back")
    referer = request.META.get("HTTP_REFERER", "")
    href = (
        referer if referer.startswith(("http://", "https://", "/")) else "javascript:history.back()"
    )
    body = (
        f'<!doctype html><html lang="{escape(language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title></head>"
        '<body style="font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;'
        'padding:0 1rem;line-height:1.5">'
        f'<main><h1>{escape(title)}</h1><p role="alert">{escape(text)}</p>'
        f'<p><a href="{escape(href)}">{escape(back)}</a></p></main></body></html>'
    )
    return HttpResponse(body, status=413)
