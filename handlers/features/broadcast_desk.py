"""Broadcasts as staff make them: `/broadcast`, a guided conversation (the text in Chinese and in
English, up to three buttons into the bot, the campaign it is about, the audience from segments
with its reach), a test send to oneself, then send now or at a local time outside quiet hours;
and `/broadcasts` to watch progress and pause, resume or cancel. Staff only; every action on a
broadcast is recorded with who and when (by the service)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from domain.broadcasts import (
    MAX_CAPTION_CHARS,
    MAX_PUSH_BUTTONS,
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
    even_split,
    parse_split,
    valid_split,
)
from domain.languages import Language
from domain.phone import Carrier
from domain.services.broadcasts import BroadcastProgress, CampaignChoice, DuePush
from domain.tiers import Tier
from handlers.buttons import ButtonData
from handlers.contract import Button
from handlers.features.broadcasts import TARGET_LABELS, push_reply
from handlers.i18n import Texts, texts
from handlers.paging import shortened
from handlers.router import Context, ConversationRouter

WRITING_ZH = "bc.zh"
WRITING_EN = "bc.en"
CHOOSING = "bc.compose"
TYPING_DAYS = "bc.days"
TYPING_WHEN = "bc.when"
WRITING_VARIANT_ZH = "bc.vzh"
WRITING_VARIANT_EN = "bc.ven"
TYPING_SPLIT = "bc.split"
# The longest text of a push (Telegram allows 4096; room is left for nothing else).
MAX_PUSH_CHARS = 1000
RECENT_BROADCASTS = 5
PREVIEW_CHARS = 60


class Segment(StrEnum):
    EVERYONE = "all"
    NEW = "new"
    EXISTING = "old"
    TIER = "tier"
    CARRIER = "car"
    RECHARGED = "rc"
    NOT_RECHARGED = "norc"
    TOOK = "took"
    NOT_TOOK = "notk"
    REMINDERS = "rmd"
    INVITERS = "inv"


class Control(StrEnum):
    PAUSE = "p"
    RESUME = "r"
    CANCEL = "c"
    REFRESH = "f"
    REPORT = "r2"
    DELETE = "d"
    DELETE_CONFIRMED = "d!"


CONTROL_NOTICES = {
    Control.PAUSE: "bcs.paused",
    Control.RESUME: "bcs.resumed",
    Control.CANCEL: "bcs.cancelled",
    Control.REFRESH: "bcs.refreshed",
    Control.REPORT: "bcs.refreshed",
    Control.DELETE: "bcs.refreshed",
    Control.DELETE_CONFIRMED: "bcs.deleting",
}


@dataclass(frozen=True)
class BcTarget(ButtonData, prefix="bc-t"):
    """A button of the push being composed, on or off."""

    target: PushTarget


@dataclass(frozen=True)
class BcTargetsDone(ButtonData, prefix="bc-td"):
    pass


@dataclass(frozen=True)
class BcAbout(ButtonData, prefix="bc-a"):
    """The campaign the push is about (0: none)."""

    campaign_id: int


@dataclass(frozen=True)
class BcSegment(ButtonData, prefix="bc-s"):
    segment: Segment


@dataclass(frozen=True)
class BcTier(ButtonData, prefix="bc-st"):
    tier: int


@dataclass(frozen=True)
class BcCarrier(ButtonData, prefix="bc-sc"):
    carrier: Carrier


@dataclass(frozen=True)
class BcSegmentCampaign(ButtonData, prefix="bc-sg"):
    segment: Segment
    campaign_id: int


@dataclass(frozen=True)
class BcDropPhoto(ButtonData, prefix="bc-ph"):
    """Take the picture off the push being composed."""


@dataclass(frozen=True)
class BcLinks(ButtonData, prefix="bc-l"):
    """The push's buttons as deep links (t.me/<bot>?start=...) or as typed button data."""


@dataclass(frozen=True)
class BcAddVariant(ButtonData, prefix="bc-v"):
    """Another text for an A/B test."""


@dataclass(frozen=True)
class BcSplit(ButtonData, prefix="bc-vs"):
    """Set the split between the texts."""


@dataclass(frozen=True)
class BcAudienceDone(ButtonData, prefix="bc-ad"):
    pass


@dataclass(frozen=True)
class BcUrgent(ButtonData, prefix="bc-u"):
    """Mark the broadcast urgent (a paid broadcast) or not; offered when paid ones are allowed."""


@dataclass(frozen=True)
class BcTest(ButtonData, prefix="bc-x"):
    pass


@dataclass(frozen=True)
class BcSendNow(ButtonData, prefix="bc-go"):
    pass


@dataclass(frozen=True)
class BcSchedule(ButtonData, prefix="bc-at"):
    pass


@dataclass(frozen=True)
class BcAbort(ButtonData, prefix="bc-no"):
    pass


@dataclass(frozen=True)
class BcControl(ButtonData, prefix="bcs"):
    """Pause, resume, cancel or refresh broadcast N (in /broadcasts)."""

    broadcast_id: int
    action: Control


@dataclass(frozen=True)
class Draft:
    """The broadcast being composed, as kept in the conversation state."""

    zh: str = ""
    en: str = ""
    targets: tuple[PushTarget, ...] = ()
    about: int | None = None
    audience: Audience = field(default_factory=Audience)
    # More texts for an A/B test (B, C): (Chinese, English) each; split by `shares`.
    variants: tuple[tuple[str, str], ...] = ()
    shares: tuple[int, ...] | None = None
    # A picture (Telegram's file id): the texts become its caption.
    photo: str | None = None
    links: bool = False
    # Sent as a paid broadcast (allow_paid_broadcast), at the higher rate.
    urgent: bool = False

    @classmethod
    def of(cls, data: dict[str, object]) -> Draft | None:
        zh, en = data.get("zh"), data.get("en")
        if not isinstance(zh, str) or not isinstance(en, str) or not zh or not en:
            return None
        raw_targets = data.get("targets")
        targets = tuple(
            PushTarget(t)
            for t in (raw_targets if isinstance(raw_targets, list) else [])
            if t in {target.value for target in PushTarget}
        )
        about = data.get("about")
        audience = data.get("aud")
        raw_variants = data.get("variants")
        variants = tuple(
            (str(pair[0]), str(pair[1]))
            for pair in (raw_variants if isinstance(raw_variants, list) else [])
            if isinstance(pair, list) and len(pair) == 2
        )[: MAX_VARIANTS - 1]
        raw_shares = data.get("shares")
        shares = (
            tuple(int(n) for n in raw_shares if isinstance(n, int))
            if isinstance(raw_shares, list)
            else None
        )
        if shares is not None and not valid_split(shares, len(variants) + 1):
            shares = None
        photo = data.get("photo")
        return cls(
            zh,
            en,
            targets[:MAX_PUSH_BUTTONS],
            about if isinstance(about, int) and about > 0 else None,
            Audience.from_json(audience if isinstance(audience, dict) else None),
            variants,
            shares,
            photo if isinstance(photo, str) and photo else None,
            data.get("links") is True,
            data.get("urgent") is True,
        )

    def data(self) -> dict[str, object]:
        return {
            "zh": self.zh,
            "en": self.en,
            "targets": [t.value for t in self.targets],
            "about": self.about,
            "aud": self.audience.to_json(),
            "variants": [list(pair) for pair in self.variants],
            "shares": list(self.shares) if self.shares else None,
            "photo": self.photo,
            "links": self.links,
            "urgent": self.urgent,
        }

    @property
    def split(self) -> tuple[int, ...]:
        return self.shares or even_split(len(self.variants) + 1)

    @property
    def texts(self) -> list[tuple[str, str]]:
        """Every text, A first: (Chinese, English)."""
        return [(self.zh, self.en), *self.variants]

    @property
    def content(self) -> PushContent:
        return PushContent(self.zh, self.en, self.targets, self.photo, self.links)

    @property
    def more_contents(self) -> tuple[PushContent, ...]:
        return tuple(
            PushContent(zh, en, self.targets, self.photo, self.links) for zh, en in self.variants
        )

    def too_long_for_a_caption(self) -> tuple[int, int] | None:
        """(variant, length) of the first text over a picture caption's limit, or None."""
        for index, (zh, en) in enumerate(self.texts):
            for text in (zh, en):
                if caption_length(text) > MAX_CAPTION_CHARS:
                    return index, caption_length(text)
        return None


def _abort_row(t: Texts) -> tuple[Button, ...]:
    return (Button(t("bc.abort"), BcAbort().pack()),)


def _names(choices: list[CampaignChoice], language: Language) -> dict[int, str]:
    return {choice.campaign_id: choice.name(language) for choice in choices}


def audience_lines(t: Texts, audience: Audience, names: dict[int, str]) -> list[str]:
    """The audience in words, one segment a line."""
    if audience.everyone:
        return [t("bc.aud.everyone")]
    lines = []
    if audience.stage is Stage.NEW:
        lines.append(t("bc.aud.new"))
    elif audience.stage is Stage.EXISTING:
        lines.append(t("bc.aud.existing"))
    if audience.tier_at_least is not None:
        lines.append(t("bc.aud.tier", tier=t(f"tier.{audience.tier_at_least.key}")))
    if audience.carrier is not None:
        lines.append(t("bc.aud.carrier", carrier=t(f"carrier.{audience.carrier.value}")))
    if audience.recharged_within_days is not None:
        key = "bc.aud.recharged" if audience.recharged else "bc.aud.not_recharged"
        lines.append(t.plural(key, audience.recharged_within_days))
    if audience.took_offer_of is not None:
        key = "bc.aud.took" if audience.took else "bc.aud.not_took"
        lines.append(t(key, name=names.get(audience.took_offer_of, f"#{audience.took_offer_of}")))
    if audience.reminders_of is not None:
        name = names.get(audience.reminders_of, f"#{audience.reminders_of}")
        lines.append(t("bc.aud.reminders", name=name))
    if audience.inviters:
        lines.append(t("bc.aud.inviters"))
    return lines


async def reach_lines(ctx: Context, audience: Audience, about: int | None) -> list[str]:
    reach = await ctx.services.broadcasts.reach(audience, about)
    lines = [
        ctx.t(
            "bc.reach",
            reachable=reach.reachable,
            matching=reach.matching,
            excluded=reach.matching - reach.reachable,
        )
    ]
    for reason, count in reach.excluded.items():
        lines.append(ctx.t("bc.excluded", reason=ctx.t(f"bc.skip.{reason.value}"), count=count))
    return lines


def _draft(ctx: Context) -> Draft | None:
    if not ctx.state.step.startswith("bc."):
        return None
    return Draft.of(dict(ctx.state.data))


def _keep(ctx: Context, draft: Draft, step: str = CHOOSING, **extra: object) -> None:
    ctx.go(step, **draft.data(), **extra)


def _ask(ctx: Context, text: str) -> None:
    """A question whose only button is the abort."""
    ctx.reply(text, (_abort_row(ctx.t),))


def _pick(ctx: Context, key: str, rows: tuple[tuple[Button, ...], ...]) -> None:
    """The choices of a segment, one a row, then the abort."""
    ctx.reply(ctx.t(key), (*rows, _abort_row(ctx.t)), edit=True)


def _push_text(ctx: Context, photo: str | None = None) -> str | None:
    """The typed text of a push, or None (told it is empty or too long: with a picture, the
    text is its caption, of at most 1024 characters as Telegram counts them)."""
    text = ctx.event.text.strip()
    if not text or len(text) > MAX_PUSH_CHARS:
        _ask(ctx, ctx.t("bc.bad_text", most=MAX_PUSH_CHARS))
        return None
    if photo is not None and caption_length(text) > MAX_CAPTION_CHARS:
        _ask(ctx, ctx.t("bc.caption_too_long", most=MAX_CAPTION_CHARS, length=caption_length(text)))
        return None
    return text


def _split_example(draft: Draft) -> str:
    return "/".join(str(n) for n in even_split(len(draft.texts)))


async def _kept_targets(ctx: Context, draft: Draft, *, edit: bool) -> None:
    _keep(ctx, draft)
    await _show_targets(ctx, draft, edit=edit)


async def _kept_audience(ctx: Context, draft: Draft, *, edit: bool) -> None:
    _keep(ctx, draft)
    await _show_audience(ctx, draft, edit=edit)


async def _narrowed(ctx: Context, draft: Draft, audience: Audience) -> None:
    await _kept_audience(ctx, replace(draft, audience=audience), edit=True)


async def paid_lines(ctx: Context, draft: Draft, recipients: int) -> list[str]:
    """An urgent draft's cost as a paid broadcast (when paid broadcasts are allowed)."""
    broadcasts = ctx.services.broadcasts
    if not broadcasts.config.paid_allowed:
        return []
    if not draft.urgent:
        return [ctx.t("bc.review.not_urgent")]
    quote = broadcasts.paid_quote(recipients)
    return [
        ctx.t(
            "bc.review.urgent",
            rate=quote.per_second,
            stars=quote.stars,
            recipients=quote.recipients,
            price=quote.stars_per_message,
        )
    ]


async def _create(ctx: Context, draft: Draft, local_time: datetime | None = None) -> int:
    """The broadcast of the draft, sent now or at `local_time` (naive) in each customer's time
    zone, by this staff member (urgent only while paid broadcasts are allowed)."""
    broadcasts = ctx.services.broadcasts
    return await broadcasts.create(
        draft.content,
        ctx.event.user.telegram_id,
        audience=draft.audience,
        campaign_id=draft.about,
        local_time=local_time,
        variants=draft.more_contents,
        shares=draft.shares,
        urgent=draft.urgent and broadcasts.config.paid_allowed,
    )


async def _show_targets(ctx: Context, draft: Draft, *, edit: bool) -> None:
    rows: list[tuple[Button, ...]] = []
    for target in PushTarget:
        on = target in draft.targets
        label = ctx.t("bc.button_on" if on else "bc.button_off", name=ctx.t(TARGET_LABELS[target]))
        rows.append((Button(label, BcTarget(target).pack()),))
    if len(draft.texts) < MAX_VARIANTS:
        rows.append((Button(ctx.t("bc.add_variant"), BcAddVariant().pack()),))
    lines = [ctx.t("bc.buttons", most=MAX_PUSH_BUTTONS)]
    if draft.variants:
        rows.append((Button(ctx.t("bc.set_split"), BcSplit().pack()),))
        lines.append(ctx.t("bc.variants", split=split_words(ctx.t, draft.split)))
    links = ctx.t("bc.links_on" if draft.links else "bc.links_off")
    rows.append((Button(links, BcLinks().pack()),))
    if draft.photo:
        lines.append(ctx.t("bc.photo_added", most=MAX_CAPTION_CHARS))
        rows.append((Button(ctx.t("bc.drop_photo"), BcDropPhoto().pack()),))
    else:
        lines.append(ctx.t("bc.photo_hint", most=MAX_CAPTION_CHARS))
    rows.append((Button(ctx.t("bc.next"), BcTargetsDone().pack()),))
    rows.append(_abort_row(ctx.t))
    ctx.reply("\n".join(lines), tuple(rows), edit=edit)


def split_words(t: Texts, shares: tuple[int, ...]) -> str:
    """ "甲 50%，乙 50%" / "A 50%, B 50%"."""
    return t("bc.split_joiner").join(
        t("bc.share", name=t(f"bc.variant.{index}"), share=share)
        for index, share in enumerate(shares)
    )


async def _show_about(ctx: Context, *, edit: bool) -> None:
    choices = await ctx.services.broadcasts.campaigns()
    rows: list[tuple[Button, ...]] = [
        (Button(shortened(c.name(ctx.language), 48), BcAbout(c.campaign_id).pack()),)
        for c in choices
    ]
    rows.append((Button(ctx.t("bc.about_none"), BcAbout(0).pack()),))
    rows.append(_abort_row(ctx.t))
    ctx.reply(ctx.t("bc.about"), tuple(rows), edit=edit)


async def _show_audience(ctx: Context, draft: Draft, *, edit: bool) -> None:
    names = _names(await ctx.services.broadcasts.campaigns(), ctx.language)
    lines = [
        ctx.t("bc.audience"),
        *audience_lines(ctx.t, draft.audience, names),
        "",
        *await reach_lines(ctx, draft.audience, draft.about),
    ]
    segments = [s for s in Segment if s is not Segment.EVERYONE]
    buttons = [Button(ctx.t(f"bc.seg.{s.value}"), BcSegment(s).pack()) for s in segments]
    rows = [tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2)]
    rows.append((Button(ctx.t("bc.seg.all"), BcSegment(Segment.EVERYONE).pack()),))
    rows.append((Button(ctx.t("bc.audience_done"), BcAudienceDone().pack()),))
    rows.append(_abort_row(ctx.t))
    ctx.reply("\n".join(lines), tuple(rows), edit=edit)


async def _show_review(ctx: Context, draft: Draft, *, edit: bool) -> None:
    choices = await ctx.services.broadcasts.campaigns()
    names = _names(choices, ctx.language)
    buttons = "、".join(ctx.t(TARGET_LABELS[t]) for t in draft.targets) or ctx.t("bc.no_buttons")
    about = (
        names.get(draft.about, ctx.t("bc.about_none")) if draft.about else ctx.t("bc.about_none")
    )
    lines = [
        ctx.t("bc.review"),
        *_text_lines(ctx.t, draft),
        ctx.t("bc.review.buttons", buttons=buttons),
        ctx.t("bc.review.links" if draft.links else "bc.review.typed"),
        ctx.t("bc.review.photo" if draft.photo else "bc.review.no_photo"),
        ctx.t("bc.review.about", about=about),
        ctx.t("bc.review.audience"),
        *audience_lines(ctx.t, draft.audience, names),
        *await reach_lines(ctx, draft.audience, draft.about),
    ]
    rows: list[tuple[Button, ...]] = [(Button(ctx.t("bc.test"), BcTest().pack()),)]
    if ctx.services.broadcasts.config.paid_allowed:
        reach = await ctx.services.broadcasts.reach(draft.audience, draft.about)
        lines.extend(await paid_lines(ctx, draft, reach.reachable))
        key = "bc.urgent_off" if draft.urgent else "bc.urgent_on"
        rows.append((Button(ctx.t(key), BcUrgent().pack()),))
    rows.append(
        (
            Button(ctx.t("bc.send_now"), BcSendNow().pack()),
            Button(ctx.t("bc.schedule"), BcSchedule().pack()),
        )
    )
    rows.append(_abort_row(ctx.t))
    ctx.reply("\n".join(lines), tuple(rows), edit=edit)


def _text_lines(t: Texts, draft: Draft) -> list[str]:
    if not draft.variants:
        return [t("bc.review.zh", text=draft.zh), t("bc.review.en", text=draft.en)]
    lines = []
    for index, ((zh, en), share) in enumerate(zip(draft.texts, draft.split, strict=True)):
        name = t(f"bc.variant.{index}")
        lines.append(t("bc.review.variant", name=name, share=share))
        lines.extend(("  " + t("bc.review.zh", text=zh), "  " + t("bc.review.en", text=en)))
    return lines


def report_text(t: Texts, broadcast_id: int, reports: list[VariantReport]) -> str:
    lines = [t("bcs.report_title", id=broadcast_id)]
    for item in reports:
        lines.append(
            t(
                "bcs.report.variant",
                name=t(f"bc.variant.{item.variant}"),
                share=item.share,
                delivered=item.delivered,
                pressed=item.pressed,
                recharged=item.recharged,
            )
        )
    return "\n".join(lines)


def progress_when(t: Texts, item: BroadcastProgress, zone_name: str) -> str:
    """When the broadcast goes out: its local time in each customer's own time zone, or the
    moment in the customers' default zone."""
    if item.local_time is not None:
        return t("bcs.local_time", when=item.local_time)
    return item.send_at.astimezone(ZoneInfo(zone_name)).strftime("%Y-%m-%d %H:%M")


def progress_text(t: Texts, item: BroadcastProgress, zone_name: str) -> str:
    when = progress_when(t, item, zone_name)
    text = item.text_en if t.language is Language.EN else item.text_zh
    skipped = "，".join(
        t("bc.excluded_short", reason=t(f"bc.skip.{reason}"), count=count)
        for reason, count in sorted(item.skipped.items())
        if reason in {s.value for s in PushSkip}
    )
    lines = [
        t(
            "bcs.item",
            id=item.broadcast_id,
            status=t(f"bcs.status.{item.status.value}"),
            when=when,
            text=shortened(text.replace("\n", " "), PREVIEW_CHARS),
        ),
        t(
            "bcs.counts",
            queued=item.queued,
            sent=item.sent,
            failed=item.failed,
            skipped=sum(item.skipped.values()),
        ),
    ]
    if item.urgent:
        lines.insert(1, t("bcs.urgent"))
    if skipped:
        lines.append(t("bcs.skipped", reasons=skipped))
    if item.deleted:
        lines.append(t("bcs.deleted", count=item.deleted))
    return "\n".join(lines)


def control_buttons(t: Texts, item: BroadcastProgress) -> tuple[Button, ...]:
    actions = {
        BroadcastStatus.SCHEDULED: (Control.PAUSE, Control.CANCEL, Control.REFRESH, Control.REPORT),
        BroadcastStatus.PAUSED: (Control.RESUME, Control.CANCEL, Control.REFRESH, Control.REPORT),
    }.get(item.status, (Control.REFRESH, Control.REPORT))
    if item.sent > item.deleted:
        actions = (*actions, Control.DELETE)
    return tuple(
        Button(t(f"bcs.{action.name.lower()}"), BcControl(item.broadcast_id, action).pack())
        for action in actions
    )


async def _show_broadcasts(ctx: Context) -> None:
    recent = await ctx.services.broadcasts.recent(RECENT_BROADCASTS)
    if not recent:
        ctx.reply(ctx.t("bcs.none"))
        return
    zone = ctx.services.broadcasts.config.timezone
    for item in recent:
        ctx.reply(progress_text(ctx.t, item, zone), (control_buttons(ctx.t, item),))


def parse_local_time(text: str, zone_name: str) -> datetime | None:
    try:
        local = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M")
    except ValueError:
        return None
    return local.replace(tzinfo=ZoneInfo(zone_name))


def register(router: ConversationRouter) -> None:
    async def staff(ctx: Context) -> bool:
        if await ctx.staff_only():
            return True
        ctx.finish()
        return False

    async def drafted(ctx: Context, *, typed: bool = False) -> Draft | None:
        """The draft being composed by this staff member, or None (told so; after a typed
        step, the conversation ends)."""
        if not await staff(ctx):
            return None
        draft = _draft(ctx)
        if draft is None:
            if typed:
                ctx.finish()
            else:
                ctx.notice(ctx.t("button.expired"))
            ctx.reply(ctx.t("bc.expired"))
        return draft

    async def staff_text(ctx: Context) -> str | None:
        """The text of a push a staff member typed, or None (not staff, or told it is bad)."""
        return _push_text(ctx) if await staff(ctx) else None

    async def typed_variant(ctx: Context) -> tuple[Draft, str] | None:
        """The draft and the text typed for its next variant, or None (told why)."""
        draft = await drafted(ctx, typed=True)
        text = None if draft is None else _push_text(ctx, draft.photo)
        return None if draft is None or text is None else (draft, text)

    @router.command("broadcast", staff=True)
    async def broadcast(ctx: Context) -> None:
        if not await staff(ctx):
            return
        ctx.go(WRITING_ZH)
        _ask(ctx, ctx.t("bc.ask_zh", most=MAX_PUSH_CHARS))

    @router.step(WRITING_ZH)
    async def write_zh(ctx: Context) -> None:
        text = await staff_text(ctx)
        if text is None:
            return
        ctx.go(WRITING_EN, zh=text)
        _ask(ctx, ctx.t("bc.ask_en", most=MAX_PUSH_CHARS))

    @router.step(WRITING_EN)
    async def write_en(ctx: Context) -> None:
        text = await staff_text(ctx)
        if text is None:
            return
        draft = Draft(zh=str(ctx.state.data.get("zh") or ""), en=text)
        await _kept_targets(ctx, draft, edit=False)

    @router.step(CHOOSING)
    async def typed_while_choosing(ctx: Context) -> None:
        _ask(ctx, ctx.t("bc.use_buttons"))

    @router.button(BcTarget)
    async def toggle_target(ctx: Context, data: BcTarget) -> None:
        draft = await drafted(ctx)
        if draft is None:
            return
        if data.target in draft.targets:
            targets = tuple(t for t in draft.targets if t is not data.target)
        elif len(draft.targets) < MAX_PUSH_BUTTONS:
            targets = (*draft.targets, data.target)
        else:
            targets = draft.targets
        await _kept_targets(ctx, replace(draft, targets=targets), edit=True)

    @router.photo_step(CHOOSING)
    async def picture(ctx: Context) -> None:
        """A picture sent while choosing the buttons: the push's picture, its texts the
        caption (refused, nothing changed, when a text is too long for one)."""
        draft = await drafted(ctx, typed=True)
        if draft is None or ctx.event.photo is None:
            return
        with_photo = replace(draft, photo=ctx.event.photo)
        too_long = with_photo.too_long_for_a_caption()
        if too_long is not None:
            variant, length = too_long
            name = ctx.t(f"bc.variant.{variant}")
            text = ctx.t("bc.photo_refused", name=name, length=length, most=MAX_CAPTION_CHARS)
            ctx.reply(text)
            await _show_targets(ctx, draft, edit=False)
            return
        await _kept_targets(ctx, with_photo, edit=False)

    @router.button(BcDropPhoto)
    async def drop_photo(ctx: Context, _data: BcDropPhoto) -> None:
        draft = await drafted(ctx)
        if draft is not None:
            await _kept_targets(ctx, replace(draft, photo=None), edit=True)

    @router.button(BcLinks)
    async def toggle_links(ctx: Context, _data: BcLinks) -> None:
        draft = await drafted(ctx)
        if draft is not None:
            await _kept_targets(ctx, replace(draft, links=not draft.links), edit=True)

    @router.button(BcAddVariant)
    async def add_variant(ctx: Context, _data: BcAddVariant) -> None:
        draft = await drafted(ctx)
        if draft is None:
            return
        if len(draft.texts) >= MAX_VARIANTS:
            ctx.notice(ctx.t("bc.variants_full", most=MAX_VARIANTS))
            return
        name = ctx.t(f"bc.variant.{len(draft.texts)}")
        _keep(ctx, draft, WRITING_VARIANT_ZH)
        _ask(ctx, ctx.t("bc.ask_variant_zh", name=name, most=MAX_PUSH_CHARS))

    @router.step(WRITING_VARIANT_ZH)
    async def write_variant_zh(ctx: Context) -> None:
        typed = await typed_variant(ctx)
        if typed is None:
            return
        draft, text = typed
        name = ctx.t(f"bc.variant.{len(draft.texts)}")
        _keep(ctx, draft, WRITING_VARIANT_EN, vzh=text)
        _ask(ctx, ctx.t("bc.ask_variant_en", name=name, most=MAX_PUSH_CHARS))

    @router.step(WRITING_VARIANT_EN)
    async def write_variant_en(ctx: Context) -> None:
        typed = await typed_variant(ctx)
        if typed is None:
            return
        draft, text = typed
        chinese = str(ctx.state.data.get("vzh") or "")
        draft = replace(draft, variants=(*draft.variants, (chinese, text)), shares=None)
        await _kept_targets(ctx, draft, edit=False)

    @router.button(BcSplit)
    async def ask_split(ctx: Context, _data: BcSplit) -> None:
        draft = await drafted(ctx)
        if draft is None or not draft.variants:
            return
        _keep(ctx, draft, TYPING_SPLIT)
        _ask(ctx, ctx.t("bc.ask_split", example=_split_example(draft)))

    @router.step(TYPING_SPLIT)
    async def split(ctx: Context) -> None:
        draft = await drafted(ctx, typed=True)
        if draft is None:
            return
        shares = parse_split(ctx.event.text, len(draft.texts))
        if shares is None:
            _ask(ctx, ctx.t("bc.bad_split", example=_split_example(draft)))
            return
        await _kept_targets(ctx, replace(draft, shares=shares), edit=False)

    @router.button(BcTargetsDone)
    async def targets_done(ctx: Context, _data: BcTargetsDone) -> None:
        if await drafted(ctx) is not None:
            await _show_about(ctx, edit=True)

    @router.button(BcAbout)
    async def about(ctx: Context, data: BcAbout) -> None:
        draft = await drafted(ctx)
        if draft is None:
            return
        await _kept_audience(ctx, replace(draft, about=data.campaign_id or None), edit=True)

    @router.button(BcSegment)
    async def segment(ctx: Context, data: BcSegment) -> None:
        draft = await drafted(ctx)
        if draft is None:
            return
        audience = draft.audience
        choice = data.segment
        if choice is Segment.EVERYONE:
            audience = Audience()
        elif choice in (Segment.NEW, Segment.EXISTING):
            audience = replace(
                audience, stage=Stage.NEW if choice is Segment.NEW else Stage.EXISTING
            )
        elif choice is Segment.INVITERS:
            audience = replace(audience, inviters=True)
        elif choice is Segment.TIER:
            tiers = [t for t in Tier if t > Tier.NORMAL]
            rows = tuple(
                (Button(ctx.t(f"tier.{tier.key}"), BcTier(int(tier)).pack()),) for tier in tiers
            )
            _pick(ctx, "bc.pick_tier", rows)
            return
        elif choice is Segment.CARRIER:
            rows = tuple(
                (Button(ctx.t(f"carrier.{c.value}"), BcCarrier(c).pack()),) for c in Carrier
            )
            _pick(ctx, "bc.pick_carrier", rows)
            return
        elif choice in (Segment.RECHARGED, Segment.NOT_RECHARGED):
            _keep(ctx, draft, TYPING_DAYS, days_for=choice.value)
            _ask(ctx, ctx.t("bc.ask_days", most=MAX_SEGMENT_DAYS))
            return
        else:
            choices = await ctx.services.broadcasts.campaigns()
            if not choices:
                ctx.notice(ctx.t("bc.no_campaigns"))
                return
            rows = tuple(
                (
                    Button(
                        shortened(c.name(ctx.language), 48),
                        BcSegmentCampaign(choice, c.campaign_id).pack(),
                    ),
                )
                for c in choices
            )
            _pick(ctx, "bc.pick_campaign", rows)
            return
        await _narrowed(ctx, draft, audience)

    @router.button(BcTier)
    async def tier(ctx: Context, data: BcTier) -> None:
        draft = await drafted(ctx)
        if draft is None or data.tier not in {int(t) for t in Tier}:
            return
        audience = replace(draft.audience, tier_at_least=Tier(data.tier))
        await _narrowed(ctx, draft, audience)

    @router.button(BcCarrier)
    async def carrier(ctx: Context, data: BcCarrier) -> None:
        draft = await drafted(ctx)
        if draft is None:
            return
        audience = replace(draft.audience, carrier=data.carrier)
        await _narrowed(ctx, draft, audience)

    @router.button(BcSegmentCampaign)
    async def segment_campaign(ctx: Context, data: BcSegmentCampaign) -> None:
        draft = await drafted(ctx)
        if draft is None:
            return
        audience = draft.audience
        if data.segment in (Segment.TOOK, Segment.NOT_TOOK):
            audience = replace(
                audience, took_offer_of=data.campaign_id, took=data.segment is Segment.TOOK
            )
        elif data.segment is Segment.REMINDERS:
            audience = replace(audience, reminders_of=data.campaign_id)
        await _narrowed(ctx, draft, audience)

    @router.step(TYPING_DAYS)
    async def days(ctx: Context) -> None:
        draft = await drafted(ctx, typed=True)
        if draft is None:
            return
        text = ctx.event.text.strip()
        if not text.isdigit() or not 1 <= int(text) <= MAX_SEGMENT_DAYS:
            _ask(ctx, ctx.t("bc.bad_days", most=MAX_SEGMENT_DAYS))
            return
        recharged = ctx.state.data.get("days_for") == Segment.RECHARGED.value
        audience = replace(draft.audience, recharged_within_days=int(text), recharged=recharged)
        await _kept_audience(ctx, replace(draft, audience=audience), edit=False)

    @router.button(BcAudienceDone)
    async def audience_done(ctx: Context, _data: BcAudienceDone) -> None:
        draft = await drafted(ctx)
        if draft is not None:
            await _show_review(ctx, draft, edit=True)

    @router.button(BcUrgent)
    async def toggle_urgent(ctx: Context, _data: BcUrgent) -> None:
        draft = await drafted(ctx)
        if draft is None:
            return
        if not ctx.services.broadcasts.config.paid_allowed:
            ctx.notice(ctx.t("bc.paid_off"))
            draft = replace(draft, urgent=False)
        else:
            draft = replace(draft, urgent=not draft.urgent)
        _keep(ctx, draft)
        await _show_review(ctx, draft, edit=True)

    @router.button(BcTest)
    async def test_send(ctx: Context, _data: BcTest) -> None:
        draft = await drafted(ctx)
        if draft is None:
            return
        for index, (zh, en) in enumerate(draft.texts):
            for language in (Language.ZH_CN, Language.EN):
                push = DuePush(
                    outbox_id=0,
                    broadcast_id=0,
                    customer_id=ctx.customer.id,
                    chat_id=ctx.event.chat_id,
                    language=language,
                    text=zh if language is Language.ZH_CN else en,
                    targets=draft.targets,
                    variant=index,
                    photo=draft.photo,
                    links=draft.links,
                )
                bot_username = ctx.services.broadcasts.bot_username
                ctx.outcome.replies.append(push_reply(texts(language), push, bot_username))
        ctx.notice(ctx.t("bc.test_sent"))
        await _show_review(ctx, draft, edit=False)

    @router.button(BcSendNow)
    async def send_now(ctx: Context, _data: BcSendNow) -> None:
        draft = await drafted(ctx)
        if draft is None:
            return
        broadcasts = ctx.services.broadcasts
        reach = await broadcasts.reach(draft.audience, draft.about)
        broadcast_id = await _create(ctx, draft)
        ctx.finish()
        key = "bc.sent_quiet" if broadcasts.in_quiet_hours(broadcasts.now()) else "bc.sent"
        quiet = str(broadcasts.config.quiet_hours)
        lines = [ctx.t(key, id=broadcast_id, reach=reach.reachable, quiet=quiet)]
        if draft.urgent:
            lines.extend(await paid_lines(ctx, draft, reach.reachable))
        ctx.reply("\n".join(lines), edit=True)

    @router.button(BcSchedule)
    async def schedule(ctx: Context, _data: BcSchedule) -> None:
        draft = await drafted(ctx)
        if draft is None:
            return
        _keep(ctx, draft, TYPING_WHEN)
        config = ctx.services.broadcasts.config
        _ask(ctx, ctx.t("bc.ask_when", zone=config.timezone, quiet=str(config.quiet_hours)))

    @router.step(TYPING_WHEN)
    async def when(ctx: Context) -> None:
        draft = await drafted(ctx, typed=True)
        if draft is None:
            return
        broadcasts = ctx.services.broadcasts
        config = broadcasts.config
        moment = parse_local_time(ctx.event.text, config.timezone)
        quiet = str(config.quiet_hours)
        if moment is None:
            _ask(ctx, ctx.t("bc.bad_when", zone=config.timezone))
            return
        if moment <= broadcasts.now():
            _ask(ctx, ctx.t("bc.when_past"))
            return
        if broadcasts.in_quiet_hours(moment):
            _ask(ctx, ctx.t("bc.when_quiet", quiet=quiet))
            return
        broadcast_id = await _create(ctx, draft, local_time=moment.replace(tzinfo=None))
        ctx.finish()
        ctx.reply(
            ctx.t("bc.scheduled", id=broadcast_id, when=moment.strftime("%Y-%m-%d %H:%M")),
        )

    @router.button(BcAbort)
    async def abort(ctx: Context, _data: BcAbort) -> None:
        if not await staff(ctx):
            return
        ctx.finish()
        ctx.reply(ctx.t("bc.aborted"), edit=True)

    @router.command("broadcasts", staff=True)
    async def broadcasts_command(ctx: Context) -> None:
        if await ctx.staff_only():
            await _show_broadcasts(ctx)

    @router.button(BcControl)
    async def control(ctx: Context, data: BcControl) -> None:
        if not await ctx.staff_only():
            return
        broadcasts = ctx.services.broadcasts
        staff_id = ctx.event.user.telegram_id
        if data.action is Control.PAUSE:
            done = await broadcasts.pause(data.broadcast_id, staff_id)
        elif data.action is Control.RESUME:
            done = await broadcasts.resume(data.broadcast_id, staff_id)
        elif data.action is Control.CANCEL:
            done = await broadcasts.cancel(data.broadcast_id, staff_id)
        elif data.action is Control.DELETE:
            confirm = Button(
                ctx.t("bcs.delete_confirm"),
                BcControl(data.broadcast_id, Control.DELETE_CONFIRMED).pack(),
            )
            ctx.reply(ctx.t("bcs.delete_ask", id=data.broadcast_id), ((confirm,),))
            return
        elif data.action is Control.DELETE_CONFIRMED:
            count = await broadcasts.delete(data.broadcast_id, staff_id)
            if count is None:
                ctx.notice(ctx.t("button.expired"))
                return
            ctx.reply(ctx.t("bcs.deleting_count", id=data.broadcast_id, count=count), edit=True)
            return
        elif data.action is Control.REPORT:
            try:
                reports = await broadcasts.report(data.broadcast_id)
            except LookupError:
                ctx.notice(ctx.t("button.expired"))
                return
            ctx.reply(report_text(ctx.t, data.broadcast_id, reports))
            return
        else:
            done = True
        ctx.notice(ctx.t(CONTROL_NOTICES[data.action] if done else "bcs.not_changed"))
        try:
            item = await broadcasts.progress(data.broadcast_id)
        except LookupError:
            ctx.notice(ctx.t("button.expired"))
            return
        zone = broadcasts.config.timezone
        ctx.reply(progress_text(ctx.t, item, zone), (control_buttons(ctx.t, item),), edit=True)
