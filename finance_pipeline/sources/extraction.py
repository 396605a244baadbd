"""One factory turns an entity description into a Dagster extraction asset, for every source.

An `EntitySpec` says how to fetch an entity's pages (`fetch`), where a record's id is
(`id_paths`, JSON paths DuckDB reads when landing) and, for incremental syncs, which field is its
cursor (`cursor_of`). The asset built here does the rest the same way for all four sources:
choose full or incremental, stream pages to the stager, land them in one transaction together
with the new cursor, and report metadata.

A page a fetch yields untouched from an answer should be `verbatim_records(body, key)`
(`http/answer.py`): the stager then writes the server's own bytes and DuckDB does the per-record
work. Any list a fetch builds, filters or changes is landed too, encoded in Python.
"""

# No `from __future__ import annotations` here: Dagster 1.13 reads the asset function's annotations
# (context: AssetExecutionContext, config: ExtractConfig) as classes, not as strings.

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
from pydantic import Field

from finance_pipeline.http.client import ApiClient
from finance_pipeline.http.errors import ApiError
from finance_pipeline.http.masking import mask
from finance_pipeline.http.paging import PagingReport
from finance_pipeline.http.stats import RequestStats
from finance_pipeline.sources.resource_base import SourceResource
from finance_pipeline.warehouse.landing import PageStager, land
from finance_pipeline.warehouse.resource import WarehouseResource
from finance_pipeline.warehouse.state import SyncState, read_state


class ExtractConfig(dg.Config):
    """Run config of every extraction asset (shown in the launchpad)."""

    full_refresh: bool = Field(
        default=False,
        description=(
            "Re-read every record instead of only what changed since the stored cursor, and mark "
            "records that vanished upstream as deleted."
        ),
    )
    start_date: str | None = Field(
        default=None,
        description=(
            "YYYY-MM-DD: re-read records from this date on, ignoring the stored cursor. "
            "Deletions are not inferred from such a partial read."
        ),
    )

    def parsed_start_date(self) -> date | None:
        if not self.start_date:
            return None
        try:
            return date.fromisoformat(self.start_date)
        except ValueError:
            raise dg.Failure(
                f"start_date {self.start_date!r} is not a date in the YYYY-MM-DD form"
            ) from None


@dataclass
class ExtractContext:
    """What a source's fetch function gets: the client, the window to read, and helpers."""

    client: ApiClient
    resource: Any
    full_refresh: bool
    since: datetime | None
    state: SyncState
    warehouse: WarehouseResource
    progress: Callable[[str], None]
    report: PagingReport = field(default_factory=PagingReport)
    deleted_ids: list[str] = field(default_factory=list)
    # A fetch may set the cursor itself when its rows do not carry it (e.g. a watermark read
    # from a parent raw table); the later of this and the rows' cursors is stored.
    new_cursor: str | None = None
    # Figures the entity's read already asked of the source in this run (e.g. SalesMan's
    # counts), kept for its reconciliation plan so that it does not ask them again.
    shared: dict[str, Any] = field(default_factory=dict)
    _stager: PageStager | None = None
    # Waits until the entities handed to the background lander have landed (`SourceExtraction`):
    # what this read asks of the warehouse must include them.
    _wait_for_landings: Callable[[], None] | None = None

    def declare_complete_for(self, parent_ids: Iterable[Any]) -> None:
        """The children of these parents were all fetched: missing ones were deleted upstream."""
        assert self._stager is not None
        self._stager.add_scope(parent_ids)

    @property
    def concurrent_requests(self) -> int:
        """How many independent requests of this read may be in flight at once
        (`http/concurrent.py`); 1 for a resource without the setting."""
        return int(getattr(self.resource, "concurrent_requests", 1))

    def report_deleted(self, ids: Iterable[Any]) -> None:
        self.deleted_ids.extend(str(i) for i in ids)

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Read from the warehouse (e.g. which invoices need their product rows)."""
        if self._wait_for_landings is not None:
            self._wait_for_landings()
        if not self.warehouse.exists():
            return []
        with self.warehouse.connection() as conn:
            try:
                return conn.execute(sql, params or []).fetchall()
            except Exception as exc:  # a table that does not exist yet reads as empty
                if "does not exist" in str(exc):
                    return []
                raise


@dataclass(frozen=True)
class EntitySpec:
    source: str
    entity: str
    description: str
    fetch: Callable[[ExtractContext], Iterator[list[dict[str, Any]]]]
    # JSON paths of the record's id, the first one present wins (see warehouse.landing.id_sql):
    # ("$.id",) is row.get("id"); ("$.id", "$.crid") is row.get("id", row.get("crid")).
    # Declarative so that DuckDB, not Python, reads every record's id when landing.
    id_paths: tuple[str, ...] = ("$.id",)
    # The record's change marker (an ISO timestamp/date string). None: the API cannot filter by
    # change, so every run is a full, complete read.
    cursor_of: Callable[[dict[str, Any]], str | None] | None = None
    # Re-read this much before the cursor: clock skew, late writes, records that still change.
    lookback: timedelta = timedelta(0)
    # For child entities: JSON path of the parent id, for scoped deletion (see land()).
    scope_json_path: str | None = None
    # Other raw tables of this source that `fetch` reads (drawn as lineage in the UI).
    reads: tuple[str, ...] = ()
    # How the landed table is compared with the source's own figures after every run and
    # repaired (sources/reconcile.py); a factory, since a plan keeps one run's figures.
    reconcile: Callable[[], Any] | None = None

    @property
    def table(self) -> str:
        return f"{self.source}_{self.entity}"

    @property
    def key(self) -> dg.AssetKey:
        return dg.AssetKey(["raw", self.table])


def parse_cursor(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def page_cursor(
    cursor_of: Callable[[dict[str, Any]], str | None], rows: list[dict[str, Any]]
) -> str | None:
    """The latest cursor value of one page. Each distinct value is parsed once (a page of
    movements has a handful of dates); on a tie the first one seen wins, as before."""
    values = [value for value in dict.fromkeys(map(cursor_of, rows)) if value]
    return max(values, key=parse_cursor) if values else None


def later_cursor(current: str | None, candidate: str | None) -> str | None:
    if not candidate:
        return current
    if current is None or parse_cursor(candidate) > parse_cursor(current):
        return candidate
    return current


@dataclass
class FetchedEntity:
    """An entity whose pages are all staged, not landed yet: what `land_fetched` needs."""

    spec: EntitySpec
    mode: str
    full: bool
    since: datetime | None
    started: float
    stats: RequestStats
    ctx: ExtractContext
    new_cursor: str | None
    stager: PageStager

    def discard(self) -> None:
        """Drop the staged pages without landing them."""
        self.stager.close()


def run_extraction(
    spec: EntitySpec,
    *,
    resource: SourceResource,
    warehouse: WarehouseResource,
    config: ExtractConfig,
    run_id: str,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Fetch and land one entity; return the metadata for its materialization."""
    fetched = fetch_entity(spec, resource=resource, warehouse=warehouse, config=config, log=log)
    return land_fetched(fetched, resource=resource, warehouse=warehouse, run_id=run_id, log=log)


def fetch_entity(
    spec: EntitySpec,
    *,
    resource: SourceResource,
    warehouse: WarehouseResource,
    config: ExtractConfig,
    log: Callable[[str], None],
    wait_for_landings: Callable[[], None] | None = None,
) -> FetchedEntity:
    """Choose full or incremental and stage every page of one entity (nothing is landed)."""
    started = time.monotonic()
    start_date = config.parsed_start_date()
    with warehouse.connection() as conn:
        state = read_state(conn, spec.table)
    incremental_possible = spec.cursor_of is not None and state.cursor is not None
    full = config.full_refresh or spec.cursor_of is None or (not incremental_possible and not start_date)
    if start_date is not None:
        since: datetime | None = datetime.combine(start_date, datetime.min.time(), tzinfo=UTC)
        full = False
    elif full or state.cursor is None:
        since = None
    else:
        since = parse_cursor(state.cursor) - spec.lookback
    mode = "full" if full else ("from start_date" if start_date else "incremental")
    log(f"{spec.source} {spec.entity}: {mode} sync" + (f" since {since.isoformat()}" if since else ""))

    stats = RequestStats()
    new_cursor = state.cursor
    stager = PageStager(spec.id_paths)
    try:
        with resource.client(stats) as client:
            ctx = ExtractContext(
                client=client,
                resource=resource,
                full_refresh=full,
                since=since,
                state=state,
                warehouse=warehouse,
                progress=log,
                _stager=stager,
                _wait_for_landings=wait_for_landings,
            )
            for rows in spec.fetch(ctx):
                stager.add(rows)
                if spec.cursor_of is not None:
                    new_cursor = later_cursor(new_cursor, page_cursor(spec.cursor_of, rows))
            new_cursor = later_cursor(new_cursor, ctx.new_cursor)
    except BaseException:
        stager.close()
        raise
    return FetchedEntity(
        spec=spec, mode=mode, full=full, since=since, started=started, stats=stats, ctx=ctx,
        new_cursor=new_cursor, stager=stager,
    )


def land_fetched(
    fetched: FetchedEntity,
    *,
    resource: SourceResource,
    warehouse: WarehouseResource,
    run_id: str,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Land a fetched entity in one transaction with its cursor, reconcile it, and return the
    metadata for its materialization. The staged pages are removed either way."""
    spec, ctx = fetched.spec, fetched.ctx
    with fetched.stager as stager:
        with warehouse.connection() as conn:
            result = land(
                conn,
                table=spec.table,
                stager=stager,
                run_id=run_id,
                entity=spec.table,
                new_cursor=fetched.new_cursor,
                complete_snapshot=fetched.full,
                scope_json_path=spec.scope_json_path,
                deleted_ids=ctx.deleted_ids,
            )
        verification = None
        if spec.reconcile is not None:
            verification = _reconcile(
                spec, resource=resource, warehouse=warehouse, run_id=run_id, log=log,
                full=fetched.full, since=fetched.since, cursor=fetched.new_cursor,
                shared=ctx.shared,
            )
    metadata: dict[str, Any] = {
        "sync_mode": fetched.mode,
        **result.as_metadata(),
        **{f"http_{k}": v for k, v in fetched.stats.snapshot().items()},
        "pages": ctx.report.pages,
        "cursor": mask(fetched.new_cursor or ""),
        "seconds": round(time.monotonic() - fetched.started, 3),
    }
    if verification is not None:
        metadata.update(verification.as_metadata())
    if ctx.report.warnings:
        metadata["warnings"] = dg.MetadataValue.md("\n".join(f"- {w}" for w in ctx.report.warnings))
    return metadata


def _reconcile(
    spec: EntitySpec,
    *,
    resource: SourceResource,
    warehouse: WarehouseResource,
    run_id: str,
    log: Callable[[str], None],
    full: bool,
    since: datetime | None,
    cursor: str | None,
    shared: dict[str, Any],
) -> Any:
    """Compare the landed table with the source's figures and repair it (sources/reconcile.py)."""
    from finance_pipeline.sources.reconcile import reconcile

    assert spec.reconcile is not None
    with warehouse.connection() as conn:
        state = read_state(conn, spec.table)

    def make_context(client: ApiClient, stager: PageStager) -> ExtractContext:
        return ExtractContext(
            client=client, resource=resource, full_refresh=full, since=since, state=state,
            warehouse=warehouse, progress=log, shared=shared, _stager=stager,
        )

    verification = reconcile(
        spec, spec.reconcile(), make_context=make_context, resource=resource,
        warehouse=warehouse, run_id=run_id, cursor=cursor, incremental=not full,
    )
    log(
        f"{spec.source} {spec.entity}: verified with {verification.requests} requests; "
        f"{len(verification.differed)} figure(s) differed, {verification.repaired_rows} rows "
        f"repaired, {verification.marked_deleted} marked deleted"
    )
    return verification


def in_dependency_order(specs: list[EntitySpec]) -> list[EntitySpec]:
    """Entities that read another entity's raw table come after it (product rows after invoices)."""
    by_name = {spec.entity: spec for spec in specs}
    ordered: list[EntitySpec] = []

    def visit(spec: EntitySpec) -> None:
        if spec in ordered:
            return
        for name in spec.reads:
            if name in by_name:
                visit(by_name[name])
        ordered.append(spec)

    for spec in specs:
        visit(spec)
    return ordered


def source_assets(source: str, specs: list[EntitySpec]) -> dg.AssetsDefinition:
    """Every entity of one source as one subsettable multi-asset: one process per source.

    Each entity is still its own asset in the graph (own metadata, own lineage, materialisable on
    its own: select it and launch, with this op's config applying to it). Running a source's
    entities in one step process keeps a run to a handful of processes instead of one per entity;
    the entities share the source's rate limit anyway, so they gain nothing from separate
    processes. One entity failing does not stop the others: they land, then the step fails
    naming what did not.
    """
    ordered = in_dependency_order(specs)
    asset_specs = [
        dg.AssetSpec(
            key=spec.key,
            group_name=source,
            description=spec.description,
            kinds={"duckdb", "api"},
            deps=[dg.AssetKey(["raw", f"{source}_{name}"]) for name in spec.reads],
            tags={"layer": "raw", "source": source},
            skippable=True,
        )
        for spec in ordered
    ]

    @dg.multi_asset(
        name=f"{source}_extract",
        specs=asset_specs,
        can_subset=True,
        required_resource_keys={"warehouse", source},
        op_tags={"source": source},
    )
    def _extract(context: dg.AssetExecutionContext, config: ExtractConfig):
        resource: SourceResource = getattr(context.resources, source)
        selected = context.selected_asset_keys
        if not resource.is_configured():
            reason = resource.not_configured_reason()
            context.log.info(f"{source} skipped: {reason}")
            for spec in ordered:
                if spec.key in selected:
                    yield dg.MaterializeResult(asset_key=spec.key, metadata={"skipped": reason})
            return
        extraction = SourceExtraction(
            source,
            [spec for spec in ordered if spec.key in selected],
            resource=resource,
            warehouse=context.resources.warehouse,
            config=config,
            run_id=context.run.run_id,
            log=lambda message: context.log.info(mask(message)),
            log_error=context.log.error,
        )
        for spec, metadata in extraction.run():
            yield dg.MaterializeResult(asset_key=spec.key, metadata=metadata)
        if extraction.failed:
            raise _extraction_failure(source, extraction.failed, extraction.refused)

    return _extract


@dataclass
class _Landing:
    spec: EntitySpec
    future: Future[dict[str, Any]]


class SourceExtraction:
    """A source's entities, fetched one after another in dependency order, each landed (and
    reconciled) by one background lander thread while the next entity is fetched.

    Landing and reconciling an entity takes a while in which, run in line, no request would be
    sent; the source's rate limit is the bound of a run, so the next entity's requests go out
    meanwhile. At most one landing is in flight and landings keep the entities' order, each in
    its own transaction, so what a crash leaves is what it leaves in line: whole entities, in
    order. The lander is the only writer; the fetching thread only reads, and every `ctx.query`
    waits for the landing in flight first, so a read never sees the warehouse without an entity
    fetched before it. Outcomes are taken in order: `run()` yields each landed entity's
    metadata, and `failed` / `refused` end up as a run in line would leave them (one entity
    failing does not stop the others). An entity fetched while the landing of one it `reads`
    failed is dropped unlanded and reported as in line ("not synced because ... failed"); one
    fetched while the account was refused is dropped and said to be ("fetched but not landed"),
    the ones after it "not requested".
    """

    def __init__(
        self,
        source: str,
        specs: list[EntitySpec],
        *,
        resource: SourceResource,
        warehouse: WarehouseResource,
        config: ExtractConfig,
        run_id: str,
        log: Callable[[str], None],
        log_error: Callable[[str], None],
    ) -> None:
        self.source = source
        self.specs = in_dependency_order(specs)
        self.resource = resource
        self.warehouse = warehouse
        self.config = config
        self.run_id = run_id
        self.log = log
        self.log_error = log_error
        self.failed: dict[str, str] = {}
        self.refused: str | None = None
        self._in_flight: _Landing | None = None

    def run(self) -> Iterator[tuple[EntitySpec, dict[str, Any]]]:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.source}-lander") as lander:
            for spec in self.specs:
                if self._skipped(spec):
                    continue
                fetched: FetchedEntity | None = None
                error: Exception | None = None
                try:
                    fetched = fetch_entity(
                        spec, resource=self.resource, warehouse=self.warehouse,
                        config=self.config, log=self.log, wait_for_landings=self._wait,
                    )
                except Exception as exc:
                    error = exc
                # The landing in flight is the earlier entity's: its outcome comes first.
                yield from self._settle()
                if self._skipped(spec, fetched=True):
                    # That landing failed (or the account was refused meanwhile): this entity
                    # is dropped unlanded, as in line it would not have been fetched.
                    if fetched is not None:
                        fetched.discard()
                    continue
                if error is not None:
                    self._record_failure(spec, error)
                    continue
                assert fetched is not None
                future = lander.submit(
                    land_fetched, fetched, resource=self.resource, warehouse=self.warehouse,
                    run_id=self.run_id, log=self.log,
                )
                self._in_flight = _Landing(spec, future)
            yield from self._settle()

    def _skipped(self, spec: EntitySpec, *, fetched: bool = False) -> bool:
        """Whether an earlier outcome rules this entity out; if so it is recorded as failed.
        `fetched`: its requests were already sent (while the refusal came in the background)."""
        if self.refused is not None:
            # The account was refused: every further request would be refused the same way.
            self.failed[spec.entity] = (
                "fetched but not landed (the credentials were refused meanwhile)"
                if fetched
                else "not requested (the credentials were refused)"
            )
            return True
        blocked = [name for name in spec.reads if name in self.failed]
        if blocked:
            self.failed[spec.entity] = f"not synced because {', '.join(blocked)} failed"
            return True
        return False

    def _wait(self) -> None:
        if self._in_flight is not None:
            wait([self._in_flight.future])

    def _settle(self) -> Iterator[tuple[EntitySpec, dict[str, Any]]]:
        """Wait for the landing in flight and take its outcome."""
        landing, self._in_flight = self._in_flight, None
        if landing is None:
            return
        try:
            metadata = landing.future.result()
        except Exception as exc:
            self._record_failure(landing.spec, exc)
            return
        yield landing.spec, metadata

    def _record_failure(self, spec: EntitySpec, exc: Exception) -> None:
        self.failed[spec.entity] = mask(exc)
        refusal = self.resource.declaration.refusal(exc) if isinstance(exc, ApiError) else None
        if refusal is not None:
            self.refused = refusal
            self.log_error(f"{self.source}: {self.refused}; its other entities are not requested")
        else:
            self.log_error(f"{self.source} {spec.entity} failed; table left as it was: {mask(exc)}")


def _extraction_failure(source: str, failed: dict[str, str], refused: str | None) -> dg.Failure:
    """The step's failure: what to fix first when the account was refused, then each entity
    (the entities never requested after a refusal on one line)."""
    not_requested = [e for e, why in failed.items() if why.startswith("not requested")]
    lines = [f"- {entity}: {why}" for entity, why in failed.items() if entity not in not_requested]
    if not_requested:
        lines.append(f"- not requested after the refusal: {', '.join(not_requested)}")
    headline = f"{source}: {refused}.\n" if refused else ""
    count = f"{len(failed)} entit{'y' if len(failed) == 1 else 'ies'}"
    return dg.Failure(
        description=f"{headline}{source}: {count} failed (their raw tables are unchanged):\n"
        + "\n".join(lines),
        metadata={"failed_entities": list(failed)},
    )
