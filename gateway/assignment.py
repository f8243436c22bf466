"""Advisor routing (the C-SA-B model of 服务号对话能力): who gets a customer's message.

For each message, after the rules stage:

1. quarantined → ``quarantine.<platform>``;
2. events → ``event.<platform>.<type>``; a ``subscribe``/``scan`` carrying an advisor or group QR
   scene first binds the customer (advisor scene: that advisor; group scene: a random online
   advisor of the group with room, offline ones if no online one has room);
3. a bound customer → ``advisor.<id>``; if that advisor is offline, the advisor's offline
   auto-reply is queued at most once per customer per window and the advisor app is notified;
4. an unbound customer asking for a human (a ``route_human`` keyword rule or a handoff keyword of
   the settings) is bound within the default group; with auto-assign on, every new customer is;
5. otherwise ``bot.<platform>``.

A new binding queues the advisor's (or the global) welcome message on ``kefu.outbound`` and
notifies ``event.gateway.customer_bound``. Customer ids and bindings are cached per process;
every change is announced on ``kefu.control`` (topic ``advisors``) and drops the cached entry in
every process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from gateway.models import Kind, Message, Route, RouteTarget
from gateway.outbound.schema import OutboundMessage, TextContent
from gateway.routing import route as rules_route
from gateway.store.advisors import AdvisorStore
from gateway.store.bindings import BindingStore, BindResult, Bound, CustomerRef, Outcome
from rules.engine import InboundDecision

__all__ = ["CONTROL_TOPIC", "AdvisorRouter", "AdvisorSettings", "Effects"]

log = structlog.get_logger("gateway.assignment")

CONTROL_TOPIC = "advisors"
_EVENT_KINDS = {Kind.EVENT, Kind.ORDER, Kind.AFTERSALE}
_SCENE_EVENTS = {"subscribe", "scan"}
_CACHE_LIMIT = 200_000


@dataclass(frozen=True, slots=True)
class AdvisorSettings:
    """The merchant's advisor settings (one document in the store, via /api/v1/settings)."""

    auto_assign: bool = False
    default_group: str | None = None
    handoff_keywords: tuple[str, ...] = ("人工", "转人工", "人工客服")
    welcome: str | None = None
    offline_reply_window: int = 12 * 3600

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> AdvisorSettings:
        known = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        if "handoff_keywords" in known:
            known["handoff_keywords"] = tuple(known["handoff_keywords"])
        return cls(**known)

    def to_doc(self) -> dict[str, Any]:
        return {
            "auto_assign": self.auto_assign,
            "default_group": self.default_group,
            "handoff_keywords": list(self.handoff_keywords),
            "welcome": self.welcome,
            "offline_reply_window": self.offline_reply_window,
        }


@dataclass(frozen=True, slots=True)
class Effects:
    """How routing reaches the outside: queue a reply, notify advisor apps, announce a change."""

    reply: Callable[[OutboundMessage], Awaitable[None]]
    notify: Callable[[str, dict[str, Any]], Awaitable[None]]
    announce: Callable[[str], Awaitable[None]]


@dataclass
class _Cache:
    handles: dict[tuple[str, str, str], str] = field(default_factory=dict)
    bound: dict[str, Bound | None] = field(default_factory=dict)
    settings: AdvisorSettings | None = None

    def remember(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        if len(table) >= _CACHE_LIMIT:
            table.clear()
        table[key] = value


class AdvisorRouter:
    def __init__(self, advisors: AdvisorStore, bindings: BindingStore, effects: Effects) -> None:
        self._advisors = advisors
        self._bindings = bindings
        self._effects = effects
        self._cache = _Cache()

    async def invalidate(self, _version: int, key: str | None) -> None:
        """Drop cached state: one customer's binding (`key`) or everything (None)."""
        if key is None:
            self._cache.bound.clear()
            self._cache.settings = None
        else:
            self._cache.bound.pop(key, None)

    async def expire(self) -> None:
        """Drop every cached binding and the settings (the periodic safety net)."""
        await self.invalidate(0, None)

    async def route(self, message: Message, decision: InboundDecision) -> Route:
        if decision.quarantine:
            return Route(RouteTarget.QUARANTINE, reason="sensitive_word")
        ref = CustomerRef(
            message.platform.value,
            message.account,
            message.customer.id,
            message.customer.union_id,
            message.customer.nickname,
        )
        if message.kind in _EVENT_KINDS:
            event = message.event
            if event and event.type in _SCENE_EVENTS and event.key and ref.external_id:
                await self._scene(message, ref, event.key)
            return rules_route(message, decision)
        customer_id = await self._resolve(ref)
        bound = await self._bound(customer_id)
        if bound is None:
            bound = await self._maybe_assign(message, customer_id, decision)
        if bound is None:
            return rules_route(message, decision)
        if not bound.online:
            await self._offline(message, customer_id, bound)
        return Route(RouteTarget.ADVISOR, reason="bound", advisor_id=bound.advisor_id)

    # steps ----------------------------------------------------------------------------------

    async def _scene(self, message: Message, ref: CustomerRef, scene: str) -> None:
        target = await self._advisors.scene(scene)
        if target is None:
            return
        kind, target_id = target
        customer_id = await self._resolve(ref)
        if kind == "advisor":
            result = await self._bindings.bind(customer_id, target_id, "scene", scene=scene)
        else:
            result = await self._bindings.bind_to_group(
                customer_id, target_id, "group_scene", scene=scene
            )
        await self._after_bind(message, customer_id, result, kind + "_scene")

    async def _maybe_assign(
        self, message: Message, customer_id: str, decision: InboundDecision
    ) -> Bound | None:
        settings = await self._settings()
        if settings.default_group is None:
            return None
        wants_human = decision.action == "route_human" or any(
            word in (message.text or "") for word in settings.handoff_keywords
        )
        if not (wants_human or settings.auto_assign):
            return None
        source = "handoff" if wants_human else "auto"
        result = await self._bindings.bind_to_group(customer_id, settings.default_group, source)
        await self._after_bind(message, customer_id, result, source)
        return await self._bound(customer_id) if result.bound else None

    async def _after_bind(
        self, message: Message, customer_id: str, result: BindResult, source: str
    ) -> None:
        if result.outcome is Outcome.NO_CAPACITY:
            log.warning("assignment.no_capacity", source=source, message_id=message.id)
            return
        if result.outcome is not Outcome.BOUND or result.advisor_id is None:
            return
        self._cache.bound.pop(customer_id, None)
        await self._effects.announce(customer_id)
        await self._effects.notify(
            "customer_bound",
            {
                "advisor_id": result.advisor_id,
                "customer_id": customer_id,
                "source": source,
                "platform": message.platform.value,
                "account": message.account,
            },
        )
        bound = await self._bound(customer_id)
        welcome = (bound.welcome if bound else None) or (await self._settings()).welcome
        if welcome:
            await self._effects.reply(_reply(message, f"welcome:{message.id}", welcome))

    async def _offline(self, message: Message, customer_id: str, bound: Bound) -> None:
        await self._effects.notify(
            "offline_message",
            {
                "advisor_id": bound.advisor_id,
                "customer_id": customer_id,
                "message_id": message.id,
                "platform": message.platform.value,
                "account": message.account,
            },
        )
        if not bound.offline_reply:
            return
        window = (await self._settings()).offline_reply_window
        if await self._bindings.claim_offline_reply(customer_id, bound.advisor_id, window):
            await self._effects.reply(_reply(message, f"offline:{message.id}", bound.offline_reply))

    # cached lookups ---------------------------------------------------------------------------

    async def _resolve(self, ref: CustomerRef) -> str:
        key = (ref.platform, ref.account, ref.external_id)
        found = self._cache.handles.get(key)
        if found is None:
            found = await self._bindings.resolve(ref)
            self._cache.remember(self._cache.handles, key, found)
        return found

    async def _bound(self, customer_id: str) -> Bound | None:
        if customer_id in self._cache.bound:
            return self._cache.bound[customer_id]
        bound = await self._bindings.bound(customer_id)
        self._cache.remember(self._cache.bound, customer_id, bound)
        return bound

    async def _settings(self) -> AdvisorSettings:
        if self._cache.settings is None:
            _revision, doc = await self._advisors.settings()
            self._cache.settings = AdvisorSettings.from_doc(doc)
        return self._cache.settings


def _reply(message: Message, request_id: str, text: str) -> OutboundMessage:
    """A `gateway.outbound/1` text reply from the system to the message's customer."""
    return OutboundMessage(
        request_id=request_id,
        sender="system",
        platform=message.platform.value,
        account=message.account,
        customer=message.customer.id,
        kind="text",
        content=TextContent(text=text),
        in_reply_to=message.id,
    )
