"""Bulk import and export of word lists and keyword rules as JSON and CSV.

JSON: a document ``{"word_lists": [...], "keyword_rules": [...]}`` (either key optional) or a bare
array of one kind; objects have the fields of `WordList.to_dict` / `KeywordRule.to_dict`.

CSV (UTF-8, a byte-order mark is ignored, header row required, unknown columns refused):

- word lists, one word per row: ``list,category,word`` required, then optional ``name``,
  ``inbound_action``, ``outbound_action``, ``variants`` (``|``-separated), ``enabled``
  (``true``/``false``), ``version``. List-level columns may be left empty after a list's first
  row; a row that contradicts an earlier one is an error naming the line. A row with an empty
  ``word`` declares a list without adding a word (how an empty list is exported).
- keyword rules, one rule per row: ``id,priority,match,pattern,action`` required, then optional
  ``tags`` (``|``-separated), ``platform``, ``account``, ``enabled``, ``reply_kind``,
  ``reply_text``, ``reply_media_id``, ``reply_title``, ``reply_description``, ``reply_url``.

Every error is a `gateway.errors.ConfigError` naming the line or item. Export, then import,
gives back equal objects.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from gateway.errors import ConfigError
from rules.keywords import KeywordRule
from rules.wordlists import WordList

__all__ = [
    "dump_json",
    "keyword_rules_from_csv",
    "keyword_rules_to_csv",
    "load_json",
    "word_lists_from_csv",
    "word_lists_to_csv",
]

WORD_COLUMNS = ("list", "category", "word", "name", "inbound_action", "outbound_action",
                "variants", "enabled", "version")  # fmt: skip
_LIST_LEVEL = WORD_COLUMNS[3:]
_RAW = frozenset({"pattern", "reply_text", "reply_description"})  # cells kept verbatim
RULE_COLUMNS = ("id", "priority", "match", "pattern", "action", "tags", "platform", "account",
                "enabled", "reply_kind", "reply_text", "reply_media_id", "reply_title",
                "reply_description", "reply_url")  # fmt: skip


def load_json(data: str | bytes) -> tuple[tuple[WordList, ...], tuple[KeywordRule, ...]]:
    """Word lists and keyword rules from a JSON document (see the module docstring)."""
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise ConfigError(f"invalid JSON: {exc}") from exc
    if isinstance(doc, list):
        is_rules = bool(doc) and isinstance(doc[0], dict) and "pattern" in doc[0]
        doc = {"keyword_rules" if is_rules else "word_lists": doc}
    if not isinstance(doc, dict) or set(doc) - {"word_lists", "keyword_rules"}:
        raise ConfigError('JSON must be an array or an object with "word_lists"/"keyword_rules"')
    lists, rules = doc.get("word_lists") or [], doc.get("keyword_rules") or []
    if not isinstance(lists, list) or not isinstance(rules, list):
        raise ConfigError('"word_lists" and "keyword_rules" must be arrays')
    return (
        tuple(_at(f"word_lists[{n}]", WordList.from_dict, d) for n, d in enumerate(lists)),
        tuple(_at(f"keyword_rules[{n}]", KeywordRule.from_dict, d) for n, d in enumerate(rules)),
    )


def dump_json(
    word_lists: Iterable[WordList] = (), keyword_rules: Iterable[KeywordRule] = ()
) -> str:
    """A JSON document that `load_json` reads back into equal objects."""
    doc = {
        "word_lists": [wl.to_dict() for wl in word_lists],
        "keyword_rules": [r.to_dict() for r in keyword_rules],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2)


def _at(where: str, build: Any, data: Any) -> Any:
    try:
        return build(data)
    except TypeError as exc:  # e.g. a wrong type that dataclass construction trips over
        raise ConfigError(f"{where}: {exc}") from exc
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _rows(text: str, required: tuple[str, ...], known: tuple[str, ...]) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header = reader.fieldnames or []
    missing = [c for c in required if c not in header]
    unknown = [c for c in header if c not in known]
    if missing or unknown:
        raise ConfigError(f"CSV header: missing column(s) {missing}, unknown column(s) {unknown}")
    rows = []
    for row in reader:
        if None in row or any(v is None for v in row.values()):
            raise ConfigError(f"CSV line {reader.line_num}: wrong number of cells")
        rows.append({k: v if k in _RAW else v.strip() for k, v in row.items() if k is not None})
    return rows


def _bool(value: str, where: str) -> bool:
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise ConfigError(f"{where}: expected true or false, got {value!r}")


def _int(value: str, where: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{where}: expected an integer, got {value!r}") from None


def word_lists_from_csv(text: str) -> tuple[WordList, ...]:
    """Word lists from CSV, one word per row, in order of first appearance."""
    lists: dict[str, dict[str, Any]] = {}
    for line, row in enumerate(_rows(text, WORD_COLUMNS[:3], WORD_COLUMNS), 2):
        where = f"CSV line {line}"
        list_id = row["list"]
        entry = lists.setdefault(list_id, {"id": list_id, "category": row["category"], "words": []})
        if row["category"] != entry["category"]:
            raise ConfigError(f"{where}: list {list_id!r} has category {entry['category']!r}")
        for col in _LIST_LEVEL:
            raw = row.get(col, "")
            if not raw:
                continue
            value: Any = raw
            if col == "variants":
                value = sorted(v.strip() for v in raw.split("|") if v.strip())
            elif col == "enabled":
                value = _bool(raw, where)
            elif col == "version":
                value = _int(raw, where)
            if entry.setdefault(col, value) != value:
                raise ConfigError(f"{where}: list {list_id!r} has {col} {entry[col]!r} already")
        if row["word"]:  # an empty word declares a list without adding a word
            entry["words"].append(row["word"])
    return tuple(_at(f"list {k!r}", WordList.from_dict, v) for k, v in lists.items())


def word_lists_to_csv(word_lists: Iterable[WordList]) -> str:
    """CSV of all words, list-level columns repeated on every row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(WORD_COLUMNS)
    for wl in word_lists:
        level = [wl.name, wl.inbound_action, wl.outbound_action, "|".join(sorted(wl.variants)),
                 str(wl.enabled).lower(), str(wl.version)]  # fmt: skip
        for word in wl.words or ("",):
            writer.writerow([wl.id, wl.category, word, *level])
    return out.getvalue()


def keyword_rules_from_csv(text: str) -> tuple[KeywordRule, ...]:
    """Keyword rules from CSV, one rule per row."""
    rules = []
    for line, row in enumerate(_rows(text, RULE_COLUMNS[:5], RULE_COLUMNS), 2):
        where = f"CSV line {line}"
        reply = {k[6:]: v for k, v in row.items() if k.startswith("reply_") and v}
        data: dict[str, Any] = {
            "id": row["id"],
            "priority": _int(row["priority"], where),
            "match": row["match"],
            "pattern": row["pattern"],
            "action": row["action"],
            "tags": [t.strip() for t in row.get("tags", "").split("|") if t.strip()],
            "platform": row.get("platform") or None,
            "account": row.get("account") or None,
            "enabled": _bool(row["enabled"], where) if row.get("enabled") else True,
            "reply": reply or None,
        }
        rules.append(_at(where, KeywordRule.from_dict, data))
    return tuple(rules)


def keyword_rules_to_csv(rules: Iterable[KeywordRule]) -> str:
    """CSV of rules, one per row; empty cells for absent values."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(RULE_COLUMNS)
    for r in rules:
        reply = r.reply.to_dict() if r.reply else {}
        writer.writerow(
            [r.id, r.priority, r.match, r.pattern, r.action, "|".join(r.tags), r.platform or "",
             r.account or "", str(r.enabled).lower(), *(reply.get(c[6:], "") for c in
             RULE_COLUMNS[9:])]
        )  # fmt: skip
    return out.getvalue()
