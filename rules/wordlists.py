"""Sensitive-word lists: plain, validated, immutable data.

A `WordList` is what a store row, a JSON document or a CSV import produces. Every list applies to
both directions: ``inbound_action`` says what a customer's message containing one of its words
does (``flag``: recorded in ``rules.sensitive``; ``quarantine``: routed to ``quarantine.*``), and
``outbound_action`` what an advisor's or bot's reply does (``block``: not sent, the receipt names
the word; ``mask``: sent with the word replaced by ``*``).

Invalid data raises `gateway.errors.ConfigError` naming the list and the offending field.
`default_ad_law_list` loads the shipped 广告法 lexicon (``rules/data/ad_law_zh.txt``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from gateway.errors import ConfigError
from rules.checks import is_bool, is_id, is_int, is_one_of, is_text, str_items
from rules.folding import fold

__all__ = [
    "AD_LAW_LIST_ID",
    "CATEGORIES",
    "INBOUND_ACTIONS",
    "MAX_WORDS_PER_LIST",
    "MAX_WORD_LENGTH",
    "OUTBOUND_ACTIONS",
    "VARIANT_OPTIONS",
    "WordList",
    "default_ad_law_list",
    "parse_lexicon",
]

CATEGORIES = frozenset({"competitor", "policy", "ad_law", "abuse", "custom"})
INBOUND_ACTIONS = frozenset({"flag", "quarantine"})
OUTBOUND_ACTIONS = frozenset({"block", "mask"})
VARIANT_OPTIONS = frozenset({"traditional"})
MAX_WORDS_PER_LIST = 100_000
MAX_WORD_LENGTH = 64  # characters of the folded word
AD_LAW_LIST_ID = "ad_law"


def _check_choice(list_id: str, name: str, value: object, allowed: frozenset[str]) -> None:
    if not is_one_of(value, allowed):
        raise ConfigError(
            f"word list {list_id!r}: {name} must be one of {sorted(allowed)}, got {value!r}"
        )


def _clean_words(list_id: str, words: object) -> tuple[str, ...]:
    items = str_items(words)
    if items is None:
        raise ConfigError(f"word list {list_id!r}: words must be a list of strings")
    seen: dict[str, None] = {}
    for n, raw in enumerate(items, 1):
        word = raw.strip()
        folded = fold(word)
        if not folded:
            raise ConfigError(
                f"word list {list_id!r}: word #{n} {word!r} has no letters or digits "
                "(punctuation, spaces and emoji are ignored when matching)"
            )
        if len(folded) > MAX_WORD_LENGTH:
            raise ConfigError(
                f"word list {list_id!r}: word #{n} is longer than {MAX_WORD_LENGTH} characters"
            )
        seen.setdefault(word)
    if len(seen) > MAX_WORDS_PER_LIST:
        raise ConfigError(f"word list {list_id!r}: more than {MAX_WORDS_PER_LIST} words")
    return tuple(seen)


@dataclass(frozen=True, slots=True)
class WordList:
    """One list of sensitive words with its actions; immutable and validated on creation.

    ``words`` keeps the spellings as listed (stripped, deduplicated, order kept); matching folds
    them. ``variants`` may contain ``"traditional"``. ``version`` is the store's revision of the
    list (any non-negative integer).
    """

    id: str
    name: str
    category: str
    words: tuple[str, ...]
    inbound_action: str = "flag"
    outbound_action: str = "block"
    variants: frozenset[str] = field(default_factory=frozenset)
    enabled: bool = True
    version: int = 1

    def __post_init__(self) -> None:
        if not is_id(self.id):
            raise ConfigError(
                f"word list id {self.id!r} must be 1-64 characters of A-Z a-z 0-9 _ . : - "
                "starting with a letter or digit"
            )
        if not is_text(self.name):
            raise ConfigError(f"word list {self.id!r}: name must be a non-empty string")
        _check_choice(self.id, "category", self.category, CATEGORIES)
        _check_choice(self.id, "inbound_action", self.inbound_action, INBOUND_ACTIONS)
        _check_choice(self.id, "outbound_action", self.outbound_action, OUTBOUND_ACTIONS)
        options = str_items(self.variants)
        if options is None:
            raise ConfigError(f"word list {self.id!r}: variants must be a list of strings")
        variants = frozenset(options)
        for option in variants:
            _check_choice(self.id, "variant", option, VARIANT_OPTIONS)
        if not is_bool(self.enabled):
            raise ConfigError(f"word list {self.id!r}: enabled must be true or false")
        if not is_int(self.version) or self.version < 0:
            raise ConfigError(f"word list {self.id!r}: version must be a non-negative integer")
        object.__setattr__(self, "variants", variants)
        object.__setattr__(self, "words", _clean_words(self.id, self.words))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WordList:
        """Build from plain data (a JSON object or a store row); unknown keys are refused."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"a word list must be an object, got {type(data).__name__}")
        unknown = set(data) - set(cls.__dataclass_fields__)
        list_id = data.get("id")
        if unknown:
            raise ConfigError(f"word list {list_id!r}: unknown field(s) {sorted(unknown)}")
        for key in ("id", "category", "words"):
            if key not in data:
                raise ConfigError(f"word list {list_id!r}: missing field {key!r}")
        fields = dict(data)
        fields.setdefault("name", list_id)
        fields["variants"] = fields.get("variants") or ()
        return cls(**fields)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON or a store row; `from_dict` reads it back unchanged."""
        return {
            "id": self.id,
            "name": self.name,
            "category": self.category,
            "words": list(self.words),
            "inbound_action": self.inbound_action,
            "outbound_action": self.outbound_action,
            "variants": sorted(self.variants),
            "enabled": self.enabled,
            "version": self.version,
        }


def parse_lexicon(text: str) -> tuple[str, ...]:
    """Entries of a lexicon file: one per line, ``#`` comments and blank lines ignored."""
    entries = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return tuple(e for e in entries if e)


def default_ad_law_list(
    *,
    enabled: bool = False,
    inbound_action: str = "flag",
    outbound_action: str = "block",
    list_id: str = AD_LAW_LIST_ID,
    version: int = 1,
) -> WordList:
    """The shipped 广告法 absolute-terms lexicon as a list, disabled unless ``enabled=True``."""
    text = resources.files("rules").joinpath("data/ad_law_zh.txt").read_text(encoding="utf-8")
    return WordList(
        id=list_id,
        name="广告法绝对化用语（默认词库）",
        category="ad_law",
        words=parse_lexicon(text),
        inbound_action=inbound_action,
        outbound_action=outbound_action,
        enabled=enabled,
        version=version,
    )
