"""The locales messages ship in, and the fixed words around a merchant's text in each of them."""

from __future__ import annotations

SUPPORTED = ("en", "pt-br", "de")
DEFAULT = "en"

# The words our layout and blocks use; the merchant's own wording lives in the templates.
LABELS: dict[str, dict[str, str]] = {
    "en": {
        "item": "Item",
        "quantity": "Qty",
        "price": "Price",
        "discount": "Discount",
        "shipping": "Shipping",
        "tax": "Tax",
        "total": "Total",
        "carrier": "Carrier",
        "tracking_number": "Tracking number",
        "estimated_delivery": "Estimated delivery",
        "delivered_at": "Delivered",
        "track": "Track your parcel",
        "your_code": "Your code",
        "valid_until": "Valid until",
        "shop_now": "Shop now",
    },
    "pt-br": {
        "item": "Item",
        "quantity": "Qtd.",
        "price": "Preço",
        "discount": "Desconto",
        "shipping": "Frete",
        "tax": "Impostos",
        "total": "Total",
        "carrier": "Transportadora",
        "tracking_number": "Código de rastreio",
        "estimated_delivery": "Previsão de entrega",
        "delivered_at": "Entregue em",
        "track": "Acompanhe sua entrega",
        "your_code": "Seu cupom",
        "valid_until": "Válido até",
        "shop_now": "Comprar",
    },
    "de": {
        "item": "Artikel",
        "quantity": "Menge",
        "price": "Preis",
        "discount": "Rabatt",
        "shipping": "Versand",
        "tax": "MwSt.",
        "total": "Gesamt",
        "carrier": "Versanddienstleister",
        "tracking_number": "Sendungsnummer",
        "estimated_delivery": "Voraussichtliche Zustellung",
        "delivered_at": "Zugestellt",
        "track": "Sendung verfolgen",
        "your_code": "Ihr Code",
        "valid_until": "Gültig bis",
        "shop_now": "Jetzt ansehen",
    },
}

FOOTER: dict[str, dict[str, str]] = {
    "en": {
        "questions": "Questions?",
        "why_transactional": "You receive this email because you ordered from {store}.",
        "why_marketing": "You receive this email because you are a customer of {store}.",
        "preferences": "Email preferences",
        "unsubscribe": "Unsubscribe",
    },
    "pt-br": {
        "questions": "Dúvidas?",
        "why_transactional": "Você recebeu este e-mail porque comprou na {store}.",
        "why_marketing": "Você recebeu este e-mail porque é cliente da {store}.",
        "preferences": "Preferências de e-mail",
        "unsubscribe": "Cancelar inscrição",
    },
    "de": {
        "questions": "Fragen?",
        "why_transactional": "Sie erhalten diese E-Mail, weil Sie bei {store} bestellt haben.",
        "why_marketing": "Sie erhalten diese E-Mail, weil Sie Kunde von {store} sind.",
        "preferences": "E-Mail-Einstellungen",
        "unsubscribe": "Abmelden",
    },
}


def normalize_locale(value: str | None, fallback: str = DEFAULT) -> str:
    """'pt_BR', 'pt', 'PT-br' → 'pt-br'; 'de-AT' → 'de'; anything else → the fallback."""
    if not value:
        return fallback if fallback in SUPPORTED else DEFAULT
    tag = value.strip().lower().replace("_", "-")
    if tag in SUPPORTED:
        return tag
    language = tag.split("-")[0]
    if language == "pt":
        return "pt-br"
    if language in SUPPORTED:
        return language
    return fallback if fallback in SUPPORTED else DEFAULT


def babel_locale(locale: str) -> str:
    return {"pt-br": "pt_BR"}.get(locale, locale)
