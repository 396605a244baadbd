"""The README shows every example query exactly as the file the tests run."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_example_query_is_in_the_readme_verbatim() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    examples = sorted((ROOT / "examples").glob("*.sql"))
    assert examples, "examples/ is empty"
    missing = [p.name for p in examples if p.read_text(encoding="utf-8").rstrip() not in readme]
    assert not missing, f"README is out of date for {missing}: run scripts/render_readme_examples.py"


def test_readme_names_the_two_setup_commands_that_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_readme_commands_exist_on_a_fresh_machine() -> None:
    """Every `make <target>` the README names is a Makefile target, and no instruction needs a
    program the project does not install (there is no `duckdb` command; `ask` reads the file)."""
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, flags=re.M))
    named = set(re.findall(r"`make ([a-z][\w-]*)", readme)) | set(
        re.findall(r"^make ([a-z][\w-]*)", readme, flags=re.M)
    )
    assert {"demo", "test", "dev", "report", "ask"} <= named
    assert named <= targets, f"README names make targets the Makefile lacks: {named - targets}"
    assert not re.search(r"`duckdb [\w/]", readme), "README tells to run a `duckdb` command"
    assert "python -m finance_pipeline.ask" in readme
