"""Keyword rules: validation, exact/contains/regex matching, scope, priority, regex guard."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import ConfigError
from rules.folding import fold
from rules.keywords import KeywordRule, ReplyContent
from rules.kwindex import KeywordIndex
from rules.matcher import Term
from rules.prefilter import required_class, required_literals
from rules.reference import reference_find_terms
from rules.regexguard import REGEX_INPUT_CAP, check_regex

TEXT = ReplyContent("text", text="您好")


def rule(
    rid: str, priority: int, match: str, pattern: str, action: str = "route_bot", **kw: object
) -> KeywordRule:
    """A rule with the reply or tags its action needs."""
    if action == "auto_reply":
        kw.setdefault("reply", TEXT)
    if action == "tag":
        kw.setdefault("tags", ("t-" + rid,))
    return KeywordRule(rid, priority, match, pattern, action, **kw)  # type: ignore[arg-type]


def matched(
    rules: list[KeywordRule], text: str, platform: str = "wechat", account: str = "a1"
) -> list[str]:
    """Evaluate like the engine does, with the scan done by the reference matcher."""
    index = KeywordIndex(rules)
    hits = reference_find_terms(index.terms, text)
    found = {index.term_rules[index.terms.index(_term(index, h.list_id, h.word))] for h in hits}
    return [r.id for r in index.evaluate(text, fold(text).encode(), found, platform, account)]


def _term(index: KeywordIndex, owner: str, word: str) -> Term:
    return next(t for t in index.terms if t.owner == owner and t.word == word)


@pytest.mark.parametrize("text", ["人工", " 人工！", "人 工", "【人工】", "人工😊", "人\u200b工"])
def test_exact_compares_folded_text(text: str) -> None:
    """Exact matching ignores spaces, punctuation and width anywhere in the text."""
    assert matched([rule("h", 1, "exact", "人工")], text) == ["h"]


def test_exact_does_not_match_longer_text() -> None:
    """Exact means the whole message: 我要人工 is not 人工."""
    assert matched([rule("h", 1, "exact", "人工")], "我要人工") == []


def test_contains_and_regex() -> None:
    """Contains finds a folded substring; regex searches the original text."""
    rules = [rule("c", 1, "contains", "退款"), rule("r", 2, "regex", r"订单号?\s*\d{6,}")]
    assert matched(rules, "我想退 款") == ["c"]
    assert matched(rules, "订单号 1234567 到哪了") == ["r"]
    assert matched(rules, "订单 12345") == []


def test_priority_then_id_orders_matches() -> None:
    """Lower priority numbers come first; equal priorities are ordered by id."""
    rules = [
        rule("b", 5, "contains", "发货"),
        rule("a", 5, "contains", "发货"),
        rule("z", 1, "regex", "发货"),
    ]
    assert matched(rules, "什么时候发货") == ["z", "a", "b"]


def test_scope_global_platform_account() -> None:
    """Global, platform and platform+account rules apply only within their scope."""
    rules = [
        rule("g", 3, "contains", "价格"),
        rule("p", 2, "contains", "价格", platform="douyin"),
        rule("pa", 1, "contains", "价格", platform="douyin", account="shop2"),
    ]
    assert matched(rules, "价格多少", "wechat", "shop2") == ["g"]
    assert matched(rules, "价格多少", "douyin", "shop1") == ["p", "g"]
    assert matched(rules, "价格多少", "douyin", "shop2") == ["pa", "p", "g"]


def test_regex_sees_only_the_capped_prefix() -> None:
    """A regex rule does not look past REGEX_INPUT_CAP characters."""
    rules = [rule("r", 1, "regex", "尾巴")]
    assert matched(rules, "啊" * (REGEX_INPUT_CAP - 2) + "尾巴") == ["r"]
    assert matched(rules, "啊" * REGEX_INPUT_CAP + "尾巴") == []


@pytest.mark.parametrize(
    "pattern",
    [r"(a+)+b", r"(a|aa)*b", r"(\w+\s?)*$", r"(\w)\1", r".*a.*b", r"\d+\d+x", "(?P<x>a)(?(x)b)"],
)
def test_regex_guard_rejects_dangerous_patterns(pattern: str) -> None:
    """Nested quantifiers, quantified alternations, backreferences and polynomial blow-ups fail."""
    with pytest.raises(ConfigError):
        rule("r", 1, "regex", pattern)


@pytest.mark.parametrize(
    "pattern",
    [r"\d{11}", r"订单.*号", r"^(人工|转人工)$", r"订单号[:：]?\s*\d{6,20}", r"(?i)hello\s+world"],
)
def test_regex_guard_accepts_ordinary_patterns(pattern: str) -> None:
    """Everyday rule patterns pass the guard."""
    assert check_regex(pattern).pattern == pattern


def test_invalid_regex_is_a_config_error() -> None:
    """A pattern that does not compile raises ConfigError naming the rule."""
    with pytest.raises(ConfigError, match=r"'bad'.*does not compile"):
        rule("bad", 1, "regex", "(")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"match": "fuzzy"}, "match must be one of"),
        ({"action": "delete"}, "action must be one of"),
        ({"action": "auto_reply", "reply": None}, "needs a reply"),
        ({"action": "tag", "tags": ()}, "needs at least one tag"),
        ({"platform": "weibo"}, "platform must be one of"),
        ({"account": "shop1"}, "account scope needs a platform"),
        ({"pattern": " ！"}, "no letters or digits"),
        ({"priority": "1"}, "priority must be an integer"),
        ({"tags": ("a|b",)}, "without '|'"),
        ({"id": "bad id"}, "must be 1-64 characters"),
    ],
)
def test_rule_validation_messages(kwargs: dict[str, object], message: str) -> None:
    """Invalid rules raise ConfigError with a clear message."""
    fields: dict[str, object] = {
        "id": "r1",
        "priority": 1,
        "match": "contains",
        "pattern": "退款",
        "action": "route_bot",
    }
    fields.update(kwargs)
    with pytest.raises(ConfigError, match=message):
        KeywordRule(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "video"}, "reply kind"),
        ({"kind": "image"}, "needs media_id"),
        ({"kind": "card", "title": "t"}, "needs url"),
        ({"kind": "card", "title": "t", "url": "javascript:x"}, "http"),
        ({"kind": "text", "text": "  "}, "non-empty"),
    ],
)
def test_reply_validation(kwargs: dict[str, object], message: str) -> None:
    """Replies need the fields of their kind."""
    with pytest.raises(ConfigError, match=message):
        ReplyContent(**kwargs)  # type: ignore[arg-type]


def test_required_literals() -> None:
    """Prefilter literals are the most selective substrings a match must contain."""
    assert required_literals(r"订单.*号") == frozenset({"订单"})
    assert required_literals(r"^(人工|转人工)$") == frozenset({"人工", "转人工"})
    assert required_literals(r"\d{11}") is None
    assert required_literals(r"(?i)hello\s+world") in (frozenset({"hello"}), frozenset({"world"}))


def test_required_class_guards_literal_free_patterns() -> None:
    """Patterns without literals get a one-character guard that keeps their flags."""
    assert required_class(r"\d{11}") == ("[\\d]", re.UNICODE)
    assert required_class(r"(?i)[a-z]{3}") == ("[a-z]", re.UNICODE | re.IGNORECASE)
    assert required_class(r"[^x]+\s") == ("[\\s]", re.UNICODE)
    assert required_class(r".{3}") is None
    assert required_class(r"(?i:[a-z])") is None


def test_literal_free_regex_runs_when_its_guard_matches() -> None:
    """A \\d{6} rule fires on digits (full-width included) and is skipped without them."""
    rules = [rule("n", 1, "regex", r"\d{6}")]
    assert matched(rules, "单号１２３４５６") == ["n"]
    assert matched(rules, "单号12345") == []
    assert matched(rules, "没有数字") == []


REGEX_ATOMS = st.sampled_from(
    [
        "退",
        "款",
        "货",
        "a",
        "B",
        "1",
        r"\d",
        r"\s*",
        ".{0,3}",
        "(?:退|换)",
        "[款货]",
        "?",
        "+",
        "[^a]",
        r"\W",
        "(?i:b)",
        "[a-c]",
        r"\d{2}",
    ]
)
TEXT_CHARS = st.text(alphabet=st.sampled_from(list("退换款货aAbB1 2，ｂ٣①")), max_size=30)


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.lists(REGEX_ATOMS, min_size=1, max_size=5), min_size=1, max_size=4), TEXT_CHARS)
def test_regex_prefilter_never_changes_the_result(patterns: list[list[str]], text: str) -> None:
    """Running regexes only when a literal was found gives the same result as running all."""
    rules = []
    for n, atoms in enumerate(patterns):
        pattern = ("(?i)" if n % 2 else "") + "".join(atoms)
        try:
            re.compile(pattern)
            rules.append(rule(f"r{n}", n, "regex", pattern))
        except (re.error, ConfigError):
            continue
    expected = [r.id for r in rules if r.compile().search(text, 0, REGEX_INPUT_CAP)]
    assert matched(rules, text) == expected
