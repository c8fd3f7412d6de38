"""Set what offers have taken (slots and budget) directly, for tests that start from an offer
partly or wholly taken: written to the offers' shards (`offer_slots`) as claims would leave
them."""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.persistence.offer_slots import OFFER_SLOT_SHARDS, shares
from domain.persistence.tables import OfferRow, OfferSlotRow


async def set_taken(
    connection: AsyncConnection,
    used: int | None = None,
    spent_fen: int = 0,
    offer_id: int | None = None,
) -> None:
    """Every offer (or `offer_id`) has taken `used` slots (None: its whole quota) and spent
    `spent_fen` of its budget."""
    statement = select(OfferRow.id, OfferRow.quota, OfferRow.budget_fen)
    if offer_id is not None:
        statement = statement.where(OfferRow.id == offer_id)
    for offer in (await connection.execute(statement)).all():
        taken = (offer.quota or 0) if used is None else used
        slots = [taken] + [0] * (OFFER_SLOT_SHARDS - 1)
        spent = [spent_fen] + [0] * (OFFER_SLOT_SHARDS - 1)
        await connection.execute(delete(OfferSlotRow).where(OfferSlotRow.offer_id == offer.id))
        rows = [
            {
                "offer_id": offer.id,
                "shard": shard,
                "quota": share,
                "used": slots[shard],
                "budget_fen": budget,
                "spent_fen": spent[shard],
            }
            for shard, (share, budget) in enumerate(
                shares(offer.quota, offer.budget_fen, slots, spent)
            )
        ]
        await connection.execute(insert(OfferSlotRow), rows)
