"""Bitrix24 lists compared with the portal's own id lists after every run (sources/reconcile.py).

Bitrix24 lists have no tombstones and these methods no deletion feed (bitrix24-client.md), so
the figure compared is the full id list of the entity: the list method with `select` of the id
alone, keyset-paged by id (`start=-1`, `>id`) in batches of 50 commands × 50 ids, i.e. 2,500
ids per request (batch.py `full_scan`, the same reader as a full sync). Ids we hold live that
the portal no longer lists are marked deleted (product rows of a deleted invoice follow in the
same run: the product-row entity re-reads every invoice whose raw row changed and declares it
complete); ids the portal lists that we do not hold are read by id (`@id`, up to 500 per
command) and landed.

Cost: ceil(records / 2,500) requests per entity per run, whatever changed; the repair reads
only the ids that differ. Edits do not need this: every edit of these entities moves its change
timestamp, which the incremental read follows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from finance_pipeline.sources.bitrix24.batch import ListCall, filtered_scan, full_scan
from finance_pipeline.sources.reconcile import Difference, ReconcilePlan, Verification

BY_ID_CHUNK = 500


@dataclass
class IdListPlan(ReconcilePlan):
    call: ListCall  # the entity's list call (its `select` is replaced by the id alone)
    table: str  # raw table
    label: str
    source_ids: set[int] | None = None
    verification: Verification = field(default_factory=Verification)

    def _ids_call(self) -> ListCall:
        return ListCall(
            self.call.method, {**self.call.params, "select": [self.call.id_field]},
            self.call.filter, self.call.id_field, self.call.rows_key,
        )

    def _source_ids(self, ctx: Any) -> set[int]:
        if self.source_ids is None:
            call = self._ids_call()
            self.source_ids = {
                call.id_of(row, call.method)
                for rows in full_scan(ctx, call, f"{self.label} ids")
                for row in rows
            }
        return self.source_ids

    def differences(self, ctx: Any, verification: Verification) -> list[Difference]:
        self.verification = verification
        source = self._source_ids(ctx)
        ours = {int(r[0]) for r in ctx.query(f"SELECT id FROM raw.{self.table} WHERE deleted_at IS NULL")}
        if not verification.compared:
            verification.compared.append(f"{self.label} id list ({len(source)} ids)")
        found = []
        gone, missing = sorted(ours - source), sorted(source - ours)
        if gone:
            found.append(Difference(f"{self.label} deleted at the source", ("gone", gone),
                                    f"{len(source)} ids", f"{len(gone)} more: {gone[:10]}"))
        if missing:
            found.append(Difference(f"{self.label} missing here", ("missing", missing),
                                    f"{len(missing)} more: {missing[:10]}", f"{len(ours)} ids"))
        return found

    def repair(self, ctx: Any, differences: list[Difference], round_: int) -> Iterator[list[dict[str, Any]]]:
        for difference in differences:
            kind, ids = difference.scope
            if kind == "gone":
                ctx.report_deleted(ids)
                self.verification.reread.append(f"{len(ids)} {self.label} marked deleted")
                continue
            self.verification.reread.append(f"{len(ids)} {self.label} read by id")
            calls = [
                ListCall(self.call.method, self.call.params,
                         {**self.call.filter, f"@{self.call.id_field}": ids[i : i + BY_ID_CHUNK]},
                         self.call.id_field, self.call.rows_key)
                for i in range(0, len(ids), BY_ID_CHUNK)
            ]
            yield from filtered_scan(ctx, calls, f"{self.label} by id")
