"""Folding: canonical form, separator removal, look-alikes and the map back to the original."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.folding import (
    char_image,
    fold,
    fold_bytes,
    fold_with_map,
    is_separator,
    original_starts,
)
from rules.reference import reference_fold

# Characters a fuzzer should mix: Chinese, Latin, digits, full-width forms, homoglyphs,
# separators of every kind, combining marks, emoji and astral letters.
MIXED = st.text(
    alphabet=st.sampled_from(
        list("微信加我淘宝發发abcxyzABCXYZ0189%")
        + list("ｗｅｉＸＩＮ１％")
        + list("аеорсхΑΟΡі")
        + list(" .,-_*|/~，。！？、【】…\n\t")
        + ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u3000", "\u0301"]
        + ["😊", "❤", "𝐰", "𠀀", "ß", "ﬁ", "İ", "ǅ", "½", "①"]
    ),
    max_size=60,
)


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("微.信", "微信"),
        ("微 信", "微信"),
        ("微\u200b信", "微信"),
        ("微\u200c\u200d\u2060\ufeff\u00ad信", "微信"),
        ("微-信_加*我", "微信加我"),
        ("ｗｅｉｘｉｎ", "weixin"),
        ("WeiXin", "weixin"),
        ("wēixìn", "weixin"),
        ("Ԝеіхіп", "weixin"),
        ("ⓦⓔⓘⓧⓘⓝ", "weixin"),
        ("𝐰𝐞𝐢𝐱𝐢𝐧", "weixin"),
        ("ΟΚ", "ok"),
        ("微❤信😊", "微信"),
        ("100％有效", "100%有效"),
        ("电话١٣٨", "电话138"),
        ("【人工】！", "人工"),
    ],
)
def test_fold_known_evasions(text: str, folded: str) -> None:
    """Each listed evasion folds to the plain spelling."""
    assert fold(text) == folded


def test_digits_are_not_turned_into_letters() -> None:
    """Folding keeps numbers intact: look-alike digits are handled on the word side."""
    assert fold("订单100件") == "订单100件"
    assert fold("w0rd") == "w0rd"


def test_index_map_points_at_original_characters() -> None:
    """Each folded character maps to the original index it came from."""
    folded, starts = fold_with_map("加 微.信ﬁ")
    assert folded == "加微信fi"
    assert starts == [0, 2, 4, 5, 5]


def test_separator_classification() -> None:
    """Spaces, punctuation, zero-width characters and emoji are separators; letters are not."""
    for ch in " .，。\u200b\ufeff\u00ad😊❤*_-":
        assert is_separator(ch), repr(ch)
    for ch in "微a1%":
        assert not is_separator(ch), repr(ch)


def test_images_are_fixed_points_over_the_bmp() -> None:
    """Folding is idempotent: every character of an image folds to itself (whole BMP)."""
    for cp in range(0x10000):
        if 0xD800 <= cp < 0xE000:
            continue
        for c in char_image(chr(cp)):
            assert char_image(c) == c, (hex(cp), c)


def test_folded_text_has_no_separators_or_marks() -> None:
    """A folded text holds only letters, numbers and '%'."""
    sample = "".join(chr(cp) for cp in range(0x20, 0x3000, 7))
    for c in fold(sample):
        assert c == "%" or unicodedata.category(c)[0] in "LN", repr(c)


@settings(max_examples=300, deadline=None, database=None)
@given(MIXED)
def test_fast_fold_equals_per_character_definition(text: str) -> None:
    """The hot-path fold and index map agree with folding one character at a time."""
    folded, starts = reference_fold(text)
    assert fold_bytes(text) == folded.encode("utf-8", "surrogatepass")
    assert fold_with_map(text) == (folded, starts)
    assert all(0 <= s < len(text) for s in starts)


@settings(max_examples=200, deadline=None, database=None)
@given(MIXED, MIXED)
def test_fold_is_per_character(a: str, b: str) -> None:
    """fold(a + b) == fold(a) + fold(b): what lets a hit map back to an exact span."""
    assert fold(a + b) == fold(a) + fold(b)


@settings(max_examples=100, deadline=None, database=None)
@given(st.text(max_size=40))
def test_fold_accepts_any_text(text: str) -> None:
    """Any Unicode text, lone surrogates included, folds without error and idempotently."""
    once = fold(text)
    assert fold(once) == once


def test_lone_surrogates_are_dropped() -> None:
    """A lone surrogate (from a broken JSON escape) is a separator, not a crash."""
    assert fold("微\ud800信") == "微信"
    assert fold_with_map("微\ud800信") == ("微信", [0, 2])


@settings(max_examples=150, deadline=None, database=None)
@given(MIXED, st.integers(min_value=0, max_value=80))
def test_partial_index_map_is_a_prefix(text: str, upto: int) -> None:
    """A map computed only up to an offset is a prefix of the full map that covers it."""
    full = original_starts(text)
    part = original_starts(text, upto)
    assert full[: len(part)] == part
    assert len(part) > upto or part == full
