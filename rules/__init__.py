"""Rules stage: keyword rules and sensitive-word filtering, pure and immutable.

Build a `RuleSet` from plain data off the hot path and swap it in with one assignment::

    ruleset = RuleSet.build(word_lists, keyword_rules, version=42)
    decision = ruleset.inbound(message.text, message.platform, message.account)
    check = ruleset.outbound(reply_text)  # blocked? masked text? which word?

Depends only on the standard library, ``ahocorasick_rs`` and `gateway.models` / `gateway.errors`.
See docs/rules.md.
"""

from __future__ import annotations

from rules.engine import InboundDecision, OutboundCheck, RuleSet
from rules.folding import fold, fold_with_map
from rules.keywords import KeywordRule, ReplyContent
from rules.matcher import Hit, Matcher
from rules.regexguard import REGEX_INPUT_CAP
from rules.wordlists import WordList, default_ad_law_list

__all__ = [
    "REGEX_INPUT_CAP",
    "Hit",
    "InboundDecision",
    "KeywordRule",
    "Matcher",
    "OutboundCheck",
    "ReplyContent",
    "RuleSet",
    "WordList",
    "default_ad_law_list",
    "fold",
    "fold_with_map",
]
