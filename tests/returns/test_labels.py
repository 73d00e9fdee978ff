"""Return labels: the packing slip PDF and its QR code, the HTTP label provider against a local
fake carrier-label service, and issuing a label when a return is approved."""

from __future__ import annotations

import base64
import json
import re
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import qrcode
from django.utils import translation
from django.utils.functional import empty

from aftersale.core.models import StoreAlert
from aftersale.returns import labels, portal
from aftersale.returns.models import ReturnLabel, ReturnRequest, private_storage
from aftersale.returns.schemas import ReturnCreateIn
from aftersale.returns.services import Actor, return_approve, return_request_create
from aftersale.tracking.models import Shipment
from tests.returns.test_portal_data import lines_of, make_order, make_shop

KEY = "label-key-123"
CARRIER_PDF = b"%PDF-1.4\n% carrier label\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

PARCEL = labels.Parcel(
    reference="ret_abc123",
    order_number="#1001",
    method="drop_off",
    store_name="Acme Outdoor",
    sender=labels.Address(
        name="Ana Souza", line1="Torstraße 12", postal_code="10119", city="Berlin", country="DE"
    ),
    recipient=labels.Address(name="Acme Returns", line1="Lagerstraße 5", country="DE"),
    items=(labels.ParcelItem("Trail Mug", 2, sku="MUG-1", reason="Zu klein"),),
    weight_grams=700,
)


class FakeLabelService:
    """Answers POST /labels like a carrier-label REST service, checking the key."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answers: list[tuple[int, dict | bytes]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(
                    {
                        "path": self.path,
                        "auth": self.headers.get("Authorization", ""),
                        "idempotency": self.headers.get("Idempotency-Key", ""),
                        "body": body,
                    }
                )
                if self.headers.get("Authorization") != f"Bearer {KEY}":
                    status, answer = 401, {"error": {"message": "bad key"}}
                elif self.path != "/v1/labels":
                    status, answer = 404, {"error": "no such endpoint"}
                elif fake.answers:
                    status, answer = fake.answers.pop(0)
                else:
                    n = len(fake.requests)
                    status, answer = (
                        201,
                        {
                            "id": f"lbl_{n}",
                            "carrier": "DHL",
                            "service": "Retoure",
                            "tracking_number": f"00340434161234{n:06d}",
                            "tracking_url": f"https://dhl.example/track/{n}",
                            "label_pdf": base64.b64encode(CARRIER_PDF).decode(),
                        },
                    )
                payload = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def service(settings):
    fake = FakeLabelService()
    settings.AFTERSALE_LABEL_SERVICE_URL = fake.url
    settings.AFTERSALE_LABEL_SERVICE_KEY = KEY
    yield fake
    fake.server.shutdown()


@pytest.fixture
def provider(service):
    return labels.HttpLabelProvider(labels.LabelService(url=service.url, api_key=KEY, timeout=5))


# -- the PDF --------------------------------------------------------------------------------------


def pdf_lines(pdf: bytes) -> list[str]:
    """The text a reportlab PDF draws, line by line (its streams are ASCII85 + Flate)."""
    found = []
    for match in re.finditer(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        raw = match.group(1).strip().removesuffix(b"~>")
        content = zlib.decompress(base64.a85decode(raw)).decode("latin-1")
        for text in re.findall(r"\((.*?)\) Tj", content):
            found.append(
                re.sub(r"\\(\d{3})", lambda m: chr(int(m.group(1), 8)), text).replace("\\", "")
            )
    return found


def test_packing_slip_is_a_pdf_with_the_return_order_items_and_addresses():
    with translation.override("de"):
        pdf = labels.packing_slip_pdf(PARCEL)
    assert pdf.startswith(b"%PDF-")
    assert pdf_lines(pdf) == [
        "Acme Outdoor",
        "Rücksendung ret_abc123",
        "Bestellung #1001",
        "Annahmestelle",
        "Packen Sie die Artikel mit diesem Beleg ein und zeigen Sie den QR-Code an der "
        "Annahmestelle.",
        "Von",
        "Ana Souza",
        "Torstraße 12",
        "10119 Berlin",
        "DE",
        "Zurück an",
        "Acme Returns",
        "Lagerstraße 5",
        "DE",
        "Artikel",
        "SKU",
        "Menge",
        "Trail Mug",
        "MUG-1",
        "2",
        "Zu klein",
        "Legen Sie diesen Beleg in das Paket.",
    ]
    # The same slip twice is the same file (no timestamps inside).
    with translation.override("de"):
        assert labels.packing_slip_pdf(PARCEL) == pdf


def test_qr_code_is_drawn_module_for_module():
    matrix = labels.qr_matrix("ret_abc123")
    reference = qrcode.QRCode(border=0, error_correction=qrcode.constants.ERROR_CORRECT_M)
    reference.add_data("ret_abc123")
    reference.make(fit=True)
    assert matrix == reference.get_matrix()
    svg = labels.qr_svg("ret_abc123", label="#1001-R1")
    side = len(matrix) + 8
    assert f'viewBox="0 0 {side} {side}"' in svg
    assert 'aria-label="#1001-R1"' in svg
    # Every dark module is covered by exactly one run of the path.
    covered = sum(int(n) for n in re.findall(r"h(\d+)v1", svg))
    assert covered == sum(sum(row) for row in matrix)


def test_builtin_provider_makes_the_slip_without_a_carrier():
    with translation.override("en"):
        result = labels.AftersalePdfProvider().create_label(None, PARCEL)
    assert (result.carrier, result.tracking_number, result.provider_ref) == ("", "", "ret_abc123")
    assert result.label_pdf.startswith(b"%PDF-")


# -- the HTTP provider ----------------------------------------------------------------------------


def test_http_provider_posts_the_parcel_and_reads_the_label(provider, service):
    result = provider.create_label(None, PARCEL)
    assert result == labels.LabelResult(
        carrier="DHL",
        tracking_number="00340434161234000001",
        label_pdf=CARRIER_PDF,
        provider_ref="lbl_1",
        tracking_url="https://dhl.example/track/1",
        service="Retoure",
    )
    [sent] = service.requests
    assert sent["path"] == "/v1/labels"
    assert sent["auth"] == f"Bearer {KEY}"
    assert sent["idempotency"] == "aftersale-return-ret_abc123"
    assert sent["body"]["reference"] == "ret_abc123"
    assert sent["body"]["from"]["postal_code"] == "10119"
    assert sent["body"]["to"]["name"] == "Acme Returns"
    assert sent["body"]["parcel"] == {"weight_grams": 700}
    assert sent["body"]["items"] == [
        {"title": "Trail Mug", "quantity": 2, "variant": "", "sku": "MUG-1", "reason": "Zu klein"}
    ]


@pytest.mark.parametrize(
    ("status", "answer", "retryable", "message"),
    [
        (422, {"error": {"message": "postal code unknown"}}, False, "postal code unknown"),
        (503, {"message": "maintenance"}, True, "HTTP 503"),
        (429, b"slow down", True, "HTTP 429"),
        (201, {"id": "x", "carrier": "DHL", "tracking_number": "1"}, False, "lacks label_pdf"),
        (
            201,
            {"id": "x", "carrier": "DHL", "tracking_number": "1", "label_pdf": "!!"},
            False,
            "not base64",
        ),
        (
            201,
            {
                "id": "x",
                "carrier": "DHL",
                "tracking_number": "1",
                "label_pdf": base64.b64encode(b"<html>").decode(),
            },
            False,
            "not a PDF",
        ),
        (200, b"[1, 2]", False, "not a JSON object"),
    ],
)
def test_http_provider_refusals_say_why_and_whether_to_retry(
    provider, service, status, answer, retryable, message
):
    service.answers.append((status, answer))
    with pytest.raises(labels.LabelError) as caught:
        provider.create_label(None, PARCEL)
    assert caught.value.retryable is retryable
    assert message in caught.value.message


def test_http_provider_with_a_wrong_key_is_refused(service):
    wrong = labels.HttpLabelProvider(labels.LabelService(url=service.url, api_key="nope"))
    with pytest.raises(labels.LabelError) as caught:
        wrong.create_label(None, PARCEL)
    assert (caught.value.status, caught.value.retryable) == (401, False)
    assert "bad key" in caught.value.message


def test_an_unreachable_service_is_retryable():
    gone = labels.HttpLabelProvider(
        labels.LabelService(url="http://127.0.0.1:9/v1", api_key=KEY, timeout=2)
    )
    with pytest.raises(labels.LabelError) as caught:
        gone.create_label(None, PARCEL)
    assert caught.value.retryable is True


def test_provider_choice_per_store_then_installation(settings, store, other_store):
    settings.AFTERSALE_LABEL_SERVICE_URL = ""
    settings.AFTERSALE_LABEL_SERVICE_KEY = ""
    settings.AFTERSALE_LABEL_SERVICES = {"acme": {"url": "https://labels.acme", "key": "k"}}
    assert labels.provider_for(store, "prepaid_label").config.url == "https://labels.acme"
    assert isinstance(labels.provider_for(store, "drop_off"), labels.AftersalePdfProvider)
    assert isinstance(
        labels.provider_for(other_store, "prepaid_label"), labels.AftersalePdfProvider
    )
    assert labels.prepaid_labels_available(other_store) is False
    settings.AFTERSALE_LABEL_SERVICE_URL = "https://labels.example"
    settings.AFTERSALE_LABEL_SERVICE_KEY = "k2"
    assert labels.provider_for(other_store, "prepaid_label").config.api_key == "k2"


# -- issuing the label of a return ----------------------------------------------------------------


@pytest.fixture
def private_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    private_storage._wrapped = empty
    yield
    private_storage._wrapped = empty


def _return(store, order, *, method, key="k-labels-1", total_over_review=False):
    data = ReturnCreateIn(
        items=[{"line": lines_of(order)["MUG-1"], "quantity": 2, "reason": "changed_mind"}],
        outcome="refund",
        shipping_method=method,
        idempotency_key=key,
    )
    return return_request_create(store=store, order=order, data=data, actor=Actor.shopper()).request


@pytest.mark.django_db
def test_a_prepaid_label_is_bought_once_and_its_parcel_is_tracked(store, service, private_media):
    make_shop(store)
    order = make_order(store)
    ret = _return(store, order, method="prepaid_label")
    assert ret.status == "approved"

    label = portal.label_issue(store=store, ret=ret)
    again = portal.label_issue(store=store, ret=ret)  # a retry, a second event: the same label

    assert again.pk == label.pk
    assert len(service.requests) == 1
    assert (label.provider, label.carrier, label.tracking_number, label.provider_ref) == (
        "http",
        "DHL",
        "00340434161234000001",
        "lbl_1",
    )
    assert label.document.read() == CARRIER_PDF
    shipment = Shipment.objects.get(pk=label.shipment_id)
    assert (shipment.tracking_number, shipment.order_id) == ("00340434161234000001", order.pk)
    ret.refresh_from_db()
    assert ret.status == "label_issued"
    sent = service.requests[0]["body"]
    assert sent["from"]["name"] == "Ana Souza"
    assert sent["to"]["line1"] == "Acme Returns"


@pytest.mark.django_db
def test_a_refused_label_leaves_the_return_approved_and_alerts_the_store(
    store, service, private_media
):
    make_shop(store)
    order = make_order(store)
    ret = _return(store, order, method="prepaid_label")
    service.answers.append((422, {"error": {"message": "address incomplete"}}))

    assert portal.label_issue(store=store, ret=ret) is None

    ret.refresh_from_db()
    assert ret.status == "approved"
    assert ReturnLabel.objects.count() == 0
    alert = StoreAlert.objects.get(kind="return_label_refused")
    assert (alert.store_id, alert.subject) == (store.pk, ret.public_id)
    assert "address incomplete" in alert.message


@pytest.mark.django_db
def test_a_label_waits_for_approval(store, private_media):
    """A return sent to review gets its drop-off code when staff approve it: the return.approved
    event's subscriber issues it, once, however often the event is delivered."""
    from aftersale.core.events import dispatch_pending
    from aftersale.returns.services import rules_save

    make_shop(store)
    order = make_order(store)
    rules_save(store=store, definition={"defaults": {"review": "review"}, "rules": []})
    ret = _return(store, order, method="drop_off")
    dispatch_pending()
    assert (ret.status, ReturnLabel.objects.count()) == ("requested", 0)

    return_approve(store=store, ret=ret, actor=Actor.system("test"))
    dispatch_pending()
    dispatch_pending()

    ret = ReturnRequest.objects.get(pk=ret.pk)
    label = ReturnLabel.objects.get(request=ret)
    assert (ret.status, label.provider, label.qr_payload, label.tracking_number) == (
        "label_issued",
        "aftersale_pdf",
        ret.public_id,
        "",
    )


@pytest.mark.django_db
def test_the_portal_offers_prepaid_labels_only_with_a_service_and_serves_the_label(
    store, settings, private_media
):
    from django.core.cache import cache
    from django.test import Client
    from django.urls import reverse

    from tests.returns.test_portal_data import state_of

    cache.clear()
    make_shop(store)
    order = make_order(store)
    mug = lines_of(order)["MUG-1"]
    client = Client()

    def to_method():
        state = state_of(
            client.post(reverse("returns:lookup"), {"number": "1001", "contact": "ana@example.com"})
        )
        state = state_of(client.post(reverse("returns:items"), {"s": state, f"qty-{mug}": "1"}))
        state = state_of(
            client.post(reverse("returns:reason"), {"s": state, f"reason-{mug}": "changed_mind"})
        )
        return state_of(client.post(reverse("returns:outcome"), {"s": state, "outcome": "refund"}))

    settings.AFTERSALE_LABEL_SERVICE_URL = ""
    settings.AFTERSALE_LABEL_SERVICE_KEY = ""
    state = to_method()
    html = client.get(reverse("returns:method"), {"s": state, "lang": "en"}).content.decode()
    assert 'value="drop_off"' in html and 'value="prepaid_label"' not in html
    refused = client.post(reverse("returns:method"), {"s": state, "method": "prepaid_label"})
    assert refused.status_code == 422

    fake = FakeLabelService()
    try:
        settings.AFTERSALE_LABEL_SERVICE_URL = fake.url
        settings.AFTERSALE_LABEL_SERVICE_KEY = KEY
        html = client.get(reverse("returns:method"), {"s": state, "lang": "en"}).content.decode()
        assert 'value="prepaid_label"' in html
        state = state_of(
            client.post(reverse("returns:method"), {"s": state, "method": "prepaid_label"})
        )
        response = client.post(reverse("returns:confirm"), {"s": state, "expected_total": "19.90"})
        assert response.status_code == 303
        page = client.get(response["Location"], {"lang": "en"}).content.decode()
    finally:
        fake.server.shutdown()

    ret = ReturnRequest.objects.get()
    label = ReturnLabel.objects.get(request=ret)
    assert (ret.status, label.carrier, label.tracking_number) == (
        "label_issued",
        "DHL",
        "00340434161234000001",
    )
    assert "Download the shipping label (PDF)" in page
    assert "00340434161234000001" in page
    download = client.get(portal.document_path(ret, "label"))
    assert download["Content-Type"] == "application/pdf"
    assert b"".join(download.streaming_content) == CARRIER_PDF
    assert client.get(portal.document_path(ret, "slip")).content.startswith(b"%PDF-")
    assert len(fake.requests) == 1
