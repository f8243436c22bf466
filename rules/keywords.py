"""Keyword rules: plain, validated, immutable data, and their compiled index.

A `KeywordRule` matches a customer's message in one of three ways:

- ``exact``: the folded message equals the folded pattern. Folding (`rules.folding`) drops every
  space, punctuation mark, symbol and emoji anywhere in the text and case-folds, so ``人工``
  equals `` 人工！``, ``人 工`` and ``【人工】``; it adds no look-alike or traditional spellings.
- ``contains``: the folded pattern occurs in the folded message (Latin boundary rule of
  `rules.matcher` applies; look-alike digits are accepted). All contains-rules share the single
  automaton scan of the message.
- ``regex``: ``re.search`` on the first `REGEX_INPUT_CAP` characters of the *original* text,
  compiled once; patterns are checked by `rules.regexguard`. A regex runs only if one of its
  required literals (folded) occurs in the message, or if it has none.

Scope: ``platform`` None is global; ``platform`` alone is every account of that platform;
``platform`` + ``account`` is one account. Global and scoped rules compete by priority.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.errors import ConfigError
from gateway.models import Platform
from rules.checks import is_bool, is_id, is_int, is_one_of, is_text, str_items
from rules.folding import fold
from rules.prefilter import required_literals
from rules.regexguard import check_regex

__all__ = [
    "ACTIONS",
    "MATCH_KINDS",
    "REPLY_KINDS",
    "KeywordRule",
    "ReplyContent",
    "sort_rules",
]

MATCH_KINDS = frozenset({"exact", "contains", "regex"})
ACTIONS = frozenset({"auto_reply", "route_bot", "route_human", "tag"})
REPLY_KINDS = frozenset({"text", "image", "card"})
_PLATFORMS = frozenset(p.value for p in Platform)
_REPLY_FIELDS = ("text", "media_id", "title", "description", "url")


@dataclass(frozen=True, slots=True)
class ReplyContent:
    """What an ``auto_reply`` rule answers: ``text`` (text), ``image`` (media_id) or ``card``
    (title and url; description and media_id as thumbnail optional)."""

    kind: str
    text: str | None = None
    media_id: str | None = None
    title: str | None = None
    description: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if not is_one_of(self.kind, REPLY_KINDS):
            raise ConfigError(f"reply kind must be one of {sorted(REPLY_KINDS)}, got {self.kind!r}")
        for name in _REPLY_FIELDS:
            value = getattr(self, name)
            if value is not None and not is_text(value):
                raise ConfigError(f"reply {name} must be a non-empty string or null")
        required = {"text": ("text",), "image": ("media_id",), "card": ("title", "url")}
        for name in required[self.kind]:
            if getattr(self, name) is None:
                raise ConfigError(f"a {self.kind} reply needs {name}")
        if self.url is not None and not self.url.startswith(("https://", "http://")):
            raise ConfigError(f"reply url must be http(s), got {self.url!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReplyContent:
        """Build from plain data; unknown keys are refused."""
        if not isinstance(data, Mapping):
            raise ConfigError("reply must be an object")
        unknown = set(data) - {"kind", *_REPLY_FIELDS}
        if unknown:
            raise ConfigError(f"reply: unknown field(s) {sorted(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """Plain data without the unset fields."""
        out: dict[str, Any] = {"kind": self.kind}
        out.update({k: getattr(self, k) for k in _REPLY_FIELDS if getattr(self, k) is not None})
        return out


@dataclass(frozen=True, slots=True)
class KeywordRule:
    """One keyword rule; lower ``priority`` wins, ties broken by ``id``."""

    id: str
    priority: int
    match: str
    pattern: str
    action: str
    reply: ReplyContent | None = None
    tags: tuple[str, ...] = ()
    platform: str | None = None
    account: str | None = None
    enabled: bool = True

    def __post_init__(self) -> None:
        rid = self.id
        if not is_id(rid):
            raise ConfigError(
                f"keyword rule id {rid!r} must be 1-64 characters of A-Z a-z 0-9 _ . : - "
                "starting with a letter or digit"
            )
        if not is_int(self.priority):
            raise ConfigError(f"keyword rule {rid!r}: priority must be an integer")
        if not is_one_of(self.match, MATCH_KINDS):
            raise ConfigError(f"keyword rule {rid!r}: match must be one of {sorted(MATCH_KINDS)}")
        if not is_one_of(self.action, ACTIONS):
            raise ConfigError(f"keyword rule {rid!r}: action must be one of {sorted(ACTIONS)}")
        if not is_text(self.pattern):
            raise ConfigError(f"keyword rule {rid!r}: pattern must be a non-empty string")
        if self.match == "regex":
            try:
                check_regex(self.pattern)
            except ConfigError as exc:
                raise ConfigError(f"keyword rule {rid!r}: {exc}") from None
        elif not fold(self.pattern):
            raise ConfigError(
                f"keyword rule {rid!r}: pattern {self.pattern!r} has no letters or digits"
            )
        if self.reply is not None and not isinstance(self.reply, ReplyContent):
            raise ConfigError(f"keyword rule {rid!r}: reply must be a ReplyContent")
        if self.action == "auto_reply" and self.reply is None:
            raise ConfigError(f"keyword rule {rid!r}: an auto_reply rule needs a reply")
        if self.action == "tag" and self.reply is not None:
            raise ConfigError(f"keyword rule {rid!r}: a tag rule cannot reply")
        tags = str_items(self.tags)
        if tags is None or not all(is_text(t) and "|" not in t and len(t) <= 64 for t in tags):
            raise ConfigError(
                f"keyword rule {rid!r}: tags must be a list of non-empty strings of at most "
                "64 characters without '|'"
            )
        object.__setattr__(self, "tags", tuple(dict.fromkeys(t.strip() for t in tags)))
        if self.action == "tag" and not self.tags:
            raise ConfigError(f"keyword rule {rid!r}: a tag rule needs at least one tag")
        if self.platform is not None and not is_one_of(self.platform, _PLATFORMS):
            raise ConfigError(
                f"keyword rule {rid!r}: platform must be one of {sorted(_PLATFORMS)} or null"
            )
        if self.account is not None:
            if self.platform is None:
                raise ConfigError(f"keyword rule {rid!r}: an account scope needs a platform")
            if not is_text(self.account):
                raise ConfigError(f"keyword rule {rid!r}: account must be a non-empty string")
        if not is_bool(self.enabled):
            raise ConfigError(f"keyword rule {rid!r}: enabled must be true or false")

    @property
    def sort_key(self) -> tuple[int, str]:
        """Order of precedence: priority, then id."""
        return (self.priority, self.id)

    def applies_to(self, platform: str, account: str) -> bool:
        """True if the rule's scope covers a message of this platform and account."""
        if self.platform is None:
            return True
        return self.platform == platform and (self.account is None or self.account == account)

    def compile(self) -> re.Pattern[str]:
        """For a regex rule: the compiled pattern (checked again; ``re`` caches compilations)."""
        return check_regex(self.pattern)

    def prefilter(self) -> frozenset[str] | None:
        """For a regex rule: literals one of which a matching text contains (None: always run)."""
        return required_literals(self.pattern) if self.match == "regex" else None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KeywordRule:
        """Build from plain data (a JSON object or a store row); unknown keys are refused."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"a keyword rule must be an object, got {type(data).__name__}")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(
                f"keyword rule {data.get('id')!r}: unknown field(s) {sorted(unknown)}"
            )
        for key in ("id", "priority", "match", "pattern", "action"):
            if key not in data:
                raise ConfigError(f"keyword rule {data.get('id')!r}: missing field {key!r}")
        fields = dict(data)
        if fields.get("reply") is not None:
            fields["reply"] = ReplyContent.from_dict(fields["reply"])
        fields["tags"] = fields.get("tags") or ()
        return cls(**fields)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON or a store row; `from_dict` reads it back unchanged."""
        return {
            "id": self.id,
            "priority": self.priority,
            "match": self.match,
            "pattern": self.pattern,
            "action": self.action,
            "reply": None if self.reply is None else self.reply.to_dict(),
            "tags": list(self.tags),
            "platform": self.platform,
            "account": self.account,
            "enabled": self.enabled,
        }


def sort_rules(rules: Iterable[KeywordRule]) -> tuple[KeywordRule, ...]:
    """Enabled rules in order of precedence; duplicate ids (enabled or not) are refused."""
    rules = tuple(rules)
    ids = [r.id for r in rules]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ConfigError(f"duplicate keyword rule id(s): {dup}")
    return tuple(sorted((r for r in rules if r.enabled), key=lambda r: r.sort_key))
