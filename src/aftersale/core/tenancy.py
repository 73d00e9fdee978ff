"""Store scoping for the back office: a staff user sees only the stores they belong to."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import render

from aftersale.core.models import Store


def stores_for_user(user) -> QuerySet[Store]:
    if not user.is_authenticated or not user.is_active:
        return Store.objects.none()
    if user.is_superuser:
        return Store.objects.all()
    return Store.objects.filter(members__user=user)


def stores_in_scope(user, slug: str = "") -> QuerySet[Store]:
    """The user's stores, or the one a back-office filter names — a store not theirs is a 404."""
    stores = stores_for_user(user)
    if slug:
        stores = stores.filter(slug=slug)
        if not stores.exists():
            raise Http404("no such store")
    return stores


def backoffice_page(request, template: str, context: dict, *, status: int = 200) -> HttpResponse:
    """A staff page inside the admin's frame (its header, navigation and user links)."""
    return render(request, template, {**admin.site.each_context(request), **context}, status=status)


class StoreFilter(admin.SimpleListFilter):
    """Filter by store, offering only the stores the user may see (never other tenants' names)."""

    title = "store"
    parameter_name = "store__id__exact"

    def lookups(self, request, model_admin):
        return [(store.pk, store.name) for store in stores_for_user(request.user)]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        allowed = stores_for_user(request.user).filter(pk=value)
        return queryset.filter(**{f"{getattr(self, 'field', 'store')}__in": allowed})


class StoreScopedAdmin(admin.ModelAdmin):
    """ModelAdmin for models with a `store` foreign key."""

    store_field = "store"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{f"{self.store_field}__in": stores_for_user(request.user)})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "store" and not request.user.is_superuser:
            kwargs["queryset"] = stores_for_user(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_list_filter(self, request):
        filters = [f for f in super().get_list_filter(request) if f != "store"]
        if self.store_field == "store" and stores_for_user(request.user)[:2].count() > 1:
            filters.insert(0, StoreFilter)
        return filters

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff


class StoreScopedInline(admin.TabularInline):
    extra = 0
    show_change_link = True
