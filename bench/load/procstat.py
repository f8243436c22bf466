"""Process accounting from /proc: CPU time, RSS and open file descriptors of a process tree.

CPU is utime + stime of every live process in the tree (a worker's own time, not the
`cutime` its parent collects when it is reaped), in seconds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TreeSample", "beam_pid", "cpu_seconds", "sample_tree", "tree_pids"]

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class TreeSample:
    pids: tuple[int, ...]
    cpu_s: float
    rss_bytes: int
    fds: int
    threads: int


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name is in parentheses and may contain spaces: split after the last ')'
    return raw[raw.rindex(")") + 2 :].split()


def tree_pids(root: int) -> list[int]:
    """`root` and all its descendants that are alive now."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if Path(f"/proc/{pid}").exists():
            out.append(pid)
            todo.extend(children.get(pid, ()))
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / _TICK


def sample_tree(root: int) -> TreeSample:
    pids = tree_pids(root)
    rss = fds = threads = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is None:
            continue
        threads += int(fields[17])
        rss += int(fields[21]) * _PAGE
        try:
            fds += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            pass
    return TreeSample(tuple(pids), cpu_seconds(pids), rss, fds, threads)


def beam_pid() -> int | None:
    """The RabbitMQ server's Erlang VM (beam.smp), if it runs on this machine."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            comm = Path(f"/proc/{entry}/comm").read_text().strip()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if comm.startswith("beam") and b"rabbit" in cmdline:
            return int(entry)
    return None
