"""The rule set: one immutable, versioned object that answers for both directions.

``RuleSet.build(word_lists, keyword_rules, version)`` compiles everything once — the words of the
enabled lists, the ``contains`` patterns and regex literals of the keyword rules go into a single
automaton — so that a new version can be built off the hot path and published by one reference
assignment; readers holding the old object keep a consistent view.

Inbound (a customer's message), `RuleSet.inbound`:

- keyword rules of the message's scope (global, platform, platform+account) are matched;
  ``keywords`` lists the ids of all that matched, in order of precedence (priority, then id);
- the winner is the first matching rule whose action is terminal (``auto_reply``, ``route_bot``,
  ``route_human``). ``tag`` rules are not terminal: every matching tag rule adds its tags (the
  winner's tags are added too), and the action is ``tag`` only when no terminal rule matched;
- sensitive words of every enabled list are reported as ``category:word``; a hit of a list whose
  ``inbound_action`` is ``quarantine`` makes the action ``quarantine`` whatever the keywords say
  (no reply is sent to a quarantined message).

Outbound (an advisor's or bot's reply), `RuleSet.outbound`: a hit of a ``block`` list blocks the
message (``reason_word`` is the first such word by position); hits of ``mask`` lists are replaced
by one ``*`` per original character, separators inside the word included.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gateway.errors import ConfigError
from gateway.models import RulesResult
from rules.checks import is_int
from rules.frozen import Frozen
from rules.keywords import KeywordRule, ReplyContent
from rules.kwindex import KeywordIndex
from rules.matcher import Hit, Matcher, terms_from_lists
from rules.wordlists import WordList

__all__ = ["InboundDecision", "OutboundCheck", "RuleSet"]


@dataclass(frozen=True, slots=True)
class InboundDecision:
    """What the rules say about one inbound message.

    ``action`` is one of ``none``, ``auto_reply``, ``route_bot``, ``route_human``, ``tag``,
    ``quarantine``.
    """

    action: str = "none"
    rule_id: str | None = None
    reply: ReplyContent | None = None
    tags: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    sensitive: tuple[str, ...] = ()
    quarantine: bool = False

    def as_rules_result(self) -> RulesResult:
        """The ``rules`` part of a `gateway.models.Message`."""
        action = None if self.action == "none" else self.action
        return RulesResult(self.keywords, self.sensitive, action, self.rule_id)


@dataclass(frozen=True, slots=True)
class OutboundCheck:
    """The verdict on one outbound message: send ``text`` unless ``blocked``."""

    blocked: bool
    text: str
    hits: tuple[Hit, ...] = ()
    reason_word: str | None = None


_NONE = InboundDecision()
_WORDS = frozenset({"word"})
_TERMINAL = frozenset({"auto_reply", "route_bot", "route_human"})


def _decide(
    matched: list[KeywordRule], sensitive: tuple[str, ...], quarantine: bool
) -> InboundDecision:
    terminal = next((r for r in matched if r.action in _TERMINAL), None)
    tags = tuple(
        dict.fromkeys(t for r in matched if r.action == "tag" or r is terminal for t in r.tags)
    )
    keywords = tuple(r.id for r in matched)
    if quarantine:
        return InboundDecision("quarantine", None, None, tags, keywords, sensitive, True)
    if terminal is not None:
        return InboundDecision(
            terminal.action, terminal.id, terminal.reply, tags, keywords, sensitive
        )
    if matched:
        return InboundDecision("tag", matched[0].id, None, tags, keywords, sensitive)
    if sensitive:
        return InboundDecision("none", None, None, (), (), sensitive)
    return _NONE


class RuleSet(Frozen):
    """Word lists and keyword rules of one version, compiled; immutable and thread-safe."""

    __slots__ = ("_idle", "_keywords", "_labels", "_mask", "_matcher", "_n_words", "_quarantine",
                 "keyword_rules", "version", "word_lists")  # fmt: skip
    version: int  #: the store's revision this set was built from (0: `empty`)
    word_lists: tuple[WordList, ...]  #: as given, disabled ones included
    keyword_rules: tuple[KeywordRule, ...]  #: enabled rules in order of precedence
    _keywords: KeywordIndex
    _matcher: Matcher
    _n_words: int
    _labels: tuple[str, ...]
    _quarantine: tuple[bool, ...]
    _mask: frozenset[str]
    _idle: bool

    def __init__(self, word_lists: tuple[WordList, ...], keywords: KeywordIndex, version: int):
        ids = [wl.id for wl in word_lists]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise ConfigError(f"duplicate word list id(s): {dup}")
        if not is_int(version) or version < 0:
            raise ConfigError(f"rule set version must be a non-negative integer, got {version!r}")
        lists = {wl.id: wl for wl in word_lists}
        word_terms = terms_from_lists(word_lists)
        matcher = Matcher.from_terms(word_terms + keywords.terms)
        self._init(
            version=version,
            word_lists=word_lists,
            keyword_rules=keywords.rules,
            _keywords=keywords,
            _matcher=matcher,
            _n_words=len(word_terms),
            _labels=tuple(f"{t.category}:{t.word}" for t in word_terms),
            _quarantine=tuple(lists[t.owner].inbound_action == "quarantine" for t in word_terms),
            _mask=frozenset(wl.id for wl in word_lists if wl.outbound_action == "mask"),
            _idle=matcher.size == 0 and keywords.idle,
        )

    @classmethod
    def build(
        cls, word_lists: Iterable[WordList], keyword_rules: Iterable[KeywordRule], version: int
    ) -> RuleSet:
        """Compile a version; raises `ConfigError` on duplicate ids or invalid data."""
        return cls(tuple(word_lists), KeywordIndex(keyword_rules), version)

    @classmethod
    def empty(cls) -> RuleSet:
        """Version 0: nothing matches, nothing is blocked (start-up before the store is read)."""
        return cls((), KeywordIndex(()), 0)

    @property
    def matcher(self) -> Matcher:
        """The compiled automaton (words, contains patterns and regex literals)."""
        return self._matcher

    def inbound(self, text: str | None, platform: str, account: str) -> InboundDecision:
        """Keyword and sensitive-word decision for a customer's message (None: not a text)."""
        if not text or self._idle:
            return _NONE
        scan = self._matcher.scan(text)
        sensitive: dict[str, None] = {}
        quarantine = False
        found: set[int] = set()
        if scan.matches:  # only messages with hits pay for the bookkeeping below
            n_words, term_rules, labels = self._n_words, self._keywords.term_rules, self._labels
            words = []
            for term, start, end in scan.matches:
                if term < n_words:
                    words.append((start, end, labels[term]))
                    quarantine = quarantine or self._quarantine[term]
                else:
                    found.add(term_rules[term - n_words])
            sensitive = dict.fromkeys(label for _s, _e, label in sorted(words))
        matched = self._keywords.evaluate(text, scan.folded, found, platform, account)
        if not matched and not sensitive:
            return _NONE
        return _decide(matched, tuple(sensitive), quarantine)

    def outbound(self, text: str) -> OutboundCheck:
        """Block or mask an advisor's or bot's message before it is sent."""
        if not text or not self._n_words:
            return OutboundCheck(False, text)
        scan = self._matcher.scan(text)
        if not any(term < self._n_words for term, _s, _e in scan.matches):
            return OutboundCheck(False, text)
        hits = self._matcher.hits(scan, _WORDS)
        reason = next((h.word for h in hits if h.list_id not in self._mask), None)
        return OutboundCheck(reason is not None, self._masked(text, hits), hits, reason)

    def _masked(self, text: str, hits: tuple[Hit, ...]) -> str:
        """``text`` with one ``*`` per character of every mask-list hit (hits sorted by start)."""
        parts: list[str] = []
        done = 0  # text[:done] is already in parts
        for h in hits:
            if h.list_id in self._mask and h.end > done:
                start = max(h.start, done)
                parts.append(text[done:start])
                parts.append("*" * (h.end - start))
                done = h.end
        return "".join(parts) + text[done:] if parts else text
