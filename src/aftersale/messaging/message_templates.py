"""Which wording a message uses: the store's own template, else the shipped default."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from django.db import IntegrityError, transaction

from aftersale.core.models import Store
from aftersale.messaging.kinds import all_kinds
from aftersale.messaging.locales import DEFAULT, SUPPORTED
from aftersale.messaging.models import Channel, MessageTemplate
from aftersale.messaging.rendering import TemplateParts

DEFAULTS_DIR = Path(__file__).resolve().parent / "defaults"
# Apps that add message kinds ship their default wording beside their code (<dir>/<locale>.yaml).
_default_dirs: list[Path] = [DEFAULTS_DIR]


def register_default_templates(directory: Path) -> None:
    """Add a folder of <locale>.yaml default templates (called from an AppConfig.ready)."""
    if directory not in _default_dirs:
        _default_dirs.append(directory)
        _defaults.cache_clear()


@cache
def _defaults(locale: str) -> dict:
    merged: dict = {}
    for directory in _default_dirs:
        path = directory / f"{locale}.yaml"
        if path.exists():
            merged.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return merged


def default_template(kind: str, channel: str, locale: str) -> TemplateParts | None:
    entry = _defaults(locale).get(kind)
    if not entry:
        return None
    if channel == Channel.SMS:
        if not entry.get("sms"):
            return None
        return TemplateParts(subject="", preheader="", html_body="", text_body=entry["sms"])
    return TemplateParts(
        subject=entry.get("subject", ""),
        preheader=entry.get("preheader", ""),
        html_body=entry.get("html", ""),
        text_body=entry.get("text", ""),
    )


def parts_of(template: MessageTemplate) -> TemplateParts:
    return TemplateParts(
        subject=template.subject,
        preheader=template.preheader,
        html_body=template.html_body,
        text_body=template.text_body,
    )


@dataclass(frozen=True)
class ResolvedTemplate:
    parts: TemplateParts
    locale: str
    version: int | None  # None: the shipped default


def resolve_template(
    *, store: Store, kind: str, channel: str, locale: str, cache: dict | None = None
) -> ResolvedTemplate | None:
    """The store's template in the locale, else in the store's locale, else English; the shipped
    default when the store has none."""
    if cache is None:
        return _resolve(store, kind, channel, locale)
    # A batch of messages from several stores shares one cache: every key names the store.
    key = (store.pk, kind, channel, locale)
    if key not in cache:
        cache[key] = _resolve(store, kind, channel, locale)
    return cache[key]


def _resolve(store: Store, kind: str, channel: str, locale: str) -> ResolvedTemplate | None:
    candidates = [locale, store.default_locale, DEFAULT]
    for candidate in dict.fromkeys(c for c in candidates if c in SUPPORTED):
        row = MessageTemplate.objects.filter(
            store=store, kind=kind, channel=channel, locale=candidate
        ).first()
        if row is not None:
            return ResolvedTemplate(parts_of(row), candidate, row.version)
        default = default_template(kind, channel, candidate)
        if default is not None:
            return ResolvedTemplate(default, candidate, None)
    return None


def ensure_store_templates(store: Store) -> int:
    """Give the store an editable copy of every shipped default it does not have yet."""
    existing = set(
        MessageTemplate.objects.filter(store=store).values_list("kind", "channel", "locale")
    )
    created = 0
    for kind in all_kinds():
        for channel in kind.channels:
            for locale in SUPPORTED:
                if (kind.code, channel, locale) in existing:
                    continue
                parts = default_template(kind.code, channel, locale)
                if parts is None:
                    continue
                try:
                    with transaction.atomic():
                        MessageTemplate.objects.create(
                            store=store,
                            kind=kind.code,
                            channel=channel,
                            locale=locale,
                            subject=parts.subject,
                            preheader=parts.preheader,
                            html_body=parts.html_body,
                            text_body=parts.text_body,
                        )
                    created += 1
                except IntegrityError:
                    continue  # created concurrently
    return created
