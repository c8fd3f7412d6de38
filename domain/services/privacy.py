"""A customer's personal data: their copy of it (`/export_my_data`), rate-limited, each export
recorded in the audit trail in the same transaction; and the retention sweep, which erases the
personal data of customers inactive too long exactly as `/delete_my_data` does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.audit import ActorKind, AuditAction, AuditEntry
from domain.clock import Clock, utc_now
from domain.privacy import CUSTOMER_WORDS, personal_data_json
from domain.repositories import UnitOfWorkFactory
from domain.services.customers import erase_customer
from domain.services.support import MessageKind

# The ticket messages that are words: the customer's and support's answers to them.
TICKET_WORDS = (*sorted(CUSTOMER_WORDS), MessageKind.STAFF.value)
DEFAULT_EXPORT_EVERY = timedelta(minutes=5)
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
# Customers erased by the retention sweep per transaction.
RETENTION_BATCH = 100


@dataclass(frozen=True)
class DataExport:
    content: bytes
    at: datetime


@dataclass(frozen=True)
class ExportTooSoon:
    """One export per period: the next one is possible after `wait`."""

    wait: timedelta


def export_window(at: datetime, every: timedelta) -> tuple[str, datetime]:
    """The period `at` falls in (its allowance scope) and when the next one starts."""
    index = (at - _EPOCH) // every
    return f"export:{int(every.total_seconds())}:{index}", _EPOCH + (index + 1) * every


class PrivacyService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock = utc_now,
        export_every: timedelta = DEFAULT_EXPORT_EVERY,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._every = export_every

    async def export(self, customer_id: int) -> DataExport | ExportTooSoon:
        """The customer's data as JSON, at most once per period however many ask at once (a
        conditional write on their allowance for the period)."""
        now = self._clock()
        scope, next_window = export_window(now, self._every)
        async with self._uow() as uow:
            if not await uow.allowances.take(customer_id, scope, 1, 1):
                return ExportTooSoon(next_window - now)
            data = await uow.privacy.personal_data(customer_id, TICKET_WORDS)
            entry = AuditEntry(
                AuditAction.DATA_EXPORTED,
                ActorKind.CUSTOMER,
                customer_id,
                f"customer:{customer_id}",
            )
            await uow.audit.append(entry, now)
            await uow.commit()
        return DataExport(personal_data_json(data, now), now)

    async def erase_inactive(self, inactive_for: timedelta, batch: int = RETENTION_BATCH) -> int:
        """Erase the personal data of every customer with no sign of life for `inactive_for`
        (see `PrivacyRepository.inactive_customers`), `batch` customers per transaction, each
        with an audit entry in it. Financial records stay, anonymised. Returns how many."""
        erased = 0
        while True:
            now = self._clock()
            since = now - inactive_for
            async with self._uow() as uow:
                ids = await uow.privacy.inactive_customers(since, batch)
                for customer_id in ids:
                    row = await uow.customers.get(customer_id)
                    if row is None or row.erased_at is not None:
                        continue
                    await erase_customer(uow, row, now)
                    entry = AuditEntry(
                        AuditAction.DATA_RETENTION_ERASED,
                        ActorKind.SYSTEM,
                        0,
                        f"customer:{customer_id}",
                        f"last seen {row.last_seen_at.date().isoformat()}",
                    )
                    await uow.audit.append(entry, now)
                await uow.commit()
            erased += len(ids)
            if len(ids) < batch:
                return erased
