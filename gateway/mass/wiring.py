"""`mass_ctx`: the application's cleanup context for mass sends and dead letters.

Registered after the broker's context (it needs ``app[CONNECTION]`` and ``app[ENGINE]``), so it
is torn down first. Knobs come from ``app[MASS_CONFIG]`` when set before start-up (tests,
embedders), else `MassConfig` defaults; the reply-window length for ``skip_recent`` comes from
the same ``GATEWAY_OUTBOUND_POLICY`` the sender uses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from gateway.keys import CONNECTION, DEAD_LETTERS, ENGINE, MASS, MASS_CONFIG, SETTINGS
from gateway.mass.dead_letters import DeadLetters
from gateway.mass.model import MassConfig
from gateway.mass.service import MassService
from gateway.outbound.policy import PolicyBook
from normalizer.normalize import nfkc
from normalizer.pii import PiiMasker

__all__ = ["mass_ctx"]


async def mass_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    config = app.get(MASS_CONFIG) or MassConfig()
    masker = PiiMasker()

    def mask(text: str) -> str:
        return masker.mask_text(nfkc(text))[0]

    app[DEAD_LETTERS] = DeadLetters(
        app[CONNECTION],
        mask=mask,
        queue=config.dead_queue,
        publish_timeout=settings.publish_timeout,
    )
    app[MASS] = service = await MassService.start(
        app[CONNECTION],
        app[ENGINE],
        policies=PolicyBook.from_json(settings.outbound_policy),
        config=config,
    )
    try:
        yield
    finally:
        await service.close()
