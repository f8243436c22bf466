"""Free-text detection: where are the phone numbers, 身份证, bank cards and e-mail addresses?

Owns the compiled patterns (built in ``Detector.__init__``, never at import), the cluster
pre-scan that makes clean text cheap, the order-id context rule for bank cards and overlap
resolution. Input is NFKC-normalized text (full-width digits are ASCII already). Names and
addresses are not detected here: they come only from field names (`fields.py`).

Rules that keep the output stable and the false positives low:

* digits are never taken from inside a longer digit run (an 11-digit slice of an 18-digit order
  id is no phone; a 16-digit slice of a 19-digit number is no card);
* 身份证 need region, birth date and checksum; cards need Luhn and a plausible issuer prefix;
* a bank card right after an order word (订单, 单号, order…) with no card word (卡, 账号…) after
  that word is taken for an order id — Doudian/Taobao ids are 16–19 digits and 10% of them
  pass Luhn. This context rule applies to bank cards only;
* ``86``/``0086`` right after a letter is no country code (``JT8616775387689`` is a J&T
  tracking number);
* overlaps are resolved leftmost-longest, then ID > card > e-mail > phone;
* nothing touching our own output is found again: digits next to a ``*`` run that follows or
  precedes kept digits (``138****5678``) and anything touching a ``⟨kind:hex⟩`` token.

Masking is idempotent because acceptance is local: it depends on the value and the characters
right next to it (and, for cards, on order words before it), and every replacement keeps the
characters at its edges of the same class (digits stay digits; e-mail shapes start with a letter
or ``*``) or is a token that is never detected nor touched. Masking a neighbour therefore never
turns a rejected candidate into an accepted one. The property tests check this on generated text.
"""

from __future__ import annotations

import datetime
import re
import string

from .checks import card_prefix_ok, id15_ok, id18_ok, is_mobile, luhn_ok
from .kinds import Found, PiiKind
from .mobiles import CN_DIGITS, SEPARATORS, MobileScanner, after_letter
from .render import (
    TOKEN_PATTERN,
    card_shape,
    email_shape,
    id_shape,
    landline_shape,
    mobile_shape,
)

__all__ = ["Detector"]

_RANK = {PiiKind.ID_CARD: 0, PiiKind.BANK_CARD: 1, PiiKind.EMAIL: 2, PiiKind.PHONE: 3}
_AREA = r"(?:010|02[0-9]|0[3-9][0-9]{2})"
_AREA_INTL = r"(?:10|2[0-9]|[3-9][0-9]{2})"
_LANDLINE = (
    r"(?<![0-9])(?:\((?P<a1>" + _AREA + r")\)[ -]?"
    r"|(?P<a2>" + _AREA + r")(?P<s2>[ -]?)"
    r"|(?:\+|00)86[ -]?(?:\(0\))?(?P<a3>" + _AREA_INTL + r")[ -]?)"
    r"(?P<local>[1-9](?:[0-9]{2,3}[ -]?[0-9]{4}|[0-9]{3}[ -][0-9]{3}))(?![0-9])"
)
_ID = (
    r"(?<![0-9])(?:[1-8][0-9]{5}(?P<s>[ -]?)(?:19|20)[0-9]{6}(?P=s)[0-9]{3}[0-9Xx](?![0-9Xx])"
    r"|[1-8][0-9]{14}(?![0-9]))"
)
_CARD = (
    r"(?<![0-9])(?:[0-9]{16,19}(?![0-9])"
    r"|(?<![0-9][ -])[0-9]{4}(?P<cs>[ -])[0-9]{4}(?P=cs)[0-9]{4}(?P=cs)[0-9]{4}"
    r"(?:(?P=cs)[0-9]{1,3})?(?![0-9])(?!(?P=cs)[0-9]))"
)
_EMAIL = (
    r"(?<![A-Za-z0-9._%+@-])[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)
_ORDER_WORDS = (
    r"订单|单号|编号|运单|快递|物流|售后|退款单|退货单|交易号|流水号"
    r"|(?<![a-z])order(?![a-z@._-])"
)
_CARD_WORDS = r"卡|card|账号|账户|银行|收款"
_CONTEXT_CHARS = 12
_ID_TAIL = frozenset("0123456789Xx")


class Detector:
    """Finds PII spans in NFKC text. Stateless after construction; safe to share."""

    __slots__ = (
        "_card",
        "_card_words",
        "_cluster",
        "_email",
        "_id",
        "_landline",
        "_last_year",
        "_local_chars",
        "_mobiles",
        "_not_digit",
        "_order_words",
        "_token",
    )

    def __init__(self, today: datetime.date | None = None) -> None:
        self._last_year = (today or datetime.date.today()).year
        digit = f"[0-9{CN_DIGITS}]"
        gap = "[" + re.escape(SEPARATORS + "+()") + "]"
        self._cluster = re.compile(f"{digit}(?:{gap}{{0,3}}{digit}){{9,}}")
        self._not_digit = str.maketrans("", "", SEPARATORS + "+()")
        self._mobiles = MobileScanner()
        self._landline = re.compile(_LANDLINE)
        self._id = re.compile(_ID)
        self._card = re.compile(_CARD)
        self._email = re.compile(_EMAIL)
        self._local_chars = frozenset(string.ascii_letters + string.digits + "._%+-")
        self._token = re.compile(TOKEN_PATTERN)
        self._order_words = re.compile(_ORDER_WORDS, re.IGNORECASE)
        self._card_words = re.compile(_CARD_WORDS, re.IGNORECASE)

    def find(self, text: str) -> list[Found]:
        """Non-overlapping detections, sorted by position.

        One regex pass finds *clusters*: ten or more digits (ASCII or Chinese) with at most
        three separators, ``+``, ``(`` or ``)`` between neighbours — every number we detect lies
        in one, the shortest (a landline) having 10 digits. A cluster that is one plain digit
        run takes a fast path; otherwise the number patterns run on the cluster's window only,
        each only when the cluster has enough digits for it. The e-mail pattern runs only around
        an ``@``. Clean text costs a single scan.
        """
        found: list[Found] = []
        if "@" in text:
            found.extend(self._emails(text))
        n = len(text)
        for cluster in self._cluster.finditer(text):
            start, end = cluster.span()
            digits = cluster.group()
            if digits.isdigit() and digits.isascii():
                found.extend(self._plain(text, start, end, digits))
                continue
            # Two characters of margin: "+86", "(021)" before; the "X" of an ID after.
            lo, hi = max(0, start - 2), min(n, end + 2)
            count = len(digits.translate(self._not_digit))
            found.extend(self._mobiles.scan(text, lo, hi))
            found.extend(self._landlines(text, lo, hi))
            if count >= 15:
                found.extend(self._ids(text, lo, hi))
            if count >= 16:
                found.extend(self._cards(text, lo, hi))
        return self._resolve(text, found) if found else found

    def _plain(self, text: str, start: int, end: int, digits: str) -> list[Found]:
        """The fast path for a cluster that is one plain run of ASCII digits (an order id, a
        phone, an ID number): the rules of the patterns, decided without running them."""
        out: list[Found] = []
        n = len(digits)
        plus = start > 0 and text[start - 1] == "+"
        cc = (n == 13 and digits[:2] == "86") or (n == 15 and digits[:4] == "0086")
        if n == 11 or (cc and not after_letter(text, start)):
            core = digits[n - 11 :]
            if is_mobile(core):
                lead = 1 if n > 11 and plus else 0
                out.append(Found(PiiKind.PHONE, start - lead, end, core, mobile_shape(core)))
        if digits[0] == "0" or (plus and digits[:2] == "86"):
            out.extend(self._landlines(text, start - (digits[0] != "0"), end))
        after = text[end : end + 2]
        if n == 17 and after[:1] in ("X", "x") and after[1:2] not in _ID_TAIL:
            value = digits + "X"
            if id18_ok(value, self._last_year):
                out.append(Found(PiiKind.ID_CARD, start, end + 1, value, id_shape(value)))
        elif (n == 18 and after[:1] not in _ID_TAIL and id18_ok(digits, self._last_year)) or (
            n == 15 and id15_ok(digits)
        ):
            out.append(Found(PiiKind.ID_CARD, start, end, digits, id_shape(digits)))
        if (
            16 <= n <= 19
            and card_prefix_ok(digits)
            and luhn_ok(digits)
            and not self._after_order_word(text, start)
        ):
            out.append(Found(PiiKind.BANK_CARD, start, end, digits, card_shape(digits)))
        return out

    def _emails(self, text: str) -> list[Found]:
        """Around each ``@``: find where its local part starts (at most 64 characters back),
        then match the whole address from there."""
        out: list[Found] = []
        local_chars = self._local_chars
        at = text.find("@")
        while at != -1:
            start, stop = at, max(0, at - 64)
            while start > stop and text[start - 1] in local_chars:
                start -= 1
            if start < at:
                m = self._email.match(text, start)
                if m is not None:
                    address = m.group()
                    shape = email_shape(address)
                    out.append(Found(PiiKind.EMAIL, m.start(), m.end(), address.lower(), shape))
            at = text.find("@", at + 1)
        return out

    def _landlines(self, text: str, lo: int, hi: int) -> list[Found]:
        out: list[Found] = []
        for m in self._landline.finditer(text, lo, hi):
            area = m["a1"] or m["a2"] or "0" + m["a3"]
            local = m["local"].replace(" ", "").replace("-", "")
            dash = bool(m["a1"] or m["a3"] or m["s2"])
            shape = landline_shape(area, dash, local)
            out.append(Found(PiiKind.PHONE, m.start(), m.end(), area + local, shape))
        return out

    def _ids(self, text: str, lo: int, hi: int) -> list[Found]:
        out: list[Found] = []
        for m in self._id.finditer(text, lo, hi):
            value = m.group().replace(" ", "").replace("-", "").upper()
            if id18_ok(value, self._last_year) if len(value) == 18 else id15_ok(value):
                out.append(Found(PiiKind.ID_CARD, m.start(), m.end(), value, id_shape(value)))
        return out

    def _cards(self, text: str, lo: int, hi: int) -> list[Found]:
        out: list[Found] = []
        for m in self._card.finditer(text, lo, hi):
            digits = m.group().replace(" ", "").replace("-", "")
            if not (card_prefix_ok(digits) and luhn_ok(digits)):
                continue
            if self._after_order_word(text, m.start()):
                continue
            out.append(Found(PiiKind.BANK_CARD, m.start(), m.end(), digits, card_shape(digits)))
        return out

    def _after_order_word(self, text: str, start: int) -> bool:
        """True when the last 12 characters before ``start`` name an order id and no card word
        follows that order word. A pseudonym token counts as one space, so masking the text
        before a number never pushes its order word out of the window."""
        before = text[max(0, start - 64) : start]
        if "⟨" in before:
            before = self._token.sub(" ", before)
        before = before[-_CONTEXT_CHARS:]
        order = [m.end() for m in self._order_words.finditer(before)]
        if not order:
            return False
        card = [m.end() for m in self._card_words.finditer(before)]
        return not card or order[-1] > card[-1]

    def _resolve(self, text: str, found: list[Found]) -> list[Found]:
        tokens = [m.span() for m in self._token.finditer(text)] if "⟨" in text else []
        check_stars = "*" in text
        candidates = [
            f
            for f in found
            if not (tokens and any(f.start <= te and f.end >= ts for ts, te in tokens))
            and not (check_stars and _touches_mask(text, f.start, f.end))
        ]
        candidates.sort(key=lambda f: (f.start, -f.end, _RANK[f.kind]))
        chosen: list[Found] = []
        last_end = -1
        for f in candidates:
            if f.start >= last_end:
                chosen.append(f)
                last_end = f.end
        return chosen


def _touches_mask(text: str, start: int, end: int) -> bool:
    """True when ``text[start:end]`` is the kept end of one of our shapes: an ASCII digit right
    after ``<digit>[-]***`` or right before ``[-]***<digit>`` (three or more ``*``), as in
    ``138****|5678`` and ``010|-****5678``."""
    if "0" <= text[start] <= "9":
        i = start
        while i > 0 and text[i - 1] == "*":
            i -= 1
        if start - i >= 3:
            if i > 0 and text[i - 1] == "-":
                i -= 1
            if i > 0 and "0" <= text[i - 1] <= "9":
                return True
    n = len(text)
    if "0" <= text[end - 1] <= "9":
        k = end + 1 if end < n and text[end] == "-" else end
        first = k
        while k < n and text[k] == "*":
            k += 1
        if k - first >= 3 and k < n and "0" <= text[k] <= "9":
            return True
    return False
