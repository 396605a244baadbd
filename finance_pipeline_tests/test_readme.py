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
