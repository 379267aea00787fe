"""The docs' worked examples run as written."""

from __future__ import annotations

import contextlib
import io
import re
import sys
import types
from pathlib import Path

import pytest

from tests.conftest import REPO

DOCS = REPO / "docs"


def blocks(path: Path) -> list[tuple[str, str]]:
    return re.findall(r"```(\w*)\n(.*?)```", path.read_text(), flags=re.S)


@pytest.fixture
def ns():
    """A real module to exec doc code in (dataclasses look their module up in sys.modules)."""
    mod = types.ModuleType("infercc_docs_example")
    sys.modules[mod.__name__] = mod
    yield mod.__dict__
    del sys.modules[mod.__name__]


def test_writing_a_pass_example_runs_and_prints_what_the_page_says(ns):
    found = blocks(DOCS / "writing-a-pass.md")
    printed = ""
    expected_after_run = None
    for i, (lang, code) in enumerate(found):
        if lang == "python":
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(code, f"writing-a-pass.md block {i}", "exec"), ns)
            printed = out.getvalue()
            # the untagged block right after a printing python block is its expected output
            if printed and i + 1 < len(found) and found[i + 1][0] == "":
                expected_after_run = found[i + 1][1]
                assert printed == expected_after_run
    assert expected_after_run is not None, "the page's example output block was not checked"


def test_writing_a_pass_entry_point_matches_class_name(ns):
    text = (DOCS / "writing-a-pass.md").read_text()
    m = re.search(r'^(\S+) = "my_infercc_passes:(\w+)"', text, flags=re.M)
    assert m is not None
    code = next(c for lang, c in blocks(DOCS / "writing-a-pass.md") if lang == "python")
    exec(code, ns)
    assert ns[m.group(2)].name == m.group(1)
