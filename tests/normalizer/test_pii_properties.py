"""Properties of masking over generated text: idempotence, length bound, clean text, no leaks."""

from __future__ import annotations

import datetime
import unicodedata

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from normalizer.pii import MaskPolicy, PiiKind, PiiMasker

SHAPE = PiiMasker()
PSEUDO = PiiMasker(MaskPolicy(mode="pseudonym", key=b"property-test-key"))
MASKERS = st.sampled_from([SHAPE, PSEUDO])
# Hypothesis' default of 100 examples per test keeps the whole PII suite well under 20 s; a
# profile can raise it (settings.register_profile / --hypothesis-profile) for a deeper run.
SETTINGS = settings(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Chinese filler without digits of any script and without order words (订单/单号/运单…, which
# deliberately suppress bank cards): any number embedded in it must be found.
_ORDER_CHARS = set("订单号编运快递物流售后退货交易水")
FILLER_CHARS = [
    c
    for c in "的是了我不人在他有这个上们来到时大地为子中你说生国着就那和要她出也得里自以会家可下"
    "而过天去能对小多然于心学么之都好看起发当没成只如事把还用样道想作种开美总从无情己面最女但现"
    "前些所同日手又行意动方期它头经长儿回位分爱老因很给名法间知世什次使身者被高已亲其进此话常与"
    "活正感见明问力理点文几定本公特做外孩相西果走将月实向声车全信重机工气每并别真打太新比才便"
    "，。！？、：；（）“”…"
    if c not in _ORDER_CHARS
]
filler = st.text(alphabet=st.sampled_from(FILLER_CHARS), max_size=15)
digit = st.sampled_from("0123456789")

# Text that cannot hold PII: no digit of any script (ASCII, full-width, Chinese) and no '@'.
_NOT_PII = "〇零○一壹幺二贰貳两兩三叁參四肆五伍六陆陸七柒八捌九玖@＠"
clean_text = st.text(
    alphabet=st.characters(exclude_categories=["Nd", "Cs"], exclude_characters=_NOT_PII),
    max_size=80,
)

# Fragments that provoke the detectors: digits, separators, stars, Chinese digits, tokens.
_FRAGMENTS = [
    *"0123456789",
    *" -.*@+()_/Xx",
    *"一三八幺零两壹",
    "13812345678", "138 1234 5678", "+86 ", "86", "0086", "010-", "(021)", "12345678",
    "110101199003071233", "6222021234567890128", "6222 0212 3456 7890", "a@qq.com", ".com",
    "订单号", "卡号", "order", "转", "***", "⟨phone:0123456789⟩", "\u200b", "电话",
]  # fmt: skip
tricky_text = st.lists(
    st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=3)), max_size=12
).map("".join)
any_text = st.one_of(st.text(max_size=60), tricky_text)


def _digits(draw: st.DrawFn, n: int) -> str:
    return "".join(draw(st.lists(digit, min_size=n, max_size=n)))


@st.composite
def mobiles(draw: st.DrawFn) -> tuple[str, str]:
    """(spelling, digits) of a random mainland mobile."""
    number = "1" + draw(st.sampled_from("3456789")) + _digits(draw, 9)
    spellings = [
        number,
        f"{number[:3]} {number[3:7]} {number[7:]}",
        f"{number[:3]}-{number[3:7]}-{number[7:]}",
        f"+86 {number}",
        f"+86{number}",
        "".join("〇一二三四五六七八九"[int(d)] for d in number),
        " ".join(number),
    ]
    return draw(st.sampled_from(spellings)), number


@st.composite
def id_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """(spelling, value) of a random 身份证 with a valid region, date and check character."""
    region = draw(st.sampled_from(["110101", "310104", "440305", "510107", "650102", "820000"]))
    born = draw(
        st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date(2024, 12, 31))
    )
    body = region + born.strftime("%Y%m%d") + _digits(draw, 3)
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    value = body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
    return value, value


@st.composite
def cards(draw: st.DrawFn) -> tuple[str, str]:
    """(spelling, digits) of a random Luhn-valid card with a real issuer prefix."""
    prefix, length = draw(
        st.sampled_from([("62", 19), ("62", 16), ("4", 16), ("51", 16), ("3528", 16)])
    )
    body = prefix + _digits(draw, length - len(prefix) - 1)
    doubled = (int(c) * (1 if i % 2 else 2) for i, c in enumerate(reversed(body)))
    total = sum(d - 9 if d > 9 else d for d in doubled)
    number = body + str(-total % 10)
    if draw(st.booleans()):
        return " ".join(number[i : i + 4] for i in range(0, length, 4)), number
    return number, number


@SETTINGS
@given(masker=MASKERS, text=any_text)
@example(masker=SHAPE, text="电话１３８１２３４５６７８")
@example(masker=PSEUDO, text="1 3 8 1 2 3 4 5 6 7 8 86 13912345678")
@example(masker=SHAPE, text="a@qq.coma@qq.com")
@example(masker=PSEUDO, text="2X4111111111111111order+86 6222021234567890128")
def test_masking_is_idempotent(masker: PiiMasker, text: str) -> None:
    """mask_text(mask_text(x)) == mask_text(x), in both modes, NFKC input as in the pipeline."""
    text = unicodedata.normalize("NFKC", text)
    once, _ = masker.mask_text(text)
    assert masker.mask_text(once)[0] == once


@SETTINGS
@given(masker=MASKERS, text=any_text)
def test_length_bound(masker: PiiMasker, text: str) -> None:
    """len(out) <= len(text) + len(detect(text)) * max_growth_per_span (0 in shape mode)."""
    out, _ = masker.mask_text(text)
    assert len(out) <= len(text) + len(masker.detect(text)) * masker.max_growth_per_span


@SETTINGS
@given(masker=MASKERS, text=any_text)
def test_only_detected_spans_change(masker: PiiMasker, text: str) -> None:
    """Everything before the first span and after the last one is kept exactly."""
    spans = masker.detect(text)
    out, kinds = masker.mask_text(text)
    assert kinds == {s.kind for s in spans}
    if not spans:
        assert out == text
    else:
        assert out.startswith(text[: spans[0].start])
        assert out.endswith(text[spans[-1].end :])


@SETTINGS
@given(masker=MASKERS, text=clean_text)
def test_text_that_cannot_hold_pii_is_unchanged(masker: PiiMasker, text: str) -> None:
    """Without digits of any script and without '@', nothing is detected or changed."""
    assert masker.detect(text) == []
    assert masker.mask_text(text) == (text, frozenset())


@SETTINGS
@given(masker=MASKERS, text=any_text)
def test_text_without_detections_is_unchanged(masker: PiiMasker, text: str) -> None:
    """Generic text that detect() finds nothing in comes back unchanged."""
    if not masker.detect(text):
        assert masker.mask_text(text) == (text, frozenset())


def _found_and_hidden(
    masker: PiiMasker, kind: PiiKind, before: str, value: tuple[str, str], after: str
) -> None:
    """``value`` inside the filler is covered by a span of ``kind`` and leaves no digit run."""
    before, spelling, after = (unicodedata.normalize("NFKC", t) for t in (before, value[0], after))
    digits = value[1]
    text = before + spelling + after
    start, end = len(before), len(before) + len(spelling)
    spans = masker.detect(text)
    assert any(s.kind is kind and s.start <= start and s.end >= end for s in spans), spans
    out, kinds = masker.mask_text(text)
    assert kind in kinds
    assert digits not in "".join(c for c in out if c.isdigit() or c in "Xx")


@SETTINGS
@given(masker=MASKERS, before=filler, value=mobiles(), after=filler)
def test_every_mobile_is_found_and_hidden(
    masker: PiiMasker, before: str, value: tuple[str, str], after: str
) -> None:
    """A mobile in a usual, Chinese or spaced spelling inside Chinese text is found and hidden."""
    _found_and_hidden(masker, PiiKind.PHONE, before, value, after)


@SETTINGS
@given(masker=MASKERS, before=filler, value=id_numbers(), after=filler)
def test_every_id_number_is_found_and_hidden(
    masker: PiiMasker, before: str, value: tuple[str, str], after: str
) -> None:
    """A valid 身份证 inside Chinese text is found and its 18 characters do not survive."""
    _found_and_hidden(masker, PiiKind.ID_CARD, before, value, after)


@SETTINGS
@given(masker=MASKERS, before=filler, value=cards(), after=filler)
def test_every_card_is_found_and_hidden(
    masker: PiiMasker, before: str, value: tuple[str, str], after: str
) -> None:
    """A Luhn-valid card (plain or in groups of four) inside Chinese text is found and hidden."""
    _found_and_hidden(masker, PiiKind.BANK_CARD, before, value, after)
