"""One landing line's bytes -> the text bronze stores or the reason it is quarantined, without Spark."""

import base64
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from autolake.lakehouse.landing_lines import BOM, REASON_ARRAY, REASON_BOM, classify

RECORD = {"ad_id": "1", "source": "craigslist", "posted_date": "2021-05-01"}


def reason(data: bytes, *, first: bool = False, max_depth: int = 32) -> str | None:
    return classify(data, first=first, max_depth=max_depth).reason


def nested(levels: int) -> bytes:
    return json.dumps({**RECORD, "deep": json.loads("[" * (levels - 1) + "]" * (levels - 1))}).encode()


def test_valid_utf8_is_kept_verbatim_and_other_bytes_are_named_with_their_offset():
    text = json.dumps({**RECORD, "description": "très 🚗"}, ensure_ascii=False)
    assert classify(text.encode(), first=False, max_depth=32).text == text
    latin = json.dumps({**RECORD, "description": "très"}, ensure_ascii=False).encode("latin-1")
    line = classify(latin, first=False, max_depth=32)
    offset = latin.index(b"\xe8")
    assert line.reason == f"not valid UTF-8: byte 0xe8 at offset {offset}"
    assert base64.b64decode(line.raw_base64) == latin
    assert line.text == latin.decode("utf-8", "backslashreplace") and "tr\\xe8s" in line.text
    assert classify(b"\xc3", first=False, max_depth=32).reason == "not valid UTF-8: byte 0xc3 at offset 0"
    assert reason(b'{"a": "\xed\xa0\x80"}') == "not valid UTF-8: byte 0xed at offset 7"


def test_a_bom_is_stripped_from_the_first_line_only():
    record = json.dumps(RECORD).encode()
    first = classify(BOM + record, first=True, max_depth=32)
    assert (first.text, first.reason) == (record.decode(), None)
    assert reason(BOM + record, first=False) == REASON_BOM
    assert reason(BOM + BOM + record, first=True) == REASON_BOM


def test_each_kind_of_malformed_line_gets_its_own_reason():
    assert reason(b'{"ad_id": "1", "price_usd": NaN}') == "non-standard number literal NaN (JSON has no NaN or Infinity)"
    assert reason(b'{"price_usd": Infinity}') == "non-standard number literal Infinity (JSON has no NaN or Infinity)"
    assert reason(b'{"price_usd": -Infinity}') == "non-standard number literal -Infinity (JSON has no NaN or Infinity)"
    assert reason(nested(32)) is None
    assert reason(nested(33)) == "nested deeper than 32 levels"
    assert reason(b"[" * 100_000) == "nested deeper than 32 levels"
    assert reason(nested(4), max_depth=3) == "nested deeper than 3 levels"
    assert reason(json.dumps([RECORD]).encode()) == REASON_ARRAY
    assert reason(b'"a record"') == "a JSON string, not an object"
    assert reason(b"42") == "a JSON number, not an object"
    assert reason(b"true") == "a JSON boolean, not an object"
    assert reason(b"null") == "a JSON null, not an object"
    assert reason(b"{not json") == "not a JSON object"
    assert reason(b"{'ad_id': '1'}") == "not a JSON object"
    assert reason(b'{"ad_id": "1", "ad_id": "2"}') == "duplicate key 'ad_id' in the record"
    assert reason(b'{"a": "\\ud800"}') == "a string holds a lone UTF-16 surrogate escape (\\ud800)"
    assert reason(b'{"a": "\\ud83d\\ude97", "n": 1e999999, "m": ' + b"9" * 5000 + b"}") is None
    assert reason(b"") is None and reason(b"   ") is None


def test_identifiers_in_a_record_follow_the_rule():
    assert reason(json.dumps({**RECORD, "ad_id": "../../etc/passwd"}).encode()).startswith(
        "ad id '../../etc/passwd' contains '/'")
    assert reason(json.dumps({**RECORD, "source": "a:b"}).encode()).startswith("source 'a:b' contains ':'")
    assert reason(json.dumps({**RECORD, "dealer_id": "CA 01"}).encode()).startswith("dealer id 'CA 01' contains ' '")
    assert reason(json.dumps({**RECORD, "search": "x" * 65}).encode()).startswith("search '")
    assert reason(json.dumps({**RECORD, "ad_id": 7}).encode()) == "ad id must be a JSON string, got a number"
    assert reason(json.dumps({**RECORD, "dealer_id": None, "search": ""}).encode()) is None
    assert reason(json.dumps({"source": "craigslist"}).encode()) is None


@settings(max_examples=400, deadline=None, database=None)
@given(st.binary(max_size=200), st.booleans(), st.integers(1, 40))
def test_any_bytes_get_text_and_at_most_one_verdict(data, first, max_depth):
    line = classify(data, first=first, max_depth=max_depth)
    assert isinstance(line.text, str)
    line.text.encode("utf-8")
    if line.raw_base64 is not None:
        assert line.reason.startswith("not valid UTF-8: byte 0x")
        assert base64.b64decode(line.raw_base64) == (data[len(BOM):] if first and data.startswith(BOM) else data)
    else:
        assert line.text.encode("utf-8") == (data[len(BOM):] if first and data.startswith(BOM) else data)


@settings(max_examples=300, deadline=None, database=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
                    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
                    max_leaves=20))
def test_strict_json_objects_pass_and_everything_else_is_named(value):
    data = json.dumps({"payload": value}, ensure_ascii=False).encode()
    assert reason(data, max_depth=1000) is None
    top = reason(json.dumps(value).encode(), max_depth=1000)
    if isinstance(value, list):
        assert top == REASON_ARRAY
    elif not isinstance(value, dict):
        kind = {str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")
        assert top == f"a JSON {kind}, not an object"
