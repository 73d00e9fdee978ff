from __future__ import annotations

import zoneinfo
from datetime import date, datetime

import phonenumbers
from ninja import Schema
from pydantic import EmailStr, Field, field_validator

from aftersale.core.schemas import StrictSchema


def normalize_email(value: str | None) -> str:
    return (value or "").strip().lower()


def normalize_phone(value: str | None, default_region: str | None = None) -> str:
    """E.164, or a ValueError naming what is wrong."""
    if not value:
        return ""
    try:
        parsed = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {exc}") from None
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError("not a possible phone number; use +<country code><number>")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class AddressIn(StrictSchema):
    name: str = Field("", max_length=200)
    company: str = Field("", max_length=200)
    line1: str = Field("", max_length=200)
    line2: str = Field("", max_length=200)
    city: str = Field("", max_length=100)
    region: str = Field("", max_length=100)
    postal_code: str = Field("", max_length=20)
    country: str = Field("", max_length=2, description="ISO 3166-1 alpha-2, e.g. DE")
    phone: str = Field("", max_length=32)

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        if value and (len(value) != 2 or not value.isalpha()):
            raise ValueError("use a two-letter ISO 3166-1 country code such as DE or BR")
        return value.upper()


class CustomerIn(StrictSchema):
    external_id: str | None = Field(None, max_length=100)
    email: EmailStr | None = None
    phone: str | None = Field(None, max_length=32, description="any format; stored as E.164")
    first_name: str = Field("", max_length=100)
    last_name: str = Field("", max_length=100)
    locale: str = Field("", max_length=10)
    time_zone: str = Field("", max_length=64)
    birthday: date | None = None
    accepts_marketing: bool | None = None
    marketing_consent_source: str = Field("", max_length=60)
    tags: list[str] = Field(default_factory=list)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value and value not in zoneinfo.available_timezones():
            raise ValueError(f"{value!r} is not an IANA time zone such as Europe/Berlin")
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return normalize_phone(value) if value else value


class AddressOut(Schema):
    name: str
    company: str
    line1: str
    line2: str
    city: str
    region: str
    postal_code: str
    country: str
    phone: str


class CustomerOut(Schema):
    id: str
    external_id: str | None
    source: str
    email: str
    phone: str
    first_name: str
    last_name: str
    locale: str
    time_zone: str
    birthday: date | None
    accepts_marketing: bool
    marketing_consent_at: datetime | None
    marketing_consent_source: str
    tags: list[str]
    created_at: datetime
    updated_at: datetime


class CustomerPatchIn(StrictSchema):
    email: EmailStr | None = None
    phone: str | None = Field(None, max_length=32)
    first_name: str | None = Field(None, max_length=100)
    last_name: str | None = Field(None, max_length=100)
    locale: str | None = Field(None, max_length=10)
    time_zone: str | None = Field(None, max_length=64)
    birthday: date | None = None
    accepts_marketing: bool | None = None
    marketing_consent_source: str = Field("", max_length=60)
    tags: list[str] | None = None

    _zone = field_validator("time_zone")(CustomerIn._zone.__func__)
    _phone = field_validator("phone")(CustomerIn._phone.__func__)


def address_out(address) -> dict | None:
    if address is None:
        return None
    return {k: getattr(address, k) for k in AddressOut.model_fields}


def customer_out(customer) -> dict:
    data = {k: getattr(customer, k) for k in CustomerOut.model_fields if k != "id"}
    data["id"] = customer.public_id
    return data
