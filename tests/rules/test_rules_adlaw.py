"""The shipped 广告法 lexicon: real violations hit, everyday shop sentences do not."""

from __future__ import annotations

from importlib import resources

import pytest

from rules.folding import fold
from rules.matcher import Matcher
from rules.wordlists import default_ad_law_list, parse_lexicon

AD_LAW = default_ad_law_list(enabled=True)
MATCHER = Matcher.build([AD_LAW])

INNOCENT = [
    "最近有什么活动吗？",
    "最近物流有点慢，能帮我催一下吗",
    "这是最后一件了吗",
    "我是第一次在你们家买",
    "第一天用感觉还不错",
    "最快什么时候发货？",
    "最晚几号能到货",
    "最多能买几件",
    "最少起订量是多少",
    "您最好先拍下，我这边给您改价",
    "首页那款连衣裙还有货吗",
    "首单有优惠吗",
    "首次购买可以用优惠券吗",
    "第一个链接是哪一款",
    "第一件原价，第二件半价",
    "首付多少，能分期吗",
    "我最喜欢这个颜色",
    "最大的尺码是多少",
    "最小号是几码",
    "首先请您提供一下订单号",
    "第一步先点确认收货",
    "我们会第一时间给您发货",
    "最新的物流信息显示已经签收了",
    "这是今年的最新款吗",
    "国家规定七天无理由退货",
    "这款手机是全网通的吗",
    "唯一的问题是尺码偏小",
    "顶部的按钮点不了",
    "世界杯期间有活动吗",
    "最高能便宜多少",
    "最低消费是多少",
    "这个月第一周能到吗",
    "最早明天上午发出",
    "最终价格以结算页为准",
    "第一批预售什么时候发",
    "首发地是哪个仓库",
    "最远能送到哪里",
    "第一次洗的时候会掉色吗",
    "我最近在减肥，这个热量高吗",
    "最后一天能退吗",
    "首页推荐的那个是正品吗",
    "我第一眼就看中了这款",
    "请问你们最近的门店在哪",
    "这是最便宜的那个颜色吗",
    "最好今天能发出",
    "独家代理的授权书能看看吗",
    "我们是国家电网的员工，可以团购吗",
    "发票最迟什么时候开",
    "您好，最多可以优惠十元",
    "第一单下错了，我再拍一单",
]

VIOLATIONS = [
    ("我们家是全网第一的品牌", "全网第一"),
    ("国家级品质，放心购买", "国家级"),
    ("这款是最佳选择", "最佳"),
    ("顶级工艺打造", "顶级"),
    ("独一无二的设计", "独一无二"),
    ("史无前例的优惠力度", "史无前例"),
    ("万能清洁剂，什么都能洗", "万能"),
    ("100%有效，无效退款", "100%有效"),
    ("销量第一，值得信赖", "销量第一"),
    ("行业No.1品牌", "NO.1"),
    ("全国首家专卖店", "全国首家"),
    ("史上最低价，错过再等一年", "史上最"),
    ("全网最低价", "最低价"),
    ("世界领先的技术", "世界领先"),
    ("国家领导人推荐的产品", "国家领导人推荐"),
    ("已开光的貔貅", "已开光"),
    ("这是最高级的面料", "最高级"),
    ("质量免检产品", "质量免检"),
    ("销量冠军单品", "销量冠军"),
    ("全 网 第 一", "全网第一"),
    ("国.家.级", "国家级"),
    ("ＴＯＰ１的品质", "TOP1"),
]


@pytest.mark.parametrize("sentence", INNOCENT)
def test_innocent_everyday_sentences_do_not_hit(sentence: str) -> None:
    """Everyday customer-service sentences with 最/第一/首/国家 raise no ad-law hit."""
    assert MATCHER.find(sentence) == ()


def test_there_are_enough_innocent_sentences() -> None:
    """The innocent set covers at least 40 sentences."""
    assert len(INNOCENT) >= 40


@pytest.mark.parametrize(("sentence", "word"), VIOLATIONS)
def test_violations_hit(sentence: str, word: str) -> None:
    """Real absolute claims (and spaced-out spellings) hit the expected entry."""
    assert word in {h.word for h in MATCHER.find(sentence)}


def test_lexicon_hygiene() -> None:
    """Entries are unique after folding, at least two characters, and the header is dated."""
    text = resources.files("rules").joinpath("data/ad_law_zh.txt").read_text(encoding="utf-8")
    assert "2026-11-21" in text.split("\n\n", 1)[0]
    entries = parse_lexicon(text)
    folded = [fold(e) for e in entries]
    assert len(entries) >= 80
    assert all(len(f) >= 2 for f in folded), [
        e for e, f in zip(entries, folded, strict=True) if len(f) < 2
    ]
    assert len(set(folded)) == len(folded)
    for risky in ("最近", "最后", "第一", "首", "唯一", "最新", "最好", "国家", "最高", "最低"):
        assert fold(risky) not in folded, risky


def test_default_list_is_disabled_unless_asked() -> None:
    """The default lexicon ships disabled; enabled=True and the actions are configurable."""
    off = default_ad_law_list()
    assert not off.enabled and off.category == "ad_law" and off.id == "ad_law"
    assert Matcher.build([off]).find("全网第一") == ()
    on = default_ad_law_list(enabled=True, outbound_action="mask")
    assert on.enabled and on.outbound_action == "mask"
