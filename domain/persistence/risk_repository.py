"""Risk cases (`domain/risk.py`): opened, decided once (a conditional update), and the flags
of who was told. Never committed here."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import bindparam, exists, select, update

from domain.persistence.core import Repository
from domain.persistence.risk_tables import RiskCaseRow
from domain.repositories.money import NewRiskCase
from domain.risk import CaseStatus, RiskAction, RiskCase, RiskRule


def case_of(row: RiskCaseRow) -> RiskCase:
    return RiskCase(
        id=row.id,
        customer_id=row.customer_id,
        order_id=row.order_id,
        rule=RiskRule(row.rule),
        action=RiskAction(row.action),
        evidence=row.evidence,
        status=CaseStatus(row.status),
        created_at=row.created_at,
        decided_by=row.decided_by,
        decided_by_name=row.decided_by_name,
        decided_at=row.decided_at,
        first_approver=row.first_approver,
        first_approver_name=row.first_approver_name,
    )


_FREEZES = (RiskCaseRow.status == CaseStatus.KEPT_FROZEN.value) | (
    (RiskCaseRow.status == CaseStatus.OPEN.value) & (RiskCaseRow.action == RiskAction.FREEZE.value)
)
# Read before every new order: one Core statement built once (no ORM session for it).
_FROZEN = select(exists().where(RiskCaseRow.customer_id == bindparam("customer_id"), _FREEZES))


class RiskRepository(Repository):
    async def open_case(self, case: NewRiskCase) -> int:
        row = RiskCaseRow(
            customer_id=case.customer_id,
            order_id=case.order_id,
            rule=case.rule,
            action=case.action,
            evidence=case.evidence,
            status=case.status,
            created_at=case.created_at,
            alert_sent=case.alert_sent,
            customer_told=case.customer_told,
        )
        self._session.add(row)
        await self._session.flush()
        return row.id

    async def frozen(self, customer_id: int) -> bool:
        """Whether a case keeps the customer's account frozen (see `RiskCase.freezes`)."""
        return bool(await (await self._core()).value(_FROZEN, customer_id=customer_id))

    async def get(self, case_id: int) -> RiskCase | None:
        row = await self._session.get(RiskCaseRow, case_id)
        return case_of(row) if row is not None else None

    async def decide(
        self,
        case_id: int,
        from_statuses: Iterable[str],
        to_status: str,
        by: int,
        by_name: str,
        at: datetime,
    ) -> bool:
        """Record the decision once: only from one of `from_statuses`; False when the case
        was decided meanwhile (or is not there)."""
        result = await self._session.execute(
            update(RiskCaseRow)
            .where(RiskCaseRow.id == case_id, RiskCaseRow.status.in_(list(from_statuses)))
            .values(
                status=to_status,
                decided_by=by,
                decided_by_name=by_name[:128],
                decided_at=at,
                customer_told=False,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def approve_first(self, case_id: int, by: int, by_name: str) -> bool:
        """The first of two approvals, once: only an open case nobody approved yet."""
        result = await self._session.execute(
            update(RiskCaseRow)
            .where(
                RiskCaseRow.id == case_id,
                RiskCaseRow.status == CaseStatus.OPEN.value,
                RiskCaseRow.first_approver.is_(None),
            )
            .values(first_approver=by, first_approver_name=by_name[:128])
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def pending(self, limit: int) -> list[RiskCase]:
        """Cases waiting for staff or keeping an account frozen, oldest first."""
        query = (
            select(RiskCaseRow)
            .where(RiskCaseRow.status.in_([CaseStatus.OPEN.value, CaseStatus.KEPT_FROZEN.value]))
            .order_by(RiskCaseRow.id)
            .limit(limit)
        )
        return [case_of(row) for row in (await self._session.execute(query)).scalars()]

    async def unsent_alerts(self, limit: int) -> list[RiskCase]:
        query = (
            select(RiskCaseRow)
            .where(RiskCaseRow.alert_sent.is_(False))
            .order_by(RiskCaseRow.id)
            .limit(limit)
        )
        return [case_of(row) for row in (await self._session.execute(query)).scalars()]

    async def untold_decisions(self, limit: int) -> list[RiskCase]:
        query = (
            select(RiskCaseRow)
            .where(RiskCaseRow.customer_told.is_(False))
            .order_by(RiskCaseRow.id)
            .limit(limit)
        )
        return [case_of(row) for row in (await self._session.execute(query)).scalars()]

    async def mark(self, case_id: int, flag: str, value: bool) -> bool:
        """Set `alert_sent` or `customer_told` to `value` if it is not already: True for the
        one caller that changed it (a claim before sending, or a release after a failure)."""
        column = getattr(RiskCaseRow, flag)
        result = await self._session.execute(
            update(RiskCaseRow)
            .where(RiskCaseRow.id == case_id, column.is_not(value))
            .values({flag: value})
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))
