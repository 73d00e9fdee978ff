"""The survey pages in a real headless Chromium against the live server: the one-click link from
the email, the comment page (score changed, follow-up answered) in German and Brazilian
Portuguese, the same without JavaScript, and the friendly page of a tampered link. Also: the
translations are complete and compiled."""

from __future__ import annotations

import gettext
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from aftersale.feedback import tokens
from aftersale.feedback.models import Survey, SurveyAnswer, SurveyQuestion
from tests.browser import PHONE, assert_accessible, chromium
from tests.feedback.conftest import make_customer, make_order, make_shipment, survey_message

LOCALE_DIR = Path(__file__).resolve().parents[2] / "src" / "aftersale" / "feedback" / "locale"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "feedback"
browser_test = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def browser():
    with chromium() as started:
        yield started


@pytest.fixture
def site(live_server, settings) -> str:
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server.url


def open_tab(browser, *, javascript=True, locale="en-US"):
    context = browser.new_context(viewport=PHONE, locale=locale, java_script_enabled=javascript)
    return context, context.new_page()


CASES = {
    "de": {
        "h1": "Ihr Feedback",
        "legend": "Wie wahrscheinlich ist es, dass Sie Acme Outdoor einem Freund empfehlen?",
        "recorded": "Danke! Wir haben Ihre Bewertung 3 gespeichert. Unten können Sie sie ändern "
        "oder uns mehr erzählen.",
        "low_follow_up": "Das tut uns leid. Was ist schiefgelaufen?",
        "mid_follow_up": "Was hätte es zu einer 10 gemacht?",
        "eight": "8 von 10",
        "button": "Antwort speichern",
        "thanks": "Vielen Dank für Ihr Feedback",
        "extra": "Was war am wichtigsten?",
        "choice": "Lieferzeit",
    },
    "pt-br": {
        "h1": "Sua opinião",
        "legend": "Qual a probabilidade de você recomendar a Acme Outdoor a um amigo?",
        "recorded": "Obrigado! Salvamos sua nota 3. Você pode alterá-la ou nos contar mais abaixo.",
        "low_follow_up": "Sentimos muito. O que deu errado?",
        "mid_follow_up": "O que faria disso um 10?",
        "eight": "8 de 10",
        "button": "Salvar minha resposta",
        "thanks": "Obrigado pela sua opinião",
        "extra": "O que foi mais importante?",
        "choice": "Prazo de entrega",
    },
}


def with_extra_question(store):
    survey = Survey.objects.create(store=store, type="nps")
    return SurveyQuestion.objects.create(
        store=store,
        survey=survey,
        kind="choice",
        label={
            "en": "What mattered most?",
            "de": "Was war am wichtigsten?",
            "pt-br": "O que foi mais importante?",
        },
        choices=[
            {
                "value": "speed",
                "label": {"en": "Delivery time", "de": "Lieferzeit", "pt-br": "Prazo de entrega"},
            },
            {"value": "price", "label": {"en": "Price", "de": "Preis", "pt-br": "Preço"}},
        ],
    )


@browser_test
@pytest.mark.parametrize("language", ["de", "pt-br"])
def test_one_click_then_change_the_score_and_comment_in_the_shoppers_language(
    browser, site, store, language
):
    words = CASES[language]
    question = with_extra_question(store)
    customer = make_customer(store, locale=language)
    order = make_order(store, customer)
    make_shipment(store, order)
    message = survey_message(store, order)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context, page = open_tab(browser)
    try:
        response = page.goto(tokens.score_url(message.public_id, 3))

        assert response.status == 200
        assert page.url.endswith("?recorded=1")
        assert response.headers["content-language"] == language
        assert page.locator("html").get_attribute("lang") == language
        assert page.locator("h1").inner_text() == words["h1"]
        assert page.get_by_role("status").inner_text() == words["recorded"]
        assert page.locator("legend").first.inner_text() == words["legend"]
        assert page.locator("#score-3").is_checked()
        assert page.locator("label[for=comment]").inner_text() == words["low_follow_up"]
        assert_accessible(page)
        page.screenshot(path=str(ARTIFACTS / f"survey-{language}-phone.png"), full_page=True)
        assert SurveyAnswer.objects.get().score == 3

        page.get_by_label(words["eight"]).check(force=True)
        # The follow-up follows the score (with JavaScript; without, it asks after saving).
        assert page.locator("label[for=comment]").inner_text() == words["mid_follow_up"]
        page.get_by_label(words["mid_follow_up"]).fill("Mais rápido <b>por favor</b>")
        page.get_by_label(words["choice"]).check()
        page.get_by_role("button", name=words["button"]).click()

        assert page.locator("h1").inner_text() == words["thanks"]
        assert page.locator("#score-8").is_checked()
        assert page.get_by_label(words["mid_follow_up"]).input_value() == (
            "Mais rápido <b>por favor</b>"
        )
        assert_accessible(page)
    finally:
        context.close()

    answer = SurveyAnswer.objects.get()
    assert (answer.score, answer.first_score, answer.comment, answer.extras) == (
        8,
        3,
        "Mais rápido <b>por favor</b>",
        {question.public_id: "speed"},
    )
    assert answer.message_id == message.pk


@browser_test
def test_the_page_works_without_javascript(browser, site, store):
    customer = make_customer(store, locale="en")
    order = make_order(store, customer)
    message = survey_message(store, order, kind="survey_csat")
    context, page = open_tab(browser, javascript=False)
    try:
        page.goto(tokens.score_url(message.public_id, 2))
        assert page.locator("#score-2").is_checked()
        assert page.locator("label[for=comment]").inner_text() == "We are sorry. What went wrong?"
        page.get_by_label("4 – Satisfied").check(force=True)
        page.get_by_label("We are sorry. What went wrong?").fill("The box was dented")
        page.get_by_role("button", name="Save my answer").click()

        assert page.locator("h1").inner_text() == "Thank you for your feedback"
        assert page.locator("label[for=comment]").inner_text() == (
            "Great to hear! What did you like most?"
        )
        assert_accessible(page)
    finally:
        context.close()
    answer = SurveyAnswer.objects.get()
    assert (answer.survey_type, answer.score, answer.comment) == ("csat", 4, "The box was dented")


@browser_test
def test_a_tampered_link_shows_a_friendly_accessible_page(browser, site, store):
    customer = make_customer(store, locale="de")
    order = make_order(store, customer)
    message = survey_message(store, order)
    url = tokens.score_url(message.public_id, 9)
    head, signature = url.rsplit(":", 1)
    forged = f"{head}:{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    context, page = open_tab(browser, locale="de-DE")
    try:
        response = page.goto(forged)
        assert response.status == 404
        assert page.locator("h1").inner_text() == "Dieser Link funktioniert nicht"
        assert_accessible(page)
    finally:
        context.close()
    assert not SurveyAnswer.objects.exists()


@pytest.mark.parametrize("language", ["de", "pt_BR"])
def test_translations_are_complete_and_compiled(language):
    po_path = LOCALE_DIR / language / "LC_MESSAGES" / "django.po"
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    missing = [m.id for m in catalog if m.id and not m.string]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert missing == [] and fuzzy == []
    compiled = gettext.GNUTranslations((po_path.with_suffix(".mo")).open("rb"))
    for message in catalog:
        if message.id and not message.context:
            assert compiled.gettext(message.id) == message.string
