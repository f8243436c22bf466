"""Which payload fields hold personal data, by their names: receiver name/phone/address, ID numbers.

Owns the key classifier (snake_case, camelCase and run-together names, Chinese captions) and the
walk over a platform payload: dicts, lists and JSON *strings* at any depth (Doudian ``data``,
``receiver_msg.addr``, Douyin ``content``). A field the name marks is masked as a whole; every
other string goes through free-text masking. Context matters for a few bare names:

* inside a receiver container (``receiver_msg``, ``post_receiver_msg``, ``consignee``…) ``name``
  is the receiver's name;
* inside an address container (``addr``, ``address_info``…) every string is address detail except
  region-level keys (province, city, town/district, zip, ids and codes), which stay readable;
* a ``{"label": "手机号", "value": …}`` pair (Douyin lead cards) masks ``value`` by its caption.
"""

from __future__ import annotations

import enum
import itertools
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from gateway.errors import PayloadError

from .kinds import PiiKind

__all__ = ["MAX_DEPTH", "MEMO_SIZE", "FieldMasker", "KeyClassifier", "caption_kind"]

MAX_DEPTH = 64
MEMO_SIZE = 4096

_PHONE_WORDS = frozenset(
    {"tel", "phone", "mobile", "telephone", "cellphone", "mobilephone", "telno", "phoneno",
     "mobileno", "telnumber", "phonenumber", "mobilenumber", "contactphone", "contacttel"}
)  # fmt: skip
_PHONE_SUFFIXES = ("phone", "mobile", "phoneno", "phonenumber", "mobileno", "telnumber", "telno")
_PHONE_COMPACT = frozenset({"receivertel", "posttel", "buyertel", "contacttel", "usertel"})
_NAME_COMPACT = frozenset(
    {"receivername", "consignee", "consigneename", "recipient", "recipientname", "addressee",
     "realname", "truename", "username", "fullname", "contactname", "contactperson",
     "postreceiver", "receiver", "buyername", "idcardname"}
)  # fmt: skip
_PERSON_WORDS = frozenset(
    {"receiver", "consignee", "recipient", "addressee", "contact", "real", "true", "full", "user",
     "person", "customer", "buyer", "card", "post", "sender", "member", "holder"}
)  # fmt: skip
_RECEIVER_WORDS = frozenset({"receiver", "consignee", "recipient", "addressee"})
_ID_PAIRS = frozenset(
    {("id", "card"), ("id", "no"), ("id", "number"), ("identity", "card"), ("identity", "no"),
     ("identity", "number"), ("cert", "no"), ("certificate", "no"), ("certificate", "number")}
)  # fmt: skip
_ID_COMPACT = frozenset({"idcard", "idcardno", "idno", "idnumber", "identitycard", "sfz", "sfzh"})
_ADDRESS_COMPACT = frozenset(
    {"label", "detailinfo", "housenumber", "detailaddress", "streetaddress", "fulladdress"}
)
_NOT_PERSONAL_ADDRESS = frozenset(
    {"ip", "mac", "remote", "server", "host", "url", "uri", "web", "callback", "wallet",
     "contract", "node", "bind", "listen", "socket", "proxy", "local", "peer", "http", "https",
     "bluetooth", "ble"}
)  # fmt: skip
_REGION_WORDS = frozenset(
    {"province", "city", "town", "district", "county", "country", "region", "zip", "zipcode",
     "postcode", "postal", "nation", "national", "state", "id", "code", "lat", "lng", "latitude",
     "longitude", "area", "type", "tag"}
)  # fmt: skip
_NOT_A_VALUE = frozenset(
    {"type", "status", "time", "model", "brand", "os", "version", "count", "flag", "verified",
     "enabled", "id", "ids", "url", "code", "hash"}
)  # fmt: skip
# Chinese captions, checked in this order ("联系人电话" is a phone, "收货人" a name).
_CAPTIONS = (
    (PiiKind.PHONE, ("手机", "电话", "联系方式")),
    (PiiKind.ID_CARD, ("身份证", "证件号")),
    (PiiKind.EMAIL, ("邮箱", "电子邮件")),
    (PiiKind.ADDRESS, ("地址", "住址")),
    (PiiKind.NAME, ("姓名", "名字", "联系人", "收件人", "收货人", "称呼")),
)


class Ctx(enum.Enum):
    """Where a key sits: plain payload, a receiver record, an address record, a region record."""

    PLAIN = 0
    RECEIVER = 1
    ADDRESS = 2
    REGION = 3


def caption_kind(text: str) -> PiiKind | None:
    """The kind a Chinese caption or key names (``手机号`` → PHONE), or None."""
    for kind, words in _CAPTIONS:
        if any(w in text for w in words):
            return kind
    return None


class KeyClassifier:
    """Maps a field name (and its context) to the PII kind it holds and its children's context.

    Platforms use a few hundred field names, so results are memoised per classifier, up to
    `MEMO_SIZE` entries (then computed each time); the memo is its only mutable state and holds
    field names only, never values.
    """

    __slots__ = ("_camel", "_memo", "_split")

    def __init__(self) -> None:
        self._camel = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
        self._split = re.compile(r"[^a-z0-9]+")
        self._memo: dict[tuple[str, Ctx], tuple[PiiKind | None, Ctx]] = {}

    def words(self, key: str) -> list[str]:
        """``receiverMobile`` → [receiver, mobile]; ``post_tel`` → [post, tel]."""
        return [w for w in self._split.split(self._camel.sub("_", key).lower()) if w]

    def classify(self, key: str, ctx: Ctx) -> tuple[PiiKind | None, Ctx]:
        """(kind of a scalar value under ``key``, context for a container value under ``key``)."""
        found = self._memo.get((key, ctx))
        if found is None:
            found = self._classify(key, ctx)
            if len(self._memo) < MEMO_SIZE:
                self._memo[key, ctx] = found
        return found

    def _classify(self, key: str, ctx: Ctx) -> tuple[PiiKind | None, Ctx]:
        words = self.words(key)
        kind = caption_kind(key) if not key.isascii() else _kind_of(words)
        region = kind is None and bool(
            _REGION_WORDS.intersection(words) or (words and words[-1] in _NOT_A_VALUE)
        )
        if kind is None and words:
            if ctx is Ctx.RECEIVER and words[-1] == "name":
                kind = PiiKind.NAME
            elif ctx is Ctx.ADDRESS and not region:
                kind = PiiKind.ADDRESS
        if kind is PiiKind.ADDRESS:
            return kind, Ctx.ADDRESS
        if region and ctx in (Ctx.ADDRESS, Ctx.REGION):
            return kind, Ctx.REGION
        if _RECEIVER_WORDS.intersection(words) or "receiver" in "".join(words):
            return kind, Ctx.RECEIVER
        return kind, ctx


def _kind_of(words: list[str]) -> PiiKind | None:
    if not words:
        return None
    compact = "".join(words)
    last = words[-1]
    pairs = set(itertools.pairwise(words))
    if compact in _NAME_COMPACT or last in _RECEIVER_WORDS or (
        last == "name" and len(words) > 1 and words[-2] in _PERSON_WORDS
        and words[0] not in ("to", "from")
    ):  # fmt: skip
        return PiiKind.NAME
    if "email" in compact or compact in ("mail", "mailbox", "mailaddress"):
        return PiiKind.EMAIL
    if last in _NOT_A_VALUE:
        return None
    if pairs & _ID_PAIRS or compact in _ID_COMPACT or "idcard" in compact:
        return PiiKind.ID_CARD
    if (
        _PHONE_WORDS.intersection(words)
        or compact.endswith(_PHONE_SUFFIXES)
        or compact in _PHONE_COMPACT
    ):
        return PiiKind.PHONE
    if _NOT_PERSONAL_ADDRESS.intersection(words):
        return None
    if (
        "address" in words
        or "addr" in words
        or compact.endswith(("address", "addr"))
        or compact in _ADDRESS_COMPACT
    ):
        return PiiKind.ADDRESS
    return None


class FieldMasker:
    """Walks a payload and returns a masked deep copy plus the kinds it masked."""

    __slots__ = ("_classifier", "_mask_text", "_mask_value")

    def __init__(
        self,
        mask_text: Callable[[str], tuple[str, frozenset[PiiKind]]],
        mask_value: Callable[[PiiKind, str], str],
    ) -> None:
        self._classifier = KeyClassifier()
        self._mask_text = mask_text
        self._mask_value = mask_value

    def mask(self, data: Mapping[str, Any]) -> tuple[dict[str, Any], frozenset[PiiKind]]:
        kinds: set[PiiKind] = set()
        out = self._mapping(data, Ctx.PLAIN, 0, kinds)
        return out, frozenset(kinds)

    def _mapping(
        self, data: Mapping[Any, Any], ctx: Ctx, depth: int, kinds: set[PiiKind]
    ) -> dict[Any, Any]:
        if depth > MAX_DEPTH:
            raise PayloadError(f"payload nested deeper than {MAX_DEPTH} levels")
        caption: PiiKind | None = None
        lowered = {k.lower(): k for k in data if isinstance(k, str)}
        pair = "label" in lowered and "value" in lowered
        if pair and isinstance(label := data[lowered["label"]], str):
            caption = caption_kind(label) or _kind_of(self._classifier.words(label))
        out: dict[Any, Any] = {}
        for key, value in data.items():
            if not isinstance(key, str):
                out[key] = self._value(value, None, ctx, depth, kinds)
            elif pair and key.lower() in ("label", "value"):
                kind = caption if key.lower() == "value" else None
                out[key] = self._value(value, kind, ctx, depth, kinds)
            else:
                kind, child_ctx = self._classifier.classify(key, ctx)
                out[key] = self._value(value, kind, child_ctx, depth, kinds)
        return out

    def _value(
        self, value: Any, kind: PiiKind | None, ctx: Ctx, depth: int, kinds: set[PiiKind]
    ) -> Any:
        if isinstance(value, str):
            parsed = _json_container(value)
            if parsed is not None:
                masked = self._value(parsed, kind, ctx, depth + 1, kinds)
                return json.dumps(masked, ensure_ascii=False, separators=(",", ":"))
            if kind is None:
                text, found = self._mask_text(value)
                kinds.update(found)
                return text
            return self._whole(kind, value, kinds)
        if isinstance(value, Mapping):
            return self._mapping(value, ctx, depth + 1, kinds)
        if isinstance(value, list | tuple):
            if depth > MAX_DEPTH:
                raise PayloadError(f"payload nested deeper than {MAX_DEPTH} levels")
            items = [self._value(v, kind, ctx, depth + 1, kinds) for v in value]
            return items if isinstance(value, list) else tuple(items)
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and kind in (PiiKind.PHONE, PiiKind.ID_CARD, PiiKind.BANK_CARD)
        ):
            return self._whole(kind, str(value), kinds)
        return value

    def _whole(self, kind: PiiKind, value: str, kinds: set[PiiKind]) -> str:
        masked = self._mask_value(kind, value)
        if masked != value:
            kinds.add(kind)
        return masked


def _json_container(value: str) -> Any:
    """The parsed object/array when ``value`` is a JSON object or array, else None."""
    text = value.strip()
    if len(text) < 2 or text[0] not in "{[" or text[-1] not in "}]":
        return None
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict | list) else None
