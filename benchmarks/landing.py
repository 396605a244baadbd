"""Issue 15 "Land at DuckDB's speed": our landing path vs DuckDB's own NDJSON reader, one run.

The rows of the issue's measurement (18,462 ApiPay invoices and 300,764 Adesk movements by
default), generated in the shapes the sandbox renders (`sandbox/apipay.py` `_render_invoice`,
`sandbox/adesk.py` `_TransactionRenderer.render`: nested bank account, category, contractor,
project, tags; money as strings), are written to one NDJSON file per entity, one record per
line. HTTP is out of the way. Then, in this one process, each path lands both files into a
fresh DuckDB warehouse (connections from `warehouse.connect`, so the same `memory_limit`),
`--repeat` times, alternating:

- ours: page by page (`--page-size`, 100 like both APIs' pages). Each page becomes the body an
  API answers (`{"success":true,"transactions":[...],"recordsFiltered":n}` for Adesk,
  `{"data":[...],"meta":{...}}` for ApiPay; the records compact, as the sandbox writes them;
  building it is the server's work and is not timed), which the HTTP client parses
  (`http/answer.py` `parse_answer`, what `ApiClient` does with every body: timed apart as
  `(parse)`, NOT counted as landing; the paginators need the parsed records either way), then
  exactly what the fetch and `run_extraction` do with it: `verbatim_records(body, key)` (the
  fetch's page), the page's cursor (`cursor_of` of the entity's spec), `PageStager.add`, and at
  the end one `land()` with the cursor, as a full refresh (complete snapshot: deletion marking
  runs too).
- DuckDB: `INSERT INTO raw.<table> SELECT json->>'$.id', json, md5(json), ... FROM
  read_ndjson_objects(file)` into the same raw table (same DDL, primary key on id).

Prints per repetition and the median: seconds of each path, the ratio (target <= 1.5), and the
peak RSS of each phase (VmHWM, reset before each phase); the verdict uses the median of the
per-repetition ratios. Then a re-run of our path on the
filled warehouse (nothing changed: every row 'unchanged') for the cost of an incremental-style
merge. Exits 1 if the landed tables differ between the two paths (ids or md5 of the payloads).

    .venv/bin/python benchmarks/landing.py
    .venv/bin/python benchmarks/landing.py --invoices 2000 --transactions 30000 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import peak_rss_mb, reset_peak_rss, rss_mb

from finance_pipeline.http.answer import parse_answer, verbatim_records
from finance_pipeline.sources import adesk, apipay
from finance_pipeline.sources.extraction import EntitySpec, later_cursor, page_cursor
from finance_pipeline.warehouse.connection import connect
from finance_pipeline.warehouse.landing import PageStager, land, raw_table_ddl

ISSUE_INVOICES = 18_462
ISSUE_TRANSACTIONS = 300_764


# --- rows in the sandbox's shapes -------------------------------------------------------------


def apipay_invoice(i: int, rng: random.Random) -> dict[str, Any]:
    created = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=37 * i)
    paid = rng.random() < 0.7
    items = [
        {
            "Name": f"Товар {rng.randint(1, 500)}",
            "Price": rng.choice([1500, 2990.5, 12000, 450]),
            "Count": rng.randint(1, 5),
            "NomenclatureId": rng.randint(1000, 9999),
            "Type": "PRODUCT",
            "UnitId": 796,
        }
        for _ in range(rng.randint(1, 3))
    ]
    stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "id": i,
        "kaspi_invoice_id": str(13_234_000_000 + i * 37),
        "amount": f"{rng.randint(1000, 900000)}.{rng.randint(0, 99):02d}",
        "status": "paid" if paid else rng.choice(["pending", "cancelled", "expired"]),
        "description": f"Заказ №{100000 + i}",
        "external_order_id": f"ORD-{i:07d}",
        "phone_number": f"7707{rng.randint(1000000, 9999999)}",
        "client_name": None,
        "client_comment": None,
        "is_sandbox": False,
        "total_refunded": "0.00",
        "is_fully_refunded": False,
        "cart_items": items,
        "paid_at": (created + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ") if paid else None,
        "created_at": stamp,
        "updated_at": stamp,
    }


def adesk_transaction(i: int, rng: random.Random) -> dict[str, Any]:
    day = date(2022, 1, 1) + timedelta(days=i // 200)  # lists come sorted by date: ~200 a day
    dmy = f"{day.day:02d}.{day.month:02d}.{day.year:04d}"
    planned = rng.random() < 0.05
    income = rng.random() < 0.45
    account = rng.randint(1, 12)
    category = rng.randint(1, 60)
    contractor = rng.randint(1, 2500)
    return {
        "id": i,
        "isSplitted": False,
        "splitId": None,
        "amount": str(rng.randint(100, 2_000_000)) if rng.random() < 0.5 else f"{rng.randint(100, 99999)}.{rng.randint(1, 99):02d}",
        "date": dmy,
        "dateIso": f"{day.year:04d}.{day.month:02d}.{day.day:02d}",
        "type": 1 if income else 2,
        "description": f"Оплата по счёту №{rng.randint(1, 99999)} от {dmy}",
        "dateFormatted": dmy,
        "relatedDate": dmy,
        "confirmAccrual": True,
        "isPlanned": planned,
        "isReadyToBeConfirmed": False,
        "isPeriodic": False,
        "periodicChain": None,
        "period": None,
        "isCommitment": False,
        "isTransfer": False,
        "bankAccount": {
            "id": account,
            "type": 2,
            "name": f"Расчётный счёт {account}",
            "bankCode": "044525225",
            "bankName": "ПАО Сбербанк",
            "number": f"40702810{account:012d}",
            "correspondentAccount": "",
            "currency": "RUB",
            "legalEntity": {"id": 1 + account % 3, "name": "ООО «Ромашка»"},
        },
        "category": {
            "kind": 1,
            "isOwnerTransfer": False,
            "name": f"Статья {category}",
            "isSystem": False,
            "type": 1 if income else 2,
            "id": category,
            "group": {"id": 1 + category % 8, "name": f"Группа {1 + category % 8}"},
        },
        "contractor": {
            "id": contractor,
            "name": f"ООО «Контрагент {contractor}»",
            "contactPerson": "",
            "phoneNumber": "+7 999 342 22 43",
            "email": f"info{contractor}@example.ru",
        },
        "project": None if rng.random() < 0.6 else {
            "id": rng.randint(1, 300), "name": "Проект", "isFinished": False,
            "category": {"id": 1, "name": "Направление"},
        },
        "business_unit": None,
        "tags": [] if rng.random() < 0.8 else [{"id": 3, "name": "важное", "color": "#ff0000"}],
    }


def write_ndjson(path: Path, count: int, make: Callable[[int, random.Random], dict[str, Any]]) -> int:
    rng = random.Random(15)
    with path.open("w", encoding="utf-8") as out:
        for i in range(1, count + 1):
            out.write(json.dumps(make(i, rng), ensure_ascii=False, separators=(",", ":")) + "\n")
    return path.stat().st_size


# --- the two paths ----------------------------------------------------------------------------


# Where each entity's records are in its API's answer, and the rest of the answer around them.
RECORDS_KEY = {"apipay_invoices": "data", "adesk_transactions": "transactions"}


def answer_body(table: str, lines: list[bytes], total: int, page: int, page_size: int) -> bytes:
    """One page as the API answers it: the records as sent, inside the answer's envelope."""
    records = b"[" + b",".join(line.rstrip(b"\n") for line in lines) + b"]"
    if table == "adesk_transactions":
        return b'{"success":true,"transactions":' + records + b',"recordsFiltered":%d}' % total
    last = -(-total // page_size)
    return (b'{"data":' + records + b',"meta":{"current_page":%d,"per_page":%d,"total":%d,'
            b'"last_page":%d}}' % (page, page_size, total, last))


def answers_of(path: Path, table: str, page_size: int, seconds: list[float]) -> Iterator[Any]:
    """The file's records as the HTTP client hands them to a fetch: one parsed answer per page.
    Adds the time spent parsing to seconds[0] and building the bodies (the server's work) to
    seconds[1]: the caller counts neither as landing."""
    started = time.perf_counter()
    with path.open("rb") as handle:
        total = sum(1 for _ in handle)
        handle.seek(0)
        for page in range(1, total // page_size + 2):
            lines = [line for _, line in zip(range(page_size), handle, strict=False)]
            if not lines:
                break
            body = answer_body(table, lines, total, page, page_size)
            parsing = time.perf_counter()
            seconds[1] += parsing - started
            answer = parse_answer(body)
            started = time.perf_counter()
            seconds[0] += started - parsing
            yield answer
            started = time.perf_counter()
    seconds[1] += time.perf_counter() - started


def land_ours(db: Path, spec: EntitySpec, path: Path, page_size: int) -> tuple[float, float, float, Any]:
    """(staging seconds, landing seconds, parsing seconds, LandingResult): staging is the
    Python side (the fetch's page, the cursor and `PageStager.add`, per page, parsing
    excluded), landing the DuckDB side (`land`: read, id, hash, merge, commit)."""
    parse = [0.0, 0.0]  # parsing (the client's), building the bodies (the server's)
    key = RECORDS_KEY[spec.table]
    started = time.perf_counter()
    cursor: str | None = None
    with PageStager(spec.id_paths) as stager:
        for answer in answers_of(path, spec.table, page_size, parse):
            page = verbatim_records(answer, key)
            if spec.cursor_of is not None:
                cursor = later_cursor(cursor, page_cursor(spec.cursor_of, page))
            stager.add(page)
        stager.finish()
        assert stager.verbatim_rows == stager.rows, "a page was not staged as the server's text"
        staged = time.perf_counter()
        with connect(db) as conn:
            result = land(
                conn, table=spec.table, stager=stager, run_id="bench", entity=spec.table,
                new_cursor=cursor, complete_snapshot=True, scope_json_path=spec.scope_json_path,
            )
        landed = time.perf_counter()
    return staged - started - parse[0] - parse[1], landed - staged, parse[0], result


def land_duckdb(db: Path, table: str, path: Path) -> float:
    started = time.perf_counter()
    with connect(db) as conn:
        conn.execute(raw_table_ddl(table))
        conn.execute(
            f"""
            INSERT INTO raw.{table}
            SELECT json->>'$.id', json, md5(json::VARCHAR), now(), 'bench', now(), now(), NULL
            FROM read_ndjson_objects('{path}')
            """
        )
    return time.perf_counter() - started


def fingerprint(db: Path, table: str) -> tuple[int, str]:
    with connect(db, read_only=True) as conn:
        row = conn.execute(
            f"SELECT count(*), md5(string_agg(id || ':' || content_hash, ',' ORDER BY id)) FROM raw.{table}"
        ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def line(label: str, row: tuple[float, float, float, float, float], ours_peak: float, duck_peak: float) -> str:
    total, staging, landing, parse, duck = row
    return (
        f"{label:>4} {total:>7.2f} {staging:>8.2f} {landing:>8.2f} {parse:>8.2f} {duck:>9.2f} "
        f"{total / duck:>6.2f} {landing / duck:>15.2f} {ours_peak:>14.0f} {duck_peak:>16.0f}"
    )


def phase(label: str, fn: Callable[[], Any]) -> tuple[Any, float]:
    reset_peak_rss()
    value = fn()
    peak = peak_rss_mb()
    return value, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=ISSUE_INVOICES)
    parser.add_argument("--transactions", type=int, default=ISSUE_TRANSACTIONS)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    specs = {
        "invoices": next(s for s in apipay.ENTITIES if s.entity == "invoices"),
        "transactions": next(s for s in adesk.ENTITIES if s.entity == "transactions"),
    }
    with tempfile.TemporaryDirectory(prefix="landing_bench_") as tmp:
        work = Path(tmp)
        files = {
            "invoices": (work / "apipay_invoices.ndjson", args.invoices, apipay_invoice),
            "transactions": (work / "adesk_transactions.ndjson", args.transactions, adesk_transaction),
        }
        for name, (path, count, make) in files.items():
            size = write_ndjson(path, count, make)
            print(f"{specs[name].table}: {count:,} records, {size / 2**20:.1f} MiB of NDJSON")
        print(f"RSS before landing: {rss_mb():.0f} MiB; page size {args.page_size}\n")

        header = (
            f"{'run':>4} {'ours s':>7} {'staging':>8} {'landing':>8} {'(parse)':>8} {'duckdb s':>9} "
            f"{'ratio':>6} {'landing/duckdb':>15} {'ours peak MiB':>14} {'duckdb peak MiB':>16}"
        )
        print(header)
        rows: list[tuple[float, float, float, float, float]] = []
        ours_peaks, duck_peaks = [], []
        ours_db = duck_db = work / "none"
        for run in range(1, args.repeat + 1):
            ours_db, duck_db = work / f"ours_{run}.duckdb", work / f"duckdb_{run}.duckdb"

            def ours(db: Path = ours_db) -> tuple[float, float, float]:
                staging = landing = parse = 0.0
                for name, (path, _, _) in files.items():
                    staged, landed, parsed, _ = land_ours(db, specs[name], path, args.page_size)
                    staging, landing, parse = staging + staged, landing + landed, parse + parsed
                return staging, landing, parse

            def duck(db: Path = duck_db) -> float:
                return sum(land_duckdb(db, specs[n].table, p) for n, (p, _, _) in files.items())

            # Alternate which path goes first: the second one finds the input in the page cache.
            if run % 2:
                (staging_s, landing_s, parse_s), ours_peak = phase("ours", ours)
                duck_s, duck_peak = phase("duckdb", duck)
            else:
                duck_s, duck_peak = phase("duckdb", duck)
                (staging_s, landing_s, parse_s), ours_peak = phase("ours", ours)
            rows.append((staging_s + landing_s, staging_s, landing_s, parse_s, duck_s))
            ours_peaks.append(ours_peak)
            duck_peaks.append(duck_peak)
            print(line(str(run), rows[-1], ours_peak, duck_peak))
        medians = tuple(statistics.median(r[i] for r in rows) for i in range(5))
        print(line("med", medians, max(ours_peaks), max(duck_peaks)))  # type: ignore[arg-type]
        # On a shared machine a repeat's two paths see the same load: the median of the
        # per-repeat ratios is steadier than the ratio of the medians.
        ratio = statistics.median(r[0] / r[4] for r in rows)
        landing_ratio = statistics.median(r[2] / r[4] for r in rows)
        print(f"median of the per-repeat ratios: {ratio:.2f} (landing alone {landing_ratio:.2f})")

        same = True
        for name in files:
            table = specs[name].table
            mine, theirs = fingerprint(ours_db, table), fingerprint(duck_db, table)
            same = same and mine == theirs
            print(f"{table}: ours {mine[0]:,} rows, duckdb {theirs[0]:,} rows, "
                  f"ids and md5 {'identical' if mine == theirs else 'DIFFER'}")

        def rerun() -> tuple[float, float]:
            staging = landing = 0.0
            for name, (path, _, _) in files.items():
                staged, landed, _, result = land_ours(ours_db, specs[name], path, args.page_size)
                assert result.unchanged == result.fetched, result
                staging, landing = staging + staged, landing + landed
            return staging, landing

        (staging_s, landing_s), rerun_peak = phase("rerun", rerun)
        print(f"\nours again on the filled warehouse (every row unchanged): staging {staging_s:.2f} s "
              f"+ landing {landing_s:.2f} s, peak RSS {rerun_peak:.0f} MiB")
        print(f"target: ratio <= 1.5 -> {'met' if ratio <= 1.5 else 'NOT met'} ({ratio:.2f}; "
              f"landing alone {landing_ratio:.2f})")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
