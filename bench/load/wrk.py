"""Run wrk with `callbacks.lua` over one segment of a request pool and read its JSON result."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import servers
from .callbacks import OFFSET_STEP

__all__ = ["LUA_SCRIPT", "WrkResult", "run_wrk", "wrk_path", "wrk_version"]

LUA_SCRIPT = Path(__file__).with_name("callbacks.lua")


@dataclass(frozen=True, slots=True)
class WrkResult:
    connections: int
    threads: int
    duration_s: float
    requests: int
    non_2xx: int
    socket_errors: int
    sent: int
    next_line: int  # first pool line no thread of this run can have touched
    wrapped: int
    latency_us: dict[str, float]
    wrk_cpu_s: float
    raw: dict[str, Any]

    @property
    def ok(self) -> int:
        return self.requests - self.non_2xx

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


def wrk_path() -> str | None:
    return shutil.which("wrk")


def wrk_version() -> str:
    path = wrk_path()
    if path is None:
        return "not installed"
    out = subprocess.run([path, "-v"], capture_output=True, text=True, check=False)  # noqa: S603
    return (out.stdout or out.stderr).splitlines()[0].strip()


def run_wrk(
    url: str,
    pool: Path,
    offsets: list[int],
    *,
    start_line: int,
    count: int,
    connections: int,
    duration: float,
    threads: int = 2,
    rate: float = 0.0,
    log: Path,
) -> WrkResult:
    """Load `url` for `duration` seconds with lines [start_line, start_line + count) of the
    pool; `start_line` must be a multiple of OFFSET_STEP. `rate` > 0 paces the whole run to
    about that many requests/s. Raises RuntimeError when wrk fails or prints no result."""
    path = wrk_path()
    if path is None:
        raise RuntimeError("wrk is not installed (apt-get install -y wrk)")
    if start_line % OFFSET_STEP:
        raise ValueError("start_line must be a multiple of OFFSET_STEP")
    threads = max(1, min(threads, connections))
    argv = [
        path,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        url,
        "--",
        str(pool),
        str(offsets[start_line // OFFSET_STEP]),
        str(count),
        str(threads),
        str(rate / threads if rate > 0 else 0),
    ]
    with log.open("ab") as out:
        out.write(("$ " + " ".join(argv) + "\n").encode())
        out.flush()
        proc = subprocess.Popen(  # noqa: S603
            argv, stdout=subprocess.PIPE, stderr=out, start_new_session=True
        )
        tracked = servers.track("wrk", proc, log)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            stdout = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
        finally:
            tracked.stop(timeout=5)
        out.write(stdout.encode())
    line = next((x for x in stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (exit {proc.returncode}); see {log}")
    data: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
    errors = data["errors"]
    return WrkResult(
        connections=connections,
        threads=threads,
        duration_s=data["duration_us"] / 1e6,
        requests=data["requests"],
        non_2xx=errors["status"],
        socket_errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        sent=data["sent"],
        next_line=start_line + threads * data["max_sent_per_thread"],
        wrapped=data["wrapped"],
        latency_us={k: float(v) for k, v in data["latency_us"].items()},
        wrk_cpu_s=usage.ru_utime + usage.ru_stime,
        raw=data,
    )
