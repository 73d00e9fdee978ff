"""A Django email message as the bytes SMTP carries: exactly what Django's serialisation gives.

Django builds a tree of MIME objects and the standard library's generator walks it; for the
messages the sender makes by the thousand (a text part and an HTML alternative, UTF-8, no
attachments) that costs about as much as rendering them. `serialize` writes those directly, with
the same header values (Django's own header checks and encodings) and the same folding (the
generator's policy), and hands every other shape to Django. Tests hold both to the same bytes.
"""

from __future__ import annotations

import re
import secrets
from email.policy import compat32
from email.utils import formatdate, make_msgid

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.mail.message import RFC5322_EMAIL_LINE_LENGTH_LIMIT, forbid_multi_line_headers
from django.core.mail.utils import DNS_NAME

CRLF = "\r\n"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # the generator's own line splitter


class _Compat32OneLineHeaders(type(compat32)):
    """The compat32 policy Django's messages use, minus the folding of headers that are plain
    ASCII and fit on one line (all ours but long URLs): compat32 builds a Header object for each
    to fold it, which cost more than the rest of the serialisation. Anything else folds as
    before."""

    def fold_binary(self, name, value):
        if (
            type(value) is str
            and value.isascii()
            and len(name) + len(value) + 2 <= self.max_line_length
            and "\n" not in value
            and "\r" not in value
            and value.strip() == value
        ):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


ONE_LINE_HEADERS = _Compat32OneLineHeaders(linesep=CRLF)


def serialize(email_message: EmailMessage) -> bytes:
    if _writable_directly(email_message):
        return _write(email_message)
    message = email_message.message()
    message.policy = ONE_LINE_HEADERS
    for part in message.walk():
        if part.is_multipart() and part.get_boundary() is None:
            part.set_boundary(_boundary())
    return message.as_bytes(linesep=CRLF)


def _boundary() -> str:
    # Left to itself, the generator draws a boundary and compiles a fresh regular expression to
    # check that the text does not contain it. 128 random bits cannot occur in the text by chance.
    return f"=_{secrets.token_hex(16)}"


def _writable_directly(email_message: EmailMessage) -> bool:
    if type(email_message) not in (EmailMessage, EmailMultiAlternatives):
        return False
    if email_message.attachments or email_message.content_subtype != "plain":
        return False
    if (email_message.encoding or settings.DEFAULT_CHARSET).lower() != "utf-8":
        return False
    alternatives = getattr(email_message, "alternatives", [])
    if len(alternatives) > 1 or (alternatives and not email_message.body):
        return False
    if alternatives:
        if getattr(email_message, "alternative_subtype", "alternative") != "alternative":
            return False
        content, mimetype = alternatives[0]
        if mimetype != "text/html" or not isinstance(content, str):
            return False
    names = {name.lower() for name in email_message.extra_headers}
    # Headers Django sets itself and would add a second time from extra_headers.
    if names & {"subject", "content-type", "mime-version", "content-transfer-encoding"}:
        return False
    texts = [email_message.body, *(content for content, _ in alternatives)]
    return not any(_has_long_lines(text) for text in texts)


def _has_long_lines(text: str) -> bool:
    """Django's test for quoted-printable (which shortens lines) instead of 8bit."""
    return any(
        len(line.encode(errors="surrogateescape")) > RFC5322_EMAIL_LINE_LENGTH_LIMIT
        for line in text.splitlines()
    )


def _headers(email_message: EmailMessage, *, content_type: str) -> list[tuple[str, str]]:
    """The top-level headers in the order EmailMessage.message() sets them."""
    encoding = email_message.encoding or settings.DEFAULT_CHARSET
    extra = email_message.extra_headers
    headers = [("Content-Type", content_type), ("MIME-Version", "1.0")]

    def add(name, value):
        headers.append(forbid_multi_line_headers(name, value, encoding))

    add("Subject", email_message.subject)
    add("From", extra.get("From", email_message.from_email))
    for name, values in (
        ("To", email_message.to),
        ("Cc", email_message.cc),
        ("Reply-To", email_message.reply_to),
    ):
        if name in extra:
            add(name, extra[name])
        elif values:
            add(name, ", ".join(str(v) for v in values))
    names = {name.lower() for name in extra}
    if "date" not in names:
        add("Date", formatdate(localtime=settings.EMAIL_USE_LOCALTIME))
    if "message-id" not in names:
        add("Message-ID", make_msgid(domain=DNS_NAME))
    for name, value in extra.items():
        if name.lower() not in {"from", "to", "cc", "reply-to"}:
            add(name, value)
    return headers


def _text_part(text: str, subtype: str) -> list[str]:
    transfer = "7bit" if text.isascii() else "8bit"
    return [
        f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
        f"MIME-Version: 1.0{CRLF}"
        f"Content-Transfer-Encoding: {transfer}{CRLF}{CRLF}",
        _lines(text),
    ]


def _lines(text: str) -> str:
    """The generator's _write_lines: every line break becomes CRLF."""
    if not text:
        return ""
    lines = _LINE_BREAK.split(text)
    if not lines[-1]:
        lines.pop()
        return CRLF.join(lines) + CRLF
    return CRLF.join(lines)


def _write(email_message: EmailMessage) -> bytes:
    alternatives = getattr(email_message, "alternatives", [])
    if not alternatives:
        header_lines = _headers(email_message, content_type='text/plain; charset="utf-8"')
        transfer = "7bit" if email_message.body.isascii() else "8bit"
        # MIMEText adds these two after its Content-Type and MIME-Version.
        header_lines.insert(2, ("Content-Transfer-Encoding", transfer))
        out = [ONE_LINE_HEADERS.fold_binary(name, value) for name, value in header_lines]
        out.append(CRLF.encode())
        if email_message.body:
            out.append(_lines(email_message.body).encode("utf-8", "surrogateescape"))
        return b"".join(out)
    boundary = _boundary()
    content_type = f'multipart/alternative; boundary="{boundary}"'
    out = [
        ONE_LINE_HEADERS.fold_binary(name, value)
        for name, value in _headers(email_message, content_type=content_type)
    ]
    body = [CRLF, f"--{boundary}{CRLF}"]
    body += _text_part(email_message.body, "plain")
    body.append(f"{CRLF}--{boundary}{CRLF}")
    body += _text_part(alternatives[0][0], "html")
    body.append(f"{CRLF}--{boundary}--{CRLF}")
    out.append("".join(body).encode("utf-8", "surrogateescape"))
    return b"".join(out)
