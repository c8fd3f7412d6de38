"""Customers' hold-out buckets (`HoldoutBucketRow`): kept as the hold-out page first hashes a
customer, and back-filled for the campaigns with a hold-out group by migration 0035."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Integer, SmallInteger, String, Table, bindparam, select
from sqlalchemy.engine import Connection

from domain.holdout import holdout_bucket
from domain.persistence.core import OnConflict, Repository
from domain.persistence.rollup_tables import HoldoutBucketRow
from domain.persistence.tables import CampaignRow, CustomerRow

_BUCKETS = cast(Table, HoldoutBucketRow.__table__)
_KEEP = OnConflict(
    lambda insert: (
        insert(_BUCKETS)
        .values(
            campaign_code=bindparam("code", type_=String(48)),
            customer_id=bindparam("customer", type_=Integer),
            bucket=bindparam("v_bucket", type_=SmallInteger),
        )
        .on_conflict_do_nothing(index_elements=[_BUCKETS.c.campaign_code, _BUCKETS.c.customer_id])
    )
)
# Customers hashed and written a batch at a time by the back-fill.
BATCH = 5_000


class HoldoutBucketRepository(Repository):
    async def keep(self, campaign_code: str, buckets: Iterable[tuple[int, int]]) -> None:
        """Keep these (customer, bucket) of the campaign; one kept already stays (it is the
        same: a bucket depends on the code and the customer only)."""
        rows = [
            {"code": campaign_code, "customer": customer, "v_bucket": bucket}
            for customer, bucket in buckets
        ]
        core = await self._core()
        await core.run_many(_KEEP.on(core.dialect), rows)


def _holdout_codes(connection: Connection) -> list[str]:
    codes = []
    for code, extra in connection.execute(select(CampaignRow.code, CampaignRow.extra)):
        percent = (extra or {}).get("holdout_percent", 0)
        if isinstance(percent, int) and percent > 0:
            codes.append(str(code))
    return codes


def backfill_holdout_buckets(connection: Connection) -> None:
    """Keep the bucket of every customer in every campaign with a hold-out group (idempotent:
    buckets kept already stay)."""
    statement: Any = _KEEP.on(connection.dialect)
    for code in _holdout_codes(connection):
        kept = select(_BUCKETS.c.customer_id).where(_BUCKETS.c.campaign_code == code)
        customers = connection.execute(
            select(CustomerRow.id).where(CustomerRow.id.not_in(kept)).order_by(CustomerRow.id)
        ).scalars()
        batch: list[dict[str, Any]] = []
        for customer in customers:
            batch.append(
                {"code": code, "customer": customer, "v_bucket": holdout_bucket(code, customer)}
            )
            if len(batch) == BATCH:
                connection.execute(statement, batch)
                batch = []
        if batch:
            connection.execute(statement, batch)
