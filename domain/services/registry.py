"""All use-case services, built once from one unit-of-work factory and the outside ports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from domain.clock import Clock, utc_now
from domain.money import Money
from domain.observations import UNOBSERVED, Observations
from domain.orders import PaymentMethod, RechargeLimits
from domain.pin import PinRules
from domain.ports import PaymentProvider, TopUpGateway
from domain.repositories.services import ServicesUnitOfWorkFactory
from domain.risk import RiskRules
from domain.services.audit import AuditTrail
from domain.services.broadcasts import BroadcastConfig, BroadcastService
from domain.services.campaign_catalogue import CampaignCatalogue
from domain.services.consent import ConsentService
from domain.services.customers import ConversationService, CustomerService
from domain.services.dashboard_access import DashboardAccess
from domain.services.dashboard_figures import DashboardFigures
from domain.services.fulfilment import FulfilmentService
from domain.services.loyalty import LoyaltyConfig, LoyaltyService, RewardCatalogue
from domain.services.ordering import OrderingService
from domain.services.outcomes import OutcomeService
from domain.services.paying import PaymentService
from domain.services.pending_records import PendingRecords
from domain.services.pins import PinService
from domain.services.privacy import DEFAULT_EXPORT_EVERY, PrivacyService
from domain.services.recharge import RechargeConfig
from domain.services.referrals import ReferralService
from domain.services.reminders import ReminderConfig, ReminderService
from domain.services.reward_coupons import CouponCheckout
from domain.services.risk import RiskService
from domain.services.staff import StaffDirectory
from domain.services.staff_digest import StaffDigests
from domain.services.support import SupportConfig, SupportService
from domain.services.ticket_refunds import TicketRefunds
from domain.services.wallet import WalletService

DEFAULT_LIMITS = RechargeLimits(
    minimum=Money.yuan(1), maximum=Money.yuan(500), daily=Money.yuan(2000)
)


@dataclass(frozen=True)
class Ports:
    """The outside world the services talk to: the carrier's top-up gateway and the payment
    providers by method. The wiring (bot/) chooses them; there is no default."""

    gateway: TopUpGateway
    providers: Mapping[PaymentMethod, PaymentProvider]


@dataclass(frozen=True)
class Services:
    customers: CustomerService
    conversations: ConversationService
    ordering: OrderingService
    paying: PaymentService
    fulfilment: FulfilmentService
    ticket_refunds: TicketRefunds
    outcomes: OutcomeService
    wallet: WalletService
    loyalty: LoyaltyService
    campaigns: CampaignCatalogue
    rewards: RewardCatalogue
    coupons: CouponCheckout
    staff: StaffDirectory
    referrals: ReferralService
    support: SupportService
    reminders: ReminderService
    dashboard: DashboardAccess
    figures: DashboardFigures
    digests: StaffDigests
    broadcasts: BroadcastService
    risk: RiskService
    audit: AuditTrail
    pins: PinService
    consent: ConsentService
    privacy: PrivacyService

    @property
    def pending_records(self) -> PendingRecords:
        """What this process sent and could not record yet, the database being away (receipts,
        reminders, pushes, notices, staff alerts, ticket messages, the digest): written as soon
        as it is back."""
        return self.outcomes.records


def build_services(
    uow: ServicesUnitOfWorkFactory,
    clock: Clock = utc_now,
    *,
    recharge: RechargeConfig | None = None,
    ports: Ports,
    loyalty: LoyaltyConfig | None = None,
    admin_ids: frozenset[int] = frozenset(),
    support: SupportConfig | None = None,
    reminders: ReminderConfig | None = None,
    broadcasts: BroadcastConfig | None = None,
    risk: RiskRules | None = None,
    pin: PinRules | None = None,
    consent_required: bool = False,
    export_every: timedelta = DEFAULT_EXPORT_EVERY,
    observed: Observations = UNOBSERVED,
) -> Services:
    loyalty_service = LoyaltyService(uow, loyalty or LoyaltyConfig(), clock)
    loyalty_service.observed = observed
    orders = recharge or RechargeConfig(limits=DEFAULT_LIMITS)
    fulfilment = FulfilmentService(
        uow, orders, ports.providers, ports.gateway, loyalty_service, clock
    )
    fulfilment.observed = observed
    staff = StaffDirectory(admin_ids, uow, clock)
    rules = risk or RiskRules(enabled=False)
    risk_service = RiskService(uow, orders, loyalty_service, rules, clock)
    paying = PaymentService(
        uow, orders, ports.providers, fulfilment, loyalty_service, risk_service, clock
    )
    paying.observed = observed
    figures = DashboardFigures(uow)
    return Services(
        customers=CustomerService(uow, clock),
        conversations=ConversationService(uow, clock),
        ordering=OrderingService(uow, orders, loyalty_service, risk_service, clock),
        paying=paying,
        fulfilment=fulfilment,
        ticket_refunds=TicketRefunds(
            uow, fulfilment, risk.two_person_fen if risk else 0, clock=clock
        ),
        outcomes=OutcomeService(uow, orders, loyalty_service, clock),
        wallet=WalletService(uow),
        loyalty=loyalty_service,
        campaigns=CampaignCatalogue(uow, clock),
        rewards=RewardCatalogue(uow, clock),
        coupons=CouponCheckout(uow, loyalty_service, clock),
        referrals=ReferralService(uow, clock, two_person_fen=risk.two_person_fen if risk else 0),
        staff=staff,
        support=SupportService(uow, support, clock),
        reminders=ReminderService(uow, reminders, clock),
        dashboard=DashboardAccess(uow, staff, clock),
        figures=figures,
        digests=StaffDigests(uow, figures, clock),
        broadcasts=BroadcastService(uow, broadcasts, clock),
        risk=risk_service,
        audit=AuditTrail(uow, clock),
        pins=PinService(uow, pin or PinRules(), clock),
        consent=ConsentService(uow, consent_required, clock),
        privacy=PrivacyService(uow, clock, export_every),
    )
