"""The docs' generated tables are the ones the registries hold (compiler.doc_tables)."""

from __future__ import annotations

import re

import pytest

from compiler import doc_tables
from compiler.frontends import catalog

from tests.conftest import REPO as ROOT


def _rows(page: str, name: str) -> dict[str, str]:
    """The rows of the generated block ``name`` of ``page``: first cell (unquoted) -> rest."""
    m = re.search(rf"<!-- BEGIN GENERATED: {name} -->\n(.*?)<!-- END GENERATED -->", page, re.S)
    assert m, f"no generated block '{name}'"
    rows = {}
    for line in m.group(1).splitlines():
        cells = re.match(r"^\| `([^`]+)` \| (.*) \|$", line)
        if cells:
            rows[cells.group(1)] = cells.group(2)
    return rows


def test_generated_pages_are_current():
    assert doc_tables.stale_pages(ROOT) == [], "run python3 -m compiler.doc_tables"


def test_every_frontend_has_a_table():
    text = (ROOT / "docs" / "frontends.md").read_text()
    for fmt in catalog.FRONTEND_PACKAGES:
        assert len(_rows(text, fmt)) > 10, fmt


def test_pytorch_table_lists_exactly_the_ops_with_a_lowering():
    from compiler.frontends.pytorch.lowering import DRIVER_OPS
    from compiler.frontends.pytorch.registry import TABLE

    documented = set(_rows((ROOT / "docs" / "frontends.md").read_text(), "pytorch"))
    assert documented == set(TABLE) | set(DRIVER_OPS)
    # ops that once had a handler but no documentation row
    assert {"conv_transpose3d", "max_pool1d", "avg_pool1d", "reflection_pad3d"} <= documented


def test_ir_op_table_and_readme_count_match_the_registry():
    from compiler.ops.registry import all_schemas

    schemas = all_schemas()
    assert set(_rows((ROOT / "docs" / "ir.md").read_text(), "ir-ops")) == set(schemas)
    m = re.search(r"\| op set \| (\d+) ops with schema", (ROOT / "README.md").read_text())
    assert m and int(m.group(1)) == len(schemas)


def test_render_replaces_a_stale_block_and_count():
    page = (
        "intro 3 ops with schema\n"
        "<!-- BEGIN GENERATED: caffe -->\n| `Gone` | nothing |\n<!-- END GENERATED -->\nafter\n"
    )
    out = doc_tables.render(page)
    assert "`Gone`" not in out and "| `Convolution` | conv (" in out
    assert out.startswith("intro ") and "3 ops" not in out and out.endswith("<!-- END GENERATED -->\nafter\n")


def test_render_rejects_an_unknown_block_name():
    with pytest.raises(KeyError, match="no generated table is called 'pytroch'"):
        doc_tables.render("<!-- BEGIN GENERATED: pytroch -->\n<!-- END GENERATED -->\n")


def test_a_pipe_in_a_note_stays_inside_its_cell():
    assert catalog.cell("|X|") == r"\|X\|"


def test_check_mode_reports_a_stale_page(tmp_path, capsys):
    for p in doc_tables.PAGES:
        (tmp_path / p).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / p).write_text((ROOT / p).read_text())
    assert doc_tables.main(["--check", "--root", str(tmp_path)]) == 0
    ir = tmp_path / "docs" / "ir.md"
    ir.write_text(ir.read_text().replace("| `conv` |", "| `konv` |"))
    assert doc_tables.main(["--check", "--root", str(tmp_path)]) == 1
    assert "docs/ir.md is stale" in capsys.readouterr().out
    assert doc_tables.main(["--root", str(tmp_path)]) == 0
    assert ir.read_text() == (ROOT / "docs" / "ir.md").read_text()
