"""Value types shared by the platforms' pure send-API builders (`adapters/*/send.py`): the HTTP
call to make, what a response means, a token grant, and "this surface cannot send that"."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["ApiRequest", "TokenGrant", "Unsupported", "Verdict", "VerdictKind"]

VerdictKind = Literal["ok", "token", "transient", "window_closed", "reply_limit", "rejected"]


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """One HTTP call to make. `params` or `headers` may hold an access token: never log them."""

    method: str
    url: str
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a response means for the message."""

    kind: VerdictKind
    code: int | None = None
    detail: str = ""
    platform_msg_id: str | None = None


@dataclass(frozen=True, slots=True)
class TokenGrant:
    token: str
    expires_in: float


@dataclass(frozen=True, slots=True)
class Unsupported:
    """This surface cannot send this kind of content."""

    detail: str
