"""Recharge: pick a number, call credit or data, a denomination; confirm; pay; receipt."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from domain.catalogue import Product, ProductKind
from domain.customers import MAX_BOUND_PHONES
from domain.orders import CHINA, LimitExceeded, Order, OrderPurpose, OrderStatus, PaymentMethod
from domain.phone import PhoneNumber, PhoneNumberError, parse_phone_number
from domain.services.customers import PhoneAlreadyBound, TooManyPhones
from domain.services.recharge import (
    BundleChoice,
    BundleUnavailable,
    CarrierNotServed,
    CouponInvalid,
    CouponThrottled,
    CouponUnavailable,
    InsufficientBalance,
    NotPayable,
    OrderChanged,
    OrderNotFound,
    PaymentNotMatched,
    PaymentStarted,
    RechargeError,
    invoice_payload,
)
from handlers.amounts import is_amount, parse_yuan
from handlers.buttons import ButtonData
from handlers.contract import Button, Invoice, Reply
from handlers.features.consent import consent_needed
from handlers.features.pin import ask_pin, read_pin
from handlers.i18n import Texts
from handlers.menu import back_to_menu, cancel_row, show_menu
from handlers.offers_text import benefit_lines, earnings_line
from handlers.receipts import held_notice, product_name, receipt, target
from handlers.router import Context, ConversationRouter
from handlers.support_views import order_rating_row

CHOOSING = "recharge.choosing"  # data: {"phone": digits}
TYPING_NUMBER = "recharge.number"
TYPING_COUPON = "recharge.coupon"  # data: {"order": id}


@dataclass(frozen=True)
class ShowRecharge(ButtonData, prefix="rc"):
    pass


@dataclass(frozen=True)
class RechargeTo(ButtonData, prefix="rc#"):
    binding_id: int


@dataclass(frozen=True)
class RechargeOther(ButtonData, prefix="rc?"):
    pass


@dataclass(frozen=True)
class ChangeNumber(ButtonData, prefix="rc~"):
    """From a denomination grid: recharge another number (a bound one, or one typed)."""


@dataclass(frozen=True)
class RechargeKind(ButtonData, prefix="rck"):
    kind: ProductKind
    # The bound number the grid was for (0: a typed number), so a press after the conversation
    # moved on still recharges that number.
    binding_id: int = 0


@dataclass(frozen=True)
class RechargeProduct(ButtonData, prefix="rcp"):
    product_id: int
    binding_id: int = 0  # as in RechargeKind


@dataclass(frozen=True)
class PayOrder(ButtonData, prefix="pay"):
    order_id: int
    method: PaymentMethod


@dataclass(frozen=True)
class CancelOrder(ButtonData, prefix="pay-x"):
    order_id: int


@dataclass(frozen=True)
class UseCoupon(ButtonData, prefix="cpn"):
    order_id: int


@dataclass(frozen=True)
class UseRewardCoupon(ButtonData, prefix="cpn#"):
    """Price the unpaid order with one of the customer's own coupons (redeemed with points)."""

    order_id: int
    coupon_id: int


@dataclass(frozen=True)
class AddBundle(ButtonData, prefix="bdl+"):
    order_id: int
    pack_id: int


@dataclass(frozen=True)
class RemoveBundle(ButtonData, prefix="bdl-"):
    order_id: int


@dataclass(frozen=True)
class RepeatOrder(ButtonData, prefix="ord+"):
    order_id: int


@dataclass(frozen=True)
class ShowOrders(ButtonData, prefix="ord"):
    pass


@dataclass(frozen=True)
class BindOrderNumber(ButtonData, prefix="rc+"):
    """After a receipt for a typed number: bind that number (read from the order)."""

    order_id: int


def receipt_buttons(t: Texts, order: Order) -> tuple[tuple[Button, ...], ...]:
    rows: list[tuple[Button, ...]] = []
    if order.status is OrderStatus.COMPLETED and order.purpose is OrderPurpose.RECHARGE:
        rows.append(order_rating_row(t, order))
        rows.append((Button(t("recharge.again"), RepeatOrder(order.id).pack()),))
    rows.append((Button(t("menu.orders"), ShowOrders().pack()), *back_to_menu(t)))
    return tuple(rows)


def outcome_reply(t: Texts, order: Order) -> Reply:
    """The message that tells a customer how their order ended, in their language."""
    return Reply(receipt(t, order), receipt_buttons(t, order))


async def _bind_offer(ctx: Context, order: Order) -> tuple[tuple[Button, ...], ...]:
    """A recharge of a number the customer typed: bind it in one tap (room left for it)."""
    if order.purpose is not OrderPurpose.RECHARGE or not order.phone_digits:
        return ()
    if "*" in order.phone_digits or order.status not in (OrderStatus.COMPLETED, OrderStatus.PAID):
        return ()
    phones = await ctx.services.customers.phones(ctx.customer.id)
    if len(phones) >= MAX_BOUND_PHONES or any(p.digits == order.phone_digits for p in phones):
        return ()
    label = ctx.t("recharge.bind_number", number=order.masked_phone)
    return ((Button(label, BindOrderNumber(order.id).pack()),),)


async def show_receipt(ctx: Context, order: Order, *, edit: bool = False) -> None:
    """The order's current account; a final outcome shown here is not sent again later."""
    buttons = (*await _bind_offer(ctx, order), *receipt_buttons(ctx.t, order))
    ctx.reply(receipt(ctx.t, order), buttons, edit=edit)
    if order.status in (OrderStatus.COMPLETED, OrderStatus.REFUNDED):
        if await ctx.services.outcomes.claim_outcome(order.id):
            ctx.after_delivery(partial(ctx.services.outcomes.outcome_told, order.id))


async def _choose_number(ctx: Context, *, edit: bool, changing: bool = False) -> None:
    if await consent_needed(ctx):  # no number is kept before the customer agreed
        return
    """Which number: none bound, type one; one bound, straight to its call credit (unless the
    customer asked to change it); several, pick one."""
    phones = await ctx.services.customers.phones(ctx.customer.id)
    if not phones or (changing and len(phones) == 1):
        _ask_number(ctx)
        return
    if len(phones) == 1:
        number = PhoneNumber(phones[0].digits, phones[0].carrier)
        if number.carrier in ctx.services.ordering.config.served_carriers:
            await show_products(ctx, number, ProductKind.CREDIT, edit=edit, binding_id=phones[0].id)
            return
    rows: list[tuple[Button, ...]] = [
        (Button(ctx.t("recharge.to", number=p.masked), RechargeTo(p.id).pack()),) for p in phones
    ]
    rows.append((Button(ctx.t("recharge.other_number"), RechargeOther().pack()),))
    rows.append(back_to_menu(ctx.t))
    ctx.reply(ctx.t("recharge.choose_number"), tuple(rows), edit=edit)


def _ask_number(ctx: Context) -> None:
    ctx.go(TYPING_NUMBER)
    ctx.reply(ctx.t("recharge.type_number"), (back_to_menu(ctx.t),))


def denomination_label(t: Texts, product: Product) -> str:
    """A grid button as the wallet app shows it: "50元" ("¥50"); the price beside it only when
    it differs ("50元 ¥49.50"). A data pack by its name and price."""
    if product.kind is ProductKind.DATA:
        return t("recharge.pack_button", name=product.name(t.language), price=product.price.short())
    yuan = product.face_value.whole_yuan
    face = t("recharge.yuan", yuan=yuan) if yuan is not None else product.face_value.short()
    if product.price == product.face_value:
        return face
    return t("recharge.denomination_priced", face=face, price=product.price.short())


async def show_products(
    ctx: Context,
    number: PhoneNumber,
    kind: ProductKind,
    *,
    edit: bool,
    binding_id: int | None = None,
) -> None:
    """The denomination grid for the number (call credit first), with the other kind and a
    change of number one tap away. `binding_id`: the customer's binding of the number, when the
    caller read it already (0: not bound)."""
    ctx.go(CHOOSING, phone=number.digits, kind=kind.value)
    products = await ctx.services.ordering.products(kind, number.carrier)
    if binding_id is None:
        phones = await ctx.services.customers.phones(ctx.customer.id)
        binding_id = next((p.id for p in phones if p.digits == number.digits), 0)
    per_row = 3 if kind is ProductKind.CREDIT else 2
    rows: list[tuple[Button, ...]] = [
        tuple(
            Button(denomination_label(ctx.t, p), RechargeProduct(p.id, binding_id).pack())
            for p in products[i : i + per_row]
        )
        for i in range(0, len(products), per_row)
    ]
    other = ProductKind.DATA if kind is ProductKind.CREDIT else ProductKind.CREDIT
    rows.append(
        (
            Button(ctx.t(f"recharge.kind.{other}"), RechargeKind(other, binding_id).pack()),
            Button(ctx.t("recharge.change_number"), ChangeNumber().pack()),
        )
    )
    rows.append(back_to_menu(ctx.t))
    carrier = ctx.t(f"carrier.{number.carrier}")
    text = ctx.t(f"recharge.grid.{kind}", number=number.masked, carrier=carrier)
    ctx.reply(text, tuple(rows), edit=edit)


async def _order_product(ctx: Context, number: PhoneNumber, product_id: int, *, edit: bool) -> None:
    """A new order for the product; the confirmation. The grid's number and kind stay, so a
    typed amount on the confirmation picks another denomination."""
    try:
        order = await ctx.services.ordering.create_order(
            ctx.customer.id, ctx.event.chat_id, number, product_id
        )
    except (RechargeError, LimitExceeded) as error:
        explain_refusal(ctx, error)
        return
    ctx.go(CHOOSING, phone=number.digits, kind=_kind_in_progress(ctx).value)
    await show_confirmation(ctx, order, edit=edit)


def _yuan_of(product: Product) -> int | None:
    """What a customer types for it: the face value of call credit, the price of a data pack."""
    if product.kind is ProductKind.DATA:
        return product.price.whole_yuan
    return product.face_value.whole_yuan


def _kind_in_progress(ctx: Context) -> ProductKind:
    try:
        return ProductKind(str(ctx.state.data.get("kind", ProductKind.CREDIT.value)))
    except ValueError:
        return ProductKind.CREDIT


def _number_in_progress(ctx: Context) -> PhoneNumber | None:
    if ctx.state.step != CHOOSING:
        return None
    try:
        return parse_phone_number(str(ctx.state.data.get("phone", "")))
    except PhoneNumberError:
        return None


async def _bound_number(ctx: Context, binding_id: int) -> PhoneNumber | None:
    """The customer's bound number a grid was for, when it is still theirs."""
    if binding_id == 0:
        return None
    phones = await ctx.services.customers.phones(ctx.customer.id)
    own = next((p for p in phones if p.id == binding_id), None)
    return None if own is None else PhoneNumber(own.digits, own.carrier)


async def _number_served(ctx: Context, number: PhoneNumber) -> bool:
    if number.carrier in ctx.services.ordering.config.served_carriers:
        return True
    ctx.reply(ctx.t("recharge.carrier_not_served", carrier=ctx.t(f"carrier.{number.carrier}")))
    return False


async def confirmation_buttons(ctx: Context, order: Order) -> tuple[tuple[Button, ...], ...]:
    methods = ctx.services.ordering.methods_for(order.purpose)
    rows = [(Button(ctx.t(f"pay.with.{m}"), PayOrder(order.id, m).pack()),) for m in methods]
    if order.status is not OrderStatus.CREATED:  # a payment started: it cannot change now
        rows.append((Button(ctx.t("pay.cancel"), CancelOrder(order.id).pack()),))
        return tuple(rows)
    options = await ctx.services.ordering.options(ctx.customer.id, order.id)
    if options.coupon_code:
        rows.append((Button(ctx.t("coupon.use"), UseCoupon(order.id).pack()),))
    own = options.own_coupon
    if own is not None:
        label = ctx.t("reward_coupon.use", value=own.value.format())
        rows.append((Button(label, UseRewardCoupon(order.id, own.id).pack()),))
    rows.extend(_bundle_buttons(ctx, order, options.bundle))
    rows.append((Button(ctx.t("pay.cancel"), CancelOrder(order.id).pack()),))
    return tuple(rows)


def _bundle_buttons(ctx: Context, order: Order, choice: BundleChoice | None) -> list[tuple[Button]]:
    """Add the data pack a live bundle offer pairs with this call credit, or take it off."""
    if order.bundle is not None:
        return [(Button(ctx.t("bundle.remove"), RemoveBundle(order.id).pack()),)]
    if choice is None:
        return []
    label = ctx.t(
        "bundle.add",
        pack=choice.pack.name(ctx.language),
        extra=choice.extra.format(),
        saving=choice.saving.format(),
    )
    return [(Button(label, AddBundle(order.id, choice.pack.id).pack()),)]


async def show_confirmation(ctx: Context, order: Order, *, edit: bool) -> None:
    if order.held:  # a risk rule held it: nothing to pay until staff release it
        frozen = await ctx.services.risk.is_frozen(ctx.customer.id)
        ctx.reply(held_notice(ctx.t, order, frozen), receipt_buttons(ctx.t, order), edit=edit)
        return
    balance = await ctx.services.wallet.balance(ctx.customer.id)
    text = ctx.t(
        "recharge.confirm",
        product=product_name(ctx.t, order),
        target=target(ctx.t, order),
        amount=order.amount.format(),
        number=order.number,
        minutes=int(ctx.services.ordering.config.payment_window.total_seconds() // 60),
        balance=balance.format(),
    )
    quote = order.quote
    if quote is not None:
        # The heading only over a benefit; the list price only when the price differs.
        offers = benefit_lines(ctx.t, quote)
        if quote.price < quote.amount:
            offers.insert(0, ctx.t("receipt.list_price", amount=quote.amount.format()))
        if offers:
            text += "\n" + ctx.t("recharge.offers_apply") + "\n" + "\n".join(offers)
        if quote.points or quote.cashback.is_positive:
            text += "\n" + earnings_line(ctx.t, quote)
    ctx.reply(text, await confirmation_buttons(ctx, order), edit=edit)


def explain_refusal(ctx: Context, error: RechargeError | LimitExceeded) -> None:
    if isinstance(error, LimitExceeded):
        ways_on = ((Button(ctx.t("menu.orders"), ShowOrders().pack()), *back_to_menu(ctx.t)),)
        ctx.reply(ctx.t(f"recharge.limit.{error.reason}", limit=error.limit.format()), ways_on)
    elif isinstance(error, InsufficientBalance):
        ctx.reply(
            ctx.t("pay.insufficient", balance=error.balance.format(), needed=error.needed.format())
        )
    elif isinstance(error, CarrierNotServed):
        ctx.reply(ctx.t("recharge.carrier_not_served", carrier=ctx.t(f"carrier.{error.args[0]}")))
    else:
        ctx.reply(ctx.t(f"recharge.refused.{error.reason}"))


PIN_TO_PAY = "pin.pay"


async def pay(ctx: Context, order_id: int, method: PaymentMethod) -> None:
    """Pay an order by the chosen method (after the payment PIN when it is needed); the
    answer is a receipt or why not."""
    if await ctx.services.pins.needed_to_pay(
        ctx.customer.id, order_id, method, pin_set=ctx.pin_set
    ):
        ask_pin(ctx, PIN_TO_PAY, order_id=order_id, method=method.value)
        return
    await _pay_now(ctx, order_id, method)


async def _pay_now(ctx: Context, order_id: int, method: PaymentMethod) -> None:
    try:
        if method is PaymentMethod.TELEGRAM:
            order = await ctx.services.paying.start_invoice(ctx.customer.id, order_id)
            ctx.send_invoice(_invoice(ctx, order))
            return
        if method is PaymentMethod.WALLET:
            order = await ctx.services.paying.pay_with_wallet(ctx.customer.id, order_id)
        else:
            order = await ctx.services.paying.pay_with_provider(ctx.customer.id, order_id, method)
    except NotPayable as refusal:
        await _not_payable(ctx, refusal.order)
        return
    except CouponUnavailable:
        await _coupon_lost(ctx, order_id)
        return
    except RechargeError as error:
        explain_refusal(ctx, error)
        if not isinstance(error, OrderNotFound):
            await _offer_again(ctx, order_id)
        return
    await show_receipt(ctx, order, edit=True)


async def _coupon_lost(ctx: Context, order_id: int) -> None:
    """The order's own coupon went to another order first: this one is closed unpaid, and
    "recharge again" makes a new one at today's price."""
    try:
        await ctx.services.paying.cancel(ctx.customer.id, order_id)
    except RechargeError:
        pass  # closed already
    ctx.reply(
        ctx.t("reward_coupon.lost"),
        ((Button(ctx.t("recharge.again"), RepeatOrder(order_id).pack()),), back_to_menu(ctx.t)),
    )


async def _offer_again(ctx: Context, order_id: int) -> None:
    """After a refusal, the same order can still be paid another way."""
    try:
        order = await ctx.services.ordering.order_for(ctx.customer.id, order_id)
    except RechargeError:
        return
    if order.payable:
        await show_confirmation(ctx, order, edit=False)


async def _not_payable(ctx: Context, order: Order) -> None:
    if order.status is OrderStatus.EXPIRED:
        again = (
            ()
            if order.purpose is not OrderPurpose.RECHARGE
            else (Button(ctx.t("recharge.again"), RepeatOrder(order.id).pack()),)
        )
        ctx.reply(
            ctx.t("recharge.refused.expired"),
            (again, back_to_menu(ctx.t)) if again else (back_to_menu(ctx.t),),
        )
        return
    ctx.notice(ctx.t("pay.already_paid"))
    await show_receipt(ctx, order)


async def _current(ctx: Context, order_id: int) -> Order | None:
    """The customer's order as it is now, payable or not; None when there is none."""
    try:
        return await ctx.services.ordering.order_for(ctx.customer.id, order_id)
    except RechargeError:
        return None


async def _not_changed(
    ctx: Context, refusal: NotPayable | PaymentStarted | OrderChanged, *, edit: bool
) -> None:
    """A change (coupon, data pack) that did not apply: say why, and show the order as it is
    now, under its one number."""
    if isinstance(refusal, NotPayable):
        await _not_payable(ctx, refusal.order)
        return
    ctx.reply(ctx.t(f"recharge.refused.{refusal.reason}"))
    if refusal.order.payable:
        await show_confirmation(ctx, refusal.order, edit=False)
    else:
        await show_receipt(ctx, refusal.order)


def _invoice(ctx: Context, order: Order) -> Invoice:
    name = product_name(ctx.t, order)
    return Invoice(
        title=ctx.t("invoice.title", product=name)[:32],
        description=ctx.t(
            "invoice.description", product=name, target=target(ctx.t, order), number=order.number
        )[:255],
        payload=invoice_payload(order),
        currency=order.amount.currency,
        amount=order.amount.fen,
        label=name,
    )


def register(router: ConversationRouter) -> None:
    router.menu_entry(5, "menu.recharge", ShowRecharge())

    @router.command("recharge")
    async def recharge_command(ctx: Context) -> None:
        ctx.finish()
        await _choose_number(ctx, edit=False)

    @router.button(ShowRecharge)
    async def recharge_button(ctx: Context, _data: ShowRecharge) -> None:
        ctx.finish()
        await _choose_number(ctx, edit=True)

    @router.button(RechargeOther)
    async def other_number(ctx: Context, _data: RechargeOther) -> None:
        _ask_number(ctx)

    @router.step(TYPING_NUMBER)
    async def typed_number(ctx: Context) -> None:
        try:
            number = parse_phone_number(ctx.event.typed_or_shared)
        except PhoneNumberError as error:
            ctx.reply(ctx.t(f"phones.invalid.{error.reason}"))
            return
        if await _number_served(ctx, number):
            await show_products(ctx, number, ProductKind.CREDIT, edit=False)

    @router.button(RechargeTo)
    async def to_bound_number(ctx: Context, data: RechargeTo) -> None:
        phones = await ctx.services.customers.phones(ctx.customer.id)
        own = next((p for p in phones if p.id == data.binding_id), None)
        if own is None:  # not (or no longer) one of this customer's numbers
            ctx.notice(ctx.t("phones.not_found"))
            await _choose_number(ctx, edit=True)
            return
        number = PhoneNumber(own.digits, own.carrier)
        if await _number_served(ctx, number):
            await show_products(ctx, number, ProductKind.CREDIT, edit=True, binding_id=own.id)

    @router.button(ChangeNumber)
    async def change_number(ctx: Context, _data: ChangeNumber) -> None:
        await _choose_number(ctx, edit=True, changing=True)

    @router.button(RechargeKind)
    async def kind_chosen(ctx: Context, data: RechargeKind) -> None:
        number = _number_in_progress(ctx) or await _bound_number(ctx, data.binding_id)
        if number is None:
            ctx.notice(ctx.t("button.expired"))
            await _choose_number(ctx, edit=False)
            return
        await show_products(ctx, number, data.kind, edit=True)

    @router.button(RechargeProduct)
    async def product_chosen(ctx: Context, data: RechargeProduct) -> None:
        number = _number_in_progress(ctx) or await _bound_number(ctx, data.binding_id)
        if number is None:
            ctx.notice(ctx.t("button.expired"))
            await _choose_number(ctx, edit=False)
            return
        await _order_product(ctx, number, data.product_id, edit=True)

    @router.step_text(CHOOSING, is_amount)
    async def typed_amount(ctx: Context) -> None:
        """ "50", "50元", "五十" typed on the grid or its confirmation: that denomination."""
        number = _number_in_progress(ctx)
        yuan = parse_yuan(ctx.event.text)
        if number is None or yuan is None:
            return
        kind = _kind_in_progress(ctx)
        products = await ctx.services.ordering.products(kind, number.carrier)
        chosen = next((p for p in products if _yuan_of(p) == yuan), None)
        if chosen is None:
            separator = ctx.t("recharge.amount_separator")
            amounts = separator.join(denomination_label(ctx.t, p) for p in products)
            ctx.reply(ctx.t("recharge.no_such_amount", amount=yuan, amounts=amounts))
            await show_products(ctx, number, kind, edit=False)
            return
        await _order_product(ctx, number, chosen.id, edit=False)

    @router.keyword("充值", "充话费", "话费", "recharge", "top up", "credit", "call credit")
    async def recharge_word(ctx: Context) -> None:
        ctx.finish()
        await _choose_number(ctx, edit=False)

    @router.keyword("流量", "充流量", "data", "data pack")
    async def data_word(ctx: Context) -> None:
        ctx.finish()
        phones = await ctx.services.customers.phones(ctx.customer.id)
        if len(phones) == 1:
            number = PhoneNumber(phones[0].digits, phones[0].carrier)
            if await _number_served(ctx, number):
                await show_products(
                    ctx, number, ProductKind.DATA, edit=False, binding_id=phones[0].id
                )
            return
        await _choose_number(ctx, edit=False)

    @router.button(PayOrder)
    async def pay_order(ctx: Context, data: PayOrder) -> None:
        await pay(ctx, data.order_id, data.method)

    @router.step(PIN_TO_PAY)
    async def pin_to_pay(ctx: Context) -> None:
        if not await read_pin(ctx):
            return
        data = ctx.state.data
        ctx.finish()
        try:
            method = PaymentMethod(str(data.get("method")))
            order_id = int(data.get("order_id", 0))
        except ValueError:
            ctx.reply(ctx.t("button.expired"))
            return
        await _pay_now(ctx, order_id, method)

    @router.button(CancelOrder)
    async def cancel_order(ctx: Context, data: CancelOrder) -> None:
        try:
            await ctx.services.paying.cancel(ctx.customer.id, data.order_id)
        except NotPayable as refusal:
            await _not_payable(ctx, refusal.order)
            return
        except RechargeError as error:
            explain_refusal(ctx, error)
            return
        ctx.reply(ctx.t("pay.cancelled"), edit=True)
        show_menu(ctx, router)

    @router.button(RepeatOrder)
    async def repeat_order(ctx: Context, data: RepeatOrder) -> None:
        try:
            order = await ctx.services.ordering.repeat(
                ctx.customer.id, ctx.event.chat_id, data.order_id
            )
        except (RechargeError, LimitExceeded) as error:
            explain_refusal(ctx, error)
            return
        await show_confirmation(ctx, order, edit=False)

    @router.button(BindOrderNumber)
    async def bind_order_number(ctx: Context, data: BindOrderNumber) -> None:
        order = await _current(ctx, data.order_id)
        if order is None or not order.phone_digits:
            ctx.notice(ctx.t("recharge.refused.order_not_found"))
            return
        try:
            number = parse_phone_number(order.phone_digits)
            bound = await ctx.services.customers.bind_phone(ctx.customer.id, number)
        except PhoneNumberError:
            ctx.notice(ctx.t("recharge.refused.order_not_found"))
            return
        except PhoneAlreadyBound:
            ctx.notice(ctx.t("phones.already_bound", number=order.masked_phone))
            return
        except TooManyPhones:
            ctx.reply(ctx.t("phones.too_many", limit=MAX_BOUND_PHONES), (back_to_menu(ctx.t),))
            return
        carrier = ctx.t(f"carrier.{bound.carrier}")
        ctx.notice(ctx.t("phones.bound", number=bound.masked, carrier=carrier))
        ctx.reply(
            ctx.t("phones.bound", number=bound.masked, carrier=carrier),
            ((Button(ctx.t("menu.recharge"), ShowRecharge().pack()),), back_to_menu(ctx.t)),
        )

    @router.button(UseCoupon)
    async def use_coupon(ctx: Context, data: UseCoupon) -> None:
        ctx.go(TYPING_COUPON, order=data.order_id)
        ctx.reply(ctx.t("coupon.ask"), (cancel_row(ctx.t), back_to_menu(ctx.t)))

    @router.button(UseRewardCoupon)
    async def use_reward_coupon(ctx: Context, data: UseRewardCoupon) -> None:
        try:
            order = await ctx.services.coupons.use(ctx.customer.id, data.order_id, data.coupon_id)
        except NotPayable as refusal:
            await _not_payable(ctx, refusal.order)
            return
        except CouponUnavailable:
            ctx.notice(ctx.t("reward_coupon.unavailable"))
            try:
                order = await ctx.services.ordering.order_for(ctx.customer.id, data.order_id)
            except OrderNotFound:
                ctx.reply(ctx.t("recharge.refused.order_not_found"))
                return
            if order.payable:
                await show_confirmation(ctx, order, edit=True)
            else:
                await _not_payable(ctx, order)
            return
        except RechargeError as error:
            explain_refusal(ctx, error)
            return
        await show_confirmation(ctx, order, edit=True)

    @router.step(TYPING_COUPON)
    async def typed_coupon(ctx: Context) -> None:
        order_id = int(ctx.state.data.get("order", 0))
        try:
            order = await ctx.services.ordering.apply_coupon(
                ctx.customer.id, order_id, ctx.event.text
            )
        except CouponInvalid:
            # Still at this step: try again, or cancel.
            ctx.reply(ctx.t("coupon.invalid"), (cancel_row(ctx.t),))
            return
        except CouponThrottled as error:
            ctx.finish()
            if error.frozen:  # the rule froze the account: staff decide what happens next
                ctx.reply(ctx.t("recharge.refused.account_frozen"))
                return
            key = "coupon.invalid_closed" if error.wrong else "coupon.closed"
            ctx.reply(ctx.t(key, time=f"{error.opens_at.astimezone(CHINA):%H:%M}"))
            await _offer_again(ctx, order_id)  # the way on: pay without the code
            return
        except (NotPayable, PaymentStarted, OrderChanged) as refusal:
            ctx.finish()
            await _not_changed(ctx, refusal, edit=False)
            return
        except (RechargeError, LimitExceeded) as error:
            ctx.finish()
            explain_refusal(ctx, error)
            return
        ctx.finish()
        ctx.reply(ctx.t("coupon.applied", amount=order.amount.format()))
        await show_confirmation(ctx, order, edit=False)

    @router.button(AddBundle)
    async def add_bundle(ctx: Context, data: AddBundle) -> None:
        try:
            order = await ctx.services.ordering.add_bundle(
                ctx.customer.id, data.order_id, data.pack_id
            )
        except (NotPayable, PaymentStarted, OrderChanged) as refusal:
            await _not_changed(ctx, refusal, edit=True)
            return
        except BundleUnavailable as error:
            current = await _current(ctx, data.order_id)
            if current is not None and current.bundle is not None:
                # A button of a confirmation shown before the pack was added: it is there.
                ctx.notice(ctx.t("bundle.already_added", amount=current.amount.format()))
                await show_confirmation(ctx, current, edit=True)
                return
            explain_refusal(ctx, error)
            await _offer_again(ctx, data.order_id)
            return
        except (RechargeError, LimitExceeded) as error:
            explain_refusal(ctx, error)
            return
        ctx.notice(ctx.t("bundle.added", amount=order.amount.format()))
        await show_confirmation(ctx, order, edit=True)

    @router.button(RemoveBundle)
    async def remove_bundle(ctx: Context, data: RemoveBundle) -> None:
        try:
            order = await ctx.services.ordering.remove_bundle(ctx.customer.id, data.order_id)
        except (NotPayable, PaymentStarted, OrderChanged) as refusal:
            await _not_changed(ctx, refusal, edit=True)
            return
        except BundleUnavailable:
            current = await _current(ctx, data.order_id)
            if current is None:
                ctx.reply(ctx.t("recharge.refused.order_not_found"))
                return
            # A button of a confirmation shown while the order had a pack: it has none now.
            ctx.notice(ctx.t("bundle.already_removed", amount=current.amount.format()))
            await show_confirmation(ctx, current, edit=True)
            return
        except (RechargeError, LimitExceeded) as error:
            explain_refusal(ctx, error)
            return
        await show_confirmation(ctx, order, edit=True)

    @router.pre_checkout
    async def pre_checkout(ctx: Context) -> None:
        payment = ctx.event.payment
        assert payment is not None
        reason = await ctx.services.paying.check_pre_checkout(
            ctx.customer.id, payment.payload, payment.currency, payment.total_amount
        )
        if reason is not None:
            ctx.outcome.pre_checkout_error = ctx.t(f"recharge.refused.{reason}")

    @router.payment
    async def successful_payment(ctx: Context) -> None:
        payment = ctx.event.payment
        assert payment is not None and payment.telegram_charge_id is not None
        try:
            order = await ctx.services.paying.settle_telegram_payment(
                ctx.customer.id,
                payment.payload,
                payment.currency,
                payment.total_amount,
                payment.telegram_charge_id,
                payment.provider_charge_id,
            )
        except PaymentNotMatched as kept:
            text = "pay.unmatched_credited" if kept.credited else "pay.unmatched_held"
            ctx.reply(ctx.t(text, amount=kept.amount.format()))
            return
        except RechargeError as error:
            explain_refusal(ctx, error)
            return
        if order.status is OrderStatus.EXPIRED:
            ctx.reply(ctx.t("pay.late_payment", amount=order.amount.format()))
            return
        await show_receipt(ctx, order)
