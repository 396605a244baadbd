"""The four sources, listed once. Everything that needs "every source" loops over `SOURCES`."""

from __future__ import annotations

from finance_pipeline.sources import adesk, apipay, bitrix24, salesman
from finance_pipeline.sources.declaration import SourceDeclaration

SOURCES: tuple[SourceDeclaration, ...] = (
    bitrix24.SOURCE,
    salesman.SOURCE,
    adesk.SOURCE,
    apipay.SOURCE,
)
SOURCE_NAMES: tuple[str, ...] = tuple(source.name for source in SOURCES)
BY_NAME: dict[str, SourceDeclaration] = {source.name: source for source in SOURCES}
