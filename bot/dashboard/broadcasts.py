"""The dashboard's broadcast page: staff compose a broadcast on the web (its text in Chinese and
in English, up to two more texts for an A/B test with their split, a picture, up to three
buttons into the bot, the campaign it is about, the audience from the same segments as
`/broadcast` in the bot), see its reach (and, when urgent, its cost) before sending, test it on
their own chat, then send it now or at a local time outside quiet hours; below, the recent
broadcasts with their progress kept current, pause, resume, cancel and delete, and each one's
report per text. Every form is posted with the session's form token from the dashboard's own
origin. Everything goes through the broadcasts service, which records each action with who and
when.

A picture is kept as a bot composing in `/broadcast` keeps one: by Telegram's file id. The
uploaded file is sent once to the staff member's own chat, and the file id Telegram gives it
is what the broadcast stores and its pushes send. The page carries that file id from one post
to the next with a mark only this session can make.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from io import BytesIO
from typing import Any
from zoneinfo import ZoneInfo

from multidict import MultiDictProxy
from PIL import Image

from domain.broadcasts import (
    MAX_CAPTION_CHARS,
    MAX_SEGMENT_DAYS,
    MAX_VARIANTS,
    Audience,
    BroadcastStatus,
    PushContent,
    PushSkip,
    PushTarget,
    Stage,
    VariantReport,
    caption_length,
    parse_split,
)
from domain.languages import Language
from domain.phone import Carrier
from domain.services.broadcasts import BroadcastProgress, BroadcastService, CampaignChoice, DuePush
from domain.services.dashboard_access import DashboardSession
from domain.tiers import Tier
from handlers.contract import MAX_PICTURE_BYTES, DeliveryStatus, Notifier, Picture, Reply
from handlers.features.broadcast_desk import MAX_PUSH_CHARS, audience_lines, progress_when
from handlers.features.broadcasts import push_reply
from handlers.i18n import Texts, texts

# Broadcasts listed below the form, newest first.
LISTED = 20
PREVIEW_CHARS = 80
ACTIONS = ("pause", "resume", "cancel", "delete")
TIERS = [tier for tier in Tier if tier > Tier.NORMAL]
FORM_TIME = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends
# The texts of an A/B test after the first: text_zh_2/text_en_2 and text_zh_3/text_en_3.
VARIANT_FIELD = re.compile(r"text_(zh|en)_(\d{1,3})")
SPLIT_EXAMPLES = {2: "70/30", 3: "50/30/20"}
# Pictures Telegram shows as a photo (sendPhoto), and its limits on their size.
PICTURE_FORMATS = {"JPEG", "PNG", "WEBP"}
MAX_PICTURE_SIDES = 10_000  # width + height
MAX_PICTURE_RATIO = 20


@dataclass
class Draft:
    """The form as posted: what it says and, when it is whole, the broadcast it describes."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    content: PushContent | None = None
    # More texts for an A/B test (B, C), with the shares of all of them (None: even).
    variants: list[PushContent] = field(default_factory=list)
    shares: tuple[int, ...] | None = None
    audience: Audience = field(default_factory=Audience)
    about: int | None = None
    urgent: bool = False
    # The picture kept for the broadcast (Telegram's file id), and the mark that carries it to
    # the next post of the page.
    photo: str | None = None
    photo_mark: str = ""

    @property
    def texts(self) -> list[PushContent]:
        return [] if self.content is None else [self.content, *self.variants]

    def with_photo(self, file_id: str, mark: str) -> None:
        """The picture kept for the broadcast: every text becomes its caption."""
        self.photo, self.photo_mark = file_id, mark
        if self.content is not None:
            self.content = replace(self.content, photo=file_id)
        self.variants = [replace(variant, photo=file_id) for variant in self.variants]

    def fingerprint(self) -> str:
        """What the reach shown was for: a send posted with another audience shows it first."""
        what = json.dumps(
            [self.audience.to_json(), self.about, self.urgent], sort_keys=True, default=str
        )
        return hashlib.sha256(what.encode()).hexdigest()[:16]


def _choice(form: Mapping[str, str], name: str, allowed: Mapping[str, Any]) -> tuple[Any, bool]:
    """(the chosen value or None, whether the form's value was one of those allowed)."""
    raw = form.get(name, "").strip()
    if not raw:
        return None, True
    return allowed.get(raw), raw in allowed


def read_draft(
    t: Texts,
    form: MultiDictProxy[Any],
    campaigns: list[CampaignChoice],
    paid_allowed: bool,
    pictured: bool = False,
) -> Draft:
    """The draft of a posted form, with what is wrong with it in words; `pictured`: it has a
    picture, whose caption its texts are."""
    plain = {key: str(value) for key, value in form.items() if isinstance(value, str)}
    targets_raw = [str(v) for v in form.getall("button", []) if isinstance(v, str)]
    draft = Draft(values={**plain, "button": targets_raw})
    errors = draft.errors
    zh, en = plain.get("text_zh", "").strip(), plain.get("text_en", "").strip()
    for text, key in ((zh, "dashboard.bc.need_zh"), (en, "dashboard.bc.need_en")):
        if not text:
            errors.append(t(key))
        elif len(text) > MAX_PUSH_CHARS:
            errors.append(t("dashboard.bc.too_long", most=MAX_PUSH_CHARS))
    known = {target.value: target for target in PushTarget}
    if any(value not in known for value in targets_raw):
        errors.append(t("dashboard.bc.bad_choice"))
    targets = tuple(dict.fromkeys(known[v] for v in targets_raw if v in known))
    ids = {str(c.campaign_id): c.campaign_id for c in campaigns}
    stages = {"new": Stage.NEW, "old": Stage.EXISTING}
    tiers = {str(int(tier)): tier for tier in TIERS}
    carriers = {carrier.value: carrier for carrier in Carrier}
    modes = {"rc": True, "norc": False}
    took_modes = {"took": True, "notk": False}
    chosen: dict[str, Any] = {}
    fine = True
    for name, allowed in (
        ("about", ids),
        ("stage", stages),
        ("tier", tiers),
        ("carrier", carriers),
        ("recharged", modes),
        ("took", took_modes),
        ("took_campaign", ids),
        ("reminders", ids),
    ):
        chosen[name], ok = _choice(plain, name, allowed)
        fine = fine and ok
    inviters = plain.get("inviters", "")
    fine = fine and inviters in ("", "on")
    days: int | None = None
    if chosen["recharged"] is not None:
        text = plain.get("days", "").strip()
        if text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_SEGMENT_DAYS:
            days = int(text)
        else:
            errors.append(t("bc.bad_days", most=MAX_SEGMENT_DAYS))
    if chosen["took"] is not None and chosen["took_campaign"] is None:
        errors.append(t("dashboard.bc.took_needs_campaign"))
    if not fine:
        errors.append(t("dashboard.bc.bad_choice"))
    draft.audience = Audience(
        stage=chosen["stage"],
        tier_at_least=chosen["tier"],
        carrier=chosen["carrier"],
        recharged_within_days=days,
        recharged=chosen["recharged"] is not False,
        took_offer_of=chosen["took_campaign"] if chosen["took"] is not None else None,
        took=chosen["took"] is not False,
        reminders_of=chosen["reminders"],
        inviters=inviters == "on",
    )
    draft.about = chosen["about"]
    draft.urgent = plain.get("urgent", "") == "on"
    if draft.urgent and not paid_allowed:
        errors.append(t("bc.paid_off"))
    variants = read_variants(t, plain, errors)
    shares = read_split(t, plain.get("split", ""), 1 + len(variants), errors)
    if pictured:
        for index, (one_zh, one_en) in enumerate([(zh, en), *variants]):
            for text in (one_zh, one_en):
                if caption_length(text) > MAX_CAPTION_CHARS:
                    name = t(f"bc.variant.{index}")
                    length = caption_length(text)
                    errors.append(
                        t(
                            "dashboard.bc.caption_too_long",
                            name=name,
                            length=length,
                            most=MAX_CAPTION_CHARS,
                        )
                    )
    if zh and en and len(zh) <= MAX_PUSH_CHARS and len(en) <= MAX_PUSH_CHARS:
        links = plain.get("links", "") == "on"
        draft.content = PushContent(zh, en, targets, links=links)
        draft.variants = [PushContent(z, e, targets, links=links) for z, e in variants]
        draft.shares = shares
    return draft


def read_variants(t: Texts, plain: Mapping[str, str], errors: list[str]) -> list[tuple[str, str]]:
    """The A/B test's further texts (zh, en) in order, each whole and within the length;
    what is wrong is added to `errors`. Empty boxes are no text; a text in one language only,
    or more than MAX_VARIANTS texts in all, is an error."""
    filled: dict[int, dict[str, str]] = {}
    for key, value in plain.items():
        found = VARIANT_FIELD.fullmatch(key)
        if found is not None and value.strip():
            filled.setdefault(int(found.group(2)), {})[found.group(1)] = value.strip()
    if any(number < 2 for number in filled) or len(filled) > MAX_VARIANTS - 1:
        errors.append(t("dashboard.bc.too_many_texts", most=MAX_VARIANTS))
        return []
    found_texts = []
    for index, number in enumerate(sorted(filled), start=1):
        texts_of = filled[number]
        name = t(f"bc.variant.{index}")
        whole = True
        for language in ("zh", "en"):
            text = texts_of.get(language, "")
            if not text:
                errors.append(t(f"dashboard.bc.variant_needs_{language}", name=name))
                whole = False
            elif len(text) > MAX_PUSH_CHARS:
                errors.append(t("dashboard.bc.too_long", most=MAX_PUSH_CHARS))
                whole = False
        if whole:
            found_texts.append((texts_of["zh"], texts_of["en"]))
    return found_texts


def read_split(t: Texts, text: str, count: int, errors: list[str]) -> tuple[int, ...] | None:
    """The shares typed for `count` texts (None: empty, even shares); an error in `errors`
    when they are not whole shares, one per text, adding up to 100."""
    if not text.strip():
        return None
    shares = parse_split(text, count)
    if shares is None:
        example = SPLIT_EXAMPLES.get(count, "100")
        errors.append(t("dashboard.bc.bad_split", count=count, example=example))
    return shares


def read_picture(t: Texts, content: bytes) -> tuple[Picture | None, str | None]:
    """(the uploaded picture, or what is wrong with it): a JPEG, PNG or WebP picture within
    Telegram's limits for a photo (10 MB, width and height 10,000 together, sides at most 20
    to 1)."""
    if len(content) > MAX_PICTURE_BYTES:
        return None, t("dashboard.bc.picture_too_big", most=MAX_PICTURE_BYTES // (1024 * 1024))
    try:
        with Image.open(BytesIO(content)) as image:
            kind, (width, height) = image.format, image.size
            image.verify()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None, t("dashboard.bc.not_a_picture")
    if kind not in PICTURE_FORMATS:
        return None, t("dashboard.bc.not_a_picture")
    if width + height > MAX_PICTURE_SIDES or max(width, height) > MAX_PICTURE_RATIO * min(
        width, height
    ):
        return None, t(
            "dashboard.bc.picture_shape", sides=MAX_PICTURE_SIDES, ratio=MAX_PICTURE_RATIO
        )
    return Picture(content, f"broadcast.{kind.lower()}"), None


async def keep_picture(
    t: Texts, notifier: Notifier | None, chat_id: int, picture: Picture
) -> tuple[str | None, str | None]:
    """(Telegram's file id of the picture, or why it could not be kept): it is sent once to
    the staff member's own chat, as a picture composed in the bot is sent there by them."""
    if notifier is None:
        return None, t("dashboard.bc.picture_unavailable")
    delivery = await notifier.send(chat_id, Reply(t("dashboard.bc.picture_kept"), photo=picture))
    if delivery.status is not DeliveryStatus.SENT:
        return None, t(
            "dashboard.bc.picture_failed", reason=delivery.reason or delivery.status.value
        )
    if delivery.photo is None:
        return None, t("dashboard.bc.picture_unavailable")
    return delivery.photo, None


def photo_mark(session: DashboardSession, file_id: str) -> str:
    """The mark that lets the page carry a kept picture to its next post: made from the
    session's secret, which the page never shows, so no other file id can be posted."""
    message = f"broadcast-photo:{file_id}".encode()
    return hmac.new(session.token.encode(), message, hashlib.sha256).hexdigest()


def kept_photo(session: DashboardSession, form: MultiDictProxy[Any]) -> str | None:
    """The picture the page carried from an earlier post, when its mark is right and it was
    not taken off."""
    file_id, mark = form.get("photo"), form.get("photo_mark")
    if form.get("drop_photo") == "on" or not isinstance(file_id, str) or not file_id:
        return None
    if not isinstance(mark, str) or not hmac.compare_digest(mark, photo_mark(session, file_id)):
        return None
    return file_id


def read_time(
    t: Texts, broadcasts: BroadcastService, text: str
) -> tuple[datetime | None, str | None]:
    """(the local time asked for, in the customers' default zone; or what is wrong with it)."""
    config = broadcasts.config
    try:
        moment = datetime.strptime(text.strip(), FORM_TIME)
    except ValueError:
        try:
            moment = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M")
        except ValueError:
            return None, t("dashboard.bc.bad_when", zone=config.timezone)
    local = moment.replace(tzinfo=ZoneInfo(config.timezone))
    if local <= broadcasts.now():
        return None, t("bc.when_past")
    if broadcasts.in_quiet_hours(local):
        return None, t("bc.when_quiet", quiet=str(config.quiet_hours))
    return local, None


@dataclass(frozen=True)
class ReachShown:
    lines: list[str]
    cost: str | None


async def reach_of(t: Texts, broadcasts: BroadcastService, draft: Draft) -> ReachShown:
    """The draft's reach (how many, how many excluded and why) and, when urgent, its cost."""
    reach = await broadcasts.reach(draft.audience, draft.about)
    lines = [
        t(
            "bc.reach",
            reachable=reach.reachable,
            matching=reach.matching,
            excluded=reach.matching - reach.reachable,
        )
    ]
    for reason, count in reach.excluded.items():
        lines.append(t("bc.excluded", reason=t(f"bc.skip.{reason.value}"), count=count).strip())
    cost = None
    if broadcasts.config.paid_allowed:
        if draft.urgent:
            quote = broadcasts.paid_quote(reach.reachable)
            cost = t(
                "bc.review.urgent",
                rate=quote.per_second,
                stars=quote.stars,
                recipients=quote.recipients,
                price=quote.stars_per_message,
            )
        else:
            cost = t("bc.review.not_urgent")
    return ReachShown(lines, cost)


async def test_send(
    t: Texts,
    broadcasts: BroadcastService,
    notifier: Notifier | None,
    chat_id: int,
    contents: list[PushContent],
) -> str:
    """The push (each of its texts) in both languages to the staff member's own chat; what
    became of it, in words."""
    if notifier is None:
        return t("dashboard.bc.test_unavailable")
    for index, content in enumerate(contents):
        for language in (Language.ZH_CN, Language.EN):
            push = DuePush(
                outbox_id=0,
                broadcast_id=0,
                customer_id=0,
                chat_id=chat_id,
                language=language,
                text=content.text_in(language is Language.ZH_CN),
                targets=content.targets,
                variant=index,
                photo=content.photo,
                links=content.links,
            )
            delivery = await notifier.send(
                chat_id, push_reply(texts(language), push, broadcasts.bot_username)
            )
            if delivery.status is not DeliveryStatus.SENT:
                reason = delivery.reason or delivery.status.value
                return t("dashboard.bc.test_failed", reason=reason)
    return t("bc.test_sent")


@dataclass(frozen=True)
class Listed:
    """A broadcast as the list shows it."""

    id: int
    status: str
    when: str
    urgent: bool
    text: str
    queued: int
    sent: int
    failed: int
    skipped: int
    skipped_by_reason: str
    deleted: int
    actions: tuple[str, ...]


def actions_of(item: BroadcastProgress) -> tuple[str, ...]:
    found: tuple[str, ...] = {
        BroadcastStatus.SCHEDULED: ("pause", "cancel"),
        BroadcastStatus.PAUSED: ("resume", "cancel"),
        BroadcastStatus.DRAFT: ("cancel",),
    }.get(item.status, ())
    if item.sent > item.deleted:
        found = (*found, "delete")
    return found


def listed(t: Texts, item: BroadcastProgress, zone: str) -> Listed:
    text = item.text_en if t.language is Language.EN else item.text_zh
    words = " ".join(text.split())
    reasons = t("dashboard.bc.joiner").join(
        t("bc.excluded_short", reason=t(f"bc.skip.{reason}"), count=count)
        for reason, count in sorted(item.skipped.items())
        if reason in {s.value for s in PushSkip}
    )
    return Listed(
        id=item.broadcast_id,
        status=t(f"bcs.status.{item.status.value}"),
        when=progress_when(t, item, zone),
        urgent=item.urgent,
        text=words[:PREVIEW_CHARS] + ("…" if len(words) > PREVIEW_CHARS else ""),
        queued=item.queued,
        sent=item.sent,
        failed=item.failed,
        skipped=sum(item.skipped.values()),
        skipped_by_reason=reasons,
        deleted=item.deleted,
        actions=actions_of(item),
    )


def live_progress(items: list[Listed]) -> dict[str, dict[str, object]]:
    """What the open page redraws of each listed broadcast."""
    return {
        str(item.id): {
            "status": item.status,
            "queued": item.queued,
            "sent": item.sent,
            "failed": item.failed,
            "skipped": item.skipped,
            "reasons": item.skipped_by_reason,
            "deleted": item.deleted,
            "actions": list(item.actions),
        }
        for item in items
    }


def audience_words(t: Texts, draft: Draft, campaigns: list[CampaignChoice]) -> list[str]:
    names = {c.campaign_id: c.name(t.language) for c in campaigns}
    return [line.lstrip("• ").strip() for line in audience_lines(t, draft.audience, names)]


def form_token_ok(session: DashboardSession, form: MultiDictProxy[Any]) -> bool:
    posted = form.get("csrf")
    return isinstance(posted, str) and hmac.compare_digest(posted, session.csrf)


def checked(draft: Draft, name: str, value: str = "on") -> bool:
    found = draft.values.get(name)
    return value in found if isinstance(found, list) else found == value


@dataclass(frozen=True)
class ReportRow:
    """One text of a broadcast in its report."""

    name: str
    share: int
    text: str
    delivered: int
    pressed: int
    recharged: int


def report_rows(t: Texts, reports: list[VariantReport]) -> list[ReportRow]:
    english = t.language is Language.EN
    return [
        ReportRow(
            name=t(f"bc.variant.{item.variant}"),
            share=item.share,
            text=" ".join((item.text_en if english else item.text_zh).split()),
            delivered=item.delivered,
            pressed=item.pressed,
            recharged=item.recharged,
        )
        for item in reports
    ]
