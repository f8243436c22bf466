"""Bad WeChat callbacks on the plaintext (``plain``), safe-mode XML (``safe``) and Channels store
safe-mode JSON (``store``) endpoints: each is refused with its documented status, one clean
``webhook.refused`` line, nothing published, and the endpoint keeps serving."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests import wechat_reference as ref
from tests.badinput.callbacks import (
    OTHER_AES_KEY,
    OTHER_APP_ID,
    OTHER_TOKEN,
    TEXT,
    Call,
    GatewayClient,
    new_customer,
    now,
    store_json,
    text_xml,
    wechat_plain,
    wechat_safe,
)
from tests.badinput.conftest import assert_accepted, assert_refused
from tests.conftest import AES_KEY, APP_ID, OLD_AES_KEY, STORE_APP_ID, InboundTap

pytestmark = [pytest.mark.rabbitmq, pytest.mark.asyncio(loop_scope="module")]

Build = Callable[[str], Call]


def message_xml(customer: str, *, prolog: str = "", content: str = TEXT, extra: str = "") -> bytes:
    """A text message from `customer` with an optional prolog (DTD) and extra elements."""
    return (
        f"{prolog}<xml><ToUserName>gh</ToUserName><FromUserName>{customer}</FromUserName>"
        f"<CreateTime>{now()}</CreateTime><MsgType>text</MsgType><Content>{content}</Content>"
        f"<MsgId>{secrets.randbits(60)}</MsgId>{extra}</xml>"
    ).encode()


def message_json(customer: str, **extra: Any) -> dict[str, Any]:
    return {
        "ToUserName": "gh",
        "FromUserName": customer,
        "CreateTime": now(),
        "MsgType": "text",
        "Content": TEXT,
        "MsgId": secrets.randbits(60),
        **extra,
    }


def nested(depth: int) -> Any:
    value: Any = TEXT
    for _ in range(depth - 1):
        value = [value]
    return value


LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY l0 "lol">'
    + "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    + "]>"
)
XXE_FILE = '<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
XXE_HTTP = '<!DOCTYPE xml [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]>'
EXTERNAL_DTD = '<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/evil.dtd">'
PARAMETER_ENTITY = '<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]>'
DEEP_XML_2000 = "<D>" + "<a>" * 2000 + "</a>" * 2000 + "</D>"


def utf16_laughs(customer: str) -> bytes:
    """Billion laughs in UTF-16 (no ASCII ``<!DOCTYPE`` bytes for a byte-level filter to see)."""
    doc = message_xml(customer, prolog=LAUGHS, content="&l9;").decode()
    return doc.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>').encode(
        "utf-16-le"
    )


def invalid_utf8(customer: str) -> bytes:
    return message_xml(customer).replace(TEXT.encode(), b"\xff\xfe\xc3(" + TEXT.encode()[:3])


def flip_last_block(ciphertext: str) -> str:
    """The ciphertext with one bit of its last AES block flipped (garbles the padding and the
    receive-id when decrypted)."""
    raw = bytearray(base64.b64decode(ciphertext))
    raw[-1] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def aes128_ciphertext(plaintext: bytes, receive_id: str) -> str:
    """WeChat's plaintext layout encrypted with a 16-byte key (a wrong-length EncodingAESKey)."""
    key = os.urandom(16)
    body = os.urandom(16) + len(plaintext).to_bytes(4, "big") + plaintext + receive_id.encode()
    pad = 32 - len(body) % 32
    body += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key)).encryptor()
    return base64.b64encode(encryptor.update(body) + encryptor.finalize()).decode()


def tampered(account: str, plaintext: bytes) -> Call:
    """A callback whose body carries an altered ciphertext while the query signs the original."""
    receive_id = STORE_APP_ID if account == "store" else APP_ID
    ciphertext = ref.encrypt(plaintext, AES_KEY, receive_id)
    signed = wechat_safe(account, b"", encrypted=ciphertext)
    forged = wechat_safe(account, b"", encrypted=flip_last_block(ciphertext))
    return Call(signed.path, forged.body, signed.query, signed.headers)


PLAIN: list[Any] = [
    # malformed bodies
    pytest.param(lambda c: wechat_plain("plain", text_xml(c)[:-20]), 400, id="truncated-xml"),
    pytest.param(lambda c: wechat_plain("plain", b"<xml>" + c.encode()), 400, id="unclosed-xml"),
    pytest.param(
        lambda c: wechat_plain("plain", orjson.dumps(message_json(c))[:-9]),
        400,
        id="truncated-json",
    ),
    pytest.param(
        lambda c: wechat_plain("plain", orjson.dumps([message_json(c)])), 400, id="json-array"
    ),
    pytest.param(
        lambda c: wechat_plain("plain", f"<xml><FromUserName>{c}</FromUserName></xml>".encode()),
        400,
        id="xml-without-msgtype",
    ),
    pytest.param(
        lambda c: wechat_plain(
            "plain", message_xml(c).replace(b"<MsgId>", b"<X>").replace(b"</MsgId>", b"</X>")
        ),
        400,
        id="message-without-msgid",
    ),
    pytest.param(
        lambda c: wechat_plain("plain", orjson.dumps(message_json(c, CreateTime="soon"))),
        400,
        id="createtime-not-integer",
    ),
    pytest.param(
        lambda c: wechat_plain("plain", orjson.dumps(message_json(c, CreateTime=[1]))),
        400,
        id="createtime-list",
    ),
    pytest.param(
        lambda c: wechat_plain("plain", orjson.dumps(message_json(c, CreateTime=300_000_000_000))),
        400,
        id="createtime-year-11476",
    ),
    pytest.param(
        lambda c: wechat_plain("plain", message_xml(c, extra="<Z>\x00</Z>")), 400, id="nul-byte"
    ),
    pytest.param(lambda c: wechat_plain("plain", invalid_utf8(c)), 400, id="invalid-utf8-xml"),
    pytest.param(
        lambda c: wechat_plain(
            "plain", orjson.dumps(message_json(c)).replace(b'"text"', b'"\xff\xfe"')
        ),
        400,
        id="invalid-utf8-json",
    ),
    pytest.param(
        lambda c: wechat_plain(
            "plain", b'<?xml version="1.0" encoding="x-bogus"?>' + message_xml(c)
        ),
        400,
        id="xml-unknown-encoding",
    ),
    # DTDs and entities
    pytest.param(
        lambda c: wechat_plain("plain", message_xml(c, prolog=LAUGHS, content="&l9;")),
        400,
        id="billion-laughs",
    ),
    pytest.param(lambda c: wechat_plain("plain", utf16_laughs(c)), 400, id="billion-laughs-utf16"),
    pytest.param(
        lambda c: wechat_plain("plain", message_xml(c, prolog=XXE_FILE, content="&x;")),
        400,
        id="external-entity-file",
    ),
    pytest.param(
        lambda c: wechat_plain("plain", message_xml(c, prolog=XXE_HTTP, content="&x;")),
        400,
        id="external-entity-http",
    ),
    pytest.param(
        lambda c: wechat_plain("plain", message_xml(c, prolog=EXTERNAL_DTD)), 400, id="external-dtd"
    ),
    pytest.param(
        lambda c: wechat_plain("plain", message_xml(c, prolog=PARAMETER_ENTITY)),
        400,
        id="parameter-entity",
    ),
    pytest.param(
        lambda c: wechat_plain("plain", message_xml(c, content="&undefined;")),
        400,
        id="undefined-entity",
    ),
    # nesting
    pytest.param(
        lambda c: wechat_plain("plain", orjson.dumps(message_json(c, Deep=nested(33)))),
        400,
        id="json-depth-33",
    ),
    pytest.param(
        lambda c: wechat_plain("plain", b'{"FromUserName":"%s","x":' % c.encode() + b"[" * 100_000),
        400,
        id="json-depth-100000",
    ),
    pytest.param(
        lambda c: wechat_plain(
            "plain", message_xml(c, extra="<D>" + "<a>" * 100 + "</a>" * 100 + "</D>")
        ),
        400,
        id="xml-depth-100",
    ),
    pytest.param(
        lambda c: wechat_plain("plain", message_xml(c, extra=DEEP_XML_2000)),
        400,
        id="xml-depth-2000",
    ),
    # query parameters
    pytest.param(
        lambda c: wechat_plain("plain", text_xml(c)).with_query(timestamp=None),
        401,
        id="no-timestamp",
    ),
    pytest.param(
        lambda c: wechat_plain("plain", text_xml(c)).with_query(nonce=None), 401, id="no-nonce"
    ),
    pytest.param(
        lambda c: wechat_plain("plain", text_xml(c)).with_query(signature=None),
        401,
        id="no-signature",
    ),
    pytest.param(
        lambda c: wechat_plain("plain", text_xml(c)).with_query(timestamp=""),
        401,
        id="empty-timestamp",
    ),
    pytest.param(
        lambda c: wechat_plain("plain", text_xml(c)).with_query(signature="0" * 40),
        401,
        id="wrong-signature",
    ),
    pytest.param(
        lambda c: repeat(wechat_plain("plain", text_xml(c)), "timestamp"),
        400,
        id="repeated-timestamp",
    ),
    pytest.param(
        lambda c: repeat(wechat_plain("plain", text_xml(c)), "nonce"), 400, id="repeated-nonce"
    ),
    pytest.param(
        lambda c: repeat(wechat_plain("plain", text_xml(c)), "signature"),
        400,
        id="repeated-signature",
    ),
    # replay window (documented: GATEWAY_REPLAY_WINDOW = 300 s either side)
    pytest.param(
        lambda c: wechat_plain("plain", text_xml(c), timestamp=now() - 3600),
        401,
        id="timestamp-1h-old",
    ),
    pytest.param(
        lambda c: wechat_plain("plain", text_xml(c), timestamp=now() - 302),
        401,
        id="timestamp-302s-old",
    ),
    pytest.param(
        lambda c: wechat_plain("plain", text_xml(c), timestamp=now() + 3600),
        401,
        id="timestamp-1h-ahead",
    ),
    pytest.param(
        lambda c: wechat_plain("plain", text_xml(c), timestamp=now() + 302),
        401,
        id="timestamp-302s-ahead",
    ),
    pytest.param(
        lambda c: wechat_plain("plain", text_xml(c), timestamp="17e8"),
        401,
        id="timestamp-not-digits",
    ),
    pytest.param(
        lambda c: wechat_plain("plain", text_xml(c), timestamp="-1"), 401, id="timestamp-negative"
    ),
    pytest.param(
        lambda c: wechat_plain("plain", text_xml(c), timestamp="9" * 13),
        401,
        id="timestamp-13-digits",
    ),
    pytest.param(
        lambda c: wechat_plain(
            "plain", text_xml(c), timestamp="".join(chr(0x660 + int(d)) for d in str(now()))
        ),
        401,
        id="timestamp-arabic-indic-digits",
    ),
    pytest.param(
        lambda c: wechat_plain("plain", text_xml(c), timestamp="²"),
        401,
        id="timestamp-superscript-digit",
    ),
    # authenticity
    pytest.param(
        lambda c: wechat_plain("plain", text_xml(c), token=OTHER_TOKEN),
        401,
        id="other-account-token",
    ),
    pytest.param(lambda c: wechat_safe("plain", text_xml(c)), 401, id="encrypted-without-key"),
]


def repeat(call: Call, name: str) -> Call:
    """`call` with query parameter `name` sent twice (the second value differs)."""
    return Call(call.path, call.body, (*call.query, (name, call.param(name) + "0")), call.headers)


@pytest.mark.parametrize(("build", "status"), PLAIN)
async def test_plaintext_refusals(
    client: GatewayClient, tap: InboundTap, build: Build, status: int
) -> None:
    """Plaintext-mode callbacks that are malformed, unauthentic or stale are refused."""
    customer = new_customer()
    await assert_refused(client, tap, build(customer), status, customer)


SAFE: list[Any] = [
    # the envelope
    pytest.param(
        lambda c: truncate(wechat_safe("safe", text_xml(c)), 30), 400, id="truncated-envelope"
    ),
    pytest.param(
        lambda c: prefix(wechat_safe("safe", text_xml(c)), LAUGHS.encode()),
        400,
        id="dtd-in-envelope",
    ),
    pytest.param(lambda c: wechat_safe("safe", text_xml(c), encrypted=""), 400, id="empty-encrypt"),
    pytest.param(
        lambda c: wechat_safe("safe", text_xml(c)).with_query(msg_signature=None),
        401,
        id="no-msg-signature",
    ),
    pytest.param(
        lambda c: wechat_safe("safe", text_xml(c)).with_query(msg_signature="f" * 40),
        401,
        id="wrong-msg-signature",
    ),
    pytest.param(
        lambda c: wechat_safe("safe", text_xml(c)).with_query(signature="f" * 40),
        401,
        id="wrong-signature-right-msg-signature",
    ),
    pytest.param(
        lambda c: repeat(wechat_safe("safe", text_xml(c)), "msg_signature"),
        400,
        id="repeated-msg-signature",
    ),
    pytest.param(
        lambda c: repeat(wechat_safe("safe", text_xml(c)), "encrypt_type"),
        400,
        id="repeated-encrypt-type",
    ),
    pytest.param(
        lambda c: wechat_safe("safe", text_xml(c)).with_query(timestamp=None),
        401,
        id="no-timestamp",
    ),
    pytest.param(
        lambda c: wechat_safe("safe", text_xml(c), timestamp=now() - 3600),
        401,
        id="timestamp-1h-old",
    ),
    pytest.param(
        lambda c: wechat_safe("safe", text_xml(c), timestamp=now() + 3600),
        401,
        id="timestamp-1h-ahead",
    ),
    pytest.param(
        lambda c: Call("wechat/safe", text_xml(c), wechat_safe("safe", b"x").query),
        400,
        id="aes-flag-without-encrypt",
    ),
    # the ciphertext
    pytest.param(lambda c: tampered("safe", text_xml(c)), 401, id="tampered-ciphertext"),
    pytest.param(
        lambda c: wechat_safe(
            "safe", b"", encrypted=flip_last_block(ref.encrypt(text_xml(c), AES_KEY, APP_ID))
        ),
        401,
        id="tampered-ciphertext-resigned",
    ),
    pytest.param(
        lambda c: wechat_safe("safe", b"", encrypted="@@" + c), 401, id="ciphertext-not-base64"
    ),
    pytest.param(
        lambda c: wechat_safe("safe", b"", encrypted=base64.b64encode(os.urandom(40)).decode()),
        401,
        id="ciphertext-not-block-multiple",
    ),
    pytest.param(
        lambda c: wechat_safe("safe", b"", encrypted=aes128_ciphertext(text_xml(c), APP_ID)),
        401,
        id="aes128-key",
    ),
    pytest.param(
        lambda c: wechat_safe("safe", text_xml(c), app_id=STORE_APP_ID), 401, id="other-receive-id"
    ),
    pytest.param(
        lambda c: wechat_safe("safe", text_xml(c), aes_key=OTHER_AES_KEY), 401, id="other-key"
    ),
    pytest.param(
        lambda c: wechat_safe(
            "safe", text_xml(c), token=OTHER_TOKEN, aes_key=OTHER_AES_KEY, app_id=OTHER_APP_ID
        ),
        401,
        id="other-account",
    ),
    # the decrypted message
    pytest.param(
        lambda c: wechat_safe("safe", text_xml(c)[:-20]), 400, id="encrypted-truncated-xml"
    ),
    pytest.param(
        lambda c: wechat_safe("safe", message_xml(c, prolog=LAUGHS, content="&l9;")),
        400,
        id="encrypted-billion-laughs",
    ),
    pytest.param(
        lambda c: wechat_safe("safe", message_xml(c, prolog=XXE_FILE, content="&x;")),
        400,
        id="encrypted-external-entity",
    ),
    pytest.param(lambda c: wechat_safe("safe", invalid_utf8(c)), 400, id="encrypted-invalid-utf8"),
    pytest.param(
        lambda c: wechat_safe("safe", message_xml(c, extra=DEEP_XML_2000)),
        400,
        id="encrypted-xml-depth-2000",
    ),
    pytest.param(
        lambda c: wechat_safe("safe", orjson.dumps(message_json(c, Deep=nested(33)))),
        400,
        id="encrypted-json-depth-33",
    ),
    pytest.param(
        lambda c: wechat_safe("safe", text_xml(c), timestamp="²"),
        401,
        id="timestamp-superscript-digit",
    ),
]


def truncate(call: Call, size: int) -> Call:
    return Call(call.path, call.body[:-size], call.query, call.headers)


def prefix(call: Call, head: bytes) -> Call:
    return Call(call.path, head + call.body, call.query, call.headers)


@pytest.mark.parametrize(("build", "status"), SAFE)
async def test_safe_mode_refusals(
    client: GatewayClient, tap: InboundTap, build: Build, status: int
) -> None:
    """Safe-mode callbacks with a bad envelope, ciphertext, key, receive-id or content: refused."""
    customer = new_customer()
    await assert_refused(client, tap, build(customer), status, customer)


STORE: list[Any] = [
    pytest.param(
        lambda c: truncate(wechat_safe("store", store_json(c)), 5), 400, id="truncated-envelope"
    ),
    pytest.param(
        lambda c: Call(
            "wechat/store", orjson.dumps([{"Encrypt": c}]), wechat_safe("store", b"x").query
        ),
        400,
        id="envelope-array",
    ),
    pytest.param(
        lambda c: Call(
            "wechat/store",
            orjson.dumps({"Encrypt": nested(40), "c": c}),
            wechat_safe("store", b"x").query,
        ),
        400,
        id="envelope-depth-40",
    ),
    pytest.param(
        lambda c: wechat_safe("store", store_json(c)[:-7]), 400, id="encrypted-truncated-json"
    ),
    pytest.param(
        lambda c: wechat_safe("store", store_json(c).replace(b'"text"', b'"\xc3("')),
        400,
        id="encrypted-invalid-utf8",
    ),
    pytest.param(
        lambda c: wechat_safe(
            "store", orjson.dumps({**orjson.loads(store_json(c)), "x": nested(33)})
        ),
        400,
        id="encrypted-json-depth-33",
    ),
    pytest.param(
        lambda c: wechat_safe(
            "store",
            orjson.dumps({k: v for k, v in orjson.loads(store_json(c)).items() if k != "msg_id"}),
        ),
        400,
        id="kf-message-without-msg-id",
    ),
    pytest.param(lambda c: tampered("store", store_json(c)), 401, id="tampered-ciphertext"),
    pytest.param(
        lambda c: wechat_safe("store", store_json(c), app_id=APP_ID), 401, id="other-receive-id"
    ),
    pytest.param(
        lambda c: wechat_safe("store", store_json(c), aes_key=OLD_AES_KEY),
        401,
        id="key-of-another-account",
    ),
    pytest.param(
        lambda c: wechat_safe(
            "store", store_json(c), token=OTHER_TOKEN, aes_key=OTHER_AES_KEY, app_id=OTHER_APP_ID
        ),
        401,
        id="other-account",
    ),
    pytest.param(
        lambda c: wechat_safe("store", store_json(c), timestamp=now() - 3600),
        401,
        id="timestamp-1h-old",
    ),
    pytest.param(
        lambda c: wechat_plain("store", store_json(c)),
        401,
        id="plaintext-downgrade",
    ),
]


@pytest.mark.parametrize(("build", "status"), STORE)
async def test_store_refusals(
    client: GatewayClient, tap: InboundTap, build: Build, status: int
) -> None:
    """Channels store callbacks (JSON, safe mode only), malformed or unauthentic: refused."""
    customer = new_customer()
    await assert_refused(client, tap, build(customer), status, customer)


def handshake(account: str, **changes: str | None) -> Call:
    """A GET URL verification with a valid signature and echostr, then `changes` to the query."""
    call = wechat_plain(account, b"")
    call = Call(
        call.path, b"", (*call.query, ("echostr", "echo-" + secrets.token_hex(4))), {}, "GET"
    )
    return call.with_query(**changes) if changes else call


HANDSHAKES: list[Any] = [
    pytest.param("plain", lambda: handshake("plain", signature="0" * 40), 401, id="bad-signature"),
    pytest.param("safe", lambda: handshake("safe", echostr=None), 401, id="no-echostr"),
    pytest.param("plain", lambda: handshake("plain", timestamp=None), 401, id="no-timestamp"),
    pytest.param(
        "store", lambda: repeat(handshake("store"), "echostr"), 400, id="repeated-echostr"
    ),
    pytest.param(
        "plain",
        lambda: Call(
            "wechat/plain", b"", wechat_plain("plain", b"", timestamp=now() - 3600).query, {}, "GET"
        ),
        401,
        id="stale-timestamp",
    ),
    pytest.param(
        "plain",
        lambda: handshake("plain", timestamp="²"),
        401,
        id="superscript-digit-timestamp",
    ),
]


@pytest.mark.parametrize(("account", "build", "status"), HANDSHAKES)
async def test_url_verification_refusals(
    client: GatewayClient, tap: InboundTap, account: str, build: Callable[[], Call], status: int
) -> None:
    """A GET URL verification that is unsigned, stale or ambiguous is refused, never echoed."""
    customer = new_customer()
    call = build()
    await assert_refused(client, tap, call, status, customer)
    echostr = [v for k, v in call.query if k == "echostr"]
    assert all(len(v) > 4 for v in echostr)


async def test_url_verification_echoes(client: GatewayClient) -> None:
    """The control: a correctly signed GET verification echoes echostr."""
    call = handshake("safe")
    response = await call.send(client)
    assert (response.status, await response.text()) == (200, call.param("echostr"))


async def test_previous_key_is_accepted(client: GatewayClient, tap: InboundTap) -> None:
    """The control for the key cases: a callback encrypted with the previous EncodingAESKey
    (rotation) is accepted and published once."""
    customer = new_customer()
    await assert_accepted(
        client, tap, wechat_safe("safe", text_xml(customer), aes_key=OLD_AES_KEY), customer
    )


async def test_plaintext_on_plain_account_control(client: GatewayClient, tap: InboundTap) -> None:
    """The control for the plaintext cases: the same builders without the fault are accepted."""
    customer = new_customer()
    await assert_accepted(client, tap, wechat_plain("plain", message_xml(customer)), customer)
    other = new_customer()
    await assert_accepted(
        client, tap, wechat_plain("plain", orjson.dumps(message_json(other))), other
    )
