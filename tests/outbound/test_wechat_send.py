"""adapters.wechat.send: request builders and response interpreters (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
import pytest

from adapters.wechat import send

BASE = "https://api.example.test/"


def body(request: send.ApiRequest | send.Unsupported) -> dict[str, object]:
    assert isinstance(request, send.ApiRequest) and request.body is not None
    return dict(orjson.loads(request.body))


def build(
    surface: str, kind: str, content: Mapping[str, object]
) -> send.ApiRequest | send.Unsupported:
    return send.send_request(
        surface, BASE, "TOKEN", touser="oUser", kind=kind, content=content, request_id="rq-1"
    )


def test_token_request_is_a_stable_token_post() -> None:
    """The token call posts client_credential, appid, secret and force_refresh as JSON."""
    request = send.token_request(BASE, "wxapp", "sec", force=True)
    assert (request.method, request.url) == (
        "POST",
        "https://api.example.test/cgi-bin/stable_token",
    )
    assert body(request) == {
        "grant_type": "client_credential", "appid": "wxapp", "secret": "sec", "force_refresh": True,
    }  # fmt: skip


def test_read_token_grant_and_refusals() -> None:
    """A grant yields token and lifetime; -1 is transient; a bad secret is a refusal."""
    assert send.read_token(200, b'{"access_token":"T","expires_in":7200}') == send.TokenGrant(
        "T", 7200.0
    )
    busy = send.read_token(200, b'{"errcode":-1,"errmsg":"busy"}')
    assert isinstance(busy, send.Verdict) and busy.kind == "transient"
    refused = send.read_token(200, b'{"errcode":40125,"errmsg":"invalid appsecret"}')
    assert isinstance(refused, send.Verdict) and (refused.kind, refused.code) == ("rejected", 40125)
    down = send.read_token(502, b"<html>")
    assert isinstance(down, send.Verdict) and down.kind == "transient"


def test_text_to_a_service_account_customer() -> None:
    """Text goes to custom/send with the token in the query string and touser/msgtype/text."""
    request = build("service_account", "text", {"text": "你好"})
    assert isinstance(request, send.ApiRequest)
    assert request.url == "https://api.example.test/cgi-bin/message/custom/send"
    assert request.params == {"access_token": "TOKEN"}
    assert body(request) == {"touser": "oUser", "msgtype": "text", "text": {"content": "你好"}}
    assert "你好".encode() in (request.body or b"")  # UTF-8, not \\u escapes


def test_link_is_news_on_a_service_account_and_link_on_a_mini_program() -> None:
    """A link becomes a one-article news message (Service Account) or a link (Mini Program)."""
    link = {"title": "T", "description": "D", "url": "https://x.test/", "thumb_url": "https://p/"}
    news = body(build("service_account", "link", link))
    assert news == {
        "touser": "oUser", "msgtype": "news",
        "news": {"articles": [{"title": "T", "description": "D", "url": "https://x.test/",
                               "picurl": "https://p/"}]},
    }  # fmt: skip
    assert body(build("mini_program", "link", link))["link"] == link


def test_mini_program_card_and_its_required_fields() -> None:
    """A mini_program card becomes miniprogrampage; without title and thumb it is unsupported."""
    card = {"type": "mini_program", "title": "T", "app_id": "wxa", "page_path": "p/i",
            "thumb_media_id": "M"}  # fmt: skip
    assert body(build("mini_program", "card", card))["miniprogrampage"] == {
        "title": "T", "appid": "wxa", "pagepath": "p/i", "thumb_media_id": "M",
    }  # fmt: skip
    short = {"type": "mini_program", "app_id": "wxa", "page_path": "p/i"}
    assert isinstance(build("service_account", "card", short), send.Unsupported)


def test_channels_store_carries_request_id_and_open_id() -> None:
    """The store's sendmsg carries request_id, open_id and msg_type; links are unsupported."""
    request = build("channels_store", "text", {"text": "hi"})
    assert isinstance(request, send.ApiRequest)
    assert request.url == "https://api.example.test/channels/ec/commkf/sendmsg"
    assert body(request) == {
        "request_id": "rq-1", "open_id": "oUser", "msg_type": "text", "text": {"content": "hi"},
    }  # fmt: skip
    product = body(build("channels_store", "card", {"type": "product", "product_id": "P1"}))
    assert product["product_share"] == {"product_id": "P1"}
    assert isinstance(build("channels_store", "link", {"title": "t", "url": "u"}), send.Unsupported)


@pytest.mark.parametrize(
    ("status", "payload", "kind", "code"),
    [
        (200, b'{"errcode":0,"errmsg":"ok","msgid":42}', "ok", 0),
        (200, b'{"errcode":40001,"errmsg":"invalid credential rid: 1"}', "token", 40001),
        (200, b'{"errcode":40014,"errmsg":"invalid access_token"}', "token", 40014),
        (200, b'{"errcode":42001,"errmsg":"access_token expired"}', "token", 42001),
        (200, b'{"errcode":45015,"errmsg":"response out of time limit"}', "window_closed", 45015),
        (
            200,
            b'{"errcode":95018,"errmsg":"send msg session status invalid"}',
            "window_closed",
            95018,
        ),
        (200, b'{"errcode":45047,"errmsg":"out of response count limit"}', "reply_limit", 45047),
        (200, b'{"errcode":-1,"errmsg":"system error"}', "transient", -1),
        (200, b'{"errcode":45009,"errmsg":"api freq out of limit"}', "transient", 45009),
        (503, b"upstream", "transient", 503),
        (200, b"<html>gateway</html>", "transient", None),
        (200, b'{"errcode":40003,"errmsg":"invalid openid"}', "rejected", 40003),
        (404, b"", "rejected", 404),
    ],
)
def test_classify(status: int, payload: bytes, kind: str, code: int | None) -> None:
    """Each errcode / HTTP status maps to what the sender does next."""
    verdict = send.classify(status, payload)
    assert (verdict.kind, verdict.code) == (kind, code)


def test_classify_keeps_the_platform_message_id() -> None:
    """A successful answer's msgid is reported as the platform message id."""
    assert send.classify(200, b'{"errcode":0,"msgid":42}').platform_msg_id == "42"
