"""Blocks a merchant can put in a message: {% button url label %}, {% order_summary %},
{% shipment_summary %}, {% discount_box %}. In the text part (no autoescape) they render as text."""

from __future__ import annotations

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

register = template.Library()


def _text_mode(context) -> bool:
    return not context.autoescape


@register.simple_tag(takes_context=True)
def button(context, url, label):
    if _text_mode(context):
        return f"{label}: {url}"
    store = context.get("store", {})
    return mark_safe(
        render_to_string(
            "messaging/email/button.html",
            {"url": url, "label": label, "color": store.get("brand_color", "#1f4e79")},
        )
    )


def _block(context, name: str, key: str):
    data = context.get(key)
    if not data:
        return ""
    suffix = "txt" if _text_mode(context) else "html"
    rendered = render_to_string(
        f"messaging/email/{name}.{suffix}",
        {key: data, "store": context.get("store", {}), "labels": context.get("labels", {})},
    )
    return rendered if _text_mode(context) else mark_safe(rendered)


@register.simple_tag(takes_context=True)
def order_summary(context):
    return _block(context, "order_summary", "order")


@register.simple_tag(takes_context=True)
def shipment_summary(context):
    return _block(context, "shipment_summary", "shipment")


@register.simple_tag(takes_context=True)
def discount_box(context):
    return _block(context, "discount_box", "discount")


@register.simple_tag(takes_context=True)
def product_list(context):
    return _block(context, "product_list", "products")
