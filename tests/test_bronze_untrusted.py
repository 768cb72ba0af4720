"""Bronze on hostile landing bytes: where each kind of bad line lands, with which reason and bytes."""

import base64
import gzip
import hashlib
import json
import logging
import string
import tempfile

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from autolake.lakehouse import landing_lines
from autolake.lakehouse.landing import MAGIC_PREFIXES
from autolake.lakehouse.settings import load_settings
from autolake.lakehouse.tables import BRONZE_FILE_LEDGER, BRONZE_LISTINGS, BRONZE_QUARANTINE, Tables
from autolake.layers import bronze
from spark_transforms import identifiers
from tests.conftest import TEST_DAY

BOM = b"\xef\xbb\xbf"


def record(ad_id="1", **fields):
    return {"ad_id": ad_id, "source": "craigslist", "posted_date": TEST_DAY.isoformat(), "price_usd": 9000, **fields}


def line(ad_id="1", **fields) -> bytes:
    return json.dumps(record(ad_id, **fields), ensure_ascii=False).encode("utf-8")


def land(settings, name, data: bytes, source="craigslist", day=TEST_DAY) -> str:
    directory = settings.landing_root / source / day.isoformat()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)
    return f"{source}/{day.isoformat()}/{name}"


def table(spark, settings, ref, *columns):
    return sorted(tuple(r) for r in Tables(settings).read(spark, ref).select(*columns).collect())


def test_bytes_that_are_not_utf8_are_quarantined_with_byte_offset_and_recoverable_bytes(spark, settings):
    latin = json.dumps(record("2", description="très"), ensure_ascii=False).encode("latin-1")
    utf8 = line("3", description="très ünï 🚗 \u202e")
    path = land(settings, "a.jsonl", b"\n".join([line("1"), latin, utf8]) + b"\n")

    bronze.run(spark, settings, TEST_DAY)

    ((number, raw_line, raw_base64, reason),) = table(
        spark, settings, BRONZE_QUARANTINE, "_line_number", "raw_line", "raw_line_base64", "reason")
    offset = latin.index(b"\xe8")
    assert (number, reason) == (2, f"not valid UTF-8: byte 0xe8 at offset {offset}")
    assert base64.b64decode(raw_base64) == latin
    assert raw_line == latin.decode("utf-8", "backslashreplace")
    listed = table(spark, settings, BRONZE_LISTINGS, "_line_number", "ad_id", "description", "_record_hash")
    assert listed == [
        (1, "1", None, hashlib.sha256(line("1")).hexdigest()),
        (3, "3", "très ünï 🚗 \u202e", hashlib.sha256(utf8).hexdigest()),
    ]
    assert table(spark, settings, BRONZE_FILE_LEDGER, "path", "good_records", "bad_records") == [(path, 2, 1)]


def test_a_bom_before_the_first_record_is_stripped_and_anywhere_else_quarantined(spark, settings):
    first = land(settings, "a.jsonl", BOM + line("1") + b"\r\n" + line("2") + b"\r\n")
    second = land(settings, "b.jsonl", line("3") + b"\n" + BOM + line("4") + b"\n")

    bronze.run(spark, settings, TEST_DAY)

    assert table(spark, settings, BRONZE_LISTINGS, "_source_file", "_line_number", "ad_id", "_record_hash") == [
        (first, 1, "1", hashlib.sha256(line("1")).hexdigest()),
        (first, 2, "2", hashlib.sha256(line("2")).hexdigest()),
        (second, 1, "3", hashlib.sha256(line("3")).hexdigest()),
    ]
    assert table(spark, settings, BRONZE_QUARANTINE, "_source_file", "_line_number", "reason", "raw_line_base64") == [
        (second, 2, landing_lines.REASON_BOM, None),
    ]


def test_each_kind_of_malformed_line_lands_in_quarantine_with_its_own_reason(spark, settings):
    deep = json.dumps(record("4", options=json.loads("[" * 40 + "]" * 40))).encode()
    lines = [
        line("1").replace(b"9000", b"NaN"),
        line("2").replace(b"9000", b"Infinity"),
        line("3").replace(b"9000", b"-Infinity"),
        deep,
        b"[" + line("5") + b"]",
        b'"ad_id 6"',
        b"6.5",
        b"{not json",
        b"[" * 50_000,
        b'{"ad_id": "../x", ' + line("7")[1:],
        line("8"),
    ]
    path = land(settings, "a.jsonl", b"\n".join(lines) + b"\n")

    bronze.run(spark, settings, TEST_DAY)

    assert table(spark, settings, BRONZE_LISTINGS, "_line_number", "ad_id") == [(11, "8")]
    assert table(spark, settings, BRONZE_QUARANTINE, "_line_number", "reason") == [
        (1, "non-standard number literal NaN (JSON has no NaN or Infinity)"),
        (2, "non-standard number literal Infinity (JSON has no NaN or Infinity)"),
        (3, "non-standard number literal -Infinity (JSON has no NaN or Infinity)"),
        (4, "nested deeper than 32 levels"),
        (5, "a JSON array, not an object: a landing file holds one JSON object per line (JSON Lines)"),
        (6, "a JSON string, not an object"),
        (7, "a JSON number, not an object"),
        (8, "not a JSON object"),
        (9, "nested deeper than 32 levels"),
        (10, "duplicate key 'ad_id' in the record"),
    ]
    assert table(spark, settings, BRONZE_FILE_LEDGER, "path", "good_records", "bad_records") == [(path, 1, 10)]


def test_the_nesting_limit_comes_from_the_bronze_settings(spark, settings):
    settings = settings.model_copy(update={"bronze": settings.bronze.model_copy(update={"max_nesting_depth": 3})})
    land(settings, "a.jsonl", line("1", options=[[1]]) + b"\n" + line("2", options=[[[1]]]) + b"\n")
    bronze.run(spark, settings, TEST_DAY)
    assert table(spark, settings, BRONZE_LISTINGS, "ad_id") == [("1",)]
    assert table(spark, settings, BRONZE_QUARANTINE, "_line_number", "reason") == [(2, "nested deeper than 3 levels")]


def test_a_gzip_file_under_jsonl_is_refused_whole_and_never_read(spark, settings, caplog):
    path = land(settings, "a.jsonl", gzip.compress(line("1") + b"\n" + line("2") + b"\n"))
    fine = land(settings, "b.jsonl", line("3") + b"\n")

    result = bronze.run(spark, settings, TEST_DAY)

    assert table(spark, settings, BRONZE_FILE_LEDGER, "path", "status", "reason", "size", "sha256", "good_records") == [
        (path, "refused", "gzip-compressed content under .jsonl: land it uncompressed", None, None, None),
        (fine, "ingested", None, len(line("3")) + 1, hashlib.sha256(line("3") + b"\n").hexdigest(), 1),
    ]
    assert table(spark, settings, BRONZE_LISTINGS, "_source_file", "ad_id") == [(fine, "3")]
    assert table(spark, settings, BRONZE_QUARANTINE, "_source_file") == []
    assert result.metrics["files"] == {"ingested": 1, "refused": 1}
    assert any(path in m and "gzip-compressed content" in m for m in caplog.messages)


def test_format_characters_in_names_are_refused_and_escaped_in_the_ledger_and_the_logs(spark, settings, caplog):
    caplog.set_level(logging.WARNING)
    land(settings, "invoice\u202eldnj.jsonl", line("1") + b"\n")
    land(settings, "zero\u200bwidth.jsonl", line("2") + b"\n")
    land(settings, "a.jsonl", line("3") + b"\n", source="evil\u2066")
    fine = land(settings, "fine.jsonl", line("4") + b"\n")

    bronze.run(spark, settings, TEST_DAY)

    assert table(spark, settings, BRONZE_FILE_LEDGER, "path", "source", "status", "reason") == [
        ("craigslist/2021-05-01/fine.jsonl", "craigslist", "ingested", None),
        ("craigslist/2021-05-01/invoice\\u202eldnj.jsonl", "craigslist", "refused",
         "file name contains Unicode format characters (category Cf)"),
        ("craigslist/2021-05-01/zero\\u200bwidth.jsonl", "craigslist", "refused",
         "file name contains Unicode format characters (category Cf)"),
        ("evil\\u2066/2021-05-01/a.jsonl", "evil\\u2066", "refused",
         "folder name contains Unicode format characters (category Cf)"),
    ]
    assert table(spark, settings, BRONZE_LISTINGS, "_source_file", "ad_id") == [(fine, "4")]
    logged = "\n".join(caplog.messages)
    assert "invoice\\u202eldnj.jsonl" in logged and "zero\\u200bwidth.jsonl" in logged and "evil\\u2066" in logged
    assert not any(char in logged for char in "\u202e\u200b\u2066")


def test_records_with_unsafe_identifiers_are_quarantined_with_the_validators_reason(spark, settings):
    bad = [
        ("ad_id", "../../etc/passwd"),
        ("ad_id", "x" * 65),
        ("ad_id", 7),
        ("source", "craigs:list"),
        ("source", "craigslist\u202e"),
        ("dealer_id", "CA 01"),
        ("dealer_id", "CA-01\x00"),
        ("search", "mb_all/../../x"),
    ]
    lines = [json.dumps({**record(str(k)), field: value}).encode() for k, (field, value) in enumerate(bad, start=1)]
    lines.append(json.dumps(record("ok", dealer_id="CA-01", search="mb_all")).encode())
    land(settings, "a.jsonl", b"\n".join(lines) + b"\n")

    bronze.run(spark, settings, TEST_DAY)

    assert table(spark, settings, BRONZE_LISTINGS, "ad_id", "dealer_id", "search") == [("ok", "CA-01", "mb_all")]
    expected = [(k, identifiers.refusal(field, value)) for k, (field, value) in enumerate(bad, start=1)]
    assert table(spark, settings, BRONZE_QUARANTINE, "_line_number", "reason") == expected
    assert expected[0][1] == ("ad id '../../etc/passwd' contains '/' (allowed: letters, digits, . _ : -; "
                              "starting with a letter or digit; no '..'; at most 64 characters)")
    assert expected[2][1] == "ad id must be a JSON string, got a number"


IDS = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=10).filter(lambda s: s[0].isalnum())


@st.composite
def records(draw):
    fields = record(draw(IDS), description=draw(st.text(max_size=12)))
    if draw(st.booleans()):
        fields["extra"] = draw(st.one_of(st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=3)))
    return json.dumps(fields, ensure_ascii=draw(st.booleans())).encode()


@st.composite
def mutated(draw):
    data = bytearray(draw(records()))
    at = draw(st.integers(0, len(data)))
    kind = draw(st.sampled_from(["cut", "insert", "delete", "replace"]))
    byte = draw(st.integers(0, 255))
    if kind == "cut":
        return bytes(data[:at])
    if kind == "insert":
        return bytes(data[:at] + bytes([byte]) + data[at:])
    if at < len(data):
        if kind == "delete":
            del data[at]
        else:
            data[at] = byte
    return bytes(data)


LINES = st.one_of(
    records(),
    mutated(),
    st.binary(max_size=30),
    st.just(b""),
    records().map(lambda data: BOM + data),
    records().map(lambda data: data[:-1] + b', "note": "d\xe9j\xe0"}'),
    st.sampled_from([b'{"ad_id": "1", "source": "s", "posted_date": "2021-05-01", "price_usd": NaN}', b"[1, 2]", b'"s"', b"7",
                     b"{" * 40, b'{"a": ' * 40 + b"1" + b"}" * 40, b"\x1f\x8b\x08\x00", b"\xff\xfe{"]),
)


def expected_lines(data: bytes) -> list[bytes]:
    pieces = data.split(b"\n")
    if pieces[-1] == b"":
        pieces.pop()
    return [piece.rstrip(b"\r\n") for piece in pieces]


@hypothesis_settings(max_examples=25, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(LINES, max_size=8), st.booleans(), st.booleans(), st.sampled_from([b"\n", b"\r\n"]))
def test_every_line_of_any_bytes_lands_exactly_once_and_the_ledger_counts_match(spark, lines, bom, final_newline, newline):
    data = (BOM if bom else b"") + newline.join(lines) + (newline if final_newline and lines else b"")
    with tempfile.TemporaryDirectory() as root:
        settings = load_settings("test", overrides={"lakehouse": {"root": f"{root}/lakehouse"}})
        path = land(settings, "feed.jsonl", data)

        bronze.run(spark, settings, TEST_DAY)

        ((status, good, bad),) = table(spark, settings, BRONZE_FILE_LEDGER, "status", "good_records", "bad_records")
        listed = table(spark, settings, BRONZE_LISTINGS, "_source_file", "_line_number")
        quarantined = table(spark, settings, BRONZE_QUARANTINE, "_source_file", "_line_number", "reason", "raw_line_base64")
        if status == "refused":
            assert any(data.startswith(magic) for magic, _ in MAGIC_PREFIXES)
            assert listed == [] and quarantined == [] and good is None and bad is None
            return
        assert status == "ingested"
        pieces = expected_lines(data)
        numbers = [n for _, n in listed] + [n for _, n, _, _ in quarantined]
        assert sorted(numbers) == list(range(1, len(pieces) + 1))
        assert {f for f, _ in listed} | {f for f, *_ in quarantined} <= {path}
        assert (good, bad) == (len(listed), len(quarantined))
        for _, number, reason, raw_base64 in quarantined:
            verdict = landing_lines.classify(pieces[number - 1], first=number == 1, max_depth=32)
            assert reason
            if verdict.reason is not None:
                assert reason == verdict.reason
            if raw_base64 is not None:
                assert base64.b64decode(raw_base64) == pieces[number - 1].removeprefix(BOM if number == 1 else b"")
        for _, number in listed:
            assert landing_lines.classify(pieces[number - 1], first=number == 1, max_depth=32).reason is None
