"""The demo's feedback: answered surveys over the demo store's delivered orders, detractor cases in
every state, nothing left to fire, and highlight links that open."""

from __future__ import annotations

import random
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from aftersale.core import clock
from aftersale.core.models import OutboxEvent, Store
from aftersale.demo import feedback_seed
from aftersale.demo.generator import DEMO_STORE_SLUG, demo_setup_access, seed_demo
from aftersale.feedback.models import DetractorCase, SurveyAnswer

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_store():
    seed_demo(customers=120, orders=500, seed=11, progress=False)
    return Store.objects.get(slug=DEMO_STORE_SLUG)


def test_seed_answers_surveys_and_works_cases(demo_store):
    now = clock.now()
    # (The demo generator may have run this seeder already, with its own rng: only the totals
    # are certain.)
    feedback_seed.seed(demo_store, random.Random(5), now)

    answers = SurveyAnswer.objects.filter(store=demo_store)
    total = answers.count()
    assert total > 15
    assert set(answers.values_list("survey_type", flat=True)) >= {"nps", "csat"}
    assert answers.exclude(comment="").exists()
    assert not answers.filter(snapshot_at__isnull=True).exists()
    assert answers.filter(late=True).exists() and answers.filter(late=False).exists()
    states = set(DetractorCase.objects.filter(store=demo_store).values_list("state", flat=True))
    assert {"open", "contacted", "recovered"} <= states
    # History fires nothing: no survey event is left for the worker.
    assert not OutboxEvent.objects.filter(
        store=demo_store, name__startswith="survey.", dispatched_at__isnull=True
    ).exists()

    again = feedback_seed.seed(demo_store, random.Random(5), now)
    assert again["answers"] == 0  # idempotent: the same surveys are not sent twice
    assert SurveyAnswer.objects.filter(store=demo_store).count() == total


def test_highlight_links_open(demo_store):
    feedback_seed.seed(demo_store, random.Random(5), clock.now())
    demo_setup_access(admin_password="pw-1", state={})
    admin = Client()
    admin.force_login(get_user_model().objects.get(username="admin"))
    anonymous = Client()

    lines = feedback_seed.highlights(demo_store, "http://127.0.0.1:8000")

    assert len(lines) == 3
    for line in lines:
        for url in re.findall(r"http://127\.0\.0\.1:8000(/\S*)", line):
            client = admin if url.startswith("/admin/") else anonymous
            assert client.get(url).status_code == 200, line
