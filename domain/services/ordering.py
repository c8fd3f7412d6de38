"""Ordering: the catalogue, a new order at the price of the moment (its quote of offers kept
with it), an unpaid order changed in place (a coupon, a bundled data pack), and reading orders."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

from domain.campaigns import Benefit, OfferKind, Quote
from domain.catalogue import Product, ProductKind
from domain.clock import Clock, utc_now
from domain.money import Money
from domain.orders import (
    Order,
    OrderPurpose,
    check_limits,
)
from domain.phone import Carrier, PhoneNumber
from domain.repositories import NewOrder, OrderChange, OrderRecord
from domain.repositories.money import LiveCampaigns, MoneyUnitOfWork, MoneyUnitOfWorkFactory
from domain.services.loyalty import (
    LoyaltyService,
    RewardCoupon,
    live_offers_in,
    offer_of,
    quote_json,
)
from domain.services.recharge import (
    COUPON_REJECTED,
    PAYABLE_VALUES,
    BundleChoice,
    BundleUnavailable,
    CarrierNotServed,
    CouponInvalid,
    CouponThrottled,
    NotPayable,
    OrderChanged,
    OrderNotFound,
    OrderSteps,
    PaymentStarted,
    ProductUnavailable,
    RechargeConfig,
    S,
    order_of,
    product_of,
)
from domain.services.reward_coupons import fitting_coupon
from domain.services.risk import RiskService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OrderOptions:
    """What an unpaid order may still take before it is paid (its confirmation's buttons)."""

    # A live coupon offer: the customer may type its code.
    coupon_code: bool = False
    # The customer's own coupon that fits the order best.
    own_coupon: RewardCoupon | None = None
    # The data pack a live bundle offer adds to this call credit, priced now.
    bundle: BundleChoice | None = None


def _takes_bundle(row: OrderRecord) -> bool:
    """An unpaid call-credit recharge without a pack yet may take one."""
    return (
        row.purpose == OrderPurpose.RECHARGE.value
        and row.status in PAYABLE_VALUES
        and row.product_kind == ProductKind.CREDIT.value
        and bool(row.carrier)
        and row.bundle_product_id is None
    )


def _change_of(
    row: OrderRecord, quote: Quote, list_price: Money, coupon_code: str | None
) -> OrderChange:
    """The order `row` at the `quote`d price, keeping its data pack; the coupon stays only
    while the quote still takes it."""
    coupon = any(b.kind is OfferKind.COUPON for b in quote.benefits)
    return OrderChange(
        amount_fen=quote.price.fen,
        list_price_fen=list_price.fen,
        quote=quote_json(quote),
        coupon_code=coupon_code if coupon else None,
        bundle_product_id=row.bundle_product_id,
        bundle_product_code=row.bundle_product_code,
        bundle_name_zh=row.bundle_name_zh,
        bundle_name_en=row.bundle_name_en,
        bundle_price_fen=row.bundle_price_fen,
    )


def _credit_price(row: OrderRecord) -> Money:
    """The call credit's list price alone (the list price less any bundled pack)."""
    return Money((row.list_price_fen or row.amount_fen) - (row.bundle_price_fen or 0), row.currency)


def _bundle_saving(benefits: Sequence[Benefit]) -> Money:
    return sum((b.discount for b in benefits if b.kind is OfferKind.BUNDLE), Money(0))


class OrderingService(OrderSteps):
    def __init__(
        self,
        uow: MoneyUnitOfWorkFactory,
        config: RechargeConfig,
        loyalty: LoyaltyService,
        risk: RiskService,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(uow, config, loyalty, clock)
        self._risk = risk

    # -- catalogue ----------------------------------------------------------------------------
    async def products(self, kind: ProductKind, carrier: Carrier | None = None) -> list[Product]:
        async with self._uow.read() as uow:
            found = [product_of(row) for row in await uow.products.active(kind.value)]
        return [p for p in found if carrier is None or p.serves(carrier)]

    # -- creating orders ----------------------------------------------------------------------
    async def create_order(
        self,
        customer_id: int,
        chat_id: int,
        number: PhoneNumber,
        product_id: int,
        coupon_code: str | None = None,
    ) -> Order:
        """A new order at the catalogue's price now (never a price from a button), less what
        the live offers take off; the quote of offers is kept with the order."""
        if number.carrier not in self.config.served_carriers:
            raise CarrierNotServed(number.carrier)
        now = self._clock()
        async with self._uow() as uow:
            row = await uow.products.get(product_id)
            if row is None or not row.active:
                raise ProductUnavailable(product_id)
            product = product_of(row)
            if not product.serves(number.carrier):
                raise CarrierNotServed(number.carrier)
            quote = await self._loyalty.quote_in(
                uow,
                customer_id,
                product.price,
                product.kind,
                number.carrier,
                coupon_code=coupon_code,
            )
            price = quote.price
            check_limits(self.config.limits, price)
            order = NewOrder(
                customer_id=customer_id,
                chat_id=chat_id,
                purpose=OrderPurpose.RECHARGE.value,
                status=S.CREATED.value,
                list_price_fen=product.price.fen,
                quote=quote_json(quote) if quote is not None else None,
                coupon_code=coupon_code,
                amount_fen=price.fen,
                currency=product.price.currency,
                phone_digits=number.digits,
                carrier=number.carrier.value,
                product_id=product.id,
                product_kind=product.kind.value,
                product_name_zh=product.name_zh,
                product_name_en=product.name_en,
                created_at=now,
                expires_at=now + self.config.payment_window,
            )
            return await self._insert(uow, order)

    async def create_wallet_topup(self, customer_id: int, chat_id: int, amount: Money) -> Order:
        now = self._clock()
        async with self._uow() as uow:
            check_limits(self.config.limits, amount)
            order = NewOrder(
                customer_id=customer_id,
                chat_id=chat_id,
                purpose=OrderPurpose.WALLET_TOPUP.value,
                status=S.CREATED.value,
                amount_fen=amount.fen,
                currency=amount.currency,
                created_at=now,
                expires_at=now + self.config.payment_window,
            )
            return await self._insert(uow, order)

    async def apply_coupon(self, customer_id: int, order_id: int, code: str) -> Order:
        """The unpaid order, in place, at the coupon's price (same number), or a refusal."""
        code = code.strip().upper()
        async with self._uow() as uow:
            row = await self._own_unpaid(uow, customer_id, order_id)
            if row.product_kind is None or not row.carrier:
                raise NotPayable(order_of(row))
            opens_at = await self._risk.coupon_try(uow, customer_id)
            if opens_at is not None:
                raise CouponThrottled(code, opens_at)
            list_price = Money(row.list_price_fen or row.amount_fen, row.currency)
            quote = await self._loyalty.quote_in(
                uow,
                customer_id,
                list_price,
                ProductKind(row.product_kind),
                Carrier(row.carrier),
                coupon_code=code,
                bundle_with=row.bundle_product_code,
            )
            matched = any(b.kind is OfferKind.COUPON for b in quote.benefits)
            closed = await self._risk.coupon_checked(uow, customer_id, matched)
            if not matched:
                await uow.orders.record(
                    row.id, row.status, row.status, COUPON_REJECTED, self._clock()
                )
                await uow.commit()
                if closed is not None:
                    raise CouponThrottled(code, closed.opens_at, wrong=True, frozen=closed.frozen)
                raise CouponInvalid(code)
            change = _change_of(row, quote, list_price, coupon_code=code)
            return await self._change(uow, row, change, f"coupon {code}")

    # -- bundles: call credit together with a data pack at the bundle price -------------------
    async def bundle_for(self, customer_id: int, order_id: int) -> BundleChoice | None:
        """The data pack a live bundle offer would add to this unpaid call-credit order, with
        what it adds to the price and what it saves (the engine's quote); None when none."""
        async with self._uow.read() as uow:
            row = await uow.orders.get(order_id)
            if row is None or row.customer_id != customer_id or not _takes_bundle(row):
                return None
            return await self._best_bundle(uow, row, await uow.campaigns.live(self._clock()))

    async def options(self, customer_id: int, order_id: int) -> OrderOptions:
        """What the customer's unpaid order may still take, as its confirmation shows it: a
        coupon code (a live coupon offer), their own coupon, a bundled data pack. One read of
        the order and one of the live campaigns for all three."""
        now = self._clock()
        async with self._uow.read() as uow:
            row = await uow.orders.get(order_id)
            if row is None or row.customer_id != customer_id or row.status != S.CREATED.value:
                return OrderOptions()
            takes_code = (
                row.purpose == OrderPurpose.RECHARGE.value and not order_of(row).quote_has_coupon
            )
            takes_bundle = _takes_bundle(row)
            found = await uow.campaigns.live(now) if takes_code or takes_bundle else []
            return OrderOptions(
                coupon_code=takes_code
                and any(
                    item.offer.kind is OfferKind.COUPON
                    for item in live_offers_in(found, now, customer_id)
                ),
                own_coupon=await fitting_coupon(uow, row, now),
                bundle=await self._best_bundle(uow, row, found) if takes_bundle else None,
            )

    async def _best_bundle(
        self, uow: MoneyUnitOfWork, row: OrderRecord, live: LiveCampaigns
    ) -> BundleChoice | None:
        """Of the data packs the `live` campaigns' bundle offers name, the one that saves the
        call-credit order `row` (`_takes_bundle`) the most; None when none saves anything."""
        assert row.carrier
        best: BundleChoice | None = None
        for pack in await self._bundle_packs(uow, Carrier(row.carrier), live):
            quote = await self._bundle_quote(uow, row, pack)
            saving = _bundle_saving(quote.benefits)
            if saving.is_positive and (best is None or saving > best.saving):
                extra = quote.price - Money(row.amount_fen, row.currency)
                best = BundleChoice(pack, extra, saving)
        return best

    async def add_bundle(self, customer_id: int, order_id: int, pack_id: int) -> Order:
        """The unpaid call-credit order, in place (same number), with the data pack added at
        the catalogue's prices less what the live offers take off, or a refusal."""
        async with self._uow() as uow:
            row = await self._own_unpaid(uow, customer_id, order_id)
            pack_row = await uow.products.get(pack_id)
            if not _takes_bundle(row) or pack_row is None:
                raise BundleUnavailable(pack_id)
            pack = product_of(pack_row)
            if not pack_row.active or pack.kind is not ProductKind.DATA:
                raise BundleUnavailable(pack_id)
            if row.carrier is None or not pack.serves(Carrier(row.carrier)):
                raise BundleUnavailable(pack_id)
            quote = await self._bundle_quote(uow, row, pack)
            if not _bundle_saving(quote.benefits).is_positive:
                raise BundleUnavailable(pack_id)
            change = replace(
                _change_of(row, quote, _credit_price(row) + pack.price, row.coupon_code),
                bundle_product_id=pack.id,
                bundle_product_code=pack.code,
                bundle_name_zh=pack.name_zh,
                bundle_name_en=pack.name_en,
                bundle_price_fen=pack.price.fen,
            )
            return await self._change(uow, row, change, f"pack {pack.code} added")

    async def remove_bundle(self, customer_id: int, order_id: int) -> Order:
        """The unpaid bundle order, in place (same number), for the call credit alone."""
        async with self._uow() as uow:
            row = await self._own_unpaid(uow, customer_id, order_id)
            if row.bundle_product_id is None or not row.carrier:
                raise BundleUnavailable(order_id)
            credit = _credit_price(row)
            quote = await self._loyalty.quote_in(
                uow,
                customer_id,
                credit,
                ProductKind.CREDIT,
                Carrier(row.carrier),
                coupon_code=row.coupon_code,
            )
            change = replace(
                _change_of(row, quote, credit, row.coupon_code),
                bundle_product_id=None,
                bundle_product_code=None,
                bundle_name_zh=None,
                bundle_name_en=None,
                bundle_price_fen=None,
            )
            return await self._change(uow, row, change, f"pack {row.bundle_product_code} removed")

    async def _change(
        self, uow: MoneyUnitOfWork, row: OrderRecord, change: OrderChange, cause: str
    ) -> Order:
        """Apply `change` to the unpaid order `row` as it was read, and keep it; `OrderChanged`
        when the order changed or its payment started meanwhile (nothing is kept then)."""
        amount = Money(change.amount_fen, row.currency)
        check_limits(self.config.limits, amount)
        before = Money(row.amount_fen, row.currency).format()
        changed = await uow.orders.change_unpaid(
            row,
            change,
            f"{cause}: {before} -> {amount.format()}",
            self._clock(),
            self.config.limits.daily.fen,
        )
        if changed is None:
            raise OrderChanged(await self._reload(uow, row.id))
        await uow.commit()
        return order_of(changed)

    async def _own_unpaid(
        self, uow: MoneyUnitOfWork, customer_id: int, order_id: int
    ) -> OrderRecord:
        """The customer's order that may still change: new, no payment started, in its
        payment window."""
        row = await uow.orders.get(order_id)
        if row is None or row.customer_id != customer_id:
            raise OrderNotFound(order_id)
        if row.status not in PAYABLE_VALUES:
            raise NotPayable(order_of(row))
        if self._clock() >= row.expires_at:
            raise NotPayable(replace(order_of(row), status=S.EXPIRED))
        if row.status != S.CREATED.value:
            raise PaymentStarted(order_of(row))
        return row

    async def _bundle_packs(
        self, uow: MoneyUnitOfWork, carrier: Carrier, live: LiveCampaigns
    ) -> list[Product]:
        """The data packs that the `live` campaigns' bundle offers name, from the catalogue, for
        this carrier."""
        codes = sorted(
            {
                code
                for _, offers in live
                for offer in offers
                if offer.kind == OfferKind.BUNDLE.value
                and (code := offer_of(offer).bundle_product) is not None
            }
        )
        packs = []
        for code in codes:
            found = await uow.products.by_code(code)
            if found is not None and found.active and found.kind == ProductKind.DATA.value:
                pack = product_of(found)
                if pack.serves(carrier):
                    packs.append(pack)
        return packs

    async def _bundle_quote(self, uow: MoneyUnitOfWork, row: OrderRecord, pack: Product) -> Quote:
        assert row.carrier
        return await self._loyalty.quote_in(
            uow,
            row.customer_id,
            _credit_price(row) + pack.price,
            ProductKind.CREDIT,
            Carrier(row.carrier),
            coupon_code=row.coupon_code,
            bundle_with=pack.code,
        )

    async def repeat(self, customer_id: int, chat_id: int, order_id: int) -> Order:
        """ "Recharge again": a new order for the same number and product, at today's price."""
        previous = await self.order_for(customer_id, order_id)
        if previous.purpose is OrderPurpose.WALLET_TOPUP:
            return await self.create_wallet_topup(customer_id, chat_id, previous.amount)
        if previous.product_id is None or previous.phone_digits is None or not previous.carrier:
            raise ProductUnavailable(order_id)
        if "*" in previous.phone_digits:  # the number was erased with the customer's data
            raise OrderNotFound(order_id)
        number = PhoneNumber(previous.phone_digits, previous.carrier)
        return await self.create_order(customer_id, chat_id, number, previous.product_id)

    async def _insert(self, uow: MoneyUnitOfWork, order: NewOrder) -> Order:
        """Keep the new order, counted against the risk rules in this same transaction: one
        over a limit is kept held (not payable) with a case for staff; a frozen account's is
        refused (`AccountFrozen`)."""
        await self._risk.refuse_frozen(uow, order.customer_id)
        verdict = await self._risk.assess(uow, order)
        if verdict is not None:
            order = replace(order, status=S.HELD.value)
        cause = f"held: {verdict.rule}" if verdict is not None else "customer"
        kept = await uow.orders.add(order, cause, self.config.limits.daily.fen)
        if verdict is not None:
            await self._risk.open_case(uow, kept.customer_id, kept.id, verdict)
        await uow.commit()
        return order_of(kept)

    # -- reading ------------------------------------------------------------------------------
    async def order_for(self, customer_id: int, order_id: int) -> Order:
        """The customer's own order; another customer's id is 'not found', never shown."""
        async with self._uow.read() as uow:
            row = await uow.orders.get(order_id)
            if row is None or row.customer_id != customer_id:
                raise OrderNotFound(order_id)
            return order_of(row)

    async def orders_of(self, customer_id: int, limit: int = 10) -> list[Order]:
        async with self._uow.read() as uow:
            return [order_of(row) for row in await uow.orders.of_customer(customer_id, limit)]

    async def history(self, order_id: int) -> list[tuple[str | None, str, str]]:
        async with self._uow.read() as uow:
            return [
                (e.from_status, e.to_status, e.cause) for e in await uow.orders.events(order_id)
            ]
