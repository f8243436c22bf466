"""`Attempt`: what one platform call (with its token handling) came to, platform-neutral."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Attempt", "Outcome"]

#: sent; refused (a definitive no: window, limit, unsupported, other platform codes); transient
#: (worth retrying: 5xx, -1, network, token still refused after one refresh); failed (retrying
#: cannot help until an operator acts: e.g. the account's credentials are refused).
Outcome = Literal["sent", "refused", "transient", "failed"]


@dataclass(frozen=True, slots=True)
class Attempt:
    outcome: Outcome
    reason: str | None = None  #: the receipt reason for refused and failed
    code: int | None = None  #: the platform's code (errcode, error_code or HTTP status)
    detail: str = ""  #: short, never contains message text or secrets
    platform_msg_id: str | None = None
