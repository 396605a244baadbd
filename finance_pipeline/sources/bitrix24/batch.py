"""The Bitrix24 batch keyset engine: lists read with as few requests as the API allows.

Bitrix24 pages are fixed at 50 records and a portal takes 2 requests/s (burst 50), but one
`batch` request runs up to 50 list commands, so the floor is ceil(rows / 2500) requests per
entity. Every read here is built to get close to it:

No counting on big lists
    A list call with `start` >= 0 makes the portal count the whole filtered list for `total`
    (the docs measured 49.9 s vs 0.097 s on 2.39 M leads), so lists are read with `start=-1`
    and keyset paging on the id (`order: {id: ASC}`, `filter: {">id": last}`), as the docs'
    "huge data" page recommends. A count is only asked of a *small* remainder: the last command
    of a chain whose window is expected to end there (cost ~ the few rows left).

Chains inside one batch
    Commands of a batch run in order and may reference earlier results
    (`$result[cmd][items][49][id]`), so one batch holds a chain of keyset pages: 50 pages =
    2500 rows per request, with no round trip per page. A command after a short page (< 50
    rows) is ignored whatever it answered (its reference does not resolve, so the portal
    rejects or misreads it): that short page was the end of the chain's window.

Full sync of a big list (invoices)
    Request 1 reads 25 pages up from the lowest id and 25 pages down from the highest (two
    chains), which gives the id range and the density of ids at both ends. The middle is read
    by chains of 50 pages; a window with much left is read from both of its ends at once (one
    batch up, one batch down, in parallel). When what is left of a window fits in less than a
    batch, its chain is shortened and packed together with others into one batch, and the last
    page of such a chain counts the (small) rest, which sizes the next round's read. A window
    whose size is counted may be split over two batches (its lowest pages up, the rest down
    from the top, the down part counting what lies below it, so a gap is still found), which
    keeps every batch but the last full. When the list is big enough that an extra
    request is within 10 % of the minimum, the middle is also split into id ranges read in
    parallel. Batches of a round go out in parallel (threads; the client's shared leaky bucket
    keeps the portal's limit).

Counts size reads, short pages end them
    A count is the portal's word, and a stale or wrong one must not lose rows. So a window
    ends only on a short page (or when no id is left between its bounds); a chain sized from a
    count gets one page more than the count needs, so a true count ends it in the same request
    and a low one shows as a full last page and is read on. A count that disagrees with the
    rows is reported as a warning in the asset's metadata.

The paging interface: `full_scan(ctx, call, label)` and `filtered_scan(ctx, calls, label)`
yield pages (lists of records); `Scan(client, windows).pages(ctx, endpoint)` is what both use.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

from finance_pipeline.http.client import ApiClient
from finance_pipeline.http.errors import ApiError, BadResponseError
from finance_pipeline.http.paging import Page, iter_pages
from finance_pipeline.sources.bitrix24.resource import (
    api_error_of,
    describe,
    error_class,
    hint_for,
)
from finance_pipeline.sources.extraction import ExtractContext

SOURCE = "bitrix24"
PAGE = 50  # Bitrix24's fixed page size
BATCH = 50  # commands per batch (the documented maximum)
BATCH_ROWS = PAGE * BATCH
MAX_PARALLEL = 8


# --- PHP query strings for batch commands ---------------------------------------------------


def http_build_query(params: dict[str, Any]) -> str:
    """PHP's http_build_query: nested keys as a[b][c], every key and value URL-encoded."""
    pairs: list[tuple[str, str]] = []

    def walk(value: Any, key: str) -> None:
        if value is None:
            return
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{key}[{k}]")
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(v, f"{key}[{i}]")
        elif isinstance(value, bool):
            pairs.append((key, "1" if value else "0"))
        else:
            pairs.append((key, str(value)))

    for key, value in params.items():
        walk(value, key)
    return "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in pairs)


# --- list calls, windows, chains ------------------------------------------------------------


@dataclass(frozen=True)
class ListCall:
    """One list method with its fixed parameters."""

    method: str
    params: dict[str, Any]
    filter: dict[str, Any]
    id_field: str  # "id" (crm.item.*) or "ID" (classic methods)
    rows_key: str | None  # "items", "productRows", or None when `result` is the list
    # Error codes that end a window of this call as refused (listed in Scan.refused) instead of
    # failing the read: the caller knows what such an answer means and handles it.
    refusable: frozenset[str] = frozenset()

    def rows_of(self, result: Any, endpoint: str) -> list[dict[str, Any]]:
        rows = result.get(self.rows_key) if isinstance(result, dict) and self.rows_key else result
        if self.rows_key is None and result == []:
            rows = []
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise BadResponseError(
                SOURCE, endpoint, f"expected a list of records in the result, got {_shape(result)}"
            )
        return rows

    def id_of(self, row: dict[str, Any], endpoint: str) -> int:
        try:
            return int(row[self.id_field])
        except (KeyError, TypeError, ValueError):
            raise BadResponseError(
                SOURCE, endpoint, f"a record without a numeric {self.id_field}: {str(row)[:120]}"
            ) from None

    def reference(self, command: str) -> str:
        path = f"[{self.rows_key}]" if self.rows_key else ""
        return f"$result[{command}]{path}[{PAGE - 1}][{self.id_field}]"

    def static_query(self, extra: dict[str, Any] | None, descending: bool) -> str:
        """The encoded part of a command that is the same for every page of a window."""
        params = {
            **self.params,
            "filter": {**self.filter, **(extra or {})},
            "order": {self.id_field: "DESC" if descending else "ASC"},
        }
        return http_build_query(params)

    def command(
        self, static: str, *, after: Any = None, before: Any = None, descending: bool = False,
        count: bool = False,
    ) -> str:
        parts = [static]
        if after is not None:
            parts.append(f"{quote_plus(f'filter[>{self.id_field}]')}={quote_plus(str(after))}")
        if before is not None:
            parts.append(f"{quote_plus(f'filter[<{self.id_field}]')}={quote_plus(str(before))}")
        parts.append("start=0" if count else "start=-1")
        return f"{self.method}?{'&'.join(p for p in parts if p)}"


@dataclass
class Window:
    """Rows of one list with id in (after, before), minus those already read."""

    call: ListCall
    after: int | None = None
    before: int | None = None
    est: float | None = None  # rows expected to be left; None: unknown
    exact: bool = False  # `est` is a count, not a guess
    extra: dict[str, Any] | None = None  # this window's own filter (e.g. an owner chunk)
    descending: bool = False  # read from the top down (the first request of a full scan)
    count: bool = True  # may its last page count the rest (only ever a small rest)
    on_rest: Callable[[Window], None] | None = None  # takes what is left instead of the scan
    split: Split | None = None  # this window is one part of a split exact window
    # `est` is the portal's count. A count only sizes the chain, it never ends a window: the
    # chain gets one page more than the count needs, so a true count ends on a short page in
    # the same request, and a count that is too low shows as a full last page and is read on.
    from_count: bool = False

    def holds_no_ids(self) -> bool:
        """No integer id lies strictly between the bounds: the window is known to be empty."""
        return self.after is not None and self.before is not None and self.after + 1 >= self.before

    def pages_needed(self) -> int:
        est = self.est or 0
        if self.from_count:
            return int(est) // PAGE + 1
        return max(1, math.ceil(est / PAGE))


@dataclass
class Split:
    """A window of `rows` records read as two parts in different batches: pages ascending from
    the bottom and pages descending from the top. When the window's size is exact, the
    descending part's last page counts what lies below it, which sizes the read of a gap
    (records added or moved meanwhile, or a count that was low). Planned from a count, the two
    parts overlap by a page, so a true count never leaves a gap to read."""

    window: Window
    rows: int
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def report(self, part: str, outcome: dict[str, Any]) -> Window | None:
        """Record one part; when both are in, the window that is still missing, if any."""
        self.parts[part] = outcome
        if len(self.parts) < 2:
            return None
        up, down = self.parts["asc"], self.parts["desc"]
        if up["short"] or down["short"]:
            return None  # one part ran to the other end of the window
        low, high = down["last"], up["last"]
        if low is None or (high is not None and high >= low):
            return None  # the parts met
        w = self.window
        after = high if high is not None else w.after
        below = down.get("below")
        if below is None:
            # Not counted (both parts were whole batches): what is left is an estimate.
            guess = max(float(PAGE), self.rows - up["rows"] - down["rows"])
            gap = Window(w.call, after=after, before=low, est=guess, exact=False, extra=w.extra,
                         count=w.count)
        else:
            # Neither part met the other nor ran out: records lie between them, or the count
            # was low. Read the gap, a single probe page when the count says it is empty.
            unread = max(0, below - up["rows"])
            gap = Window(w.call, after=after, before=low, est=unread, exact=True, extra=w.extra,
                         count=w.count, from_count=True)
        return None if gap.holds_no_ids() else gap


@dataclass
class Chain:
    window: Window
    names: list[str]
    counted_last: bool


@dataclass
class ScanStats:
    requests: int = 0
    commands: int = 0
    rows: int = 0
    rounds: int = 0


class Batcher:
    """Sends batches, checks each command's answer, maps errors to typed ApiErrors."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self._seq = 0
        self._lock = threading.Lock()

    def names(self, n: int) -> list[str]:
        with self._lock:
            start = self._seq
            self._seq += n
        return [f"c{start + i}" for i in range(n)]

    def send(self, commands: dict[str, str]) -> dict[str, Any]:
        body = self.client.request(
            "POST", "batch", endpoint="batch", json_body={"halt": 0, "cmd": commands}
        )
        outer = body.get("result") if isinstance(body, dict) else None
        if not isinstance(outer, dict) or "result" not in outer:
            raise BadResponseError(
                SOURCE, "batch", f"expected {{'result': {{'result': ...}}}}, got {_shape(body)}"
            )
        return {
            key: outer.get(key) if isinstance(outer.get(key), dict) else {}
            for key in ("result", "result_error", "result_total", "result_next")
        }

    @staticmethod
    def command_error(answer: dict[str, Any], name: str, method: str) -> ApiError | None:
        error = answer["result_error"].get(name)
        if error is None:
            return None
        parsed = api_error_of(error) or ("", str(error))
        cls = error_class(parsed[0], parsed[1], None)
        return cls(
            SOURCE, f"batch: {method}", describe(*parsed), hint=hint_for(cls)
        )


class Scan:
    """Reads windows of lists with chains of batched keyset pages; yields one batch at a time.

    Rounds: every window gets a chain (a whole batch when much is left, else a shorter chain
    packed with others), all batches of a round go out in parallel, and what the answers leave
    over becomes the windows of the next round.
    """

    def __init__(
        self, client: ApiClient, windows: list[Window], *, label: str,
        stats: ScanStats | None = None,
    ) -> None:
        self.batcher = Batcher(client)
        self.windows = windows
        self.label = label
        self.stats = stats or ScanStats()
        self._pool = ThreadPoolExecutor(max_workers=MAX_PARALLEL, thread_name_prefix="bitrix24")
        self._running: dict[Future, list[Chain]] = {}
        self._next_round: list[Window] = []
        self._lock = threading.Lock()
        self.miscounts: list[str] = []
        self.refused: list[tuple[Window, str]] = []  # (window, error code): ListCall.refusable

    def close(self) -> None:
        for future in self._running:
            future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- planning ----------------------------------------------------------------------------
    def _plan_round(self, windows: list[Window]) -> list[list[Chain]]:
        big = [w for w in windows if w.est is None or w.est > BATCH_ROWS]
        small = [w for w in windows if not (w.est is None or w.est > BATCH_ROWS)]
        batches: list[list[Chain]] = []
        unknown = [w for w in big if w.est is None]
        known_big = [w for w in big if w.est is not None]
        for w in known_big:
            assert w.est is not None
            if w.est >= 2.2 * BATCH_ROWS and not w.descending:
                # Far more than two batches left: read a batch up from the bottom and one down
                # from the top at the same time (both ends are known, so nothing is wasted).
                pair = Split(w, rows=int(w.est))
                for descending in (False, True):
                    part = Window(w.call, after=w.after, before=w.before, est=BATCH_ROWS,
                                  exact=True, extra=w.extra, descending=descending, count=False,
                                  split=pair)
                    batches.append([self._chain(part, BATCH, False)])
                continue
            counted = w.count and not w.exact and w.est <= 2 * BATCH_ROWS
            batches.append([self._chain(w, BATCH, counted)])
        if unknown:
            # Lists of unknown size (incremental filters): share batches, 50 pages at most each.
            per = max(10, BATCH // len(unknown))
            group: list[Chain] = []
            for w in unknown:
                if sum(len(c.names) for c in group) + per > BATCH:
                    batches.append(group)
                    group = []
                group.append(self._chain(w, per, False))
            if group:
                batches.append(group)
        # Small windows: chains of just the pages they need, first-fit decreasing into batches;
        # an exact window that fits nowhere whole is split over two batches (see Split), so
        # every batch but the last is full.
        pages = Window.pages_needed

        def free(b: list[tuple[Window, int]]) -> int:
            return BATCH - sum(n for _, n in b)

        splittable = [w for w in small if w.exact and not w.descending and w.split is None]
        others = [w for w in small if not any(w is x for x in splittable)]
        bins: list[list[tuple[Window, int]]] = []
        for w in sorted(others, key=pages, reverse=True):
            target = next((b for b in bins if free(b) >= pages(w)), None)
            if target is None:
                bins.append([(w, pages(w))])
            else:
                target.append((w, pages(w)))
        for w in sorted(splittable, key=pages, reverse=True):
            n = pages(w)
            target = next((b for b in bins if free(b) >= n), None)
            if target is not None:
                target.append((w, n))
                continue
            roomiest = max(bins, key=free, default=None)
            room = free(roomiest) if roomiest is not None else 0
            if roomiest is None or room == 0 or n < 2:
                bins.append([(w, n)])
                continue
            split = Split(w, rows=int(w.est or 0))
            up = Window(w.call, after=w.after, before=w.before, est=float(room * PAGE), exact=True,
                        extra=w.extra, count=False, split=split)
            down = Window(w.call, after=w.after, before=w.before, est=(w.est or 0) - room * PAGE,
                          exact=True, extra=w.extra, descending=True, count=True, split=split)
            roomiest.append((up, room))
            bins.append([(down, n - room)])
        for b in bins:
            # Free slots of a batch cost nothing: give them to windows whose size is a guess.
            free = BATCH - sum(n for _, n in b)
            guesses = [i for i, (w, _) in enumerate(b) if not w.exact]
            lengths = [n for _, n in b]
            while free > 0 and guesses:
                for i in guesses:
                    if free == 0:
                        break
                    lengths[i] += 1
                    free -= 1
            batches.append(
                [self._chain(w, n, w.count) for (w, _), n in zip(b, lengths, strict=True)]
            )
        return batches

    def _chain(self, window: Window, length: int, counted_last: bool) -> Chain:
        return Chain(window, self.batcher.names(length), counted_last)

    def _commands(self, chains: list[Chain]) -> dict[str, str]:
        commands: dict[str, str] = {}
        for chain in chains:
            w = chain.window
            static = w.call.static_query(w.extra, w.descending)
            for i, name in enumerate(chain.names):
                last = i == len(chain.names) - 1
                previous = w.call.reference(chain.names[i - 1]) if i else None
                if w.descending:
                    commands[name] = w.call.command(
                        static, after=w.after, before=previous if i else w.before,
                        descending=True, count=chain.counted_last and last,
                    )
                else:
                    commands[name] = w.call.command(
                        static, after=previous if i else w.after, before=w.before,
                        count=chain.counted_last and last,
                    )
        return commands

    # -- running -------------------------------------------------------------------------------
    def _submit_round(self) -> None:
        windows, self.windows = self.windows, []
        if not windows:
            return
        self.stats.rounds += 1
        for chains in self._plan_round(windows):
            commands = self._commands(chains)
            future = self._pool.submit(self.batcher.send, commands)
            self._running[future] = chains

    def next_page(self, _cursor: Any = None) -> Page:
        """One batch's rows (for iter_pages); `next` is None when every window is read."""
        if not self._running:
            self._submit_round()
        if not self._running:
            return Page(rows=[], next=None)
        done, _ = wait(list(self._running), return_when=FIRST_COMPLETED)
        future = next(iter(done))
        chains = self._running.pop(future)
        answer = future.result()
        self.stats.requests += 1
        rows: list[dict[str, Any]] = []
        for chain in chains:
            rows.extend(self._absorb(chain, answer))
        self.stats.rows += len(rows)
        if not self._running:
            self.windows, self._next_round = self._next_round, []
        more = bool(self._running or self.windows)
        return Page(rows=rows, next=self if more else None)

    def _absorb(self, chain: Chain, answer: dict[str, Any]) -> list[dict[str, Any]]:
        """Rows of one chain; queues what is left of its window for the next round."""
        w = chain.window
        call = w.call
        out: list[dict[str, Any]] = []
        last_id = w.before if w.descending else w.after
        remaining: int | None = None
        ended = False
        for i, name in enumerate(chain.names):
            refused = self._refusal(w, answer["result_error"].get(name))
            if refused is not None:
                with self._lock:
                    self.refused.append((w, refused))
                ended = True
                break
            error = Batcher.command_error(answer, name, call.method)
            if error is not None:
                raise error  # the first page, or one after a full page: a real error
            if name not in answer["result"]:
                raise BadResponseError(
                    SOURCE, f"batch: {call.method}", f"command {name} has neither result nor error"
                )
            rows = call.rows_of(answer["result"][name], f"batch: {call.method}")
            self.stats.commands += 1
            out.extend(rows)
            if rows:
                last_id = call.id_of(rows[-1], f"batch: {call.method}")
            if len(rows) < PAGE:
                ended = True
                break
            if i == len(chain.names) - 1 and chain.counted_last:
                total = answer["result_total"].get(name)
                if isinstance(total, int) or (isinstance(total, str) and total.isdigit()):
                    remaining = int(total) - len(rows)
                    if remaining < 0:
                        # Fewer left than this page holds: the count is wrong; read on until
                        # a short page, sized as if nothing were known.
                        self._miscount(f"counted {total} rows from a full page on")
                        remaining = None
        if w.split is not None:
            outcome = {"rows": len(out), "last": last_id if out else None, "short": ended,
                       "below": remaining}
            with self._lock:
                gap = w.split.report("desc" if w.descending else "asc", outcome)
                if gap is not None:
                    self._next_round.append(gap)
            return out
        if w.from_count and w.split is None and w.est is not None:
            # A chain sized from a count reads one page past it: a short page before the count
            # was reached, or a full last page, means the count was wrong.
            if not ended:
                self._miscount(f"counted {w.est:.0f} rows left, more were there")
            elif len(out) != w.est:
                self._miscount(f"counted {w.est:.0f} rows left, {len(out)} were there")
        if ended:
            return out  # only a short page ends a window, never a count
        if w.descending:
            rest = Window(call, after=w.after, before=last_id, est=None, extra=w.extra,
                          descending=True, count=w.count)
        elif remaining is not None:
            # Even a count of 0 after a full page gets a probe page (see Window.from_count).
            rest = Window(call, after=last_id, before=w.before, est=remaining, exact=True,
                          extra=w.extra, count=w.count, from_count=True)
        else:
            left = None if w.est is None else w.est - len(out)
            exact = w.exact and left is not None and left > 0
            est = left if exact or left is None else max(float(PAGE), left)
            rest = Window(call, after=last_id, before=w.before, est=est, exact=exact,
                          extra=w.extra, count=w.count, from_count=w.from_count and exact)
        if rest.holds_no_ids() and w.on_rest is None:
            return out  # read up to the next window's first id: nothing can be left
        if w.on_rest is not None:
            w.on_rest(rest)
        else:
            with self._lock:
                self._next_round.append(rest)
        return out

    @staticmethod
    def _refusal(window: Window, raw_error: Any) -> str | None:
        if raw_error is None or not window.call.refusable:
            return None
        parsed = api_error_of(raw_error)
        code = parsed[0].upper() if parsed else ""
        return code if code in window.call.refusable else None

    def _miscount(self, what: str) -> None:
        with self._lock:
            self.miscounts.append(what)

    def pages(self, ctx: ExtractContext, endpoint: str) -> Iterator[list[dict[str, Any]]]:
        try:
            yield from iter_pages(
                self.next_page, self, source=SOURCE, endpoint=endpoint,
                row_key=lambda row: row.get("id", row.get("ID")),
                report=ctx.report, progress=ctx.progress,
            )
        finally:
            self.close()
        if self.miscounts:
            # Nothing was lost (windows end on short pages only), but a count that disagrees
            # with the rows is worth knowing: the portal is changing fast or miscounting.
            message = (
                f"{SOURCE} batch: {endpoint}: the portal's count of rows left disagreed with the "
                f"rows {len(self.miscounts)} time(s) (e.g. {self.miscounts[0]}); read on until "
                "a short page, so nothing was lost"
            )
            ctx.report.warnings.append(message)
            ctx.progress(message)


# --- full scan of a big list ----------------------------------------------------------------


def full_scan(ctx: ExtractContext, call: ListCall, label: str, stats: ScanStats | None = None
              ) -> Iterator[list[dict[str, Any]]]:
    """Every record: 25 pages up from the lowest id and 25 down from the highest in the first
    request, then the middle between them (see the module doc)."""
    ends: dict[str, Window] = {}
    half = BATCH // 2
    up = Window(call, est=half * PAGE, exact=True, count=False,
                on_rest=lambda rest: ends.__setitem__("up", rest))
    down = Window(call, est=half * PAGE, exact=True, descending=True, count=False,
                  on_rest=lambda rest: ends.__setitem__("down", rest))
    ids: list[int] = []
    first = Scan(ctx.client, [up, down], label=label, stats=stats)
    for rows in first.pages(ctx, call.method):
        ids.extend(call.id_of(row, call.method) for row in rows)
        yield rows
    if "up" not in ends or "down" not in ends:
        return  # one chain ran out of records: the whole list has been read
    lo, hi = ends["up"].after, ends["down"].before
    if lo is None or hi is None or lo + 1 >= hi or not ids:
        return  # the chains met
    spread = (lo - min(ids) + 1) + (max(ids) - hi + 1)
    density = min(1.0, len(set(ids)) / spread) if spread > 0 else 1.0
    expected = density * (hi - lo - 1)
    windows = split_middle(call, lo, hi, expected)
    ctx.progress(
        f"bitrix24 {label}: ids {min(ids)}..{max(ids)}, about {expected:.0f} records left "
        f"between {lo} and {hi}, read in {len(windows)} window(s)"
    )
    middle = Scan(ctx.client, windows, label=label, stats=stats)
    yield from middle.pages(ctx, call.method)


def split_middle(call: ListCall, lo: int, hi: int, expected: float) -> list[Window]:
    """The middle (lo, hi) as one window, or as several read in parallel when the list is big
    enough that the extra request this may cost stays within 10 % of the minimum."""
    minimum = 1 + math.ceil(expected / BATCH_ROWS)
    parts = 1
    if minimum >= 10:
        parts = max(1, min(MAX_PARALLEL, int(expected // (2 * BATCH_ROWS))))
    if parts == 1:
        return [Window(call, after=lo, before=hi, est=expected)]
    span = hi - lo - 1
    edges = [lo + round(span * i / parts) for i in range(parts)] + [hi - 1]
    return [
        Window(call, after=edges[i], before=edges[i + 1] + 1,
               est=expected * (edges[i + 1] - edges[i]) / span)
        for i in range(parts)
    ]


def filtered_scan(ctx: ExtractContext, calls: list[ListCall], label: str,
                  stats: ScanStats | None = None) -> Iterator[list[dict[str, Any]]]:
    """Everything matching each call's filter (incremental reads), keyset-paged by id."""
    scan = Scan(ctx.client, [Window(c, count=False) for c in calls], label=label, stats=stats)
    yield from scan.pages(ctx, calls[0].method)


def _shape(value: Any) -> str:
    if isinstance(value, dict):
        return "an object with keys " + ", ".join(sorted(map(str, value))[:8])
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return type(value).__name__
