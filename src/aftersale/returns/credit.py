"""Store credit: a ledger per customer, store and currency whose balance is never negative.

Every movement is a StoreCreditEntry with its cause and an idempotency key (the same key twice
moves money once). Balances change with F() under a row lock, and a CHECK constraint keeps them at
or above zero even if a bug tried otherwise. Redemptions use the oldest credit first, so that
expiring credit knows what is left of each issue.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F

from aftersale.core import clock
from aftersale.core.events import emit
from aftersale.core.models import Store
from aftersale.core.money import MoneyError, format_money, normalize_currency, quantize
from aftersale.core.services import Conflict, DomainError, NotFound
from aftersale.customers.models import Customer
from aftersale.returns.models import ReturnRequest, StoreCreditAccount, StoreCreditEntry

_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


CREDIT_EVENTS = {
    "issue": "credit.issued",
    "redeem": "credit.redeemed",
    "expire": "credit.expired",
    "reverse": "credit.reversed",
}


def new_credit_code() -> str:
    """`SC-XXXX-XXXX-XXXX-XXXX`: 80 random bits, easy to read out and type."""
    chars = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(16))
    return "SC-" + "-".join(chars[i : i + 4] for i in range(0, 16, 4))


def normalize_code(code: str) -> str:
    raw = "".join(ch for ch in (code or "").upper() if ch.isalnum())
    raw = raw.replace("O", "0").replace("I", "1").replace("L", "1")
    if raw.startswith("SC"):
        raw = raw[2:]
    return "SC-" + "-".join(raw[i : i + 4] for i in range(0, len(raw), 4)) if raw else ""


def account_payload(account: StoreCreditAccount) -> dict:
    return {
        "account_id": account.public_id,
        "customer_id": account.customer.public_id,
        "currency": account.currency,
        "balance": str(quantize(account.balance, account.currency)),
        "code_last4": account.code[-4:],
    }


def credit_account_for(*, store: Store, customer: Customer, currency: str) -> StoreCreditAccount:
    """The customer's account in this currency, opened on first use."""
    account = StoreCreditAccount.objects.filter(
        store=store, customer=customer, currency=currency
    ).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            return StoreCreditAccount.objects.create(
                store=store, customer=customer, currency=currency, code=new_credit_code()
            )
    except IntegrityError:
        return StoreCreditAccount.objects.get(store=store, customer=customer, currency=currency)


def credit_lookup(*, store: Store, code: str) -> StoreCreditAccount:
    account = (
        StoreCreditAccount.objects.filter(store=store, code=normalize_code(code))
        .select_related("customer")
        .first()
    )
    if account is None:
        raise NotFound("no store credit with this code")
    return account


@dataclass(frozen=True)
class LedgerResult:
    entry: StoreCreditEntry
    created: bool


def _existing(
    store: Store, key: str, account: StoreCreditAccount, kind: str
) -> LedgerResult | None:
    entry = StoreCreditEntry.objects.filter(store=store, idempotency_key=key).first()
    if entry is None:
        return None
    if entry.account_id != account.pk or entry.kind != kind:
        raise Conflict(
            "this idempotency key was already used for another movement", field="idempotency_key"
        )
    return LedgerResult(entry=entry, created=False)


def _move(
    *,
    store: Store,
    account: StoreCreditAccount,
    kind: str,
    amount: Decimal,
    cause: str,
    idempotency_key: str,
    return_request: ReturnRequest | None = None,
    reverses: StoreCreditEntry | None = None,
    expires_at: datetime | None = None,
    external_ref: str = "",
    now: datetime | None = None,
) -> LedgerResult:
    """One ledger movement: lock the account, move the balance with F(), write the entry."""
    now = now or clock.now()
    try:
        with transaction.atomic():
            done = _existing(store, idempotency_key, account, kind)
            if done is not None:
                return done
            locked = StoreCreditAccount.objects.select_for_update().get(pk=account.pk)
            if amount < 0:
                moved = StoreCreditAccount.objects.filter(
                    pk=locked.pk, balance__gte=-amount
                ).update(balance=F("balance") + amount, updated_at=now)
                if not moved:
                    raise DomainError(
                        f"only {format_money(locked.balance, locked.currency)} of store credit is "
                        "left",
                        field="amount",
                    )
            else:
                StoreCreditAccount.objects.filter(pk=locked.pk).update(
                    balance=F("balance") + amount, updated_at=now
                )
            locked.refresh_from_db(fields=["balance", "updated_at"])
            entry = StoreCreditEntry.objects.create(
                store=store,
                account=locked,
                kind=kind,
                amount=amount,
                balance_after=locked.balance,
                cause=cause[:300],
                return_request=return_request,
                reverses=reverses,
                external_ref=external_ref,
                idempotency_key=idempotency_key,
                expires_at=expires_at,
                created_at=now,
            )
            account.balance = locked.balance
            emit(
                store=store,
                name=CREDIT_EVENTS[kind],
                aggregate=f"credit:{locked.public_id}",
                payload={
                    **account_payload(locked),
                    "entry_id": entry.public_id,
                    "kind": kind,
                    "amount": str(quantize(amount, locked.currency)),
                    "cause": entry.cause,
                    "return_id": return_request.public_id if return_request else None,
                },
            )
            return LedgerResult(entry=entry, created=True)
    except IntegrityError:
        # The same key raced in from another request and won; its entry is the answer.
        done = _existing(store, idempotency_key, account, kind)
        if done is None:
            raise
        return done


def _amount(amount: Decimal, currency: str) -> Decimal:
    value = quantize(amount, currency)
    if value <= 0:
        raise DomainError("the amount must be above zero", field="amount")
    return value


def credit_issue(
    *,
    store: Store,
    customer: Customer,
    amount: Decimal,
    currency: str,
    cause: str,
    idempotency_key: str,
    return_request: ReturnRequest | None = None,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> LedgerResult:
    value = _amount(amount, currency)
    account = credit_account_for(store=store, customer=customer, currency=currency)
    return _move(
        store=store,
        account=account,
        kind=StoreCreditEntry.Kind.ISSUE,
        amount=value,
        cause=cause,
        idempotency_key=idempotency_key,
        return_request=return_request,
        expires_at=expires_at,
        now=now,
    )


def credit_redeem(
    *,
    store: Store,
    code: str,
    amount: Decimal,
    currency: str,
    idempotency_key: str,
    external_ref: str = "",
) -> LedgerResult:
    """Spend credit at checkout. Refused with nothing changed: an unknown code (404), another
    currency or more than the balance (422)."""
    account = credit_lookup(store=store, code=code)
    try:
        currency = normalize_currency(currency)
    except MoneyError as exc:
        raise DomainError(str(exc), field="currency") from None
    if currency != account.currency:
        raise DomainError(f"this credit is in {account.currency}, not {currency}", field="currency")
    value = _amount(amount, currency)
    return _move(
        store=store,
        account=account,
        kind=StoreCreditEntry.Kind.REDEEM,
        amount=-value,
        cause=f"redeemed at checkout {external_ref}".strip(),
        idempotency_key=idempotency_key,
        external_ref=external_ref,
    )


def issue_remaining(account: StoreCreditAccount) -> dict[int, Decimal]:
    """What is left of each issue, spending the oldest credit first; a reversed redemption gives
    back to the issues it was taken from."""
    left: dict[int, Decimal] = {}
    order: list[int] = []
    taken: dict[int, list[tuple[int, Decimal]]] = {}  # redemption → [(issue, amount)]
    for entry in account.entries.order_by("id"):
        if entry.kind == StoreCreditEntry.Kind.ISSUE:
            left[entry.pk] = entry.amount
            order.append(entry.pk)
        elif entry.reverses_id in left:  # an expiry or reversal of one issue
            left[entry.reverses_id] += entry.amount
        elif entry.amount > 0 and entry.reverses_id in taken:  # a redemption given back
            give = entry.amount
            for pk, amount in reversed(taken[entry.reverses_id]):
                back = min(amount, give)
                left[pk] += back
                give -= back
                if give <= 0:
                    break
        elif entry.amount < 0:
            spend = -entry.amount
            taken[entry.pk] = []
            for pk in order:
                if spend <= 0:
                    break
                take = min(left[pk], spend)
                if take > 0:
                    left[pk] -= take
                    spend -= take
                    taken[entry.pk].append((pk, take))
    return left


def credit_reverse(
    *, store: Store, entry_ref: str, idempotency_key: str, cause: str
) -> LedgerResult:
    """Undo a movement: take back what is left of an issue, or give back a redemption."""
    entry = (
        StoreCreditEntry.objects.filter(store=store, public_id=entry_ref)
        .select_related("account")
        .first()
    )
    if entry is None:
        raise NotFound(f"no store credit entry {entry_ref!r}")
    account = entry.account
    already = sum(
        (e.amount for e in StoreCreditEntry.objects.filter(reverses=entry, kind="reverse")),
        Decimal(0),
    )
    if entry.kind == StoreCreditEntry.Kind.ISSUE:
        remaining = issue_remaining(account).get(entry.pk, Decimal(0))
        amount = -min(remaining, account.balance)
    elif entry.kind == StoreCreditEntry.Kind.REDEEM:
        amount = -entry.amount - already
    else:
        raise DomainError("only issues and redemptions can be reversed", field="entry")
    if amount == 0:
        done = _existing(store, idempotency_key, account, StoreCreditEntry.Kind.REVERSE)
        if done is not None:
            return done
        raise Conflict("nothing is left to reverse", field="entry")
    return _move(
        store=store,
        account=account,
        kind=StoreCreditEntry.Kind.REVERSE,
        amount=amount,
        cause=cause,
        idempotency_key=idempotency_key,
        reverses=entry,
    )


def credit_expire_due(*, now: datetime | None = None, store: Store | None = None) -> int:
    """Expire what is left of issues past their expiry date; returns how many entries it wrote."""
    now = now or clock.now()
    due = StoreCreditEntry.objects.filter(
        kind=StoreCreditEntry.Kind.ISSUE, expires_at__lte=now
    ).select_related("account", "store")
    if store is not None:
        due = due.filter(store=store)
    expired = set(
        StoreCreditEntry.objects.filter(
            kind=StoreCreditEntry.Kind.EXPIRE, reverses__in=due
        ).values_list("reverses_id", flat=True)
    )
    written = 0
    for issue in due:
        if issue.pk in expired:
            continue
        account = issue.account
        remaining = min(issue_remaining(account).get(issue.pk, Decimal(0)), account.balance)
        if remaining <= 0:
            continue
        result = _move(
            store=issue.store,
            account=account,
            kind=StoreCreditEntry.Kind.EXPIRE,
            amount=-remaining,
            cause=f"expired: credit issued {issue.created_at:%Y-%m-%d} ({issue.cause})",
            idempotency_key=f"expire:{issue.public_id}",
            reverses=issue,
            now=now,
        )
        written += int(result.created)
    return written
