"""A customer's own data as they may take it away (PIPL's right to a copy): every record kept
about them, as one JSON document. Phone numbers appear both masked (as the chat shows them) and
in full; money in yuan with its currency; times in UTC (ISO 8601) and in China time."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.money import Money
from domain.orders import CHINA
from domain.phone import mask

Row = Mapping[str, Any]


@dataclass(frozen=True)
class PersonalData:
    """The rows kept about one customer, each already theirs alone."""

    customer: Row
    phones: Sequence[Row]
    orders: Sequence[Row]
    wallet: Row
    wallet_entries: Sequence[Row]
    points: int
    points_entries: Sequence[Row]
    redemptions: Sequence[Row]
    coupons: Sequence[Row]
    tickets: Sequence[Row]
    ticket_messages: Sequence[Row]
    suggestions: Sequence[Row]
    ratings: Sequence[Row]
    invite_code: str | None
    invited: Sequence[Row]
    invited_by: Row | None
    referral_rewards: Sequence[Row]
    consent: Row | None
    pushes_off_since: datetime | None
    reminder_subscriptions: int
    pin_set_at: datetime | None


# Ticket messages written by the customer, and those written to them by support.
CUSTOMER_WORDS = frozenset({"card", "customer"})


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _china(value: datetime | None) -> str | None:
    return value.astimezone(CHINA).isoformat() if value is not None else None


def _money(fen: int | None, currency: str = "CNY") -> str | None:
    return Money(fen, currency).format() if fen is not None else None


def _number(digits: str | None) -> dict[str, str] | None:
    if not digits:
        return None
    return {"masked": mask(digits), "full": digits}


def _clean(row: Row) -> dict[str, Any]:
    """A row as JSON: times in UTC and China time, everything else as it is."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, datetime):
            out[key] = _time(value)
            out[f"{key}_china"] = _china(value)
        else:
            out[key] = value
    return out


def personal_data_document(data: PersonalData, exported_at: datetime) -> dict[str, Any]:
    """The export as a JSON-ready dictionary (sections in the order a reader looks for them)."""
    wallet_currency = str(data.wallet.get("currency") or "CNY")
    messages: dict[int, list[dict[str, Any]]] = {}
    for message in data.ticket_messages:
        messages.setdefault(message["ticket_id"], []).append(
            {
                "from": "you" if message["kind"] in CUSTOMER_WORDS else "support",
                "text": message["text"],
                "at": _time(message["created_at"]),
                "at_china": _china(message["created_at"]),
            }
        )
    return {
        "exported_at": _time(exported_at),
        "exported_at_china": _china(exported_at),
        "profile": _clean(data.customer),
        "phone_numbers": [
            {
                "number": _number(phone["digits"]),
                **_clean({k: v for k, v in phone.items() if k != "digits"}),
            }
            for phone in data.phones
        ],
        "orders": [
            {
                **_clean(
                    {
                        k: v
                        for k, v in order.items()
                        if k not in ("phone_digits", "amount_fen", "currency")
                    }
                ),
                "amount": _money(order["amount_fen"], order["currency"]),
                "number": _number(order["phone_digits"]),
            }
            for order in data.orders
        ],
        "wallet": {
            "balance": _money(int(data.wallet.get("balance_fen") or 0), wallet_currency),
            "entries": [
                {
                    **_clean({k: v for k, v in e.items() if k not in ("amount_fen", "currency")}),
                    "amount": _money(e["amount_fen"], e["currency"]),
                }
                for e in data.wallet_entries
            ],
        },
        "points": {
            "balance": data.points,
            "entries": [_clean(e) for e in data.points_entries],
            "redemptions": [_clean(r) for r in data.redemptions],
            "coupons": [
                {
                    **_clean({k: v for k, v in c.items() if k not in ("value_fen", "currency")}),
                    "value": _money(c["value_fen"], c["currency"]),
                }
                for c in data.coupons
            ],
        },
        "support": {
            "tickets": [
                {**_clean(ticket), "messages": messages.get(ticket["id"], [])}
                for ticket in data.tickets
            ],
            "suggestions": [_clean(s) for s in data.suggestions],
            "order_ratings": [_clean(r) for r in data.ratings],
        },
        "referrals": {
            "invite_code": data.invite_code,
            "invited_by_a_friend": _clean(data.invited_by) if data.invited_by else None,
            "friends_invited": [_clean(r) for r in data.invited],
            "rewards": [
                {
                    **_clean({k: v for k, v in r.items() if k != "amount_fen"}),
                    "amount": _money(r["amount_fen"]),
                }
                for r in data.referral_rewards
            ],
        },
        "consents": {
            "privacy_notice": _clean(data.consent) if data.consent else None,
            "pushes_off_since": _time(data.pushes_off_since),
            "reminder_subscriptions": data.reminder_subscriptions,
        },
        "payment_pin": {"set": data.pin_set_at is not None, "set_at": _time(data.pin_set_at)},
    }


def personal_data_json(data: PersonalData, exported_at: datetime) -> bytes:
    """The export as UTF-8 JSON, indented so it reads in any text editor."""
    document = personal_data_document(data, exported_at)
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
