"""The outbound contract: `gateway.outbound/1` (what advisors and bots publish on ``kefu.outbound``)
and `gateway.receipt/1` (what the gateway answers on ``kefu.receipts``).

An `OutboundMessage`'s ``content`` is validated by ``kind``: ``text{text}``, ``image{media_id}``,
``link{title, description, url, thumb_url}``, ``card{type, ...}`` where a card is a
``mini_program`` page (``title, app_id, page_path, thumb_media_id`` on WeChat;
``card_template_id, app_id, page_path, query`` on Douyin), a ``product`` (Channels store
``product_id``) or a Douyin ``consult`` card (``card_id``). ``context`` carries the platform ids a
send needs beyond the customer (Douyin: the merchant account's ``open_id``, ``conversation_id``,
the replied ``msg_id``, ``scene``). Documented in docs/asyncapi.yaml and docs/outbound.md.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)

__all__ = [
    "OUTBOUND_SCHEMA",
    "RECEIPT_SCHEMA",
    "CardContent",
    "Content",
    "ImageContent",
    "LinkContent",
    "OutboundContext",
    "OutboundMessage",
    "Reason",
    "Receipt",
    "Status",
    "TextContent",
    "describe_errors",
]

OUTBOUND_SCHEMA: Final = "gateway.outbound/1"
RECEIPT_SCHEMA: Final = "gateway.receipt/1"

Status = Literal["sent", "rejected", "failed"]
Reason = Literal[
    "window_closed",
    "reply_limit",
    "quota_exhausted",
    "not_bound_advisor",
    "sensitive_word",
    "unsupported",
    "invalid",
    "platform_error",
]
Kind = Literal["text", "image", "link", "card"]
PlatformName = Literal["wechat", "douyin", "taobao"]

Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@=+/-]+$")]
Short = Annotated[str, Field(min_length=1, max_length=256)]
Url = Annotated[str, Field(max_length=2048, pattern=r"^https?://\S+$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class TextContent(_Frozen):
    text: Annotated[str, Field(min_length=1, max_length=4096)]


class ImageContent(_Frozen):
    media_id: Short


class LinkContent(_Frozen):
    title: Short
    description: Annotated[str, Field(max_length=1024)] = ""
    url: Url
    thumb_url: Annotated[str, Field(max_length=2048)] = ""


class CardContent(_Frozen):
    type: Literal["mini_program", "product", "consult"]
    title: Short | None = None
    app_id: Short | None = None
    page_path: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    thumb_media_id: Short | None = None
    card_template_id: Short | None = None
    query: Annotated[str, Field(max_length=1024)] | None = None
    product_id: Short | None = None
    card_id: Short | None = None

    @model_validator(mode="after")
    def _required_by_type(self) -> CardContent:
        needed = {
            "mini_program": ("app_id", "page_path"),
            "product": ("product_id",),
            "consult": ("card_id",),
        }[self.type]
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.type} card needs {', '.join(missing)}")
        return self


_CONTENT: dict[str, type[_Frozen]] = {
    "text": TextContent,
    "image": ImageContent,
    "link": LinkContent,
    "card": CardContent,
}
_TAG_KEYS = (("type", "card"), ("url", "link"), ("media_id", "image"), ("text", "text"))


def _content_tag(value: Any) -> str | None:
    """Which content model a value is, from its distinguishing key (checked against kind)."""
    if isinstance(value, BaseModel):
        return next((tag for tag, model in _CONTENT.items() if isinstance(value, model)), None)
    if isinstance(value, dict):
        return next((tag for key, tag in _TAG_KEYS if key in value), None)
    return None


Content = Annotated[
    Annotated[TextContent, Tag("text")]
    | Annotated[ImageContent, Tag("image")]
    | Annotated[LinkContent, Tag("link")]
    | Annotated[CardContent, Tag("card")],
    Discriminator(_content_tag),
]


class OutboundContext(_Frozen):
    """Platform ids a send may need besides the customer's id (all optional)."""

    open_id: Short | None = None  #: Douyin: the merchant (B-side) account's open_id
    conversation_id: Short | None = None  #: Douyin: ``conversation_short_id`` of the webhook
    msg_id: Short | None = None  #: Douyin: ``server_message_id`` being replied to
    scene: Short | None = None  #: Douyin: ``source`` of ``im_authorize`` for active messages


class OutboundMessage(_Frozen):
    """One reply or proactive message to send (contract: ``gateway.outbound/1``)."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", str_strip_whitespace=True, populate_by_name=True
    )

    schema_id: Literal["gateway.outbound/1"] = Field(default=OUTBOUND_SCHEMA, alias="schema")
    request_id: Id
    sender: Annotated[str, Field(pattern=r"^(advisor:[^\s:]{1,64}|bot:[^\s:]{1,64}|system)$")]
    platform: PlatformName
    account: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    customer: Annotated[str, Field(min_length=1, max_length=128)]
    kind: Kind
    content: Content
    in_reply_to: Id | None = None
    proactive: bool = False
    context: OutboundContext = OutboundContext()

    @model_validator(mode="after")
    def _content_matches_kind(self) -> OutboundMessage:
        if not isinstance(self.content, _CONTENT[self.kind]):
            raise ValueError(f"content does not match kind {self.kind!r}")
        return self

    @property
    def advisor_id(self) -> str | None:
        """The advisor's id when an advisor sends, else None."""
        return self.sender.removeprefix("advisor:") if self.sender.startswith("advisor:") else None

    @property
    def lane(self) -> str:
        """Messages with the same lane are sent in order: one customer of one account."""
        return f"{self.platform}:{self.account}:{self.customer}"

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()


class Receipt(_Frozen):
    """The outcome of one outbound request (contract: ``gateway.receipt/1``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    schema_id: Literal["gateway.receipt/1"] = Field(default=RECEIPT_SCHEMA, alias="schema")
    request_id: str | None
    status: Status
    reason: Reason | None = None
    detail: str
    word: str | None = None
    platform_code: int | None = None
    platform_msg_id: str | None = None
    attempts: int = 0
    at: datetime
    platform: str | None = None
    account: str | None = None
    customer: str | None = None
    sender: str | None = None
    in_reply_to: str | None = None

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()


_NO_INPUT = re.compile(r"\s+")


def describe_errors(error: ValidationError, limit: int = 3) -> str:
    """A short sentence naming the invalid fields, never echoing their values."""
    parts = []
    for item in error.errors(include_input=False, include_url=False)[:limit]:
        where = ".".join(str(p) for p in item["loc"]) or "body"
        parts.append(f"{where}: {_NO_INPUT.sub(' ', item['msg'])}")
    more = error.error_count() - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
