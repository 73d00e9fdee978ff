"""The flows back office: flows edited as YAML with their steps in words beside the editor (live,
with htmx), version history, a simulation over the store's history, enrolments with their step
history, and discount pools with code uploads.

Every write goes through journeys.services (flow_create, flow_update, discount_pool_upload);
what those refuse comes back as a form error and nothing changes.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_http_methods, require_POST

from aftersale.core.services import DomainError
from aftersale.core.tenancy import StoreScopedAdmin, stores_for_user
from aftersale.journeys import backoffice
from aftersale.journeys.definition import DefinitionError
from aftersale.journeys.models import (
    DiscountPool,
    Enrolment,
    Flow,
    ScheduledStep,
    StepRun,
)
from aftersale.journeys.services import (
    definition_check,
    discount_pool_upload,
    flow_create,
    flow_update,
)
from aftersale.messaging.policy import zone

MAX_SIMULATION_DAYS = 366


class ReadOnlyAdmin(StoreScopedAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _when(value: dt.datetime | None) -> str:
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M}" if value else "—"


# -- flows ----------------------------------------------------------------------------------


def definition_textarea() -> forms.Textarea:
    return forms.Textarea(
        attrs={"rows": 30, "class": "flow-code", "spellcheck": "false", "autocomplete": "off"}
    )


class FlowForm(forms.ModelForm):
    """Name, description, switch and the definition as text. The definition is checked here
    (definition_check) and saved by flow_update / flow_create in FlowAdmin.save_model."""

    definition = forms.CharField(
        widget=definition_textarea(),
        strip=False,
        help_text=(
            "YAML or JSON. Saving a changed definition makes a new version; shoppers already in "
            "the flow finish on the version they started with."
        ),
    )

    class Meta:
        model = Flow
        fields = ["name", "description", "active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        version = self.instance.current_version if self.instance.pk else None
        if version is not None:
            self.initial.setdefault("definition", backoffice.definition_yaml(version.definition))

    def store_to_check(self, data: dict):
        return self.instance.store if self.instance.pk else data.get("store")

    def clean(self):
        data = super().clean()
        text = data.get("definition")
        store = self.store_to_check(data)
        if text and store is not None:
            try:
                definition_check(store=store, source=text)
            except DefinitionError as exc:
                self.add_error("definition", exc.message)
        return data


class FlowAddForm(FlowForm):
    class Meta:
        model = Flow
        fields = ["store", "key", "name", "description", "active"]
        help_texts = {"key": "A short name for the flow, unique in the store (e.g. review-ask)."}

    def clean(self):
        data = super().clean()
        store, key = data.get("store"), data.get("key")
        if store is not None and key and Flow.objects.filter(store=store, key=key).exists():
            self.add_error("key", f"this store already has a flow with the key {key!r}")
        return data


class SimulationForm(forms.Form):
    SAVED, EDITOR = "saved", "editor"

    since = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}))
    source = forms.ChoiceField(
        label="Definition",
        choices=[(SAVED, "the saved version"), (EDITOR, "the text below")],
        widget=forms.RadioSelect,
    )
    definition = forms.CharField(required=False, strip=False, widget=definition_textarea())

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until:
            if since > until:
                self.add_error("until", "the end is before the start")
            elif (until - since).days > MAX_SIMULATION_DAYS:
                self.add_error("since", f"simulate at most {MAX_SIMULATION_DAYS} days at once")
        if data.get("source") == self.EDITOR and not (data.get("definition") or "").strip():
            self.add_error("definition", "paste the definition to simulate")
        return data


@admin.register(Flow)
class FlowAdmin(StoreScopedAdmin):
    form = FlowForm
    add_form = FlowAddForm
    change_form_template = "admin/journeys/flow/change_form.html"
    list_display = [
        "name",
        "trigger_event",
        "active",
        "version_number",
        "builtin",
        "active_enrolments",
        "store",
    ]
    list_filter = ["active", "builtin", "trigger_event"]
    list_select_related = ["store", "current_version"]
    search_fields = ["name", "key", "public_id"]
    actions = ["activate", "deactivate", "reset_builtin"]
    readonly_fields = [
        "store",
        "key",
        "public_id",
        "trigger_event",
        "builtin",
        "version_number",
        "version_history",
        "created_at",
        "updated_at",
    ]

    # -- lists and pages

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                active_enrolment_count=Count(
                    "enrolments", filter=Q(enrolments__state=Enrolment.State.ACTIVE)
                )
            )
        )

    @admin.display(description="version", ordering="current_version__number")
    def version_number(self, flow):
        return f"v{flow.current_version.number}" if flow.current_version else "—"

    @admin.display(description="active enrolments", ordering="active_enrolment_count")
    def active_enrolments(self, flow):
        return getattr(flow, "active_enrolment_count", None)

    @admin.display(description="versions")
    def version_history(self, flow):
        rows = format_html_join(
            "",
            "<tr><td>v{}{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    version.number,
                    " (current)" if version.pk == flow.current_version_id else "",
                    _when(version.created_at),
                    version.enrolment_count,
                )
                for version in backoffice.flow_versions(flow=flow)
            ),
        )
        return format_html(
            '<table class="flow-versions"><thead><tr><th>version</th><th>saved</th>'
            "<th>enrolments on it</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [
                (None, {"fields": ["store", "key", "name", "description", "active"]}),
                ("Definition", {"fields": ["definition"]}),
            ]
        about = ["name", "description", "active", "key", "store", "trigger_event", "builtin"]
        definition = "definition" if self.has_change_permission(request, obj) else "definition_text"
        return [
            (None, {"fields": about}),
            ("Definition", {"fields": [definition]}),
            ("Versions", {"fields": ["version_history"]}),
            (
                "About",
                {"fields": ["public_id", "created_at", "updated_at"], "classes": ["collapse"]},
            ),
        ]

    @admin.display(description="definition")
    def definition_text(self, flow):
        version = flow.current_version
        text = backoffice.definition_yaml(version.definition) if version else ""
        return format_html('<pre class="flow-code">{}</pre>', text)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [*self.readonly_fields, "definition_text"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change, **kwargs)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("definition", backoffice.NEW_FLOW_TEMPLATE)
        initial.setdefault("active", False)
        stores = list(stores_for_user(request.user)[:2])
        if len(stores) == 1:
            initial.setdefault("store", stores[0].pk)
        return initial

    def has_delete_permission(self, request, obj=None):
        return False  # switch a flow off instead: its enrolments and results stay

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        form = context["adminform"].form
        if "definition" in form.fields:
            text = form.data.get("definition", "") if form.is_bound else form["definition"].value()
            store = obj.store if obj is not None else _posted_store(request, form.data)
            context["outline"] = backoffice.definition_outline(store=store, source=text or "")
        if obj is not None:
            context["outline_url"] = reverse("admin:journeys_flow_outline", args=[obj.pk])
            context["simulate_url"] = reverse("admin:journeys_flow_simulate", args=[obj.pk])
        else:
            context["outline_url"] = reverse("admin:journeys_flow_outline_new")
        return super().render_change_form(request, context, add, change, form_url, obj)

    # -- saving through the services

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            before = obj.current_version_id
            flow = flow_update(
                store=obj.store,
                flow=obj,
                definition=data["definition"],
                name=data["name"],
                description=data["description"],
                active=data["active"],
            )
            if flow.current_version_id != before:
                self.message_user(
                    request,
                    f"Saved as version {flow.current_version.number}; enrolments already "
                    "running stay on their version.",
                    messages.INFO,
                )
        else:
            flow = flow_create(
                store=data["store"],
                key=data["key"],
                name=data["name"],
                description=data["description"],
                definition=data["definition"],
                active=data["active"],
            )
        for model_field in Flow._meta.concrete_fields:
            setattr(obj, model_field.attname, getattr(flow, model_field.attname))
        obj._state.adding = False

    # -- actions

    def _set_active(self, request, queryset, active: bool):
        changed = 0
        for flow in queryset.select_related("store"):
            if flow.active != active:
                flow_update(store=flow.store, flow=flow, active=active)
                changed += 1
        state = "switched on" if active else "switched off"
        self.message_user(request, f"{changed} flow(s) {state}.", messages.SUCCESS)

    @admin.action(description="Activate", permissions=["change"])
    def activate(self, request, queryset):
        self._set_active(request, queryset, True)

    @admin.action(description="Deactivate", permissions=["change"])
    def deactivate(self, request, queryset):
        self._set_active(request, queryset, False)

    @admin.action(description="Reset built-in flow to its default", permissions=["change"])
    def reset_builtin(self, request, queryset):
        reset = unchanged = skipped = 0
        for flow in queryset.select_related("store", "current_version"):
            if not flow.builtin:
                skipped += 1
                continue
            try:
                made = backoffice.flow_reset_builtin(store=flow.store, flow=flow)
            except DefinitionError:
                skipped += 1
                continue
            reset += made
            unchanged += not made
        self.message_user(
            request,
            f"{reset} flow(s) reset to the default as a new version; "
            f"{unchanged} already had the default definition.",
            messages.SUCCESS,
        )
        if skipped:
            self.message_user(
                request, f"{skipped} skipped: only built-in flows have a default.", messages.WARNING
            )

    # -- the live outline and the simulation

    def get_urls(self):
        view = self.admin_site.admin_view
        urls = [
            path("add/outline/", view(self.outline_view), name="journeys_flow_outline_new"),
            path(
                "<path:object_id>/outline/", view(self.outline_view), name="journeys_flow_outline"
            ),
            path(
                "<path:object_id>/simulate/",
                view(self.simulate_view),
                name="journeys_flow_simulate",
            ),
        ]
        return urls + super().get_urls()

    def _flow_or_404(self, request, object_id) -> Flow:
        flow = self.get_object(request, unquote(object_id))
        if flow is None:
            raise Http404("no such flow")
        if not self.has_view_or_change_permission(request, flow):
            raise PermissionDenied
        return flow

    def outline_view(self, request, object_id=None):
        return require_POST(self._outline)(request, object_id)

    def _outline(self, request, object_id):
        """The posted definition as a list of steps, or the reason it is refused."""
        if object_id is None:
            if not self.has_add_permission(request):
                raise PermissionDenied
            store = _posted_store(request, request.POST)
        else:
            store = self._flow_or_404(request, object_id).store
        result = backoffice.definition_outline(
            store=store, source=request.POST.get("definition", "")
        )
        return TemplateResponse(request, "admin/journeys/flow/outline.html", {"outline": result})

    def simulate_view(self, request, object_id):
        return require_http_methods(["GET", "POST"])(self._simulate)(request, object_id)

    def _simulate(self, request, object_id):
        flow = self._flow_or_404(request, object_id)
        store = flow.store
        today = timezone.now().astimezone(zone(store.time_zone)).date()
        saved_text = (
            backoffice.definition_yaml(flow.current_version.definition)
            if flow.current_version
            else ""
        )
        defaults = {
            "since": (today - dt.timedelta(days=30)).isoformat(),
            "until": today.isoformat(),
            "source": SimulationForm.SAVED,
            "definition": saved_text,
        }
        if request.method == "POST" and "_from_editor" in request.POST:
            # The change page's "Simulate this text" button posts the whole editor form here.
            text = request.POST.get("definition", "")
            form = SimulationForm({**defaults, "source": SimulationForm.EDITOR, "definition": text})
        elif request.method == "POST":
            form = SimulationForm(request.POST)
        else:
            form = SimulationForm(initial=defaults)
        result = None
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            editor = data["source"] == SimulationForm.EDITOR
            source = data["definition"] if editor else flow.current_version.definition
            try:
                result = backoffice.flow_simulation(
                    store=store, source=source, since=data["since"], until=data["until"]
                )
            except DefinitionError as exc:
                form.add_error("definition" if editor else None, exc.message)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Simulate “{flow.name}”",
            "subtitle": None,
            "opts": self.opts,
            "original": flow,
            "form": form,
            "sim": result,
            "has_view_permission": self.has_view_permission(request, flow),
            "store": store,
        }
        return TemplateResponse(request, "admin/journeys/flow/simulate.html", context)


def _posted_store(request, data):
    """The store chosen on the add form, if the user may use it (the outline checks its pools)."""
    value = str(data.get("store") or "")
    if not value.isdigit():
        return None
    return stores_for_user(request.user).filter(pk=int(value)).first()


# -- enrolments -----------------------------------------------------------------------------


class BranchFilter(admin.SimpleListFilter):
    title = "branch"
    parameter_name = "branch"

    def lookups(self, request, model_admin):
        branches = (
            model_admin.get_queryset(request)
            .exclude(branch="")
            .order_by("branch")
            .values_list("branch", flat=True)
            .distinct()
        )
        return [(b, b) for b in branches]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(branch=self.value())
        return queryset


class StepRunInline(ReadOnlyInline):
    model = StepRun
    fk_name = "enrolment"
    verbose_name_plural = "step history"
    fields = ["at", "step_id", "outcome", "detail"]
    readonly_fields = fields
    ordering = ["at", "id"]


class PendingStepInline(ReadOnlyInline):
    model = ScheduledStep
    verbose_name_plural = "next step"
    fields = ["step_id", "status", "due_at", "waiting_for", "resumed_by", "attempts", "claimed_by"]
    readonly_fields = fields

    def get_queryset(self, request):
        live = [ScheduledStep.Status.PENDING, ScheduledStep.Status.RUNNING]
        return super().get_queryset(request).filter(status__in=live)


@admin.register(Enrolment)
class EnrolmentAdmin(ReadOnlyAdmin):
    list_display = [
        "public_id",
        "flow",
        "customer",
        "order",
        "state",
        "exit_reason",
        "branch",
        "enrolled_at",
    ]
    list_filter = [("flow", admin.RelatedOnlyFieldListFilter), "state", BranchFilter]
    list_select_related = ["flow", "customer", "order"]
    search_fields = ["public_id", "subject_ref", "customer__email", "order__number"]
    date_hierarchy = "enrolled_at"
    show_full_result_count = False
    inlines = [StepRunInline, PendingStepInline]
    fieldsets = [
        (None, {"fields": ["public_id", "flow", "version", "state", "exit_reason", "branch"]}),
        ("About", {"fields": ["subject_ref", "customer", "order", "shipment", "context"]}),
        ("Timing", {"fields": ["current_step", "enrolled_at", "finished_at"]}),
    ]


@admin.register(ScheduledStep)
class ScheduledStepAdmin(ReadOnlyAdmin):
    store_field = "enrolment__store"
    list_display = ["enrolment", "step_id", "due_at", "status", "attempts", "claimed_by"]
    list_filter = ["status"]
    list_select_related = ["enrolment"]
    raw_id_fields = ["enrolment"]


@admin.register(StepRun)
class StepRunAdmin(ReadOnlyAdmin):
    list_display = ["enrolment", "step_id", "outcome", "at"]
    list_filter = ["outcome"]
    list_select_related = ["enrolment"]
    raw_id_fields = ["enrolment", "flow"]


# -- discount pools -------------------------------------------------------------------------


class DiscountPoolForm(forms.ModelForm):
    codes = forms.CharField(
        label="Codes",
        required=False,
        widget=forms.Textarea(attrs={"rows": 10, "class": "flow-code", "spellcheck": "false"}),
        help_text="One code per line, as made in the shop platform. Codes already in the store "
        "are skipped.",
    )
    csv_file = forms.FileField(
        label="or a CSV file",
        required=False,
        help_text="The first column holds the codes; a header row named “code” is skipped.",
    )

    class Meta:
        model = DiscountPool
        fields = ["store", "key", "name", "description", "expires_on"]

    def clean(self):
        data = super().clean()
        codes = backoffice.codes_from_text(data.get("codes") or "")
        upload = data.get("csv_file")
        if upload is not None:
            try:
                codes += backoffice.codes_from_csv(upload.read())
            except DomainError as exc:
                self.add_error("csv_file", exc.message)
        too_long = [c for c in codes if len(c) > 60]
        if too_long:
            self.add_error("codes", f"a code is at most 60 characters: {too_long[0][:70]}…")
        if not self.instance.pk:
            store, key = data.get("store"), data.get("key")
            if store and key and DiscountPool.objects.filter(store=store, key=key).exists():
                self.add_error("key", "this store already has a pool with this key")
        elif not codes and not self.errors:
            raise forms.ValidationError("Add codes in the box or as a CSV file.")
        self.uploaded_codes = codes
        return data


@admin.register(DiscountPool)
class DiscountPoolAdmin(StoreScopedAdmin):
    form = DiscountPoolForm
    list_display = ["name", "key", "codes_left", "codes_issued", "expires_on", "store"]
    list_select_related = ["store"]
    search_fields = ["name", "key"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                free=Count("codes", filter=Q(codes__issued_at__isnull=True)),
                issued=Count("codes", filter=Q(codes__issued_at__isnull=False)),
            )
        )

    @admin.display(description="codes left", ordering="free")
    def codes_left(self, pool):
        return pool.free

    @admin.display(description="codes issued", ordering="issued")
    def codes_issued(self, pool):
        return pool.issued

    def get_fieldsets(self, request, obj=None):
        upload = ("Upload codes", {"fields": ["codes", "csv_file"]})
        if obj is None:
            return [
                (None, {"fields": ["store", "key", "name", "description", "expires_on"]}),
                upload,
            ]
        about = ["name", "key", "store", "description", "expires_on", "codes_left", "codes_issued"]
        return [(None, {"fields": about}), upload]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["name", "key", "store", "description", "expires_on", "codes_left", "codes_issued"]

    def has_delete_permission(self, request, obj=None):
        return False  # issued codes point at their enrolments

    def save_model(self, request, obj, form, change):
        pool, added = discount_pool_upload(
            store=obj.store,
            key=obj.key,
            name=obj.name,
            description=obj.description,
            expires_on=obj.expires_on,
            codes=form.uploaded_codes,
        )
        skipped = len(set(form.uploaded_codes)) - added
        left = pool.codes.filter(issued_at__isnull=True).count()
        note = f"; {skipped} already in the store were skipped" if skipped else ""
        self.message_user(request, f"{added} code(s) added{note}. {left} left.", messages.SUCCESS)
        for model_field in DiscountPool._meta.concrete_fields:
            setattr(obj, model_field.attname, getattr(pool, model_field.attname))
        obj._state.adding = False
