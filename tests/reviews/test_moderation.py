"""What the moderation scan finds in a review's wording (pure functions)."""

from __future__ import annotations

import pytest

from aftersale.reviews.moderation import scan


def found(title="", text="", extra=()):
    return [f.as_tuple() for f in scan(title=title, text=text, extra_words=extra)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("This is shit.", [("profanity", "text", "shit")]),
        ("Que MERDA de entrega", [("profanity", "text", "MERDA")]),
        ("Otário quem comprou", [("profanity", "text", "Otário")]),
        ("So ein Arschloch!", [("profanity", "text", "Arschloch")]),
        ("Puta que pariu, demorou", [("profanity", "text", "Puta que pariu")]),
        (
            "mail me: ana.souza+shop@example.com.br",
            [("email", "text", "ana.souza+shop@example.com.br")],
        ),
        ("Call +49 (30) 1234-5678 now", [("phone", "text", "+49 (30) 1234-5678")]),
        ("liga 11 98765-4321", [("phone", "text", "11 98765-4321")]),
        ("see https://evil.example/x?y=1.", [("link", "text", "https://evil.example/x?y=1")]),
        ("buy at cheapmugs.shop today", [("link", "text", "cheapmugs.shop")]),
    ],
)
def test_finds(text, expected):
    assert found(text=text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Scunthorpe is where I live",  # "cunt" inside a word
        "Shipped on 2024-01-15, arrived 15.01.2024",  # dates are not phone numbers
        "Order 12345 arrived in 3 days, 250 ml, 2 kg",
        "Assessment: a classic mug",  # "ass" inside a word is not on the list anyway
        "Mistake free, I loved the mistletoe pattern",  # "mist" inside words
        "Rated 5/5, cost 19.90 EUR",
    ],
)
def test_leaves_clean_text_alone(text):
    assert found(text=text) == []


def test_title_and_text_are_reported_separately_and_store_words_count():
    assert found(title="Fuck", text="Ask ACME Rivals instead", extra=["acme rivals"]) == [
        ("profanity", "title", "Fuck"),
        ("profanity", "text", "ACME Rivals"),
    ]
