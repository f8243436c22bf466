"""Validation of keyword-rule regular expressions: refuse what can backtrack catastrophically.

Python's ``re`` backtracks, so a pattern is checked when a rule is created, using the standard
library's own parser (``re._parser``):

- refused: nested variable quantifiers (``(a+)+``, ``(\\d{1,3})*``) and quantified alternations
  (``(a|aa)*``) — exponential backtracking; backreferences and conditionals; patterns longer than
  `MAX_PATTERN_LENGTH`;
- refused: patterns whose *estimated* worst-case work exceeds `MAX_STEPS`. The estimate
  multiplies the number of lengths each quantifier can take (``*`` and ``+`` count as
  `REGEX_INPUT_CAP`, ``{2,5}`` as 4, ``{11}`` as 1) along a chain of items whose characters can
  overlap — a one-character repeat followed by a disjoint item (``\\s*\\d``) ends a chain and
  adds instead — and multiplies by `REGEX_INPUT_CAP` start positions. One unbounded quantifier
  passes (``订单.*号``, ``订单号[:：]?\\s*\\d{6,20}``); two overlapping ones do not (``.*a.*b``:
  write ``a.{0,50}b``);
- at run time regex rules only see the first `REGEX_INPUT_CAP` characters of a message.

Prefilters (`rules.prefilter`) decide when a regex needs to run at all.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

from gateway.errors import ConfigError
from rules.checks import is_text

__all__ = [
    "MAX_PATTERN_LENGTH",
    "MAX_STEPS",
    "REGEX_INPUT_CAP",
    "check_regex",
    "parse",
]

REGEX_INPUT_CAP = 512  # characters of a message that regex rules see
MAX_STEPS = 2_000_000  # estimated backtracking budget per search (≈ 10-20 ms of CPU at worst)
MAX_PATTERN_LENGTH = 1000

_parser: Any = importlib.import_module("re._parser")
_REPEATS = frozenset({"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"})
_GROUPS = frozenset({"SUBPATTERN", "ATOMIC_GROUP", "ASSERT", "ASSERT_NOT"})
_REFUSED = frozenset({"GROUPREF", "GROUPREF_EXISTS", "GROUPREF_IGNORE", "GROUPREF_LOC_IGNORE"})


def parse(pattern: str) -> Any:
    """The standard library's parse tree of a pattern (``re._parser.parse``)."""
    return _parser.parse(pattern)


def name_of(op: object) -> str:
    """The name of a parse-tree opcode, such as ``LITERAL`` or ``MAX_REPEAT``."""
    return str(getattr(op, "name", op))


def _name(op: object) -> str:
    return str(getattr(op, "name", op))


def _items(sub: Any) -> list[tuple[str, Any]]:
    return [(_name(op), av) for op, av in sub]


def _backtracks(sub: Any) -> bool:
    """True if the subpattern contains a variable-length repeat or an alternation."""
    for name, av in _items(sub):
        if name in _REPEATS:
            low, high, body = av
            if low != high or _backtracks(body):
                return True
        elif name == "BRANCH" or (name in _GROUPS and _backtracks(av[-1])):
            return True
    return False


_SINGLE = frozenset({"LITERAL", "NOT_LITERAL", "ANY", "IN", "CATEGORY"})
_PROBE = "".join(map(chr, range(256))) + "　\u2028\u200b中文字号一二三٠٩۰０１９ａｚＡＺ：，。！？"
_CATEGORIES: dict[str, Callable[[str], bool]] = {
    "CATEGORY_DIGIT": str.isdecimal,
    "CATEGORY_SPACE": str.isspace,
    "CATEGORY_WORD": lambda c: c.isalnum() or c == "_",
}


def _anything(ch: str) -> bool:
    return True


def _in_category(cat: str, ch: str) -> bool:
    """Membership in a ``\\d \\s \\w`` category; unknown ones (line breaks...) match anything."""
    if cat.startswith("CATEGORY_NOT_"):
        return not _CATEGORIES.get("CATEGORY_" + cat[13:], _anything)(ch)
    return _CATEGORIES.get(cat, _anything)(ch)


def _variants(ch: str) -> list[str]:
    return [c for c in (ch, ch.lower(), ch.upper()) if len(c) == 1]


def _single_matches(name: str, av: Any, ch: str) -> bool:
    """Whether a single-character op can match ``ch`` (case variants count: over-approximate)."""
    if name == "LITERAL":
        return chr(av) in _variants(ch)
    if name in ("NOT_LITERAL", "ANY"):
        return True
    if name == "CATEGORY":
        return _in_category(_name(av), ch)
    negate = False
    hit = False
    for op, arg in av:  # IN
        kind = _name(op)
        if kind == "NEGATE":
            negate = True
        elif kind == "LITERAL":
            hit = hit or _single_matches("LITERAL", arg, ch)
        elif kind == "RANGE":
            hit = hit or any(arg[0] <= ord(c) <= arg[1] for c in _variants(ch))
        elif kind == "CATEGORY":
            hit = hit or _in_category(_name(arg), ch)
        else:
            return True
    return hit != negate


def _charset(item: tuple[str, Any], probe: str, first: bool) -> frozenset[str] | None:
    """Probe characters a single-character item (or, if ``first``, a mandatory repeat of one)
    can match; None if the item is anything else."""
    name, av = item
    if first and name in _REPEATS and av[0] >= 1:
        body = _items(av[2])
        if len(body) == 1:
            return _charset(body[0], probe, False)
        return None
    if name not in _SINGLE:
        return None
    return frozenset(c for c in probe if _single_matches(name, av, c))


def _mentioned(node: Any, out: list[str]) -> None:
    """Collect the characters a parse tree names (literals, range ends) to extend the probe."""
    if isinstance(node, (list, tuple)) or type(node).__name__ == "SubPattern":
        items = list(node)
        if len(items) == 2 and _name(items[0]) in ("LITERAL", "NOT_LITERAL"):
            out.append(chr(items[1]))
        elif len(items) == 2 and _name(items[0]) == "RANGE":
            out.extend(chr(v) for v in items[1])
        else:
            for child in items:
                _mentioned(child, out)


def _cost(sub: Any, pattern: str, probe: str) -> int:
    """Estimated backtracking factor: quantifier choices multiply along a chain of items whose
    characters overlap; a single-character repeat followed by a disjoint item ends a chain."""
    items = _items(sub)
    total, chain = 0, 1
    for k, (name, av) in enumerate(items):
        factor = 1
        if name in _REFUSED:
            raise ConfigError(f"regex {pattern!r}: backreferences are not allowed")
        if name in _REPEATS:
            low, high, body = av
            if _backtracks(body):
                raise ConfigError(
                    f"regex {pattern!r}: nested quantifiers or a quantified alternation "
                    "can backtrack exponentially; use a character class or a bounded repeat"
                )
            choices = min(high, REGEX_INPUT_CAP) - min(low, REGEX_INPUT_CAP) + 1
            factor = max(choices, 1) * _cost(body, pattern, probe)
            body_items = _items(body)
            if len(body_items) == 1 and k + 1 < len(items):
                own = _charset(body_items[0], probe, False)
                following = _charset(items[k + 1], probe, True)
                if own is not None and following is not None and not own & following:
                    total, chain = total + chain * factor, 1
                    continue
        elif name == "BRANCH":
            factor = max(_cost(b, pattern, probe) for b in av[1])
        elif name in _GROUPS:
            factor = _cost(av[-1], pattern, probe)
        chain = min(chain * factor, MAX_STEPS * 1000)
    return total + chain


def check_regex(pattern: str) -> re.Pattern[str]:
    """Compile a rule regex or raise `ConfigError` saying why it is refused."""
    if not is_text(pattern):
        raise ConfigError("regex must be a non-empty string")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ConfigError(f"regex is longer than {MAX_PATTERN_LENGTH} characters")
    try:
        compiled = re.compile(pattern)
        parsed = _parser.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise ConfigError(f"regex {pattern!r} does not compile: {exc}") from exc
    mentioned: list[str] = []
    _mentioned(parsed, mentioned)
    probe = "".join(dict.fromkeys(_PROBE + "".join(mentioned)))
    steps = _cost(parsed, pattern, probe) * REGEX_INPUT_CAP
    if steps > MAX_STEPS:
        raise ConfigError(
            f"regex {pattern!r} may backtrack too much (estimated {steps:,} steps on "
            f"{REGEX_INPUT_CAP} characters, limit {MAX_STEPS:,}): use at most one unbounded "
            "quantifier (* + {n,}) and bounded repeats such as .{0,30} elsewhere"
        )
    return compiled
