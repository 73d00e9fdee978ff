"""Olist import speed: a fresh import and an idempotent re-import, on SQLite and PostgreSQL.

.venv/bin/python bench/import_olist.py [--db sqlite,postgres] [--data ../shared/data/olist]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.server import REPO, bench_env, postgres_available, scratch_database

RUN = """
import time
from pathlib import Path
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from aftersale.core.services import store_create
from aftersale.importers.olist import import_olist
from aftersale.orders.models import OrderLine
store = store_create(slug="olist", name="Olist", currency="BRL", time_zone="America/Sao_Paulo")
for label in ("fresh import", "re-import"):
    summary = import_olist(store=store, directory=Path({data!r}), progress=False)
    orders = summary.counts["orders"].read
    lines = summary.counts["order lines"].read
    print(f"{{label}}|{{orders}}|{{lines}}|{{summary.seconds:.3f}}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "olist"))
    args = parser.parse_args()
    print(
        f"{'database':<12}{'run':<14}{'orders':>8}{'lines':>8}{'seconds':>9}{'orders/s':>10}"
        f"{'lines/s':>10}{'vs target':>11}"
    )
    for kind in args.db.split(","):
        if kind == "postgres" and not postgres_available():
            print(f"{kind:<12}skipped: no server at BENCH_POSTGRES_URL")
            continue
        with scratch_database(kind, name="bench_olist") as url:
            out = subprocess.run(
                [sys.executable, "-c", RUN.format(data=args.data)],
                env=bench_env(url),
                cwd=REPO,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        for line in out.strip().splitlines():
            label, orders, lines, seconds = line.split("|")
            rate = int(orders) / float(seconds)
            print(
                f"{kind:<12}{label:<14}{int(orders):>8,}{int(lines):>8,}{float(seconds):>9.2f}"
                f"{rate:>10,.0f}{int(lines) / float(seconds):>10,.0f}{rate / 10000:>10.0%}"
            )
    print("target: ≥ 10,000 orders/s on SQLite (lines included)")


if __name__ == "__main__":
    main()
