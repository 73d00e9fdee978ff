"""Feedback in the Django admin: survey definitions (with extra questions), answers (read only) and
detractor cases (worked on in the desk, /admin/feedback/desk/cases/)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from aftersale.core.services import DomainError
from aftersale.core.tenancy import StoreScopedAdmin
from aftersale.feedback.models import DetractorCase, Survey, SurveyAnswer, SurveyQuestion
from aftersale.feedback.services import survey_settings_check


class SurveyQuestionInline(admin.TabularInline):
    model = SurveyQuestion
    extra = 0
    fields = ["position", "kind", "label", "choices", "active"]


class SurveyForm(forms.ModelForm):
    class Meta:
        model = Survey
        fields = [
            "store",
            "type",
            "question",
            "follow_up_low",
            "follow_up_mid",
            "follow_up_high",
            "detractor_max",
            "promoter_min",
            "link_valid_days",
            "alert_email",
            "case_owner",
        ]

    def clean(self):
        data = super().clean()
        survey = Survey(type=data.get("type") or getattr(self.instance, "type", "nps"))
        try:
            survey_settings_check(
                survey=survey,
                detractor_max=data.get("detractor_max"),
                promoter_min=data.get("promoter_min"),
            )
        except DomainError as exc:
            self.add_error(exc.field, exc.message)
        return data


@admin.register(Survey)
class SurveyAdmin(StoreScopedAdmin):
    form = SurveyForm
    list_display = ["type", "store", "detractor_ceiling", "promoter_floor", "link_valid_days"]
    list_filter = ["type"]
    inlines = [SurveyQuestionInline]

    def save_formset(self, request, form, formset, change):
        for inline_form in formset.forms:
            if inline_form.instance.pk is None:
                inline_form.instance.store = form.instance.store
        super().save_formset(request, form, formset, change)


@admin.register(SurveyAnswer)
class SurveyAnswerAdmin(StoreScopedAdmin):
    list_display = [
        "public_id",
        "survey_type",
        "score",
        "band",
        "order",
        "carrier",
        "late",
        "first_order",
        "answered_at",
    ]
    list_filter = ["survey_type", "band", "late", "first_order"]
    search_fields = ["public_id", "order__number", "comment", "customer__email"]
    date_hierarchy = "answered_at"
    list_select_related = ["order"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(DetractorCase)
class DetractorCaseAdmin(StoreScopedAdmin):
    list_display = ["public_id", "state", "score", "order", "owner", "opened_at", "desk"]
    list_filter = ["state", "closed_reason"]
    search_fields = ["public_id", "order__number", "customer__email"]
    list_select_related = ["answer", "order", "owner"]

    @admin.display(description="score")
    def score(self, obj):
        return f"{obj.answer.survey_type.upper()} {obj.answer.score}"

    @admin.display(description="work on it")
    def desk(self, obj):
        return format_html(
            '<a href="{}">Open in the desk</a>',
            reverse("feedback_backoffice:case", args=[obj.public_id]),
        )

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False
