"""Assembly of the whole conversation from its features."""

from __future__ import annotations

from domain.services.registry import Services
from handlers.features import (
    audit,
    broadcast_desk,
    broadcasts,
    consent,
    dashboard,
    language,
    offers,
    orders,
    phones,
    pin,
    points,
    privacy,
    recharge,
    referral_review,
    referrals,
    reminders,
    risk_review,
    staff_desk,
    start,
    support,
    time_zone,
    wallet,
)
from handlers.router import ConversationRouter

FEATURES = (
    start,
    recharge,
    offers,
    points,
    orders,
    wallet,
    phones,
    language,
    privacy,
    referrals,
    staff_desk,
    support,
    reminders,
    referral_review,
    dashboard,
    broadcasts,
    risk_review,
    broadcast_desk,
    audit,
    pin,
    consent,
    time_zone,
)


def build_conversation(services: Services) -> ConversationRouter:
    router = ConversationRouter(services)
    for feature in FEATURES:
        feature.register(router)
    return router
