from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse


class RequestBodyLimitMiddleware:
    """Refuses bodies over AFTERSALE_MAX_BODY_BYTES with 413 before any view reads them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.AFTERSALE_MAX_BODY_BYTES
        raw_length = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw_length)
        except ValueError:
            return JsonResponse({"detail": "Content-Length is not a number"}, status=400)
        if length > limit:
            return JsonResponse(
                {"detail": f"request body is {length} bytes; the limit is {limit} bytes"},
                status=413,
            )
        return self.get_response(request)
