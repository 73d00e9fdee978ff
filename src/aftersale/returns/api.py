"""The merchant API for returns, store credit and return rules (mounted at /api/v1/)."""

from __future__ import annotations

from typing import Literal

from django.db.models import Prefetch
from ninja import Query, Router, Schema, Status
from pydantic import Field

from aftersale.core.auth import require_write
from aftersale.core.money import quantize
from aftersale.core.pagination import paginate
from aftersale.core.schemas import READ_ERRORS, WRITE_ERRORS
from aftersale.core.services import NotFound
from aftersale.customers.models import Customer
from aftersale.returns import credit as ledger
from aftersale.returns.models import ReturnLine, ReturnRequest, StoreCreditAccount
from aftersale.returns.schemas import (
    BacktestIn,
    BacktestOut,
    CreditAccountOut,
    CreditCheckIn,
    CreditOut,
    CreditRedeemIn,
    CreditRedeemOut,
    InspectIn,
    NoteIn,
    RefundConfirmIn,
    RejectIn,
    ReturnOut,
    ReturnPageOut,
    RulesOut,
    RulesPutIn,
)
from aftersale.returns.selectors import return_get, return_list, ruleset_definition
from aftersale.returns.services import (
    Actor,
    return_approve,
    return_cancel,
    return_close,
    return_inspect,
    return_receive,
    return_refund_confirm,
    return_reject,
    rules_backtest,
    rules_save,
)

router = Router(tags=["returns"])


class ReturnFilters(Schema):
    status: (
        Literal[
            "requested",
            "approved",
            "rejected",
            "label_issued",
            "in_transit",
            "received",
            "inspected",
            "refunded",
            "credited",
            "exchanged",
            "closed",
            "cancelled",
        ]
        | None
    ) = None
    order: str | None = Field(None, description="an order id, ord_…")
    customer: str | None = Field(None, description="a customer id, cus_…")
    fraud_flagged: bool | None = None
    reason: str | None = Field(None, description="a reason code (or its group's code)")
    outcome: (
        Literal["refund", "store_credit", "exchange_same", "exchange_other", "keep_item"] | None
    ) = None
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


def _money(value, currency: str) -> str:
    return str(quantize(value, currency))


def return_out(ret: ReturnRequest) -> dict:
    currency = ret.currency
    return {
        "id": ret.public_id,
        "reference": ret.reference,
        "order_id": ret.order.public_id,
        "customer_id": ret.customer.public_id if ret.customer_id else None,
        "status": ret.status,
        "outcome": ret.outcome,
        "shipping_method": ret.shipping_method,
        "refund_timing": ret.refund_timing,
        "is_gift": ret.is_gift,
        "currency": currency,
        "items_amount": _money(ret.items_amount, currency),
        "bonus_amount": _money(ret.bonus_amount, currency),
        "fee_amount": _money(ret.fee_amount, currency),
        "exchange_amount": _money(ret.exchange_amount, currency),
        "upcharge_amount": _money(ret.upcharge_amount, currency),
        "total_amount": _money(ret.total_amount, currency),
        "requires_review": ret.requires_review,
        "fraud_flagged": ret.fraud_flagged,
        "fraud_signals": ret.fraud_signals,
        "refund_state": ret.refund_state,
        "refund_id": ret.refund.public_id if ret.refund_id else None,
        "exchange_order_id": ret.exchange_order.public_id if ret.exchange_order_id else None,
        "matched_rules": ret.matched_rules,
        "requested_at": ret.requested_at,
        "resolved_at": ret.resolved_at,
        "closed_at": ret.closed_at,
        "updated_at": ret.updated_at,
        "lines": [
            {
                "id": line.public_id,
                "line_id": line.order_line.public_id,
                "sku": line.order_line.sku,
                "title": line.order_line.title,
                "quantity": line.quantity,
                "reason": line.reason_code,
                "reason_group": line.parent_reason_code,
                "comment": line.comment,
                "unit_amount": _money(line.unit_amount, currency),
                "amount": _money(line.amount, currency),
                "fee_amount": _money(line.fee_amount, currency),
                "exchange_variant_id": (
                    line.exchange_variant.public_id if line.exchange_variant_id else None
                ),
                "condition": line.condition,
                "disposition": line.disposition,
                "photos": len(line.photos.all()),
            }
            for line in ret.lines.all()
        ],
        "transitions": [
            {
                "from_status": t.from_status,
                "to_status": t.to_status,
                "at": t.at,
                "actor": t.actor_kind,
                "actor_label": t.actor_label,
                "note": t.note,
            }
            for t in ret.transitions.all()
        ],
    }


def _with_details(qs):
    return qs.prefetch_related(
        Prefetch(
            "lines",
            queryset=ReturnLine.objects.select_related(
                "order_line", "exchange_variant"
            ).prefetch_related("photos"),
        ),
        "transitions",
    )


def _get(request, ref: str) -> ReturnRequest:
    return return_get(store=request.store, ref=ref)


def _fresh(request, ret: ReturnRequest) -> dict:
    return return_out(_with_details(ReturnRequest.objects.filter(pk=ret.pk)).get())


def _actor(request) -> Actor:
    return Actor.platform(f"API key {request.auth.name}")


@router.get("/returns", response={200: ReturnPageOut, **READ_ERRORS}, summary="List returns")
def list_returns(request, filters: Query[ReturnFilters]):
    """Newest changes last, cursor-paginated; filter by status, order, customer, fraud flag,
    reason (leaf or group code) or outcome."""
    qs = return_list(
        store=request.store,
        status=filters.status,
        order=filters.order,
        customer=filters.customer,
        fraud_flagged=filters.fraud_flagged,
        reason=filters.reason,
        outcome=filters.outcome,
    )
    rows, next_cursor = paginate(_with_details(qs), cursor=filters.cursor, limit=filters.limit)
    return {"items": [return_out(r) for r in rows], "next_cursor": next_cursor}


@router.get("/returns/{ref}", response={200: ReturnOut, **READ_ERRORS}, summary="Get a return")
def get_return(request, ref: str):
    return _fresh(request, _get(request, ref))


@router.post(
    "/returns/{ref}/approve",
    response={200: ReturnOut, **WRITE_ERRORS},
    summary="Approve a requested return",
)
def approve_return(request, ref: str, payload: NoteIn):
    """409 unless the return is requested. Returnless returns and exchanges shipped first are
    paid out at once."""
    require_write(request)
    ret = return_approve(
        store=request.store, ret=_get(request, ref), actor=_actor(request), note=payload.note
    )
    return _fresh(request, ret)


@router.post(
    "/returns/{ref}/reject", response={200: ReturnOut, **WRITE_ERRORS}, summary="Reject a return"
)
def reject_return(request, ref: str, payload: RejectIn):
    """409 unless the return is requested; reserved exchange stock is released."""
    require_write(request)
    ret = return_reject(
        store=request.store, ret=_get(request, ref), actor=_actor(request), reason=payload.reason
    )
    return _fresh(request, ret)


@router.post(
    "/returns/{ref}/receive",
    response={200: ReturnOut, **WRITE_ERRORS},
    summary="Mark a return's parcel received",
)
def receive_return(request, ref: str, payload: NoteIn):
    """409 before approval or after receipt. Pays out when the refund timing is on receipt."""
    require_write(request)
    ret = return_receive(
        store=request.store, ret=_get(request, ref), actor=_actor(request), note=payload.note
    )
    return _fresh(request, ret)


@router.post(
    "/returns/{ref}/inspect",
    response={200: ReturnOut, **WRITE_ERRORS},
    summary="Record the inspection of a received return",
)
def inspect_return(request, ref: str, payload: InspectIn):
    """Every line needs a condition and a disposition (422 naming `lines` otherwise); 409 unless
    the parcel was received."""
    require_write(request)
    ret = return_inspect(
        store=request.store,
        ret=_get(request, ref),
        actor=_actor(request),
        lines={line.line: (line.condition, line.disposition) for line in payload.lines},
        notes=payload.notes,
    )
    return _fresh(request, ret)


@router.post(
    "/returns/{ref}/cancel", response={200: ReturnOut, **WRITE_ERRORS}, summary="Cancel a return"
)
def cancel_return(request, ref: str, payload: NoteIn):
    """409 once the parcel is on its way; voids the label and releases reserved stock."""
    require_write(request)
    ret = return_cancel(
        store=request.store, ret=_get(request, ref), actor=_actor(request), note=payload.note
    )
    return _fresh(request, ret)


@router.post(
    "/returns/{ref}/close", response={200: ReturnOut, **WRITE_ERRORS}, summary="Close a return"
)
def close_return(request, ref: str, payload: NoteIn):
    """409 unless the return was refunded, credited or exchanged."""
    require_write(request)
    ret = return_close(
        store=request.store, ret=_get(request, ref), actor=_actor(request), note=payload.note
    )
    return _fresh(request, ret)


@router.post(
    "/returns/{ref}/refund",
    response={200: ReturnOut, **WRITE_ERRORS},
    summary="Confirm the platform refunded a return",
)
def confirm_refund(request, ref: str, payload: RefundConfirmIn):
    """Call this when the shop has refunded the shopper (after `refund.requested`). Records the
    refund on the order (the same external_id twice records it once). 409: not a refund return,
    not due yet, or another refund already recorded; 422: more than is left on the order."""
    require_write(request)
    ret = return_refund_confirm(
        store=request.store,
        ret=_get(request, ref),
        external_id=payload.external_id,
        source=payload.source,
        amount=payload.amount,
        processed_at=payload.processed_at,
        actor=_actor(request),
    )
    return _fresh(request, ret)


# -- store credit -----------------------------------------------------------------------------


def credit_out(account: StoreCreditAccount) -> dict:
    return {
        "account_id": account.public_id,
        "customer_id": account.customer.public_id,
        "code_last4": account.code[-4:],
        "currency": account.currency,
        "balance": _money(account.balance, account.currency),
    }


def entry_out(entry) -> dict:
    currency = entry.account.currency
    return {
        "id": entry.public_id,
        "kind": entry.kind,
        "amount": _money(entry.amount, currency),
        "balance_after": _money(entry.balance_after, currency),
        "cause": entry.cause,
        "return_id": entry.return_request.public_id if entry.return_request_id else None,
        "created_at": entry.created_at,
        "expires_at": entry.expires_at,
    }


@router.post(
    "/store-credit/check",
    response={200: CreditOut, **WRITE_ERRORS},
    summary="Check a store-credit code's balance",
)
def check_credit(request, payload: CreditCheckIn):
    """The checkout asks before applying a code; 404 for a code this store does not know."""
    return credit_out(ledger.credit_lookup(store=request.store, code=payload.code))


@router.post(
    "/store-credit/redeem",
    response={200: CreditRedeemOut, 201: CreditRedeemOut, **WRITE_ERRORS},
    summary="Redeem store credit at checkout",
)
def redeem_credit(request, payload: CreditRedeemIn):
    """Takes `amount` off the code's balance. The same idempotency_key again answers 200 with the
    first redemption and moves nothing. 404: unknown code; 422: more than the balance or another
    currency; 409: the key was used for another movement."""
    require_write(request)
    result = ledger.credit_redeem(
        store=request.store,
        code=payload.code,
        amount=payload.amount,
        currency=payload.currency,
        idempotency_key=payload.idempotency_key,
        external_ref=payload.external_ref,
    )
    account = result.entry.account
    account.refresh_from_db(fields=["balance"])
    body = {
        "entry": entry_out(result.entry),
        "balance": _money(account.balance, account.currency),
        "currency": account.currency,
        "created": result.created,
    }
    return Status(201 if result.created else 200, body)


@router.get(
    "/store-credit/accounts",
    response={200: list[CreditAccountOut], **READ_ERRORS},
    summary="A customer's store credit and its ledger",
)
def credit_accounts(request, customer: str):
    found = Customer.objects.filter(store=request.store, public_id=customer).first()
    if found is None:
        raise NotFound(f"no customer {customer!r} in this store")
    accounts = StoreCreditAccount.objects.filter(
        store=request.store, customer=found
    ).select_related("customer")
    return [
        {
            **credit_out(account),
            "entries": [
                entry_out(e) for e in account.entries.select_related("return_request", "account")
            ],
        }
        for account in accounts
    ]


# -- rules ------------------------------------------------------------------------------------


@router.get("/return-rules", response={200: RulesOut, **READ_ERRORS}, summary="Get return rules")
def get_rules(request):
    """The stored rule set; version 0 is the built-in default set (nothing saved yet)."""
    definition, version = ruleset_definition(store=request.store)
    return {"version": version, "definition": definition}


@router.put(
    "/return-rules", response={200: RulesOut, **WRITE_ERRORS}, summary="Replace return rules"
)
def put_rules(request, payload: RulesPutIn):
    """Validated strictly: 422 names the field at fault (`rules.2.conditions.0.op`). With
    expected_version, 409 when someone saved in between."""
    require_write(request)
    row = rules_save(
        store=request.store,
        definition=payload.definition,
        expected_version=payload.expected_version,
    )
    return {"version": row.version, "definition": row.definition}


@router.post(
    "/return-rules/backtest",
    response={200: BacktestOut, **WRITE_ERRORS},
    summary="Test a rule set against past orders",
)
def backtest_rules(request, payload: BacktestIn):
    """Of the orders placed in the period (default: the last 30 days), which lines these rules
    (default: the stored ones) would let shoppers return, and with which outcomes. Nothing is
    saved. 422: an invalid draft, naming the field."""
    result = rules_backtest(
        store=request.store,
        definition=payload.definition,
        placed_from=payload.placed_from,
        placed_to=payload.placed_to,
        days_after_delivery=payload.days_after_delivery,
    )
    return {
        "orders": result.orders,
        "orders_eligible": result.orders_eligible,
        "lines": result.lines,
        "lines_eligible": result.lines_eligible,
        "units_eligible": result.units_eligible,
        "value_eligible": str(result.value_eligible),
        "currency": result.currency,
        "outcomes": [{"outcome": k, "lines": v} for k, v in result.outcomes.items()],
        "denials": result.denials,
        "rules_matched": result.rules_matched,
        "needs_review": result.needs_review,
        "fraud_review": result.fraud_review,
        "seconds": result.seconds,
    }
