"""Issue 15: our extraction of ApiPay invoices + Adesk movements beside dlt's `rest_api`, one run.

The sandbox (`sandbox_server.py`, a process of its own) serves a world of `--invoices` invoices
(ApiPay's share: 18,462 at the default 60,000; `--apipay-invoices` sets it alone) and about
`--transactions` Adesk movements (the default 293,420 renders 300,766 at seed 42, the nearest
world to the issue's 300,764) over real HTTP on 127.0.0.1, with NO rate limit for either side:
the server's limit is raised to 100,000/s (burst 100,000) for every API, dlt has no client
limiter, and ours is raised to the same through the documented `<SOURCE>_RATE_LIMIT`,
`_RATE_BURST` and `_RATE_START` variables. Latency per request is `--latency` (default 0).

Each path reads the same two lists into a fresh DuckDB file, in a subprocess of its own (whole
processes: interpreter start, imports and peak RSS count alike), ApiPay first, then Adesk:

- ours: what `benchmarks/load_1m.py` drives, the assets' code: the live-mode resource built from
  the environment the sandbox prints (`load_settings` + the source's `resource`), then
  `run_extraction` of the `invoices` / `transactions` entity as a full refresh (paging proven by
  the lists' counts, staging, the DuckDB merge into raw.<table>, deletion marking, cursor).
- dlt: `rest_api_source` against the same endpoints with the same paging, filters and page size
  as ours (sources: shared/api-docs/apipay-invoices.md and adesk-api.md, the sandbox code):
    ApiPay `GET /invoices`, header `X-API-Key`, `per_page=100` (the documented maximum),
    `sort_by=id&sort_order=asc`, records at `data`; a page-number paginator from page 1. The
    answer's `meta.total` counts invoices, not pages (dlt's `total_path` is a page count), so dlt
    stops at the first empty page: one request more than ours.
    Adesk `GET /v1/transactions`, `api_token` in the query (v1), `status=all&type=all&
    range=all_time&date_type=cashier&owner_transfer=all&taxes=all` (ours sends the same),
    records at `transactions`; an offset paginator (`start`/`length`, length 1000 as ours) with
    the total at `recordsFiltered`.
  `write_disposition="merge"`, `primary_key="id"`, one pipeline (fresh pipelines_dir, telemetry
  off, dlt's other settings at their defaults) run once per source into the duckdb destination.
  dlt's warnings (columns of nulls only) are silenced with RUNTIME__LOG_LEVEL=ERROR; a failed
  load job still raises. Rows (`--dlt-formats`, default `parquet`): `dlt-parquet`
  (`loader_file_format="parquet"`, the issue's comparison). Opt-in, neither usable here:
  `dlt-jsonl` fails on these movements (dlt 1.31 loads JSONL into duckdb with `read_json`'s
  sampled schema: "has unknown key transfer_id", a key that first appears after line 29,095;
  dlt's duckdb/duck.py says so itself: "loading JSON does not work in practice on duckdb"), and
  `dlt-default`, dlt's real default file format for duckdb (`insert_values`, not JSONL), peaked
  at 4.2 GiB RSS and took 82 s on only 924 invoices + 20,483 movements.

Measured per path and repeat (`--repeat`, the paths' order rotated each repeat): the wall time
of the whole subprocess (from spawn to exit, seen by this process), the seconds of each source
inside it, requests (ours: the client's stats; dlt: the sandbox's counter difference is not
split per process, so ours only), rows landed per table (counted afterwards from the DuckDB file:
rows and distinct ids, which must both equal the world's count; exit 1 if not), and the peak
RSS of the subprocess (its VmHWM at exit; `wait4`'s ru_maxrss covers any child it spawned).
Printed: a table per repeat and the medians, with ratio = ours / dlt-parquet (issue target:
below 1, "keep ahead"; 0.63 when the issue was written).

dlt is not a dependency of the pipeline: install it with `.venv/bin/pip install -e ".[bench]"`
(the script exits 2 without it).

    .venv/bin/python benchmarks/vs_dlt.py                               # the issue's size, 1 repeat
    .venv/bin/python benchmarks/vs_dlt.py --repeat 3
    .venv/bin/python benchmarks/vs_dlt.py --invoices 6500 --transactions 30000 --dlt-formats parquet
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import PYTHON, ROOT, peak_rss_mb, sandbox_process, say, table

# (source, entity) read by both paths; the world's count of each, from the sandbox's ready line.
ENTITIES = (("apipay", "invoices"), ("adesk", "transactions"))
WORLD_COUNT = {"apipay": "apipay_invoices", "adesk": "adesk_transactions"}
UNLIMITED = "100000"  # requests/s and burst for the server and for our client: no limit at all
DLT_DATASET = "dlt_bench"
APIPAY_PER_PAGE = 100  # apipay-invoices.md: per_page 1-100 (ours: apipay.entities.PER_PAGE)
ADESK_LENGTH = 1000  # ours: adesk.resource.MAX_PAGE_LENGTH, what the sandbox allows per page
# Every filter explicit, as finance_pipeline/sources/adesk/entities.py fetch_transactions sends.
ADESK_PARAMS = {
    "status": "all",
    "type": "all",
    "range": "all_time",
    "date_type": "cashier",
    "owner_transfer": "all",
    "taxes": "all",
}
INSTALL_HINT = (
    "dlt is not installed (it is not a dependency of the pipeline). Install the benchmark extra:\n"
    '    .venv/bin/pip install -e ".[bench]"'
)


# --- the worker: one path in this (sub)process -------------------------------------------------


def run_ours(database: Path) -> dict[str, Any]:
    """The pipeline's own extraction (as load_1m.py drives it): full refresh per entity."""
    from finance_pipeline.config import load_settings
    from finance_pipeline.sources.extraction import ExtractConfig, run_extraction
    from finance_pipeline.sources.registry import BY_NAME
    from finance_pipeline.warehouse.resource import WarehouseResource

    settings = load_settings(dict(os.environ))
    warehouse = WarehouseResource(path=str(database))
    tables: dict[str, str] = {}
    seconds: dict[str, float] = {}
    requests: dict[str, int] = {}
    for source, entity in ENTITIES:
        declaration = BY_NAME[source]
        spec = next(s for s in declaration.entities if s.entity == entity)
        resource = declaration.resource(settings).process_config_and_initialize()
        started = time.perf_counter()
        meta = run_extraction(
            spec,
            resource=resource,
            warehouse=warehouse,
            config=ExtractConfig(full_refresh=True),
            run_id=f"vs-dlt-{source}-{entity}",
            log=lambda message: None,
        )
        seconds[source] = time.perf_counter() - started
        requests[source] = int(meta["http_requests"])
        # Live rows only: a full refresh marks vanished ids deleted (none on a fresh file).
        tables[source] = f"raw.{spec.table} WHERE deleted_at IS NULL"
    return {"tables": tables, "seconds": seconds, "requests": requests}


def rest_api_config(base_url: str, auth: dict[str, str], name: str, endpoint: dict[str, Any]
                    ) -> dict[str, Any]:
    """A dlt rest_api config of one resource, merged on `id` (as ours lands it)."""
    return {
        "client": {"base_url": base_url, "auth": {"type": "api_key", **auth}},
        "resource_defaults": {"write_disposition": "merge", "primary_key": "id"},
        "resources": [{"name": name, "endpoint": endpoint}],
    }


def apipay_config() -> dict[str, Any]:
    """dlt rest_api config of ApiPay `GET /invoices` (see the module doc for the sources)."""
    return rest_api_config(
        os.environ["APIPAY_BASE_URL"].rstrip("/") + "/",
        {"name": "X-API-Key", "api_key": os.environ["APIPAY_API_KEY"], "location": "header"},
        "invoices",
        {
            "path": "invoices",
            "params": {"per_page": APIPAY_PER_PAGE, "sort_by": "id", "sort_order": "asc"},
            "data_selector": "data",
            # meta.total counts invoices, dlt's total_path wants pages: stop when empty.
            "paginator": {
                "type": "page_number",
                "base_page": 1,
                "page_param": "page",
                "total_path": None,
                "stop_after_empty_page": True,
            },
        },
    )


def adesk_config() -> dict[str, Any]:
    """dlt rest_api config of Adesk `GET /v1/transactions` (see the module doc)."""
    return rest_api_config(
        os.environ["ADESK_BASE_URL"].rstrip("/") + "/v1/",
        # adesk-api.md: v1 takes the token as the `api_token` query parameter.
        {"name": "api_token", "api_key": os.environ["ADESK_API_TOKEN"], "location": "query"},
        "transactions",
        {
            "path": "transactions",
            "params": dict(ADESK_PARAMS),
            "data_selector": "transactions",
            "paginator": {
                "type": "offset",
                "limit": ADESK_LENGTH,
                "offset_param": "start",
                "limit_param": "length",
                "total_path": "recordsFiltered",
            },
        },
    )


def run_dlt(database: Path, workdir: Path, file_format: str | None) -> dict[str, Any]:
    """dlt's rest_api into the duckdb destination, merge on id; `file_format` None = default."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")  # no network
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")  # not a warning per all-null column
    import dlt
    from dlt.sources.rest_api import rest_api_source

    pipeline = dlt.pipeline(
        pipeline_name="vs_dlt",
        destination=dlt.destinations.duckdb(str(database)),
        dataset_name=DLT_DATASET,
        pipelines_dir=str(workdir / "dlt_pipelines"),
    )
    tables: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for (source, entity), config in zip(ENTITIES, (apipay_config(), adesk_config()), strict=True):
        started = time.perf_counter()
        options = {"loader_file_format": file_format} if file_format else {}
        info = pipeline.run(rest_api_source(config, name=source), **options)
        info.raise_on_failed_jobs()
        seconds[source] = time.perf_counter() - started
        tables[source] = f"{DLT_DATASET}.{entity}"
    return {"tables": tables, "seconds": seconds, "requests": {}}


def worker(path: str, database: Path, workdir: Path, result: Path) -> int:
    if path == "ours":
        figures = run_ours(database)
    else:
        file_format = path.removeprefix("dlt-")
        figures = run_dlt(database, workdir, None if file_format == "default" else file_format)
    figures["vmhwm_mb"] = peak_rss_mb()
    result.write_text(json.dumps(figures))
    return 0


# --- the driver: the sandbox, the subprocesses, the tables -------------------------------------


@dataclass
class PathRun:
    path: str
    repeat: int
    wall: float
    seconds: dict[str, float]
    requests: dict[str, int]
    rows: dict[str, tuple[int, int]]  # source -> (rows, distinct ids)
    peak_mb: float
    maxrss_mb: float
    file_mb: float
    problems: list[str] = field(default_factory=list)


def count_rows(database: Path, tables: dict[str, str]) -> dict[str, tuple[int, int]]:
    import duckdb

    with duckdb.connect(str(database), read_only=True) as conn:
        return {
            source: conn.execute(f"SELECT count(*), count(DISTINCT id) FROM {where}").fetchone()
            for source, where in tables.items()
        }


def run_path(path: str, repeat: int, env: dict[str, str], world: dict[str, int]) -> PathRun:
    workdir = Path(tempfile.mkdtemp(prefix=f"vs_dlt_{path}_"))
    database, result = workdir / "warehouse.duckdb", workdir / "result.json"
    child_env = {
        **os.environ,
        **env,
        "FINANCE_RATE_LIMIT_DIR": str(workdir / "buckets"),  # nothing learned carried over
    }
    for source, _ in ENTITIES:
        for knob in ("LIMIT", "BURST", "START"):
            child_env[f"{source.upper()}_RATE_{knob}"] = UNLIMITED
    command = [PYTHON, __file__, "--worker", path, "--database", str(database),
               "--workdir", str(workdir), "--result", str(result)]
    log = workdir / "stderr.log"
    started = time.perf_counter()
    with log.open("w") as stderr:
        process = subprocess.Popen(command, cwd=ROOT, env=child_env, stderr=stderr)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    try:
        if process.returncode != 0 or not result.exists():
            return PathRun(path, repeat, wall, {}, {}, {}, 0.0, usage.ru_maxrss / 1024, 0.0,
                           [f"{path}: the subprocess exited with {process.returncode}: "
                            f"{last_error(log)}"])
        figures = json.loads(result.read_text())
        rows = count_rows(database, figures["tables"])
        run = PathRun(
            path=path,
            repeat=repeat,
            wall=wall,
            seconds=figures["seconds"],
            requests=figures["requests"],
            rows=rows,
            peak_mb=figures["vmhwm_mb"],
            maxrss_mb=usage.ru_maxrss / 1024,
            file_mb=database.stat().st_size / 2**20,
        )
        for source, (count, distinct) in rows.items():
            expected = world[WORLD_COUNT[source]]
            if count != expected or distinct != expected:
                run.problems.append(
                    f"{path}: {source} landed {count:,} rows ({distinct:,} distinct ids), "
                    f"the world has {expected:,}"
                )
        return run
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def last_error(log: Path) -> str:
    """The subprocess's last exception line (its whole stderr is thrown away with the files)."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
    errors = [line for line in lines if "Error" in line or "Exception" in line]
    return (errors or lines or ["(no output)"])[-1][:400]


def run_row(run: PathRun, ours_wall: float | None) -> list[Any]:
    compared = ours_wall and run.path != "ours" and not run.problems
    ratio = ours_wall / run.wall if compared else None
    return [
        f"{run.repeat} {run.path}",
        run.rows.get("apipay", (None,))[0],
        run.rows.get("adesk", (None,))[0],
        run.seconds.get("apipay"),
        run.seconds.get("adesk"),
        run.wall,
        ratio,
        run.peak_mb,
        run.maxrss_mb,
        run.file_mb,
    ]


HEADERS = ["repeat path", "apipay rows", "adesk rows", "apipay s", "adesk s", "wall s",
           "ours/this", "peak MiB", "maxrss MiB", "file MiB"]


def median_row(path: str, runs: list[PathRun], ours_wall: float | None) -> list[Any]:
    def med(values: list[float]) -> float | None:
        return statistics.median(values) if values else None

    wall = med([r.wall for r in runs])
    return [
        f"med {path}",
        runs[0].rows.get("apipay", (None,))[0],
        runs[0].rows.get("adesk", (None,))[0],
        med([r.seconds["apipay"] for r in runs if "apipay" in r.seconds]),
        med([r.seconds["adesk"] for r in runs if "adesk" in r.seconds]),
        wall,
        ours_wall / wall if ours_wall and wall and path != "ours" else None,
        med([r.peak_mb for r in runs]),
        med([r.maxrss_mb for r in runs]),
        med([r.file_mb for r in runs]),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=60_000,
                        help="invoices of the three systems (ApiPay's share: 18,462 at 60,000)")
    parser.add_argument("--transactions", type=int, default=293_420,
                        help="about this many Adesk movements (WorldSize.scaled)")
    parser.add_argument("--apipay-invoices", type=int, help="ApiPay's invoices alone")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--dlt-formats", default="parquet",
                        help="dlt loader file formats, one row each, e.g. parquet,jsonl,default "
                        "('default' = dlt's own, insert_values for duckdb: GiBs of RSS)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--database", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.database, args.workdir, args.result)

    if importlib.util.find_spec("dlt") is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    formats = [f for f in args.dlt_formats.split(",") if f]
    paths = ["ours", *(f"dlt-{f}" for f in formats)]
    from importlib.metadata import version

    server_args = [
        "--invoices", str(args.invoices), "--transactions", str(args.transactions),
        "--latency", str(args.latency), "--server-rate", UNLIMITED, "--server-burst", UNLIMITED,
    ]
    if args.apipay_invoices:
        server_args += ["--apipay-invoices", str(args.apipay_invoices)]
    runs: list[PathRun] = []
    with sandbox_process(server_args) as box:
        world = box.world
        say(f"sandbox up in {box.startup_seconds:.0f} s (pid {box.process.pid}): ApiPay "
            f"{world['apipay_invoices']:,} invoices, Adesk {world['adesk_transactions']:,} "
            f"movements; no rate limit on either side (server and our client at {UNLIMITED}/s), "
            f"latency {args.latency:g} s; dlt {version('dlt')}, duckdb {version('duckdb')}")
        say(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for repeat in range(1, args.repeat + 1):
            shift = (repeat - 1) % len(paths)
            for path in paths[shift:] + paths[:shift]:
                run = run_path(path, repeat, box.env, world)
                runs.append(run)
                say(f"  repeat {repeat} {path}: {run.wall:.1f} s, rows "
                    + ", ".join(f"{s} {c:,}" for s, (c, _) in run.rows.items())
                    + f", peak {run.peak_mb:.0f} MiB" + "".join(f"  !! {p}" for p in run.problems))
    load = os.getloadavg()
    say("")
    by_repeat_ours = {r.repeat: r.wall for r in runs if r.path == "ours"}
    rows = [run_row(r, by_repeat_ours.get(r.repeat)) for r in runs]
    ours_median = statistics.median(by_repeat_ours.values())
    rows += [median_row(p, [r for r in runs if r.path == p and not r.problems], ours_median)
             for p in paths if any(r.path == p and not r.problems for r in runs)]
    say(table(HEADERS, rows, title=(
        "Full extraction of ApiPay invoices + Adesk movements into a fresh DuckDB file, each path "
        "a whole subprocess (wall = spawn to exit; ours/this = ours' wall / this row's)")))
    requests = {r.repeat: r.requests for r in runs if r.path == "ours"}
    if requests:
        say(f"our requests: {next(iter(requests.values()))}; sandbox counted "
            f"{ {s: c.get('requests', 0) for s, c in box.counters.items() if c} } over every "
            "path and repeat")
    ratios = [by_repeat_ours[r.repeat] / r.wall for r in runs
              if r.path == "dlt-parquet" and r.repeat in by_repeat_ours and not r.problems]
    if ratios:
        say(f"ours / dlt-parquet, median of the per-repeat ratios: {statistics.median(ratios):.2f}"
            f" (issue 15: keep below 1; 0.63 when filed)")
    say(f"load average at the end: {' '.join(f'{x:.2f}' for x in load)}")
    problems = [p for r in runs for p in r.problems]
    for problem in problems:
        say(f"FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
