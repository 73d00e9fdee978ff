"""Shapes shared by every API router: strict input base, errors and pagination."""

from __future__ import annotations

from ninja import Schema
from pydantic import BaseModel, ConfigDict


class StrictSchema(BaseModel):
    """Input models refuse unknown fields, so a typo is an error instead of silently ignored.

    A plain pydantic model rather than ninja's Schema: inputs never read Django objects, and
    Schema's per-field resolver hook costs more than the validation itself on big batches.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ErrorOut(Schema):
    detail: str
    code: str = "error"


class FieldErrorOut(Schema):
    field: str
    message: str
    type: str


class ValidationErrorOut(Schema):
    detail: str
    code: str = "invalid"
    errors: list[FieldErrorOut]


# Status codes every route can answer with, for the OpenAPI document.
READ_ERRORS: dict[int, type] = {
    400: ErrorOut,
    401: ErrorOut,
    404: ErrorOut,
    422: ValidationErrorOut,
}
WRITE_ERRORS: dict[int, type] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    413: ErrorOut,
    422: ValidationErrorOut,
}
