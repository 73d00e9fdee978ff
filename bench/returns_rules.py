"""Return rules: evaluation per return with 200 rules, and the back-test over 100,000 orders.

    .venv/bin/python bench/returns_rules.py [--orders 100000] [--rules 200] [--db sqlite,postgres]

For each database, a scratch store is built with core.bulk.insert_rows: 300 products (8% final
sale) with 3 variants each, 20,000 customers (some tagged vip, some with earlier returns),
--orders orders placed over the last 90 days with 1–4 lines each (some discounted), and a
delivered shipment for 90% of them. Then, in the same process:

* rules, per return — `returns.rules.evaluate` for one return of 3 lines the way the portal needs
  it (each line without a reason, then once per reason: 3 × 8 evaluations), with the built-in
  default rules and with --rules generated rules (conditions on category, price, tags, customer
  return rate, reason …). Baseline: the same calls with no rules (defaults only).
* eligibility of one order — `returns.selectors.return_eligibility`, queries included, with the
  200 rules stored for the store (what the portal's item page costs on the server).
* back-test — `returns.services.rules_backtest` over every order (--orders), with the default
  rules and with the 200 rules. Baseline: reading the same orders and lines (values_list) and
  nothing else, which no back-test can beat.

Target (issue, 2 cores): the back-test of a rule set over 100,000 past orders under 10 s.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.server import REPO, bench_env, postgres_available, scratch_database

TARGET_SECONDS = 10.0

COORDINATOR = r"""
import datetime as dt, random, time
from decimal import Decimal
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.db import transaction
from aftersale.catalog.models import Product, Variant
from aftersale.core import clock
from aftersale.core.bulk import insert_rows
from aftersale.core.services import store_create
from aftersale.customers.models import Address, Customer
from aftersale.orders.models import Order, OrderLine
from aftersale.returns.rules import (DEFAULT_DEFINITION, LineFacts, OrderFacts, ReasonFacts,
                                     compile_rules, evaluate, order_pass,
                                     validate_definition)
from aftersale.returns.selectors import return_eligibility
from aftersale.returns.services import reasons_install_defaults, rules_backtest, rules_save
from aftersale.tracking.models import Shipment

N, RULES = {orders}, {rules}
rng = random.Random(7)
started = time.perf_counter()
store = store_create(slug="bench", name="Bench Outfitters", currency="EUR",
                     time_zone="Europe/Berlin", default_locale="en", country="DE")
reasons_install_defaults(store=store)
now = clock.now()
CATEGORIES = ["jackets", "boots", "socks", "tents", "hats", "bags", "gloves", "shirts"]
with transaction.atomic():
    insert_rows(Product, ({{"store_id": store.pk, "source": "bench", "external_id": f"p{{i}}",
                           "title": f"Product {{i}}", "category": CATEGORIES[i % 8],
                           "tags": [CATEGORIES[i % 8], "sale" if i % 5 == 0 else "new"],
                           "final_sale": i % 12 == 0}} for i in range(300)))
    products = list(Product.objects.filter(store=store).order_by("id").values_list("id", flat=True))
    insert_rows(Variant, ({{"store_id": store.pk, "product_id": products[i // 3], "source": "bench",
                           "external_id": f"v{{i}}", "sku": f"SKU-{{i}}", "title": "SML"[i % 3],
                           "price": Decimal(10 + (i * 7) % 190), "currency": "EUR",
                           "inventory_quantity": (i * 13) % 40}} for i in range(900)))
    variants = list(Variant.objects.filter(store=store).order_by("id")
                    .values_list("id", "product_id", "price"))
    insert_rows(Customer, ({{"store_id": store.pk, "email": f"c{{i}}@example.com",
                            "tags": ["vip"] if i % 50 == 0 else []}} for i in range(20000)))
    customers = list(Customer.objects.filter(store=store).order_by("id")
                     .values_list("id", flat=True))
    insert_rows(Address, ({{"store_id": store.pk, "country": "DE" if i % 10 else "AT",
                           "postal_code": f"{{10000 + i}}"}} for i in range(1000)))
    addresses = list(Address.objects.filter(store=store).order_by("id")
                     .values_list("id", flat=True))
    orders = []
    for i in range(N):
        placed = now - dt.timedelta(minutes=rng.randrange(90 * 24 * 60))
        discount = Decimal(5) if i % 7 == 0 else Decimal(0)
        orders.append({{"store_id": store.pk, "source": "bench", "external_id": f"o{{i}}",
                       "number": str(100000 + i), "currency": "EUR", "placed_at": placed,
                       "customer_id": customers[i % len(customers)],
                       "shipping_address_id": addresses[i % len(addresses)],
                       "discount_total": discount, "discount_codes": ["TEN"] if discount else [],
                       "total": Decimal(0), "tags": [], "channel": "online"}})
    insert_rows(Order, orders)
    order_rows = list(Order.objects.filter(store=store).order_by("id")
                      .values_list("id", "placed_at"))
    def lines():
        for k, (pk, placed) in enumerate(order_rows):
            for j in range(1 + (k % 4 == 0) + (k % 9 == 0) + (k % 20 == 0)):
                vid, pid, price = variants[(k * 31 + j * 17) % len(variants)]
                qty = 1 + (k + j) % 2
                yield {{"store_id": store.pk, "order_id": pk, "product_id": pid,
                       "variant_id": vid, "sku": f"SKU-{{vid}}", "title": "Item",
                       "unit_price": price, "quantity": qty, "discount": Decimal(0),
                       "total": price * qty}}
    insert_rows(OrderLine, lines())
    insert_rows(Shipment, ({{"store_id": store.pk, "order_id": pk, "source": "bench",
                            "external_id": f"s{{pk}}", "status": "delivered",
                            "delivered_at": placed + dt.timedelta(days=2 + pk % 4)}}
                           for pk, placed in order_rows if pk % 10))
line_count = OrderLine.objects.filter(store=store).count()
print(f"built|{{N}}|{{line_count}}|{{time.perf_counter() - started:.1f}}", flush=True)

# -- rule evaluation per return ----------------------------------------------------------
def generated_rules(n):
    rules = []
    for i in range(n):
        kind = i % 6
        if kind == 0:
            cond = [{{"field": "category", "op": "eq", "value": CATEGORIES[i % 8]}},
                    {{"field": "price", "op": "gt", "value": 20 + i % 150}}]
            act = {{"restocking_fee_percent": str(i % 15)}}
        elif kind == 1:
            cond = [{{"field": "tag", "op": "any_of", "value": ["sale", f"t{{i}}"]}},
                    {{"field": "days_since_delivery", "op": "gt", "value": 14 + i % 20}}]
            act = {{"hide_outcomes": ["refund"]}}
        elif kind == 2:
            cond = [{{"field": "customer_return_rate", "op": "gte", "value": "0.5"}},
                    {{"field": "customer_return_count", "op": "gte", "value": 3 + i % 5}}]
            act = {{"review": "review", "fraud_review": True}}
        elif kind == 3:
            cond = [{{"field": "reason_group", "op": "in", "value": ["damaged", "wrong_item"]}},
                    {{"field": "order_total", "op": "lt", "value": 50 + i}}]
            act = {{"refund_timing": "instant", "require_photos": True}}
        elif kind == 4:
            cond = [{{"field": "customer_tags", "op": "contains", "value": "vip"}},
                    {{"field": "country", "op": "in", "value": ["de", "at"]}}]
            act = {{"window_days": 45 + i % 30, "ship_exchange_first": True}}
        else:
            cond = [{{"field": "product", "op": "in", "value": [f"prd_{{i}}", f"prd_{{i + 1}}"]}}]
            act = {{"allow": False, "deny_message": "not this one"}}
        rules.append({{"id": f"r{{i}}", "name": f"rule {{i}}", "conditions": cond, "actions": act}})
    return rules

ofacts = OrderFacts(days_since_delivery=12, delivered=True, order_total=Decimal("180"),
                    discount_used=False, customer_return_count=2,
                    customer_return_rate=Decimal("0.25"), customer_tags=frozenset({{"vip"}}),
                    order_tags=frozenset(), country="DE", channel="online")
lfacts = [LineFacts(product=f"prd_{{i}}", sku=f"S{{i}}", category=CATEGORIES[i],
                    tag=frozenset({{CATEGORIES[i], "sale"}}), final_sale=False,
                    price=Decimal(40 + i * 30)) for i in range(3)]
reasons = [None] + [ReasonFacts(code, group) for code, group in [
    ("too_small", "fit"), ("too_large", "fit"), ("damaged", "damaged"),
    ("wrong_item", "wrong_item"), ("not_as_described", "not_as_described"),
    ("changed_mind", "changed_mind"), ("arrived_late", "arrived_late")]]
sets = {{"no rules (baseline)": {{"rules": []}}, "default rules": DEFAULT_DEFINITION,
        f"{{RULES}} rules": {{"rules": generated_rules(RULES)}}}}
for label, definition in sets.items():
    compiled = compile_rules(validate_definition(definition))
    rounds = 400
    t0 = time.perf_counter()
    for _ in range(rounds):
        passed = order_pass(compiled, ofacts)  # once per return, as the portal does
        for lf in lfacts:
            for reason in reasons:
                evaluate(compiled, ofacts, lf, reason, passed)
    per_return = (time.perf_counter() - t0) / rounds
    print(f"eval|{{label}}|{{per_return * 1000:.3f}}|{{per_return / 24 * 1e6:.1f}}", flush=True)

# -- eligibility of one order (queries included) ------------------------------------------
rules_save(store=store, definition={{"rules": generated_rules(RULES)}})
sample = list(Order.objects.filter(store=store).order_by("id")[:200])
return_eligibility(store=store, order=sample[0])
t0 = time.perf_counter()
for order in sample:
    return_eligibility(store=store, order=order)
print(f"elig|{{len(sample)}}|{{(time.perf_counter() - t0) / len(sample) * 1000:.2f}}", flush=True)

# -- back-test ----------------------------------------------------------------------------
since = now - dt.timedelta(days=91)
t0 = time.perf_counter()
rows = list(Order.objects.filter(store=store, placed_at__gte=since).values_list(
    "pk", "placed_at", "total", "customer_id"))
lines = list(OrderLine.objects.filter(order__store=store, order__placed_at__gte=since)
             .values_list("order_id", "pk", "quantity", "total", "product_id"))
elapsed = time.perf_counter() - t0
print(f"backtest|read orders and lines only (baseline)|{{len(rows)}}|{{elapsed:.2f}}|", flush=True)
for label, definition in (("default rules", DEFAULT_DEFINITION),
                          (f"{{RULES}} rules", {{"rules": generated_rules(RULES)}})):
    t0 = time.perf_counter()
    result = rules_backtest(store=store, definition=definition, placed_from=since, placed_to=now)
    seconds = time.perf_counter() - t0
    print(f"backtest|{{label}}|{{result.orders}}|{{seconds:.2f}}|{{result.orders_eligible}}",
          flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--rules", type=int, default=200)
    parser.add_argument("--db", default="sqlite,postgres")
    args = parser.parse_args()
    for kind in args.db.split(","):
        if kind == "postgres" and not postgres_available():
            print(f"{kind}: skipped (no server at BENCH_POSTGRES_URL)")
            continue
        with scratch_database(kind, name="bench_returns") as url:
            env = {**bench_env(url), "AFTERSALE_JOURNEYS_BUILTIN_FLOWS": "false"}
            code = COORDINATOR.format(orders=args.orders, rules=args.rules)
            out = subprocess.run(
                [sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True
            )
        if out.returncode:
            print(out.stdout[-2000:], out.stderr[-4000:])
            raise SystemExit(out.returncode)
        _print(kind, out.stdout)


def _print(kind: str, stdout: str) -> None:
    rows = [line.split("|") for line in stdout.splitlines() if "|" in line]
    for parts in rows:
        if parts[0] == "built":
            print(
                f"\n{kind}: built {int(parts[1]):,} orders, {int(parts[2]):,} lines in {parts[3]} s"
            )
    header = f"{'rule evaluation, one return (3 lines × 8)':<44}{'ms/return':>11}{'µs/eval':>10}"
    print(header)
    print("-" * len(header))
    for parts in rows:
        if parts[0] == "eval":
            print(f"{parts[1]:<44}{float(parts[2]):>11.3f}{float(parts[3]):>10.1f}")
    for parts in rows:
        if parts[0] == "elig":
            print(f"{'eligibility of one order, queries included':<44}{float(parts[2]):>11.2f}")
    header = (
        f"{'back-test':<44}{'orders':>9}{'seconds':>9}{'eligible':>10}{'vs base':>9}{'vs 10 s':>9}"
    )
    print(header)
    print("-" * len(header))
    base = None
    for parts in rows:
        if parts[0] != "backtest":
            continue
        seconds = float(parts[3])
        if base is None:
            base = seconds
            print(f"{parts[1]:<44}{int(parts[2]):>9,}{seconds:>9.2f}")
            continue
        verdict = "ok" if seconds < TARGET_SECONDS else "MISSED"
        print(
            f"{parts[1]:<44}{int(parts[2]):>9,}{seconds:>9.2f}{int(parts[4]):>10,}"
            f"{seconds / base:>8.1f}×{verdict:>9}"
        )


if __name__ == "__main__":
    main()
