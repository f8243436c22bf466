"""Typed application-state keys (`web.AppKey`), so mypy knows what `app[KEY]` holds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aio_pika.abc import AbstractRobustConnection
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.base import Adapter
from gateway.accounts import Accounts
from gateway.broker.control import ControlBus
from gateway.broker.publisher import LinkPublisher
from gateway.ingest import Ingest
from gateway.mass.dead_letters import DeadLetters
from gateway.mass.model import MassConfig
from gateway.mass.service import MassService
from gateway.metrics import Metrics
from gateway.models import Platform
from gateway.outbound.sender import OutboundSender
from gateway.rules_state import RulesState
from gateway.settings import Settings
from gateway.store.advisors import AdvisorStore
from gateway.store.bindings import BindingStore
from gateway.store.dedup import DedupStore
from gateway.store.outbound import OutboundStore
from gateway.store.outbox import OutboxStore
from gateway.store.records import RecordsStore
from gateway.store.rules import RulesStore
from gateway.store.stats import StatsStore
from gateway.tmc import TmcClient

__all__ = [
    "ACCOUNTS",
    "ADAPTERS",
    "ADVISOR_STORE",
    "BINDING_STORE",
    "CONNECTION",
    "CONTROL",
    "DEAD_LETTERS",
    "DEDUP",
    "ENGINE",
    "INGEST",
    "MASS",
    "MASS_CONFIG",
    "METRICS",
    "NOTIFY",
    "OUTBOUND_SENDER",
    "OUTBOUND_STORE",
    "OUTBOX",
    "PUBLISHER",
    "RECORDS",
    "RULES",
    "RULES_STORE",
    "SETTINGS",
    "STATS",
    "TMC_CLIENTS",
    "Notify",
]

SETTINGS = web.AppKey("settings", Settings)
ACCOUNTS = web.AppKey("accounts", Accounts)
ADAPTERS = web.AppKey("adapters", Mapping[tuple[Platform, str], Adapter])
ENGINE = web.AppKey("engine", AsyncEngine)
DEDUP = web.AppKey("dedup", DedupStore)
OUTBOX = web.AppKey("outbox", OutboxStore)
RECORDS = web.AppKey("records", RecordsStore)
STATS = web.AppKey("stats", StatsStore)
OUTBOUND_STORE = web.AppKey("outbound_store", OutboundStore)
OUTBOUND_SENDER = web.AppKey("outbound_sender", OutboundSender)
RULES_STORE = web.AppKey("rules_store", RulesStore)
RULES = web.AppKey("rules", RulesState)
ADVISOR_STORE = web.AppKey("advisor_store", AdvisorStore)
BINDING_STORE = web.AppKey("binding_store", BindingStore)
CONNECTION = web.AppKey("connection", AbstractRobustConnection)
# the webhook path's publishing link (its own AMQP connection: gateway.broker.link)
PUBLISHER = web.AppKey("publisher", LinkPublisher)
CONTROL = web.AppKey("control", ControlBus)
INGEST = web.AppKey("ingest", Ingest)
METRICS = web.AppKey("metrics", Metrics)
TMC_CLIENTS = web.AppKey("tmc_clients", list[TmcClient])
MASS = web.AppKey("mass", MassService)
MASS_CONFIG = web.AppKey("mass_config", MassConfig)  #: optional; set before start-up
DEAD_LETTERS = web.AppKey("dead_letters", DeadLetters)

Notify = Callable[[str, dict[str, Any]], Awaitable[None]]
NOTIFY: web.AppKey[Notify] = web.AppKey("notify")
