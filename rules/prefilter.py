"""Prefilters for regex keyword rules: when can a regex be skipped without running it?

Running every regex rule on every message would dominate the rules stage (``re.search`` costs
≈20-25 ns per character and per pattern). Two sound shortcuts, both derived from the parse tree:

- `required_literals`: substrings one of which occurs in every text the pattern matches. Their
  foldings go into the message automaton; folding is per character, so a literal that occurs in
  the text has its folding in the folded text, and case-insensitive patterns are covered because
  folding case-folds. The regex runs only if one was found.
- `required_class`: for patterns without literals (``\\d{11}``), a character class one of whose
  characters must occur; a one-class search (``[\\d]``, which ``re`` scans with its fast
  character-set skip) decides whether to run the pattern. Guards are shared between rules.

Both only descend into parts of the pattern that must match (not into optional repeats, branches
or lookarounds), and `required_class` stops at groups that change flags.
"""

from __future__ import annotations

import re
from typing import Any

from rules.folding import fold
from rules.regexguard import name_of, parse

__all__ = ["required_class", "required_literals"]

_REPEATS = frozenset({"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"})
_CATEGORY_SOURCE = {
    "CATEGORY_DIGIT": r"\d", "CATEGORY_NOT_DIGIT": r"\D", "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S", "CATEGORY_WORD": r"\w", "CATEGORY_NOT_WORD": r"\W",
}  # fmt: skip


def _items(sub: Any) -> list[tuple[str, Any]]:
    return [(name_of(op), av) for op, av in sub]


def _literal_sets(sub: Any) -> list[frozenset[str]]:
    """Candidate requirements of a sequence: each a set of strings one of which must occur."""
    out: list[frozenset[str]] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            out.append(frozenset({"".join(run)}))
            run.clear()

    for name, av in _items(sub):
        if name == "LITERAL":
            run.append(chr(av))
            continue
        if name in ("SUBPATTERN", "ATOMIC_GROUP"):
            inner = _items(av[-1])
            if all(n == "LITERAL" for n, _ in inner):
                run.extend(chr(v) for _, v in inner)
                continue
            flush()
            out.extend(_literal_sets(av[-1]))
            continue
        flush()
        if name == "BRANCH":
            per_branch = [_best(b) for b in av[1]]
            if all(per_branch):
                out.append(frozenset().union(*[b for b in per_branch if b]))
        elif name in _REPEATS and av[0] >= 1:
            out.extend(_literal_sets(av[2]))
    flush()
    return out


def _best(sub: Any) -> frozenset[str] | None:
    """The most selective requirement: longest shortest folded literal, then fewest options."""
    best: frozenset[str] | None = None
    best_key = (0, 0)
    for option in _literal_sets(sub):
        folded = [fold(s) for s in option]
        if not all(folded):
            continue
        key = (min(len(f) for f in folded), -len(option))
        if key > best_key:
            best, best_key = option, key
    return best


def required_literals(pattern: str) -> frozenset[str] | None:
    """Strings one of which occurs in every text the pattern matches, or None if none is known.

    Literals are taken as written; the caller compares their foldings with the folded text, which
    also covers case-insensitive patterns because folding case-folds.
    """
    return _best(parse(pattern))


def _class_source(name: str, av: Any) -> str | None:
    """Regex source of a one-character item, or None if it is not one (or matches anything)."""
    if name == "LITERAL":
        return re.escape(chr(av))
    if name == "NOT_LITERAL":
        return "[^" + re.escape(chr(av)) + "]"
    if name == "CATEGORY":
        return _CATEGORY_SOURCE.get(name_of(av))
    if name != "IN":
        return None
    parts: list[str] = []
    for op, arg in av:
        kind = name_of(op)
        if kind == "NEGATE":
            parts.insert(0, "^")
        elif kind == "LITERAL":
            parts.append(re.escape(chr(arg)))
        elif kind == "RANGE":
            parts.append(re.escape(chr(arg[0])) + "-" + re.escape(chr(arg[1])))
        elif kind == "CATEGORY" and name_of(arg) in _CATEGORY_SOURCE:
            parts.append(_CATEGORY_SOURCE[name_of(arg)])
        else:
            return None
    return "[" + "".join(parts) + "]"


def _mandatory_classes(sub: Any) -> list[str]:
    out = []
    for name, av in _items(sub):
        if name == "SUBPATTERN" and not av[1] and not av[2]:  # a group that keeps the flags
            out.extend(_mandatory_classes(av[-1]))
        elif name in _REPEATS and av[0] >= 1 and len(av[2]) == 1:
            out.extend(_mandatory_classes(av[2]))
        else:
            source = _class_source(name, av)
            if source is not None:
                out.append(source)
    return out


def required_class(pattern: str) -> tuple[str, int] | None:
    """A one-character regex (source and flags) that must match somewhere in any text the
    pattern matches, preferring positive classes; None if none is known."""
    parsed = parse(pattern)
    classes = _mandatory_classes(parsed)
    if not classes:
        return None
    positive = [c for c in classes if not c.startswith(("[^", "\\D", "\\S", "\\W"))]
    return (positive or classes)[0], parsed.state.flags
