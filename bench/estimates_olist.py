"""Delivery estimates on the Olist data: a temporal backtest against Olist's own estimated dates.

Imports the Olist subset into a scratch database with the project's importer, then walks the
delivered shipments in hand-over order; each parcel is estimated at hand-over from only the
deliveries completed before it shipped (the model grows one delivery at a time). Olist's
"estimated delivery date" (the shipment's promised date) is the baseline.

.venv/bin/python bench/estimates_olist.py [--db sqlite,postgres] [--data ../shared/data/olist]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.server import REPO, bench_env, postgres_available, scratch_database

RUN = """
import json, time
from pathlib import Path
import django
django.setup()
from django.core.management import call_command
from django.db import transaction
call_command("migrate", verbosity=0)
from aftersale.core.services import store_create
from aftersale.importers.olist import import_olist
from aftersale.tracking import estimates
from aftersale.tracking.models import Shipment, ShipmentStatus
store = store_create(slug="olist", name="Olist", currency="BRL", time_zone="America/Sao_Paulo")
import_olist(store=store, directory=Path({data!r}), progress=False)
started = time.perf_counter()
result = estimates.estimate_backtest(store=store)
backtest_s = time.perf_counter() - started
# Learning from the full history through the cache, as the service does (one query).
estimates.transit_model_forget(store=store)
started = time.perf_counter()
model = estimates.transit_model(store=store)
learn_s = time.perf_counter() - started
# estimate_revise with its writes (a DeliveryEstimate row and the shipment's fields), on
# delivered parcels taken as if they were still under way.
sample = list(Shipment.objects.filter(store=store, shipped_at__isnull=False)[:500])
started = time.perf_counter()
written = 0
with transaction.atomic():
    for shipment in sample:
        shipment.status = ShipmentStatus.IN_TRANSIT
        written += estimates.estimate_revise(store=store, shipment=shipment) is not None
revise_s = time.perf_counter() - started
def figures(r):
    return dict(n=r.shipments, history=r.from_history, mae=r.mae, olist_mae=r.promise_mae,
                by_latest=r.by_latest_share, by_promise=r.by_promise_share,
                in_range=r.in_range_share, width=r.mean_range_days)
print(json.dumps(dict(
    all=figures(result), periods={{k: figures(v) for k, v in sorted(result.periods.items())}},
    backtest_s=backtest_s, estimate_s=result.estimate_seconds / result.shipments,
    learn_s=learn_s, learned=model.size, revise_s=revise_s / len(sample), written=written,
    sample=len(sample),
)))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "olist"))
    args = parser.parse_args()
    if not Path(args.data).is_dir():
        print(f"skipped: no Olist data at {args.data}")
        return
    for kind in args.db.split(","):
        if kind == "postgres" and not postgres_available():
            print(f"{kind}: skipped, no server at BENCH_POSTGRES_URL")
            continue
        with scratch_database(kind, name="bench_estimates") as url:
            out = subprocess.run(
                [sys.executable, "-c", RUN.format(data=args.data)],
                env=bench_env(url),
                cwd=REPO,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        report(kind, json.loads(out.strip().splitlines()[-1]))


def report(kind: str, r: dict) -> None:
    a = r["all"]
    print(f"database: {kind}; {a['n']:,} delivered shipments, {a['history']:,} estimated from")
    print("history (the rest fell back to the promise while the store had < 20 deliveries)")
    print()
    print(f"{'metric':<40}{'ours':>9}{'Olist':>9}{'ratio':>8}{'target':>10}{'met':>6}")
    mae_ratio = a["mae"] / a["olist_mae"]
    cover_ratio = a["by_latest"] / a["by_promise"]
    rows = [
        ("MAE of the date (days)", f"{a['mae']:.2f}", f"{a['olist_mae']:.2f}", mae_ratio, "≤ 0.50"),
        (
            "on or before upper end / Olist's date",
            f"{a['by_latest']:.1%}",
            f"{a['by_promise']:.1%}",
            cover_ratio,
            "≥ 1.00",
        ),
    ]
    met = [mae_ratio <= 0.5, cover_ratio >= 1.0]
    for (label, ours, olist, ratio, target), ok in zip(rows, met, strict=True):
        print(f"{label:<40}{ours:>9}{olist:>9}{ratio:>8.2f}{target:>10}{'yes' if ok else 'NO':>6}")
    print(f"{'inside [earliest, latest]':<40}{a['in_range']:>9.1%}{'-':>9}")
    print(f"{'mean range width (days)':<40}{a['width']:>9.1f}{'a date':>9}")
    print()
    print(
        f"{'shipped in':<12}{'parcels':>8}{'MAE':>7}{'Olist':>7}{'ratio':>7}{'≤ upper':>9}"
        f"{'≤ Olist':>9}{'width':>7}"
    )
    for period, p in r["periods"].items():
        ratio = p["mae"] / p["olist_mae"] if p["olist_mae"] else 0
        print(
            f"{period:<12}{p['n']:>8,}{p['mae']:>7.2f}{p['olist_mae']:>7.2f}{ratio:>7.2f}"
            f"{p['by_latest']:>9.1%}{p['by_promise']:>9.1%}{p['width']:>7.1f}"
        )
    print()
    print(
        f"learn from the full history ({r['learned']:,} deliveries, one query): "
        f"{r['learn_s'] * 1000:.0f} ms"
    )
    print(f"one estimate from the learned model: {r['estimate_s'] * 1e6:.0f} µs")
    print(
        f"estimate_revise with its writes: {r['revise_s'] * 1000:.2f} ms "
        f"({r['written']} of {r['sample']} changed)"
    )
    print(f"whole backtest (incremental learning + {a['n']:,} estimates): {r['backtest_s']:.2f} s")
    print("targets: MAE ≤ half of Olist's; share on or before our upper end ≥ Olist's own share")


if __name__ == "__main__":
    main()
