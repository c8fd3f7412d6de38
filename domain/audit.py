"""The audit trail: every staff action and security event, appended in the same transaction as
the change it records, never changed or removed (the database refuses it), readable by
supervisors and exportable as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.orders import CHINA


class AuditAction(StrEnum):
    RISK_RULE_FIRED = "risk_rule_fired"
    ACCOUNT_FROZEN = "account_frozen"
    RISK_RELEASED = "risk_released"
    RISK_REFUNDED = "risk_refunded"
    RISK_KEPT_FROZEN = "risk_kept_frozen"
    ROLE_GRANTED = "role_granted"
    ROLE_REVOKED = "role_revoked"
    REFERRAL_APPROVED = "referral_approved"
    REFERRAL_REJECTED = "referral_rejected"
    DASHBOARD_SIGN_IN = "dashboard_sign_in"
    PIN_SET = "pin_set"
    PIN_LOCKED = "pin_locked"
    PIN_RESET = "pin_reset"
    AUDIT_EXPORTED = "audit_exported"
    FIRST_APPROVAL = "first_approval"
    BROADCAST_SENT = "broadcast_sent"
    BROADCAST_PAUSED = "broadcast_paused"
    BROADCAST_RESUMED = "broadcast_resumed"
    BROADCAST_CANCELLED = "broadcast_cancelled"
    BROADCAST_DELETED = "broadcast_deleted"
    BROADCAST_URGENT = "broadcast_urgent"
    DATA_EXPORTED = "data_exported"
    DATA_RETENTION_ERASED = "data_retention_erased"
    TICKET_TAKEN = "ticket_taken"
    TICKET_REPLIED = "ticket_replied"
    TICKET_RESOLVED = "ticket_resolved"
    TICKET_REOPENED = "ticket_reopened"
    TICKET_ESCALATED = "ticket_escalated"
    TICKET_REFUNDED = "ticket_refunded"


class ActorKind(StrEnum):
    STAFF = "staff"  # actor_id: the staff member's Telegram id
    CUSTOMER = "customer"  # actor_id: the customer's id
    SYSTEM = "system"  # a rule or a sweep; actor_id 0


@dataclass(frozen=True)
class AuditEntry:
    """What happened, who did it, to what (`subject`, e.g. "case:3", "customer:5"), and a short
    detail: never a full phone number, a PIN or a token."""

    action: AuditAction
    actor_kind: ActorKind
    actor_id: int
    subject: str
    detail: str = ""
    actor_name: str = ""


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    entry: AuditEntry


CSV_HEADER = (
    "id",
    "at_utc",
    "at_china",
    "action",
    "actor_kind",
    "actor_id",
    "actor_name",
    "subject",
    "detail",
)


def audit_csv(records: Iterable[AuditRecord]) -> bytes:
    """The records as CSV (UTF-8 with a byte-order mark, so spreadsheet programs read Chinese)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for record in records:
        entry = record.entry
        writer.writerow(
            (
                record.id,
                record.at.isoformat(),
                f"{record.at.astimezone(CHINA):%Y-%m-%d %H:%M:%S}",
                entry.action.value,
                entry.actor_kind.value,
                entry.actor_id,
                _safe(entry.actor_name),
                _safe(entry.subject),
                _safe(entry.detail),
            )
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _safe(text: str) -> str:
    """A cell a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
