import pytest

from aftersale.journeys.definition import DefinitionError, parse_definition
from aftersale.journeys.models import Flow, FlowVersion
from aftersale.journeys.services import discount_pool_upload, flow_create

SPEC = """
trigger: {event: order.created, filters: [{field: order.total, op: gte, value: 50},
                                          {field: customer.is_repeat, op: eq, value: false}]}
steps:
  - {id: wait-delivery, type: wait, until_event: shipment.delivered, timeout: 14d}
  - {id: pause, type: wait, duration: 3d}
  - {id: morning, type: wait, until_time: "10:00"}
  - {id: split, type: condition, if: {field: customer.has_open_return, op: eq, value: true},
     then: end, else: ab}
  - {id: ab, type: random_split, branches: [{name: A, percent: 45, next: ask},
                                            {name: B, percent: 45, next: ask-b},
                                            {name: holdout, percent: 10, holdout: true}]}
  - {id: ask, type: send, kind: feedback_request, channel: email, next: tag}
  - {id: ask-b, type: send, kind: review_request}
  - {id: tag, type: tag_customer, tag: vip}
  - {id: code, type: issue_discount, generate: {prefix: THANKS, percent_off: 10, expires_in: 30d}}
  - {id: hook, type: webhook, url: "https://merchant.example/hook"}
exit: [{event: order.cancelled}, {event: refund.created}, {event: order.created, new_order: true},
       {unsubscribed: true}]
"""

OK_TRIGGER = "trigger: {event: order.created}\n"


def test_the_documented_example_parses_from_yaml_and_round_trips_as_json():
    definition = parse_definition(SPEC)

    assert [s.id for s in definition.typed_steps] == [
        "wait-delivery", "pause", "morning", "split", "ab", "ask", "ask-b", "tag", "code", "hook",
    ]  # fmt: skip
    assert definition.successors(definition.step("split")) == ["end", "ab"]
    assert definition.successors(definition.step("ab")) == ["ask", "ask-b", "end"]
    assert definition.successors(definition.step("ask-b")) == ["tag"]
    assert [r.event for r in definition.exits_on("order.created")] == ["order.created"]
    assert definition.exits_on_unsubscribe
    again = parse_definition(definition.as_json())
    assert again.as_json() == definition.as_json()


def test_an_unquoted_yaml_time_still_means_that_time():
    definition = parse_definition(OK_TRIGGER + "steps: [{id: a, type: wait, until_time: 10:30}]")
    assert definition.step("a").until_time == "10:30"


@pytest.mark.parametrize(
    ("steps", "step", "reason"),
    [
        ("[{id: a, type: send, kind: postcard}]", "a", "unknown message kind 'postcard'"),
        ("[{id: a, type: send, kind: thank_you, channel: sms}]", "a", "thank_you has no sms"),
        ("[{id: a, type: teleport}]", "a", "unknown step type 'teleport'"),
        (
            "[{id: a, type: condition, if: {field: customer.shoe_size, value: 42}}]",
            "a",
            "unknown field 'customer.shoe_size'",
        ),
        (
            "[{id: a, type: wait, duration: 1d}, {id: a, type: wait, duration: 2d}]",
            "a",
            "duplicate id",
        ),
        ("[{id: a, type: wait, duration: 1d, next: nowhere}]", "a", "leads to 'nowhere'"),
        (
            "[{id: a, type: wait, duration: 1d}, {id: b, type: wait, duration: 1d, next: a}]",
            "b",
            "makes a loop (a → b → a)",
        ),
        (
            "[{id: a, type: send, kind: thank_you, next: end}, "
            "{id: b, type: tag_customer, tag: x}]",
            "b",
            "can never be reached",
        ),
        (
            "[{id: a, type: random_split, branches: [{name: A, percent: 50}, "
            "{name: B, percent: 40}]}]",
            "a",
            "add up to 90, not 100",
        ),
        ("[{id: a, type: wait, duration: soon}]", "a", "not a duration"),
        ("[{id: a, type: wait, until_event: shipment.delivered}]", "a", "needs a timeout"),
        ("[{id: a, type: issue_discount}]", "a", "either generate or pool"),
        ("[{id: a, type: webhook, url: 'ftp://x.example/'}]", "a", "absolute https://"),
    ],
)
def test_bad_definitions_are_refused_naming_the_step(steps, step, reason):
    with pytest.raises(DefinitionError) as caught:
        parse_definition(OK_TRIGGER + f"steps: {steps}")

    assert caught.value.step == step
    assert caught.value.message.startswith(f"step {step}: ")
    assert reason in caught.value.message


def test_an_unknown_trigger_event_is_refused():
    with pytest.raises(DefinitionError, match=r"unknown trigger event 'order\.teleported'"):
        parse_definition(
            "trigger: {event: order.teleported}\nsteps: [{id: a, type: wait, duration: 1d}]"
        )


@pytest.mark.django_db
def test_saving_refuses_a_bad_definition_and_writes_nothing(store):
    with pytest.raises(DefinitionError, match="step code: no discount pool 'vip-codes'"):
        flow_create(
            store=store,
            key="offer",
            name="Offer",
            definition=OK_TRIGGER + "steps: [{id: code, type: issue_discount, pool: vip-codes}]",
        )
    assert not Flow.objects.exists()
    assert not FlowVersion.objects.exists()

    discount_pool_upload(store=store, key="vip-codes", name="VIP", codes=["A1", "A2"])
    flow = flow_create(
        store=store,
        key="offer",
        name="Offer",
        definition=OK_TRIGGER + "steps: [{id: code, type: issue_discount, pool: vip-codes}]",
    )
    assert flow.current_version.number == 1
    assert flow.trigger_event == "order.created"
