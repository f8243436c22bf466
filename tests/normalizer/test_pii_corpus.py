"""Span-level precision and recall per kind on the labelled corpus (tests/fixtures/pii/corpus.tsv).

A predicted span is a true positive when it overlaps a labelled span of the same kind; a label is
found when a predicted span of its kind overlaps it. The test fails if recall < 0.99 or precision
< 0.98 for phone, id_card, bank_card or email. Run with ``-s`` to see the table.
"""

from __future__ import annotations

import csv
import functools
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest

from normalizer.pii import PiiKind, PiiMasker

CORPUS = Path(__file__).parent.parent / "fixtures" / "pii" / "corpus.tsv"
GATED = ("phone", "id_card", "bank_card", "email")
MIN_RECALL = 0.99
MIN_PRECISION = 0.98


@dataclass(frozen=True)
class Row:
    text: str  # NFKC, as the pipeline hands it to the masker
    labels: tuple[tuple[str, int, int], ...]  # (kind, start, end) in `text`
    raw: str


@dataclass
class Score:
    predicted_ok: int = 0
    predicted_wrong: int = 0
    labels_found: int = 0
    labels_missed: int = 0

    @property
    def precision(self) -> float:
        total = self.predicted_ok + self.predicted_wrong
        return self.predicted_ok / total if total else 1.0

    @property
    def recall(self) -> float:
        total = self.labels_found + self.labels_missed
        return self.labels_found / total if total else 1.0


def load_corpus() -> list[Row]:
    """The corpus with every label located in the NFKC text (a missing label is a corpus bug)."""
    rows = []
    with CORPUS.open(encoding="utf-8", newline="") as f:
        for record in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            text = unicodedata.normalize("NFKC", record["text"])
            labels = []
            for label in filter(None, record["labels"].split(";")):
                kind, _, value = label.partition(":")
                value = unicodedata.normalize("NFKC", value)
                start = text.find(value)
                assert kind in {k.value for k in PiiKind} and start >= 0, (record, label)
                labels.append((kind, start, start + len(value)))
            rows.append(Row(text, tuple(labels), record["text"]))
    return rows


ROWS = load_corpus()


@functools.cache
def score() -> tuple[dict[str, Score], list[str]]:
    """Per-kind scores of the default (shape) masker, and a line per error."""
    masker = PiiMasker()
    scores = {kind: Score() for kind in GATED}
    errors = []
    for row in ROWS:
        spans = [(s.kind.value, s.start, s.end) for s in masker.detect(row.text)]
        for kind, start, end in spans:
            hit = any(k == kind and start < e and s < end for k, s, e in row.labels)
            sc = scores.setdefault(kind, Score())
            if hit:
                sc.predicted_ok += 1
            else:
                sc.predicted_wrong += 1
                errors.append(f"false {kind}: {row.text[start:end]!r} in {row.raw!r}")
        for kind, start, end in row.labels:
            hit = any(k == kind and start < e and s < end for k, s, e in spans)
            sc = scores.setdefault(kind, Score())
            if hit:
                sc.labels_found += 1
            else:
                sc.labels_missed += 1
                errors.append(f"missed {kind}: {row.text[start:end]!r} in {row.raw!r}")
    return scores, errors


def table(scores: dict[str, Score]) -> str:
    """The per-kind table printed by the test."""
    lines = [f"{'kind':<10} {'labels':>6} {'found':>6} {'spans':>6} {'recall':>7} {'precision':>9}"]
    for kind, sc in scores.items():
        lines.append(
            f"{kind:<10} {sc.labels_found + sc.labels_missed:>6} {sc.labels_found:>6} "
            f"{sc.predicted_ok + sc.predicted_wrong:>6} {sc.recall:>7.3f} {sc.precision:>9.3f}"
        )
    return "\n".join(lines)


def test_corpus_is_big_and_varied() -> None:
    """≥300 rows, ≥120 hard negatives, every gated kind well represented, tricky spellings in."""
    negatives = [r for r in ROWS if not r.labels]
    assert len(ROWS) >= 300
    assert len(negatives) >= 120
    per_kind = {kind: sum(1 for r in ROWS for k, _, _ in r.labels if k == kind) for kind in GATED}
    assert min(per_kind.values()) >= 40, per_kind
    raw = "".join(r.raw for r in ROWS if r.labels)
    for needle in ("１", "+86", "一", "壹", "\u200b", "0086", "(021)", "X"):
        assert needle in raw, needle
    assert len({r.raw[:4] for r in ROWS}) >= 100  # not one template repeated


@pytest.mark.parametrize("kind", GATED)
def test_precision_and_recall(kind: str) -> None:
    """Recall ≥ 0.99 and precision ≥ 0.98 for each free-text kind (table shown with -s)."""
    scores, errors = score()
    report = table(scores) + ("\n" + "\n".join(errors) if errors else "")
    if kind == GATED[0]:
        print("\n" + report)
    sc = scores[kind]
    assert sc.recall >= MIN_RECALL and sc.precision >= MIN_PRECISION, report
