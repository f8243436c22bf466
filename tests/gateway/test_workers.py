"""The `--workers` supervisor: a stop while workers are still starting is a clean, quick stop."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

# A supervisor of two workers that take `startup` seconds before they install their own
# SIGTERM handler (as a gateway worker spends importing and building its app), then serve
# until told to stop and exit 0. Prints READY once the supervisor's handlers are in place.
SCRIPT = textwrap.dedent(
    """
    import signal, sys, threading, time
    from gateway import workers

    startup = float(sys.argv[1])

    def run_worker(sock):
        time.sleep(startup)
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        stopped.wait(30)
        sys.exit(0)

    real_signal = signal.signal

    def announce(signum, handler):
        result = real_signal(signum, handler)
        if signum == signal.SIGINT:
            print("READY", flush=True)
        return result

    signal.signal = announce
    sys.exit(workers.supervise("127.0.0.1", 0, 2, run_worker, shutdown_timeout=1.0))
    """
)


def _stop_after(startup: float, wait: float, tmp_path: Path) -> tuple[int, float, str]:
    script = tmp_path / "supervisor.py"
    script.write_text(SCRIPT)
    with subprocess.Popen(
        [sys.executable, str(script), str(startup)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    ) as proc:
        assert proc.stdout is not None
        try:
            assert proc.stdout.readline().strip() == "READY"
            time.sleep(wait)
            proc.terminate()
            start = time.monotonic()
            code = proc.wait(timeout=30)
            return code, time.monotonic() - start, proc.stdout.read()
        finally:
            proc.kill()


def test_stop_while_workers_start_is_clean_and_quick(tmp_path: Path) -> None:
    """SIGTERM before the workers installed their handlers: each ends at once (it served
    nothing) and the supervisor exits 0. The workers once ran the supervisor's copied handler
    instead — one crashed ("can only test a child process"), the other ignored the signal and
    was killed after the shutdown deadline — and the supervisor exited 1."""
    code, took, output = _stop_after(startup=5.0, wait=0.5, tmp_path=tmp_path)
    assert "can only test a child process" not in output
    assert code == 0, output
    assert took < 4.0, output  # not the shutdown deadline (1 s + 5 s) and a SIGKILL


def test_stop_of_running_workers_is_graceful(tmp_path: Path) -> None:
    """SIGTERM once the workers serve: each gets it, stops gracefully, the supervisor exits 0."""
    code, took, output = _stop_after(startup=0.1, wait=1.5, tmp_path=tmp_path)
    assert code == 0, output
    assert took < 4.0, output
    assert output.count("exitcode=0") == 2
