"""Turn a template and a context into a subject, HTML and text, or say exactly why it can't.

Merchant templates use Django's template language in a separate engine: no file includes, no
access to Python objects (the context is plain data), and an unknown variable is an error that
names it instead of an empty gap in a sent email. The merchant writes the body; the layout around
it (logo, colours, footer, unsubscribe links) is ours, so every email carries them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

import css_inline
from django.template import Context, Engine, TemplateSyntaxError
from django.template.loader import render_to_string
from django.utils.html import strip_tags
from django.utils.safestring import mark_safe


class TemplateError(Exception):
    """A template that cannot render; `part` says which (subject, html, text, sms)."""

    def __init__(self, message: str, *, part: str = ""):
        super().__init__(f"{part}: {message}" if part else message)
        self.message = message
        self.part = part


class MissingVariable(TemplateError):
    def __init__(self, name: str):
        super().__init__(f"unknown variable {{{{ {name} }}}}")
        self.name = name


class _RaiseOnMissing(str):
    """Django's `string_if_invalid` hook: it formats the variable name into this string."""

    def __contains__(self, item) -> bool:
        return item == "%s"

    def __mod__(self, name) -> str:
        raise MissingVariable(str(name))


_engine = Engine(
    loaders=[("django.template.loaders.locmem.Loader", {})],
    builtins=["aftersale.messaging.templatetags.email_blocks"],
    string_if_invalid=_RaiseOnMissing("missing"),
    autoescape=True,
)


_SCALARS = (str, int, float, bool, type(None))


def freeze(value):
    """Plain data only: mappings become read-only so a template can't call dict methods on them.

    A read-only mapping is taken as frozen already, so shared parts of every context (labels,
    footer texts) are frozen once instead of once per message."""
    if isinstance(value, _SCALARS) or type(value) is MappingProxyType:
        return value
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


@lru_cache(maxsize=2048)
def compile_template(source: str):
    try:
        return _engine.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(str(exc)) from None


def render_part(source: str, context: Mapping, *, part: str, autoescape: bool) -> str:
    template = compile_template_part(source, part)
    try:
        return template.render(Context(context, autoescape=autoescape))
    except MissingVariable as exc:
        exc.part = part
        exc.args = (f"{part}: {exc.message}",)
        raise
    except TemplateSyntaxError as exc:
        raise TemplateError(str(exc), part=part) from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise TemplateError(f"cannot render: {exc}", part=part) from None


def compile_template_part(source: str, part: str):
    try:
        return compile_template(source)
    except TemplateError as exc:
        raise TemplateError(exc.message, part=part) from None


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    preheader: str
    html: str
    text: str


@dataclass(frozen=True)
class TemplateParts:
    subject: str
    preheader: str
    html_body: str
    text_body: str


_inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
_BLANK_LINES = re.compile(r"\n{3,}")


def _one_line(value: str) -> str:
    return " ".join(value.split())


def render_email(parts: TemplateParts, context: Mapping) -> RenderedEmail:
    """Render all parts of an email; raises TemplateError naming the first part that fails."""
    frozen = freeze(context)
    subject = _one_line(render_part(parts.subject, frozen, part="subject", autoescape=False))
    if not subject:
        raise TemplateError("the subject is empty", part="subject")
    preheader = _one_line(render_part(parts.preheader, frozen, part="preheader", autoescape=False))
    body_html = render_part(parts.html_body, frozen, part="html", autoescape=True)
    if parts.text_body.strip():
        text = render_part(parts.text_body, frozen, part="text", autoescape=False)
    else:
        text = strip_tags(body_html)
    store = context.get("store", {})
    links = context.get("links", {})
    html = render_to_string(
        "messaging/email/layout.html",
        {
            "subject": subject,
            "preheader": preheader,
            "body": mark_safe(body_html),
            "store": store,
            "links": links,
            "lang": context.get("lang", "en"),
            "footer": context.get("footer", {}),
        },
    )
    text_full = render_to_string(
        "messaging/email/layout.txt",
        {"body": text.strip(), "store": store, "links": links, "footer": context.get("footer", {})},
    )
    return RenderedEmail(
        subject=subject,
        preheader=preheader,
        html=_inliner.inline(html),
        text=_BLANK_LINES.sub("\n\n", text_full).strip() + "\n",
    )


def render_sms(source: str, context: Mapping) -> str:
    text = render_part(source, freeze(context), part="sms", autoescape=False)
    text = _one_line(text)
    if not text:
        raise TemplateError("the SMS text is empty", part="sms")
    return text
