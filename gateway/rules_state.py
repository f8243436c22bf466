"""The process's current `RuleSet`: loaded from the store, rebuilt off the event loop, swapped by
one reference assignment, and kept current through ``kefu.control`` announcements plus a periodic
revision check (which repairs a lost announcement).
"""

from __future__ import annotations

import asyncio

import structlog

from gateway.errors import ConfigError, StoreError
from gateway.store.rules import RulesStore
from rules.engine import RuleSet

__all__ = ["CONTROL_TOPIC", "RulesState"]

log = structlog.get_logger("gateway.rules")

CONTROL_TOPIC = "rules"


class RulesState:
    def __init__(self, store: RulesStore) -> None:
        self._store = store
        self._current = RuleSet.empty()
        self._lock = asyncio.Lock()

    @property
    def current(self) -> RuleSet:
        return self._current

    def __call__(self) -> RuleSet:
        return self._current

    async def reload(self, revision: int | None = None) -> bool:
        """Rebuild if the store's revision differs from the loaded one; True if swapped."""
        if revision is not None and revision == self._current.version:
            return False
        async with self._lock:
            if await self._store.revision() == self._current.version:
                return False
            version, lists, rules = await self._store.snapshot()
            try:
                built = await asyncio.to_thread(RuleSet.build, lists, rules, version)
            except ConfigError as exc:
                log.error("rules.invalid_in_store", revision=version, error=str(exc))
                return False
            self._current = built
        log.info("rules.loaded", revision=version, word_lists=len(lists), keyword_rules=len(rules))
        return True

    async def watch(self, interval: float) -> None:
        """Re-check the revision every `interval` seconds, forever (a background task)."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reload()
            except StoreError as exc:
                log.warning("rules.check_failed", error=str(exc))
