"""Django's SMTP backend with one change: it says when a message is about to become the server's.

An SMTP server takes responsibility for a message when it receives the dot that ends DATA. We send
the whole message first, call the hook (which records "handed off" in the database), then send
the dot. A sender killed before the hook never handed the message over, so it is safe to send
again; one killed after it may have, so it is never sent again. The gap between the two is one
write to a socket, instead of the whole SMTP conversation.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import socket
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from functools import lru_cache

from django.conf import settings
from django.core.mail.backends.smtp import EmailBackend as DjangoSmtpBackend
from django.core.mail.message import sanitize_address

from aftersale.messaging.wire import serialize

_handoff_hook: ContextVar[Callable[[], None] | None] = ContextVar("handoff_hook", default=None)
_LEADING_DOT = re.compile(rb"(?m)^\.")
CRLF = b"\r\n"


@contextlib.contextmanager
def on_handoff(hook: Callable[[], None]) -> Iterator[None]:
    token = _handoff_hook.set(hook)
    try:
        yield
    finally:
        _handoff_hook.reset(token)


class _HandoffMixin:
    def _get_socket(self, host, port, timeout):
        sock = super()._get_socket(host, port, timeout)
        # The final dot goes out as its own small write; without this, Nagle's algorithm holds it
        # back until the server's delayed ACK arrives (40 ms per message).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def data(self, msg):
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        if isinstance(msg, str):
            msg = re.sub(r"(?:\r\n|\n|\r(?!\n))", "\r\n", msg).encode("ascii")
        body = _LEADING_DOT.sub(b"..", msg)
        if not body.endswith(CRLF):
            body += CRLF
        self.send(body)
        hook = _handoff_hook.get()
        if hook is not None:
            hook()
        self.send(b"." + CRLF)
        return self.getreply()


class HandoffSMTP(_HandoffMixin, smtplib.SMTP):
    pass


class HandoffSMTPSSL(_HandoffMixin, smtplib.SMTP_SSL):
    pass


_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\Z")


@lru_cache(maxsize=1024)
def _sanitized_sender(address: str, encoding: str) -> str:
    return sanitize_address(address, encoding)


def _sanitized(address: str, encoding: str) -> str:
    # A bare ASCII address comes out of sanitize_address unchanged; parsing it costs more than
    # the SMTP command it goes into.
    if _PLAIN_ADDRESS.match(address):
        return address
    return sanitize_address(address, encoding)


def prepare_wire(email_message) -> None:
    """Serialise ahead of sending (the sender does it while a lane talks to the server)."""
    email_message.wire = serialize(email_message)


class EmailBackend(DjangoSmtpBackend):
    """SMTP (settings EMAIL_HOST, EMAIL_PORT, …) with a precise hand-off point."""

    hands_off_late = True
    overlaps_rendering = True

    def _send(self, email_message):
        if not email_message.recipients():
            return False
        encoding = email_message.encoding or settings.DEFAULT_CHARSET
        from_email = _sanitized_sender(email_message.from_email, encoding)
        recipients = [_sanitized(address, encoding) for address in email_message.recipients()]
        try:
            wire = getattr(email_message, "wire", None) or serialize(email_message)
            self.connection.sendmail(from_email, recipients, wire)
        except smtplib.SMTPException:
            if not self.fail_silently:
                raise
            return False
        return True

    @property
    def connection_class(self):
        return HandoffSMTPSSL if self.use_ssl else HandoffSMTP
