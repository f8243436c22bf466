"""Routing: a normalized Message and its rules decision → `Route` and routing key.

Before advisors exist (a later release binds customers to advisors):

- quarantined by an inbound sensitive-word list → ``quarantine.<platform>``;
- order, aftersale and other events → ``event.<platform>.<type>``;
- customer messages → ``bot.<platform>``, with the reason saying why: ``no_advisor`` by default,
  or the keyword rule's action (``auto_reply``, ``route_bot``, ``route_human``).
"""

from __future__ import annotations

import re

from gateway.models import Kind, Message, Route, RouteTarget
from rules.engine import InboundDecision

__all__ = ["advisor_key", "route", "routing_key"]

_UNSAFE = re.compile(r"[^a-z0-9_-]+")
_EVENT_KINDS = {Kind.EVENT, Kind.ORDER, Kind.AFTERSALE}
_RULE_REASONS = {"auto_reply", "route_bot", "route_human"}


def route(message: Message, decision: InboundDecision | None = None) -> Route:
    """Decide where a message goes."""
    if decision is not None and decision.quarantine:
        return Route(RouteTarget.QUARANTINE, reason="sensitive_word")
    if message.kind in _EVENT_KINDS:
        return Route(RouteTarget.EVENT, reason=message.kind.value)
    if decision is not None and decision.action in _RULE_REASONS:
        return Route(RouteTarget.BOT, reason=decision.action)
    return Route(RouteTarget.BOT, reason="no_advisor")


def routing_key(message: Message, route: Route) -> str:
    """The topic routing key of DESIGN.md for `route`."""
    platform = message.platform.value
    if route.target is RouteTarget.ADVISOR:
        return advisor_key(route.advisor_id or "unknown")
    if route.target is RouteTarget.EVENT:
        event_type = message.event.type if message.event else message.kind.value
        return f"event.{platform}.{_word(event_type)}"
    return f"{route.target.value}.{platform}"


def advisor_key(advisor_id: str) -> str:
    """The routing key of an advisor's messages (``advisor.<id>``, the id as one topic word)."""
    return f"advisor.{_word(advisor_id)}"


def _word(value: str) -> str:
    """One topic word: lower-case, no dots or wildcards."""
    return _UNSAFE.sub("_", value.lower()).strip("_") or "unknown"
