"""Starting senders against the fake platform and a private topology, with test-sized timings."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.outbound import OutboundSender, PolicyBook, SenderConfig, start_sender
from gateway.outbound.policy import BindingLookup
from rules.engine import RuleSet
from tests.outbound.conftest import RULES, Bindings, Bus, accounts_for

FAST: dict[str, Any] = {
    "backoff_base": 0.005,
    "backoff_cap": 0.02,
    "http_timeout": 3.0,
    "busy_poll": 0.05,
    "rate_per_second": 0.0,
    "publish_timeout": 5.0,
}


@asynccontextmanager
async def running(
    bus: Bus,
    engine: AsyncEngine,
    base: str,
    *,
    bindings: BindingLookup | None = None,
    rules: Callable[[], RuleSet] = lambda: RULES,
    policies: dict[str, Any] | None = None,
    **config: Any,
) -> AsyncIterator[OutboundSender]:
    """A started sender consuming `bus`'s queue; closed (drained) on exit."""
    settings = SenderConfig(
        names=bus.names,
        policies=PolicyBook.parse(policies or {}),
        **{**FAST, **config},
    )
    sender = await start_sender(
        bus.connection,
        engine,
        accounts_for(base),
        rules,
        bindings or Bindings(),
        settings,
        rng=random.Random(1),
    )
    try:
        yield sender
    finally:
        await sender.close(timeout=10.0)
