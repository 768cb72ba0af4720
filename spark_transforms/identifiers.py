"""Identifiers taken from feed records: ad id, photo id, dealer id, search and source.

A record's identifiers become table keys, part of a listing id (`<source>:<ad id>`) and, for a
photo id, a file name under the landing root. They are checked before any use and never cleaned
up: a value that breaks the rule is refused with a reason that names the field, shows the value
(escaped) and says what is wrong.

The rule, the same for every field: a JSON string of 1 to 64 characters from the letters A-Z and
a-z, the digits and `. _ : -`, starting with a letter or a digit, without `..`. A source also has
no `:`, since a listing id is `<source>:<ad id>`.
"""

from __future__ import annotations

import string

MAX_LENGTH = 64
LABELS = {
    "ad_id": "ad id",
    "source": "source",
    "dealer_id": "dealer id",
    "search": "search",
    "photo_id": "photo id",
}
RECORD_FIELDS = ("ad_id", "source", "dealer_id", "search")
_ALPHANUMERIC = frozenset(string.ascii_letters + string.digits)
_PUNCTUATION = {"source": "._-"}
_DEFAULT_PUNCTUATION = "._:-"
_SHOWN_LENGTH = 40


def shown(value: str, limit: int | None = _SHOWN_LENGTH) -> str:
    """`value` quoted for a reason or a log line: backslashes, controls and non-ASCII escaped, and
    cut after `limit` characters (None: never)."""
    cut = value if limit is None else value[:limit]
    escaped = cut.encode("unicode_escape").decode("ascii")
    more = f"[+{len(value) - len(cut)} characters]" if len(cut) < len(value) else ""
    return f"'{escaped}'{more}"


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an array"
    return "a number"


def rule(field: str) -> str:
    """The rule for `field` in words, as every refusal of it ends."""
    punctuation = " ".join(_PUNCTUATION.get(field, _DEFAULT_PUNCTUATION))
    return f"allowed: letters, digits, {punctuation}; starting with a letter or digit; no '..'; at most {MAX_LENGTH} characters"


def refusal(field: str, value: object) -> str | None:
    """None when `value` is a valid `field`; otherwise the reason it is refused."""
    label = LABELS[field]
    if not isinstance(value, str):
        return f"{label} must be a JSON string, got {_kind(value)}"
    if value == "":
        return f"{label} is empty"
    if len(value) > MAX_LENGTH:
        return f"{label} {shown(value)} is {len(value)} characters long ({rule(field)})"
    allowed = _ALPHANUMERIC | frozenset(_PUNCTUATION.get(field, _DEFAULT_PUNCTUATION))
    bad = next((char for char in value if char not in allowed), None)
    if bad is not None:
        return f"{label} {shown(value)} contains {shown(bad)} ({rule(field)})"
    if value[0] not in _ALPHANUMERIC:
        return f"{label} {shown(value)} starts with {shown(value[0])} ({rule(field)})"
    if ".." in value:
        return f"{label} {shown(value)} contains '..' ({rule(field)})"
    return None
