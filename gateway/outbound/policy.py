"""The policy guard: who may send what to whom, and how often (DESIGN.md "Outbound rules").

Checks, in this order, for every outbound request (the first refusal wins; nothing is consumed by
a refused request):

1. binding — an advisor (``sender = advisor:<id>``) may not message a customer who is bound to
   another advisor (`BindingLookup`); bots and ``system`` (welcome / offline replies) may;
2. merchant sensitive words — `RuleSet.outbound` over every human-readable field (text, link
   title and description, card title): a ``block`` list hit refuses with ``sensitive_word`` and the
   word, ``mask`` list hits are sent with the word replaced by ``*``;
3. quota — consumed atomically in the store (`gateway.store.outbound.OutboundStore`): a reply
   (``proactive: false``) needs the customer's reply window open and a free reply in it; a
   proactive message takes a message of the current touch or starts one of the customer's monthly
   touches (calendar months in Asia/Shanghai time).

`OutboundPolicy` holds the numbers; `PolicyBook` resolves them per account: built-in platform
defaults, overridden per platform (``"wechat"``) and per account (``"wechat:shop1"``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.errors import ConfigError
from gateway.outbound.schema import CardContent, Content, LinkContent, OutboundMessage, TextContent
from gateway.store.outbound import Allowance, OutboundStore, Spent, Who
from rules.engine import RuleSet

__all__ = [
    "BindingLookup",
    "OutboundPolicy",
    "PolicyBook",
    "PolicyGuard",
    "Refusal",
]


class OutboundPolicy(BaseModel):
    """The outbound rules of one platform or account."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window_hours: float = Field(default=48.0, gt=0)  #: reply window after a customer action
    replies_per_window: int = Field(default=20, ge=0)
    monthly_touches: int = Field(default=4, ge=0)  #: proactive touches per customer and month
    messages_per_touch: int = Field(default=3, ge=1)
    touch_seconds: float = Field(default=60.0, gt=0)  #: a touch's messages go out within this
    reset_count_on_action: bool = False  #: WeChat: every customer message restarts the count

    @property
    def window_seconds(self) -> float:
        return self.window_hours * 3600.0


#: Built-in defaults per platform. WeChat caps replies at 5 per customer message and restarts the
#: count with each new message (reference/wechat.md §4); others follow DESIGN.md (20 per window).
PLATFORM_DEFAULTS: Mapping[str, OutboundPolicy] = {
    "wechat": OutboundPolicy(replies_per_window=5, reset_count_on_action=True),
    "douyin": OutboundPolicy(),
    "taobao": OutboundPolicy(),
}


@dataclass(frozen=True, slots=True)
class PolicyBook:
    """Policies by ``platform`` and ``platform:account``; unknown platforms get the generic one."""

    overrides: Mapping[str, OutboundPolicy]

    @classmethod
    def defaults(cls) -> PolicyBook:
        return cls(dict(PLATFORM_DEFAULTS))

    @classmethod
    def parse(cls, doc: Mapping[str, Any]) -> PolicyBook:
        """Partial overrides, e.g. ``{"wechat": {"replies_per_window": 5},
        "douyin:shop2": {"monthly_touches": 2}}``; an account inherits its platform's values."""
        if not isinstance(doc, Mapping):
            raise ConfigError("outbound policy: must be an object keyed by platform[:account]")
        resolved: dict[str, OutboundPolicy] = dict(PLATFORM_DEFAULTS)
        for key in sorted(doc, key=lambda k: (":" in k, k)):  # platforms before their accounts
            platform = key.split(":", 1)[0]
            if platform not in PLATFORM_DEFAULTS or key.endswith(":"):
                raise ConfigError(f"outbound policy: {key!r} is not 'platform' or 'platform:acct'")
            values = doc[key]
            if not isinstance(values, Mapping):
                raise ConfigError(f"outbound policy {key!r}: must be an object")
            base = resolved[platform]
            try:
                resolved[key] = OutboundPolicy.model_validate({**base.model_dump(), **values})
            except ValidationError as exc:
                raise ConfigError(f"outbound policy {key!r}: {exc.errors()[0]['msg']}") from None
        return cls(resolved)

    @classmethod
    def from_json(cls, text: str | None) -> PolicyBook:
        """`parse` of a JSON document (e.g. ``GATEWAY_OUTBOUND_POLICY``); empty means defaults."""
        if not text:
            return cls.defaults()
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"outbound policy: not valid JSON ({exc})") from None
        return cls.parse(doc)

    def of(self, platform: str, account: str) -> OutboundPolicy:
        return (
            self.overrides.get(f"{platform}:{account}")
            or self.overrides.get(platform)
            or OutboundPolicy()
        )


class BindingLookup(Protocol):
    """Who a customer is bound to; the gateway's binding store implements it."""

    async def advisor_of(self, platform: str, account: str, customer_id: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str
    detail: str
    word: str | None = None


@dataclass(frozen=True, slots=True)
class Permit:
    """Send `content` (sensitive words masked); `allowance` is refunded if the send fails."""

    content: Content
    allowance: Allowance
    masked: bool


class PolicyGuard:
    def __init__(
        self,
        *,
        store: OutboundStore,
        policies: PolicyBook,
        rules: Callable[[], RuleSet],
        bindings: BindingLookup,
    ) -> None:
        self._store = store
        self._policies = policies
        self._rules = rules
        self._bindings = bindings

    async def check(self, message: OutboundMessage, now: float) -> Permit | Refusal:
        """Decide and, when allowed, consume the quota (atomically, in the store)."""
        advisor = message.advisor_id
        if advisor is not None:
            bound = await self._bindings.advisor_of(
                message.platform, message.account, message.customer
            )
            if bound is not None and bound != advisor:
                return Refusal("not_bound_advisor", "The customer is bound to another advisor.")
        screened = screen(message.content, self._rules())
        if isinstance(screened, Refusal):
            return screened
        content, masked = screened
        policy = self._policies.of(message.platform, message.account)
        who = Who(message.platform, message.account, message.customer)
        take = self._store.take_touch if message.proactive else self._store.take_reply
        spent = await take(who, policy, now)
        if isinstance(spent, Allowance):
            return Permit(content, spent, masked)
        return Refusal(spent.value, _explain(spent, policy))


def screen(content: Content, rules: RuleSet) -> tuple[Content, bool] | Refusal:
    """Block or mask merchant sensitive words in the readable fields of `content`."""
    fields: tuple[str, ...]
    if isinstance(content, TextContent):
        fields = ("text",)
    elif isinstance(content, LinkContent):
        fields = ("title", "description")
    elif isinstance(content, CardContent):
        fields = ("title",)
    else:
        return content, False
    changes: dict[str, str] = {}
    for name in fields:
        value = getattr(content, name)
        if not value:
            continue
        check = rules.outbound(value)
        if check.blocked:
            word = check.reason_word or ""
            return Refusal(
                "sensitive_word", f"The message contains the blocked word «{word}».", word
            )
        if check.text != value:
            changes[name] = check.text
    if not changes:
        return content, False
    return content.model_copy(update=changes), True


def _explain(spent: Spent, policy: OutboundPolicy) -> str:
    hours = f"{policy.window_hours:g}"
    if spent is Spent.WINDOW_CLOSED:
        return f"No customer action in the last {hours} hours: the reply window is closed."
    if spent is Spent.REPLY_LIMIT:
        return (
            f"All {policy.replies_per_window} replies of the customer's reply window are used; "
            "wait for the customer's next message."
        )
    return f"The customer's {policy.monthly_touches} proactive touches of this month are used."
