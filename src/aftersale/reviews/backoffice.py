"""Back-office moderation desk for reviews, mounted under /admin/reviews/desk/.

Staff only and store-scoped: a staff user sees the reviews of their stores; a review, photo or
store of another tenant is a 404, and a bulk action naming one changes nothing.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from aftersale.core.models import Store
from aftersale.core.services import DomainError
from aftersale.core.tenancy import backoffice_page, stores_for_user, stores_in_scope
from aftersale.reviews import moderation, selectors, services
from aftersale.reviews.imports import COLUMNS, CsvImportError, import_reviews_csv
from aftersale.reviews.models import Review, ReviewPhoto

PAGE_SIZE = 50
IMPORT_MAX_BYTES = 50 * 1024 * 1024
STATES = [
    ("pending", "Waiting for moderation"),
    ("published", "Published"),
    ("rejected", "Rejected"),
    ("all", "All"),
]


class DeskFilter(forms.Form):
    status = forms.ChoiceField(required=False, choices=STATES)
    rating = forms.ChoiceField(
        required=False, choices=[("", "Any rating")] + [(str(n), f"{n}★") for n in range(1, 6)]
    )
    flagged = forms.ChoiceField(
        required=False, choices=[("", "Flagged or not"), ("yes", "Flagged"), ("no", "Not flagged")]
    )
    store = forms.CharField(required=False, max_length=100)
    q = forms.CharField(required=False, max_length=100)


def _review_for(request, ref: str) -> Review:
    review = (
        Review.objects.filter(store__in=stores_for_user(request.user), public_id=ref)
        .select_related("store", "product", "order", "customer", "reply", "moderated_by")
        .prefetch_related("flags", "photos", "revisions")
        .first()
    )
    if review is None:
        raise Http404("no such review")
    return review


@staff_member_required
@require_GET
def desk(request):
    form = DeskFilter(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    stores = stores_in_scope(request.user, data.get("store", ""))
    status = data.get("status") or "pending"
    qs = (
        Review.objects.filter(store__in=stores)
        .select_related("store", "product", "order")
        .prefetch_related("flags", "photos")
    )
    if status != "all":
        qs = qs.filter(status=status)
    if data.get("rating"):
        qs = qs.filter(rating=int(data["rating"]))
    if data.get("flagged") == "yes":
        qs = qs.filter(flags__isnull=False).distinct()
    elif data.get("flagged") == "no":
        qs = qs.filter(flags__isnull=True)
    if data.get("q"):
        term = data["q"].strip()
        qs = qs.filter(
            Q(title__icontains=term) | Q(text__icontains=term) | Q(product__title__icontains=term)
        )
    qs = qs.order_by("created_at", "id") if status == "pending" else qs.order_by("-created_at")
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    counts = dict(
        Review.objects.filter(store__in=stores)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    query = request.GET.copy()
    query.pop("page", None)
    rows = [
        {
            "review": r,
            "flags": [(f, moderation.explain(f.kind)) for f in r.flags.all()],
            "photos": len(r.photos.all()),
            "held_photos": sum(1 for p in r.photos.all() if p.status == "pending"),
        }
        for r in page.object_list
    ]
    return backoffice_page(
        request,
        "reviews/backoffice/desk.html",
        {
            "title": "Review moderation",
            "form": form,
            "rows": rows,
            "page": page,
            "status": status,
            "query": query.urlencode(),
            "counts": [(code, label, counts.get(code, 0)) for code, label in STATES[:3]],
            "stores": stores_for_user(request.user).order_by("name"),
        },
    )


@staff_member_required
@require_POST
def bulk(request):
    """Approve or reject the ticked reviews; all of one store at a time, or nothing."""
    ids = request.POST.getlist("ids")
    action = request.POST.get("action", "")
    back = reverse("reviews_backoffice:desk") + "?" + request.POST.get("next", "")
    if action not in ("approve", "reject") or not ids:
        messages.error(request, "Choose an action and at least one review.")
        return HttpResponseRedirect(back)
    reviews = list(
        Review.objects.filter(store__in=stores_for_user(request.user), public_id__in=ids)
        .select_related("store")
        .order_by("pk")
    )
    if len(reviews) != len(set(ids)):
        raise Http404("no such review")
    by_store: dict[int, tuple[Store, list[str]]] = {}
    for r in reviews:
        by_store.setdefault(r.store_id, (r.store, []))[1].append(r.public_id)
    fn = services.reviews_approve if action == "approve" else services.reviews_reject
    changed = 0
    for store, refs in by_store.values():
        changed += fn(store, review_ids=refs, actor=request.user)
    verb = "Published" if action == "approve" else "Rejected"
    messages.success(request, f"{verb} {changed} review{'s' if changed != 1 else ''}.")
    return HttpResponseRedirect(back)


@staff_member_required
@require_http_methods(["GET", "POST"])
def detail(request, ref: str):
    review = _review_for(request, ref)
    reply_error = ""
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action in ("approve", "reject"):
                fn = services.reviews_approve if action == "approve" else services.reviews_reject
                fn(review.store, review_ids=[review.public_id], actor=request.user)
                messages.success(
                    request, "Review published." if action == "approve" else "Review rejected."
                )
            elif action in ("photo_approve", "photo_reject"):
                photo_id = request.POST.get("photo", "")
                if not review.photos.filter(public_id=photo_id).exists():
                    raise Http404("no such photo")
                services.photo_moderate(
                    review.store,
                    photo_id=photo_id,
                    approve=action == "photo_approve",
                    actor=request.user,
                )
                messages.success(request, "Photo updated.")
            elif action == "reply":
                services.review_reply_set(
                    review.store,
                    review=review,
                    text=request.POST.get("text", ""),
                    actor=request.user,
                )
                messages.success(request, "Reply published; the shopper is told by e-mail.")
            elif action == "reply_delete":
                services.review_reply_delete(review.store, review=review)
                messages.success(request, "Reply removed.")
            else:
                raise DomainError("unknown action", field="action")
        except DomainError as exc:
            reply_error = exc.message
        else:
            return HttpResponseRedirect(
                reverse("reviews_backoffice:detail", args=[review.public_id])
            )
        review = _review_for(request, ref)
    reply = getattr(review, "reply", None) if _has_reply(review) else None
    return backoffice_page(
        request,
        "reviews/backoffice/detail.html",
        {
            "title": f"Review {review.public_id}",
            "review": review,
            "reply": reply,
            "reply_error": reply_error,
            "flags": [(f, moderation.explain(f.kind)) for f in review.flags.all()],
            "photos": list(review.photos.all()),
            "revisions": list(review.revisions.all()),
            "demo_url": reverse("reviews:demo", args=[review.store.slug, review.product.public_id])
            if review.product_id
            else "",
        },
        status=422 if reply_error else 200,
    )


def _has_reply(review: Review) -> bool:
    try:
        review.reply  # noqa: B018
    except Review.reply.RelatedObjectDoesNotExist:
        return False
    return True


@staff_member_required
@require_GET
def photo(request, ref: str):
    """Any photo of the staff user's stores, held ones included (the public URL serves only
    approved photos)."""
    found = ReviewPhoto.objects.filter(
        store__in=stores_for_user(request.user), public_id=ref
    ).first()
    if found is None:
        raise Http404("no such photo")
    try:
        handle = found.image.open("rb")
    except FileNotFoundError:
        raise Http404("photo file missing") from None
    response = FileResponse(handle, content_type=found.content_type)
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'"
    return response


class SettingsForm(forms.Form):
    auto_publish = forms.BooleanField(required=False, label="Publish automatically")
    auto_publish_min_rating = forms.IntegerField(
        min_value=1, max_value=5, label="…when the rating is at least"
    )
    extra_flagged_words = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        label="Extra flagged words (one per line)",
    )
    reward_code = forms.CharField(required=False, max_length=100, label="Reward code")
    reward_description = forms.CharField(required=False, max_length=300, label="Reward description")


@staff_member_required
@require_http_methods(["GET", "POST"])
def settings_page(request, slug: str):
    store = stores_in_scope(request.user, slug).first()
    if store is None:
        raise Http404("no such store")
    current = selectors.review_settings(store)
    if request.method == "POST":
        form = SettingsForm(request.POST)
        if form.is_valid():
            data = dict(form.cleaned_data)
            data["extra_flagged_words"] = [
                w.strip() for w in data["extra_flagged_words"].splitlines() if w.strip()
            ]
            services.review_settings_update(store, **data)
            messages.success(request, "Review settings saved.")
            return HttpResponseRedirect(reverse("reviews_backoffice:settings", args=[store.slug]))
    else:
        form = SettingsForm(
            initial={
                "auto_publish": current.auto_publish,
                "auto_publish_min_rating": current.auto_publish_min_rating,
                "extra_flagged_words": "\n".join(current.extra_flagged_words),
                "reward_code": current.reward_code,
                "reward_description": current.reward_description,
            }
        )
    return backoffice_page(
        request,
        "reviews/backoffice/settings.html",
        {
            "title": f"Review settings · {store.name}",
            "store": store,
            "form": form,
            "feed_url": reverse("reviews:feed", args=[store.slug]),
        },
    )


class ImportForm(forms.Form):
    file = forms.FileField(label="CSV file (UTF-8)")


@staff_member_required
@require_http_methods(["GET", "POST"])
def import_page(request, slug: str):
    """Upload a reviews CSV: every row is checked first; a file with any bad row is refused with
    each problem listed, and nothing is written."""
    store = stores_in_scope(request.user, slug).first()
    if store is None:
        raise Http404("no such store")
    result = None
    errors: list = []
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > IMPORT_MAX_BYTES:
            errors = [f"the file is larger than {IMPORT_MAX_BYTES // (1024 * 1024)} MB"]
        else:
            try:
                result = import_reviews_csv(store, upload)
            except CsvImportError as exc:
                errors = [str(e) for e in exc.errors[:200]]
                if len(exc.errors) > 200:
                    errors.append(f"… and {len(exc.errors) - 200} more")
    return backoffice_page(
        request,
        "reviews/backoffice/import.html",
        {
            "title": f"Import reviews · {store.name}",
            "store": store,
            "form": form,
            "result": result,
            "errors": errors,
            "columns": COLUMNS,
        },
        status=422 if errors else 200,
    )
