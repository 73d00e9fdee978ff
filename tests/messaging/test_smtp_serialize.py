"""smtp.serialize gives the bytes Django's own serialisation gives, only faster."""

from __future__ import annotations

import email
import re

import pytest
import time_machine
from django.core.mail import EmailMessage, EmailMultiAlternatives

from aftersale.messaging.smtp import serialize

LONG_URL = "https://shop.example.com/m/u/" + "x" * 120


def _boundaries(raw: bytes) -> list[bytes]:
    return re.findall(rb'boundary="([^"]+)"', raw)


def _normalized(raw: bytes) -> bytes:
    for index, boundary in enumerate(_boundaries(raw)):
        raw = raw.replace(boundary, f"B{index}".encode())
    return raw


CASES = {
    "ascii": dict(subject="Order #1001 confirmed", from_email="shop@example.com"),
    "umlauts and a display name": dict(
        subject="Ihre Bestellung #1049 ist bestätigt — danke schön",
        from_email='"Bäckerei Müller" <hallo@example.com>',
    ),
    "long headers fold": dict(
        subject="A subject that is long enough to need folding " * 3,
        from_email="shop@example.com",
        headers={"List-Unsubscribe": f"<{LONG_URL}>", "X-Note": "  spaced  "},
    ),
    "idn recipient": dict(subject="Olá", from_email="loja@example.com", to=["joão@exämple.com"]),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize("alternative", [True, False], ids=["html", "text"])
def test_bytes_match_djangos_serialisation(case, alternative):
    case = {"to": ["ana@example.com"], "body": "Olá, Ana!\n\nLinha dois.\n", **case}
    with time_machine.travel("2026-11-25 12:00:00Z", tick=False):
        if alternative:
            message = EmailMultiAlternatives(**case)
            message.attach_alternative("<p>Olá, <b>Ana</b>!</p>" + "<i>x</i>" * 200, "text/html")
        else:
            message = EmailMessage(**case)
        message.extra_headers["Message-ID"] = "<fixed@example.com>"
        ours = serialize(message)
        django = message.message().as_bytes(linesep="\r\n")

    assert _normalized(ours) == _normalized(django)
    parsed = email.message_from_bytes(ours)
    assert parsed.is_multipart() is alternative
    if alternative:
        assert len(set(_boundaries(ours))) == 1
        assert [part.get_content_type() for part in parsed.walk()][1:] == [
            "text/plain",
            "text/html",
        ]
