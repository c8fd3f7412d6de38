"""What can be recharged: call credit (话费) denominations and data packs (流量)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.languages import Language
from domain.money import Money
from domain.phone import Carrier


class ProductKind(StrEnum):
    CREDIT = "credit"
    DATA = "data"


@dataclass(frozen=True)
class Product:
    id: int
    kind: ProductKind
    code: str
    name_zh: str
    name_en: str
    price: Money
    face_value: Money
    data_mb: int | None = None
    validity_days: int | None = None
    # Carriers whose numbers this product can be topped up to; empty means every carrier.
    carriers: frozenset[Carrier] = frozenset()

    def name(self, language: Language) -> str:
        return self.name_en if language is Language.EN else self.name_zh

    def serves(self, carrier: Carrier) -> bool:
        return not self.carriers or carrier in self.carriers
