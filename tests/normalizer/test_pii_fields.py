"""Field stripping: platform payloads whose field names say receiver name, phone, address or ID."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import PayloadError
from normalizer.pii import MaskPolicy, PiiKind, PiiMasker
from normalizer.pii.fields import Ctx, KeyClassifier

FIXTURES = Path(__file__).parent.parent / "fixtures" / "pii"
MASKER = PiiMasker()
RAW_VALUES = (
    "13812345678", "13987654321", "15012345678", "13712345678", "15812345678", "13612345678",
    "17012345678", "186 1234 5678", "88886666", "110101199003071233", "440305198512310026",
    "张三丰", "李四", "王五", "赵六", "孙七", "周八", "科苑路15号", "3栋1201", "建国路88号",
    "博云路2号", "文三路90号", "粤海街道",
)  # fmt: skip


def load(name: str) -> Any:
    """A payload fixture from tests/fixtures/pii."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def dumped(value: Any) -> str:
    """Everything in a payload as one string, JSON strings inside it decoded as well."""
    text = json.dumps(value, ensure_ascii=False)
    for _ in range(3):
        text = text.replace('\\"', '"').replace("\\\\", "\\")
    return text


def assert_no_raw_values(masked: Any) -> None:
    """None of the personal values of the fixtures appears anywhere in the masked payload."""
    text = dumped(masked)
    leaked = [v for v in RAW_VALUES if v in text]
    assert not leaked, leaked


def test_doudian_address_change_nested_json_strings() -> None:
    """Doudian 105: `data` and `receiver_msg.addr` are JSON strings; both are parsed and masked."""
    [record] = load("doudian_105_address_changed.json")
    masked, kinds = MASKER.mask_fields(record)
    assert kinds == {PiiKind.NAME, PiiKind.PHONE, PiiKind.ADDRESS}
    assert_no_raw_values(masked)
    data = json.loads(masked["data"])
    assert masked["data"] == json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    receiver = data["receiver_msg"]
    assert receiver["name"] == "张**"
    assert receiver["tel"] == "138****5678"
    assert "Zb3u" not in receiver["encrypt_name"]
    addr = json.loads(receiver["addr"])
    assert [addr[k]["name"] for k in ("province", "city", "town")] == ["广东省", "深圳市", "南山区"]
    assert addr["street"]["name"] == addr["detail"] == addr["encrypt_detail"] == "***"
    assert data["p_id"] == 6920000000000000001  # large ints survive the round trip exactly
    assert data["update_time"] == 1700000300
    assert masked["msg_id"] == "7300000000000000105"


def test_doudian_address_change_applied_masks_old_and_new_receiver() -> None:
    """Doudian 111 carries post_receiver_msg (new) and receiver_msg (old); both are masked."""
    [record] = load("doudian_111_address_change_applied.json")
    masked, _ = MASKER.mask_fields(record)
    assert_no_raw_values(masked)
    data = json.loads(masked["data"])
    assert data["post_receiver_msg"]["tel"] == "150****5678"
    assert data["receiver_msg"]["name"] == "李*"
    assert json.loads(data["post_receiver_msg"]["addr"])["town"]["name"] == "浦东新区"


def test_doudian_order_detail_api_fields() -> None:
    """post_receiver/post_tel/post_addr/id_card fields are masked; ids, times, amounts are not."""
    masked, kinds = MASKER.mask_fields(load("doudian_order_detail.json"))
    assert kinds == {PiiKind.NAME, PiiKind.PHONE, PiiKind.ADDRESS, PiiKind.ID_CARD}
    assert_no_raw_values(masked)
    assert masked["post_receiver"] == "王*"
    assert masked["post_tel"] == "186****5678"
    assert masked["mask_post_tel"] == "186****5678"  # already masked by the platform
    assert masked["mask_post_receiver"] == "王*"
    assert masked["post_addr"]["detail"] == "***"
    assert masked["post_addr"]["street"]["name"] == "***"
    assert masked["post_addr"]["town"]["name"] == "西湖区"
    assert masked["user_id_info"] == {"id_card_no": "110101********1233", "id_card_name": "王*"}
    assert masked["buyer_words"] == "麻烦发顺丰，到了打136****5678"
    assert masked["phone_no_a"] == "170****5678"
    for key in ("order_id", "order_status", "create_time", "is_virtual_tel"):
        assert masked[key] == load("doudian_order_detail.json")[key]
    assert masked["sku_order_list"][0]["sku_id"] == 5012345678901
    assert masked["sku_order_list"][0]["sku_order_id"] == "6919471234567891240"


def test_taobao_trade_receiver_fields() -> None:
    """Taobao receiver_* fields: name, mobile, landline and street address are masked."""
    masked, _ = MASKER.mask_fields(load("taobao_trade_fullinfo.json"))
    assert_no_raw_values(masked)
    trade = masked["trade_fullinfo_get_response"]["trade"]
    assert trade["receiver_name"] == "赵*"
    assert trade["receiver_mobile"] == "137****5678"
    assert trade["receiver_phone"] == "0571-****6666"
    assert trade["receiver_address"] == "浙江省杭州市西湖区***"
    assert [trade[k] for k in ("receiver_state", "receiver_city", "receiver_zip")] == [
        "浙江省",
        "杭州市",
        "310000",
    ]
    assert trade["tid"] == 3712345678901234561
    assert trade["buyer_message"] == "请发顺丰，电话有变，打158****5678"
    assert trade["orders"]["order"][0]["outer_sku_id"] == "SKU-2024-0815-A"


def test_wechat_location_label_is_an_address() -> None:
    """The WeChat location Label keeps its district prefix; ids and coordinates stay."""
    original = load("wechat_location.json")
    masked, kinds = MASKER.mask_fields(original)
    assert kinds == {PiiKind.ADDRESS}
    assert masked["Label"] == "广东省深圳市南山区***"
    assert {k: v for k, v in masked.items() if k != "Label"} == {
        k: v for k, v in original.items() if k != "Label"
    }


def test_wechat_channels_address_info() -> None:
    """WeChat Channels address_info: user_name, tel_number, detail_info, house_number."""
    masked, _ = MASKER.mask_fields(load("wechat_channels_order.json"))
    assert_no_raw_values(masked)
    info = masked["order_info"]["order_detail"]["delivery_info"]["address_info"]
    assert info["user_name"] == "孙*"
    assert info["tel_number"] == "150****5678"
    assert info["detail_info"] == info["house_number"] == "***"
    assert (info["province_name"], info["county_name"], info["postal_code"]) == (
        "广东省",
        "南山区",
        "518000",
    )
    assert masked["FromUserName"] == "oUser_demo_openid"
    assert masked["order_info"]["order_id"] == 3700000000000000001


def test_douyin_lead_card_label_value_pairs() -> None:
    """Douyin card_data {label, value}: the caption says what the value is."""
    masked, kinds = MASKER.mask_fields(load("douyin_im_lead_card.json"))
    assert kinds == {PiiKind.NAME, PiiKind.PHONE, PiiKind.ID_CARD}
    assert_no_raw_values(masked)
    content = json.loads(masked["content"])
    assert content["text"] == "你好，我想咨询一下，我的电话是138****5678"
    assert [c["value"] for c in content["card_data"]] == [
        "周*",
        "137****5678",
        "深圳",
        "440305********0026",
    ]
    assert content["card_data"][0]["label"] == "姓名"
    assert content["user_infos"][0]["nick_name"] == "顾客A"


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("receiver_name", PiiKind.NAME),
        ("receiverName", PiiKind.NAME),
        ("RECEIVER_NAME", PiiKind.NAME),
        ("post_receiver", PiiKind.NAME),
        ("mask_post_receiver", PiiKind.NAME),
        ("user_name", PiiKind.NAME),
        ("userName", PiiKind.NAME),
        ("consignee", PiiKind.NAME),
        ("id_card_name", PiiKind.NAME),
        ("post_tel", PiiKind.PHONE),
        ("receiver_tel", PiiKind.PHONE),
        ("receiver_mobile", PiiKind.PHONE),
        ("receivermobile", PiiKind.PHONE),
        ("receiver_phone", PiiKind.PHONE),
        ("telNumber", PiiKind.PHONE),
        ("tel_number", PiiKind.PHONE),
        ("mobile", PiiKind.PHONE),
        ("phone", PiiKind.PHONE),
        ("phone_no_a", PiiKind.PHONE),
        ("contactPhone", PiiKind.PHONE),
        ("receiver_address", PiiKind.ADDRESS),
        ("post_addr", PiiKind.ADDRESS),
        ("receiver_addr", PiiKind.ADDRESS),
        ("detail_address", PiiKind.ADDRESS),
        ("address", PiiKind.ADDRESS),
        ("Label", PiiKind.ADDRESS),
        ("detailInfo", PiiKind.ADDRESS),
        ("id_card_no", PiiKind.ID_CARD),
        ("idCardNo", PiiKind.ID_CARD),
        ("encrypt_id_card_no", PiiKind.ID_CARD),
        ("id_number", PiiKind.ID_CARD),
        ("email", PiiKind.EMAIL),
        ("email_address", PiiKind.EMAIL),
        ("手机号", PiiKind.PHONE),
        ("收货人", PiiKind.NAME),
        ("收货地址", PiiKind.ADDRESS),
    ],
)
def test_key_names_that_hold_personal_data(key: str, kind: PiiKind) -> None:
    """snake_case, camelCase, upper-case, run-together and Chinese names are recognised."""
    assert KeyClassifier().classify(key, Ctx.PLAIN)[0] is kind


@pytest.mark.parametrize(
    "key",
    [
        "order_id", "shop_id", "sku_id", "p_id", "create_time", "status", "ToUserName",
        "FromUserName", "nick_name", "buyer_nick", "product_name", "province_name", "ip_address",
        "remote_addr", "mail_no", "hotel", "address_id", "phone_model", "id", "name", "detail",
        "receiver_state", "receiver_zip", "Location_X", "MsgId",
    ],
)  # fmt: skip
def test_key_names_that_do_not(key: str) -> None:
    """Ids, times, statuses, nicknames, product and region names are not masked as a whole."""
    assert KeyClassifier().classify(key, Ctx.PLAIN)[0] is None


def test_bare_name_is_personal_only_inside_a_receiver_record() -> None:
    """`name` is the receiver's name in receiver_msg, a region name in province, else plain."""
    masked, _ = MASKER.mask_fields(
        {
            "receiver_msg": {"name": "张三"},
            "province": {"name": "广东省"},
            "express": {"name": "顺丰速运"},
        }
    )
    assert masked == {
        "receiver_msg": {"name": "张*"},
        "province": {"name": "广东省"},
        "express": {"name": "顺丰速运"},
    }


def test_integers_in_phone_and_id_fields_are_masked() -> None:
    """Platforms send numbers as JSON integers too; in a phone or ID field they are masked."""
    masked, kinds = MASKER.mask_fields(
        {"tel": 13812345678, "id_card_no": 110101199003071233, "receiver_name": 7, "shop_id": 1}
    )
    assert masked == {
        "tel": "138****5678",
        "id_card_no": "110101********1233",
        "receiver_name": 7,
        "shop_id": 1,
    }
    assert kinds == {PiiKind.PHONE, PiiKind.ID_CARD}


def test_unrecognisable_values_in_phone_fields_are_masked_anyway() -> None:
    """A phone field that holds no valid number keeps at most its ends and loses the rest."""
    masked, _ = MASKER.mask_fields(
        {"receiver_phone": "12345678", "tel": "13812345678-1234", "mobile": "", "phone": None}
    )
    assert masked == {
        "receiver_phone": "********",
        "tel": "138********-1234",
        "mobile": "",
        "phone": None,
    }


def test_lists_of_values_and_records() -> None:
    """Lists are walked: a list under a phone key holds phones, a list of records is recursed."""
    masked, _ = MASKER.mask_fields(
        {"mobiles": ["13812345678", "13987654321"], "receivers": [{"receiver_name": "张三"}]}
    )
    assert masked == {
        "mobiles": ["138****5678", "139****4321"],
        "receivers": [{"receiver_name": "张*"}],
    }


def test_result_is_a_deep_copy_and_input_is_untouched() -> None:
    """mask_fields never changes its argument and shares no container with it."""
    original = load("doudian_order_detail.json")
    before = copy.deepcopy(original)
    masked, _ = MASKER.mask_fields(original)
    assert original == before
    assert masked["post_addr"] is not original["post_addr"]
    assert masked["sku_order_list"] is not original["sku_order_list"]


def test_clean_payload_comes_back_equal() -> None:
    """A payload without personal data is returned equal (and empty kinds)."""
    payload = {"order_id": "6919471234567891239", "status": 2, "items": [{"sku_id": 1, "n": 2.5}]}
    assert MASKER.mask_fields(payload) == (payload, frozenset())


def test_non_json_brace_strings_are_plain_text() -> None:
    """A string that only looks like JSON is masked as text and kept otherwise."""
    masked, _ = MASKER.mask_fields({"remark": "{电话13812345678}", "memo": "[not json"})
    assert masked == {"remark": "{电话138****5678}", "memo": "[not json"}


def test_too_deep_payload_is_refused() -> None:
    """Nesting deeper than 64 levels raises PayloadError (fail closed) instead of recursing on."""
    deep: dict[str, Any] = {"tel": "13812345678"}
    for _ in range(70):
        deep = {"x": deep}
    with pytest.raises(PayloadError):
        MASKER.mask_fields(deep)


def test_pseudonym_fields_match_free_text_pseudonyms() -> None:
    """In pseudonym mode a phone field and the same phone in a message give the same token."""
    masker = PiiMasker(MaskPolicy(mode="pseudonym", key=b"k" * 32))
    masked, _ = masker.mask_fields(
        {"receiver_mobile": "+86 138-1234-5678", "text": "电话13812345678"}
    )
    token = masked["receiver_mobile"]
    assert token.startswith("⟨phone:")
    assert masked["text"] == f"电话{token}"


def test_pseudonym_leaves_platform_masked_values_alone() -> None:
    """A value the platform already masked (138****5678, 王*) is not turned into a token."""
    masker = PiiMasker(MaskPolicy(mode="pseudonym", key=b"k" * 32))
    masked, kinds = masker.mask_fields(
        {"mask_post_tel": "138****5678", "mask_post_receiver": "王*"}
    )
    assert masked == {"mask_post_tel": "138****5678", "mask_post_receiver": "王*"}
    assert kinds == frozenset()
