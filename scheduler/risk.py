"""The risk sweep: staff alerted of each case in the staff chat, and customers told of each
decision. Each message is claimed before it is sent and released when it could not be
delivered, so it is sent once, however many sweeps run."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from domain.orders import Order
from domain.services.recharge import RechargeError
from domain.services.registry import Services
from handlers.contract import Notifier
from handlers.features.risk_review import decision_notice, staff_alert
from scheduler.notify import tell_customer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RiskSweep:
    staff_alerts: int = 0
    customers_told: int = 0


async def sweep_risk(
    services: Services, notifier: Notifier, staff_chat_id: int | None
) -> RiskSweep:
    risk = services.risk
    alerts = 0
    if staff_chat_id is not None:
        for case in await risk.unsent_alerts():
            if not await risk.mark_alert_sent(case.id):
                continue  # another sweep is sending it
            if await notifier.send(staff_chat_id, await staff_alert(services, case)):
                alerts += 1
            else:
                await risk.mark_alert_sent(case.id, False)
    told = 0
    minutes = int(services.ordering.config.payment_window.total_seconds() // 60)
    for case in await risk.untold_decisions():
        if not await risk.mark_customer_told(case.id):
            continue
        order: Order | None = None
        if case.order_id is not None:
            try:
                order = await services.paying.get(case.order_id)
            except RechargeError:
                order = None
        sent = await tell_customer(
            services,
            notifier,
            case.customer_id,
            partial(decision_notice, case=case, order=order, minutes=minutes),
        )
        if sent:
            told += 1
        elif sent is False:
            await risk.mark_customer_told(case.id, False)
    if alerts or told:
        log.info("risk: %d staff alerts, %d customers told", alerts, told)
    return RiskSweep(alerts, told)
