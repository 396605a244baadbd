"""ApiPay's own catalog and units of measure, as the sandbox serves them.

ApiPay (Kaspi Pay) keeps a catalog and a list of units of its own: `GET /catalog/units` and
`GET /catalog` (github.com/bazarbaykz/apipay-docs, openapi.yaml 2.1 `listCatalogUnits`,
`listCatalogItems`, schema `CatalogItem`; docs/*/catalog.md). Their ids belong to ApiPay: a
`unit_id` of ApiPay says nothing about the unit with that id in Adesk or Bitrix24.

The `World` models one product catalog whose units carry Adesk's ids (`World.units`). This module
gives ApiPay its own unit list (names as Kaspi's unit list spells them: a full Russian name and a
Kazakh one, the docs' example being `{"id": 1, "name": "штука", "name_kaz": "дана"}`) and maps each
world unit to it. Only "штука" keeps id 1, as in the docs; every other id differs from Adesk's on
purpose, so a model that joins ApiPay unit ids to another system's units shows the wrong unit.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ApipayUnit:
    id: int
    name: str
    name_kaz: str


APIPAY_UNITS: tuple[ApipayUnit, ...] = (
    ApipayUnit(1, "штука", "дана"),
    ApipayUnit(2, "килограмм", "килограмм"),
    ApipayUnit(3, "литр", "литр"),
    ApipayUnit(4, "метр", "метр"),
    ApipayUnit(5, "упаковка", "қаптама"),
    ApipayUnit(6, "услуга", "қызмет"),
    ApipayUnit(7, "час", "сағат"),
)

# World unit id (Adesk's ids, see world._UNITS) -> ApiPay unit id.
_WORLD_TO_APIPAY: dict[int, int] = {
    1: 1,  # шт
    2: 7,  # час
    3: 2,  # кг
    4: 6,  # усл
    5: 4,  # м
    6: 3,  # л
    7: 5,  # упак
}

UNITS_BY_ID: dict[int, ApipayUnit] = {unit.id: unit for unit in APIPAY_UNITS}


def apipay_unit_id(world_unit_id: int) -> int:
    """ApiPay's id of a world unit (every world unit has one)."""
    return _WORLD_TO_APIPAY[world_unit_id]


def apipay_unit(world_unit_id: int) -> ApipayUnit:
    return UNITS_BY_ID[apipay_unit_id(world_unit_id)]
