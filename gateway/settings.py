"""Infrastructure settings from `GATEWAY_*` environment variables (the only module that reads them).

Read once in the CLI and passed explicitly to `create_app(settings)`; tests construct
`Settings(...)` directly. Secrets are `SecretStr`, so they never show in `repr`, logs or tracebacks.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Everything that is infrastructure; merchant data lives in the store and the accounts file."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    amqp_url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    database_url: SecretStr = SecretStr("sqlite+aiosqlite:///./kefu-gateway.db")
    admin_token: SecretStr | None = None
    pii_key: SecretStr | None = None
    config: Path | None = None

    workers: int = Field(default=1, ge=1, le=64, description="processes for `serve`")
    publish_timeout: float = Field(default=3.0, gt=0, description="seconds to wait for a confirm")
    shutdown_timeout: float = Field(default=20.0, gt=0)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    max_json_depth: int = Field(default=32, ge=2)
    replay_window: int = Field(default=300, ge=0, description="seconds; 0 disables the check")
    outbox_max: int = Field(default=100_000, ge=0, description="0 disables the local outbox")
    dedup_ttl: int = Field(
        default=6 * 3600, ge=60, description="seconds a callback id is remembered"
    )
    records_retention_days: float = Field(default=30, gt=0)
    outbound_enabled: bool = True
    outbound_prefetch: int = Field(default=32, ge=1, le=1000)
    outbound_rate: float = Field(default=10.0, ge=0, description="API calls/s per account")
    outbound_burst: float = Field(default=10.0, ge=1)
    outbound_attempts: int = Field(default=5, ge=1, le=20)
    outbound_backoff_base: float = Field(default=0.5, gt=0)
    outbound_backoff_cap: float = Field(default=30.0, gt=0)
    outbound_http_timeout: float = Field(default=10.0, gt=0)
    outbound_policy: str | None = Field(default=None, description="JSON: per-platform policy")
    log_format: str = Field(default="json", pattern="^(json|console)$")
    event_loop: str = Field(
        default="uvloop", pattern="^(uvloop|asyncio)$", description="the event loop `serve` runs"
    )
    log_level: str = Field(default="info", pattern="^(debug|info|warning|error)$")

    @field_validator("config", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value
