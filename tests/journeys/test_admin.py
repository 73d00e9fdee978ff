"""The flows back office: YAML editing through the services, the live step list, simulation,
enrolments, discount pools, and store scoping."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import NoReverseMatch, reverse

from aftersale.core.models import OutboxEvent
from aftersale.core.services import store_member_add
from aftersale.journeys import backoffice
from aftersale.journeys.builtin import BUILTIN_FLOWS, ensure_builtin_flows
from aftersale.journeys.definition import parse_definition
from aftersale.journeys.models import (
    DiscountCode,
    DiscountPool,
    Enrolment,
    Flow,
    FlowVersion,
    ScheduledStep,
    StepRun,
)
from aftersale.journeys.runner import run_until_idle
from aftersale.messaging.models import Message
from tests.journeys.conftest import deliver, events, flow, make_order

pytestmark = pytest.mark.django_db

FLOWS_URL = "/admin/journeys/flow/"
ENROLMENTS_URL = "/admin/journeys/enrolment/"
POOLS_URL = "/admin/journeys/discountpool/"

REVIEW = """
trigger: {event: shipment.delivered, once_per: order}
steps:
  - {id: wait-3d, type: wait, duration: 3d}
  - id: open-return
    type: condition
    if: {field: customer.has_open_return, op: is_true}
    then: end
    else: ask
  - {id: ask, type: send, kind: review_request}
exit: [{event: order.cancelled}, {unsubscribed: true}]
"""

SPLIT = """
trigger: {event: order.created}
steps:
  - id: split
    type: random_split
    branches:
      - {name: A, percent: 45, next: ask}
      - {name: B, percent: 45, next: ask-b}
      - {name: holdout, percent: 10, holdout: true}
  - {id: ask, type: send, kind: review_request, next: end}
  - {id: ask-b, type: send, kind: feedback_request}
"""

LOOP = """
trigger: {event: order.created}
steps:
  - {id: first, type: wait, duration: 1d}
  - {id: again, type: wait, duration: 1d, next: first}
"""

ORDER_FEEDBACK = """
trigger: {event: order.created}
steps:
  - {id: wait-delivery, type: wait, until_event: shipment.delivered, timeout: 14d}
  - {id: pause, type: wait, duration: 3d}
  - {id: ask, type: send, kind: feedback_request}
exit: [{event: order.cancelled}]
"""


@pytest.fixture
def staff(client, django_user_model, store):
    """A staff member of `store` (not of `other_store`) with every journeys permission."""
    user = django_user_model.objects.create_user(username="ops", password="pw", is_staff=True)
    store_member_add(store=store, username="ops")
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="journeys"))
    client.force_login(user)
    return client


def change_url(f: Flow) -> str:
    return f"{FLOWS_URL}{f.pk}/change/"


def outline_url(f: Flow) -> str:
    return f"{FLOWS_URL}{f.pk}/outline/"


def simulate_url(f: Flow) -> str:
    return f"{FLOWS_URL}{f.pk}/simulate/"


def edit(f: Flow, definition: str, **changes) -> dict:
    data = {"name": f.name, "description": f.description, "definition": definition, "_save": "1"}
    if changes.pop("active", f.active):
        data["active"] = "on"
    data.update(changes)
    return data


def counts() -> dict[str, int]:
    models = [Enrolment, ScheduledStep, StepRun, Message, FlowVersion, DiscountCode, OutboxEvent]
    return {m.__name__: m.objects.count() for m in models}


# -- editing -----------------------------------------------------------------------------------


def test_change_page_prefills_readable_yaml_and_lists_the_steps(staff, store):
    review = flow(store, REVIEW)

    response = staff.get(change_url(review))

    assert response.status_code == 200
    text = response.context["adminform"].form["definition"].value()
    assert text.startswith("trigger:\n  event: shipment.delivered\n  once_per: order\nsteps:\n")
    assert "  - id: wait-3d\n    type: wait\n    duration: 3d\n" in text
    assert text.index("trigger:") < text.index("steps:") < text.index("exit:")
    assert "{" not in text  # block style
    assert "max_age" not in text  # defaults the parser fills in are left out
    assert parse_definition(text).as_json() == review.current_version.definition
    body = response.content.decode()
    assert "wait 3 days" in body
    assert "if customer.has_open_return = true → end, else → step ask" in body
    assert "send review_request by email" in body
    assert 'hx-post="' + outline_url(review) + '"' in body
    assert 'formaction="' + simulate_url(review) + '"' in body


def test_editing_the_yaml_makes_version_2_and_running_enrolments_stay_on_1(
    staff, store, customer, clock_at
):
    review = flow(store, ORDER_FEEDBACK)
    make_order(store, customer)
    events()
    enrolment = Enrolment.objects.get(flow=review)
    text = backoffice.definition_yaml(review.current_version.definition)
    changed = text.replace("duration: 3d", "duration: 5d")

    response = staff.post(change_url(review), edit(review, changed, name="Ask later"))

    assert response.status_code == 302
    review.refresh_from_db()
    assert review.name == "Ask later"
    assert list(review.versions.values_list("number", flat=True)) == [1, 2]
    assert review.current_version.number == 2
    assert review.current_version.definition["steps"][1]["duration"] == "5d"
    enrolment.refresh_from_db()
    assert enrolment.version.number == 1
    page = staff.get(change_url(review)).content.decode()
    assert "<td>v2 (current)</td>" in page
    assert "<td>v1</td>" in page


def test_saving_the_same_definition_makes_no_new_version(staff, store):
    review = flow(store, REVIEW)
    text = backoffice.definition_yaml(review.current_version.definition)

    response = staff.post(change_url(review), edit(review, text, description="Asks for reviews"))

    assert response.status_code == 302
    review.refresh_from_db()
    assert review.description == "Asks for reviews"
    assert review.versions.count() == 1


def test_a_definition_with_a_loop_is_refused_naming_the_step_and_changes_nothing(staff, store):
    review = flow(store, REVIEW)

    response = staff.post(change_url(review), edit(review, LOOP, name="Renamed"))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["definition"]
    assert errors == ["step again: makes a loop (first → again → first)"]
    body = response.content.decode()
    assert "step again: makes a loop" in body
    assert "Not valid — step again." in body
    review.refresh_from_db()
    assert review.name == "Test flow"
    assert review.versions.count() == 1
    assert review.trigger_event == "shipment.delivered"


def test_a_definition_naming_a_pool_the_store_lacks_is_refused(staff, store):
    review = flow(store, REVIEW)
    text = REVIEW.replace(
        "  - {id: wait-3d, type: wait, duration: 3d}",
        "  - {id: code, type: issue_discount, pool: spring}\n"
        "  - {id: wait-3d, type: wait, duration: 3d}",
    )

    response = staff.post(change_url(review), edit(review, text))

    assert response.context["adminform"].form.errors["definition"] == [
        "step code: no discount pool 'spring' in this store"
    ]
    assert review.versions.count() == 1


def test_json_is_accepted_in_the_same_box(staff, store):
    review = flow(store, REVIEW)
    as_json = json.dumps(
        {
            "trigger": {"event": "order.created"},
            "steps": [{"id": "thanks", "type": "send", "kind": "thank_you"}],
        }
    )

    response = staff.post(change_url(review), edit(review, as_json))

    assert response.status_code == 302
    review.refresh_from_db()
    assert review.current_version.number == 2
    assert review.trigger_event == "order.created"
    assert review.current_version.definition["steps"] == [
        {"id": "thanks", "type": "send", "kind": "thank_you", "channel": "email"}
    ]
    shown = staff.get(change_url(review)).context["adminform"].form["definition"].value()
    assert yaml.safe_load(shown) == {
        "trigger": {"event": "order.created"},
        "steps": [{"id": "thanks", "type": "send", "kind": "thank_you", "channel": "email"}],
    }


def test_add_flow_starts_from_a_template_and_saves_version_1(staff, store):
    page = staff.get(f"{FLOWS_URL}add/")
    template = page.context["adminform"].form["definition"].value()
    assert template == backoffice.NEW_FLOW_TEMPLATE
    assert "send feedback_request by email" in page.content.decode()

    response = staff.post(
        f"{FLOWS_URL}add/",
        {"store": store.pk, "key": "ask-feedback", "name": "Ask", "definition": template},
    )

    assert response.status_code == 302
    made = Flow.objects.get(store=store, key="ask-feedback")
    assert (made.active, made.builtin, made.trigger_event) == (False, False, "shipment.delivered")
    assert made.current_version.number == 1
    assert made.current_version.definition == parse_definition(template).as_json()


def test_add_flow_refuses_a_key_the_store_has(staff, store):
    flow(store, REVIEW, key="taken")

    response = staff.post(
        f"{FLOWS_URL}add/",
        {"store": store.pk, "key": "taken", "name": "Ask", "definition": REVIEW},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["key"] == [
        "this store already has a flow with the key 'taken'"
    ]
    assert Flow.objects.filter(store=store).count() == 1


# -- the live step list ------------------------------------------------------------------------


def test_live_view_renders_the_steps_in_words(staff, store):
    review = flow(store, REVIEW)

    response = staff.post(outline_url(review), {"definition": SPLIT})

    assert response.status_code == 200
    steps = [line.text for line in response.context["outline"].outline.steps]
    assert steps == [
        "A/B: A 45% → step ask, B 45% → step ask-b, holdout 10%",
        "send review_request by email, then → end",
        "send feedback_request by email",
    ]
    body = response.content.decode()
    assert "A/B: A 45% → step ask, B 45% → step ask-b, holdout 10%" in body
    assert "order.created — an order is placed" in body
    review.refresh_from_db()
    assert review.versions.count() == 1  # previewing saves nothing


def test_live_view_shows_the_error_with_the_step(staff, store):
    review = flow(store, REVIEW)

    response = staff.post(outline_url(review), {"definition": LOOP})

    assert response.status_code == 200
    assert response.context["outline"].step == "again"
    body = response.content.decode()
    assert 'role="alert"' in body
    assert "step again: makes a loop (first → again → first)" in body


def test_live_view_on_the_add_page_and_get_is_refused(staff, store):
    response = staff.post(f"{FLOWS_URL}add/outline/", {"definition": "steps: [", "store": store.pk})

    assert response.status_code == 200
    assert "neither JSON nor YAML" in response.content.decode()
    assert staff.get(outline_url(flow(store, REVIEW))).status_code == 405


# -- actions -----------------------------------------------------------------------------------


def test_deactivate_and_activate_actions(staff, store):
    review = flow(store, REVIEW)

    staff.post(FLOWS_URL, {"action": "deactivate", "_selected_action": [review.pk]})
    review.refresh_from_db()
    assert review.active is False

    staff.post(FLOWS_URL, {"action": "activate", "_selected_action": [review.pk]})
    review.refresh_from_db()
    assert review.active is True
    assert review.versions.count() == 1


def test_reset_builtin_puts_the_default_back_as_a_new_version(staff, store):
    ensure_builtin_flows(store)
    builtin = Flow.objects.get(store=store, key="review-request")
    spec = next(b for b in BUILTIN_FLOWS if b.key == "review-request")
    staff.post(change_url(builtin), edit(builtin, REVIEW, name="Mine"))
    builtin.refresh_from_db()
    assert builtin.current_version.number == 2
    custom = flow(store, REVIEW, key="custom")

    staff.post(FLOWS_URL, {"action": "reset_builtin", "_selected_action": [builtin.pk, custom.pk]})

    builtin.refresh_from_db()
    assert builtin.name == spec.name
    assert builtin.current_version.number == 3
    assert builtin.current_version.definition == parse_definition(spec.definition).as_json()
    assert custom.versions.count() == 1


def test_changelist_shows_version_and_active_enrolments(staff, store, customer, clock_at):
    confirm = flow(store, ORDER_FEEDBACK, key="confirm", name="Confirm")
    make_order(store, customer, "1001")
    make_order(store, customer, "1002")
    events()

    response = staff.get(FLOWS_URL)

    [row] = response.context["cl"].result_list
    assert row == confirm
    assert row.active_enrolment_count == 2
    body = response.content.decode()
    assert '<td class="field-version_number">v1</td>' in body
    assert '<td class="field-active_enrolments">2</td>' in body


# -- simulation --------------------------------------------------------------------------------


@pytest.fixture
def history(store, customer):
    delivered = make_order(store, customer, "1001", placed_at="2026-10-01T10:00:00Z")
    deliver(store, delivered, at="2026-10-03T12:00:00Z")
    make_order(store, customer, "1002", placed_at="2026-10-05T10:00:00Z")
    cancelled = make_order(store, customer, "1003", placed_at="2026-10-06T10:00:00Z")
    cancelled.status, cancelled.cancelled_at = "cancelled", dt.datetime(2026, 10, 7, tzinfo=dt.UTC)
    cancelled.save()


def test_simulation_shows_counts_and_writes_nothing(staff, store, history, clock_at):
    feedback = flow(store, ORDER_FEEDBACK)
    before = counts()

    response = staff.post(
        simulate_url(feedback), {"since": "2026-09-01", "until": "2026-10-31", "source": "saved"}
    )

    assert counts() == before
    assert response.status_code == 200
    sim = response.context["sim"]
    assert (sim.report.entered, sim.report.completed, sim.report.exited) == (3, 2, 1)
    assert [(k.kind, k.count) for k in sim.kinds] == [("feedback_request", 2)]
    rows = [(m.order, m.step, m.kind, m.at.strftime("%Y-%m-%d %H:%M %Z")) for m in sim.messages]
    assert rows == [
        ("#1001", "ask", "feedback_request", "2026-10-06 14:00 CEST"),  # 12:00 UTC in Berlin
        ("#1002", "ask", "feedback_request", "2026-10-22 12:00 CEST"),
    ]
    assert [(s.line.step_id, s.reached, s.passed) for s in sim.steps] == [
        ("wait-delivery", 3, 2),
        ("pause", 2, 2),
        ("ask", 2, 2),
    ]
    body = response.content.decode()
    assert "2026-10-06 14:00 CEST" in body
    assert "order.cancelled" in body


def test_simulation_of_the_editor_text_from_the_change_page(staff, store, history, clock_at):
    feedback = flow(store, ORDER_FEEDBACK)
    text = ORDER_FEEDBACK.replace("kind: feedback_request", "kind: review_request")
    before = counts()

    # The "Simulate this text" button posts the whole change form to the simulation.
    response = staff.post(simulate_url(feedback), {**edit(feedback, text), "_from_editor": "1"})

    assert counts() == before
    form = response.context["form"]
    assert form.cleaned_data["source"] == "editor"
    assert form.cleaned_data["since"] == dt.date(2026, 10, 21)  # the last 30 days, store's zone
    assert form.cleaned_data["until"] == dt.date(2026, 11, 20)
    sim = response.context["sim"]
    assert sim.report.entered == 0  # no orders in the last 30 days
    feedback.refresh_from_db()
    assert feedback.versions.count() == 1

    response = staff.post(
        simulate_url(feedback),
        {"since": "2026-09-01", "until": "2026-10-31", "source": "editor", "definition": text},
    )

    assert [(k.kind, k.count) for k in response.context["sim"].kinds] == [("review_request", 2)]
    assert counts() == before


def test_simulation_page_opens_with_the_last_30_days_and_refuses_a_bad_text(staff, store, clock_at):
    feedback = flow(store, ORDER_FEEDBACK)

    opened = staff.get(simulate_url(feedback))
    refused = staff.post(
        simulate_url(feedback),
        {"since": "2026-09-01", "until": "2026-10-31", "source": "editor", "definition": LOOP},
    )

    assert opened.status_code == 200
    assert opened.context["form"].initial["since"] == "2026-10-21"
    assert opened.context["sim"] is None
    assert refused.context["sim"] is None
    assert refused.context["form"].errors["definition"] == [
        "step again: makes a loop (first → again → first)"
    ]


# -- enrolments --------------------------------------------------------------------------------


def test_enrolment_page_shows_step_history_and_the_pending_step(staff, store, customer, clock_at):
    feedback = flow(store, ORDER_FEEDBACK)
    order = make_order(store, customer)
    events()
    run_until_idle()
    deliver(store, order, at="2026-11-20T10:04:00Z")  # wakes the wait for the delivery
    events()
    run_until_idle()
    enrolment = Enrolment.objects.get(flow=feedback)

    listing = staff.get(ENROLMENTS_URL, {"flow__id__exact": feedback.pk, "state": "active"})
    page = staff.get(f"{ENROLMENTS_URL}{enrolment.pk}/change/")

    assert list(listing.context["cl"].result_list) == [enrolment]
    assert page.status_code == 200
    history, pending = page.context["inline_admin_formsets"]
    assert [(r.step_id, r.outcome) for r in history.formset.queryset] == [
        ("wait-delivery", "event")
    ]
    assert [(s.step_id, s.status) for s in pending.formset.queryset] == [("pause", "pending")]
    body = page.content.decode()
    assert "Step history" in body
    assert "Next step" in body
    assert staff.post(f"{ENROLMENTS_URL}{enrolment.pk}/change/", {}).status_code == 403


# -- discount pools ----------------------------------------------------------------------------


def test_discount_upload_adds_codes_from_text_and_csv(staff, store):
    csv_file = SimpleUploadedFile("codes.csv", b"code\nCSV-1\nCSV-2\nTEXT-1\n", "text/csv")

    response = staff.post(
        f"{POOLS_URL}add/",
        {
            "store": store.pk,
            "key": "spring",
            "name": "Spring codes",
            "codes": "TEXT-1\n  TEXT-2  \n\nTEXT-1\n",
            "csv_file": csv_file,
        },
    )

    assert response.status_code == 302
    pool = DiscountPool.objects.get(store=store, key="spring")
    assert sorted(pool.codes.values_list("code", flat=True)) == [
        "CSV-1",
        "CSV-2",
        "TEXT-1",
        "TEXT-2",
    ]

    response = staff.post(f"{POOLS_URL}{pool.pk}/change/", {"codes": "TEXT-2\nMORE-1"}, follow=True)

    assert pool.codes.count() == 5
    assert "1 code(s) added; 1 already in the store were skipped. 5 left." in (
        response.content.decode()
    )
    listing = staff.get(POOLS_URL).content.decode()
    assert '<td class="field-codes_left">5</td>' in listing


# -- tenancy -----------------------------------------------------------------------------------


def test_staff_of_one_store_cannot_list_open_edit_or_simulate_anothers_flows(
    staff, store, other_store
):
    mine = flow(store, REVIEW, key="mine")
    theirs = flow(other_store, REVIEW, key="theirs")
    before = counts()

    listing = staff.get(FLOWS_URL)
    opened = staff.get(change_url(theirs))
    saved = staff.post(change_url(theirs), edit(theirs, LOOP.replace("next: first", ""), name="x"))
    outlined = staff.post(outline_url(theirs), {"definition": REVIEW})
    simulated = staff.get(simulate_url(theirs))
    simulated_post = staff.post(
        simulate_url(theirs), {"since": "2026-09-01", "until": "2026-10-31", "source": "saved"}
    )
    staff.post(FLOWS_URL, {"action": "deactivate", "_selected_action": [theirs.pk]})
    staff.post(FLOWS_URL, {"action": "reset_builtin", "_selected_action": [theirs.pk]})
    added = staff.post(
        f"{FLOWS_URL}add/",
        {"store": other_store.pk, "key": "sneaky", "name": "x", "definition": REVIEW},
    )

    assert list(listing.context["cl"].result_list) == [mine]
    assert opened.status_code == 302  # Django's admin answers a hidden object with a redirect
    assert saved.status_code == 302
    assert outlined.status_code == 404
    assert simulated.status_code == 404
    assert simulated_post.status_code == 404
    assert added.status_code == 200
    assert "store" in added.context["adminform"].form.errors
    theirs.refresh_from_db()
    assert (theirs.name, theirs.active, theirs.versions.count()) == ("Test flow", True, 1)
    assert not Flow.objects.filter(key="sneaky").exists()
    assert counts() == before


def test_staff_of_one_store_cannot_see_anothers_enrolments_or_pools(
    staff, store, other_store, clock_at
):
    theirs = flow(other_store, ORDER_FEEDBACK)
    make_order(other_store, None, "9001")
    events()
    enrolment = Enrolment.objects.get(flow=theirs)
    pool = DiscountPool.objects.create(store=other_store, key="p", name="Theirs")

    listing = staff.get(ENROLMENTS_URL)
    opened = staff.get(f"{ENROLMENTS_URL}{enrolment.pk}/change/")
    pools = staff.get(POOLS_URL)
    upload = staff.post(f"{POOLS_URL}{pool.pk}/change/", {"codes": "HIJACK"})

    assert list(listing.context["cl"].result_list) == []
    flow_choices = [
        choice
        for spec in listing.context["cl"].filter_specs
        if getattr(spec, "field_path", "") == "flow"
        for choice in spec.lookup_choices
    ]
    assert flow_choices == []
    assert opened.status_code == 302
    assert list(pools.context["cl"].result_list) == []
    assert upload.status_code == 302
    assert not DiscountCode.objects.filter(code="HIJACK").exists()


def test_change_page_links_the_results_page_when_it_exists(staff, store):
    review = flow(store, REVIEW)

    body = staff.get(change_url(review)).content.decode()

    try:
        results = reverse("journeys:flow_results", args=[review.public_id])
    except NoReverseMatch:  # the results page is not mounted: the page renders without it
        assert ">Results</a>" not in body
    else:
        assert f'<a href="{results}">Results</a>' in body
