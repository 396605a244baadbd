"""The shape of the code location, pinned in a reviewed text file.

A renamed asset, a lost dependency, a check that disappeared or a job whose selection quietly
changed shows up here as a failing test and as a diff of `snapshots/definitions.txt` in review
(the way dagster-open-platform snapshots its code location). After an intended change:

    UPDATE_SNAPSHOTS=1 .venv/bin/pytest finance_pipeline_tests/test_definitions_snapshot.py
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from finance_pipeline.definitions import build_definitions

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.txt"


def render_definitions(defs: dg.Definitions) -> str:
    graph = defs.resolve_asset_graph()
    lines: list[str] = ["# assets: key [group] kinds <- upstream keys"]
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        kinds = ",".join(sorted(node.kinds))
        upstream = ", ".join(sorted(p.to_user_string() for p in node.parent_keys))
        lines.append(f"{key.to_user_string()} [{node.group_name}] {kinds} <- {upstream or '-'}")
    lines.append("")
    lines.append("# asset checks: asset:check")
    checks = sorted(f"{c.asset_key.to_user_string()}:{c.name}" for c in graph.asset_check_keys)
    lines.extend(checks)
    lines.append("")
    lines.append("# jobs: name -> selected assets")
    for job in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue
        selected = sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys)
        lines.append(f"{job.name} ({len(selected)}): {', '.join(selected)}")
    lines.append("")
    lines.append("# schedules: name cron -> job (default status)")
    for schedule in sorted(defs.schedules or [], key=lambda s: s.name):
        lines.append(
            f"{schedule.name} {schedule.cron_schedule} -> {schedule.job_name}"
            f" ({schedule.default_status.value})"
        )
    lines.append("")
    lines.append("# sensors: name (type)")
    for sensor in sorted(defs.sensors or [], key=lambda s: s.name):
        lines.append(f"{sensor.name} ({type(sensor).__name__})")
    return "\n".join(lines) + "\n"


def test_definitions_match_the_reviewed_snapshot(monkeypatch) -> None:
    # The snapshot is of sandbox mode: live mode declares the same assets (sources without
    # credentials report "skipped"), but the sandbox is what a fresh checkout loads.
    for name in list(os.environ):
        if name.startswith(("BITRIX24_", "SALESMAN_", "ADESK_", "APIPAY_", "FINANCE_PIPELINE_MODE")):
            monkeypatch.delenv(name)
    rendered = render_definitions(build_definitions())
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(rendered, encoding="utf-8")
    assert SNAPSHOT.exists(), f"no snapshot yet: run with UPDATE_SNAPSHOTS=1 to write {SNAPSHOT}"
    expected = SNAPSHOT.read_text(encoding="utf-8")
    assert rendered == expected, (
        "The Definitions changed. If intended, re-run with UPDATE_SNAPSHOTS=1 and review the diff "
        f"of {SNAPSHOT.name}."
    )
