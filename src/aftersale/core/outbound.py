"""Which addresses aftersale may call on a merchant's behalf (webhook endpoints, flow webhooks).

HTTPS to a public address only — no credentials in the URL, and no private, loopback or link-local
addresses, so a merchant-supplied URL cannot make the server probe its own network — unless the
installation allows otherwise (AFTERSALE_WEBHOOK_ALLOW_PRIVATE for tests and intranets, DEBUG).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from aftersale.core.services import DomainError


def is_private_host(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False  # unresolvable now; sending will fail and be retried
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if (
            address.is_private
            or address.is_loopback
            or address.is_link_local
            or address.is_reserved
            or address.is_multicast
            or address.is_unspecified
        ):
            return True
    return False


def check_outbound_url(url: str) -> str:
    """The URL, or a DomainError on `url` saying why aftersale will not call it."""
    parts = urlsplit(url)
    allow_private = settings.AFTERSALE_WEBHOOK_ALLOW_PRIVATE
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise DomainError("the URL must be an absolute https:// address", field="url")
    if parts.scheme != "https" and not (settings.DEBUG or allow_private):
        raise DomainError("webhook URLs must use https://", field="url")
    if parts.username or parts.password:
        raise DomainError("put credentials in the signature secret, not the URL", field="url")
    if not allow_private and is_private_host(parts.hostname):
        raise DomainError(
            "the URL points to a private or local address, which is not allowed", field="url"
        )
    return url
