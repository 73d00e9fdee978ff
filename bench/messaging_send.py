"""Messages rendered and handed to a local SMTP server, per sender (one process).

    .venv/bin/python bench/messaging_send.py [--messages 3000] [--db sqlite,postgres]

For each database: a scratch store with orders, N queued order confirmations (each a different
recipient), and an aiosmtpd server on loopback in the same process. Measures, in one run:
(a) the baseline — the same number of pre-rendered emails pushed through one SMTP connection
with smtplib, nothing else; (b) aftersale's sender: claim, policy checks, render (templates,
babel formatting, CSS inlining, tracked links), hand off with the two-step SMTP hand-off and record
every status. Prints messages/s and the ratio to the baseline. Target: ≥ 500 messages/s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.server import REPO, bench_env, postgres_available, scratch_database

RUN = r"""
import smtplib, socket, sys, time
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
import subprocess
from django.conf import settings

# The SMTP server runs in its own process, as a real one would.
SINK = (
    "import sys, time\n"
    "from aiosmtpd.controller import Controller\n"
    "class Sink:\n"
    "    async def handle_DATA(self, server, session, envelope):\n"
    "        return '250 OK'\n"
    "c = Controller(Sink(), hostname='127.0.0.1', port=int(sys.argv[1]))\n"
    "c.start(); print('ready', flush=True); sys.stdin.read(); c.stop()\n"
)
with socket.socket() as s:
    s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
sink = subprocess.Popen([sys.executable, "-c", SINK, str(port)], stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE, text=True)
assert sink.stdout.readline().strip() == "ready"
settings.EMAIL_BACKEND = "aftersale.messaging.smtp.EmailBackend"
settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port

from aftersale.core.services import store_create
from aftersale.customers.models import Customer
from aftersale.orders.schemas import OrderIn
from aftersale.orders.services import order_upsert
from aftersale.messaging.models import Message
from aftersale.messaging.services import message_enqueue
from aftersale.messaging.sending import build_email, send_due_messages

N = {n}
store = store_create(slug="bench", name="Bench Outfitters", currency="EUR",
                     time_zone="Europe/Berlin", default_locale="en")
orders = []
for i in range(50):
    customer = Customer.objects.create(store=store, email=f"c{{i}}@example.com", first_name="Ana",
                                       locale=("en", "de", "pt-br")[i % 3])
    orders.append(order_upsert(store=store, data=OrderIn(
        external_id=f"o{{i}}", number=f"#{{1000 + i}}", placed_at="2026-11-20T10:00:00Z",
        customer={{"email": customer.email}}, shipping_total="4.90",
        lines=[{{"title": "Trail Mug", "unit_price": "19.90", "quantity": 2}},
               {{"title": "Wool Socks", "variant_title": "M", "unit_price": "12.50",
                 "quantity": 1}}])).order)
# Quiet hours would hold the messages back at night: the bench measures sending, not waiting.
from aftersale.messaging.models import KindPolicy
KindPolicy.objects.create(store=store, kind="order_confirmation", ignore_quiet_hours=True)
for i in range(N):
    message_enqueue(store=store, kind="order_confirmation", order=orders[i % 50],
                    email=f"r{{i}}@example.com")

# (a) baseline: pre-rendered copies of one email through one smtplib connection.
sample = Message.objects.filter(status="queued").select_related(
    "store", "customer", "order", "shipment").first()
email, _, _ = build_email(sample)
raw = email.message().as_bytes(linesep="\r\n")
conn = smtplib.SMTP("127.0.0.1", port)
start = time.perf_counter()
for i in range(N):
    conn.sendmail("bench@example.com", [f"r{{i}}@example.com"], raw)
base = time.perf_counter() - start
conn.quit()

# (b) the sender, one process.
start = time.perf_counter()
while Message.objects.filter(status="queued").exists():
    send_due_messages(limit=200)
took = time.perf_counter() - start
sent = Message.objects.filter(status="sent").count()
sink.stdin.close(); sink.wait()
print(f"baseline|{{N}}|{{base:.3f}}")
print(f"sender|{{sent}}|{{took:.3f}}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--db", default="sqlite,postgres")
    args = parser.parse_args()
    header = f"{'database':<10}{'scenario':<40}{'messages':>9}{'seconds':>9}{'msg/s':>9}"
    header += f"{'vs baseline':>13}{'vs target':>11}"
    print(header)
    print("-" * len(header))
    for kind in args.db.split(","):
        if kind == "postgres" and not postgres_available():
            print(f"{kind:<10}skipped: no server at BENCH_POSTGRES_URL")
            continue
        with scratch_database(kind, name="bench_messaging") as url:
            env = {
                **bench_env(url),
                "AFTERSALE_SMS_BACKEND": "aftersale.messaging.sms.LocmemSmsBackend",
            }
            env["OPENBLAS_NUM_THREADS"] = "1"
            out = subprocess.run(
                [sys.executable, "-c", RUN.format(n=args.messages)],
                env=env,
                cwd=REPO,
                capture_output=True,
                text=True,
            )
        if out.returncode:
            print(out.stderr[-3000:])
            raise SystemExit(out.returncode)
        rows = {}
        for line in out.stdout.strip().splitlines():
            if "|" in line:
                label, count, seconds = line.split("|")
                rows[label] = (int(count), float(seconds))
        base_rate = rows["baseline"][0] / rows["baseline"][1]
        labels = {
            "baseline": "smtplib, pre-rendered (baseline)",
            "sender": "aftersale sender: render + hand off",
        }
        for label, (count, seconds) in rows.items():
            rate = count / seconds
            print(
                f"{kind:<10}{labels[label]:<40}{count:>9,}{seconds:>9.2f}{rate:>9,.0f}"
                f"{rate / base_rate:>12.0%}{rate / 500:>10.0%}"
            )
    print("target: ≥ 500 emails/s rendered and handed to SMTP, per worker")


if __name__ == "__main__":
    _ = os
    main()
