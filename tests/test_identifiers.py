"""The one rule for identifiers taken from records: what passes, and the reasons for what does not."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from spark_transforms.identifiers import MAX_LENGTH, refusal, shown

RULE = "(allowed: letters, digits, . _ : -; starting with a letter or digit; no '..'; at most 64 characters)"
VALID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


def test_ids_the_feeds_send_pass():
    for field, value in [("ad_id", "7222695916"), ("ad_id", "at-3f9c2a11d0"), ("ad_id", "7222695916-r1"),
                         ("source", "craigslist"), ("dealer_id", "CA-01"), ("search", "mb_all"),
                         ("photo_id", "ph-0123456789ab"), ("ad_id", "a" * MAX_LENGTH), ("ad_id", "v1.2:x_y")]:
        assert refusal(field, value) is None, (field, value)


def test_each_refusal_names_the_field_the_value_and_what_is_wrong():
    assert refusal("photo_id", "..%2F..") == f"photo id '..%2F..' contains '%' {RULE}"
    assert refusal("photo_id", "../../../../x") == f"photo id '../../../../x' contains '/' {RULE}"
    assert refusal("photo_id", "..\\x") == f"photo id '..\\\\x' contains '\\\\' {RULE}"
    assert refusal("photo_id", "a\x00b") == f"photo id 'a\\x00b' contains '\\x00' {RULE}"
    assert refusal("photo_id", "ph\u2215x") == f"photo id 'ph\\u2215x' contains '\\u2215' {RULE}"
    assert refusal("photo_id", "..") == f"photo id '..' starts with '.' {RULE}"
    assert refusal("photo_id", "a..b") == f"photo id 'a..b' contains '..' {RULE}"
    assert refusal("ad_id", "a" * 65) == f"ad id '{'a' * 40}'[+25 characters] is 65 characters long {RULE}"
    assert refusal("dealer_id", "") == "dealer id is empty"
    assert refusal("ad_id", 7) == "ad id must be a JSON string, got a number"
    assert refusal("search", None) == "search must be a JSON string, got null"
    assert refusal("dealer_id", {"id": 1}) == "dealer id must be a JSON string, got an object"
    assert refusal("source", "craigs:list") == (
        "source 'craigs:list' contains ':' (allowed: letters, digits, . _ -; starting with a letter or digit; "
        "no '..'; at most 64 characters)"
    )


def test_shown_values_are_escaped_and_cut():
    assert shown("tr\u00e8s\u202e") == "'tr\\xe8s\\u202e'"
    assert shown("x" * 50, limit=None) == "'" + "x" * 50 + "'"


@settings(max_examples=500, deadline=None, database=None)
@given(st.one_of(st.text(max_size=80), st.from_regex(VALID, fullmatch=True)))
def test_a_value_passes_exactly_when_it_follows_the_rule(value):
    problem = refusal("ad_id", value)
    assert (problem is None) == bool(VALID.fullmatch(value) and ".." not in value)
    if problem is not None:
        assert problem.startswith("ad id ")
