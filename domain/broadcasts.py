"""Campaign pushes (broadcasts): the rules that need no database.

A broadcast is a message staff send to a chosen audience. Each recipient is one row of the
broadcast outbox, sent at most once. Pushes are marketing: they go only to customers who have
not turned them off, at most `daily_cap` a customer a day (China time) across all broadcasts,
never in quiet hours, and never about an offer the customer already took or that sold out or
ended by the moment of sending.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from domain.orders import china_day_start
from domain.phone import Carrier
from domain.reminders import QuietHours
from domain.tiers import Tier


class BroadcastStatus(StrEnum):
    DRAFT = "draft"  # being composed; nothing planned
    SCHEDULED = "scheduled"  # planned (or being planned) and sent from `send_at`
    PAUSED = "paused"  # nothing more is sent until resumed
    CANCELLED = "cancelled"  # nothing more is ever sent; queued rows are skipped
    DONE = "done"  # every row sent, skipped or failed


class PushTarget(StrEnum):
    """Where a button of a push leads, inside the bot."""

    OFFERS = "offers"
    RECHARGE = "recharge"
    SURVEY = "survey"


class PushSkip(StrEnum):
    """Why a planned push was not sent: checked again at the moment of sending."""

    OPTED_OUT = "opted_out"
    UNREACHABLE = "unreachable"
    ERASED = "erased"
    FREQUENCY_CAP = "frequency_cap"
    TAKEN = "taken"
    SOLD_OUT = "sold_out"
    OVER = "over"
    CANCELLED = "cancelled"
    HOLDOUT = "holdout"  # in the control group of the campaign the push is about
    NO_CONSENT = "no_consent"  # consent is required and marketing was not agreed to


# Most buttons a push may carry (besides "turn pushes off").
MAX_PUSH_BUTTONS = 3
# The longest caption of a picture, counted as Telegram counts (UTF-16 code units).
MAX_CAPTION_CHARS = 1024
# A deep link into the bot for a push's button: t.me/<bot>?start=push_<broadcast>_<target>.
DEEP_LINK_PREFIX = "push_"


def deep_link_payload(broadcast_id: int, target: PushTarget) -> str:
    """The payload of a push button's deep link (broadcast 0: a staff member's test push)."""
    return f"{DEEP_LINK_PREFIX}{broadcast_id}_{target.value}"


def parse_deep_link(payload: str) -> tuple[int, PushTarget] | None:
    """(broadcast, target) of a push's deep-link payload; None when it is not exactly one."""
    if not payload.startswith(DEEP_LINK_PREFIX):
        return None
    number, _, target = payload.removeprefix(DEEP_LINK_PREFIX).partition("_")
    if not number.isascii() or not number.isdigit() or (number.startswith("0") and number != "0"):
        return None
    if len(number) > 12 or target not in {t.value for t in PushTarget}:
        return None
    return int(number), PushTarget(target)


def caption_length(text: str) -> int:
    """A text's length as Telegram counts it (UTF-16 code units: an emoji is two)."""
    return len(text.encode("utf-16-le")) // 2


def push_cap_scope(at: datetime) -> str:
    """The allowance that counts a customer's pushes on one day in China."""
    return f"push:{china_day_start(at).date().isoformat()}"


@dataclass(frozen=True)
class PushContent:
    """What a broadcast says: a text per language and up to three buttons into the bot, as
    typed button data or as deep links (`links`); with a picture (`photo`, Telegram's file id)
    the text is its caption."""

    text_zh: str
    text_en: str
    targets: tuple[PushTarget, ...] = ()
    photo: str | None = None
    links: bool = False

    def __post_init__(self) -> None:
        if len(self.targets) > MAX_PUSH_BUTTONS:
            raise ValueError(f"a push has at most {MAX_PUSH_BUTTONS} buttons")
        if not self.text_zh.strip() or not self.text_en.strip():
            raise ValueError("a push needs its text in both languages")

    def text_in(self, chinese: bool) -> str:
        return self.text_zh if chinese else self.text_en


class Stage(StrEnum):
    NEW = "new"  # no completed recharge yet
    EXISTING = "existing"  # at least one completed recharge


@dataclass(frozen=True)
class Audience:
    """Who a broadcast is for: every segment set narrows it (they combine with "and"); none set
    is everyone reachable. Campaigns are named by id; `recharged_within_days` with `recharged`
    False means "did not recharge within N days", and likewise `took_offer_of`/`took`."""

    stage: Stage | None = None
    tier_at_least: Tier | None = None
    carrier: Carrier | None = None
    recharged_within_days: int | None = None
    recharged: bool = True
    took_offer_of: int | None = None
    took: bool = True
    reminders_of: int | None = None
    inviters: bool = False

    @property
    def everyone(self) -> bool:
        return self == Audience()

    def to_json(self) -> dict[str, object]:
        found: dict[str, object] = {}
        if self.stage is not None:
            found["stage"] = self.stage.value
        if self.tier_at_least is not None:
            found["tier_at_least"] = int(self.tier_at_least)
        if self.carrier is not None:
            found["carrier"] = self.carrier.value
        if self.recharged_within_days is not None:
            found["recharged_within_days"] = self.recharged_within_days
            found["recharged"] = self.recharged
        if self.took_offer_of is not None:
            found["took_offer_of"] = self.took_offer_of
            found["took"] = self.took
        if self.reminders_of is not None:
            found["reminders_of"] = self.reminders_of
        if self.inviters:
            found["inviters"] = True
        return found

    @classmethod
    def from_json(cls, data: Mapping[str, object] | None) -> Audience:
        data = data or {}

        def number(key: str) -> int | None:
            value = data.get(key)
            return int(value) if isinstance(value, int | str) and str(value).isdigit() else None

        stage, carrier, tier = data.get("stage"), data.get("carrier"), number("tier_at_least")
        return cls(
            stage=Stage(str(stage)) if stage in {s.value for s in Stage} else None,
            tier_at_least=Tier(tier) if tier is not None and tier in set(Tier) else None,
            carrier=Carrier(str(carrier)) if carrier in {c.value for c in Carrier} else None,
            recharged_within_days=number("recharged_within_days"),
            recharged=bool(data.get("recharged", True)),
            took_offer_of=number("took_offer_of"),
            took=bool(data.get("took", True)),
            reminders_of=number("reminders_of"),
            inviters=bool(data.get("inviters", False)),
        )


@dataclass(frozen=True)
class Reach:
    """How many customers an audience holds, and how many of them a push would not reach now,
    by reason (opted out, blocked the bot, at the day's frequency cap)."""

    matching: int
    excluded: dict[PushSkip, int]

    @property
    def reachable(self) -> int:
        return self.matching - sum(self.excluded.values())


# The longest "recharged within N days" staff may ask for.
MAX_SEGMENT_DAYS = 3650


# A/B testing: at most this many texts for one broadcast, split by shares of 100.
MAX_VARIANTS = 3


def even_split(count: int) -> tuple[int, ...]:
    """Shares of 100 as even as whole numbers allow: 2 -> (50, 50), 3 -> (34, 33, 33)."""
    base, extra = divmod(100, count)
    return tuple(base + (1 if index < extra else 0) for index in range(count))


def valid_split(shares: tuple[int, ...], count: int) -> bool:
    return len(shares) == count and sum(shares) == 100 and all(s > 0 for s in shares)


def parse_split(text: str, count: int) -> tuple[int, ...] | None:
    """ "70/30" -> (70, 30) for two variants; None unless whole shares adding up to 100."""
    parts = [part.strip().rstrip("%") for part in text.replace("：", "/").split("/")]
    if not all(part.isdigit() for part in parts):
        return None
    shares = tuple(int(part) for part in parts)
    return shares if valid_split(shares, count) else None


# The bucket (0-99) of a customer in a broadcast: stable, spread evenly over consecutive ids,
# and different from one broadcast to the next. The database computes the same expression.
BUCKET_CUSTOMER_FACTOR = 7919
BUCKET_BROADCAST_FACTOR = 104729


def bucket_of(customer_id: int, broadcast_id: int) -> int:
    return (customer_id * BUCKET_CUSTOMER_FACTOR + broadcast_id * BUCKET_BROADCAST_FACTOR) % 100


def variant_of(bucket: int, shares: tuple[int, ...]) -> int:
    """The variant whose share holds the bucket: buckets 0-69 -> 0 and 70-99 -> 1 for 70/30."""
    edge = 0
    for index, share in enumerate(shares):
        edge += share
        if bucket < edge:
            return index
    return len(shares) - 1


@dataclass(frozen=True)
class VariantReport:
    """What one text of a broadcast did: pushes delivered, customers who pressed a button,
    customers who completed a recharge within 24 hours of their push."""

    variant: int
    share: int
    delivered: int
    pressed: int
    recharged: int
    # The variant's text in each language.
    text_zh: str = ""
    text_en: str = ""


# A push or a reminder "led to" a recharge the customer completed within this long of it.
RECHARGE_WINDOW = timedelta(hours=24)


def paid_cost(recipients: int, stars_per_message: Decimal) -> Decimal:
    """The most a paid broadcast to `recipients` customers costs in Telegram Stars: every
    message at the paid price (the free ones within Telegram's free rate only lower it)."""
    return (stars_per_message * recipients).normalize() if recipients else Decimal(0)


# -- each customer's time zone ----------------------------------------------------------------
DEFAULT_TIME_ZONE = "Asia/Shanghai"
# The zones offered as buttons (any other IANA name may be typed).
TIME_ZONE_CHOICES = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Australia/Sydney",
)
# The farthest ahead of UTC any place is (Kiribati, UTC+14): a local time comes there first.
LATEST_OFFSET = timedelta(hours=14)
LOCAL_TIME_FORMAT = "%Y-%m-%d %H:%M"


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def parse_time_zone(text: str) -> str | None:
    """The IANA time zone named by `text` ("Europe/Berlin", any case), or None."""
    wanted = text.strip()
    if not wanted or len(wanted) > 64:
        return None
    for name in _known_zones():
        if name.lower() == wanted.lower():
            return name
    return None


def zone_of(name: str | None, default: str = DEFAULT_TIME_ZONE) -> ZoneInfo:
    """A customer's zone: theirs when set and known, else the default."""
    return ZoneInfo(name if name and name in _known_zones() else default)


def local_send_time(local: datetime, zone: ZoneInfo, quiet: QuietHours) -> datetime:
    """When (UTC) a push for the local time `local` (naive) goes to a customer in `zone`: that
    moment there (a time skipped by a clock change: as the clock reads after it), or, when it
    falls in their quiet hours, the moment those end."""
    moment = local.replace(tzinfo=zone).astimezone(UTC)
    # Quiet hours that end at a time a clock change skips end as the clock reads after it,
    # which may be quiet again (quiet hours of nearly a whole day): then the next end.
    for _ in range(3):
        after = quiet.end_after(moment, zone).astimezone(UTC)
        if after == moment:
            break
        moment = after
    return moment


def earliest_send_time(local: datetime) -> datetime:
    """The first moment anywhere reaches the local time `local` (naive): when planning starts."""
    return local.replace(tzinfo=UTC) - LATEST_OFFSET
