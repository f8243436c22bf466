"""The lines of a harness request pool (`bench.load.callbacks`), read back as wrk sends them."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

Query = dict[str, tuple[str, ...]]


def pool_requests(path: Path) -> list[tuple[str, Query, bytes]]:
    """Each line's path, query (every value of each key) and body."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        target, body = line.split("\t", 1)
        parts = urlsplit(target)
        query = {k: tuple(v) for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        out.append((parts.path, query, body.encode()))
    return out
