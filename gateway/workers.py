"""`kefu-gateway serve --workers N`: N gateway processes sharing one listening socket.

The supervisor binds the socket, starts N worker processes that each run the whole gateway on
it (the kernel spreads connections), forwards SIGTERM/SIGINT so every worker shuts down
gracefully, and restarts a worker that dies unexpectedly (with a back-off). Metrics are merged
across workers through prometheus-client's multiprocess mode (a private directory in
``PROMETHEUS_MULTIPROC_DIR``). Workers share state only through the store and RabbitMQ, so use
PostgreSQL (``GATEWAY_DATABASE_URL``) for more than one worker.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from types import FrameType

import structlog

__all__ = ["MULTIPROC_ENV", "exit_with_parent", "supervise"]

log = structlog.get_logger("gateway.workers")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus-client when it is imported

_RESTART_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def supervise(
    host: str,
    port: int,
    workers: int,
    run_worker: Callable[[socket.socket], None],
    shutdown_timeout: float,
) -> int:
    """Run `workers` processes of `run_worker(sock)` until SIGTERM/SIGINT; 0 on a clean stop."""
    sock = socket.create_server((host, port), reuse_port=False, backlog=1024)
    sock.set_inheritable(True)
    metrics_dir = tempfile.mkdtemp(prefix="kefu-metrics-")
    os.environ[MULTIPROC_ENV] = metrics_dir  # before prometheus-client is first imported
    from prometheus_client import multiprocess

    context = multiprocessing.get_context("fork")
    stopping = threading.Event()
    procs: list[BaseProcess | None] = [None] * workers

    def start(slot: int) -> None:
        proc = context.Process(target=_worker, args=(run_worker, sock), name=f"kefu-worker-{slot}")
        # A SIGTERM arriving while the worker forks would run `stop` before the worker is in
        # `procs` (it would never be told to stop); held back, it runs once it is.
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            proc.start()
            procs[slot] = proc
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        log.info("worker.started", slot=slot, pid=proc.pid)

    def stop(signum: int, _frame: FrameType | None) -> None:
        stopping.set()
        for proc in procs:
            if proc is not None and proc.pid is not None and proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        for slot in range(workers):
            if not stopping.is_set():
                start(slot)
        restarts = [0] * workers
        while not stopping.wait(0.2):
            for slot, proc in enumerate(procs):
                if proc is not None and not stopping.is_set() and not proc.is_alive():
                    if proc.pid is not None:
                        multiprocess.mark_process_dead(proc.pid)  # type: ignore[no-untyped-call]
                    delay = _RESTART_BACKOFF[min(restarts[slot], len(_RESTART_BACKOFF) - 1)]
                    log.error("worker.died", slot=slot, exitcode=proc.exitcode, restart_in=delay)
                    time.sleep(delay)
                    restarts[slot] += 1
                    start(slot)
        deadline = time.monotonic() + shutdown_timeout + 5
        started = [proc for proc in procs if proc is not None]
        for proc in started:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join()
            log.info("worker.exited", pid=proc.pid, exitcode=proc.exitcode)
        # Ended by the SIGTERM it was sent before it could install its own handler: it was
        # still starting, served nothing, and stopped as asked.
        return 0 if all(p.exitcode in (0, -signal.SIGTERM) for p in started) else 1
    finally:
        sock.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _worker(run_worker: Callable[[socket.socket], None], sock: socket.socket) -> None:
    """A worker process's first steps: the supervisor's signal handlers, copied by the fork,
    must never run here (they would act on the supervisor's copies of its siblings), so SIGTERM
    and SIGINT get their default action — end the process — until aiohttp installs its
    graceful one; then the signals the supervisor held back during the fork are let through."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    run_worker(sock)


def exit_with_parent(grace: float, poll: float = 1.0) -> None:
    """In a worker: shut down gracefully (SIGTERM to itself) if the supervisor disappears, so a
    killed supervisor never leaves orphaned workers holding the port. A SIGTERM that lands
    while the worker is still starting can be lost, so it is repeated every `grace` seconds,
    and the worker is killed if it is still there after three tries."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll)
        for _ in range(3):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(grace)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
