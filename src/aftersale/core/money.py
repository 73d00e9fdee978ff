"""Money is a Decimal plus an ISO 4217 currency, quantized to the currency's minor unit."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache

from babel.core import Locale
from babel.numbers import format_currency, get_currency_precision, list_currencies

_KNOWN_CURRENCIES = frozenset(list_currencies())

MONEY_MAX_DIGITS = 18
MONEY_DECIMAL_PLACES = 4


class MoneyError(ValueError):
    pass


def is_known_currency(code: str) -> bool:
    return code in _KNOWN_CURRENCIES


def normalize_currency(code: str) -> str:
    upper = (code or "").strip().upper()
    if not is_known_currency(upper):
        raise MoneyError(f"unknown currency {code!r}: use an ISO 4217 code such as EUR or BRL")
    return upper


def quantize(amount: Decimal | int | str, currency: str) -> Decimal:
    try:
        value = Decimal(str(amount)) if not isinstance(amount, Decimal) else amount
    except InvalidOperation:
        raise MoneyError(f"not an amount: {amount!r}") from None
    if not value.is_finite():
        raise MoneyError(f"not an amount: {amount!r}")
    exponent = Decimal(1).scaleb(-get_currency_precision(currency))
    return value.quantize(exponent, rounding=ROUND_HALF_EVEN)


@lru_cache(maxsize=64)
def _locale(tag: str) -> Locale:
    return Locale.parse(tag.replace("-", "_"))


def format_money(amount: Decimal, currency: str, locale: str | Locale = "en") -> str:
    babel_locale = locale if isinstance(locale, Locale) else _locale(locale)
    return format_currency(quantize(amount, currency), currency, locale=babel_locale)
