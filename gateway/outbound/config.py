"""`SenderConfig`: the sender's knobs (the lead maps ``GATEWAY_OUTBOUND_*`` settings onto it)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from gateway.outbound.amqp import OutboundNames
from gateway.outbound.policy import PolicyBook

__all__ = ["SenderConfig"]


class SenderConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    prefetch: int = Field(default=32, ge=1, le=1000)  #: messages in flight per process
    rate_per_second: float = Field(default=10.0, ge=0)  #: per account and process; 0: unlimited
    burst: float = Field(default=10.0, ge=1)
    account_rates: dict[str, float] = Field(default_factory=dict)  #: "platform:account" -> rate
    attempts: int = Field(default=5, ge=1, le=20)  #: platform calls before dead-lettering
    backoff_base: float = Field(default=0.5, gt=0)  #: seconds; full jitter, doubling
    backoff_cap: float = Field(default=30.0, gt=0)
    http_timeout: float = Field(default=10.0, gt=0)  #: per platform call
    publish_timeout: float = Field(default=5.0, gt=0)  #: receipt / dead-letter confirms
    token_margin: float = Field(default=300.0, ge=0)  #: refresh tokens this early
    request_ttl: float = Field(default=30 * 86400.0, gt=0)  #: how long request_ids are kept
    claim_stale_after: float | None = Field(default=None, gt=0)  #: None: derived, see below
    busy_poll: float = Field(default=0.5, gt=0)
    purge_interval: float = Field(default=300.0, gt=0)
    policies: PolicyBook = Field(default_factory=PolicyBook.defaults)
    names: OutboundNames = OutboundNames()

    @property
    def stale_after(self) -> float:
        """When another sender may take over an unfinished request: longer than any send."""
        if self.claim_stale_after is not None:
            return self.claim_stale_after
        return self.attempts * (4 * self.http_timeout + self.backoff_cap) + 60.0
