"""What a moderator should look at in a review: profanity, personal data (e-mail addresses, phone
numbers) and links. Pure functions; the services store what they find as ModerationFlag rows.

The built-in word lists cover English, Portuguese and German; a store adds its own words in its
review settings. Matching is case-insensitive, on whole words, and ignores accents, so "merda",
"MERDA" and "mérda" all match, but "Scunthorpe" does not match "cunt".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

# Common swear words and insults; kept short on purpose (a store adds its own). Lower case,
# without accents.
BUILTIN_WORDS: dict[str, tuple[str, ...]] = {
    "en": (
        "fuck", "fucking", "fucked", "fucker", "motherfucker", "shit", "shitty", "bullshit",
        "bitch", "bastard", "asshole", "arsehole", "dickhead", "cunt", "wanker", "twat",
        "crap", "piss off", "douchebag", "retard", "scam artist", "idiots",
    ),
    "pt": (
        "merda", "porra", "caralho", "puta", "puta que pariu", "filho da puta", "foda",
        "foda-se", "fodido", "cacete", "buceta", "bosta", "vagabundo", "vagabundos", "otario",
        "otarios", "babaca", "arrombado", "desgraca", "lixo de loja", "pqp", "vsf",
    ),
    "de": (
        "scheisse", "scheiss", "scheiße", "arschloch", "arsch", "fick", "ficken", "verpiss",
        "wichser", "hurensohn", "drecksladen", "mist", "idioten", "vollidiot", "betrueger",
        "betruger", "abzocke", "abzocker", "kacke",
    ),
}  # fmt: skip

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# A URL with a scheme, www., or a bare domain with a common top-level domain.
LINK = re.compile(
    r"(?:https?://|www\.)[^\s<>\"']+"
    r"|\b[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:com|net|org|info|biz|io|co|shop|store|online|"
    r"xyz|site|br|de|at|ch|uk|eu|me|ly|gl)\b(?:/[^\s<>\"']*)?",
    re.IGNORECASE,
)
# Digits with the separators people type in phone numbers; at least 9 digits to count.
PHONE = re.compile(r"(?<![\w/.-])\+?\(?\d[\d\s().-]{7,}\d(?![\w/-])")
DATE_LIKE = re.compile(r"^\d{1,4}[./-]\d{1,2}[./-]\d{1,4}$")


@dataclass(frozen=True)
class Finding:
    kind: str  # "profanity", "email", "phone", "link"
    field: str  # "title" or "text"
    match: str  # as written in the review

    def as_tuple(self) -> tuple[str, str, str]:
        return (self.kind, self.field, self.match)


def fold(value: str) -> str:
    """Lower case without accents ("Scheiße" → "scheisse", "Otário" → "otario")."""
    value = value.replace("ß", "ss").replace("ẞ", "ss")
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def word_list(extra: Iterable[str] = ()) -> tuple[str, ...]:
    words = {fold(w).strip() for lang in BUILTIN_WORDS.values() for w in lang}
    words |= {fold(w).strip() for w in extra if w and w.strip()}
    return tuple(sorted(words - {""}, key=len, reverse=True))


_pattern_cache: dict[tuple[str, ...], re.Pattern] = {}


def _word_pattern(words: tuple[str, ...]) -> re.Pattern:
    pattern = _pattern_cache.get(words)
    if pattern is None:
        alternatives = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in words)
        pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")
        if len(_pattern_cache) > 64:
            _pattern_cache.clear()
        _pattern_cache[words] = pattern
    return pattern


def _folded_with_map(value: str) -> tuple[str, list[int]]:
    """The folded text and, for each of its characters, where it came from in `value`."""
    out: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(value):
        for c in fold(ch):
            out.append(c)
            index.append(i)
    return "".join(out), index


def scan_text(value: str, *, field: str, words: tuple[str, ...]) -> list[Finding]:
    findings: list[Finding] = []
    if not value:
        return findings
    emails = [m for m in EMAIL.finditer(value)]
    for m in emails:
        findings.append(Finding("email", field, m.group(0)))
    without_emails = EMAIL.sub(" ", value)
    for m in LINK.finditer(without_emails):
        findings.append(Finding("link", field, m.group(0).rstrip(".,;:!?)")))
    for m in PHONE.finditer(without_emails):
        raw = m.group(0).strip()
        digits = sum(c.isdigit() for c in raw)
        if digits >= 9 and not DATE_LIKE.match(raw):
            findings.append(Finding("phone", field, raw))
    if words:
        folded, index = _folded_with_map(value)
        for m in _word_pattern(words).finditer(folded):
            start, end = index[m.start()], index[m.end() - 1] + 1
            findings.append(Finding("profanity", field, value[start:end]))
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for f in findings:
        key = (f.kind, f.field, f.match.lower())
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def scan(*, title: str, text: str, extra_words: Iterable[str] = ()) -> list[Finding]:
    """Everything worth a moderator's look in a review's title and text."""
    words = word_list(extra_words)
    return scan_text(title, field="title", words=words) + scan_text(text, field="text", words=words)


def explain(kind: str) -> str:
    return {
        "profanity": "Contains a word on the flagged-word list",
        "email": "Contains an e-mail address (personal data)",
        "phone": "Contains a phone number (personal data)",
        "link": "Contains a link",
    }.get(kind, kind)
