"""Start and stop the systems under test as subprocesses, and never leave one behind.

Every process is started in its own session (process group); `stop_all` (registered with
`atexit` and called on SIGTERM/SIGINT) sends SIGTERM to each group, waits, then SIGKILLs.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

__all__ = ["Server", "free_port", "install_signal_handlers", "start", "stop_all", "track"]

_RUNNING: list[Server] = []


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = 25.0) -> int | None:
        """SIGTERM the process group, wait, SIGKILL what is left; the exit code."""
        if self._stopped:
            return self.proc.returncode
        self._stopped = True
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # stragglers of the group, if any
        except (ProcessLookupError, PermissionError):
            pass
        if self.proc.poll() is None:
            self.proc.wait(5)
        if self in _RUNNING:
            _RUNNING.remove(self)
        return self.proc.returncode

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def track(name: str, proc: subprocess.Popen[bytes], log: Path) -> Server:
    """Register a process started elsewhere (in its own session) for `stop_all`."""
    server = Server(name, proc, 0, log)
    _RUNNING.append(server)
    return server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(
    name: str,
    argv: Sequence[str],
    *,
    port: int,
    log: Path,
    env: Mapping[str, str] | None = None,
    ready_path: str | None = None,
    timeout: float = 60.0,
) -> Server:
    """Start `argv` and wait until it accepts connections on `port` (and, with `ready_path`,
    answers 200 there). Raises RuntimeError with the log's tail if it dies or never gets ready."""
    out = log.open("wb")
    proc = subprocess.Popen(  # noqa: S603 - argv is built by the harness
        list(argv),
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=dict(env) if env is not None else None,
        start_new_session=True,
    )
    out.close()
    server = Server(name, proc, port, log)
    _RUNNING.append(server)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            server.stop()
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{server.tail()}")
        if _ready(port, ready_path):
            return server
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{name} not ready on port {port} after {timeout:.0f} s:\n{server.tail()}")


def _ready(port: int, path: str | None) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
    except OSError:
        return False
    if path is None:
        return True
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
            return int(resp.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def stop_all() -> None:
    for server in list(_RUNNING):
        server.stop(timeout=10)


def install_signal_handlers() -> None:
    """Stop every started server on exit, Ctrl-C or SIGTERM (then exit 130 / 143)."""
    atexit.register(stop_all)

    def handler(signum: int, _frame: FrameType | None) -> None:
        print(f"\nbench: signal {signum}, stopping servers…", file=sys.stderr)
        stop_all()
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
