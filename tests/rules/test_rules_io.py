"""Word lists and keyword rules: validation, JSON and CSV import/export round trips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import ConfigError
from rules.io import (
    dump_json,
    keyword_rules_from_csv,
    keyword_rules_to_csv,
    load_json,
    word_lists_from_csv,
    word_lists_to_csv,
)
from rules.keywords import KeywordRule, ReplyContent
from rules.wordlists import WordList

LISTS = (
    WordList(
        "comp",
        "竞品",
        "competitor",
        ("拼多多", "京东"),
        "flag",
        "block",
        frozenset({"traditional"}),
    ),
    WordList(
        "contact", '联系方式, "引号"', "policy", ("微信", "q,q"), "quarantine", "mask", version=3
    ),
    WordList("empty", "空列表", "custom", (), enabled=False),
)
RULES = (
    KeywordRule("human", 10, "exact", "人工", "route_human", tags=("human", "vip")),
    KeywordRule(
        "hi",
        20,
        "regex",
        r"^(你好|您好)\s*$",
        "auto_reply",
        ReplyContent("text", text="在的,\n请说"),
    ),
    KeywordRule(
        "card",
        30,
        "contains",
        "说明书",
        "auto_reply",
        ReplyContent("card", title="说明书", url="https://example.com/m", media_id="m1"),
        platform="douyin",
        account="shop1",
    ),
    KeywordRule(
        "img",
        40,
        "contains",
        "尺码表",
        "auto_reply",
        ReplyContent("image", media_id="x"),
        platform="wechat",
        enabled=False,
    ),
)


def test_json_round_trip() -> None:
    """Exporting to JSON and importing gives equal lists and rules."""
    assert load_json(dump_json(LISTS, RULES)) == (LISTS, RULES)


def test_json_bare_arrays() -> None:
    """A bare array of lists or of rules is accepted."""
    import json

    assert load_json(json.dumps([wl.to_dict() for wl in LISTS])) == (LISTS, ())
    assert load_json(json.dumps([r.to_dict() for r in RULES]).encode()) == ((), RULES)


def test_csv_round_trips() -> None:
    """Exporting to CSV and importing gives equal lists and rules (empty lists included)."""
    assert word_lists_from_csv(word_lists_to_csv(LISTS)) == LISTS
    assert keyword_rules_from_csv(keyword_rules_to_csv(RULES)) == RULES


def test_csv_minimal_columns_and_bom() -> None:
    """Only list, category and word are required; a byte-order mark is ignored."""
    text = "\ufefflist,category,word\nads,ad_law,最佳\nads,ad_law,国家级\nx,abuse,傻\n"
    ads, x = word_lists_from_csv(text)
    assert ads.words == ("最佳", "国家级") and ads.name == "ads" and ads.outbound_action == "block"
    assert x.category == "abuse"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("list,category\nads,ad_law\n", "missing column"),
        ("list,category,word,colour\nads,ad_law,x,red\n", "unknown column"),
        ("list,category,word\nads,ad_law,x\nads,policy,y\n", "line 3.*category"),
        ("list,category,word,outbound_action\na,custom,x,block\na,custom,y,mask\n", "line 3"),
        ("list,category,word,enabled\na,custom,x,maybe\n", "line 2.*true or false"),
        ("list,category,word,version\na,custom,x,v2\n", "line 2.*integer"),
        ("list,category,word\na,custom,x,extra\n", "line 2.*number of cells"),
        ("list,category,word\na,custom,！！\n", "no letters or digits"),
        ("list,category,word\na b,custom,x\n", "must be 1-64"),
    ],
)
def test_csv_word_list_errors(text: str, message: str) -> None:
    """CSV errors name the line and the problem."""
    with pytest.raises(ConfigError, match=message):
        word_lists_from_csv(text)


def test_csv_rule_errors_name_the_line() -> None:
    """A bad rule row is reported with its line."""
    text = (
        "id,priority,match,pattern,action\nok,1,exact,人工,route_human\nbad,x,exact,a,route_bot\n"
    )
    with pytest.raises(ConfigError, match=r"line 3.*integer"):
        keyword_rules_from_csv(text)
    text = "id,priority,match,pattern,action\nr,1,regex,(a+)+,route_bot\n"
    with pytest.raises(ConfigError, match=r"line 2.*exponentially"):
        keyword_rules_from_csv(text)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("{", "invalid JSON"),
        ('{"lists": []}', "word_lists"),
        (
            '{"word_lists": [{"id": "a", "category": "custom", "words": ["x"], "colour": 1}]}',
            "unknown",
        ),
        ('{"word_lists": [{"id": "a", "category": "custom"}]}', "missing field 'words'"),
        ('{"word_lists": [{"id": "a", "category": "custom", "words": "x"}]}', "list of strings"),
        ('{"word_lists": [{"id": "a", "category": "spam", "words": []}]}', "category must be"),
        (
            '{"word_lists": [{"id": "a", "category": "custom", "words": [], "version": true}]}',
            "version",
        ),
        (
            '{"keyword_rules": [{"id": "r", "priority": 1, "match": "exact", "pattern": "x"}]}',
            "action",
        ),
        (
            '{"keyword_rules": [{"id": "r", "priority": 1, "match": "exact", "pattern": "x", '
            '"action": "auto_reply", "reply": {"kind": "text", "txt": "hi"}}]}',
            "unknown",
        ),
    ],
)
def test_json_errors(doc: str, message: str) -> None:
    """JSON errors raise ConfigError with the item and the problem."""
    with pytest.raises(ConfigError, match=message):
        load_json(doc)


def test_word_list_validation_and_normalisation() -> None:
    """Words are stripped and deduplicated; bad actions and variants are refused."""
    wl = WordList("a", "A", "custom", [" 微信 ", "微信", "vx"])  # type: ignore[arg-type]
    assert wl.words == ("微信", "vx")
    with pytest.raises(ConfigError, match="inbound_action"):
        WordList("a", "A", "custom", ("x",), inbound_action="block")
    with pytest.raises(ConfigError, match="variant"):
        WordList("a", "A", "custom", ("x",), variants=frozenset({"pinyin"}))
    with pytest.raises(ConfigError, match="longer than"):
        WordList("a", "A", "custom", ("长" * 65,))


SAFE = st.text(alphabet=st.sampled_from(list("微信ab1 ,\"\n'|！")), min_size=1, max_size=6)


@settings(max_examples=100, deadline=None, database=None)
@given(
    st.lists(st.lists(SAFE, max_size=5), min_size=1, max_size=3),
    st.lists(st.sampled_from(["flag", "quarantine"]), min_size=3, max_size=3),
)
def test_word_list_round_trips_property(words: list[list[str]], inbound: list[str]) -> None:
    """Random lists survive CSV and JSON round trips unchanged."""
    lists = []
    for n, ws in enumerate(words):
        usable = [w for w in ws if any(c.isalnum() for c in w)]
        lists.append(WordList(f"l{n}", f"名{n}", "custom", usable, inbound[n]))  # type: ignore[arg-type]
    assert word_lists_from_csv(word_lists_to_csv(lists)) == tuple(lists)
    assert load_json(dump_json(lists))[0] == tuple(lists)


def test_generators_are_accepted_as_lists() -> None:
    """Words, variants and tags given as one-shot iterables are read completely."""
    wl = WordList("g", "G", "custom", (w for w in ["微信", "vx"]), variants=iter(["traditional"]))  # type: ignore[arg-type]
    assert wl.words == ("微信", "vx") and wl.variants == {"traditional"}
    rule = KeywordRule("t", 1, "contains", "退款", "tag", tags=(t for t in ["a", "b"]))  # type: ignore[arg-type]
    assert rule.tags == ("a", "b")
    with pytest.raises(ConfigError, match="tags must be"):
        KeywordRule("t", 1, "contains", "退款", "tag", tags="refund")  # type: ignore[arg-type]
