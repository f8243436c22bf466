"""The multi-pattern search engine behind `rules.matcher.Matcher`: ahocorasick-rs over UTF-8 bytes.

Chosen by measurement on the project's machine (``bench/results/2026-11-21-matcher.md``,
reproduced by ``bench/bench_rules.py --matchers``): 10,000 random 2-4 character Chinese words,
200-character Chinese messages, quiet machine.

- pyahocorasick 2.3.1 (``Automaton.iter`` on ``str``) needs ≈130 µs per scan, ``iter_long``
  ≈230 µs. This is not a usage artefact: its trie stores a node's children in an array searched
  linearly, and with Chinese text the root has thousands of children. Feeding it UTF-8 bytes
  disguised as Latin-1 text (an alphabet of 256) brings it to ≈15 µs.
- ahocorasick-rs 1.0.3 scans the same text in ≈4.5 µs over bytes (``str`` API ≈5.3 µs because of
  the offset conversion); its contiguous NFA costs ≈2 MB and builds in ≈20 ms, where its DFA is
  ≈0.4 µs faster on plain words, slower on a real rule set, and takes ≈31 MB and ≈80-250 ms per
  version.

UTF-8 is self-synchronising, so a byte match of valid UTF-8 patterns always starts and ends on
character boundaries; `rules.matcher.Scan.spans` converts the byte offsets of the few hits.
"""

from __future__ import annotations

from collections.abc import Sequence

import ahocorasick_rs

__all__ = ["Automaton"]


class Automaton:
    """An immutable set of byte patterns; `scan` returns every (overlapping) occurrence."""

    __slots__ = ("_ac", "size")

    def __init__(self, patterns: Sequence[bytes]) -> None:
        self.size = len(patterns)
        self._ac = (
            ahocorasick_rs.BytesAhoCorasick(
                patterns, implementation=ahocorasick_rs.Implementation.ContiguousNFA
            )
            if patterns
            else None
        )

    def scan(self, haystack: bytes) -> list[tuple[int, int, int]]:
        """``(pattern index, start byte, end byte)`` of every occurrence, overlaps included."""
        if self._ac is None or not haystack:
            return []
        return self._ac.find_matches_as_indexes(haystack, overlapping=True)
