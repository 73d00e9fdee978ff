"""Public identifiers: a type prefix plus a time-ordered random part; internal keys stay inside."""

from __future__ import annotations

import os
import time

from django.utils.deconstruct import deconstructible

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)  # 10 bits → 2 characters


def new_public_id(prefix: str) -> str:
    """`ord_01hx…`: 48 bits of milliseconds then 80 random bits, so ids sort by creation."""
    value = ((time.time_ns() // 1_000_000) << 80) | int.from_bytes(os.urandom(10), "big")
    # 128 bits → 26 base32 characters, most significant first, two at a time.
    pairs = _PAIRS
    return prefix + "_" + "".join(pairs[(value >> shift) & 1023] for shift in _SHIFTS)


_SHIFTS = tuple(range(120, -1, -10))


@deconstructible
class PublicIdDefault:
    """A field default that migrations can serialise: PublicIdDefault("ord")() -> "ord_…"."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    def __call__(self) -> str:
        return new_public_id(self.prefix)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicIdDefault) and other.prefix == self.prefix

    def __hash__(self) -> int:
        return hash(self.prefix)
