"""Decoded WeChat payloads → PlatformEvents, for every documented shape and unknown ones."""

from __future__ import annotations

import pytest

from adapters.codec import loads_xml
from adapters.wechat.events import to_event
from gateway.errors import PayloadError
from gateway.models import Kind


def xml(inner: str) -> dict[str, object]:
    head = (
        "<ToUserName><![CDATA[gh_0a1b2c3d4e5f]]></ToUserName><FromUserName><![CDATA[oU1]]>"
        "</FromUserName><CreateTime>1735689660</CreateTime>"
    )
    return loads_xml(f"<xml>{head}{inner}</xml>".encode())


def test_subscribe_with_qr_scene_strips_prefix() -> None:
    """subscribe with EventKey qrscene_X carries scene X and is customer-initiated."""
    event = to_event(
        xml(
            "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event>"
            "<EventKey><![CDATA[qrscene_campaign42]]></EventKey>"
            "<Ticket><![CDATA[T]]></Ticket>"
        ),
        "shop1",
    )
    assert event.kind is Kind.EVENT
    assert event.event is not None
    assert (event.event.type, event.event.key) == ("subscribe", "campaign42")
    assert event.customer_initiated
    assert event.platform_msg_id == "evt:oU1:1735689660:subscribe:qrscene_campaign42"
    assert event.extra == {"Ticket": "T"}


def test_scan_event_is_lower_cased() -> None:
    """SCAN arrives upper-case on the wire and is reported as 'scan'."""
    event = to_event(
        xml("<MsgType>event</MsgType><Event>SCAN</Event><EventKey>adv_7</EventKey>"), "shop1"
    )
    assert event.event is not None and (event.event.type, event.event.key) == ("scan", "adv_7")


def test_view_is_not_customer_initiated_but_click_is() -> None:
    """Only menu clicks open the reply window; VIEW (open a URL) does not."""
    click = to_event(
        xml("<MsgType>event</MsgType><Event>CLICK</Event><EventKey>m1</EventKey>"), "s"
    )
    view = to_event(
        xml("<MsgType>event</MsgType><Event>VIEW</Event><EventKey>https://x</EventKey>"), "s"
    )
    assert click.customer_initiated and not view.customer_initiated


@pytest.mark.parametrize(
    ("inner", "kind", "media"),
    [
        (
            "<MsgType>image</MsgType><PicUrl>http://p/1.jpg</PicUrl><MediaId>m1</MediaId>",
            Kind.IMAGE,
            {"media_id": "m1", "url": "http://p/1.jpg"},
        ),
        (
            "<MsgType>voice</MsgType><MediaId>m2</MediaId><Format>amr</Format>",
            Kind.VOICE,
            {"media_id": "m2", "format": "amr"},
        ),
        (
            "<MsgType>video</MsgType><MediaId>m3</MediaId><ThumbMediaId>t3</ThumbMediaId>",
            Kind.VIDEO,
            {"media_id": "m3", "thumb_media_id": "t3"},
        ),
        (
            "<MsgType>shortvideo</MsgType><MediaId>m4</MediaId><ThumbMediaId>t4</ThumbMediaId>",
            Kind.VIDEO,
            {"media_id": "m4", "thumb_media_id": "t4"},
        ),
        (
            "<MsgType>link</MsgType><Title>T</Title><Description>D</Description><Url>http://u</Url>",
            Kind.LINK,
            {"url": "http://u", "title": "T", "description": "D"},
        ),
    ],
)
def test_media_messages(inner: str, kind: Kind, media: dict[str, str]) -> None:
    """Media messages keep their media ids and URLs under `media`."""
    event = to_event(xml(inner + "<MsgId>99</MsgId>"), "shop1")
    assert (event.kind, dict(event.media or {})) == (kind, media)
    assert event.platform_msg_id == "msg:99"


def test_text_and_voice_text_is_not_repeated_in_extra() -> None:
    """The field that became `text` is not kept a second time in `extra` (it would be masked
    and published twice); the fields nothing else carries stay there."""
    text = to_event(
        xml("<MsgType>text</MsgType><Content>你好</Content><MsgId>1</MsgId><Idx>2</Idx>"), "s"
    )
    assert (text.text, text.extra) == ("你好", {"Idx": "2"})
    voice = to_event(
        xml(
            "<MsgType>voice</MsgType><MediaId>m</MediaId><Format>amr</Format>"
            "<Recognition>退货</Recognition><MsgId>2</MsgId><MediaId16K>m16</MediaId16K>"
        ),
        "s",
    )
    assert (voice.text, voice.extra) == ("退货", {"MediaId16K": "m16"})


def test_location_message_keeps_label_in_extra() -> None:
    """A location message carries coordinates and label (the normalizer masks the label)."""
    event = to_event(
        xml(
            "<MsgType>location</MsgType><Location_X>23.1</Location_X>"
            "<Location_Y>113.3</Location_Y><Scale>20</Scale>"
            "<Label>广州市海珠区</Label><MsgId>5</MsgId>"
        ),
        "shop1",
    )
    assert event.kind is Kind.LOCATION
    assert event.extra["location"]["label"] == "广州市海珠区"


def test_unknown_message_type_is_kept_as_event() -> None:
    """An unknown MsgType is not dropped: kind event, raw fields in extra."""
    event = to_event(xml("<MsgType>hologram</MsgType><Depth>3</Depth><MsgId>6</MsgId>"), "s")
    assert event.kind is Kind.EVENT
    assert event.event is not None and event.event.type == "msgtype_hologram"
    assert event.extra == {"Depth": "3"}


def test_unknown_event_is_kept() -> None:
    """An unknown Event keeps its raw fields."""
    event = to_event(
        xml(
            "<MsgType>event</MsgType><Event>channels_ec_vip_join</Event>"
            "<vip_info><level>2</level></vip_info>"
        ),
        "s",
    )
    assert event.event is not None and event.event.type == "channels_ec_vip_join"
    assert event.extra == {"vip_info": {"level": "2"}}


def test_aftersale_event() -> None:
    """channels_ec_aftersale_update becomes kind aftersale with the aftersale id and status."""
    data = {
        "ToUserName": "gh",
        "FromUserName": "oB",
        "CreateTime": 1735689700,
        "MsgType": "event",
        "Event": "channels_ec_aftersale_update",
        "finder_shop_aftersale_status_update": {
            "status": "MERCHANT_PROCESSING",
            "after_sale_order_id": 900000000000000001,
            "order_id": 3712345678901234567,
        },
    }
    event = to_event(data, "store")
    assert event.kind is Kind.AFTERSALE
    assert event.order is not None
    assert (event.order.id, event.order.status) == ("900000000000000001", "MERCHANT_PROCESSING")


def test_mini_program_card() -> None:
    """A Mini Program page card becomes kind card."""
    event = to_event(
        xml(
            "<MsgType>miniprogrampage</MsgType><Title>T</Title><AppId>wxa</AppId>"
            "<PagePath>p/i</PagePath><MsgId>8</MsgId>"
        ),
        "mp",
    )
    assert event.kind is Kind.CARD
    assert event.media == {"app_id": "wxa", "title": "T", "page_path": "p/i"}


@pytest.mark.parametrize(
    "inner",
    [
        "<MsgType>text</MsgType><Content>x</Content>",  # no MsgId
        "<Content>x</Content><MsgId>1</MsgId>",  # no MsgType
        "<MsgType><a>1</a><a>2</a></MsgType><MsgId>1</MsgId>",  # structure where text expected
    ],
)
def test_incomplete_payload_refused(inner: str) -> None:
    """Payloads missing required fields or with structure where a value belongs are refused."""
    with pytest.raises(PayloadError):
        to_event(xml(inner), "s")


def test_create_time_must_be_an_integer() -> None:
    """A non-numeric CreateTime is a malformed payload."""
    with pytest.raises(PayloadError):
        to_event({"MsgType": "text", "FromUserName": "o", "CreateTime": "soon", "MsgId": "1"}, "s")
