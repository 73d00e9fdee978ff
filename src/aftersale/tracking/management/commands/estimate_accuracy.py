"""`aftersale manage estimate_accuracy --store SLUG [--since DATE]`: how good the estimates were."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from aftersale.core.models import Store
from aftersale.tracking.estimates import estimate_accuracy


class Command(BaseCommand):
    help = (
        "Compare each delivered shipment's first delivery estimate and the store's promised date "
        "with the day it arrived: mean absolute error in days, share inside the estimated range "
        "and on or before its latest day, overall, by carrier and by the busiest lanes."
    )

    def add_arguments(self, parser):
        parser.add_argument("--store", required=True, help="the store's slug")
        parser.add_argument(
            "--since", type=date.fromisoformat, help="only deliveries from this day (YYYY-MM-DD)"
        )
        parser.add_argument("--lanes", type=int, default=10, help="how many lanes to list")

    def handle(self, *args, store, since, lanes, **options):
        found = Store.objects.filter(slug=store).first()
        if found is None:
            raise CommandError(f"no store {store!r}")
        report = estimate_accuracy(store=found, since=since, top_lanes=lanes)
        if not report.overall.shipments and not report.overall.promised:
            self.stdout.write("No delivered shipments with an estimate or a promise yet.")
            return
        self.stdout.write(report.as_table())
