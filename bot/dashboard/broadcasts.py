"""The dashboard's broadcast page: staff compose a broadcast on the web (its text in Chinese and
in English, up to three buttons into the bot, the campaign it is about, the audience from the
same segments as `/broadcast` in the bot), see its reach (and, when urgent, its cost) before
sending, test it on their own chat, then send it now or at a local time outside quiet hours;
below, the recent broadcasts with their progress kept current, and pause, resume, cancel and
delete. Every form is posted with the session's form token from the dashboard's own origin.
Everything goes through the broadcasts service, which records each action with who and when.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from multidict import MultiDictProxy

from domain.broadcasts import (
    MAX_SEGMENT_DAYS,
    Audience,
    BroadcastStatus,
    PushContent,
    PushSkip,
    PushTarget,
    Stage,
)
from domain.languages import Language
from domain.phone import Carrier
from domain.services.broadcasts import BroadcastProgress, BroadcastService, CampaignChoice, DuePush
from domain.services.dashboard_access import DashboardSession
from domain.tiers import Tier
from handlers.contract import DeliveryStatus, Notifier
from handlers.features.broadcast_desk import MAX_PUSH_CHARS, audience_lines, progress_when
from handlers.features.broadcasts import push_reply
from handlers.i18n import Texts, texts

# Broadcasts listed below the form, newest first.
LISTED = 20
PREVIEW_CHARS = 80
ACTIONS = ("pause", "resume", "cancel", "delete")
TIERS = [tier for tier in Tier if tier > Tier.NORMAL]
FORM_TIME = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends


@dataclass
class Draft:
    """The form as posted: what it says and, when it is whole, the broadcast it describes."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    content: PushContent | None = None
    audience: Audience = field(default_factory=Audience)
    about: int | None = None
    urgent: bool = False

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
    t: Texts, form: MultiDictProxy[Any], campaigns: list[CampaignChoice], paid_allowed: bool
) -> Draft:
    """The draft of a posted form, with what is wrong with it in words."""
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
    if zh and en and len(zh) <= MAX_PUSH_CHARS and len(en) <= MAX_PUSH_CHARS:
        draft.content = PushContent(zh, en, targets, links=plain.get("links", "") == "on")
    return draft


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
    content: PushContent,
) -> str:
    """The push in both languages to the staff member's own chat; what became of it, in words."""
    if notifier is None:
        return t("dashboard.bc.test_unavailable")
    for language in (Language.ZH_CN, Language.EN):
        push = DuePush(
            outbox_id=0,
            broadcast_id=0,
            customer_id=0,
            chat_id=chat_id,
            language=language,
            text=content.text_in(language is Language.ZH_CN),
            targets=content.targets,
            variant=0,
            links=content.links,
        )
        delivery = await notifier.send(
            chat_id, push_reply(texts(language), push, broadcasts.bot_username)
        )
        if delivery.status is not DeliveryStatus.SENT:
            return t("dashboard.bc.test_failed", reason=delivery.reason or delivery.status.value)
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
