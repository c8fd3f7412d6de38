"""Mainland China mobile numbers: validation, carrier recognition and masking."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum


class Carrier(StrEnum):
    MOBILE = "mobile"  # 中国移动
    UNICOM = "unicom"  # 中国联通
    TELECOM = "telecom"  # 中国电信
    BROADNET = "broadnet"  # 中国广电


# Number segments (号段) by carrier, including the mobile virtual network segments that are
# assigned to a host carrier. Longer prefixes win over shorter ones.
_SEGMENTS: dict[Carrier, tuple[str, ...]] = {
    Carrier.MOBILE: (
        "1340", "1341", "1342", "1343", "1344", "1345", "1346", "1347", "1348",
        "135", "136", "137", "138", "139", "147", "148", "150", "151", "152", "157",
        "158", "159", "165", "172", "178", "182", "183", "184", "187", "188", "195",
        "197", "198", "1703", "1705", "1706",
    ),
    Carrier.UNICOM: (
        "130", "131", "132", "145", "146", "155", "156", "166", "167", "171", "175",
        "176", "185", "186", "196", "1704", "1707", "1708", "1709",
    ),
    Carrier.TELECOM: (
        "133", "1349", "149", "153", "162", "173", "17400", "17401", "17402", "17403",
        "17404", "17405", "177", "180", "181", "189", "190", "191", "193", "199",
        "1700", "1701", "1702",
    ),
    Carrier.BROADNET: ("192",),
}  # fmt: skip

_PREFIXES: list[tuple[str, Carrier]] = sorted(
    ((prefix, carrier) for carrier, prefixes in _SEGMENTS.items() for prefix in prefixes),
    key=lambda item: -len(item[0]),
)

_SEPARATORS = re.compile(r"[\s\-()\u2010-\u2015\u2212.·]")
_COUNTRY_PREFIX = re.compile(r"^(?:\+86|0086|86)(?=1\d{10}$)")


class PhoneNumberError(ValueError):
    """The text is not a mainland China mobile number. `reason` names why, for the customer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, order=True)
class PhoneNumber:
    """An 11-digit mainland China mobile number in a segment that a carrier serves."""

    digits: str
    carrier: Carrier

    @property
    def masked(self) -> str:
        return mask(self.digits)


def normalise(text: str) -> str:
    """Strip separators and the +86 country prefix a customer or Telegram may add; full-width
    digits and signs (a Chinese keyboard's １８６－…, ＋８６) read as their ASCII forms."""
    compact = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text).strip())
    return _COUNTRY_PREFIX.sub("", compact)


def carrier_of(digits: str) -> Carrier | None:
    for prefix, carrier in _PREFIXES:
        if digits.startswith(prefix):
            return carrier
    return None


def parse_phone_number(text: str) -> PhoneNumber:
    """Validate a typed or shared number; raise PhoneNumberError with a reason otherwise.

    Reasons: "not_digits", "length", "segment".
    """
    digits = normalise(text)
    if not digits.isdigit() or not digits.isascii():
        raise PhoneNumberError("not_digits")
    if len(digits) != 11 or not digits.startswith("1"):
        raise PhoneNumberError("length")
    carrier = carrier_of(digits)
    if carrier is None:
        raise PhoneNumberError("segment")
    return PhoneNumber(digits=digits, carrier=carrier)


def mask(digits: str) -> str:
    """138****5678: the first three and last four digits, never more."""
    if len(digits) < 8:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"
