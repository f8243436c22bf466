"""structlog configuration, done once by the CLI: JSON lines (or console), request context from
contextvars, and a last-line-of-defence PII masking processor before rendering.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO, cast

import orjson
import structlog
from structlog.typing import Processor

from gateway.log_stream import LoopBatchedStream

__all__ = ["configure_logging", "log_context"]

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def configure_logging(
    *,
    level: str = "info",
    fmt: str = "json",
    mask: Processor | None = None,
    cache: bool = True,
    stream: TextIO | LoopBatchedStream | None = None,
) -> None:
    """Configure structlog and route stdlib logging (aiohttp, aio-pika, alembic) through it.

    `cache=False` keeps loggers re-configurable (tests: structlog's `capture_logs` and
    `reset_defaults` do not reach loggers cached on first use). `stream` defaults to stderr.
    """
    # PrintLogger and StreamHandler only write, flush (and ask isatty): a LoopBatchedStream will do.
    out = sys.stderr if stream is None else cast(TextIO, stream)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        _drop_color_message,
        structlog.processors.format_exc_info,
    ]
    if mask is not None:
        shared.append(mask)
    # Level and time are added after masking: the gateway writes them, they hold no one's data.
    shared += [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer(serializer=_orjson_text)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=cache,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(_LEVELS[level], logging.INFO))
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


class log_context:
    """``with log_context(key=value):`` binds context for every log line inside, and restores
    what was there before on exit. structlog's `bound_contextvars` does the same but copies the
    whole context to find what to restore (tens of µs per webhook); the tokens of
    `bind_contextvars` restore it directly."""

    __slots__ = ("_tokens", "_values")

    def __init__(self, **values: Any) -> None:
        self._values = values
        self._tokens: Mapping[str, Any] = {}

    def __enter__(self) -> None:
        self._tokens = structlog.contextvars.bind_contextvars(**self._values)

    def __exit__(self, *_exc: object) -> None:
        structlog.contextvars.reset_contextvars(**self._tokens)


def _drop_color_message(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    event_dict.pop("color_message", None)
    return event_dict


def _orjson_text(obj: Any, **kw: Any) -> str:
    """structlog's JSON serializer: orjson (UTF-8, ≈ 10× faster than `json.dumps`), with
    structlog's fallback (``repr``) for what orjson cannot encode; dict keys need not be str."""
    return orjson.dumps(obj, default=kw.get("default"), option=orjson.OPT_NON_STR_KEYS).decode()
