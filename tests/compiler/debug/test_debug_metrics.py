"""compiler.debug.metrics and compiler.debug.render against independent computations.

* The metrics against textbook formulas written differently (norms, explicit loops).
* ErrorStats folded sample by sample against the formulas over the concatenated data.
* The Markdown table parsed back cell by cell (every line one cell per column), the CSV read
  back with the csv module, the SVG parsed as XML.
"""

from __future__ import annotations

import csv
import io
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np
import pytest

from compiler.debug import render
from compiler.debug.metrics import (
    ErrorStats,
    EvaluationError,
    sqnr_db,
    top1_agreement,
    top1_matches,
)

RNG = np.random.default_rng(7)


def test_sqnr_is_the_norm_ratio_in_db():
    ref = RNG.normal(size=(4, 10))
    x = ref + RNG.normal(scale=0.01, size=ref.shape)
    expected = 20.0 * math.log10(np.linalg.norm(ref) / np.linalg.norm(ref - x))
    assert sqnr_db(ref, x) == pytest.approx(expected, rel=1e-12)
    assert sqnr_db(ref, ref) == math.inf
    assert sqnr_db(np.zeros(3), np.ones(3)) == -math.inf
    with pytest.raises(EvaluationError, match="shapes"):
        sqnr_db(ref, ref[:2])


def test_top1_counts_rows_whose_argmax_agrees():
    a = RNG.normal(size=(30, 5))
    b = a + RNG.normal(scale=0.5, size=a.shape)
    agree = 0
    for i in range(30):
        agree += int(max(range(5), key=lambda j: a[i, j]) == max(range(5), key=lambda j: b[i, j]))
    assert top1_matches(a, b) == (agree, 30)
    assert top1_agreement(a, b) == pytest.approx(agree / 30)
    # rows are axis 0 whatever the rank: [N, 1, C] compares like [N, C]
    assert top1_matches(a[:, None, :], b[:, None, :]) == (agree, 30)
    with pytest.raises(EvaluationError):
        top1_matches(a, b[:, :4])


def test_error_stats_folded_per_sample_equal_the_whole():
    refs = [RNG.normal(size=(2, 7)) for _ in range(5)]
    gots = [r + RNG.normal(scale=0.05, size=r.shape) for r in refs]
    st = ErrorStats()
    for r, g in zip(refs, gots):
        st.update(r, g)
    f, q = np.concatenate(refs).ravel(), np.concatenate(gots).ravel()
    assert st.sqnr_db == pytest.approx(sqnr_db(f, q), rel=1e-12)
    cos = sum(fi * qi for fi, qi in zip(f, q)) / math.sqrt(sum(f * f) * sum(q * q))
    assert st.cosine == pytest.approx(cos, rel=1e-12)
    assert st.max_abs_err == max(abs(fi - qi) for fi, qi in zip(f, q))
    assert st.count == f.size
    empty = ErrorStats()
    assert empty.sqnr_db == math.inf and empty.cosine == 1.0


@dataclass
class _Row:
    index: int
    layer: str
    op: str
    value: str
    qvalue: str
    sqnr_db: float
    local_sqnr_db: float
    cosine: float
    max_abs_err: float
    scale: float
    zero_point: int = 0
    kind: str = "activation"
    elements: int = 0


ROWS = [
    _Row(0, "conv1|bn", "conv", "c1", "c1.dq", 41.25, 45.5, 0.99, 0.0625, 0.02, -3, elements=8),
    _Row(1, "pool", "max_pool", "p", "p.dq", math.inf, math.nan, 1.0, 0.0, 0.02),
    _Row(0, "fc", "gemm", "out", "out", -2.5, math.nan, 0.5, 3.0, math.nan, kind="output"),
]


def _md_cells(line: str) -> list[str]:
    assert line.startswith("|") and line.endswith("|"), line
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line[1:-1])]


def test_markdown_table_has_one_cell_per_column_on_every_line():
    lines = render.markdown_table(ROWS).strip().splitlines()
    cells = [_md_cells(line) for line in lines]
    assert {len(c) for c in cells} == {len(render.COLUMNS)}
    assert cells[0] == list(render.COLUMNS)  # "max |err|" survives escaped
    assert all(re.fullmatch(r"-+:?", c) for c in cells[1])
    assert cells[2][:5] == ["0", "conv1|bn", "conv", "c1", "41.25"]
    assert cells[3][4:6] == ["inf", "-"] and cells[4][0] == "out"


def test_csv_reads_back_at_full_precision():
    rows = list(csv.DictReader(io.StringIO(render.csv_text(ROWS))))
    assert len(rows) == 3
    assert rows[0]["layer"] == "conv1|bn" and float(rows[0]["sqnr_db"]) == 41.25
    assert float(rows[1]["sqnr_db"]) == math.inf and math.isnan(float(rows[1]["local_sqnr_db"]))
    assert rows[2]["kind"] == "output" and int(rows[0]["zero_point"]) == -3


def test_svg_chart_is_xml_with_one_bar_per_row():
    svg = render.layer_chart(ROWS, title="t <&>", output_sqnr_db=-2.5)
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    bars = [r for r in root.iter(f"{ns}rect") if r.get("class") == "bar"]
    assert len(bars) == 3
    assert root.find(f"{ns}title").text == "t <&>"
    assert len([c for c in root.iter(f"{ns}circle") if c.get("class") == "local"]) == 1
