"""RuleSet: inbound decisions, quarantine precedence, outbound block/mask, immutability."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import ConfigError
from gateway.models import Platform, RulesResult
from rules.engine import InboundDecision, OutboundCheck, RuleSet
from rules.keywords import KeywordRule, ReplyContent
from rules.reference import reference_find
from rules.wordlists import WordList, default_ad_law_list

HELLO = ReplyContent("text", text="您好，请问有什么可以帮您？")
CONTACT = WordList("contact", "联系方式", "policy", ("微信", "weixin"), "quarantine", "mask")
COMPETITOR = WordList("comp", "竞品", "competitor", ("拼多多",), "flag", "block")
RULES = [
    KeywordRule("human", 10, "exact", "人工", "route_human"),
    KeywordRule("refund-tag", 5, "contains", "退款", "tag", tags=("refund",)),
    KeywordRule("refund-bot", 20, "contains", "退款", "route_bot", tags=("bot",)),
    KeywordRule("hello", 30, "regex", r"^(你好|您好)", "auto_reply", HELLO),
    KeywordRule("dy-price", 1, "contains", "价格", "route_human", platform="douyin"),
]
RS = RuleSet.build([CONTACT, COMPETITOR, default_ad_law_list(enabled=True)], RULES, version=7)


def test_exact_rule_routes_to_human() -> None:
    """「人工」 with punctuation around it hands the customer to a human."""
    d = RS.inbound(" 人工！", "wechat", "shop1")
    assert (d.action, d.rule_id, d.keywords) == ("route_human", "human", ("human",))


def test_tag_rules_are_not_terminal() -> None:
    """A higher-priority tag rule adds its tag; the first terminal rule still decides."""
    d = RS.inbound("我要退款", "wechat", "shop1")
    assert d.action == "route_bot"
    assert d.rule_id == "refund-bot"
    assert d.tags == ("refund", "bot")
    assert d.keywords == ("refund-tag", "refund-bot")


def test_only_tag_rules_give_action_tag() -> None:
    """When only tag rules match, the action is tag and rule_id the first of them."""
    rs = RuleSet.build([], [RULES[1]], 1)
    d = rs.inbound("退款", "wechat", "a")
    assert (d.action, d.rule_id, d.tags) == ("tag", "refund-tag", ("refund",))


def test_auto_reply_carries_the_reply() -> None:
    """An auto_reply winner returns its reply content."""
    d = RS.inbound("你好，在吗", "taobao", "shop9")
    assert d.action == "auto_reply" and d.reply == HELLO


def test_platform_scoped_rule_beats_global_by_priority() -> None:
    """Scoped and global rules compete by priority within the message's scope only."""
    assert RS.inbound("价格多少", Platform.DOUYIN, "x").rule_id == "dy-price"
    assert RS.inbound("价格多少", Platform.WECHAT, "x").action == "none"


def test_quarantine_overrides_keyword_actions() -> None:
    """A quarantine-list hit wins over an auto-reply and suppresses the reply."""
    d = RS.inbound("你好，加我微.信", "wechat", "shop1")
    assert d.action == "quarantine" and d.quarantine
    assert d.reply is None and d.rule_id is None
    assert d.keywords == ("hello",)
    assert d.sensitive == ("policy:微信",)


def test_flag_lists_only_report() -> None:
    """Flag-list hits are reported in order of position and do not change the action."""
    d = RS.inbound("拼多多上是全网第一吗", "wechat", "shop1")
    assert d.action == "none" and not d.quarantine
    assert d.sensitive == ("competitor:拼多多", "ad_law:全网第一")


def test_non_text_and_clean_messages() -> None:
    """No text, empty text and clean text all give the empty decision."""
    for text in (None, "", "请问什么时候发货"):
        assert RS.inbound(text, "wechat", "shop1") == InboundDecision()


def test_as_rules_result() -> None:
    """A decision converts to the Message's RulesResult."""
    d = RS.inbound("我要退款", "wechat", "shop1")
    assert d.as_rules_result() == RulesResult(
        ("refund-tag", "refund-bot"), (), "route_bot", "refund-bot"
    )
    assert InboundDecision().as_rules_result() == RulesResult()


def test_outbound_block_names_the_first_word() -> None:
    """A block-list hit blocks the message; reason_word is the first blocking word."""
    check = RS.outbound("我们比拼 多 多便宜，是全网第一")
    assert check.blocked and check.reason_word == "拼多多"
    assert [h.word for h in check.hits] == ["拼多多", "全网第一"]


def test_outbound_mask_keeps_positions() -> None:
    """Mask-list hits become one * per original character, separators included."""
    check = RS.outbound("加我微.信或者ＷｅｉＸｉｎ")
    assert not check.blocked and check.reason_word is None
    assert check.text == "加我***或者******"
    assert [(h.start, h.end) for h in check.hits] == [(2, 5), (7, 13)]


def test_outbound_clean_and_empty() -> None:
    """A clean or empty message passes unchanged."""
    assert RS.outbound("好的，马上为您发货") == OutboundCheck(False, "好的，马上为您发货")
    assert RS.outbound("") == OutboundCheck(False, "")


def test_outbound_ignores_keyword_patterns() -> None:
    """Keyword patterns share the automaton but never block or mask replies."""
    assert RS.outbound("退款已经处理") == OutboundCheck(False, "退款已经处理")


def test_empty_ruleset() -> None:
    """RuleSet.empty matches nothing and passes everything."""
    empty = RuleSet.empty()
    assert empty.version == 0
    assert empty.inbound("人工 微信", "wechat", "a") == InboundDecision()
    assert empty.outbound("微信") == OutboundCheck(False, "微信")


def test_ruleset_is_immutable_and_versioned() -> None:
    """A built rule set refuses assignment and keeps its version."""
    assert RS.version == 7
    with pytest.raises(AttributeError):
        RS.version = 8


def test_build_refuses_duplicates_and_bad_versions() -> None:
    """Duplicate list or rule ids and negative versions raise ConfigError."""
    with pytest.raises(ConfigError, match="duplicate word list"):
        RuleSet.build([CONTACT, CONTACT], [], 1)
    with pytest.raises(ConfigError, match="duplicate keyword rule"):
        RuleSet.build([], [RULES[0], RULES[0]], 1)
    with pytest.raises(ConfigError, match="version"):
        RuleSet.build([], [], -1)


def test_disabled_rules_and_lists_are_ignored() -> None:
    """Disabled rules and lists never match."""
    off_rule = KeywordRule("off", 1, "exact", "人工", "route_bot", enabled=False)
    off_list = WordList("off", "off", "custom", ("人工",), "quarantine", enabled=False)
    rs = RuleSet.build([off_list], [off_rule], 1)
    assert rs.inbound("人工", "wechat", "a") == InboundDecision()
    assert rs.keyword_rules == ()


WORD = st.text(alphabet=st.sampled_from(list("微信退款ab0o ")), min_size=1, max_size=3).filter(
    lambda w: w.strip() != ""
)
TEXT = st.text(alphabet=st.sampled_from(list("微信退款ab0o .，😊")), max_size=30)


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(WORD, min_size=1, max_size=4), st.lists(WORD, max_size=3), TEXT)
def test_engine_equals_reference(words: list[str], patterns: list[str], text: str) -> None:
    """Sensitive hits and contains matches of the shared automaton equal the reference."""
    lst = WordList("l", "l", "custom", tuple(words), "flag", "mask")
    rules = [KeywordRule(f"k{i}", i, "contains", p, "route_bot") for i, p in enumerate(patterns)]
    rules = [r for r in rules if r.pattern.strip()]
    rs = RuleSet.build([lst], rules, 1)
    d = rs.inbound(text, "wechat", "a")
    hits = reference_find([lst], text)
    ordered = sorted((h.start, h.end, f"custom:{h.word}") for h in hits)
    assert d.sensitive == tuple(dict.fromkeys(label for _s, _e, label in ordered))
    expected = [
        r.id for r in rules if reference_find([WordList("x", "x", "custom", (r.pattern,))], text)
    ]
    assert list(d.keywords) == expected
    check = rs.outbound(text)
    assert check.hits == hits
    assert len(check.text) == len(text)
    masked = {i for h in hits for i in range(h.start, h.end)}
    for i, (a, b) in enumerate(zip(text, check.text, strict=True)):
        assert b == ("*" if i in masked else a)


def test_overlapping_mask_spans_from_two_lists() -> None:
    """Overlapping mask hits are masked once; block-list words stay visible but block."""
    a = WordList("a", "a", "custom", ("微信号",), "flag", "mask")
    b = WordList("b", "b", "custom", ("信号",), "flag", "mask")
    c = WordList("c", "c", "custom", ("拼多多",), "flag", "block")
    check = RuleSet.build([a, b, c], [], 1).outbound("我的微信号和信号，拼多多")
    assert check.text == "我的***和**，拼多多"
    assert check.blocked and check.reason_word == "拼多多"
