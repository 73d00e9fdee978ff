"""The journeys engine: steps executed per second and due-to-executed lag, with 1 and 2 workers.

    .venv/bin/python bench/journeys_engine.py [--enrolments 100000] [--steps-per-enrolment 10]
        [--db sqlite,postgres] [--rate 2000] [--window 15]

For each database, a scratch store with one customer per enrolment and one flow whose definition
is a chain of cheap but real steps: tag_customer (locks the customer, writes its tags and an
outbox event) alternating with one-day waits, and an unsubscribe exit (so every step checks the
shopper's preferences, as marketing flows do). Then N enrolments with N × steps-per-enrolment
ScheduledStep rows in all (1,000,000 by default), loaded with core.bulk.insert_rows: each
enrolment has run 7 to 11 steps (done, with their history) and has one pending next step, so the
due index holds N pending rows, not only the few that are measured.

Each measurement takes its own cohort of enrolments and sets their pending steps' due times just
before it starts; every other pending step is due far in the future. Two scenarios, each with 1
and with 2 worker processes (`python -c` drivers that call journeys.runner.run_due_steps — the
poller every worker runs — in a loop, and sleep the worker's 0.5 s idle interval only when it
found nothing to do):

* backlog — a cohort all due at the start: how fast the runner drains work (capacity).
* stream — a cohort whose due times are spread evenly over --window seconds so that --rate steps
  a second fall due (the target): the lag a shopper sees at that load. A due wait schedules a tag
  due at once, which runs too: about half the executed steps became due by running others.

Steps are counted from the database: rows of the cohort executed during the run; lag is
executed_at − due_at of each. The baseline is the floor under any runner, measured in the same
run on a cohort of the backlog's size: claim due rows 500 at a time and mark them done in one
UPDATE per batch (one process), with no step logic, no history and no next step.

Target (issue, 2 cores): ≥ 2,000 steps/s; p99 lag < 5 s.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.server import REPO, bench_env, postgres_available, scratch_database

TARGET_RATE = 2000
TARGET_P99 = 5.0

# Runs in its own process against the scratch database: builds the data, runs every scenario,
# prints one `result|…` line per row.
COORDINATOR = r"""
import datetime as dt, os, subprocess, sys, tempfile, time
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.db import connection, transaction
from aftersale.core import clock
from aftersale.core.bulk import insert_rows
from aftersale.core.services import store_create
from aftersale.customers.models import Customer
from aftersale.journeys.models import Enrolment, ScheduledStep
from aftersale.journeys.services import flow_create

N, SPE, RATE, WINDOW = {n}, {spe}, {rate}, {window}
LENGTH = SPE + 4  # steps in the flow: every enrolment's pending step has a next one
started = time.perf_counter()
store = store_create(slug="bench", name="Bench Outfitters", currency="EUR",
                     time_zone="Europe/Berlin", default_locale="en")
steps = []
for i in range(1, LENGTH + 1):
    if i % 2:
        steps.append({{"id": f"s{{i:02d}}", "type": "tag_customer", "tag": f"t{{i:02d}}"}})
    else:
        steps.append({{"id": f"s{{i:02d}}", "type": "wait", "duration": "1d"}})
flow = flow_create(store=store, key="bench", name="Bench chain", definition={{
    "trigger": {{"event": "order.created"}}, "steps": steps, "exit": [{{"unsubscribed": True}}]}})
version = flow.current_version
now = clock.now()
past = now - dt.timedelta(days=30)
far = now + dt.timedelta(days=365)
with transaction.atomic():
    insert_rows(Customer, ({{"store_id": store.pk, "email": f"c{{i}}@example.com",
                            "first_name": "Ana", "locale": "en", "accepts_marketing": True,
                            "tags": []}} for i in range(N)))
customer_ids = list(Customer.objects.filter(store=store).order_by("id")
                    .values_list("id", flat=True))
# Rows per enrolment: SPE - 2 … SPE + 2 in turn, so the total is N × SPE and the pending step is
# a tag for some enrolments and a wait for others.
sizes = [SPE + (i % 5) - 2 for i in range(N)]
with transaction.atomic():
    insert_rows(Enrolment, ({{"store_id": store.pk, "flow_id": flow.pk, "version_id": version.pk,
                             "customer_id": customer_ids[i], "subject_ref": f"sub{{i}}",
                             "current_step": steps[sizes[i] - 1]["id"], "enrolled_at": past,
                             "context": {{}}}} for i in range(N)))
enrolment_ids = list(Enrolment.objects.filter(flow=flow).order_by("id")
                     .values_list("id", flat=True))

def step_rows():
    for i, pk in enumerate(enrolment_ids):
        for k in range(sizes[i]):
            pending = k == sizes[i] - 1
            yield {{"enrolment_id": pk, "step_id": steps[k]["id"],
                   "due_at": far if pending else past + dt.timedelta(minutes=k),
                   "status": "pending" if pending else "done", "attempts": 0 if pending else 1,
                   "executed_at": None if pending else past + dt.timedelta(minutes=k),
                   "claimed_by": "" if pending else "history"}}

with transaction.atomic():
    total = insert_rows(ScheduledStep, step_rows(), chunk=5000)
if connection.vendor == "postgresql":
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
else:
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
print(f"built|{{total}}|{{time.perf_counter() - started:.1f}}", flush=True)

# Cohorts: disjoint slices of the enrolments, sized for each scenario (scaled down for small N).
per_row = 1.5  # executions per due row: a due wait schedules a tag due at once
pending = list(ScheduledStep.objects.filter(status="pending").order_by("id")
               .values_list("id", "enrolment_id"))
backlog_rows = int(12000 * min(1, N / 100000))
# The stream keeps its rate; with few enrolments it lasts less long.
stream_rows = min(int(RATE / per_row * WINDOW), (len(pending) - 3 * backlog_rows) // 2)
WINDOW = stream_rows * per_row / RATE
cursor_at = 0

def take(count):
    global cursor_at
    chunk = pending[cursor_at:cursor_at + count]
    cursor_at += count
    return [pk for pk, _ in chunk], [e for _, e in chunk]

def set_due(ids, start, spread):
    with transaction.atomic(), connection.cursor() as cur:
        table = ScheduledStep._meta.db_table
        fmt = (lambda v: v.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ")) \
            if connection.vendor == "sqlite" else (lambda v: v)
        step = spread / max(1, len(ids))
        cur.executemany(f"UPDATE {{table}} SET due_at = %s WHERE id = %s",
                        [(fmt(start + dt.timedelta(seconds=i * step)), pk)
                         for i, pk in enumerate(ids)])

def measure(enrolments, start, stop_at):
    rows, late = [], []
    for part in chunks(enrolments):
        rows += ScheduledStep.objects.filter(
            enrolment_id__in=part, status="done", executed_at__gte=start,
            executed_at__lte=stop_at).values_list("due_at", "executed_at")
        # Due but not run when the run was stopped: at least this late (a lower bound).
        late += ScheduledStep.objects.filter(
            enrolment_id__in=part, status__in=["pending", "running"],
            due_at__lte=stop_at).values_list("due_at", flat=True)
    if not rows:
        return 0, 0.0, 0.0, 0.0
    lags = sorted([max(0.0, (e - d).total_seconds()) for d, e in rows]
                  + [(stop_at - d).total_seconds() for d in late])
    last = max(e for _, e in rows)
    seconds = (last - start).total_seconds()
    return len(rows), seconds, lags[len(lags) // 2], lags[min(len(lags) - 1, int(len(lags) * .99))]

def chunks(values, size=500):
    for i in range(0, len(values), size):
        yield values[i:i + size]

def cohort_left(enrolments):
    left = 0
    for part in chunks(enrolments):
        left += ScheduledStep.objects.filter(
            enrolment_id__in=part, status__in=["pending", "running"],
            due_at__lte=clock.now()).count()
    return left

# Baseline: claim 500 due rows and mark them done, one transaction per batch, no step logic.
ids, enrolments = take(backlog_rows)
start = clock.now()
set_due(ids, start, 0)
skip = connection.features.has_select_for_update_skip_locked
t0 = time.perf_counter()
done = 0
while True:
    with transaction.atomic():
        due = ScheduledStep.objects.filter(
            status="pending", due_at__lte=clock.now()).order_by("due_at", "id")
        if skip:
            due = due.select_for_update(skip_locked=True)
        batch = list(due.values_list("id", flat=True)[:500])
        if not batch:
            break
        done += ScheduledStep.objects.filter(id__in=batch).update(
            status="done", executed_at=clock.now())
took = time.perf_counter() - t0
print(f"result|baseline|1|{{done}}|{{took:.3f}}|0|0", flush=True)

DRIVER = (
    "import os, sys, time\n"
    "import django\n"
    "django.setup()\n"
    "from aftersale.journeys.runner import run_due_steps\n"
    "stop = sys.argv[1]\n"
    "while not os.path.exists(stop):\n"
    "    if not run_due_steps():\n"
    "        time.sleep(0.5)\n"
)

def run(scenario, workers, count, spread):
    ids, enrolments = take(count)
    stop = tempfile.mktemp(prefix="aftersale-bench-stop-")
    procs = [subprocess.Popen([sys.executable, "-c", DRIVER, stop]) for _ in range(workers)]
    time.sleep(3)  # let the workers start and poll an idle queue
    start = clock.now()
    set_due(ids, start, spread)
    deadline = time.monotonic() + spread + 30
    time.sleep(spread)
    while time.monotonic() < deadline and cohort_left(enrolments):
        time.sleep(0.25)
    stop_at = clock.now()
    open(stop, "w").close()
    for p in procs:
        p.wait()
    os.unlink(stop)
    executed, seconds, p50, p99 = measure(enrolments, start, stop_at)
    # What a slow runner left is not the next run's work.
    for part in chunks(enrolments):
        ScheduledStep.objects.filter(enrolment_id__in=part, status__in=["pending", "running"],
                                     due_at__lte=far).update(status="cancelled")
    print(f"result|{{scenario}}|{{workers}}|{{executed}}|{{seconds:.3f}}|{{p50:.3f}}|{{p99:.3f}}",
          flush=True)

for workers in (1, 2):
    run("backlog", workers, backlog_rows, 0)
    run("stream", workers, stream_rows, WINDOW)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enrolments", type=int, default=100_000)
    parser.add_argument("--steps-per-enrolment", type=int, default=10)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--rate", type=int, default=TARGET_RATE, help="steps due per second")
    parser.add_argument("--window", type=int, default=15, help="seconds the stream lasts")
    args = parser.parse_args()
    header = (
        f"{'database':<10}{'scenario':<34}{'workers':>8}{'steps':>9}{'seconds':>9}"
        f"{'steps/s':>9}{'vs base':>9}{'lag p50':>9}{'lag p99':>9}{'vs target':>11}"
    )
    print(header)
    print("-" * len(header))
    labels = {
        "baseline": "claim + mark done only (baseline)",
        "backlog": "runner, backlog all due",
        "stream": f"runner, stream {args.rate:,}/s due",
    }
    for kind in args.db.split(","):
        if kind == "postgres" and not postgres_available():
            print(f"{kind:<10}skipped: no server at BENCH_POSTGRES_URL")
            continue
        with scratch_database(kind, name="bench_journeys") as url:
            env = {**bench_env(url), "AFTERSALE_JOURNEYS_BUILTIN_FLOWS": "false"}
            code = COORDINATOR.format(
                n=args.enrolments,
                spe=args.steps_per_enrolment,
                rate=args.rate,
                window=args.window,
            )
            out = subprocess.run(
                [sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True
            )
        if out.returncode:
            print(out.stdout[-2000:], out.stderr[-4000:])
            raise SystemExit(out.returncode)
        base_rate = None
        for line in out.stdout.splitlines():
            parts = line.split("|")
            if parts[0] == "built":
                print(f"{kind:<10}built {int(parts[1]):,} scheduled steps in {parts[2]} s")
                continue
            if parts[0] != "result":
                continue
            scenario, workers, steps = parts[1], int(parts[2]), int(parts[3])
            seconds, p50, p99 = float(parts[4]), float(parts[5]), float(parts[6])
            rate = steps / seconds if seconds else 0.0
            if base_rate is None:
                base_rate = rate
            lag = f"{p50:>9.2f}{p99:>9.2f}" if scenario != "baseline" else f"{'':>18}"
            if scenario == "baseline":
                verdict = ""
            elif scenario == "backlog":
                verdict = f"{rate / TARGET_RATE:.0%} rate"
            else:
                verdict = "p99 ok" if p99 < TARGET_P99 else "p99 MISS"
            print(
                f"{kind:<10}{labels[scenario]:<34}{workers:>8}{steps:>9,}{seconds:>9.2f}"
                f"{rate:>9,.0f}{rate / base_rate:>9.0%}{lag}{verdict:>11}"
            )
    print(
        f"target: ≥ {TARGET_RATE:,} steps/s (backlog rows) and p99 lag < {TARGET_P99:g} s "
        "(stream rows, due at the target rate)"
    )


if __name__ == "__main__":
    main()
