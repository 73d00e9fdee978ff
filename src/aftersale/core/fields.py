from __future__ import annotations

from django.db import models

from aftersale.core.ids import PublicIdDefault
from aftersale.core.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS


def PublicIdField(prefix: str) -> models.CharField:
    return models.CharField(
        max_length=40, unique=True, editable=False, default=PublicIdDefault(prefix)
    )


def MoneyField(**kwargs) -> models.DecimalField:
    kwargs.setdefault("default", 0)
    return models.DecimalField(
        max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES, **kwargs
    )


def CurrencyField(**kwargs) -> models.CharField:
    return models.CharField(max_length=3, **kwargs)
