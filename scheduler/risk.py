"""The risk sweep: staff alerted of each case in the staff chat, and customers told of each
decision. Each message is claimed before it is sent and released when it could not be
delivered (the release kept and written when the database is back, if it went away meanwhile),
so it is sent once, however many sweeps run, and never lost to an outage."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from domain.orders import Order
from domain.risk import RiskCase
from domain.services.recharge import RechargeError
from domain.services.registry import Services
from handlers.contract import Notifier
from handlers.features.risk_review import decision_notice, staff_alert
from scheduler.notify import send_claimed, tell_chat, tell_customer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RiskSweep:
    staff_alerts: int = 0
    customers_told: int = 0


async def sweep_risk(
    services: Services, notifier: Notifier, staff_chat_id: int | None
) -> RiskSweep:
    risk = services.risk
    records = services.pending_records
    await records.flush()  # what was kept while the database was away, first
    alerts = 0
    if staff_chat_id is not None:
        for case in await risk.unsent_alerts():
            if not await risk.mark_alert_sent(case.id):
                continue  # another sweep is sending it
            alerts += bool(
                await send_claimed(
                    records,
                    ("the staff alert of risk case", case.id),
                    partial(_alert_staff, services, notifier, staff_chat_id, case),
                    partial(risk.mark_alert_sent, case.id, False),
                )
            )
    told = 0
    for case in await risk.untold_decisions():
        if not await risk.mark_customer_told(case.id):
            continue
        told += bool(
            await send_claimed(
                records,
                ("the decision notice of risk case", case.id),
                partial(_tell_decision, services, notifier, case),
                partial(risk.mark_customer_told, case.id, False),
            )
        )
    if alerts or told:
        log.info("risk: %d staff alerts, %d customers told", alerts, told)
    return RiskSweep(alerts, told)


async def _alert_staff(
    services: Services, notifier: Notifier, staff_chat_id: int, case: RiskCase
) -> bool:
    return await tell_chat(notifier, staff_chat_id, await staff_alert(services, case))


async def _tell_decision(services: Services, notifier: Notifier, case: RiskCase) -> bool | None:
    minutes = int(services.ordering.config.payment_window.total_seconds() // 60)
    order: Order | None = None
    if case.order_id is not None:
        try:
            order = await services.paying.get(case.order_id)
        except RechargeError:
            order = None
    return await tell_customer(
        services,
        notifier,
        case.customer_id,
        partial(decision_notice, case=case, order=order, minutes=minutes),
    )
