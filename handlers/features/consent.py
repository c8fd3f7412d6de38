"""Consent to the privacy notice (PIPL): shown at the first /start and wherever a phone number
would be kept before the customer agreed; marketing pushes are a separate, optional choice."""

from __future__ import annotations

from dataclasses import dataclass

from handlers.buttons import ButtonData
from handlers.contract import Button
from handlers.features.privacy import ShowPrivacy
from handlers.menu import back_to_menu
from handlers.router import Context, ConversationRouter


@dataclass(frozen=True)
class AcceptPrivacy(ButtonData, prefix="consent"):
    marketing: bool


def consent_notice(ctx: Context, *, edit: bool = False) -> None:
    t = ctx.t
    ctx.reply(
        t("consent.notice"),
        (
            (Button(t("consent.accept"), AcceptPrivacy(False).pack()),),
            (Button(t("consent.accept_marketing"), AcceptPrivacy(True).pack()),),
            (Button(t("consent.read"), ShowPrivacy().pack()),),
        ),
        edit=edit,
    )


async def consent_needed(ctx: Context) -> bool:
    """True (and the notice shown) when the customer must agree first."""
    if not await ctx.services.consent.needed(ctx.customer.id, accepted=ctx.consented):
        return False
    consent_notice(ctx)
    return True


def register(router: ConversationRouter) -> None:
    @router.button(AcceptPrivacy)
    async def accept(ctx: Context, data: AcceptPrivacy) -> None:
        await ctx.services.consent.accept(ctx.customer.id, data.marketing)
        ctx.consented = True
        await ctx.services.broadcasts.turn_pushes(ctx.customer.id, on=data.marketing)
        key = "consent.accepted_marketing" if data.marketing else "consent.accepted"
        ctx.reply(ctx.t(key), (back_to_menu(ctx.t),), edit=True)
