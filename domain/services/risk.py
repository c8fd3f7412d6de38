"""Risk: the rules of `domain/risk.py` applied inside an order's own unit of work, the cases
staff decide (release, refuse and refund, keep frozen), and who is told.

`assess` runs in the unit of work that keeps a new order: its counts are allowances taken by
conditional writes, so of two orders at once only those within a limit pass; the others are
kept held. A frozen account places no order and redeems nothing (`refuse_frozen`; the loyalty
service checks the same cases); it still reads its data, writes feedback and erases its data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from domain.allowances import UNLIMITED, Take
from domain.audit import ActorKind, AuditAction, AuditEntry
from domain.clock import Clock, utc_now
from domain.orders import OrderStatus
from domain.repositories import NewOrder
from domain.repositories.money import MoneyUnitOfWork, MoneyUnitOfWorkFactory, NewRiskCase
from domain.risk import (
    DECIDABLE_FROM,
    DECISION_STATUS,
    CampaignRiskLimits,
    CaseStatus,
    Decision,
    RiskAction,
    RiskCase,
    RiskRule,
    RiskRules,
    Verdict,
    account_seen_scope,
    accounts_day_scope,
    amount_hour_scope,
    coupon_window_end,
    coupon_window_scope,
    declines_scope,
    large_amount,
    new_account_large,
    number_key,
    number_seen_scope,
    numbers_day_scope,
    orders_day_scope,
    orders_hour_scope,
    with_campaign_limits,
)
from domain.services.loyalty import LoyaltyService
from domain.services.recharge import OrderSteps, RechargeConfig, RechargeError

log = logging.getLogger(__name__)

S = OrderStatus


DECISION_AUDIT = {
    Decision.RELEASE: AuditAction.RISK_RELEASED,
    Decision.REFUND: AuditAction.RISK_REFUNDED,
    Decision.KEEP_FROZEN: AuditAction.RISK_KEPT_FROZEN,
}


class AccountFrozen(RechargeError):
    """A risk rule froze the account: no new order until staff release it."""

    reason = "account_frozen"


@dataclass(frozen=True)
class CouponGuesses:
    """Too many wrong coupon codes: entry is closed until `opens_at`; `frozen` when the rule
    froze the account as well."""

    opens_at: datetime
    frozen: bool


@dataclass(frozen=True)
class DecisionResult:
    """The case after a decision; `done` only for the one press that took it."""

    case: RiskCase
    done: bool
    # Two-person rule: the release waits for a second staff member (this press approved it
    # first, or the same member pressed again).
    awaiting_second: bool = False


class RiskService(OrderSteps):
    def __init__(
        self,
        uow: MoneyUnitOfWorkFactory,
        config: RechargeConfig,
        loyalty: LoyaltyService,
        rules: RiskRules,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(uow, config, loyalty, clock)
        self.rules = rules

    # -- inside an order's unit of work --------------------------------------------------------
    async def refuse_frozen(self, uow: MoneyUnitOfWork, customer_id: int) -> None:
        if await uow.risk.frozen(customer_id):
            raise AccountFrozen(str(customer_id))

    async def assess(self, uow: MoneyUnitOfWork, row: NewOrder) -> Verdict | None:
        """Count the new order `row` against every rule (each count a conditional write; those
        that do not depend on one another in one statement); the rule that holds it (a
        freezing one first), or None when it passes. An order on the offers of a campaign whose
        file sets risk limits is counted against those."""
        if not self.rules.enabled:
            return None
        rules = with_campaign_limits(self.rules, await self._campaign_limits(uow, row))
        customer_id, at = row.customer_id, row.created_at
        fired: list[Verdict] = []

        def fire(rule: RiskRule, limit: int) -> None:
            fired.append(Verdict(rule, rules.action(rule), str(limit)))

        # The counts that do not depend on one another are taken in one statement.
        counted: list[tuple[RiskRule, Take]] = []
        if rules.orders_per_hour > 0:
            counted.append(
                (RiskRule.ORDERS_PER_HOUR, Take(orders_hour_scope(at), 1, rules.orders_per_hour))
            )
        if rules.orders_per_day > 0:
            counted.append(
                (RiskRule.ORDERS_PER_DAY, Take(orders_day_scope(at), 1, rules.orders_per_day))
            )
        if rules.amount_per_hour_fen > 0:
            amount = Take(amount_hour_scope(at), row.amount_fen, rules.amount_per_hour_fen)
            counted.append((RiskRule.AMOUNT_PER_HOUR, amount))
        # The first order to a number today, and this account's first to it: taken once.
        digits = row.phone_digits or ""
        number_seen = account_seen = None
        if rules.numbers_per_day > 0 and digits:
            number_seen = Take(number_seen_scope(at, digits), 1, 1)
        if rules.accounts_per_number > 0 and digits:
            account_seen = Take(account_seen_scope(at, digits), 1, 1)
        firsts = [take for take in (number_seen, account_seen) if take is not None]
        taken = await uow.allowances.take_each(customer_id, [take for _, take in counted] + firsts)
        for rule, take in counted:
            if take.scope not in taken:
                fire(rule, take.limit)
        if number_seen is not None and number_seen.scope in taken:
            if not await uow.allowances.take(
                customer_id, numbers_day_scope(at), 1, rules.numbers_per_day
            ):
                # Not counted: every order to this number today is held, not just the first.
                await uow.allowances.give_back(customer_id, number_seen.scope, 1)
                fire(RiskRule.NUMBERS_PER_DAY, rules.numbers_per_day)
        if account_seen is not None and account_seen.scope in taken:
            # The account's first order to the number today counts it among the number's.
            if not await uow.number_allowances.take(
                number_key(digits), accounts_day_scope(at), 1, rules.accounts_per_number
            ):
                # Not counted: every order of this account to the number today is held.
                await uow.allowances.give_back(customer_id, account_seen.scope, 1)
                fire(RiskRule.ACCOUNTS_PER_NUMBER, rules.accounts_per_number)
        if large_amount(rules, row.amount_fen):
            # Only a large amount asks how old the account is.
            customer = await uow.customers.get(customer_id)
            if customer is not None and new_account_large(
                rules, customer.registered_at, at, row.amount_fen
            ):
                fire(RiskRule.NEW_ACCOUNT_LARGE, rules.new_account_large_fen)
        freezing = [v for v in fired if v.action is RiskAction.FREEZE]
        chosen = freezing or fired
        return chosen[0] if chosen else None

    async def _campaign_limits(
        self, uow: MoneyUnitOfWork, row: NewOrder
    ) -> list[CampaignRiskLimits]:
        """The risk limits of the campaigns whose offers the order's quote takes."""
        benefits = (row.quote or {}).get("benefits") or []
        codes = sorted({str(b["campaign"]) for b in benefits if b.get("campaign")})
        found = []
        for code in codes:
            campaign = await uow.campaigns.by_code(code)
            limits = (
                CampaignRiskLimits.from_json((campaign.extra or {}).get("risk"))
                if (campaign is not None)
                else None
            )
            if limits is not None:
                found.append(limits)
        return found

    async def open_case(
        self, uow: MoneyUnitOfWork, customer_id: int, order_id: int | None, verdict: Verdict
    ) -> int:
        log.warning(
            "risk rule %s (%s) fired for customer %s, order %s",
            verdict.rule,
            verdict.action,
            customer_id,
            order_id,
        )
        now = self._clock()
        case_id = await uow.risk.open_case(
            NewRiskCase(
                customer_id=customer_id,
                order_id=order_id,
                rule=verdict.rule.value,
                action=verdict.action.value,
                evidence=verdict.evidence,
                status=CaseStatus.OPEN.value,
                created_at=now,
                alert_sent=False,
                customer_told=True,
            )
        )
        detail = f"rule={verdict.rule.value} limit={verdict.evidence} action={verdict.action.value}"
        if order_id is not None:
            detail += f" order={order_id}"
        subject = f"case:{case_id}"
        fired = AuditEntry(AuditAction.RISK_RULE_FIRED, ActorKind.SYSTEM, 0, subject, detail)
        await uow.audit.append(fired, now)
        if verdict.action is RiskAction.FREEZE:
            frozen = AuditEntry(
                AuditAction.ACCOUNT_FROZEN, ActorKind.SYSTEM, 0, f"customer:{customer_id}", subject
            )
            await uow.audit.append(frozen, now)
        return case_id

    async def coupon_try(self, uow: MoneyUnitOfWork, customer_id: int) -> datetime | None:
        """A coupon code typed: counted in the window before it is checked (one conditional
        write, so of many tries at once only the window's allowance are checked). None when
        it may be checked; else when coupon entry opens again (the window's end)."""
        rules, now = self.rules, self._clock()
        if rules.coupon_guesses <= 0:
            return None
        scope = coupon_window_scope(rules, now)
        if await uow.allowances.take(customer_id, scope, 1, rules.coupon_guesses):
            return None
        return coupon_window_end(rules, now)

    async def coupon_checked(
        self, uow: MoneyUnitOfWork, customer_id: int, matched: bool
    ) -> CouponGuesses | None:
        """The code tried by `coupon_try` matched (it is not counted) or not. The wrong code
        that uses the window's last try closes coupon entry until the window ends and fires
        the rule (a case for staff when the rules are on): returned, with when it opens."""
        rules, now = self.rules, self._clock()
        if rules.coupon_guesses <= 0:
            return None
        scope = coupon_window_scope(rules, now)
        if matched:
            await uow.allowances.give_back(customer_id, scope, 1)
            return None
        if await uow.allowances.used(customer_id, scope) < rules.coupon_guesses:
            return None
        rule = RiskRule.COUPON_GUESSES
        verdict = Verdict(rule, rules.action(rule), str(rules.coupon_guesses))
        if rules.enabled:
            await self.open_case(uow, customer_id, None, verdict)
        frozen = rules.enabled and verdict.action is RiskAction.FREEZE
        return CouponGuesses(coupon_window_end(rules, now), frozen)

    # -- use cases of their own ----------------------------------------------------------------
    async def declined(self, customer_id: int, order_id: int) -> Verdict | None:
        """A payment was declined: counted since the customer's last payment that went
        through (`declines_scope`: one conditional write, so of declines at once exactly one
        reaches the limit); the one that reaches it opens a case (a freeze by default) and the
        count starts again."""
        limit = self.rules.declines_in_a_row
        if not self.rules.enabled or limit <= 0:
            return None
        async with self._uow() as uow:
            scope = declines_scope(await uow.payments.latest_of_customer(customer_id))
            if await uow.allowances.take(customer_id, scope, 1, limit - 1):
                await uow.commit()
                return None
            await uow.allowances.give_back(customer_id, scope, UNLIMITED)
            rule = RiskRule.DECLINES_IN_A_ROW
            verdict = Verdict(rule, self.rules.action(rule), str(limit))
            await self.open_case(uow, customer_id, None, verdict)
            await uow.commit()
        return verdict

    async def is_frozen(self, customer_id: int) -> bool:
        async with self._uow.read() as uow:
            return await uow.risk.frozen(customer_id)

    async def case(self, case_id: int) -> RiskCase | None:
        async with self._uow.read() as uow:
            return await uow.risk.get(case_id)

    async def pending(self, limit: int = 20) -> list[RiskCase]:
        async with self._uow.read() as uow:
            return await uow.risk.pending(limit)

    async def decide(
        self, case_id: int, decision: Decision, staff_id: int, staff_name: str
    ) -> DecisionResult | None:
        """Take `decision` on the case once, with who and when, and move its held order with
        it in the same transaction: released, it may be paid (a fresh payment window);
        refused or kept frozen, it ends (nothing was charged). None: no such case."""
        now = self._clock()
        async with self._uow() as uow:
            case = await uow.risk.get(case_id)
            if case is None:
                return None
            if await self._needs_second(uow, case, decision, staff_id):
                if case.first_approver is None and await uow.risk.approve_first(
                    case_id, staff_id, staff_name
                ):
                    entry = AuditEntry(
                        AuditAction.FIRST_APPROVAL,
                        ActorKind.STAFF,
                        staff_id,
                        f"case:{case_id}",
                        f"release order={case.order_id}",
                        staff_name,
                    )
                    await uow.audit.append(entry, now)
                    await uow.commit()
                after = await uow.risk.get(case_id)
                assert after is not None
                return DecisionResult(after, False, awaiting_second=True)
            sources = [s.value for s in DECIDABLE_FROM[decision]]
            target = DECISION_STATUS[decision]
            if not await uow.risk.decide(case_id, sources, target.value, staff_id, staff_name, now):
                return DecisionResult(case, False)
            if case.order_id is not None:
                if decision is Decision.RELEASE:
                    await self._move(
                        uow,
                        case.order_id,
                        (S.HELD,),
                        S.CREATED,
                        "released by staff",
                        expires_at=now + self.config.payment_window,
                    )
                else:
                    await self._move(uow, case.order_id, (S.HELD,), S.EXPIRED, "refused by staff")
            detail = f"customer={case.customer_id}"
            if case.order_id is not None:
                detail += f" order={case.order_id}"
            if decision is Decision.RELEASE and case.first_approver is not None:
                detail += f" first_approver={case.first_approver}"
            entry = AuditEntry(
                DECISION_AUDIT[decision],
                ActorKind.STAFF,
                staff_id,
                f"case:{case_id}",
                detail,
                staff_name,
            )
            await uow.audit.append(entry, now)
            await uow.commit()
            after = await uow.risk.get(case_id)
        assert after is not None
        log.info("risk case %s: %s by staff %s", case_id, decision, staff_id)
        return DecisionResult(after, True)

    async def _needs_second(
        self, uow: MoneyUnitOfWork, case: RiskCase, decision: Decision, staff_id: int
    ) -> bool:
        """Two-person rule: releasing a held order of at least `two_person_fen` waits for a
        second, different staff member (the first one's press is recorded)."""
        threshold = self.rules.two_person_fen
        if decision is not Decision.RELEASE or threshold <= 0 or case.order_id is None:
            return False
        if case.status is not CaseStatus.OPEN:
            return False
        order = await uow.orders.get(case.order_id)
        if order is None or order.amount_fen < threshold:
            return False
        return case.first_approver is None or case.first_approver == staff_id

    # -- who is told ---------------------------------------------------------------------------
    async def unsent_alerts(self, limit: int = 50) -> list[RiskCase]:
        async with self._uow.read() as uow:
            return await uow.risk.unsent_alerts(limit)

    async def untold_decisions(self, limit: int = 50) -> list[RiskCase]:
        async with self._uow.read() as uow:
            return await uow.risk.untold_decisions(limit)

    async def mark_alert_sent(self, case_id: int, sent: bool = True) -> bool:
        return await self._mark(case_id, "alert_sent", sent)

    async def mark_customer_told(self, case_id: int, told: bool = True) -> bool:
        return await self._mark(case_id, "customer_told", told)

    async def _mark(self, case_id: int, flag: str, value: bool) -> bool:
        async with self._uow() as uow:
            changed = await uow.risk.mark(case_id, flag, value)
            await uow.commit()
        return changed
