"""/wallet: the digital wallet's balance, recent entries, and topping it up."""

from __future__ import annotations

from dataclasses import dataclass

from domain.money import Money
from domain.orders import LimitExceeded, OrderPurpose
from domain.services.recharge import RechargeError
from handlers.buttons import ButtonData
from handlers.contract import Button
from handlers.features.recharge import explain_refusal, show_confirmation
from handlers.menu import back_to_menu
from handlers.receipts import balance_line
from handlers.router import Context, ConversationRouter

# The amounts offered for a wallet top-up; a button carries the choice, never the amount.
TOP_UP_CHOICES = (Money.yuan(50), Money.yuan(100), Money.yuan(200), Money.yuan(500))


@dataclass(frozen=True)
class ShowWallet(ButtonData, prefix="wal"):
    pass


@dataclass(frozen=True)
class TopUpWallet(ButtonData, prefix="wal+"):
    choice: int


async def _show_wallet(ctx: Context, *, edit: bool) -> None:
    balance = await ctx.services.wallet.balance(ctx.customer.id)
    entries = await ctx.services.wallet.entries(ctx.customer.id, limit=5)
    lines = [balance_line(ctx.t, balance)]
    if entries:
        lines.append(ctx.t("wallet.recent"))
        lines += [ctx.t(f"wallet.entry.{e.kind}", amount=e.amount.format()) for e in entries]
    if not _can_top_up(ctx):
        lines.append(ctx.t("wallet.no_top_up"))
        ctx.reply("\n".join(lines), (back_to_menu(ctx.t),), edit=edit)
        return
    buttons = tuple(
        Button(ctx.t("wallet.top_up", amount=amount.format()), TopUpWallet(i).pack())
        for i, amount in enumerate(TOP_UP_CHOICES)
    )
    rows = (buttons[:2], buttons[2:], back_to_menu(ctx.t))
    ctx.reply("\n".join(lines), rows, edit=edit)


def _can_top_up(ctx: Context) -> bool:
    """A wallet is topped up with a payment method other than the wallet itself; a configuration
    with none (no payment provider, no demo mode) offers no top-up."""
    return bool(ctx.services.ordering.methods_for(OrderPurpose.WALLET_TOPUP))


def register(router: ConversationRouter) -> None:
    router.menu_entry(15, "menu.wallet", ShowWallet())

    @router.command("wallet")
    async def wallet_command(ctx: Context) -> None:
        await _show_wallet(ctx, edit=False)

    router.keyword("钱包", "余额", "wallet", "balance")(wallet_command)

    @router.button(ShowWallet)
    async def wallet_button(ctx: Context, _data: ShowWallet) -> None:
        await _show_wallet(ctx, edit=True)

    @router.button(TopUpWallet)
    async def top_up(ctx: Context, data: TopUpWallet) -> None:
        if not 0 <= data.choice < len(TOP_UP_CHOICES) or not _can_top_up(ctx):
            ctx.notice(ctx.t("button.expired"))
            await _show_wallet(ctx, edit=True)
            return
        try:
            order = await ctx.services.ordering.create_wallet_topup(
                ctx.customer.id, ctx.event.chat_id, TOP_UP_CHOICES[data.choice]
            )
        except (RechargeError, LimitExceeded) as error:
            explain_refusal(ctx, error)
            return
        await show_confirmation(ctx, order, edit=True)
