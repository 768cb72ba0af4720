"""One landing line's bytes: the text bronze stores, or the reason it goes to quarantine.

Checked here, before Spark parses anything, so every engine sees the same verdict:

- the bytes are valid UTF-8 (otherwise the reason names the first bad byte and its offset in the
  line, and the original bytes are kept as base64);
- a UTF-8 byte order mark is stripped from the start of the file's first line and refused
  anywhere else;
- the line is strict JSON (RFC 8259): no NaN or Infinity, no single quotes or comments, no lone
  UTF-16 surrogate escapes, no duplicate keys in the record;
- it is one JSON object, nested no deeper than `bronze.max_nesting_depth`;
- the identifiers in it (ad id, source, dealer id, search) follow `spark_transforms.identifiers`.

An empty line, missing required fields and values of the wrong type are left to
`spark_transforms.bronze.classify_landing_lines`.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from decimal import Decimal

from spark_transforms import identifiers
from spark_transforms.bronze import REASON_NOT_OBJECT

BOM = b"\xef\xbb\xbf"
REASON_BOM = "byte order mark (U+FEFF) before the record: only one, at the start of the file, is allowed"
REASON_ARRAY = "a JSON array, not an object: a landing file holds one JSON object per line (JSON Lines)"
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Line:
    """`text`: the line as stored (verbatim when it is valid UTF-8, else decoded with
    backslashreplace); `reason`: why it goes to quarantine, or None; `raw_base64`: the original
    bytes, only for a line that is not valid UTF-8."""

    text: str
    reason: str | None = None
    raw_base64: str | None = None


class _Refused(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _Integer(str):
    """An integer literal kept as its text (no conversion limit, no float rounding)."""


class _Record(dict):
    duplicates: tuple[str, ...] = ()


def _constant(literal: str):
    raise _Refused(f"non-standard number literal {literal} (JSON has no NaN or Infinity)")


def _object(pairs: list[tuple[str, object]]) -> _Record:
    record = _Record(pairs)
    if len(record) != len(pairs):
        seen: set[str] = set()
        record.duplicates = tuple(k for k, _ in pairs if k in seen or seen.add(k))
    return record


def _depth_and_surrogate(value: object, limit: int) -> tuple[int, str | None]:
    """The nesting depth of `value` (counting up to limit + 1) and the first lone surrogate in any string."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            found = _SURROGATE.search(item)
            if found:
                return deepest, found.group()
            continue
        if isinstance(item, dict):
            children = [*item.keys(), *item.values()]
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest, None
        stack.extend((child, depth + 1) for child in children if isinstance(child, (str, dict, list)))
    return deepest, None


def _kind(value: object) -> str:
    if isinstance(value, str) and not isinstance(value, _Integer):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _plain(value: object) -> object:
    return Decimal(value) if isinstance(value, _Integer) else value


def _record_problem(text: str, max_depth: int) -> str | None:
    if text.startswith("\ufeff"):
        return REASON_BOM
    if text.strip(" ") == "":
        return None
    try:
        value = json.loads(text, parse_constant=_constant, parse_int=_Integer, parse_float=Decimal,
                           object_pairs_hook=_object)
    except _Refused as refused:
        return refused.reason
    except RecursionError:
        return f"nested deeper than {max_depth} levels"
    except ValueError:
        return REASON_NOT_OBJECT
    depth, surrogate = _depth_and_surrogate(value, max_depth)
    if depth > max_depth:
        return f"nested deeper than {max_depth} levels"
    if surrogate is not None:
        return f"a string holds a lone UTF-16 surrogate escape (\\u{ord(surrogate):04x})"
    if isinstance(value, list):
        return REASON_ARRAY
    if not isinstance(value, dict):
        return f"a JSON {_kind(value)}, not an object"
    if value.duplicates:
        return f"duplicate key {identifiers.shown(value.duplicates[0])} in the record"
    for field in identifiers.RECORD_FIELDS:
        given = value.get(field)
        if given is None or given == "":
            continue
        problem = identifiers.refusal(field, _plain(given))
        if problem:
            return problem
    return None


def classify(data: bytes, *, first: bool, max_depth: int) -> Line:
    """One line's bytes, without its line terminator; `first` when it is the file's first line."""
    if first and data.startswith(BOM):
        data = data[len(BOM):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return Line(
            data.decode("utf-8", "backslashreplace"),
            f"not valid UTF-8: byte 0x{data[error.start]:02x} at offset {error.start}",
            base64.b64encode(data).decode("ascii"),
        )
    return Line(text, _record_problem(text, max_depth))
