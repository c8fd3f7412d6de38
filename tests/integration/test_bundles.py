"""Bundles on SQLite and PostgreSQL: call credit and a data pack in one order at the bundle price.

The pack is added to an unpaid call-credit order (the same checks as a coupon), priced from the
catalogue and the engine; paying tops up both in one gateway request (the order number is the
idempotency key); a failed top-up refunds the whole bundle price and gives the offer's slot back.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.campaign_file import CampaignFileError, parse_campaign_file
from domain.campaigns import OfferKind
from domain.catalogue import ProductKind
from domain.customers import Customer, TelegramProfile
from domain.integrations.http_gateway import HttpTopUpGateway
from domain.integrations.sandbox import SandboxGateway, SandboxMode, SandboxPayments
from domain.money import Money
from domain.orders import (
    BundledPack,
    LimitExceeded,
    Order,
    OrderStatus,
    PaymentMethod,
    RechargeLimits,
)
from domain.persistence.tables import OfferRow
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.phone import PhoneNumber, parse_phone_number
from domain.ports import TopUpGateway, TopUpState
from domain.services.ordering import OrderOptions
from domain.services.recharge import (
    BundleUnavailable,
    NotPayable,
    OrderChanged,
    OrderNotFound,
    PaymentUnconfirmed,
    RechargeConfig,
)
from domain.services.registry import Ports, Services, build_services
from tests.fakes.carrier_gateway import FakeCarrierGateway
from tests.integration.test_http_gateway import an_order, settings
from tests.sandbox import SANDBOX_METHODS

S = OrderStatus
NUMBER = parse_phone_number("18612345678")
FAILING = parse_phone_number("18600000000")  # the sandbox carrier fails numbers ending in 0000
PACK = "data-5g-30d"  # ¥30 in the catalogue

CAMPAIGN = """
[[campaigns]]
code = "festival"
name_zh = "充值节"
name_en = "Festival"
terms_zh = "条款"
terms_en = "Terms"
starts_at = 2026-11-01T00:00:00+08:00
ends_at = 2026-11-11T00:00:00+08:00

[[campaigns.offers]]
code = "double"
kind = "points_multiplier"
multiplier = 2

[[campaigns.offers]]
code = "every-100"
kind = "threshold_red_packet"
every_yuan = 100
returns_yuan = 10

[[campaigns.offers]]
code = "save-3"
kind = "coupon"
coupon_code = "SAVE3"
discount_yuan = 3

[[campaigns]]
code = "bundle"
name_zh = "话费+流量组合包"
name_en = "Credit and data bundle"
terms_zh = "条款"
terms_en = "Terms"
starts_at = 2026-11-01T00:00:00+08:00
ends_at = 2026-11-11T00:00:00+08:00

[[campaigns.offers]]
code = "credit-plus-5g"
kind = "bundle"
bundle_product = "data-5g-30d"
discount_yuan = 5
product_kinds = ["credit"]
quota = {quota}
per_customer = 2
"""


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 5, 4, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Shop:
    def __init__(self, engine: AsyncEngine, gateway: TopUpGateway | None = None) -> None:
        self.engine = engine
        self.clock = FakeClock()
        self.gateway = SandboxGateway(timedelta(0), self.clock)
        self.payments = SandboxPayments()
        self.services: Services = build_services(
            UnitOfWorkFactory.of(engine),
            self.clock,
            recharge=RechargeConfig(
                limits=RechargeLimits(Money(1), Money.yuan(1000), Money.yuan(100_000)),
                methods=(PaymentMethod.WALLET, PaymentMethod.SANDBOX),
            ),
            ports=Ports(gateway or self.gateway, {PaymentMethod.SANDBOX: self.payments}),
        )

    async def load(self, quota: int = 100) -> None:
        await self.services.campaigns.load(parse_campaign_file(CAMPAIGN.format(quota=quota)))

    async def customer(self, telegram_id: int = 1) -> Customer:
        turn = await self.services.customers.begin_turn(TelegramProfile(telegram_id), telegram_id)
        return turn.customer

    async def order(
        self,
        customer: Customer,
        yuan: int = 100,
        number: PhoneNumber = NUMBER,
        kind: ProductKind = ProductKind.CREDIT,
    ) -> Order:
        products = await self.services.ordering.products(kind)
        product = next(p for p in products if p.price == Money.yuan(yuan))
        return await self.services.ordering.create_order(customer.id, 1, number, product.id)

    async def pack_id(self) -> int:
        packs = await self.services.ordering.products(ProductKind.DATA)
        return next(p.id for p in packs if p.code == PACK)

    async def bundled(self, customer: Customer, yuan: int = 100, **kwargs: object) -> Order:
        order = await self.order(customer, yuan, **kwargs)  # type: ignore[arg-type]
        return await self.services.ordering.add_bundle(customer.id, order.id, await self.pack_id())

    async def offer_used(self, code: str) -> int:
        async with self.engine.connect() as connection:
            used = await connection.scalar(select(OfferRow.used).where(OfferRow.code == code))
        return int(used or 0)

    async def fund_wallet(self, customer: Customer, yuan: int) -> None:
        topup = await self.services.ordering.create_wallet_topup(customer.id, 1, Money.yuan(yuan))
        await self.services.paying.pay_with_provider(customer.id, topup.id, PaymentMethod.SANDBOX)


@pytest.fixture
async def shop(engine: AsyncEngine) -> Shop:
    built = Shop(engine)
    await built.load()
    return built


async def test_the_bundle_is_offered_priced_by_the_engine_paid_and_topped_up_together(
    shop: Shop,
) -> None:
    customer = await shop.customer()
    order = await shop.order(customer, 100)
    choice = await shop.services.ordering.bundle_for(customer.id, order.id)
    assert choice is not None
    assert (choice.pack.code, choice.extra, choice.saving) == (PACK, Money.yuan(25), Money.yuan(5))

    bundled = await shop.services.ordering.add_bundle(customer.id, order.id, choice.pack.id)
    # The same order, changed in place: one number, still to be paid.
    assert (bundled.id, bundled.number, bundled.status) == (order.id, order.number, S.CREATED)
    assert [o.id for o in await shop.services.ordering.orders_of(customer.id)] == [order.id]
    assert bundled.amount == Money.yuan(125)  # ¥100 credit + ¥30 pack − ¥5
    assert bundled.bundle == BundledPack(
        choice.pack.id, PACK, "5GB流量包（30天）", "5 GB data (30 days)", Money.yuan(30)
    )
    quote = bundled.quote
    assert quote is not None and quote.amount == Money.yuan(130)
    assert {b.offer for b in quote.benefits} == {"double", "every-100", "credit-plus-5g"}
    assert (quote.points, quote.cashback) == (260, Money.yuan(10))
    assert (
        await shop.services.ordering.bundle_for(customer.id, bundled.id) is None
    )  # one pack per order

    done = await shop.services.paying.pay_with_provider(
        customer.id, bundled.id, PaymentMethod.SANDBOX
    )
    assert done.status is S.COMPLETED and done.bundle == bundled.bundle
    assert shop.gateway.packs == {bundled.id: PACK}
    assert shop.gateway.submit_calls == 1
    assert shop.payments.charges[bundled.id].outcome.value == "approved"
    assert await shop.services.loyalty.balance(customer.id) == (260, 260)
    assert await shop.services.wallet.balance(customer.id) == Money.yuan(10)
    assert await shop.offer_used("credit-plus-5g") == 1
    # Asked again (a double tap, the sweep): nothing is topped up or granted twice.
    assert (await shop.services.fulfilment.refresh(bundled.id)).status is S.COMPLETED
    assert await shop.services.paying.recover() == []
    assert shop.gateway.submit_calls == 1
    assert await shop.services.loyalty.balance(customer.id) == (260, 260)


async def test_a_failed_top_up_refunds_the_whole_bundle_price_and_gives_the_slot_back(
    shop: Shop,
) -> None:
    customer = await shop.customer()
    await shop.fund_wallet(customer, 200)
    bundled = await shop.bundled(customer, 50, number=FAILING)
    assert bundled.amount == Money.yuan(75)
    done = await shop.services.paying.pay_with_wallet(customer.id, bundled.id)
    assert done.status is S.REFUNDED and done.failure_reason == "number_not_rechargeable"
    assert shop.gateway.packs == {bundled.id: PACK}
    assert await shop.services.wallet.balance(customer.id) == Money.yuan(200)
    assert await shop.services.loyalty.balance(customer.id) == (0, 0)
    assert await shop.offer_used("credit-plus-5g") == 0

    provider_paid = await shop.bundled(customer, 30, number=FAILING)
    refunded = await shop.services.paying.pay_with_provider(
        customer.id, provider_paid.id, PaymentMethod.SANDBOX
    )
    assert refunded.status is S.REFUNDED
    assert provider_paid.id in shop.payments.refunds
    assert await shop.offer_used("credit-plus-5g") == 0


async def test_only_the_customers_own_unpaid_credit_order_takes_a_bundle(shop: Shop) -> None:
    owner, other = await shop.customer(1), await shop.customer(2)
    order = await shop.order(owner, 50)
    pack = await shop.pack_id()
    with pytest.raises(OrderNotFound):  # another customer's order: not found, nothing changes
        await shop.services.ordering.add_bundle(other.id, order.id, pack)
    assert await shop.services.ordering.bundle_for(other.id, order.id) is None
    assert (await shop.services.ordering.get(order.id)).status is S.CREATED

    data_packs = await shop.services.ordering.products(ProductKind.DATA)
    unnamed = next(p.id for p in data_packs if p.code == "data-1g-7d")
    with pytest.raises(BundleUnavailable):  # no live offer pairs this pack with credit
        await shop.services.ordering.add_bundle(owner.id, order.id, unnamed)
    credit = await shop.services.ordering.products(ProductKind.CREDIT)
    with pytest.raises(BundleUnavailable):  # call credit is not a pack
        await shop.services.ordering.add_bundle(owner.id, order.id, credit[0].id)
    with pytest.raises(BundleUnavailable):
        await shop.services.ordering.add_bundle(owner.id, order.id, 999_999)
    assert (await shop.services.ordering.get(order.id)).amount == Money.yuan(50)

    data_order = await shop.order(owner, 30, kind=ProductKind.DATA)
    assert await shop.services.ordering.bundle_for(owner.id, data_order.id) is None
    with pytest.raises(BundleUnavailable):
        await shop.services.ordering.add_bundle(owner.id, data_order.id, pack)

    bundled = await shop.services.ordering.add_bundle(owner.id, order.id, pack)
    assert bundled.id == order.id and bundled.amount == Money.yuan(75)
    with pytest.raises(BundleUnavailable):  # one pack per order
        await shop.services.ordering.add_bundle(owner.id, order.id, pack)
    assert (await shop.services.ordering.get(order.id)).amount == Money.yuan(75)

    paid = await shop.order(owner, 50)
    await shop.services.paying.pay_with_provider(owner.id, paid.id, PaymentMethod.SANDBOX)
    with pytest.raises(NotPayable):
        await shop.services.ordering.add_bundle(owner.id, paid.id, pack)
    assert await shop.services.ordering.bundle_for(owner.id, paid.id) is None

    late = await shop.order(owner, 50)
    shop.clock.now += timedelta(minutes=16)  # past the payment window
    with pytest.raises(NotPayable):
        await shop.services.ordering.add_bundle(owner.id, late.id, pack)


async def test_removing_the_pack_goes_back_to_the_credit_and_a_coupon_keeps_the_pack(
    shop: Shop,
) -> None:
    customer = await shop.customer()
    bundled = await shop.bundled(customer, 100)
    with_coupon = await shop.services.ordering.apply_coupon(customer.id, bundled.id, "save3")
    assert with_coupon.bundle == bundled.bundle
    assert with_coupon.amount == Money.yuan(122)  # 130 − 5 bundle − 3 coupon
    assert with_coupon.quote is not None
    kinds = {b.kind for b in with_coupon.quote.benefits}
    assert {OfferKind.BUNDLE, OfferKind.COUPON} <= kinds

    credit_only = await shop.services.ordering.remove_bundle(customer.id, with_coupon.id)
    assert credit_only.bundle is None and credit_only.amount == Money.yuan(97)
    assert credit_only.quote is not None and credit_only.quote.amount == Money.yuan(100)
    assert credit_only.id == with_coupon.id == bundled.id  # one order, changed in place
    with pytest.raises(BundleUnavailable):  # nothing left to remove
        await shop.services.ordering.remove_bundle(customer.id, credit_only.id)
    done = await shop.services.paying.pay_with_provider(
        customer.id, credit_only.id, PaymentMethod.SANDBOX
    )
    assert done.status is S.COMPLETED and shop.gateway.packs == {}


async def test_no_bundle_is_offered_once_its_slots_or_the_customers_uses_are_gone(
    engine: AsyncEngine,
) -> None:
    shop = Shop(engine)
    await shop.load(quota=1)
    first, second = await shop.customer(1), await shop.customer(2)
    taken = await shop.bundled(first, 50)
    waiting = await shop.order(second, 50)
    assert await shop.services.ordering.bundle_for(second.id, waiting.id) is not None
    await shop.services.paying.pay_with_provider(first.id, taken.id, PaymentMethod.SANDBOX)
    assert await shop.services.ordering.bundle_for(second.id, waiting.id) is None
    with pytest.raises(BundleUnavailable):
        await shop.services.ordering.add_bundle(second.id, waiting.id, await shop.pack_id())


async def test_the_http_gateway_sends_the_pack_and_tops_up_once(engine: AsyncEngine) -> None:
    async with FakeCarrierGateway(api_key="test-api-key") as carrier:
        client = HttpTopUpGateway(settings(carrier.base_url))
        try:
            pack = BundledPack(7, PACK, "5GB流量包（30天）", "5 GB data (30 days)", Money.yuan(30))
            order = replace(an_order(), bundle=pack)
            assert (await client.submit(order)).state is TopUpState.COMPLETED
            assert (await client.submit(order)).state is TopUpState.COMPLETED
            assert carrier.topups[order.number].body["bundle_product"] == PACK
            assert carrier.topped_up == {order.number: 1}
            plain = an_order(2)
            await client.submit(plain)
            assert "bundle_product" not in carrier.topups[plain.number].body

            shop = Shop(engine, client)
            await shop.load()
            customer = await shop.customer()
            bundled = await shop.bundled(customer, 50)
            done = await shop.services.paying.pay_with_provider(
                customer.id, bundled.id, PaymentMethod.SANDBOX
            )
            assert done.status is S.COMPLETED
            body = carrier.topups[bundled.number].body
            assert (body["bundle_product"], body["amount_fen"]) == (PACK, 7500)
            assert carrier.topped_up[bundled.number] == 1
        finally:
            await client.close()


async def test_a_campaign_whose_bundle_names_no_data_pack_is_refused_whole(
    engine: AsyncEngine,
) -> None:
    shop = Shop(engine)
    for wrong in ("data-6g-30d", "credit-100"):
        text = CAMPAIGN.format(quota=10).replace(f'"{PACK}"', f'"{wrong}"')
        with pytest.raises(CampaignFileError, match=f"bundle_product {wrong} is not a data pack"):
            await shop.services.campaigns.load(parse_campaign_file(text))
    assert await shop.services.loyalty.live_offers() == []


async def test_two_taps_at_once_add_the_pack_once(shop: Shop) -> None:
    customer = await shop.customer()
    order = await shop.order(customer, 50)
    pack = await shop.pack_id()
    results = await asyncio.gather(
        shop.services.ordering.add_bundle(customer.id, order.id, pack),
        shop.services.ordering.add_bundle(customer.id, order.id, pack),
        return_exceptions=True,
    )
    made = [r for r in results if isinstance(r, Order)]
    refused = next(r for r in results if r not in made)
    # The second tap finds the pack there, or the order changed under it: it adds nothing.
    assert len(made) == 1 and isinstance(refused, BundleUnavailable | OrderChanged)
    orders = await shop.services.ordering.orders_of(customer.id)
    assert [(o.id, o.status, o.amount.fen) for o in orders] == [(order.id, S.CREATED, 7500)]


async def test_a_bundle_over_the_daily_limit_is_refused_and_the_order_stays(
    engine: AsyncEngine,
) -> None:
    shop = Shop(engine)
    shop.services = build_services(
        UnitOfWorkFactory.of(engine),
        shop.clock,
        recharge=RechargeConfig(
            limits=RechargeLimits(Money(1), Money.yuan(1000), Money.yuan(60)),
            methods=SANDBOX_METHODS,
        ),
        ports=Ports(shop.gateway, {PaymentMethod.SANDBOX: shop.payments}),
    )
    await shop.load()
    customer = await shop.customer()
    order = await shop.order(customer, 50)
    with pytest.raises(LimitExceeded):
        await shop.services.ordering.add_bundle(customer.id, order.id, await shop.pack_id())
    still = await shop.services.ordering.get(order.id)
    assert (still.status, still.amount, still.bundle) == (S.CREATED, Money.yuan(50), None)


async def test_the_confirmation_reads_the_order_and_the_live_campaigns_once_for_its_options(
    shop: Shop,
) -> None:
    owner, other = await shop.customer(1), await shop.customer(2)
    order = await shop.order(owner, 100)
    sent: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        sent.append(statement)

    event.listen(shop.engine.sync_engine, "before_cursor_execute", seen)
    try:
        options = await shop.services.ordering.options(owner.id, order.id)
    finally:
        event.remove(shop.engine.sync_engine, "before_cursor_execute", seen)
    # A coupon code may be typed (SAVE3 is live), no coupon of their own, the pack that saves.
    assert options.coupon_code and options.own_coupon is None
    assert options.bundle == await shop.services.ordering.bundle_for(owner.id, order.id)
    assert options.bundle is not None and options.bundle.pack.code == PACK
    assert sum(s.startswith("SELECT orders.") for s in sent) == 1
    assert sum(s.startswith("SELECT campaigns.") for s in sent) == 1

    # Another customer's order shows them nothing; a coupon code applied takes the code's button
    # away; an order whose payment started takes nothing more.
    assert await shop.services.ordering.options(other.id, order.id) == OrderOptions()
    priced = await shop.services.ordering.apply_coupon(owner.id, order.id, "save3")
    assert not (await shop.services.ordering.options(owner.id, priced.id)).coupon_code
    bundled = await shop.services.ordering.add_bundle(owner.id, order.id, await shop.pack_id())
    assert (await shop.services.ordering.options(owner.id, bundled.id)).bundle is None
    other_order = await shop.order(other, 50)
    shop.payments.mode = SandboxMode.TIMEOUT  # the charge's outcome is unknown: it awaits
    with pytest.raises(PaymentUnconfirmed):
        await shop.services.paying.pay_with_provider(
            other.id, other_order.id, PaymentMethod.SANDBOX
        )
    assert await shop.services.ordering.options(other.id, other_order.id) == OrderOptions()
