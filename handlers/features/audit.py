"""/audit for supervisors: the latest records of the audit trail, and every record as a CSV
document (`/audit csv`, or the export button). Anyone else gets a polite refusal."""

from __future__ import annotations

from dataclasses import dataclass

from domain.audit import AuditRecord
from domain.orders import CHINA
from handlers.arguments import shown
from handlers.buttons import ButtonData
from handlers.contract import Button, Document, Reply
from handlers.i18n import Texts
from handlers.router import Context, ConversationRouter

LISTED = 20


@dataclass(frozen=True)
class ExportAudit(ButtonData, prefix="audit.csv"):
    pass


def audit_subject(t: Texts, subject: str) -> str:
    """A customer subject in the reader's words ("客户 #5"); others as recorded."""
    kind, _, ident = subject.partition(":")
    return t("audit.subject.customer", id=ident) if kind == "customer" and ident else subject


def audit_actor(t: Texts, record: AuditRecord) -> str:
    """Who acted: their name, else their id, else "the system"."""
    entry = record.entry
    return entry.actor_name or (str(entry.actor_id) if entry.actor_id else t("audit.actor.system"))


def audit_line(t: Texts, record: AuditRecord) -> str:
    entry = record.entry
    return t(
        "audit.line",
        id=record.id,
        at=f"{record.at.astimezone(CHINA):%m-%d %H:%M}",
        action=t(f"audit.action.{entry.action.value}"),
        actor=audit_actor(t, record),
        subject=audit_subject(t, entry.subject),
        detail=entry.detail,
    ).rstrip(" ·")


async def _supervisor(ctx: Context) -> bool:
    if await ctx.services.staff.is_supervisor(ctx.event.user.telegram_id):
        return True
    if ctx.event.callback_id is not None:
        ctx.notice(ctx.t("audit.supervisors_only"))
    else:
        ctx.reply(ctx.t("audit.supervisors_only"))
    return False


def _staff_name(ctx: Context) -> str:
    user = ctx.event.user
    return user.first_name or (f"@{user.username}" if user.username else f"#{user.telegram_id}")


async def _export(ctx: Context) -> None:
    content = await ctx.services.audit.export_csv(ctx.event.user.telegram_id, _staff_name(ctx))
    rows = content.count(b"\n") - 1
    name = f"audit-{ctx.services.audit.now().astimezone(CHINA):%Y%m%d-%H%M}.csv"
    ctx.outcome.replies.append(
        Reply(
            ctx.t("audit.export_caption", count=rows),
            chat_id=ctx.event.chat_id,
            thread_id=ctx.event.thread_id,
            document=Document(name, content),
        )
    )


def register(router: ConversationRouter) -> None:
    @router.command("audit", staff=True)
    async def audit_command(ctx: Context) -> None:
        if not await _supervisor(ctx):
            return
        arg = ctx.event.args.strip()
        if arg.lower() == "csv":
            await _export(ctx)
            return
        if arg:
            ctx.reply(ctx.t("audit.bad_argument", value=shown(arg)))
            return
        records = await ctx.services.audit.recent(LISTED)
        t = ctx.t
        text = (
            t("audit.none")
            if not records
            else "\n".join(
                [t("audit.title", count=len(records))] + [audit_line(t, r) for r in records]
            )
        )
        export = Button(t("audit.export"), ExportAudit().pack())
        ctx.outcome.replies.append(
            Reply(text, ((export,),), chat_id=ctx.event.chat_id, thread_id=ctx.event.thread_id)
        )

    @router.button(ExportAudit)
    async def export_button(ctx: Context, _data: ExportAudit) -> None:
        if not await _supervisor(ctx):
            return
        await _export(ctx)
