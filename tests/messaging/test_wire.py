"""wire.serialize gives the bytes Django's own serialisation gives, written directly."""

from __future__ import annotations

import email
import re

import pytest
import time_machine
from django.core.mail import EmailMessage, EmailMultiAlternatives

from aftersale.messaging import wire

LONG_URL = "https://shop.example.com/m/u/" + "x" * 120


def _normalized(raw: bytes) -> bytes:
    for index, boundary in enumerate(re.findall(rb'boundary="([^"]+)"', raw)):
        raw = raw.replace(boundary, f"B{index}".encode())
    return raw


CASES = {
    "ascii": dict(subject="Order #1001 confirmed", body="Thanks, Ana.\n"),
    "umlauts and a display name": dict(
        subject="Ihre Bestellung #1049 ist bestätigt — danke schön",
        from_email='"Bäckerei Müller" <hallo@example.com>',
    ),
    "long headers fold": dict(
        subject="A subject that is long enough to need folding " * 3,
        headers={"List-Unsubscribe": f"<{LONG_URL}>", "X-Note": "  spaced  "},
    ),
    "idn recipient, cc and reply-to": dict(
        subject="Olá",
        to=["joão@exämple.com", "Bo <bo@example.com>"],
        cc=["c@example.com"],
        reply_to=["Hilfe <hilfe@example.com>"],
    ),
    "to from extra headers": dict(headers={"To": "Someone <s@example.com>", "Date": "x"}),
    "line endings": dict(body="one\r\ntwo\rthree\nfour"),
    "no final line break": dict(body="Olá"),
    "long lines (quoted-printable)": dict(body="x" * 1200 + "\n"),
    "empty body": dict(body=""),
}


def _message(case: dict, html: str | None) -> EmailMessage:
    fields = {
        "subject": "Olá",
        "from_email": "shop@example.com",
        "to": ["ana@example.com"],
        "body": "Olá, Ana!\n\nLinha dois.\n",
        **case,
    }
    fields.setdefault("headers", {})
    fields["headers"] = {"Message-ID": "<fixed@example.com>", **fields["headers"]}
    if html is None:
        return EmailMessage(**fields)
    message = EmailMultiAlternatives(**fields)
    message.attach_alternative(html, "text/html")
    return message


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize(
    "html",
    [None, "<p>Olá, <b>Ana</b>!</p>\n" + "<i>x</i>" * 100, "<p>plain ascii</p>", ""],
    ids=["text only", "html", "ascii html", "empty html"],
)
def test_bytes_match_djangos_serialisation(case, html):
    message = _message(case, html)
    with time_machine.travel("2026-11-25 12:00:00Z", tick=False):
        ours = wire.serialize(message)
        django = message.message().as_bytes(linesep="\r\n")

    assert _normalized(ours) == _normalized(django)
    parsed = email.message_from_bytes(ours)
    assert parsed["Message-ID"] == "<fixed@example.com>"


def test_the_common_shape_is_written_directly_and_the_rest_by_django(monkeypatch):
    written = []
    monkeypatch.setattr(wire, "_write", lambda m: written.append(m) or b"")
    wire.serialize(_message({}, "<p>hi</p>"))
    wire.serialize(_message({}, None))
    assert len(written) == 2

    with_attachment = _message({}, "<p>hi</p>")
    with_attachment.attach("a.txt", "hello", "text/plain")
    long_lines = _message(CASES["long lines (quoted-printable)"], "<p>hi</p>")
    two_alternatives = _message({}, "<p>hi</p>")
    two_alternatives.attach_alternative("<p>again</p>", "text/html")
    for message in (with_attachment, long_lines, two_alternatives):
        raw = wire.serialize(message)
        assert raw.startswith(b"Content-Type: multipart/")
    assert len(written) == 2


def test_a_fresh_boundary_per_message():
    raws = [wire.serialize(_message({}, "<p>hi</p>")) for _ in range(3)]
    boundaries = {re.search(rb'boundary="([^"]+)"', raw).group(1) for raw in raws}
    assert len(boundaries) == 3
