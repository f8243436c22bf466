"""Outbound: replies and proactive messages from advisors, bots and the gateway itself go back to
the platforms, within their rules (docs/outbound.md).

Modules: `schema` (``gateway.outbound/1``, ``gateway.receipt/1``), `policy` (binding, sensitive
words, quotas; `OutboundPolicy`, `PolicyBook`, `BindingLookup`), `clients` (HTTP transport around
`adapters.*.send`), `tokens` (access tokens, one refresher per account), `flow` (rate limits,
per-customer lanes, backoff), `process` (one message to a durable outcome), `amqp` (receipts, dead
letters, `enqueue`), `sender` (`OutboundSender`, `start_sender`), `config` (`SenderConfig`).
The shared state lives in `gateway.store.outbound`.
"""

from gateway.outbound.amqp import OutboundNames, enqueue
from gateway.outbound.config import SenderConfig
from gateway.outbound.policy import BindingLookup, OutboundPolicy, PolicyBook
from gateway.outbound.schema import OutboundMessage, Receipt
from gateway.outbound.sender import OutboundSender, start_sender

__all__ = [
    "BindingLookup",
    "OutboundMessage",
    "OutboundNames",
    "OutboundPolicy",
    "OutboundSender",
    "PolicyBook",
    "Receipt",
    "SenderConfig",
    "enqueue",
    "start_sender",
]
