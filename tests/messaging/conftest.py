from __future__ import annotations

import asyncio
import logging
import socket
import threading
from email import message_from_bytes
from email import policy as email_policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from aftersale.customers.models import Customer
from aftersale.orders.schemas import OrderIn
from aftersale.orders.services import order_upsert


class RecordingHandler:
    """An SMTP server's brain: keeps every accepted message; can refuse recipients or fail."""

    def __init__(self):
        self.messages: list = []
        self.refuse: dict[str, str] = {}
        self.fail_data_with: str | None = None
        self.delay = 0.0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope: Envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope: Envelope):
        if self.fail_data_with:
            return self.fail_data_with
        # Like a real MTA: the message is the server's once the data has ended (a client that
        # disconnects before the reply does not undo it); the reply comes after some work.
        with self.lock:
            self.messages.append(
                message_from_bytes(
                    envelope.original_content or envelope.content, policy=email_policy.default
                )
            )
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 Message accepted for delivery"

    def message_ids(self) -> list[str]:
        with self.lock:
            return [m["Message-ID"] for m in self.messages]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# aiosmtpd logs every SMTP command at INFO from its own thread, after pytest may have closed the
# stream it captured; keep it to warnings.
logging.getLogger("mail.log").setLevel(logging.WARNING)


class SmtpServer:
    """aiosmtpd on loopback, in a thread of the test process."""

    def __init__(self, port: int = 0):
        self.handler = RecordingHandler()
        self.port = port or free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()


@pytest.fixture
def smtp_server(settings):
    server = SmtpServer().start()
    settings.EMAIL_BACKEND = "aftersale.messaging.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 5
    yield server
    server.stop()


@pytest.fixture
def customer(store):
    return Customer.objects.create(
        store=store,
        email="ana@example.com",
        first_name="Ana",
        last_name="Souza",
        locale="en",
        time_zone="Europe/Berlin",
        accepts_marketing=True,
        phone="+4915112345678",
    )


@pytest.fixture
def order(store, customer):
    return make_order(store, customer)


def make_order(store, customer, external_id="1001", **extra):
    data = {
        "external_id": external_id,
        "number": f"#{external_id}",
        "placed_at": "2026-11-20T10:00:00Z",
        "email": customer.email if customer else "guest@example.com",
        "customer": {"email": customer.email} if customer else None,
        "shipping_total": "4.90",
        "lines": [
            {"title": "Trail Mug", "unit_price": "19.90", "quantity": 2, "sku": "MUG-1"},
            {"title": "Wool Socks", "variant_title": "M", "unit_price": "12.50", "quantity": 1},
        ],
        **extra,
    }
    return order_upsert(store=store, data=OrderIn(**data)).order


class StopsAfter(RecordingHandler):
    """A server that goes away (stops listening, drops its connections) after `count` messages."""

    def __init__(self, count: int):
        super().__init__()
        self.count = count
        self.server: SmtpServer | None = None
        self.stopped = threading.Event()

    async def handle_DATA(self, server, session, envelope: Envelope):
        reply = await super().handle_DATA(server, session, envelope)
        if len(self.messages) == self.count and self.server is not None:
            # Stopping the controller waits for its own loop: do it from another thread.
            threading.Thread(target=self._stop).start()
        return reply

    def _stop(self):
        self.server.stop()
        self.stopped.set()
