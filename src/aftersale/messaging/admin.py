"""The messaging back office: sender settings, templates with a live preview, the message log."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from aftersale.core.tenancy import StoreScopedAdmin, stores_for_user
from aftersale.messaging import backoffice, preview
from aftersale.messaging.kinds import all_kinds, get_kind
from aftersale.messaging.locales import SUPPORTED
from aftersale.messaging.message_templates import default_template, ensure_store_templates
from aftersale.messaging.models import (
    Channel,
    ContactPreference,
    KindPolicy,
    LinkClick,
    Message,
    MessageLog,
    MessageTemplate,
    MessagingSettings,
    Suppression,
)
from aftersale.messaging.rendering import TemplateError, TemplateParts


def kind_choices() -> list[tuple[str, str]]:
    return [(kind.code, kind.title) for kind in all_kinds()]


def kind_title(code: str) -> str:
    try:
        return get_kind(code).title
    except KeyError:
        return code


class KindFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return kind_choices()

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(kind=self.value())
        return queryset


class LocaleFilter(admin.SimpleListFilter):
    title = "locale"
    parameter_name = "locale"

    def lookups(self, request, model_admin):
        return [(code, code) for code in SUPPORTED]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(locale=self.value())
        return queryset


class ReadOnlyAdminMixin:
    """A log: staff look, nobody edits or deletes from here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# -- settings and policies ------------------------------------------------------------------


@admin.register(MessagingSettings)
class MessagingSettingsAdmin(StoreScopedAdmin):
    list_display = ["store", "sender_name", "sender_email", "reply_to", "sms_sender", "quiet_hours"]
    list_select_related = ["store"]
    fieldsets = [
        (None, {"fields": ["store"]}),
        ("Sender", {"fields": ["sender_name", "sender_email", "reply_to", "sms_sender"]}),
        (
            "Quiet hours (in the recipient's time zone)",
            {"fields": ["quiet_hours_start", "quiet_hours_end"]},
        ),
        ("Fatigue budget", {"fields": ["fatigue_limit", "fatigue_window_days"]}),
        ("Footer", {"fields": ["footer_note"]}),
    ]

    @admin.display(description="quiet hours")
    def quiet_hours(self, row):
        return f"{row.quiet_hours_start:%H:%M}–{row.quiet_hours_end:%H:%M}"

    def get_readonly_fields(self, request, obj=None):
        return ["store"] if obj is not None else []


class KindPolicyForm(forms.ModelForm):
    kind = forms.ChoiceField(choices=kind_choices)

    class Meta:
        model = KindPolicy
        fields = [
            "store",
            "kind",
            "ignore_quiet_hours",
            "quiet_hours_start",
            "quiet_hours_end",
            "priority",
            "expires_after_hours",
        ]


@admin.register(KindPolicy)
class KindPolicyAdmin(StoreScopedAdmin):
    form = KindPolicyForm
    list_display = [
        "kind_name",
        "store",
        "ignore_quiet_hours",
        "quiet_hours_start",
        "quiet_hours_end",
        "priority",
        "expires_after_hours",
    ]
    list_filter = [KindFilter, "ignore_quiet_hours"]
    list_select_related = ["store"]

    @admin.display(description="kind", ordering="kind")
    def kind_name(self, policy):
        return kind_title(policy.kind)


# -- templates ------------------------------------------------------------------------------


PART_FIELDS = {
    "subject": "subject",
    "preheader": "preheader",
    "html": "html_body",
    "text": "text_body",
    "sms": "text_body",
}


def shipped_template_count() -> int:
    """How many templates a store has once it holds a copy of every shipped default."""
    return sum(
        default_template(kind.code, channel, locale) is not None
        for kind in all_kinds()
        for channel in kind.channels
        for locale in SUPPORTED
    )


def parts_from(data, instance: MessageTemplate) -> TemplateParts:
    """The parts as posted, falling back to the saved wording for a part the form lacks."""

    def value(name: str) -> str:
        return data.get(name, getattr(instance, name)) or ""

    if instance.channel == Channel.SMS:
        return TemplateParts(subject="", preheader="", html_body="", text_body=value("text_body"))
    return TemplateParts(
        subject=value("subject"),
        preheader=value("preheader"),
        html_body=value("html_body"),
        text_body=value("text_body"),
    )


class MessageTemplateForm(forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = ["subject", "preheader", "html_body", "text_body"]
        labels = {"html_body": "HTML body", "text_body": "Text body"}
        widgets = {
            "subject": forms.TextInput(attrs={"class": "vLargeTextField tpl-line"}),
            "preheader": forms.TextInput(attrs={"class": "vLargeTextField tpl-line"}),
            "html_body": forms.Textarea(
                attrs={"rows": 18, "class": "tpl-code", "spellcheck": "false"}
            ),
            "text_body": forms.Textarea(
                attrs={"rows": 12, "class": "tpl-code", "spellcheck": "false"}
            ),
        }

    def clean(self):
        data = super().clean()
        template = self.instance
        parts = parts_from(data, template)
        try:
            preview.template_check(
                store=template.store,
                kind=template.kind,
                channel=template.channel,
                locale=template.locale,
                parts=parts,
            )
        except TemplateError as exc:
            message = f"{exc.part}: {exc.message}" if exc.part else exc.message
            field = PART_FIELDS.get(exc.part)
            if field in self.fields:
                self.add_error(field, message)
            raise forms.ValidationError(
                f"Not saved: the template does not render — {message}"
            ) from None
        return data


@admin.register(MessageTemplate)
class MessageTemplateAdmin(StoreScopedAdmin):
    form = MessageTemplateForm
    change_form_template = "admin/messaging/messagetemplate/change_form.html"
    list_display = ["kind_name", "channel", "locale", "subject", "version", "updated_at", "store"]
    list_display_links = ["kind_name", "channel", "locale"]
    list_filter = [KindFilter, "channel", LocaleFilter]
    list_select_related = ["store"]
    search_fields = ["subject", "html_body", "text_body", "public_id"]
    ordering = ["kind", "channel", "locale"]
    list_per_page = 100
    actions = ["reset_to_default"]
    readonly_fields = ["store", "kind_name", "channel", "locale", "version", "updated_at"]

    @admin.display(description="kind", ordering="kind")
    def kind_name(self, template):
        return kind_title(template.kind)

    def has_add_permission(self, request):
        return False  # every kind, channel and locale exists already; see changelist_view

    def has_delete_permission(self, request, obj=None):
        return False  # use "Reset to the shipped default" instead

    def get_fieldsets(self, request, obj=None):
        about = [(None, {"fields": ["store", "kind_name", "channel", "locale", "version"]})]
        if obj is not None and obj.channel == Channel.SMS:
            return [*about, ("SMS", {"fields": ["text_body"]})]
        email = ["subject", "preheader", "html_body", "text_body"]
        return [*about, ("Email", {"fields": email})]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if obj is not None and obj.channel == Channel.SMS and "text_body" in form.base_fields:
            form.base_fields["text_body"].label = "SMS text"
            form.base_fields["text_body"].widget.attrs["rows"] = 4
        elif "text_body" in form.base_fields:
            form.base_fields[
                "text_body"
            ].help_text = "Leave empty to send the HTML body with its tags stripped."
        return form

    def changelist_view(self, request, extra_context=None):
        # Every store the user can see gets an editable copy of each shipped default; one count
        # query finds the stores that lack some, so a full set costs nothing on the next visit.
        wanted = shipped_template_count()
        codes = [kind.code for kind in all_kinds()]
        short = stores_for_user(request.user).annotate(
            templates=Count("message_templates", filter=Q(message_templates__kind__in=codes))
        )
        for store in short.filter(templates__lt=wanted):
            ensure_store_templates(store)
        return super().changelist_view(request, extra_context)

    def save_model(self, request, obj, form, change):
        if change and not form.has_changed():
            return
        backoffice.template_save(store=obj.store, template=obj)

    def get_urls(self):
        urls = [
            path(
                "<path:object_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="messaging_messagetemplate_preview",
            ),
        ]
        return urls + super().get_urls()

    def preview_view(self, request, object_id):
        return require_POST(self._preview)(request, object_id)

    def _preview(self, request, object_id):
        template = self.get_object(request, object_id)
        if template is None:
            raise Http404("no such template")
        if not self.has_view_or_change_permission(request, template):
            raise PermissionDenied
        shown = preview.template_preview(
            store=template.store,
            kind=template.kind,
            channel=template.channel,
            locale=template.locale,
            parts=parts_from(request.POST, template),
            order_number=request.POST.get("preview_order", ""),
        )
        return TemplateResponse(
            request,
            "admin/messaging/messagetemplate/preview.html",
            {"preview": shown, "template": template, "is_sms": template.channel == Channel.SMS},
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["preview_url"] = reverse(
                "admin:messaging_messagetemplate_preview", args=[obj.pk]
            )
            context["is_sms"] = obj.channel == Channel.SMS
            try:
                context["kind_about"] = get_kind(obj.kind).about
            except KeyError:
                context["kind_about"] = "order"
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.action(description="Reset to the shipped default", permissions=["change"])
    def reset_to_default(self, request, queryset):
        reset = 0
        for template in queryset.select_related("store"):
            reset += backoffice.template_reset(store=template.store, template=template)
        self.message_user(
            request, f"{reset} template(s) reset to the shipped default.", messages.SUCCESS
        )


# -- the message log ------------------------------------------------------------------------


class MessageLogInline(admin.TabularInline):
    model = MessageLog
    verbose_name_plural = "log"
    extra = 0
    fields = ["at", "status", "detail"]
    readonly_fields = fields
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Message)
class MessageAdmin(StoreScopedAdmin):
    list_display = [
        "created_at",
        "kind_name",
        "channel",
        "recipient",
        "status",
        "status_reason",
        "due_at",
        "sent_at",
    ]
    list_filter = ["status", KindFilter, "channel", "category"]
    search_fields = ["recipient", "public_id", "idempotency_key"]
    date_hierarchy = "created_at"
    list_select_related = ["store"]
    show_full_result_count = False
    inlines = [MessageLogInline]
    actions = ["send_again", "cancel"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "public_id",
                    "store",
                    "kind",
                    "category",
                    "channel",
                    "recipient",
                    "locale",
                    "time_zone",
                    "origin",
                ]
            },
        ),
        ("About", {"fields": ["customer", "order", "shipment", "context"]}),
        (
            "Delivery",
            {
                "fields": [
                    "status",
                    "status_reason",
                    "priority",
                    "due_at",
                    "expires_at",
                    "attempts",
                    "sent_at",
                    "provider_message_id",
                    "subject",
                    "template_version",
                    "idempotency_key",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
        ("As sent", {"fields": ["as_sent"]}),
    ]
    readonly_fields = [f.name for f in Message._meta.fields if f.name not in {"id"}] + ["as_sent"]

    @admin.display(description="kind", ordering="kind")
    def kind_name(self, message):
        return kind_title(message.kind)

    @admin.display(description="view as sent")
    def as_sent(self, message):
        if message.channel != Channel.EMAIL:
            return message.subject or "—"
        shown = preview.message_as_sent(message)
        if shown.error:
            return format_html('<p class="errornote">Cannot render: {}</p>', shown.error)
        version = (
            f"rendered with today's template; sent with version {message.template_version}"
            if message.template_version
            else "rendered with today's template"
        )
        return format_html(
            '<div class="tpl-sent"><p><strong>{}</strong><br><span class="help">{}</span></p>'
            "<p>{}</p>"
            '<iframe sandbox="" title="email as sent" srcdoc="{}" '
            'style="width:680px;max-width:100%;height:640px;border:1px solid var(--hairline-color);'
            'background:#fff"></iframe>'
            "<details><summary>text part</summary><pre>{}</pre></details></div>",
            shown.subject,
            shown.preheader,
            version,
            shown.html,
            shown.text,
        )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("customer", "order", "shipment")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # The log is read-only; the model permission only unlocks the actions below.
        return False if obj is not None else super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    def has_resend_permission(self, request):
        return super().has_change_permission(request)

    @admin.action(description="Send again now (failed or expired)", permissions=["resend"])
    def send_again(self, request, queryset):
        done = skipped = 0
        for message in queryset.select_related("store"):
            if backoffice.message_requeue(store=message.store, message=message, actor=request.user):
                done += 1
            else:
                skipped += 1
        self.message_user(request, f"{done} message(s) queued to go now.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"{skipped} skipped: only failed or expired messages can be sent again.",
                messages.WARNING,
            )

    @admin.action(description="Cancel (queued only)", permissions=["resend"])
    def cancel(self, request, queryset):
        done = skipped = 0
        for message in queryset.select_related("store"):
            if backoffice.message_cancel(store=message.store, message=message, actor=request.user):
                done += 1
            else:
                skipped += 1
        self.message_user(request, f"{done} message(s) cancelled.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"{skipped} skipped: only queued messages can be cancelled.",
                messages.WARNING,
            )


# -- suppressions, preferences, clicks ------------------------------------------------------


class SuppressionForm(forms.ModelForm):
    class Meta:
        model = Suppression
        fields = ["store", "channel", "address", "detail"]

    def clean(self):
        data = super().clean()
        address = (data.get("address") or "").strip()
        if data.get("channel") == Channel.EMAIL:
            address = address.lower()
        data["address"] = address
        self.instance.address = address
        return data


@admin.register(Suppression)
class SuppressionAdmin(StoreScopedAdmin):
    list_display = ["address", "channel", "reason", "detail", "created_at", "store"]
    list_filter = ["channel", "reason"]
    search_fields = ["address"]
    list_select_related = ["store"]
    date_hierarchy = "created_at"

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = SuppressionForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["store", "channel", "address", "detail"]
        return ["store", "channel", "address", "reason", "detail", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["store", "channel", "address", "reason", "created_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.reason = Suppression.Reason.MANUAL
            if not obj.detail:
                obj.detail = f"added by {request.user.get_username()}"
        super().save_model(request, obj, form, change)


@admin.register(ContactPreference)
class ContactPreferenceAdmin(ReadOnlyAdminMixin, StoreScopedAdmin):
    list_display = [
        "customer",
        "feedback",
        "reminders",
        "offers",
        "email",
        "sms",
        "updated_at",
        "updated_via",
    ]
    list_filter = ["feedback", "reminders", "offers", "email", "sms"]
    search_fields = ["customer__email", "customer__public_id"]
    list_select_related = ["customer"]


@admin.register(LinkClick)
class LinkClickAdmin(ReadOnlyAdminMixin, StoreScopedAdmin):
    list_display = ["clicked_at", "message", "url"]
    search_fields = ["url", "message__public_id", "message__recipient"]
    list_select_related = ["message"]
    date_hierarchy = "clicked_at"
