"""/dashboard: a staff member gets a single-use link to the campaign dashboard (10 minutes).

Only in a private chat: a link posted in a group could be opened by anybody there first.
"""

from __future__ import annotations

from urllib.parse import quote

from domain.services.dashboard_access import NotStaff
from handlers.router import Context, ConversationRouter


def sign_in_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/signin?token={quote(token)}"


def register(router: ConversationRouter) -> None:
    @router.command("dashboard", staff=True)
    async def dashboard(ctx: Context) -> None:
        if not await ctx.staff_only():
            return
        t = ctx.t
        if router.dashboard_url is None:
            ctx.reply(t("dashboard.off"))
            return
        if ctx.event.chat_type != "private":
            ctx.reply(t("dashboard.private_only"))
            return
        try:
            token = await ctx.services.dashboard.issue_link(ctx.event.user.telegram_id)
        except NotStaff:
            ctx.reply(t("staff.only"))
            return
        ctx.reply(t("dashboard.link", url=sign_in_url(router.dashboard_url, token)))
