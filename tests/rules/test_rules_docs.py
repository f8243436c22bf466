"""docs/rules.md stays true: its examples import and evaluate as written."""

from __future__ import annotations

import re
from pathlib import Path

from rules import io

DOC = (Path(__file__).resolve().parents[2] / "docs" / "rules.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", DOC, re.S)


def test_csv_and_json_examples_import() -> None:
    """Every CSV and JSON example of the docs is accepted by the importers."""
    kinds = [lang for lang, _ in BLOCKS]
    assert kinds.count("csv") == 2 and kinds.count("json") == 2
    for lang, body in BLOCKS:
        if lang == "csv" and body.startswith("list,"):
            assert io.word_lists_from_csv(body)
        elif lang == "csv":
            assert io.keyword_rules_from_csv(body)
        elif lang == "json":
            lists, rules = io.load_json("[" + body + "]")
            assert lists or rules


def test_python_example_results_are_the_documented_ones() -> None:
    """The Python example's commented results are what the code returns."""
    (source,) = [body for lang, body in BLOCKS if lang == "python"]
    namespace: dict[str, object] = {}
    statements: list[str] = []
    checks: list[tuple[str, str]] = []
    for line in source.splitlines():
        m = re.match(r"(ruleset\..+?)\s+# '([^']*)'", line)
        if m:
            checks.append((m.group(1), m.group(2)))
        else:
            statements.append(line)
    exec("\n".join(statements), namespace)  # noqa: S102 - the documented example itself
    assert len(checks) == 4
    for expression, expected in checks:
        assert str(eval(expression, namespace)) == expected, expression  # noqa: S307
