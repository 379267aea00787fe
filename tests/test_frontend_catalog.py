"""docs/frontends.md's op tables are the ones the frontends' code declares."""

from __future__ import annotations

from pathlib import Path

from compiler.frontends import catalog

PAGE = Path(__file__).resolve().parent.parent / "docs" / "frontends.md"


def test_generated_tables_are_current():
    text = PAGE.read_text()
    assert catalog.render(text) == text, (
        "docs/frontends.md is stale: run python3 -m compiler.frontends.catalog --write docs/frontends.md"
    )


def test_every_frontend_has_a_table():
    text = PAGE.read_text()
    for fmt in ("onnx", *catalog.FRONTEND_MODULES):
        assert f"<!-- BEGIN GENERATED: {fmt} -->" in text
        assert len(catalog.supported_ops(fmt)) > 10
